//! What importing a roster preview would do to a compound's roster, worked out before anything
//! is written: which rows add a household, which update one and which of its fields that
//! changes, and which rows cannot be placed. The dashboard's preview shows it; the import
//! (`import_roster.rs`) writes exactly it.
//!
//! A household already in the roster takes only what a row states ([`ImportedRow::stated`]): a
//! column the file lacks, or a cell left empty where empty does not mean "none", leaves the
//! roster's value as it is, and the file's warning about such a blank cell says so ("户内人数
//! is empty; left as it was (2)"), not that it was imported blank. A row without a 小区 is matched to the household at the same
//! building, unit and flat when only one is there; a new one goes into the compound's estate
//! when it has only one.

use std::borrow::Cow;
use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap};

use serde::Serialize;

use super::OperationError;
use crate::compound::Compound;
use crate::document::roster;
use crate::id::HouseholdId;
use crate::import::{ColumnSet, ImportedRow, RosterColumn, RosterPreview, RowError, RowWarning};
use crate::schema::address::{Address, normalize_width};
use crate::schema::control_status::ControlStatus;
use crate::schema::household::{Household, HouseholdDraft, HouseholdEdit};
use crate::schema::need_tag::NeedTag;
use crate::schema::vocabulary::DocKind;

/// What an import would do, row by row, and in sum.
#[derive(Debug, Clone)]
pub struct ImportPlan<'a> {
    /// New households, in file order, each with its estate as placed.
    pub(crate) adds: Vec<Cow<'a, HouseholdDraft>>,
    /// Households already in the roster that change.
    pub(crate) updates: Vec<Update>,
    /// Rows read from the file that cannot be placed in the roster (left out like a bad row).
    pub errors: Vec<RowError>,
    /// Every warning, in file order: the file's ([`RosterPreview::warnings`]), a blank 户内人数
    /// or 联系电话 of a household already in the roster saying the stored value was left as it
    /// was; and the plan's own, a new household whose address is one already in the roster
    /// (`flat_like_one_there`), or another new one of the file (`flat_like_another_row`, naming
    /// its line), but for the leading zeros of its flat (房号 "0101" beside "101"), which may be
    /// the same door written two ways.
    pub warnings: Vec<RowWarning>,
    /// The estates (小区) the rows placed go into, as worked out for rows without a 小区, in
    /// order of first appearance; never an empty name (a compound with no estate yet, taking a
    /// file without 小区, has none to say).
    pub estates: Vec<String>,
    /// The counts the preview shows.
    pub summary: PlanSummary,
}

/// The fields of one household the import changes; `None` leaves a field as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Update {
    pub(crate) id: HouseholdId,
    pub(crate) edit: HouseholdEdit,
    pub(crate) status: Option<ControlStatus>,
    pub(crate) needs: Option<BTreeSet<NeedTag>>,
    pub(crate) notes: Option<String>,
}

/// What an import would do, in numbers a coordinator reads before committing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PlanSummary {
    /// Households the import adds.
    pub add: usize,
    /// Households already in the roster whose fields the import changes.
    pub update: usize,
    /// Households already in the roster that the file matches and leaves as they are.
    pub unchanged: usize,
    /// For each field the import changes, on how many households (template order).
    pub changes: Vec<FieldChanges>,
    /// Rows without a 小区 matched to a household by building, unit and flat.
    pub matched_without_estate: usize,
    /// The estate that new households without a 小区 go into: the compound's only one.
    pub estate_for_new: Option<String>,
    /// Households some of whose fields changed in the roster since the file was exported, where
    /// the file still holds the exported value: the roster's are kept (`changed_since_export`).
    pub kept_changed_since_export: usize,
    /// Rows of households the file's export held, removed from the roster since: not added back
    /// (`removed_since_export`).
    pub removed_since_export: usize,
}

/// How many households an import changes one field of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChanges {
    /// The column, by the template's Chinese header ("管控状态").
    pub column: &'static str,
    /// The column's English name ("status").
    pub column_en: &'static str,
    /// Households whose value changes.
    pub households: usize,
}

