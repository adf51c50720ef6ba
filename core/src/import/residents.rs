//! Ledgers kept one row per resident (社区人员台账): each person on a row of their own, with
//! 姓名, 与户主关系 and 年龄, and the household's address repeated on every row. Read as
//! households were, every row after a door's first was "a duplicate of line N with different
//! details; keep the right row", and neither was imported: a coordinator following that advice
//! deleted residents. A sheet with a 与户主关系 or 年龄 column is read as one row per resident
//! instead: a door's rows make one household, headed by the row whose relation is 户主 or 本人,
//! with 户内人数, 60岁以上人数 and 6岁以下儿童 counted from its rows and their ages. A sheet
//! with 出生日期 is one too; a resident's age is read from their birth date, else from the birth
//! date in their 身份证号, else from 年龄 (`birth_dates.rs`).

use super::birth_dates::{BIRTH_HEADERS, CalendarDay, ID_NUMBER_HEADERS, birth_date, id_number_birth};
use super::columns::{ColumnSet, RosterColumn, header_key};
use super::error::RowWarning;
use super::roster_csv::ImportedRow;
use crate::schema::address::normalize_width;

/// Headers of a resident's relation to the head of household.
const RELATION_HEADERS: &[&str] =
    &["与户主关系", "与户主的关系", "户主关系", "家庭关系", "关系", "relation", "relationship"];
/// Headers of a resident's age in years.
const AGE_HEADERS: &[&str] = &["年龄", "周岁", "实际年龄", "age"];
/// Headers of a resident's own name, beside a 户主 column.
const NAME_HEADERS: &[&str] = &["姓名", "居民姓名", "人员姓名", "name"];
/// Relations that name the head of household themselves, as [`relation_key`] folds them.
const HEAD_RELATIONS: &[&str] = &["户主", "本人", "户主本人", "本人户主", "self", "head", "householder"];
/// The oldest age read as an age; a larger number is a year or an ID typed in the wrong column.
const OLDEST: u32 = 130;

/// The per-resident columns a sheet has, by field index.
#[derive(Debug, Clone, Default)]
pub(super) struct ResidentColumns {
    /// 与户主关系.
    pub relation: Option<usize>,
    /// 年龄.
    pub age: Option<usize>,
    /// 姓名, beside a 户主 column (without one, 姓名 is read as 户主).
    pub name: Option<usize>,
    /// 出生日期.
    pub birth: Option<usize>,
    /// 身份证号.
    pub id_number: Option<usize>,
    /// The headers as written, for messages: relation, age, birth date, ID number.
    relation_header: String,
    age_header: String,
    birth_header: String,
    id_number_header: String,
}

impl ResidentColumns {
    /// Finds the columns among `headers`, leaving out those read into the roster (`taken`).
    pub fn find(headers: &[String], taken: &[usize]) -> Self {
        let position = |names: &[&str]| {
            headers.iter().enumerate().position(|(i, header)| {
                !taken.contains(&i) && names.iter().any(|name| header_key(name) == header_key(header))
            })
        };
        let relation = position(RELATION_HEADERS);
        let age = position(AGE_HEADERS);
        let name = position(NAME_HEADERS);
        let birth = position(BIRTH_HEADERS);
        let id_number = position(ID_NUMBER_HEADERS);
        let header = |at: Option<usize>, default: &str| {
            at.and_then(|i| headers.get(i)).cloned().unwrap_or_else(|| default.to_owned())
        };
        ResidentColumns {
            relation,
            age,
            name,
            birth,
            id_number,
            relation_header: header(relation, "与户主关系"),
            age_header: header(age, "年龄"),
            birth_header: header(birth, "出生日期"),
            id_number_header: header(id_number, "身份证号"),
        }
    }

    /// Whether the sheet is kept one row per resident: it says how each row's person is related
    /// to the head of household, how old they are or when they were born, which a household's row
    /// cannot. (A 身份证号 alone may be the head of household's, so it does not say so.)
    pub fn one_row_per_resident(&self) -> bool {
        self.relation.is_some() || self.age.is_some() || self.birth.is_some()
    }

    /// The fields read as residents' (none when the sheet is kept one row per household).
    pub fn fields(&self) -> Vec<usize> {
        if !self.one_row_per_resident() {
            return Vec::new();
        }
        [self.relation, self.age, self.name, self.birth, self.id_number].into_iter().flatten().collect()
    }

    /// The headers said to be read one row per resident, as written: relation, age, birth date.
    pub fn said(&self) -> Vec<&str> {
        [
            (self.relation, &self.relation_header),
            (self.age, &self.age_header),
            (self.birth, &self.birth_header),
        ]
        .into_iter()
        .filter_map(|(at, header)| at.map(|_| header.as_str()))
        .collect()
    }

    /// A resident's age on `today` from their cells (`cell(field)`), and the warnings of cells
    /// that were meant to say it and do not: the birth date, else the birth date in the ID
    /// number, else 年龄. Without `today`, birth dates are not read.
    pub fn age<'a>(
        &self,
        cell: impl Fn(usize) -> &'a str,
        today: Option<CalendarDay>,
    ) -> (Option<u32>, Vec<AgeCellProblem>) {
        let mut problems = Vec::new();
        let mut born =
            |at: Option<usize>, header: &str, read: fn(&str) -> Result<Option<CalendarDay>, ()>| {
                let (at, today) = (at?, today?);
                let text = cell(at);
                match read(text) {
                    Ok(Some(day)) => match today.years_since(day) {
                        Some(years) => Some(years),
                        None => {
                            problems.push(AgeCellProblem::born_later(header, text));
                            None
                        }
                    },
                    Ok(None) => None,
                    Err(()) => {
                        problems.push(AgeCellProblem::not_a_date(header, text));
                        None
                    }
                }
            };
        let years = born(self.birth, &self.birth_header, birth_date)
            .or_else(|| born(self.id_number, &self.id_number_header, id_number_birth));
        if years.is_some() {
            return (years, problems);
        }
        let text = self.age.map_or("", &cell);
        match age(text) {
            Ok(years) => (years, problems),
            Err(()) => {
                problems.push(AgeCellProblem::not_an_age(&self.age_header, text));
                (None, problems)
            }
        }
    }
}

/// A resident's cell meant to say their age that does not: said on their row, and the resident
/// is not counted as 60+ or under 6.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct AgeCellProblem {
    /// The header as written.
    pub header: String,
    /// The cell.
    pub cell: String,
    /// `bad_age`, `bad_birth_date` or `born_after_today`.
    pub code: &'static str,
    /// What is wrong, in Chinese.
    pub reason_zh: String,
    /// What is wrong, in English.
    pub reason: String,
}

impl AgeCellProblem {
    fn not_an_age(header: &str, cell: &str) -> Self {
        AgeCellProblem {
            header: header.to_owned(),
            cell: cell.to_owned(),
            code: "bad_age",
            reason_zh: format!("{header} {cell:?} 不是岁数，这一人没有计入60岁以上人数或6岁以下儿童"),
            reason: format!(
                "{header} {cell:?} is not an age in years; this resident is not counted as 60+ or under 6"
            ),
        }
    }

    fn not_a_date(header: &str, cell: &str) -> Self {
        AgeCellProblem {
            header: header.to_owned(),
            cell: cell.to_owned(),
            code: "bad_birth_date",
            reason_zh: format!(
                "{header} {cell:?} 读不出出生日期（如 1950-03-02 或 18 位身份证号），这一人的年龄按其他列计算"
            ),
            reason: format!(
                "{header} {cell:?} gives no birth date (such as 1950-03-02, or an 18-digit ID number); this \
                 resident's age is taken from the other columns"
            ),
        }
    }

    fn born_later(header: &str, cell: &str) -> Self {
        AgeCellProblem {
            header: header.to_owned(),
            cell: cell.to_owned(),
            code: "born_after_today",
            reason_zh: format!("{header} {cell:?} 在今天之后，请核对；这一人的年龄按其他列计算"),
            reason: format!(
                "{header} {cell:?} is after today; check it. This resident's age is taken from the other columns"
            ),
        }
    }
}