type Place = (String, String, String);

impl Compound {
    /// What importing `preview` would do to the roster; nothing is written.
    pub fn plan_import<'a>(&self, preview: &'a RosterPreview) -> Result<ImportPlan<'a>, OperationError> {
        let doc = self.single(DocKind::Roster).ok_or(OperationError::MissingDocument(DocKind::Roster))?;
        let households = roster::households(doc.automerge());
        let estates: BTreeSet<String> =
            roster::buildings(doc.automerge()).into_values().map(|b| b.estate).collect();
        let exported = Exported::of(doc.automerge(), preview);
        Ok(plan(preview, &households, &estates, &exported))
    }
}

/// The roster as each export a file's rows came from held it (by their 导出版本 cells), read
/// once per version; `None` for a version this roster does not know.
#[derive(Debug, Default)]
struct Exported {
    versions: HashMap<String, Option<Vec<Household>>>,
}

impl Exported {
    fn of(doc: &automerge::Automerge, preview: &RosterPreview) -> Self {
        let mut versions = HashMap::new();
        for version in preview.households.iter().filter_map(|row| row.version.as_ref()) {
            if versions.contains_key(version) {
                continue;
            }
            let then = crate::import::export_version::resolve(doc, version)
                .and_then(|heads| doc.fork_at(&heads).ok())
                .map(|then| roster::households(&then));
            versions.insert(version.clone(), then);
        }
        Self { versions }
    }

    /// The roster as the row's export held it: `None` for a row that names no version,
    /// `Some(None)` for one naming a version this roster does not know.
    fn of_row(&self, row: &ImportedRow) -> Option<Option<&[Household]>> {
        row.version.as_ref().map(|v| self.versions.get(v).and_then(|then| then.as_deref()))
    }
}

fn plan<'a>(
    preview: &'a RosterPreview,
    households: &[Household],
    estates: &BTreeSet<String>,
    exported: &Exported,
) -> ImportPlan<'a> {
    // Addresses are compared as `DoorKey`s, so that a household whose address differs only by
    // an invisible character or the spelling of its building or unit is the same door.
    let place = |a: &Address| {
        let key = a.door_key();
        (key.estate, (key.building, key.unit, key.flat))
    };
    let exact: HashMap<(String, Place), &Household> =
        households.iter().map(|h| (place(&h.address), h)).collect();
    // Flats are not numbers ("0101" and "101" may be two doors), but a new one that differs from
    // one there only by its leading zeros is worth a second look.
    let zeros = |estate: String, (building, unit, flat): Place| {
        (estate, building, unit, flat.trim_start_matches('0').to_owned())
    };
    let unzeroed: HashMap<_, &Household> = households
        .iter()
        .map(|h| {
            let (estate, place) = place(&h.address);
            (zeros(estate, place), h)
        })
        .collect();
    let mut by_place: HashMap<Place, Vec<&Household>> = HashMap::new();
    for h in households {
        by_place.entry(place(&h.address).1).or_default().push(h);
    }
    let only_estate = match estates.len() {
        1 => estates.first().cloned(),
        _ => None,
    };
    let mut out = ImportPlan {
        adds: Vec::new(),
        updates: Vec::new(),
        errors: Vec::new(),
        warnings: Vec::new(),
        estates: Vec::new(),
        summary: PlanSummary::default(),
    };
    let mut changed = [0usize; RosterColumn::ALL.len()];
    // Which line placed each household (by its estate and place), to catch two rows that land
    // on one household once the 小区 is worked out.
    let mut placed: HashMap<(String, Place), usize> = HashMap::new();
    // The household each line updates or leaves as it is, for the file's warnings about blanks.
    let mut matched: HashMap<usize, &Household> = HashMap::new();
    // The new households so far, by their place without the flat's leading zeros, and the line
    // of each: "0101" under "101" in the same file would add two.
    let mut added_unzeroed: HashMap<_, (usize, &Address)> = HashMap::new();
    let live: BTreeSet<HouseholdId> = households.iter().map(|h| h.id).collect();
    let mut unknown_version_said = false;
    for row in &preview.households {
        let a = &row.draft.address;
        let (row_estate, here) = place(a);
        let then = exported.of_row(row);
        let version_unknown = then == Some(None);
        let then = then.flatten();
        let (estate, existing) = match exact.get(&(row_estate, here.clone())) {
            Some(h) => (a.estate.clone(), Some(*h)),
            None if a.estate.is_empty() => match by_place.get(&here).map(Vec::as_slice) {
                Some([h]) => {
                    out.summary.matched_without_estate += 1;
                    (h.address.estate.clone(), Some(*h))
                }
                Some(several) => {
                    let names: Vec<&str> = several.iter().map(|h| h.address.estate.as_str()).collect();
                    out.errors.push(unplaced(
                        row,
                        "estate_ambiguous",
                        format!("没有写小区，{} 在 {} 都有这一户；请填写小区", a, names.join("、")),
                        format!("no 小区 is given, and {} is in {}; fill in the 小区", a, names.join(", ")),
                    ));
                    continue;
                }
                None if estates.len() > 1 => {
                    let names: Vec<&str> = estates.iter().map(String::as_str).collect();
                    out.errors.push(unplaced(
                        row,
                        "estate_unknown",
                        format!("没有写小区，本小区群有 {} 几个小区；请填写小区", names.join("、")),
                        format!(
                            "no 小区 is given, and the compound has several estates ({}); fill in the 小区",
                            names.join(", ")
                        ),
                    ));
                    continue;
                }
                None => match &only_estate {
                    Some(estate) => {
                        out.summary.estate_for_new = Some(estate.clone());
                        (estate.clone(), None)
                    }
                    None => (String::new(), None),
                },
            },
            None => (a.estate.clone(), None),
        };
        // A household the file's export held at this door, removed from the roster since: the
        // row is the export's, not a new household (it came back, silently, as "add 1").
        let removed_since = existing
            .is_none()
            .then(|| {
                then.and_then(|then| {
                    then.iter().find(|h| place(&h.address).1 == here && !live.contains(&h.id))
                })
            })
            .flatten();
        if let Some(gone) = removed_since {
            out.summary.removed_since_export += 1;
            out.warnings.push(removed_since_export(row, gone));
            continue;
        }
        let like_there = existing
            .is_none()
            .then(|| unzeroed.get(&zeros(normalize_width(&estate), here.clone())))
            .flatten();
        if let Some(there) = like_there {
            let (new, there) = (&row.draft.address, &there.address);
            let flat = RosterColumn::Flat.header_zh();
            out.warnings.push(RowWarning {
                line: row.line,
                column: Some(flat.to_owned()),
                value: new.to_string(),
                code: "flat_like_one_there",
                reason_zh: format!(
                    "{new} 将作为新的一户导入，但名单里已有 {there}，只差房号前面的 0；如果是同一户，请把 {flat} 写成 {:?}",
                    there.flat
                ),
                reason: format!(
                    "{new} will be added as a new household, but the roster has {there}, which differs only by the \
                     leading zeros of the flat; if it is the same household, write {flat} as {:?}",
                    there.flat
                ),
            });
        }
        // A 小区 new to the roster whose building, unit and flat are a household's there, with
        // the same head of household: most likely the same estate spelt another way ("香樟苑小区"
        // for "香樟苑"), and the whole file would be added again beside the roster. (A second
        // estate numbered like the first has other people at those doors.)
        let same_head = |h: &&&Household| !h.head.trim().is_empty() && h.head.trim() == row.draft.head.trim();
        let in_another_estate = (existing.is_none() && like_there.is_none() && !estates.contains(&estate))
            .then(|| by_place.get(&here).and_then(|there| there.iter().find(same_head)))
            .flatten();
        if let Some(there) = in_another_estate {
            let (new, there) = (&row.draft.address, &there.address);
            let column = RosterColumn::Estate.header_zh();
            out.warnings.push(RowWarning {
                line: row.line,
                column: Some(column.to_owned()),
                value: new.to_string(),
                code: "estate_like_one_there",
                reason_zh: format!(
                    "{new} 将作为新小区 {estate:?} 的新的一户导入，但名单里已有 {there}（同楼、同单元、同房号、同户主）；如果是同一个小区，请把 {column} 写成 {:?}",
                    there.estate
                ),
                reason: format!(
                    "{new} will be added as a new household of a new 小区 {estate:?}, but the roster has {there} at the same                      building, unit and flat; if it is the same estate, write {column} as {:?}",
                    there.estate
                ),
            });
        }
        if let Some(first) = placed.insert((normalize_width(&estate), here.clone()), row.line) {
            out.errors.push(unplaced(
                row,
                "same_household",
                format!("与第 {first} 行是同一户（{estate}），每户只能出现一次"),
                format!("is the same household as line {first} ({estate}); each flat may appear once"),
            ));
            continue;
        }
        if existing.is_none() && like_there.is_none() {
            match added_unzeroed.entry(zeros(normalize_width(&estate), here)) {
                Entry::Occupied(earlier) => {
                    let (first, earlier) = *earlier.get();
                    let new = &row.draft.address;
                    let flat = RosterColumn::Flat.header_zh();
                    out.warnings.push(RowWarning {
                        line: row.line,
                        column: Some(flat.to_owned()),
                        value: new.to_string(),
                        code: "flat_like_another_row",
                        reason_zh: format!(
                            "{new} 与第 {first} 行的 {earlier} 只差房号前面的 0，两行都将作为新的一户导入；如果是同一户，请删去一行"
                        ),
                        reason: format!(
                            "{new} and {earlier} on line {first} differ only by the leading zeros of the flat, and both \
                             will be added as new households; if they are the same household, delete one of the rows"
                        ),
                    });
                }
                Entry::Vacant(slot) => {
                    slot.insert((row.line, &row.draft.address));
                }
            }
        }
        if !estate.is_empty() && !out.estates.contains(&estate) {
            out.estates.push(estate.clone());
        }
        match existing {
            Some(h) => {
                // Said once, and only where a row updates a household (a roster exported from
                // another compound adds households, and nothing is written over).
                if version_unknown && !unknown_version_said {
                    unknown_version_said = true;
                    out.warnings.push(unknown_version(row));
                }
                let base = then.and_then(|then| then.iter().find(|b| b.id == h.id));
                let (update, columns, since) = update_of(h, &row.draft, row.stated, base);
                if let Some(warning) = since.warning(row) {
                    out.warnings.push(warning);
                }
                if !since.kept.is_empty() {
                    out.summary.kept_changed_since_export += 1;
                }
                // The counts as the household will hold them, what the row leaves blank kept: a
                // row of 户内人数 1 beside a household of three over-60s would leave more over-60s
                // than people (each row alone was checked).
                let people = update.edit.people.or(h.people);
                let aged = update.edit.aged_60_plus.unwrap_or(h.aged_60_plus);
                let children = update.edit.children_under_6.unwrap_or(h.children_under_6);
                if let Some(bad) =
                    crate::rulebook::household::counts_problems(people, aged, children).into_iter().next()
                {
                    let (column, count) = if bad.field == "aged_60_plus" {
                        (RosterColumn::Aged60Plus, aged)
                    } else {
                        (RosterColumn::ChildrenUnder6, children)
                    };
                    let (header, people_header) = (column.header_zh(), RosterColumn::People.header_zh());
                    let people = people.unwrap_or(0);
                    out.errors.push(RowError {
                        line: row.line,
                        column: Some(header.to_owned()),
                        value: row.draft.address.to_string(),
                        code: "count_exceeds_people",
                        reason_zh: format!(
                            "名单里这一户的 {header} 为 {count}，多于这一行的 {people_header} {people}；请把 {header} 也填上"
                        ),
                        reason: format!(
                            "the roster has {header} {count} for this household, more than this row's {people_header} ({people}); fill in {header} too"
                        ),
                    });
                    continue;
                }
                matched.insert(row.line, h);
                if columns.is_empty() {
                    out.summary.unchanged += 1;
                } else {
                    out.summary.update += 1;
                    for (at, column) in RosterColumn::ALL.into_iter().enumerate() {
                        changed[at] += usize::from(columns.contains(column));
                    }
                    out.updates.push(update);
                }
            }
            None if estate == a.estate => out.adds.push(Cow::Borrowed(&row.draft)),
            None => {
                let mut draft = row.draft.clone();
                draft.address.estate = estate;
                out.adds.push(Cow::Owned(draft));
            }
        }
    }
    let mut warnings: Vec<RowWarning> = preview
        .warnings
        .iter()
        .map(|w| matched.get(&w.line).and_then(|h| left_as_it_was(w, h)).unwrap_or_else(|| w.clone()))
        .collect();
    warnings.append(&mut out.warnings);
    // Stable: a line's warnings stay in the order they were found.
    warnings.sort_by_key(|w| w.line);
    out.warnings = warnings;
    out.summary.add = out.adds.len();
    out.summary.changes = RosterColumn::ALL
        .into_iter()
        .zip(changed)
        .filter(|(_, households)| *households > 0)
        .map(|(column, households)| FieldChanges {
            column: column.header_zh(),
            column_en: column.header_en(),
            households,
        })
        .collect();
    out
}