/// One resident's row, read.
#[derive(Debug, Clone)]
pub(super) struct Resident {
    /// The row as a household's: its address, 户主 (the resident's own name when the sheet has no
    /// 户主 column), phone, tags, status.
    pub row: ImportedRow,
    /// Their relation to the head of household, as written.
    pub relation: String,
    /// Their age in years, when the row says it.
    pub age: Option<u32>,
}

impl Resident {
    fn is_head(&self) -> bool {
        HEAD_RELATIONS.contains(&relation_key(&self.relation).as_str())
    }
}

/// A relation as relations are compared: widths normalised, lower case, brackets and spaces out
/// ("本人（户主）" is "本人户主").
fn relation_key(relation: &str) -> String {
    normalize_width(relation).to_lowercase().replace(['(', ')', '[', ']', '【', '】'], "")
}

/// An age cell in whole years: "72", "72岁", "72.0", "７２周岁"; an infant's "8个月" or "10月龄"
/// is 0. `Ok(None)` for a blank cell, `Err(())` for anything else.
pub(super) fn age(cell: &str) -> Result<Option<u32>, ()> {
    let text = normalize_width(cell);
    if text.is_empty() {
        return Ok(None);
    }
    if ["个月", "月龄", "月", "天"].iter().any(|unit| {
        text.strip_suffix(unit).is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    }) {
        return Ok(Some(0));
    }
    let text = ["周岁", "岁"].iter().find_map(|unit| text.strip_suffix(unit)).unwrap_or(&text);
    let text = match text.split_once('.') {
        Some((whole, zeros)) if !zeros.is_empty() && zeros.bytes().all(|b| b == b'0') => whole,
        _ => text,
    };
    match text.parse::<u32>() {
        Ok(years) if years <= OLDEST && text.bytes().all(|b| b.is_ascii_digit()) => Ok(Some(years)),
        _ => Err(()),
    }
}