/// What `draft` changes on `h`, stating only the columns in `stated`, and which those are.
/// `base` is the household as the file's export held it: a cell still as exported leaves a value
/// changed in the roster since as it is (a volunteer's note, a tag set on the dashboard), and a
/// cell the coordinator changed replaces it, said in a warning ([`SinceExport`]).
fn update_of(
    h: &Household,
    draft: &HouseholdDraft,
    stated: ColumnSet,
    base: Option<&Household>,
) -> (Update, ColumnSet, SinceExport) {
    let mut columns = ColumnSet::default();
    let mut since = SinceExport::default();
    // A value differs when the sheet's cell is not what the roster holds as the importer reads
    // a cell (trimmed; a phone number as digits): an exported roster re-imported unedited
    // changes nothing, even where the roster holds a value an edit on a phone wrote otherwise.
    // `differs(held)` says whether the cell differs from `held` (the roster's now or then).
    let mut take = |column: RosterColumn, differs: &dyn Fn(&Household) -> bool| {
        if !stated.contains(column) || !differs(h) {
            return false;
        }
        if let Some(base) = base {
            if !differs(base) {
                // The cell is as exported: what changed is the roster's, since.
                since.kept.insert(column);
                return false;
            }
            if !same_value(column, h, base) {
                since.replaced.insert(column);
            }
        }
        columns.insert(column);
        true
    };
    let text_differs = |stored: &str, cell: &str| text_change(stored, cell) == TextChange::Differs;
    let phone_differs = |held: &Household| {
        held.phone != draft.phone && crate::import::phone_as_imported(&held.phone) != draft.phone
    };
    let edit = HouseholdEdit {
        head: take(RosterColumn::Head, &|held| text_differs(&held.head, &draft.head))
            .then(|| draft.head.clone()),
        phone: take(RosterColumn::Phone, &phone_differs).then(|| draft.phone.clone()),
        people: draft.people.filter(|_| take(RosterColumn::People, &|held| held.people != draft.people)),
        aged_60_plus: take(RosterColumn::Aged60Plus, &|held| held.aged_60_plus != draft.aged_60_plus)
            .then_some(draft.aged_60_plus),
        children_under_6: take(RosterColumn::ChildrenUnder6, &|held| {
            held.children_under_6 != draft.children_under_6
        })
        .then_some(draft.children_under_6),
        lift: take(RosterColumn::Lift, &|held| held.lift != draft.lift).then_some(draft.lift),
    };
    let needs = take(RosterColumn::Needs, &|held| held.needs != draft.needs).then(|| draft.needs.clone());
    let status = take(RosterColumn::Status, &|held| held.status != draft.status).then_some(draft.status);
    let notes = take(RosterColumn::Notes, &|held| text_differs(&held.notes, &draft.notes))
        .then(|| draft.notes.clone());
    for (column, stored, cell) in
        [(RosterColumn::Head, &h.head, &draft.head), (RosterColumn::Notes, &h.notes, &draft.notes)]
    {
        if stated.contains(column) && text_change(stored, cell) == TextChange::CharactersLost {
            since.characters_lost.insert(column);
        }
    }
    (Update { id: h.id, edit, status, needs, notes }, columns, since)
}

/// Whether `a` and `b` hold the same value of `column`.
fn same_value(column: RosterColumn, a: &Household, b: &Household) -> bool {
    match column {
        RosterColumn::Head => a.head.trim() == b.head.trim(),
        RosterColumn::Phone => a.phone == b.phone,
        RosterColumn::People => a.people == b.people,
        RosterColumn::Aged60Plus => a.aged_60_plus == b.aged_60_plus,
        RosterColumn::ChildrenUnder6 => a.children_under_6 == b.children_under_6,
        RosterColumn::Needs => a.needs == b.needs,
        RosterColumn::Status => a.status == b.status,
        RosterColumn::Lift => a.lift == b.lift,
        RosterColumn::Notes => a.notes.trim() == b.notes.trim(),
        _ => true,
    }
}

/// How a text cell compares with the roster's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TextChange {
    Same,
    Differs,
    /// The cell is the roster's text with `?` where the roster has characters a file saved in
    /// an older Chinese encoding (Excel's GBK "CSV") cannot hold (王䶮 as 王?, an emoji): the
    /// text was not edited, it lost characters on the way, and it is left as it is.
    CharactersLost,
}

fn text_change(stored: &str, cell: &str) -> TextChange {
    let stored = stored.trim();
    if stored == cell {
        return TextChange::Same;
    }
    let lost = cell.contains('?') && {
        // An emoji outside the BMP may come back as one `?` or as two.
        let (mut s, mut c) = (stored.chars().peekable(), cell.chars().peekable());
        loop {
            match (s.next(), c.next()) {
                (None, None) => break true,
                (Some(a), Some(b)) if a == b => {}
                (Some(a), Some('?')) if !a.is_ascii() => {
                    if u32::from(a) > 0xFFFF && c.peek() == Some(&'?') && s.peek() != Some(&'?') {
                        c.next();
                    }
                }
                _ => break false,
            }
        }
    };
    if lost { TextChange::CharactersLost } else { TextChange::Differs }
}