/// The household one door's residents make (`residents` in file order), and what the
/// coordinator should check of it; `None` when there are no residents.
pub(super) fn household(
    residents: Vec<Resident>,
    columns: &ResidentColumns,
) -> Option<(ImportedRow, Vec<RowWarning>)> {
    let mut warnings = Vec::new();
    let first_line = residents.first().map_or(0, |r| r.row.line);
    let shown = residents.first().map(|r| r.row.draft.address.to_string()).unwrap_or_default();
    let lines =
        |between: &str| residents.iter().map(|r| r.row.line.to_string()).collect::<Vec<_>>().join(between);
    let heads: Vec<&Resident> = residents.iter().filter(|r| r.is_head()).collect();
    let head = heads.first().copied().or(residents.first())?;
    let relation = &columns.relation_header;
    let mut warn = |code: &'static str, zh: String, en: String| {
        warnings.push(RowWarning {
            line: first_line,
            column: None,
            value: shown.clone(),
            code,
            reason_zh: zh,
            reason: en,
        });
    };
    if columns.relation.is_some() && heads.is_empty() && residents.len() > 1 {
        let (name, line) = (&head.row.draft.head, head.row.line);
        warn(
            "no_head_of_household",
            format!(
                "第 {} 行没有一行的 {relation} 是“户主”或“本人”；按第 {line} 行的 {name} 作户主，请核对",
                lines("、")
            ),
            format!(
                "none of lines {} says 户主 or 本人 in {relation}; {name} (line {line}) is taken as the head of household, check it",
                lines(", ")
            ),
        );
    }
    if heads.len() > 1 {
        let names = heads.iter().map(|r| r.row.draft.head.as_str()).collect::<Vec<_>>().join("、");
        warn(
            "two_heads_of_household",
            format!(
                "{names} 都写着户主（第 {} 行），按一户导入，户主为 {}；如果是两户，请给它们不同的房号",
                heads.iter().map(|r| r.row.line.to_string()).collect::<Vec<_>>().join("、"),
                head.row.draft.head
            ),
            format!(
                "{names} each say 户主 (lines {}); imported as one household headed by {}; if they are two households, give them different flats",
                heads.iter().map(|r| r.row.line.to_string()).collect::<Vec<_>>().join(", "),
                head.row.draft.head
            ),
        );
    }
    let mut row = head.row.clone();
    row.line = first_line;
    let draft = &mut row.draft;
    // Any resident's number reaches the door; a household with none is said once, not on
    // every resident's row.
    match residents.iter().map(|r| &r.row.draft.phone).find(|p| !p.is_empty()) {
        Some(phone) if draft.phone.is_empty() => draft.phone = phone.clone(),
        Some(_) => {}
        None => warn(
            "phone_blank",
            format!("第 {} 行都没有联系电话，请补填，志愿者联系不上会白跑一趟", lines("、")),
            format!(
                "none of lines {} has a phone number; fill one in, so volunteers can call ahead",
                lines(", ")
            ),
        ),
    }
    let listed = u32::try_from(residents.len()).unwrap_or(u32::MAX);
    let said = residents.iter().filter_map(|r| r.row.draft.people).max();
    if let Some(said) = said.filter(|&said| said < listed) {
        warn(
            "people_fewer_than_residents",
            format!(
                "户内人数写的是 {said}，但列出了 {listed} 人（第 {} 行）；按 {listed} 人导入",
                lines("、")
            ),
            format!(
                "户内人数 says {said} but {listed} residents are listed (lines {}); imported as {listed}",
                lines(", ")
            ),
        );
    }
    draft.people = Some(said.map_or(listed, |said| said.max(listed)));
    let counted = |keep: fn(u32) -> bool| {
        u32::try_from(residents.iter().filter(|r| r.age.is_some_and(keep)).count()).unwrap_or(u32::MAX)
    };
    let most = |count: fn(&ImportedRow) -> u32| residents.iter().map(|r| count(&r.row)).max().unwrap_or(0);
    draft.aged_60_plus = counted(|years| years >= 60).max(most(|r| r.draft.aged_60_plus));
    draft.children_under_6 = counted(|years| years < 6).max(most(|r| r.draft.children_under_6));
    for resident in &residents {
        draft.needs.extend(resident.row.draft.needs.iter().copied());
        // The most guarded of its residents' statuses is the household's: a door one of them is
        // quarantined behind is a quarantined door.
        draft.status = draft.status.max(resident.row.draft.status);
        draft.lift |= resident.row.draft.lift;
    }
    let mut notes: Vec<&str> = Vec::new();
    for note in residents.iter().map(|r| r.row.draft.notes.as_str()).filter(|n| !n.is_empty()) {
        if !notes.contains(&note) {
            notes.push(note);
        }
    }
    draft.notes = notes.join("；");
    let mut stated: ColumnSet = residents.iter().flat_map(|r| r.row.stated.iter()).collect();
    // Counted from the rows, so said for a household already in the roster too.
    for column in [RosterColumn::People, RosterColumn::Aged60Plus, RosterColumn::ChildrenUnder6] {
        stated.insert(column);
    }
    row.stated = stated;
    row.version = residents.iter().find_map(|r| r.row.version.clone());
    Some((row, warnings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_are_whole_years_and_infants_are_none() {
        assert_eq!(age("72"), Ok(Some(72)));
        assert_eq!(age("72岁"), Ok(Some(72)));
        assert_eq!(age("７２周岁"), Ok(Some(72)));
        assert_eq!(age("72.0"), Ok(Some(72)));
        assert_eq!(age("8个月"), Ok(Some(0)));
        assert_eq!(age(""), Ok(None));
        assert_eq!(age("七十"), Err(()));
        assert_eq!(age("1952"), Err(()));
        assert_eq!(age("-3"), Err(()));
    }

    #[test]
    fn head_relations_are_read_however_written() {
        for head in ["户主", "本人", "本人（户主）", "户主(本人)", " 户主 ", "Self"] {
            assert!(HEAD_RELATIONS.contains(&relation_key(head).as_str()), "{head}");
        }
        for other in ["配偶", "户主之妻", "子", ""] {
            assert!(!HEAD_RELATIONS.contains(&relation_key(other).as_str()), "{other}");
        }
    }
}