/// What a row's household changed in the roster since the file's export.
#[derive(Debug, Default)]
struct SinceExport {
    /// Columns changed in the roster since, where the file still holds the exported value: kept.
    kept: ColumnSet,
    /// Columns changed in the roster since that the file's edit replaces.
    replaced: ColumnSet,
    /// Text columns whose cell lost characters to the file's encoding: kept.
    characters_lost: ColumnSet,
}

impl SinceExport {
    /// The row's warning, when anything changed since or was lost on the way.
    fn warning(&self, row: &ImportedRow) -> Option<RowWarning> {
        let names = |set: &ColumnSet| -> Vec<&'static str> {
            RosterColumn::ALL.into_iter().filter(|c| set.contains(*c)).map(RosterColumn::header_zh).collect()
        };
        let (kept, replaced, lost) = (names(&self.kept), names(&self.replaced), names(&self.characters_lost));
        if kept.is_empty() && replaced.is_empty() && lost.is_empty() {
            return None;
        }
        let mut zh = Vec::new();
        let mut en = Vec::new();
        if !kept.is_empty() {
            zh.push(format!(
                "{} 在导出后已在名单中修改（手机或网页上），表中仍是导出时的值，保留名单现值",
                kept.join("、")
            ));
            en.push(format!(
                "{} changed in the roster since this file was exported (on a phone or the dashboard) and the file still holds the exported value: the roster's is kept",
                kept.join(", ")
            ));
        }
        if !replaced.is_empty() {
            zh.push(format!("{} 在导出后已被修改，表中也改了：导入将以表中的值覆盖", replaced.join("、")));
            en.push(format!(
                "{} changed in the roster since this file was exported, and the file changes it too: the file's value replaces it",
                replaced.join(", ")
            ));
        }
        if !lost.is_empty() {
            zh.push(format!(
                "{} 中有字被存成了“?”（文件的编码存不下这些字，例如 Excel 的“CSV（逗号分隔）”），保留名单原文；请另存为“CSV UTF-8”",
                lost.join("、")
            ));
            en.push(format!(
                "{} came back with \"?\" for characters the file's encoding cannot hold (Excel's \"CSV (Comma delimited)\"): the roster's text is kept; save as \"CSV UTF-8\"",
                lost.join(", ")
            ));
        }
        let code = if !replaced.is_empty() {
            "replaces_change_since_export"
        } else if !kept.is_empty() {
            "changed_since_export"
        } else {
            "characters_lost"
        };
        Some(RowWarning {
            line: row.line,
            column: None,
            value: row.draft.address.to_string(),
            code,
            reason_zh: zh.join("；"),
            reason: en.join("; "),
        })
    }
}

/// The file's rows name an export version this roster does not know: said once.
fn unknown_version(row: &ImportedRow) -> RowWarning {
    let header = crate::import::export_version::HEADER;
    RowWarning {
        line: row.line,
        column: Some(header.to_owned()),
        value: row.version.clone().unwrap_or_default(),
        code: "export_version_unknown",
        reason_zh: format!(
            "{header} 不是本名单导出的版本（被改动，或来自别的小区），每个单元格都与名单现值比较；表中未改的旧值也会写入"
        ),
        reason: format!(
            "{header} is not a version this roster was exported at (edited, or another compound's): every cell is compared with the roster as it is now, so an old value the file still holds is written too"
        ),
    }
}

/// A row of a household the file's export held at this door, removed from the roster since.
fn removed_since_export(row: &ImportedRow, gone: &Household) -> RowWarning {
    let shown = gone.address.to_string();
    RowWarning {
        line: row.line,
        column: None,
        value: row.draft.address.to_string(),
        code: "removed_since_export",
        reason_zh: format!(
            "{shown}（{}）在导出后已从名单中移除，未重新加入；如需加回，请在网页上添加",
            gone.head
        ),
        reason: format!(
            "{shown} ({}) was removed from the roster after this file was exported and is not added back; add it on the dashboard if it should be",
            gone.head
        ),
    }
}

/// The file's warning `w` about a blank 户内人数 or 联系电话, said of `h`, the household in the
/// roster its row matched, which keeps what it holds (a blank there states nothing): `None` when
/// `w` is another warning, or `h` has nothing stored either (the warning to fill it in stands).
fn left_as_it_was(w: &RowWarning, h: &Household) -> Option<RowWarning> {
    let (code, kept) = match w.code {
        "people_blank" => ("people_blank_kept", h.people?.to_string()),
        "phone_blank" if !h.phone.is_empty() => ("phone_blank_kept", h.phone.clone()),
        _ => return None,
    };
    let header = w.column.clone().unwrap_or_default();
    Some(RowWarning {
        code,
        reason_zh: format!("{header} 为空，保留原值 {kept}"),
        reason: format!("{header} is empty; left as it was ({kept})"),
        ..w.clone()
    })
}

fn unplaced(row: &ImportedRow, code: &'static str, zh: String, en: String) -> RowError {
    RowError {
        line: row.line,
        column: Some(RosterColumn::Estate.header_zh().to_owned()),
        value: row.draft.address.to_string(),
        code,
        reason_zh: zh,
        reason: en,
    }
}

/// The counts of a plan, by column, for tests and logs: "管控状态 3, 联系电话 9".
impl std::fmt::Display for PlanSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "add {}, update {}, unchanged {}", self.add, self.update, self.unchanged)?;
        for change in &self.changes {
            write!(f, ", {} {}", change.column, change.households)?;
        }
        Ok(())
    }
}
