//! Reads a roster ledger (台账) exported from Excel as CSV into household drafts.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};

use csv::StringRecord;
use sha2::{Digest, Sha256};

use super::birth_dates::CalendarDay;
use super::cell_characters;
use super::columns::{ColumnSet, RosterColumn};
use super::date_cells::{DateCells, written_date};
use super::encoding::decode;
use super::error::{ImportError, RowError, RowWarning};
use super::formula_errors::formula_error;
use super::open_quote::{OpenQuote, open_quote};
use super::phone::{PhoneCheck, check_phone};
use super::residents::{self, Resident, ResidentColumns};
use crate::rulebook::BadValue;
use crate::rulebook::table::{BUILDING, HOUSEHOLD};
use crate::schema::address::{
    Address, FLAT_SUFFIXES, UNIT_SUFFIXES, building_label, flat_key, floor_of_flat, is_label, is_plain_flat,
    normalize_width, parse_address, strip_label, unit_label,
};
use crate::schema::control_status::ControlStatus;
use crate::schema::household::HouseholdDraft;
use crate::schema::need_tag::NeedTag;

/// The largest file accepted: 10 MiB, about 100,000 households.
pub const MAX_INPUT_BYTES: usize = 10 * 1024 * 1024;
/// The most household rows accepted in one file.
pub const MAX_ROWS: usize = 100_000;
/// The most columns a header row may name, up to its last non-empty cell (the same bound as an
/// .xlsx upload's): a ledger has a few dozen, and matching a header costs work per column.
pub const MAX_COLUMNS: usize = 256;
/// The longest value accepted in one cell, in characters: the longest the roster holds (notes),
/// so a roster's export reads back in.
pub const MAX_FIELD_CHARS: usize = crate::limits::LONG_TEXT;
/// The most row errors kept; later ones are only counted, in [`RosterPreview::omitted_errors`].
pub const MAX_ERRORS: usize = 1_000;
/// The most people recorded for one household before we suspect a typo.
pub const MAX_PEOPLE: u32 = crate::limits::PEOPLE;
/// Floors accepted, basements included.
const FLOORS: std::ops::RangeInclusive<i32> = crate::limits::FLOORS;
/// How many non-blank rows at the top are searched for the header row (titles above it).
pub const HEADER_SEARCH_ROWS: usize = 10;
/// How much of a bad value a row error repeats.
const SHOWN_CHARS: usize = 100;

/// What a roster file would import: the households read and the rows that could not be.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RosterPreview {
    /// The rows read, in file order.
    pub households: Vec<ImportedRow>,
    /// The rows left out and why, in file order; at most [`MAX_ERRORS`].
    pub errors: Vec<RowError>,
    /// Row errors beyond [`MAX_ERRORS`], counted but not kept.
    pub omitted_errors: usize,
    /// How many rows were left out for errors, those beyond [`MAX_ERRORS`] included: a row with
    /// three bad cells is three errors but one row, and a row holding a quote left open counts
    /// every line it spans, as the rows it swallowed were not read either.
    pub bad_rows: usize,
    /// What the coordinator should check or fill in for rows that were read (or dropped as
    /// identical to an earlier row), in file order, or that no row is under the header row
    /// (`no_households`, on the header's line); at most [`MAX_ERRORS`]. Warnings never block an
    /// import.
    pub warnings: Vec<RowWarning>,
    /// Warnings beyond [`MAX_ERRORS`], counted but not kept.
    pub omitted_warnings: usize,
    /// Headers that name no roster column, as written; their values are not imported.
    pub ignored_columns: Vec<String>,
    /// The roster columns the file has.
    pub columns: ColumnSet,
}

/// One household read from the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedRow {
    /// The 1-based physical line where the row starts (the header row is line 1).
    pub line: usize,
    /// The household as the row describes it: a new household takes all of it, the defaults
    /// where the file says nothing.
    pub draft: HouseholdDraft,
    /// The columns whose value this row states, so that a household already in the roster
    /// takes those and keeps the rest: not a column the file lacks, nor an empty cell unless
    /// an empty cell there says "none" ([`RosterColumn::blank_clears`]).
    pub stated: ColumnSet,
    /// The roster's version the row was exported from (its 导出版本 cell), if it says one.
    pub version: Option<String>,
}

impl RosterPreview {
    /// Whether every row was read.
    pub fn is_clean(&self) -> bool {
        self.errors.is_empty() && self.omitted_errors == 0
    }

    /// The estates (小区) of the households read, in order of first appearance.
    pub fn estates(&self) -> Vec<&str> {
        let mut seen = BTreeSet::new();
        self.households
            .iter()
            .map(|row| row.draft.address.estate.as_str())
            .filter(|estate| seen.insert(*estate))
            .collect()
    }

    fn push_warning(&mut self, warning: RowWarning) {
        if self.warnings.len() < MAX_ERRORS {
            self.warnings.push(warning);
        } else {
            self.omitted_warnings += 1;
        }
    }

    fn push_error(&mut self, error: RowError) {
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(error);
        } else {
            self.omitted_errors += 1;
        }
    }
}

/// Reads a roster CSV exported from a coordinator's spreadsheet (UTF-8, GB18030 or UTF-16;
/// comma- or tab-separated; Chinese or English headers in any order).
///
/// A file that cannot be read at all (wrong encoding, no header row, a required column missing,
/// too large) is an [`ImportError`]. Otherwise every row is either a household or a
/// [`RowError`], and nothing changes until the caller decides what to do with the preview.
///
/// Residents' ages are read from 年龄 only: counting one from a birth date (出生日期, 身份证号)
/// needs the day it is, which [`read_roster_csv_on`] is given.
pub fn read_roster_csv(bytes: &[u8]) -> Result<RosterPreview, ImportError> {
    read(bytes, &DateCells::default(), Source::Csv, None)
}

/// [`read_roster_csv`] on the day `today`, on which residents' ages are counted from their birth
/// dates (`birth_dates.rs`).
pub fn read_roster_csv_on(bytes: &[u8], today: CalendarDay) -> Result<RosterPreview, ImportError> {
    read(bytes, &DateCells::default(), Source::Csv, Some(today))
}

/// [`read_roster_csv`] of the CSV text a workbook's sheet became, `dates` the cells that were
/// dates there: one in any column but 备注 makes its row a bad row (`date_cell`), since Excel
/// turns a flat, unit or count typed as "5-1" into a date; in 备注 it is kept as its text. A NUL
/// in a sheet (Excel's `_x0000_`) is a cell's control character, taken out with a warning like
/// the others, where in a CSV file it says the file is not text. Residents' ages are counted on
/// `today`, as in [`read_roster_csv_on`].
pub fn read_roster_sheet(
    bytes: &[u8],
    dates: &DateCells,
    today: CalendarDay,
) -> Result<RosterPreview, ImportError> {
    read(bytes, dates, Source::Sheet, Some(today))
}

/// A spreadsheet's letters for the column at `index` (0 is A, 26 is AA).
fn column_letters(index: usize) -> String {
    let mut n = index + 1;
    let mut letters = Vec::new();
    while n > 0 {
        let rem = (n - 1) % 26;
        letters.push(char::from(b'A' + u8::try_from(rem).unwrap_or(0)));
        n = (n - 1) / 26;
    }
    letters.iter().rev().collect()
}

/// Where the CSV text came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// A CSV file, written by a spreadsheet or by hand: a quote may be left open in it.
    Csv,
    /// A workbook's sheet, written as CSV by the relay: every cell is quoted as it must be, so a
    /// line break in a cell was typed there (Alt+Enter).
    Sheet,
}

fn read(
    bytes: &[u8],
    dates: &DateCells,
    source: Source,
    today: Option<CalendarDay>,
) -> Result<RosterPreview, ImportError> {
    if bytes.len() > MAX_INPUT_BYTES {
        return Err(ImportError::TooLarge { bytes: bytes.len(), limit: MAX_INPUT_BYTES });
    }
    let text = match (source, std::str::from_utf8(bytes)) {
        // A sheet is the relay's own UTF-8: a NUL there is a cell's character (Excel's `_x0000_`),
        // taken out with the other control characters (`cell_characters.rs`) and said on its row,
        // not the sign of a file that is not text it is in a CSV file.
        (Source::Sheet, Ok(text)) => text.to_owned(),
        _ => decode(bytes)?,
    };
    let start: String = text.trim_start().chars().take(16).collect::<String>().to_ascii_lowercase();
    if source == Source::Csv
        && ["<!doctype html", "<html", "<table", "<meta"].iter().any(|tag| start.starts_with(tag))
    {
        return Err(ImportError::WebPage);
    }
    let delimiter = sniff_delimiter(&text);
    let mut records = records(&text).peekable();
    let columns = find_header(&mut records).map_err(separated_otherwise)?;
    let mut preview = RosterPreview {
        ignored_columns: columns.ignored(),
        columns: columns.index.keys().copied().collect(),
        ..RosterPreview::default()
    };
    // Each flat's first line, and the row's roster cells there, to tell an identical row
    // (safe to drop) from a different household written at the same address. Both by their
    // SHA-256, only ever compared: 72 bytes a flat instead of its fourteen strings (100,000
    // households held about 60 MiB more while read).
    let mut seen: HashMap<Fingerprint, (usize, Fingerprint)> = HashMap::new();
    // Excel writes every row as wide as the widest, so that empty fields after the table (in the
    // header row or in every row) are its own; a row wider than both the header row and most
    // rows under it has a comma outside quotes.
    let room = columns.fields.max(common_width(&text, delimiter, columns.rows_above));
    // A sheet kept one row per resident (`residents.rs`): each door's residents, in file order.
    let per_resident = columns.residents.one_row_per_resident();
    let mut doors: Vec<Vec<Resident>> = Vec::new();
    let mut door_at: HashMap<Fingerprint, usize> = HashMap::new();
    let mut rows = 0;
    for record in records {
        let (line, record) = record?;
        if is_blank(&record) {
            continue;
        }
        rows += 1;
        if rows > MAX_ROWS {
            return Err(ImportError::TooManyRows { limit: MAX_ROWS });
        }
        if source == Source::Csv
            && let Some(open) = open_quote(&record, |i| columns.is_one_line(i), columns.width(), delimiter)
        {
            // Most of the lines it swallowed were rows, and none of them was read.
            preview.bad_rows += open.lines;
            preview.push_error(columns.open_quote_error(line, &record, open));
            continue;
        }
        if let Some(warning) = not_a_household(&record, &columns, line) {
            preview.push_warning(warning);
            continue;
        }
        let (record, cleaned) =
            match cell_characters::clean_record(&record, &columns.index, &columns.headers, line) {
                Some((clean, warnings)) => (clean, warnings),
                None => (record, Vec::new()),
            };
        let mut row = Row {
            line,
            record: &record,
            columns: &columns,
            room,
            source,
            dates,
            today,
            errors: Vec::new(),
            warnings: cleaned,
        };
        let read = row.read();
        if let Some(address) = &read.address {
            let key = door_key_of(address);
            let cells = row.roster_cells();
            match seen.get(&key) {
                Some((first, first_cells)) if *first_cells == cells => {
                    // The same row twice: nothing is lost by dropping it, so it is a warning.
                    let first = *first;
                    let shown = address.to_string();
                    preview.push_warning(RowWarning {
                        line: row.line,
                        column: None,
                        value: shown.clone(),
                        code: "duplicate_row",
                        reason_zh: format!("与第 {first} 行完全相同，可以删除（未重复导入）"),
                        reason: format!("identical to line {first}, safe to drop (not imported twice)"),
                    });
                    continue;
                }
                // Another resident of the same door.
                Some(_) if per_resident => {}
                Some((first, _)) => {
                    let first = *first;
                    let shown = address.to_string();
                    // Which of the two is right is the coordinator's to say: the first is left out
                    // too, so importing "only the good rows" does not keep whichever came first.
                    let before = preview.households.len();
                    preview.households.retain(|kept| kept.line != first);
                    if preview.households.len() < before {
                        preview.bad_rows += 1;
                        preview.push_error(RowError {
                            line: first,
                            column: Some(columns.header(RosterColumn::Flat).to_owned()),
                            value: shown.clone(),
                            code: "duplicate_flat",
                            reason_zh: format!(
                                "{shown} 在第 {} 行又出现一次，内容不同；两行都未导入，请核对后删除一行",
                                row.line
                            ),
                            reason: format!(
                                "{shown} appears again on line {} with different details; neither row is imported, so keep the right one and delete the other",
                                row.line
                            ),
                        });
                    }
                    row.fail(
                        RosterColumn::Flat,
                        &shown,
                        "duplicate_flat",
                        format!("{shown} 与第 {first} 行是同一户，但内容不同；每户只能出现一次，请核对后删除一行"),
                        format!(
                            "{shown} is a duplicate of line {first} with different details; each flat may appear once, so keep the right row (neither is imported)"
                        ),
                    );
                }
                None => {
                    seen.insert(key, (row.line, cells));
                }
            }
        }
        match read.draft {
            Some(draft) if row.errors.is_empty() => {
                row.warn_if_vacant(&draft);
                let stated = row.stated();
                let version = columns
                    .version
                    .and_then(|at| record.get(at))
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(str::to_owned);
                let imported = ImportedRow { line: row.line, draft, stated, version };
                if per_resident {
                    let door = door_key_of(&imported.draft.address);
                    let resident = row.resident(imported);
                    // 户内人数 is counted from the door's rows, and a phone is needed once a door.
                    row.warnings.retain(|warning| !["people_blank", "phone_blank"].contains(&warning.code));
                    let at = *door_at.entry(door).or_insert_with(|| {
                        doors.push(Vec::new());
                        doors.len() - 1
                    });
                    doors[at].push(resident);
                } else {
                    preview.households.push(imported);
                }
                row.warnings.into_iter().for_each(|warning| preview.push_warning(warning));
            }
            _ => {
                preview.bad_rows += usize::from(!row.errors.is_empty());
                row.errors.into_iter().for_each(|error| preview.push_error(error))
            }
        }
    }
    if per_resident {
        households_of_residents(&mut preview, doors, &columns);
    }
    if rows == 0 {
        let line = columns.line;
        preview.push_warning(RowWarning {
            line,
            column: None,
            value: String::new(),
            code: "no_households",
            reason_zh: format!("第 {line} 行的表头下面没有任何一户，什么也没有导入；请在表头下面每户写一行"),
            reason: format!(
                "there are no households under the header row (line {line}), so nothing is imported; \
                 write one row per household under it"
            ),
        });
    }
    if let Some(header) =
        columns.index.contains_key(&RosterColumn::Estate).then(|| columns.header(RosterColumn::Estate))
    {
        fill_blank_estates(&mut preview, &header);
    }
    // In file order: a flat's first row is said when its second is met.
    preview.errors.sort_by_key(|e| e.line);
    preview.warnings.sort_by_key(|w| w.line);
    Ok(preview)
}

/// A door as rows are matched to doors: estate, building, unit and flat as [`flat_key`] compares it.
fn door_key_of(address: &Address) -> Fingerprint {
    let flat = flat_key(&address.flat);
    fingerprint([address.estate.as_str(), &address.building, &address.unit, &flat])
}

/// The households a sheet kept one row per resident describes, a door's rows making one
/// (`residents.rs`), added to `preview` with what to check of them, and one warning saying the
/// sheet was read so.
fn households_of_residents(preview: &mut RosterPreview, doors: Vec<Vec<Resident>>, columns: &Columns) {
    let residents_read: usize = doors.iter().map(Vec::len).sum();
    let mut households = 0;
    for door in doors {
        let first = door.first().map(|r| r.row.line);
        let Some((row, warnings)) = residents::household(door, &columns.residents) else { continue };
        warnings.into_iter().for_each(|warning| preview.push_warning(warning));
        // As a household's row is checked: what the roster would refuse is a bad row here.
        let problems = crate::operation::draft_problems(&row.draft);
        if let Some(bad) = problems.first() {
            let shown = row.draft.address.to_string();
            preview.bad_rows += 1;
            preview.push_error(RowError {
                line: first.unwrap_or(row.line),
                column: None,
                value: shown.clone(),
                code: "refused_by_rules",
                reason_zh: format!("{shown} 的住户合成一户后不能导入：{}", bad.reason),
                reason: format!(
                    "the residents of {shown} as one household cannot be imported: {}",
                    bad.reason
                ),
            });
            continue;
        }
        households += 1;
        preview.households.push(row);
    }
    preview.households.sort_by_key(|row| row.line);
    let line = columns.line;
    let said = columns.residents.said().join("、");
    preview.push_warning(RowWarning {
        line,
        column: None,
        value: said.clone(),
        code: "one_row_per_resident",
        reason_zh: format!(
            "表中有 {said} 列，按每人一行读取：{residents_read} 位住户合为 {households} 户，同一房号的各行为一户；\
             户内人数、60岁以上人数和6岁以下儿童按各户列出的人和年龄计算"
        ),
        reason: format!(
            "the sheet has {said}, so it is read one row per resident: {residents_read} residents make {households} \
             households, the rows of one flat one household; 户内人数, 60+ and under-6 are counted from each \
             household's rows and ages"
        ),
    });
}

/// A whole number a program wrote with its fraction ("1.0", "-1.00", as Excel and pandas write
/// a column kept as numbers), without it; any other text as it is ("1.5", "A.0", "1.").
fn without_zero_fraction(text: &str) -> &str {
    match text.split_once('.') {
        Some((whole, zeros))
            if !whole.is_empty()
                && whole.strip_prefix('-').unwrap_or(whole).bytes().all(|b| b.is_ascii_digit())
                && !whole.strip_prefix('-').unwrap_or(whole).is_empty()
                && !zeros.is_empty()
                && zeros.bytes().all(|b| b == b'0') =>
        {
            whole
        }
        _ => text,
    }
}

/// A 房号 cell holding a unit and a flat, "1-101" or "3单元101(室)", as (unit label, flat);
/// `None` for anything else (a whole address naming its building, "17-3-702", a plain flat).
fn unit_and_flat(cell: &str) -> Option<(String, String)> {
    let text = normalize_width(cell);
    let alnum = |part: &str| !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric());
    let (unit, flat) = match text.split_once('-') {
        Some((unit, flat)) => (unit.to_owned(), strip_label(flat, FLAT_SUFFIXES)),
        None => {
            let (at, suffix) =
                UNIT_SUFFIXES.iter().find_map(|suffix| text.find(suffix).map(|at| (at, *suffix)))?;
            (text[..at].to_owned(), strip_label(&text[at + suffix.len()..], FLAT_SUFFIXES))
        }
    };
    (alnum(&unit) && alnum(&flat)).then(|| (unit_label(&unit), flat))
}

/// What a totals row says in one of its cells, spaces and a colon aside.
const TOTALS: &[&str] = &["合计", "总计", "小计", "共计", "总数", "合计户数", "总户数"];

/// A row that is no household: a totals row (合计, 总计 …), which blocked the import as a bad
/// row ("没有楼号"), or the header row again (a sheet pasted under another), which was a bad row
/// of its own headers. Each is left out with a warning saying what it is.
fn not_a_household(record: &StringRecord, columns: &Columns, line: usize) -> Option<RowWarning> {
    let cell = |column: RosterColumn| {
        columns.index.get(&column).and_then(|&i| record.get(i)).map(|c| c.trim()).unwrap_or_default()
    };
    let required = [RosterColumn::Building, RosterColumn::Flat, RosterColumn::Head];
    if required.iter().all(|&column| {
        let written = cell(column);
        !written.is_empty()
            && (written == columns.header(column) || RosterColumn::from_header(written) == Some(column))
    }) {
        return Some(RowWarning {
            line,
            column: None,
            value: String::new(),
            code: "header_row_again",
            reason_zh: "这一行又是表头（楼号、房号、户主），没有作为一户导入；可以删去".to_owned(),
            reason: "this row is the header row again (楼号, 房号, 户主), not imported as a household; it can be deleted"
                .to_owned(),
        });
    }
    let is_total = |field: &str| {
        let bare: String = field.chars().filter(|c| !c.is_whitespace() && !matches!(c, ':' | '：')).collect();
        TOTALS.contains(&bare.as_str())
    };
    // A household's row has its flat: a 备注 of "合计" beside one is no totals row.
    let flat = cell(RosterColumn::Flat);
    if !flat.is_empty() && !is_total(flat) {
        return None;
    }
    let total = record.iter().find(|field| is_total(field))?;
    let total = total.trim();
    Some(RowWarning {
        line,
        column: None,
        value: total.to_owned(),
        code: "totals_row",
        reason_zh: format!("这一行是合计行（{total:?}），不是一户，没有导入"),
        reason: format!("this row is a totals row ({total:?}), not a household, so it is not imported"),
    })
}

/// What ledgers write in 户主 for a flat nobody lives in, brackets and spaces aside.
const VACANT_HEADS: &[&str] = &[
    "空置",
    "空房",
    "空户",
    "空",
    "无人",
    "无人居住",
    "无人住",
    "已搬离",
    "搬离",
    "已搬走",
    "搬走",
    "已搬出",
    "已迁出",
    "闲置",
    "出售",
    "待售",
];

/// A refusal for want of the required columns, named for what it is when the row that came
/// closest names them separated by a semicolon (or another separator a spreadsheet writes):
/// "表头没有 楼号、房号、户主" said nothing of the file's separator.
fn separated_otherwise(error: ImportError) -> ImportError {
    let ImportError::MissingColumns { found, .. } = &error else { return error };
    let named = found.iter().find_map(|header| {
        [';', '；', '|', '、']
            .into_iter()
            .find(|&separator| {
                let parts: Vec<&str> = header.split(separator).map(str::trim).collect();
                parts.len() > 1
                    && [RosterColumn::Building, RosterColumn::Flat].iter().all(|column| {
                        parts.iter().any(|part| RosterColumn::from_header(part) == Some(*column))
                    })
            })
            .map(|separator| (separator, header.clone()))
    });
    match named {
        Some((separator, header)) => ImportError::Separator { separator, header },
        None => error,
    }
}

/// Rows shown in a message about many rows, at most.
const ROWS_SHOWN: usize = 10;

/// Rows whose 小区 is blank in a file whose other rows name one: 小区 typed once at the top, or a
/// merged 小区 cell saved as CSV (only its first row holds it). They were imported as an estate
/// of no name beside the one named, the same doors twice. When the file names exactly one
/// estate, they take it, with one warning saying which rows did; with several, which one is
/// theirs is the coordinator's to say, and each is a bad row asking for it. A file with no
/// 小区 at all is left to the plan, which places its rows in the compound's estates.
fn fill_blank_estates(preview: &mut RosterPreview, header: &str) {
    let mut named: Vec<String> = Vec::new();
    let mut seen = BTreeSet::new();
    for row in &preview.households {
        let estate = &row.draft.address.estate;
        if !estate.trim().is_empty() && seen.insert(normalize_width(estate)) {
            named.push(estate.clone());
        }
    }
    let blank: Vec<usize> = preview
        .households
        .iter()
        .filter(|row| row.draft.address.estate.trim().is_empty())
        .map(|row| row.line)
        .collect();
    let Some(&first) = blank.first() else { return };
    match named.as_slice() {
        [] => {}
        [estate] => {
            for row in &mut preview.households {
                if row.draft.address.estate.trim().is_empty() {
                    row.draft.address.estate.clone_from(estate);
                }
            }
            let shown: Vec<String> = blank.iter().take(ROWS_SHOWN).map(ToString::to_string).collect();
            let more = if blank.len() > ROWS_SHOWN { ("…", ", …") } else { ("", "") };
            let n = blank.len();
            preview.push_warning(RowWarning {
                line: first,
                column: Some(header.to_owned()),
                value: String::new(),
                code: "estate_blank_filled",
                reason_zh: format!(
                    "{n} 行的 {header} 为空（第 {}{} 行），文件里只有一个小区，按 {estate:?} 导入；如果不是，请填写 {header}",
                    shown.join("、"),
                    more.0
                ),
                reason: format!(
                    "{header} is empty on {n} rows ({}{}); the file names one estate only, so they are imported into {estate:?}; if that is wrong, fill in {header}",
                    shown.join(", "),
                    more.1
                ),
            });
        }
        several => {
            let names = several.join("、");
            let names_en = several.join(", ");
            preview.households.retain(|row| !row.draft.address.estate.trim().is_empty());
            for line in blank {
                preview.bad_rows += 1;
                preview.push_error(RowError {
                    line,
                    column: Some(header.to_owned()),
                    value: String::new(),
                    code: "estate_blank",
                    reason_zh: format!("{header} 为空，而文件里有 {names} 几个小区，不知道这一户属于哪个；请填写 {header}"),
                    reason: format!(
                        "{header} is empty, and the file names several estates ({names_en}), so which one this household is in is not known; fill in {header}"
                    ),
                });
            }
        }
    }
}

/// Whether CSV text (the CSV a workbook's sheet became) has a roster header row, found where
/// and as [`read_roster_sheet`] finds it: only the rows up to it are parsed, and the text is
/// neither decoded nor copied, so a reader of several sheets can ask this of each to find the
/// roster among instructions and lists.
///
/// `Ok` when it has one. [`ImportError::MissingColumns`] (naming the row that came closest) or
/// [`ImportError::Empty`] when it has none; any other error is the one [`read_roster_sheet`]
/// would refuse the text with at its header row (a column named twice, a row too wide).
pub fn check_roster_header(text: &str) -> Result<(), ImportError> {
    find_header(&mut records(text).peekable()).map(drop)
}

/// The records of `text`, each with the physical line it starts on.
fn records(text: &str) -> impl Iterator<Item = Result<(usize, StringRecord), ImportError>> + '_ {
    let reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(sniff_delimiter(text))
        .from_reader(text.as_bytes());
    let mut lines = LineCounter { text, offset: 0, line: 1 };
    reader.into_records().map(move |record| match record {
        Ok(record) => Ok((record.position().map_or(0, |p| lines.line_at(p.byte())), record)),
        Err(e) => Err(ImportError::Malformed {
            line: e.position().map_or(0, |p| lines.line_at(p.byte())),
            reason: e.to_string(),
        }),
    })
}

/// SHA-256 of texts, each prefixed by its length, so that no two lists of texts share one.
type Fingerprint = [u8; 32];

fn fingerprint<'a>(texts: impl IntoIterator<Item = &'a str>) -> Fingerprint {
    let mut hasher = Sha256::new();
    for text in texts {
        hasher.update((text.len() as u64).to_le_bytes());
        hasher.update(text.as_bytes());
    }
    hasher.finalize().into()
}

/// Which field of a record each column is in, and what the headers said.
#[derive(Debug)]
struct Columns {
    index: HashMap<RosterColumn, usize>,
    /// Further 联系电话 columns (a landline and a mobile), read into the one phone field.
    more_phones: Vec<usize>,
    headers: Vec<String>,
    /// The header row's fields, the empty ones after the last header included.
    fields: usize,
    /// The non-blank rows up to the end of the header (titles, the header row and a second one).
    rows_above: usize,
    /// The header row's line.
    line: usize,
    /// The 导出版本 column (`export_version`), when the file has it.
    version: Option<usize>,
    /// 与户主关系, 年龄 and a resident's 姓名, when the sheet is kept one row per resident.
    residents: ResidentColumns,
}

impl Columns {
    fn from_record(record: &StringRecord) -> Result<Self, ImportError> {
        let mut headers: Vec<String> =
            record.iter().map(|h| h.trim().trim_start_matches('\u{FEFF}').to_owned()).collect();
        // Empty columns after the table (Excel exports them) name nothing.
        headers.truncate(headers.iter().rposition(|h| !h.is_empty()).map_or(0, |last| last + 1));
        let mut columns = Columns {
            index: HashMap::new(),
            more_phones: Vec::new(),
            headers,
            fields: record.len(),
            rows_above: 0,
            line: 0,
            version: None,
            residents: ResidentColumns::default(),
        };
        columns.version = columns.headers.iter().position(|h| super::export_version::is_header(h));
        // Weak headers (姓名) after the others, so that they give way to them.
        let mut named: Vec<(usize, RosterColumn, bool)> = columns
            .headers
            .iter()
            .enumerate()
            .filter_map(|(i, header)| RosterColumn::matching(header).map(|(column, weak)| (i, column, weak)))
            .collect();
        named.sort_by_key(|(i, _, weak)| (*weak, *i));
        let mut weak_taken = Vec::new();
        for (i, column, weak) in named {
            match columns.index.get(&column) {
                None => {
                    columns.index.insert(column, i);
                    if weak {
                        weak_taken.push(column);
                    }
                }
                Some(_) if weak && !weak_taken.contains(&column) => {}
                Some(_) if column == RosterColumn::Phone => columns.more_phones.push(i),
                Some(_) => {
                    let headers = columns
                        .headers
                        .iter()
                        .filter(|h| RosterColumn::from_header(h) == Some(column))
                        .cloned()
                        .collect();
                    return Err(ImportError::DuplicateColumn {
                        column: column.header_zh().to_owned(),
                        headers,
                    });
                }
            }
        }
        let taken: Vec<usize> = columns.index.values().copied().collect();
        columns.residents = ResidentColumns::find(&columns.headers, &taken);
        Ok(columns)
    }

    /// Takes the row under the header row as part of it when it is a second header row: one
    /// that names roster columns under headers naming none (户内人数, 60岁以上人数 and 6岁以下儿童
    /// under a merged 人口情况) and otherwise only repeats the headers above (merged down) or is
    /// empty. Says whether it did.
    fn take_second_row(&mut self, record: &StringRecord) -> bool {
        let mut found = Vec::new();
        for (i, cell) in record.iter().enumerate() {
            let cell = cell.trim();
            let above = self.headers.get(i).map_or("", String::as_str);
            if cell.is_empty() || cell == above {
                continue;
            }
            let Some(column) = RosterColumn::from_header(cell) else {
                return false;
            };
            if self.index.contains_key(&column) || RosterColumn::from_header(above).is_some() {
                return false;
            }
            found.push((i, column, cell.to_owned()));
        }
        if found.is_empty() {
            return false;
        }
        for (i, column, header) in found {
            if self.headers.len() <= i {
                self.headers.resize(i + 1, String::new());
            }
            self.headers[i] = header;
            self.index.insert(column, i);
        }
        true
    }

    /// The number of fields a row must have: up to the last non-empty header, since Excel
    /// sometimes exports empty columns after the table.
    fn width(&self) -> usize {
        self.headers.iter().rposition(|h| !h.is_empty()).map_or(0, |last| last + 1)
    }

    /// Whether field `i` is a roster cell of one line: any read into the roster but 备注.
    fn is_one_line(&self, i: usize) -> bool {
        self.more_phones.contains(&i)
            || self.index.iter().any(|(column, at)| *at == i && *column != RosterColumn::Notes)
    }

    /// The row error of a row starting on `line` that holds a quote left open ([`open_quote`]).
    fn open_quote_error(&self, line: usize, record: &StringRecord, open: OpenQuote) -> RowError {
        let header = self.headers.get(open.field).cloned();
        let shown = header.clone().unwrap_or_else(|| format!("#{}", open.field + 1));
        let last = line + open.lines - 1;
        let (zh, en) = if open.row_like {
            (
                format!("{shown} 从这一行一直延续到第 {last} 行，其中有一行像是表格的一行"),
                format!("the cell runs on to line {last}, and a line of it reads like a row of this file"),
            )
        } else {
            (
                format!("{shown} 这一格里有换行（一直延续到第 {last} 行），这一列每格只能有一行"),
                format!("the cell contains a line break (it runs on to line {last}); {shown} holds one line"),
            )
        };
        RowError {
            line,
            column: header,
            value: shorten(record.get(open.field).unwrap_or_default()),
            code: "open_quote",
            reason_zh: format!(
                "{zh}——是不是有一个引号 \" 没有闭合？第 {line} 到 {last} 行（共 {} 行）都没有导入；请补上或删去引号后重新导入",
                open.lines
            ),
            reason: format!(
                "{en} — is a quote \" left open? Lines {line} to {last} ({} lines) were not imported; \
                 close or delete the quote and import again",
                open.lines
            ),
        }
    }

    fn missing(&self) -> Vec<RosterColumn> {
        RosterColumn::ALL.into_iter().filter(|c| c.is_required() && !self.index.contains_key(c)).collect()
    }

    /// The headers read into no column (姓名 beside 户主 too), as written.
    fn ignored(&self) -> Vec<String> {
        let read: BTreeSet<usize> = self
            .index
            .values()
            .chain(&self.more_phones)
            .chain(&self.version)
            .copied()
            .chain(self.residents.fields())
            .collect();
        self.headers
            .iter()
            .enumerate()
            .filter(|(i, h)| !h.is_empty() && !read.contains(i))
            .map(|(_, h)| h.clone())
            .collect()
    }

    /// The header as the file wrote it, or the template's when the column is absent.
    fn header(&self, column: RosterColumn) -> String {
        match self.index.get(&column) {
            Some(&i) => self.headers.get(i).cloned().unwrap_or_default(),
            None => column.header_zh().to_owned(),
        }
    }
}

/// Finds the header row: the first row naming the required columns, allowing a few title rows
/// ("北林社区疫情防控台账") above it.
fn find_header<I: Iterator<Item = Result<(usize, StringRecord), ImportError>>>(
    records: &mut std::iter::Peekable<I>,
) -> Result<Columns, ImportError> {
    let mut closest: Option<Columns> = None;
    let mut searched = 0;
    while searched < HEADER_SEARCH_ROWS {
        let Some(record) = records.next() else { break };
        let (line, record) = record?;
        if is_blank(&record) {
            continue;
        }
        searched += 1;
        let width = record
            .iter()
            .enumerate()
            .filter(|(_, field)| !field.trim().is_empty())
            .last()
            .map_or(0, |(i, _)| i + 1);
        if width > MAX_COLUMNS {
            return Err(ImportError::TooManyColumns { columns: width, limit: MAX_COLUMNS });
        }
        // A title row cannot name a column twice, so a duplicate means this is the header row.
        let mut columns = Columns::from_record(&record)?;
        if columns.missing().is_empty() {
            if let Some(Ok((_, next))) = records.peek()
                && columns.take_second_row(next)
            {
                records.next();
                searched += 1;
            }
            columns.rows_above = searched;
            columns.line = line;
            return Ok(columns);
        }
        if closest.as_ref().is_none_or(|c| columns.index.len() > c.index.len()) {
            closest = Some(columns);
        }
    }
    // Whether rows below the last one searched went unsearched.
    let cut_short = searched == HEADER_SEARCH_ROWS
        && records.any(|record| record.is_ok_and(|(_, record)| !is_blank(&record)));
    match closest {
        None => Err(ImportError::Empty),
        Some(columns) => Err(ImportError::MissingColumns {
            missing: columns.missing().iter().map(|c| c.header_zh().to_owned()).collect(),
            found: columns.headers.into_iter().filter(|h| !h.is_empty()).collect(),
            cut_short,
        }),
    }
}

/// What one row yields: the draft when every field could be read, and the address whenever it
/// could be (to catch a duplicate even when the row fails for another reason).
#[derive(Debug)]
struct Read {
    draft: Option<HouseholdDraft>,
    address: Option<Address>,
}

/// One data row being read; every problem found is kept, so the coordinator can fix a row in
/// one pass.
#[derive(Debug)]
struct Row<'a> {
    line: usize,
    record: &'a StringRecord,
    columns: &'a Columns,
    /// The most fields a row may have when those past the header's are empty.
    room: usize,
    /// A CSV file's row, or a workbook sheet's (where no comma moves a cell).
    source: Source,
    dates: &'a DateCells,
    /// The day residents' ages are counted on from their birth dates, when the caller said it.
    today: Option<CalendarDay>,
    errors: Vec<RowError>,
    warnings: Vec<RowWarning>,
}

impl Row<'_> {
    fn read(&mut self) -> Read {
        if !self.check_shape() || !self.check_dates() || !self.check_formula_errors() {
            return Read { draft: None, address: None };
        }
        let address = self.address();
        let head = self.text(RosterColumn::Head).to_owned();
        if head.is_empty() {
            let header = self.columns.header(RosterColumn::Head);
            self.fail(
                RosterColumn::Head,
                "",
                "head_blank",
                format!("{header} 为空，请填写户主姓名"),
                format!("{header} is empty"),
            );
        }
        let phone = self.phone();
        let people = self.people();
        let aged_60_plus = self.count(RosterColumn::Aged60Plus).map(|n| n.unwrap_or(0));
        let children_under_6 = self.count(RosterColumn::ChildrenUnder6).map(|n| n.unwrap_or(0));
        // A blank 户内人数 is unknown, so there is nothing to compare with.
        if let Some(Some(people)) = people {
            let people_header = self.columns.header(RosterColumn::People);
            for (column, count) in
                [(RosterColumn::Aged60Plus, aged_60_plus), (RosterColumn::ChildrenUnder6, children_under_6)]
            {
                if let Some(count) = count.filter(|&count| count > people) {
                    let header = self.columns.header(column);
                    let cell = self.text(column).to_owned();
                    self.fail(
                        column,
                        &cell,
                        "count_exceeds_people",
                        format!("{header} 为 {count}，多于 {people_header} {people}；请核对这两格"),
                        format!(
                            "{header} is {count}, more than {people_header} ({people}); check both cells"
                        ),
                    );
                }
            }
        }
        let needs = self.needs();
        let status = self.status();
        let lift = self.lift();
        let notes = self.text(RosterColumn::Notes).to_owned();
        let draft =
            match (address.clone(), phone, people, aged_60_plus, children_under_6, needs, status, lift) {
                (
                    Some(address),
                    Some(phone),
                    Some(people),
                    Some(aged_60_plus),
                    Some(children_under_6),
                    Some(needs),
                    Some(status),
                    Some(lift),
                ) => Some(HouseholdDraft {
                    address,
                    head,
                    phone,
                    people,
                    aged_60_plus,
                    children_under_6,
                    needs,
                    status,
                    lift,
                    notes,
                }),
                _ => None,
            };
        // What the roster would refuse is a bad row here, so a preview never promises a row
        // its commit then refuses (the rules are the rulebook's, not a second copy).
        let draft = draft.filter(|draft| {
            let problems = crate::operation::draft_problems(draft);
            problems.iter().for_each(|bad| self.refuse(bad));
            problems.is_empty()
        });
        Read { draft, address }
    }

    /// A value the rulebook refuses, as an error on the cell it came from.
    fn refuse(&mut self, bad: &BadValue) {
        let (column, entity, field) = match bad.field {
            "floor" => (RosterColumn::Floor, &HOUSEHOLD, "floor"),
            "estate" => (RosterColumn::Estate, &BUILDING, "estate"),
            "building" => (RosterColumn::Building, &BUILDING, "label"),
            "unit" => (RosterColumn::Unit, &HOUSEHOLD, "unit"),
            "flat" => (RosterColumn::Flat, &HOUSEHOLD, "flat"),
            "head" => (RosterColumn::Head, &HOUSEHOLD, "head"),
            "phone" => (RosterColumn::Phone, &HOUSEHOLD, "phone"),
            "people" => (RosterColumn::People, &HOUSEHOLD, "people"),
            "aged_60_plus" => (RosterColumn::Aged60Plus, &HOUSEHOLD, "aged_60_plus"),
            "children_under_6" => (RosterColumn::ChildrenUnder6, &HOUSEHOLD, "children_under_6"),
            _ => (RosterColumn::Notes, &HOUSEHOLD, "notes"),
        };
        let header = self.columns.header(column);
        // The row's own check of the cell already said what is wrong with it (a blank 户主, a
        // count over 户内人数), in words that fit a spreadsheet better.
        if self.errors.iter().any(|e| e.line == self.line && e.column.as_deref() == Some(header.as_str())) {
            return;
        }
        let cell = self.text(column).to_owned();
        let chars = cell.chars().count();
        let zh = match entity.field(field).and_then(|f| f.max_chars()) {
            Some(max) if chars > max => format!("{header} 有 {chars} 个字，这一格最多 {max} 个"),
            Some(_) if cell.trim().is_empty() => format!("{header} 为空，请填写"),
            Some(_) => format!("{header} 含有不允许的字符（{}）", bad.reason),
            None => format!("{header} 为 {cell}，超过 {} 人；请核对", crate::limits::PEOPLE),
        };
        self.fail(column, &cell, "refused_by_rules", zh, format!("{header} {}", bad.reason));
    }

    /// The trimmed cells of the roster's columns, in column order: what makes two rows the same
    /// household record (a row number such as 序号 does not).
    /// In a sheet kept one row per resident, the resident's own cells too: two residents of one
    /// door share every roster cell.
    fn roster_cells(&self) -> Fingerprint {
        let mut cells: Vec<Cow<'_, str>> =
            RosterColumn::ALL.into_iter().map(|column| self.cell(column)).collect();
        cells.extend(self.columns.residents.fields().into_iter().map(|i| Cow::Borrowed(self.field(i))));
        fingerprint(cells.iter().map(|cell| cell.as_ref()))
    }

    /// The row's resident: their relation to the head of household and their age, a cell meant
    /// to say it that does not said and the resident not counted.
    fn resident(&mut self, row: ImportedRow) -> Resident {
        let residents = &self.columns.residents;
        let relation = residents.relation.map_or("", |i| self.field(i)).to_owned();
        let (age, problems) = residents.age(|i| self.field(i), self.today);
        for problem in problems {
            self.warnings.push(RowWarning {
                line: self.line,
                column: Some(problem.header),
                value: shorten(&problem.cell),
                code: problem.code,
                reason_zh: problem.reason_zh,
                reason: problem.reason,
            });
        }
        Resident { row, relation, age }
    }

    /// Checks the field count and cell lengths, without which nothing else can be trusted.
    fn check_shape(&mut self) -> bool {
        let expected = self.columns.width();
        let got = self.record.len();
        let extra_is_blank = self.record.iter().skip(expected).all(|f| f.trim().is_empty());
        if self.source == Source::Sheet && !extra_is_blank {
            // A workbook has no commas to move cells: a filled cell past the header's columns is
            // text typed beside the roster (a second note, a total) under no heading.
            let (at, cell) = self
                .record
                .iter()
                .enumerate()
                .skip(expected)
                .find(|(_, f)| !f.trim().is_empty())
                .unwrap_or((expected, ""));
            let letters = column_letters(at);
            self.errors.push(RowError {
                line: self.line,
                column: Some(letters.clone()),
                value: shorten(cell),
                code: "cell_without_heading",
                reason_zh: format!(
                    "{letters} 列（第 {} 列）有内容，但表头在这一列没有标题；请给这一列加上标题，或把内容移到 备注",
                    at + 1
                ),
                reason: format!(
                    "cell {letters}{} holds text, but the header row has no heading over column {letters}: give that \
                     column a heading, or move the text into 备注",
                    self.line
                ),
            });
            return false;
        }
        if got > self.room && extra_is_blank {
            let shown = self.record.iter().collect::<Vec<_>>().join(",");
            self.errors.push(RowError {
                line: self.line,
                column: None,
                value: shorten(&shown),
                code: "field_count",
                reason_zh: format!(
                    "这一行有 {got} 格，比表头（{expected} 格）和其他行都多；引号外的逗号（如 户内人数 写成 1,000，\
                     或 户主 写成 张三,李四）会把后面的每一格都挤到右边一列；请给这一格加上引号或删去逗号"
                ),
                reason: format!(
                    "the row has {got} fields, more than the header row ({expected}) and the other rows: a comma \
                     outside quotes (1,000 in 户内人数, or 张三,李四 in 户主) moves every cell after it one column \
                     to the right; put that cell in quotes or delete the comma"
                ),
            });
            return false;
        }
        if got < expected || !extra_is_blank {
            let shown = self.record.iter().collect::<Vec<_>>().join(",");
            self.errors.push(RowError {
                line: self.line,
                column: None,
                value: shorten(&shown),
                code: "field_count",
                reason_zh: format!("这一行有 {got} 格，表头有 {expected} 格；请检查引号外的逗号或缺少的格"),
                reason: format!(
                    "the row has {got} fields but the header row has {expected}; check for a comma \
                     outside quotes or a missing field"
                ),
            });
            return false;
        }
        for (i, field) in self.record.iter().enumerate() {
            let chars = field.chars().count();
            if chars > MAX_FIELD_CHARS {
                let column = self.columns.headers.get(i).cloned();
                self.errors.push(RowError {
                    line: self.line,
                    column,
                    value: shorten(field),
                    code: "field_too_long",
                    reason_zh: format!(
                        "内容有 {chars} 个字，一格最多 {MAX_FIELD_CHARS} 个（上面是否有没闭合的引号 \"？）"
                    ),
                    reason: format!(
                        "the value is {chars} characters long; at most {MAX_FIELD_CHARS} are \
                         accepted (is a quote \" left open above?)"
                    ),
                });
            }
        }
        self.errors.is_empty()
    }

    /// A cell Excel held as a date is refused in every column but 备注, naming the date: Excel
    /// turns a flat typed "5-1" into 2026-05-01, which read as a number is flat 46143 on floor 461.
    /// A CSV carries no mark of a date, so in the address cells (楼号, 单元, 楼层, 房号) a cell
    /// written as Excel writes a date into a CSV (2026/5/1, 5月1日: [`written_date`]) is one too.
    fn check_dates(&mut self) -> bool {
        let mut fields: Vec<(RosterColumn, usize)> =
            self.columns.index.iter().map(|(column, at)| (*column, *at)).collect();
        fields.extend(self.columns.more_phones.iter().map(|at| (RosterColumn::Phone, *at)));
        fields.sort();
        for (column, at) in fields {
            let written = || {
                matches!(
                    column,
                    RosterColumn::Building | RosterColumn::Unit | RosterColumn::Floor | RosterColumn::Flat
                ) && written_date(self.field(at)).is_some()
            };
            if column == RosterColumn::Notes || !(self.dates.contains(self.line, at) || written()) {
                continue;
            }
            let date = self.field(at).to_owned();
            let header = self.columns.headers.get(at).cloned().unwrap_or_default();
            // What was probably typed: "5-1" for 2026-05-01.
            let typed = match written_date(date.split(' ').next().unwrap_or_default()) {
                Some((month, day)) => format!("{month}-{day}"),
                None => date.clone(),
            };
            self.errors.push(RowError {
                line: self.line,
                column: Some(header.clone()),
                value: shorten(&date),
                code: "date_cell",
                reason_zh: format!(
                    "这一格是日期 {date}：Excel 把输入的内容（可能是 {typed}）变成了日期；请把 {header} 列设为文本（设置单元格格式 → 文本）后重新输入"
                ),
                reason: format!(
                    "this cell is a date ({date}): Excel turned what was typed (perhaps {typed}) into a date; \
                     format the {header} column as text (设置单元格格式 → 文本) and type it again"
                ),
            });
        }
        self.errors.is_empty()
    }

    /// A cell holding an Excel error value (`#N/A`, `#REF!`, …: a formula that failed) is refused
    /// in every column, 备注 included: imported, it would become the household's head, phone or
    /// notes.
    fn check_formula_errors(&mut self) -> bool {
        let mut fields: Vec<(RosterColumn, usize)> =
            self.columns.index.iter().map(|(column, at)| (*column, *at)).collect();
        fields.extend(self.columns.more_phones.iter().map(|at| (RosterColumn::Phone, *at)));
        fields.sort();
        for (_, at) in fields {
            let Some(error) = formula_error(self.written(at)) else { continue };
            let header = self.columns.headers.get(at).cloned().unwrap_or_default();
            self.errors.push(RowError {
                line: self.line,
                column: Some(header.clone()),
                value: error.to_owned(),
                code: "formula_error",
                reason_zh: format!(
                    "{header} 是公式错误 {error}（公式没有算出结果）；请改正公式，或直接输入内容"
                ),
                reason: format!("formula error {error} in {header}: fix the formula or type the value"),
            });
        }
        self.errors.is_empty()
    }

    /// The trimmed cell of `column`, or "" when the file has no such column. A cell the relay's
    /// export quoted against spreadsheet formulas (`'=…`) is read back without that quote.
    fn text(&self, column: RosterColumn) -> &str {
        self.columns.index.get(&column).map_or("", |&i| self.field(i))
    }

    /// The trimmed field at `i`, the export's quote undone ([`Row::text`]). The quote is undone
    /// before the end is trimmed: a note of one tab is exported as `'` and the tab.
    fn field(&self, i: usize) -> &str {
        self.record.get(i).map_or("", |cell| crate::csv_cell::restore(cell.trim_start()).trim())
    }

    /// The trimmed field at `i` as the file holds it, a quote in front kept: a cell the export
    /// quoted (`'#N/A`, a volunteer's note) is text, not a formula that failed.
    fn written(&self, i: usize) -> &str {
        self.record.get(i).map_or("", |cell| cell.trim())
    }

    /// The cell of `column`, the 联系电话 columns' numbers as one cell ("0371-61234567/13800000000",
    /// as a ledger writes two numbers in one cell) when the file has more than one.
    fn cell(&self, column: RosterColumn) -> Cow<'_, str> {
        let first = self.text(column);
        if column != RosterColumn::Phone || self.columns.more_phones.is_empty() {
            return Cow::Borrowed(first);
        }
        let cells = std::iter::once(first).chain(self.columns.more_phones.iter().map(|&i| self.field(i)));
        Cow::Owned(cells.filter(|cell| !cell.is_empty()).collect::<Vec<_>>().join("/"))
    }

    /// The columns this row states a value for ([`ImportedRow::stated`]).
    fn stated(&self) -> ColumnSet {
        RosterColumn::ALL
            .into_iter()
            .filter(|column| {
                self.columns.index.contains_key(column)
                    && (column.blank_clears() || !column.is_blank(&self.cell(*column)))
            })
            .collect()
    }

    fn message(
        &self,
        column: RosterColumn,
        value: &str,
        code: &'static str,
        zh: String,
        en: String,
    ) -> RowError {
        RowError {
            line: self.line,
            column: Some(self.columns.header(column)),
            value: shorten(value),
            code,
            reason_zh: zh,
            reason: en,
        }
    }

    fn fail(&mut self, column: RosterColumn, value: &str, code: &'static str, zh: String, en: String) {
        let error = self.message(column, value, code, zh, en);
        self.errors.push(error);
    }

    fn warn(&mut self, column: RosterColumn, value: &str, code: &'static str, zh: String, en: String) {
        let warning = self.message(column, value, code, zh, en);
        self.warnings.push(warning);
    }

    /// A row that reads as a flat nobody lives in (户主 "空置", "（空房）", "已搬离"; 户内人数
    /// 0): imported as a household, as the sheet has it, which volunteers would then be sent to,
    /// so the coordinator is told to check it.
    fn warn_if_vacant(&mut self, draft: &HouseholdDraft) {
        let head: String = draft.head.chars().filter(|c| !"()（）[]【】 ".contains(*c)).collect();
        let (head_header, people_header) =
            (self.columns.header(RosterColumn::Head), self.columns.header(RosterColumn::People));
        if VACANT_HEADS.contains(&head.as_str()) {
            let said = draft.head.clone();
            self.warn(
                RosterColumn::Head,
                &said,
                "vacant_flat",
                format!("{head_header} 写的是 {said:?}，像是没人住的房子，仍作为一户导入，志愿者会被派去；如果没人住，请删去这一行，否则请写户主姓名"),
                format!(
                    "{head_header} says {said:?}, which reads as a flat nobody lives in; it is imported as a household, and volunteers would be sent there. If nobody lives there, delete the row; otherwise write the head's name"
                ),
            );
        } else if draft.people == Some(0) {
            self.warn(
                RosterColumn::People,
                "0",
                "vacant_flat",
                format!("{people_header} 为 0，像是没人住的房子，仍作为一户导入，志愿者会被派去；如果没人住，请删去这一行，否则请填写人数"),
                format!(
                    "{people_header} is 0, which reads as a flat nobody lives in; it is imported as a household, and volunteers would be sent there. If nobody lives there, delete the row; otherwise fill in how many people"
                ),
            );
        }
    }

    /// The address from 小区/楼号/单元/房号, where 房号 (or 楼号) may also hold a whole address
    /// such as "17号楼3单元702" or "17-3-702"; the floor from 楼层 or else from the flat number.
    fn address(&mut self) -> Option<Address> {
        let estate_cell = self.text(RosterColumn::Estate).to_owned();
        let building_cell = self.text(RosterColumn::Building).to_owned();
        let unit_cell = self.text(RosterColumn::Unit).to_owned();
        let flat_cell = self.text(RosterColumn::Flat).to_owned();
        let mut estate = normalize_width(&estate_cell);
        // A building or unit kept as a number and written with its fraction ("1.0", as pandas
        // writes a column with a blank in it) is that number: "1.0" was a building beside 1.
        let mut building = building_label(without_zero_fraction(&building_cell));
        let mut unit = unit_label(without_zero_fraction(&unit_cell));
        let mut flat_label = strip_label(&flat_cell, FLAT_SUFFIXES);
        // A flat number Excel kept as a number and a program wrote with its fraction ("101.0"):
        // it was read as a whole address and refused as having no building. Said, since a flat
        // kept as a number has lost its leading zeros too.
        let whole = without_zero_fraction(&flat_label);
        if whole.len() < flat_label.len() {
            let header = self.columns.header(RosterColumn::Flat);
            let read = whole.to_owned();
            self.warn(
                RosterColumn::Flat,
                &flat_cell,
                "flat_fraction",
                format!("{flat_cell:?} 带有小数点（表格把房号存成了数字），按 {read:?} 读取；请把 {header} 列设为文本"),
                format!(
                    "{flat_cell:?} has a decimal point (the sheet kept the flat as a number), so it is read as {read:?}; format the {header} column as text"
                ),
            );
            flat_label = read;
        }
        // Beside a 楼号, a 房号 of a unit and a flat ("1-101", "3单元101") is that unit's flat:
        // "1-101" was read as building 1's flat 101 beside 1号楼 and "2-101" refused as not
        // matching it, and "3单元101" refused for having no building.
        if !building.is_empty()
            && !is_plain_flat(&flat_label)
            && let Some((in_flat, flat)) = unit_and_flat(&flat_cell)
        {
            if !unit.is_empty() && unit != in_flat {
                let (flat_header, unit_header) =
                    (self.columns.header(RosterColumn::Flat), self.columns.header(RosterColumn::Unit));
                self.fail(
                    RosterColumn::Unit,
                    &unit_cell,
                    "address_mismatch",
                    format!(
                        "{unit_cell:?} 与 {flat_header} {flat_cell:?} 不符，后者写的是 {in_flat} 单元；请只在一处写单元"
                    ),
                    format!(
                        "{unit_cell:?} does not match {flat_header} {flat_cell:?}, which says unit {in_flat}; write the unit in {unit_header} only"
                    ),
                );
                return None;
            }
            unit = in_flat;
            flat_label = flat;
        }

        // Where a whole address is written, if anywhere.
        let whole = if !flat_cell.is_empty() && !is_plain_flat(&flat_label) {
            Some((RosterColumn::Flat, flat_cell.clone()))
        } else if flat_cell.is_empty() && !building_cell.is_empty() && parse_address(&building_cell).is_ok() {
            Some((RosterColumn::Building, building_cell.clone()))
        } else {
            None
        };
        let flat = match whole {
            Some((column, text)) => {
                let query = match parse_address(&text) {
                    Ok(query) => query,
                    Err(e) => {
                        let zh = format!(
                            "无法读取地址 {text:?}：{}；请写成 17号楼3单元702、17栋3单元702室 或 17-3-702",
                            address_reason_zh(e.reason)
                        );
                        self.fail(column, &text, "bad_address", zh, e.to_string());
                        return None;
                    }
                };
                let header = self.columns.header(column);
                let agree = |row: &mut Self,
                             part: RosterColumn,
                             cell: &str,
                             have: &mut String,
                             parsed: Option<String>| {
                    let Some(parsed) = parsed else { return true };
                    if column != part && !have.is_empty() && *have != parsed {
                        let zh = format!("{cell:?} 与 {header} {text:?} 不符，后者写的是 {parsed:?}");
                        let en = format!("{cell:?} does not match {header} {text:?}, which says {parsed:?}");
                        row.fail(part, cell, "address_mismatch", zh, en);
                        return false;
                    }
                    *have = parsed;
                    true
                };
                let agreed = [
                    agree(self, RosterColumn::Estate, &estate_cell, &mut estate, query.estate),
                    agree(self, RosterColumn::Building, &building_cell, &mut building, Some(query.building)),
                    agree(self, RosterColumn::Unit, &unit_cell, &mut unit, query.unit),
                ];
                if agreed.contains(&false) {
                    return None;
                }
                query.flat
            }
            None if flat_cell.is_empty() => {
                let header = self.columns.header(RosterColumn::Flat);
                self.fail(
                    RosterColumn::Flat,
                    "",
                    "flat_blank",
                    format!("{header} 为空"),
                    format!("{header} is empty"),
                );
                return None;
            }
            None => {
                let mut ok = true;
                let building_header = self.columns.header(RosterColumn::Building);
                let flat_header = self.columns.header(RosterColumn::Flat);
                if building.is_empty() {
                    self.fail(
                        RosterColumn::Building,
                        "",
                        "building_blank",
                        format!("{building_header} 为空；请填写，或在 {flat_header} 中写完整地址，如 17号楼3单元702"),
                        format!(
                            "{building_header} is empty; fill it in, or write the whole address in {flat_header} like 17号楼3单元702"
                        ),
                    );
                    ok = false;
                } else if !is_label(&building) {
                    self.fail(
                        RosterColumn::Building,
                        &building_cell,
                        "bad_building",
                        format!("{building_cell:?} 不是楼号；请写成 17号楼、17栋 或 17"),
                        format!(
                            "{building_cell:?} is not a building number; write it like 17号楼, 17栋 or 17"
                        ),
                    );
                    ok = false;
                }
                if !unit.is_empty() && !is_label(&unit) {
                    self.fail(
                        RosterColumn::Unit,
                        &unit_cell,
                        "bad_unit",
                        format!("{unit_cell:?} 不是单元号；请写成 3单元 或 3"),
                        format!("{unit_cell:?} is not a unit number; write it like 3单元 or 3"),
                    );
                    ok = false;
                }
                if !ok {
                    return None;
                }
                flat_label
            }
        };
        let floor = self.floor(&flat)?;
        Some(Address { estate, building, unit, floor, flat })
    }

    fn floor(&mut self, flat: &str) -> Option<i32> {
        let cell = self.text(RosterColumn::Floor).to_owned();
        let floor_header = self.columns.header(RosterColumn::Floor);
        if cell.is_empty() {
            let flat_header = self.columns.header(RosterColumn::Flat);
            let floor = floor_of_flat(flat);
            match floor {
                Some(floor) if FLOORS.contains(&floor) => {}
                Some(floor) => {
                    // Checked as a typed 楼层 is: 房号 123456 is not on floor 1234.
                    let (low, high) = (FLOORS.start(), FLOORS.end());
                    self.fail(
                        RosterColumn::Flat,
                        flat,
                        "floor_out_of_range",
                        format!(
                            "从 {flat_header} {flat:?} 推出的楼层 {floor} 不在 {low} 到 {high} 层之间；请核对房号，或填写 {floor_header}"
                        ),
                        format!(
                            "the floor worked out from {flat_header} {flat:?}, {floor}, is not between {low} and {high}; \
                             check the flat, or fill in {floor_header}"
                        ),
                    );
                    return None;
                }
                None => self.fail(
                    RosterColumn::Floor,
                    "",
                    "floor_unknown",
                    format!("无法从 {flat_header} {flat:?} 推出楼层；请填写 {floor_header}"),
                    format!(
                        "the floor cannot be worked out from {flat_header} {flat:?}; fill in {floor_header}"
                    ),
                ),
            }
            return floor;
        }
        let text = normalize_width(&cell);
        let text = ["层", "楼", "F", "f"].iter().find_map(|s| text.strip_suffix(s)).unwrap_or(&text);
        // "1.0": a floor kept as a number (it was refused as not a floor number).
        let text = without_zero_fraction(text);
        let floor = match text.strip_prefix(['B', 'b']) {
            Some(basement) => basement.parse::<i32>().ok().filter(|n| *n > 0).map(|n| -n),
            None => text.parse::<i32>().ok(),
        };
        match floor {
            Some(floor) if FLOORS.contains(&floor) => Some(floor),
            Some(_) => {
                let (low, high) = (FLOORS.start(), FLOORS.end());
                self.fail(
                    RosterColumn::Floor,
                    &cell,
                    "floor_out_of_range",
                    format!("{cell:?} 不在 {low} 到 {high} 层之间"),
                    format!("{cell:?} is not a floor between {low} and {high}"),
                );
                None
            }
            None => {
                self.fail(
                    RosterColumn::Floor,
                    &cell,
                    "bad_floor",
                    format!("{cell:?} 不是楼层数字"),
                    format!("{cell:?} is not a floor number"),
                );
                None
            }
        }
    }

    /// 户内人数: a blank cell is unknown (未填), imported as such with a warning to fill it in;
    /// never a made-up number.
    fn people(&mut self) -> Option<Option<u32>> {
        let people = self.count(RosterColumn::People)?;
        // A file without the column says nothing about any row, so only a blank cell is named.
        if people.is_none() && self.columns.index.contains_key(&RosterColumn::People) {
            let header = self.columns.header(RosterColumn::People);
            self.warn(
                RosterColumn::People,
                "",
                "people_blank",
                format!("{header} 为空，已按“未填”导入，请补填"),
                format!("{header} is empty; imported as unknown (未填), please fill it in"),
            );
        }
        Some(people)
    }

    /// A count cell: `Some(None)` when blank, `None` (with an error) when unreadable.
    fn count(&mut self, column: RosterColumn) -> Option<Option<u32>> {
        let cell = self.text(column).to_owned();
        if cell.is_empty() {
            return Some(None);
        }
        let text = normalize_width(&cell);
        let text = text.strip_suffix('人').unwrap_or(&text);
        // Excel sometimes writes whole numbers as "2.0".
        let text = without_zero_fraction(text);
        let (code, zh, en) = if text
            .strip_prefix('-')
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
        {
            ("negative_count", format!("{cell:?} 是负数"), format!("{cell:?} is negative"))
        } else {
            match text.parse::<u32>() {
                Ok(n) if n <= MAX_PEOPLE => return Some(Some(n)),
                Ok(_) => (
                    "count_too_large",
                    format!("{cell:?} 大于 {MAX_PEOPLE}；请检查这一列"),
                    format!("{cell:?} is more than {MAX_PEOPLE}; check the column"),
                ),
                Err(_) => {
                    ("not_a_number", format!("{cell:?} 不是整数"), format!("{cell:?} is not a whole number"))
                }
            }
        };
        self.fail(column, &cell, code, zh, en);
        None
    }

    /// 联系电话, normalised so that searching the digits finds it; a blank or implausible
    /// number is imported as it is, with a warning.
    fn phone(&mut self) -> Option<String> {
        let cell = self.cell(RosterColumn::Phone).into_owned();
        let header = self.columns.header(RosterColumn::Phone);
        match check_phone(&cell) {
            PhoneCheck::Blank if !self.columns.index.contains_key(&RosterColumn::Phone) => {
                Some(String::new())
            }
            PhoneCheck::Blank => {
                self.warn(
                    RosterColumn::Phone,
                    "",
                    "phone_blank",
                    format!("{header} 为空，请补填，志愿者联系不上会白跑一趟"),
                    format!("{header} is empty; fill it in, so volunteers can call ahead"),
                );
                Some(String::new())
            }
            PhoneCheck::Rounded => {
                self.fail(
                    RosterColumn::Phone,
                    &cell,
                    "phone_rounded",
                    format!(
                        "{cell:?} 是被 Excel 变成科学计数法的电话号码，后几位已丢失；请把 {header} 列设为文本（设置单元格格式 → 文本），重新输入号码后再导出"
                    ),
                    format!(
                        "{cell:?} is a phone number Excel turned into a rounded number, so its last digits are lost; \
                         format the {header} column as text (设置单元格格式 → 文本), re-enter the numbers and export again"
                    ),
                );
                None
            }
            PhoneCheck::Plausible(phone) => Some(phone),
            PhoneCheck::Implausible(phone) => {
                self.warn(
                    RosterColumn::Phone,
                    &cell,
                    "phone_implausible",
                    format!("{cell:?} 不像手机号（1 开头的 11 位）或带区号的座机号，已照原样导入，请核对"),
                    format!(
                        "{cell:?} does not look like a mobile number (11 digits starting with 1) or a landline with its area code; imported as written, please check it"
                    ),
                );
                Some(phone)
            }
        }
    }

    fn needs(&mut self) -> Option<BTreeSet<NeedTag>> {
        let cell = self.text(RosterColumn::Needs).to_owned();
        if RosterColumn::Needs.is_blank(&cell) {
            return Some(BTreeSet::new());
        }
        let mut needs = BTreeSet::new();
        let mut ok = true;
        for piece in cell.split(NEED_SEPARATORS).map(str::trim).filter(|p| !p.is_empty()) {
            // English labels contain spaces ("Deaf or mute"); otherwise spaces separate tags too.
            let tags: Vec<&str> = match need_tag(piece) {
                Ok(need) => {
                    needs.insert(need);
                    continue;
                }
                Err(_) => piece.split_whitespace().collect(),
            };
            for tag in tags {
                match need_tag(tag) {
                    Ok(need) => {
                        needs.insert(need);
                    }
                    Err(e) => {
                        let expected: Vec<&str> = NeedTag::ALL.iter().map(|n| n.label_zh()).collect();
                        let zh = format!("{tag:?} 不是可用的重点人群；可选：{}", expected.join("、"));
                        self.fail(RosterColumn::Needs, tag, "bad_need", zh, e.to_string());
                        ok = false;
                    }
                }
            }
        }
        ok.then_some(needs)
    }

    fn status(&mut self) -> Option<ControlStatus> {
        let cell = self.text(RosterColumn::Status).to_owned();
        if RosterColumn::Status.is_blank(&cell) {
            return Some(ControlStatus::default());
        }
        // No control at all: 正常, written ("无管控" too).
        if ["无", "none", "无管控"].iter().any(|none| cell.trim().eq_ignore_ascii_case(none)) {
            return Some(ControlStatus::Normal);
        }
        match cell.parse() {
            Ok(status) => Some(status),
            Err(e) => {
                let expected: Vec<&str> = ControlStatus::ALL.iter().map(|s| s.label_zh()).collect();
                let zh = format!("{cell:?} 不是可用的管控状态；可选：{}", expected.join("、"));
                self.fail(RosterColumn::Status, &cell, "bad_status", zh, e.to_string());
                None
            }
        }
    }

    fn lift(&mut self) -> Option<bool> {
        let cell = self.text(RosterColumn::Lift).to_owned();
        if RosterColumn::Lift.is_blank(&cell) {
            return Some(false);
        }
        match normalize_width(&cell).to_lowercase().as_str() {
            "无" | "否" | "没有" | "无电梯" | "no" | "n" | "false" | "0" | "×" | "✗" => Some(false),
            "有" | "是" | "有电梯" | "yes" | "y" | "true" | "1" | "√" | "✓" => Some(true),
            _ => {
                self.fail(
                    RosterColumn::Lift,
                    &cell,
                    "bad_lift",
                    format!("{cell:?} 不是 有 或 无（也可写 是/否、yes/no、y/n、true/false、1/0）"),
                    format!("{cell:?} is not 有 or 无 (also accepted: 是/否, yes/no, y/n, true/false, 1/0)"),
                );
                None
            }
        }
    }
}

/// [`BadAddress::reason`](crate::schema::address::BadAddress) in Chinese.
fn address_reason_zh(reason: &str) -> &'static str {
    match reason {
        "it is empty" => "地址为空",
        "no building number" => "没有楼号",
        "a dashed address needs building-unit-flat" => "用短横线的地址要写成 楼号-单元-房号",
        "no building (号楼 or 栋)" => "没有楼号（号楼 或 栋）",
        "no building number before 号楼/栋" => "号楼/栋 前没有楼号",
        "the unit is not a number" => "单元号不是数字",
        "no flat number after the building and unit" => "楼号和单元后面没有房号",
        _ => "格式无法识别",
    }
}

/// What may separate need tags in one cell ("独居老人、聋哑", "独居老人,聋哑", "独居老人/聋哑"), besides
/// spaces.
const NEED_SEPARATORS: &[char] = &['、', ',', '，', ';', '；', '/', '|'];

/// A need tag as ledgers write it: the tag's own label (see [`NeedTag`]), a word ledgers use for
/// it (孕妇 for 孕产妇, 残疾 for 残疾人, 孤寡老人 and 空巢老人 for 独居老人), or either with a remark
/// in brackets after it ("独居老人(85岁)"), which is left out.
fn need_tag(written: &str) -> Result<NeedTag, crate::schema::labelled_enum::UnknownValue> {
    const WORDS: [(&str, NeedTag); 6] = [
        ("孕妇", NeedTag::Pregnant),
        ("产妇", NeedTag::Pregnant),
        ("残疾", NeedTag::Disabled),
        ("残障", NeedTag::Disabled),
        ("孤寡老人", NeedTag::ElderlyAlone),
        ("空巢老人", NeedTag::ElderlyAlone),
    ];
    let bare = written.split(['(', '（']).next().unwrap_or(written).trim();
    let bare = if bare.is_empty() { written } else { bare };
    bare.parse::<NeedTag>()
        .or_else(|e| WORDS.iter().find(|(word, _)| *word == bare).map(|(_, tag)| *tag).ok_or(e))
}

fn sniff_delimiter(text: &str) -> u8 {
    let first_line = text.lines().find(|line| !line.trim().is_empty()).unwrap_or("");
    let count = |c: char| first_line.matches(c).count();
    if count('\t') > count(',') { b'\t' } else { b',' }
}

/// The number of fields most non-blank records of `text` after the first `skip` have, the
/// smaller on a tie.
fn common_width(text: &str, delimiter: u8, skip: usize) -> usize {
    let reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(text.as_bytes());
    let mut widths: HashMap<usize, usize> = HashMap::new();
    for record in reader.into_records().flatten().filter(|record| !is_blank(record)).skip(skip) {
        *widths.entry(record.len()).or_default() += 1;
    }
    widths
        .into_iter()
        .max_by_key(|&(width, count)| (count, std::cmp::Reverse(width)))
        .map_or(0, |(width, _)| width)
}

fn is_blank(record: &StringRecord) -> bool {
    record.iter().all(|field| field.trim().is_empty())
}

/// Turns the byte offsets the CSV reader reports into physical line numbers.
///
/// The reader's own `Position::line` (csv 1.4) counts from the end of the previous record: it
/// ignores skipped blank lines and the `\n` of a `\r\n`, so it drifts on Excel's CRLF output.
/// Its byte offset has the same origin, so we skip the line breaks from there to where the
/// record really starts and count the line breaks before it ([`line_breaks`]), resuming from the
/// last record.
#[derive(Debug)]
struct LineCounter<'a> {
    text: &'a str,
    offset: usize,
    line: usize,
}

impl LineCounter<'_> {
    fn line_at(&mut self, byte: u64) -> usize {
        let bytes = self.text.as_bytes();
        let mut start = usize::try_from(byte).unwrap_or(usize::MAX).min(bytes.len());
        while bytes.get(start).is_some_and(|b| matches!(b, b'\r' | b'\n')) {
            start += 1;
        }
        if start >= self.offset {
            self.line += line_breaks(&bytes[self.offset..start]);
        } else {
            self.line = 1 + line_breaks(&bytes[..start]);
        }
        self.offset = start;
        self.line
    }
}

/// How many line breaks `bytes` holds, as the CSV reader ends records: `\n`, `\r\n` (once) and a
/// lone `\r` (an old Mac's line end: counting only `\n` put every row of such a file on line 1).
pub fn line_breaks(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n')))
        .count()
}

fn shorten(value: &str) -> String {
    if value.chars().count() <= SHOWN_CHARS {
        value.to_owned()
    } else {
        value.chars().take(SHOWN_CHARS).chain(['…']).collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeMap;
    use std::fmt::Write as _;

    use super::*;

    const BEILIN: &[u8] = include_bytes!("../../../data/beilin-roster.csv");
    const XIANGZHANGYUAN: &[u8] = include_bytes!("../../../data/xiangzhangyuan-roster.csv");
    const HEADER: &str = "小区,楼号,单元,楼层,房号,户主,联系电话,户内人数,60岁以上人数,6岁以下儿童,重点人群,管控状态,有无电梯,备注";

    /// One line per household and per row error, in file order.
    fn render(preview: &RosterPreview) -> String {
        let mut out = String::new();
        for ImportedRow { line, draft: d, .. } in &preview.households {
            let needs: Vec<&str> = d.needs.iter().map(|n| n.as_str()).collect();
            writeln!(
                out,
                "{line}: {} f{} {} {} {}/{}/{} [{}] {} lift={} {:?}",
                d.address,
                d.address.floor,
                d.head,
                d.phone,
                d.people.map_or_else(|| "?".to_owned(), |p| p.to_string()),
                d.aged_60_plus,
                d.children_under_6,
                needs.join(" "),
                d.status,
                d.lift,
                d.notes
            )
            .unwrap();
        }
        for error in &preview.errors {
            writeln!(out, "{error}").unwrap();
        }
        if preview.omitted_errors > 0 {
            writeln!(out, "and {} more errors", preview.omitted_errors).unwrap();
        }
        out
    }

    /// Reads `input` and compares the rendered preview with `expect` (indentation ignored).
    fn check(input: &str, expect: &str) {
        let preview = read_roster_csv(input.as_bytes()).unwrap();
        let expect: String =
            expect.lines().map(str::trim).filter(|l| !l.is_empty()).map(|l| format!("{l}\n")).collect();
        assert_eq!(render(&preview), expect, "reading:\n{input}");
    }

    /// Reads the template header plus `rows`; the first row is line 2.
    fn check_rows(rows: &str, expect: &str) {
        check(&format!("{HEADER}\n{rows}"), expect);
    }

    fn fails(input: &[u8]) -> ImportError {
        read_roster_csv(input).unwrap_err()
    }

    fn status_counts(preview: &RosterPreview) -> BTreeMap<&'static str, usize> {
        let mut counts = BTreeMap::new();
        for row in &preview.households {
            *counts.entry(row.draft.status.label_zh()).or_default() += 1;
        }
        counts
    }

    #[test]
    fn beilin_imports_completely() {
        let preview = read_roster_csv(BEILIN).unwrap();
        assert_eq!(render(&RosterPreview { households: vec![], ..preview.clone() }), "");
        assert!(preview.is_clean());
        assert!(preview.ignored_columns.is_empty());
        assert_eq!(preview.households.len(), 857);
        assert_eq!(preview.estates(), ["人和花园北院", "北林小区", "牧专社区第二家属区"]);
        let counts = status_counts(&preview);
        let expect = [("正常", 757), ("居家监测", 23), ("集中隔离", 14), ("居家隔离", 59), ("确诊", 4)];
        assert_eq!(counts, BTreeMap::from(expect));
        assert_eq!(preview.households.iter().filter_map(|r| r.draft.people).sum::<u32>(), 2122);
        assert!(preview.households.iter().all(|r| r.draft.people.is_some()), "every count is filled in");
        assert_eq!(preview.households.iter().map(|r| r.draft.aged_60_plus).sum::<u32>(), 240);
        assert_eq!(preview.households.iter().filter(|r| !r.draft.needs.is_empty()).count(), 62);

        let row = |line: usize| {
            let row = preview.households.iter().find(|r| r.line == line).unwrap();
            render(&RosterPreview { households: vec![row.clone()], ..RosterPreview::default() })
        };
        assert_eq!(
            row(2),
            "2: 人和花园北院 1号楼1单元102 f1 谢燕杰 19908923609 2/0/0 [] normal lift=false \"\"\n"
        );
        assert_eq!(
            row(14),
            "14: 人和花园北院 1号楼1单元601 f6 鲍桂静 19999983588 1/1/0 [] normal lift=false \"高层无电梯,需送货上门\"\n"
        );
        assert_eq!(
            row(543),
            "543: 北林小区 3号楼2单元704 f7 商玉霞 19992576630 1/1/0 [elderly_alone deaf_mute] normal lift=true \"\"\n"
        );
        assert_eq!(
            row(556),
            "556: 北林小区 3号楼2单元1203 f12 艾军桂 19968914102 1/0/0 [] confirmed lift=true \"\"\n"
        );
        assert_eq!(
            row(858),
            "858: 牧专社区第二家属区 6号楼3单元602 f6 池秀 19966069468 6/0/1 [] normal lift=false \"\"\n"
        );
        let both = preview.households.iter().filter(|r| r.draft.needs.len() == 2).map(|r| r.line);
        assert_eq!(both.collect::<Vec<_>>(), [543]);
    }

    #[test]
    fn xiangzhangyuan_imports_completely() {
        let preview = read_roster_csv(XIANGZHANGYUAN).unwrap();
        assert_eq!(render(&RosterPreview { households: vec![], ..preview.clone() }), "");
        assert!(preview.is_clean());
        assert_eq!(preview.households.len(), 1040);
        assert_eq!(preview.estates(), ["香樟苑"]);
        let counts = status_counts(&preview);
        let expect = [("正常", 913), ("居家隔离", 70), ("集中隔离", 27), ("居家监测", 27), ("确诊", 3)];
        assert_eq!(counts, BTreeMap::from(expect));
        let deaf_alone = [NeedTag::ElderlyAlone, NeedTag::DeafMute].into_iter().collect::<BTreeSet<_>>();
        let lines = preview.households.iter().filter(|r| r.draft.needs == deaf_alone).map(|r| r.line);
        assert_eq!(lines.collect::<Vec<_>>(), [382, 428]);
        assert!(preview.households.iter().all(|r| !r.draft.lift && (1..=6).contains(&r.draft.address.floor)));
    }

    #[test]
    fn gb18030_and_utf16_exports_import_identically() {
        let utf8 = read_roster_csv(BEILIN).unwrap();
        let text = decode(BEILIN).unwrap();
        let (gb, _, had_errors) = encoding_rs::GB18030.encode(&text);
        assert!(!had_errors);
        assert!(std::str::from_utf8(&gb).is_err(), "the test file must not also be valid UTF-8");
        assert_eq!(read_roster_csv(&gb).unwrap(), utf8);

        // Excel's "Unicode text": UTF-16 LE with a byte-order mark, tab-separated.
        let tabbed = "小区\t楼号\t单元\t房号\t户主\r\n北林小区\t1号楼\t1单元\t102\t谢燕杰\r\n";
        let mut utf16 = vec![0xFF, 0xFE];
        utf16.extend(tabbed.encode_utf16().flat_map(u16::to_le_bytes));
        let preview = read_roster_csv(&utf16).unwrap();
        assert_eq!(
            render(&preview),
            "2: 北林小区 1号楼1单元102 f1 谢燕杰  ?/0/0 [] normal lift=false \"\"\n"
        );
    }

    #[test]
    fn only_building_flat_and_head_are_required() {
        check(
            "楼号,房号,户主\n17,702,张三\n17号楼,1102室,李四\nA座,B12,王五\n",
            r#"
            2: 17号楼702 f7 张三  ?/0/0 [] normal lift=false ""
            3: 17号楼1102 f11 李四  ?/0/0 [] normal lift=false ""
            line 4, column 楼层: the floor cannot be worked out from 房号 "B12"; fill in 楼层
            "#,
        );
    }

    #[test]
    fn headers_match_by_name_in_any_order_and_language() {
        check(
            " flat ,HEAD,building,people,status,lift,needs,estate,unit,floor,phone,aged_60_plus,children_under_6,notes,身份证号\n\
             702,张三,17,3,Home quarantine,yes,elderly_alone,香樟苑,3,7,13800000000,1,0,note,410xxx\n\
             801,李四,17,三,home_quarantine,no,,香樟苑,3,8,,0,0,,\n",
            r#"
            2: 香樟苑 17号楼3单元702 f7 张三 13800000000 3/1/0 [elderly_alone] home_quarantine lift=true "note"
            line 3, column people: "三" is not a whole number
            "#,
        );
        let preview = read_roster_csv("户主,房号,楼号,身份证号, 序号 \n张三,702,17,,1\n".as_bytes()).unwrap();
        assert_eq!(preview.ignored_columns, ["身份证号", "序号"]);
        assert!(preview.is_clean());
    }

    #[test]
    fn whole_addresses_are_read_from_the_flat_column() {
        check(
            "小区,楼号,单元,房号,户主\n\
             ,,,17号楼3单元702,甲\n\
             ,,,17栋3单元802室,乙\n\
             ,,,17-3-902,丙\n\
             ,,,１７－３－１００２,丁\n\
             ,,,北林小区1号楼1单元102,戊\n\
             北林小区,1号楼,1单元,北林小区1号楼1单元202,己\n\
             ,17号楼3单元1102,,,庚\n\
             ,,,17-1202,辛\n",
            // The rows without a 小区 take the file's only one (`fill_blank_estates`).
            r#"
            2: 北林小区 17号楼3单元702 f7 甲  ?/0/0 [] normal lift=false ""
            3: 北林小区 17号楼3单元802 f8 乙  ?/0/0 [] normal lift=false ""
            4: 北林小区 17号楼3单元902 f9 丙  ?/0/0 [] normal lift=false ""
            5: 北林小区 17号楼3单元1002 f10 丁  ?/0/0 [] normal lift=false ""
            6: 北林小区 1号楼1单元102 f1 戊  ?/0/0 [] normal lift=false ""
            7: 北林小区 1号楼1单元202 f2 己  ?/0/0 [] normal lift=false ""
            8: 北林小区 17号楼3单元1102 f11 庚  ?/0/0 [] normal lift=false ""
            9: 北林小区 17号楼1202 f12 辛  ?/0/0 [] normal lift=false ""
            "#,
        );
    }

    #[test]
    fn bad_addresses_are_row_errors() {
        check(
            "小区,楼号,单元,房号,户主\n\
             ,,,17号楼3单元,甲\n\
             ,,,702,乙\n\
             ,17,,,丙\n\
             ,17号楼3单元,,702,丁\n\
             ,17,3-1,702,戊\n\
             ,17,2,17-3-702,己\n\
             南院,,,北院1号楼1单元102,庚\n\
             ,17,,七零二,辛\n",
            r#"
            line 2, column 房号: cannot read address "17号楼3单元": no flat number after the building and unit; write it like 17号楼3单元702, 17栋3单元702室 or 17-3-702
            line 3, column 楼号: 楼号 is empty; fill it in, or write the whole address in 房号 like 17号楼3单元702
            line 4, column 房号: 房号 is empty
            line 5, column 楼号: "17号楼3单元" is not a building number; write it like 17号楼, 17栋 or 17
            line 6, column 单元: "3-1" is not a unit number; write it like 3单元 or 3
            line 7, column 单元: "2" does not match 房号 "17-3-702", which says "3"
            line 8, column 小区: "南院" does not match 房号 "北院1号楼1单元102", which says "北院"
            line 9, column 房号: cannot read address "七零二": no building (号楼 or 栋); write it like 17号楼3单元702, 17栋3单元702室 or 17-3-702
            "#,
        );
    }

    #[test]
    fn counts_are_whole_numbers() {
        check_rows(
            "北林小区,1号楼,1单元,1,101,甲,,三,0,0,,,,\n\
             北林小区,1号楼,1单元,1,102,乙,,-1,0,0,,,,\n\
             北林小区,1号楼,1单元,1,103,丙,,101,0,0,,,,\n\
             北林小区,1号楼,1单元,1,104,丁,,2,3,0,,,,\n\
             北林小区,1号楼,1单元,1,105,戊,,2,0,1.5,,,,\n\
             北林小区,1号楼,1单元,2,201,己,,３,2.0,1人,,,,\n\
             北林小区,1号楼,1单元,2,202,庚,,,,,,,,\n\
             北林小区,1号楼,1单元,2,203,辛,,0,0,0,,,,\n",
            r#"
            7: 北林小区 1号楼1单元201 f2 己  3/2/1 [] normal lift=false ""
            8: 北林小区 1号楼1单元202 f2 庚  ?/0/0 [] normal lift=false ""
            9: 北林小区 1号楼1单元203 f2 辛  0/0/0 [] normal lift=false ""
            line 2, column 户内人数: "三" is not a whole number
            line 3, column 户内人数: "-1" is negative
            line 4, column 户内人数: "101" is more than 100; check the column
            line 5, column 60岁以上人数: 60岁以上人数 is 3, more than 户内人数 (2); check both cells
            line 6, column 6岁以下儿童: "1.5" is not a whole number
            "#,
        );
    }

    #[test]
    fn vocabularies_accept_chinese_english_and_wire_names() {
        check_rows(
            "北林小区,1号楼,1单元,1,101,甲,,1,1,0,\"独居老人,聋哑\",确诊,是,\n\
             北林小区,1号楼,1单元,1,102,乙,,1,1,0,独居老人；透析 / 化疗,central_quarantine,Y,\n\
             北林小区,1号楼,1单元,1,103,丙,,1,0,0,无,Home monitoring,1,\n\
             北林小区,1号楼,1单元,1,104,丁,,1,0,0,Deaf or mute、pregnant,,TRUE,\n\
             北林小区,1号楼,1单元,1,105,戊,,1,0,0,独居老人、瞎子,阳性,maybe,\n",
            r#"
            2: 北林小区 1号楼1单元101 f1 甲  1/1/0 [elderly_alone deaf_mute] confirmed lift=true ""
            3: 北林小区 1号楼1单元102 f1 乙  1/1/0 [elderly_alone dialysis chemotherapy] central_quarantine lift=true ""
            4: 北林小区 1号楼1单元103 f1 丙  1/0/0 [] home_monitoring lift=true ""
            5: 北林小区 1号楼1单元104 f1 丁  1/0/0 [pregnant deaf_mute] normal lift=true ""
            line 6, column 重点人群: "瞎子" is not a valid need tag; expected one of: elderly_alone (独居老人), pregnant (孕产妇), dialysis (透析), chemotherapy (化疗), chronic_illness (慢性病), disabled (残疾人), mobility_impaired (行动不便), deaf_mute (聋哑)
            line 6, column 管控状态: "阳性" is not a valid control status; expected one of: normal (正常), home_monitoring (居家监测), home_quarantine (居家隔离), central_quarantine (集中隔离), confirmed (确诊)
            line 6, column 有无电梯: "maybe" is not 有 or 无 (also accepted: 是/否, yes/no, y/n, true/false, 1/0)
            "#,
        );
    }

    #[test]
    fn floors_heads_and_phones() {
        check_rows(
            "北林小区,1号楼,1单元,7层,702,甲,１３８ ０００ ００００,1,0,0,,,,\n\
             北林小区,1号楼,1单元,B1,B01,乙,19908923609.0,1,0,0,,,,\n\
             北林小区,1号楼,1单元,,1802,丙,\"0371-1234567, 13800000000\",1,0,0,,,,\n\
             北林小区,1号楼,1单元,七,703,丁,,1,0,0,,,,\n\
             北林小区,1号楼,1单元,702,704,戊,,1,0,0,,,,\n\
             北林小区,1号楼,1单元,7,705, ,,1,0,0,,,,\n\
             北林小区,1号楼,1单元,7,706,己,1.99089E+10,1,0,0,,,,\n",
            r#"
            2: 北林小区 1号楼1单元702 f7 甲 138 000 0000 1/0/0 [] normal lift=false ""
            3: 北林小区 1号楼1单元B01 f-1 乙 19908923609 1/0/0 [] normal lift=false ""
            4: 北林小区 1号楼1单元1802 f18 丙 03711234567, 13800000000 1/0/0 [] normal lift=false ""
            line 5, column 楼层: "七" is not a floor number
            line 6, column 楼层: "702" is not a floor between -9 and 200
            line 7, column 户主: 户主 is empty
            line 8, column 联系电话: "1.99089E+10" is a phone number Excel turned into a rounded number, so its last digits are lost; format the 联系电话 column as text (设置单元格格式 → 文本), re-enter the numbers and export again
            "#,
        );
    }

    /// 房号 123456 was read as floor 1234: a floor worked out from the flat is held to the
    /// range a typed 楼层 is.
    #[test]
    fn a_floor_worked_out_from_the_flat_is_range_checked() {
        check_rows(
            "北林小区,1号楼,1单元,,123456,甲,,1,0,0,,,,\n北林小区,1号楼,1单元,,20001,乙,,1,0,0,,,,\n",
            r#"
            3: 北林小区 1号楼1单元20001 f200 乙  1/0/0 [] normal lift=false ""
            line 2, column 房号: the floor worked out from 房号 "123456", 1234, is not between -9 and 200; check the flat, or fill in 楼层
            "#,
        );
    }

    /// A two-row header (人口情况 merged over 户内人数, 60岁以上人数 and 6岁以下儿童 in the row
    /// below) lost the counts: the second row was read as a bad household row and the counts as
    /// columns of no name. Both ways a sheet saves it: the merged cells above repeated down (as
    /// the workbook reader fills them), or left empty (a CSV).
    #[test]
    fn a_second_header_row_under_a_merged_heading_names_its_columns() {
        let first = "小区,楼号,单元,楼层,房号,户主,联系电话,人口情况,,,重点人群,管控状态";
        for second in [
            "小区,楼号,单元,楼层,房号,户主,联系电话,户内人数,60岁以上人数,6岁以下儿童,重点人群,管控状态",
            ",,,,,,,户内人数,60岁以上人数,6岁以下儿童,,",
        ] {
            let csv = format!("{first}\n{second}\n香樟苑,1号楼,1单元,1,101,管建强,19901919478,2,1,0,,正常\n");
            let preview = read_roster_csv(csv.as_bytes()).unwrap();
            assert!(preview.is_clean(), "{:?}", preview.errors);
            let row = &preview.households[0];
            assert_eq!((row.line, row.draft.people, row.draft.aged_60_plus), (3, Some(2), 1));
            assert!(
                row.stated.contains(RosterColumn::Aged60Plus)
                    && preview.columns.contains(RosterColumn::People)
            );
            assert!(preview.ignored_columns.is_empty(), "{:?}", preview.ignored_columns);
        }
    }

    /// 栋 and 姓名 name 楼号 and 户主; a 联系电话 and a 手机号码 column (a landline and a mobile)
    /// are read into the one phone field as two numbers in one cell are, where the file was
    /// refused for naming 联系电话 twice. 姓名 beside 户主 is each resident's name (a per-person
    /// ledger), not the head, and is not read.
    #[test]
    fn common_header_synonyms_and_two_phone_columns() {
        check(
            "栋,门牌号,姓名,联系电话,手机号码\n1号楼,101,张三,0371-61234567,13800000000\n1号楼,102,李四,,13800000001\n",
            r#"
            2: 1号楼101 f1 张三 037161234567, 13800000000 ?/0/0 [] normal lift=false ""
            3: 1号楼102 f1 李四 13800000001 ?/0/0 [] normal lift=false ""
            "#,
        );
        let preview = read_roster_csv("楼号,房号,户主,姓名\n1,101,张三,李梅\n".as_bytes()).unwrap();
        assert_eq!(preview.households[0].draft.head, "张三");
        assert_eq!(preview.ignored_columns, ["姓名"]);
    }

    #[test]
    fn duplicate_addresses_name_the_first_line() {
        check_rows(
            "北林小区,1号楼,1单元,1,101,甲,,1,0,0,,,,\n\
             北林小区,1号楼,1单元,1,102,乙,,三,0,0,,,,\n\
             北林小区,1号楼,2单元,1,101,丙,,1,0,0,,,,\n\
             北林小区,１号楼,1单元,1,101室,丁,,1,0,0,,,,\n\
             北林小区,1,1,1,102,戊,,1,0,0,,,,\n",
            r#"
            4: 北林小区 1号楼2单元101 f1 丙  1/0/0 [] normal lift=false ""
            line 2, column 房号: 北林小区 1号楼1单元101 appears again on line 5 with different details; neither row is imported, so keep the right one and delete the other
            line 3, column 户内人数: "三" is not a whole number
            line 5, column 房号: 北林小区 1号楼1单元101 is a duplicate of line 2 with different details; each flat may appear once, so keep the right row (neither is imported)
            line 6, column 房号: 北林小区 1号楼1单元102 is a duplicate of line 3 with different details; each flat may appear once, so keep the right row (neither is imported)
            "#,
        );
    }

    /// The warnings, one per line, Chinese then English.
    fn warnings(preview: &RosterPreview) -> Vec<String> {
        preview.warnings.iter().map(|w| format!("{} {}", w.code, w.bilingual())).collect()
    }

    #[test]
    fn a_blank_people_count_is_unknown_with_a_warning_never_one() {
        let preview = read_roster_csv(
            format!(
                "{HEADER}\n\
                 北林小区,1号楼,1单元,1,101,甲,13800000001,,2,0,,,,\n\
                 北林小区,1号楼,1单元,1,102,乙,13800000002,1,2,0,,,,\n"
            )
            .as_bytes(),
        )
        .unwrap();
        // The blank count is imported as unknown, and 60岁以上 = 2 is not compared with a number
        // nobody wrote; the household is not lost.
        assert_eq!(preview.households.len(), 1);
        assert_eq!(preview.households[0].draft.people, None);
        assert_eq!(preview.households[0].draft.aged_60_plus, 2);
        assert_eq!(
            warnings(&preview),
            [
                "people_blank 第 2 行，户内人数：户内人数 为空，已按“未填”导入，请补填 / line 2, column 户内人数: 户内人数 is \
              empty; imported as unknown (未填), please fill it in"
            ]
        );
        // When the count is written, the comparison names both real cells.
        assert_eq!(
            preview.errors[0].bilingual(),
            "第 3 行，60岁以上人数：60岁以上人数 为 2，多于 户内人数 1；请核对这两格 / line 3, column 60岁以上人数: \
             60岁以上人数 is 2, more than 户内人数 (1); check both cells"
        );
        assert_eq!(preview.errors[0].code, "count_exceeds_people");
    }

    #[test]
    fn phones_are_normalised_and_blank_or_implausible_ones_are_warnings() {
        let preview = read_roster_csv(
            format!(
                "{HEADER}\n\
                 北林小区,1号楼,1单元,1,101,甲,199 9973 6261,1,0,0,,,,\n\
                 北林小区,1号楼,1单元,1,102,乙,+86 138-0000-0000,1,0,0,,,,\n\
                 北林小区,1号楼,1单元,1,103,丙,,1,0,0,,,,\n\
                 北林小区,1号楼,1单元,1,104,丁,12345,1,0,0,,,,\n"
            )
            .as_bytes(),
        )
        .unwrap();
        assert!(preview.is_clean(), "warnings do not block: {:?}", preview.errors);
        let phones: Vec<&str> = preview.households.iter().map(|r| r.draft.phone.as_str()).collect();
        assert_eq!(phones, ["19999736261", "13800000000", "", "12345"]);
        let codes: Vec<(usize, &str)> = preview.warnings.iter().map(|w| (w.line, w.code)).collect();
        assert_eq!(codes, [(4, "phone_blank"), (5, "phone_implausible")]);
        assert!(preview.warnings[1].reason_zh.contains("不像手机号"), "{:?}", preview.warnings[1]);
    }

    #[test]
    fn identical_rows_are_dropped_with_a_warning_naming_the_first() {
        let preview = read_roster_csv(
            "序号,楼号,房号,户主,联系电话,户内人数\n\
             1,1,101,甲,13800000001,2\n\
             2,1,102,乙,13800000002,3\n\
             3,1,101,甲,13800000001,2\n\
             4,1,102,丙,13800000003,3\n"
                .as_bytes(),
        )
        .unwrap();
        let heads: Vec<&str> = preview.households.iter().map(|r| r.draft.head.as_str()).collect();
        assert_eq!(heads, ["甲"], "the identical row is not imported twice; 乙 and 丙 at one flat neither");
        assert_eq!(
            warnings(&preview),
            [
                "duplicate_row 第 4 行：与第 2 行完全相同，可以删除（未重复导入） / line 4: identical to line 2, safe to drop (not \
              imported twice)"
            ]
        );
        assert_eq!(preview.errors.len(), 2, "both rows of the flat, neither imported");
        assert_eq!((preview.errors[0].line, preview.errors[0].code), (3, "duplicate_flat"));
        assert_eq!(
            preview.errors[1].to_string(),
            "line 5, column 房号: 1号楼102 is a duplicate of line 3 with different details; each flat may appear once, so \
             keep the right row (neither is imported)"
        );
    }

    #[test]
    fn every_row_message_has_a_code_and_chinese() {
        let preview = read_roster_csv(
            format!(
                "{HEADER}\n\
                 北林小区,1号楼,1单元,七,101,,1.99089E+10,三,-1,100,瞎子,阳性,maybe,\n\
                 北林小区,,1单元,1,101,甲,,1,0,0,,,,\n\
                 北林小区,1号楼,3-1,1,101,甲,,1,0,0,,,,\n\
                 北林小区,1号楼,1单元,,B12,甲,,1,0,0,,,,\n\
                 北林小区,1号楼,1单元,900,102,甲,,1,0,0,,,,\n\
                 北林小区,1号楼,1单元,1,,甲,,1,0,0,,,,\n\
                 北林小区,1号楼,1单元,1,17号楼3单元,甲,,1,0,0,,,,\n\
                 北林小区,1\n"
            )
            .as_bytes(),
        )
        .unwrap();
        assert!(preview.errors.len() >= 14, "{:#?}", preview.errors);
        for error in &preview.errors {
            assert!(!error.code.is_empty());
            assert!(error.reason_zh.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)), "{error:?}");
            assert!(!error.reason.is_empty());
        }
    }

    #[test]
    fn line_numbers_count_blank_lines_titles_and_multiline_notes() {
        check(
            "北林社区疫情防控台账（2022年4月）,,,\r\n\
             \r\n\
             楼号,房号,户主,备注\r\n\
             1,101,甲,\"第一行\r\n第二行\"\r\n\
             ,,,\r\n\
             \r\n\
             1,102,乙,\r\n\
             1,103,,\r\n",
            r#"
            4: 1号楼101 f1 甲  ?/0/0 [] normal lift=false "第一行\r\n第二行"
            8: 1号楼102 f1 乙  ?/0/0 [] normal lift=false ""
            line 9, column 户主: 户主 is empty
            "#,
        );
    }

    /// A quote left open in a cell took the rows under it into that cell, and the import said
    /// nothing: flat 102 vanished into 101's head, two rows into 101's notes. Now the row is a
    /// bad row naming the cell, and every line it swallowed counts as left out; a note on two
    /// lines still imports.
    #[test]
    fn a_quote_left_open_is_a_bad_row_counting_the_lines_it_swallowed() {
        let row = |flat: u32, head: &str, notes: &str| {
            format!("香樟苑,81号楼,1单元,1,{flat},{head},13800138000,2,0,0,,正常,无,{notes}\n")
        };
        let midquote =
            format!("{HEADER}\n{}{}{}", row(101, "\"张三", ""), row(102, "李四\"", ""), row(103, "王五", ""));
        let preview = read_roster_csv(midquote.as_bytes()).unwrap();
        assert_eq!(preview.households.iter().map(|h| h.line).collect::<Vec<_>>(), [4]);
        assert_eq!(preview.bad_rows, 2);
        let error = &preview.errors[0];
        assert_eq!((error.line, error.column.as_deref(), error.code), (2, Some("户主"), "open_quote"));
        assert_eq!(
            error.to_string(),
            "line 2, column 户主: the cell contains a line break (it runs on to line 3); 户主 holds one \
             line — is a quote \" left open? Lines 2 to 3 (2 lines) were not imported; close or delete \
             the quote and import again"
        );
        assert!(error.reason_zh.contains("引号"), "{}", error.reason_zh);

        // Opened in 户主 and closed three rows down: four rows gone, four left out.
        let openq_head = format!(
            "{HEADER}\n{}{}{}{}{}",
            row(101, "\"张三", ""),
            row(102, "张三", ""),
            row(103, "张三", ""),
            row(104, "张三", "\"x\""),
            row(105, "张三", "")
        );
        let preview = read_roster_csv(openq_head.as_bytes()).unwrap();
        assert_eq!((preview.households.len(), preview.bad_rows, preview.errors.len()), (1, 4, 1));
        assert_eq!(preview.errors[0].code, "open_quote");

        // Opened in 备注, the last column, and never closed: the rows under it are in the note.
        let unbal = format!(
            "{HEADER}\n{}{}{}",
            row(101, "张三", "\"未闭合"),
            row(102, "李四", ""),
            row(103, "王五", "")
        );
        let preview = read_roster_csv(unbal.as_bytes()).unwrap();
        assert!(preview.households.is_empty());
        assert_eq!(preview.bad_rows, 3);
        let error = &preview.errors[0];
        assert_eq!((error.line, error.column.as_deref(), error.code), (2, Some("备注"), "open_quote"));
        assert!(
            error.reason.starts_with("the cell runs on to line 4, and a line of it reads like a row"),
            "{error}"
        );

        // A note on several lines, commas and all, is a note; so is one in a column not read.
        let honest = format!(
            "{HEADER},其他\n{}",
            row(101, "张三", "\"独居, 耳背\n敲门要大声, 等一会\n子女电话 139...\",\"a\nb\"")
        );
        let preview = read_roster_csv(honest.as_bytes()).unwrap();
        assert!(preview.is_clean(), "{:?}", preview.errors);
        assert_eq!(preview.households[0].draft.notes, "独居, 耳背\n敲门要大声, 等一会\n子女电话 139...");
    }

    #[test]
    fn rows_with_the_wrong_number_of_fields_are_reported() {
        check(
            "楼号,房号,户主,备注\n\
             1,101,甲\n\
             1,102,乙,高层无电梯,需送货上门\n\
             1,103,丙,,,\n\
             1,104,丁,ok\n",
            r#"
            5: 1号楼104 f1 丁  ?/0/0 [] normal lift=false "ok"
            line 2: the row has 3 fields but the header row has 4; check for a comma outside quotes or a missing field
            line 3: the row has 5 fields but the header row has 4; check for a comma outside quotes or a missing field
            line 4: the row has 6 fields, more than the header row (4) and the other rows: a comma outside quotes (1,000 in 户内人数, or 张三,李四 in 户主) moves every cell after it one column to the right; put that cell in quotes or delete the comma
            "#,
        );
        check(
            "楼号,房号,户主,,\n1,101,甲,,\n1,102,乙\n1,103,丙,,x\n",
            r#"
            2: 1号楼101 f1 甲  ?/0/0 [] normal lift=false ""
            3: 1号楼102 f1 乙  ?/0/0 [] normal lift=false ""
            line 4: the row has 5 fields but the header row has 3; check for a comma outside quotes or a missing field
            "#,
        );
        let preview = read_roster_csv("楼号,房号,户主\n1,101,甲\n1,102\n".as_bytes()).unwrap();
        assert_eq!(preview.errors[0].value, "1,102");
        assert_eq!(preview.errors[0].column, None);
    }

    /// An unquoted comma in a row whose last cells are blank moved every cell after it one
    /// column right and the row imported: 联系电话 was 李四. A row longer than the header row and
    /// the file's other rows is a bad row; empty fields every row has (Excel's trailing commas)
    /// are not.
    #[test]
    fn a_row_longer_than_the_others_has_a_comma_outside_quotes_but_trailing_commas_everywhere_are_excels() {
        let shift =
            "楼号,房号,户主,联系电话,备注\n76号楼,101,张三,李四,13800138000,\n76号楼,102,王五,13900139000,\n";
        let preview = read_roster_csv(shift.as_bytes()).unwrap();
        assert_eq!(preview.households.iter().map(|h| h.line).collect::<Vec<_>>(), [3]);
        let error = &preview.errors[0];
        assert_eq!((error.line, error.code, error.column.as_deref()), (2, "field_count", None));
        assert!(error.reason.contains("a comma outside quotes (1,000 in 户内人数"), "{error}");
        assert!(error.reason_zh.contains("引号外的逗号"), "{}", error.reason_zh);
        let people = "楼号,房号,户主,户内人数,备注\n1,101,张三,1,000,\n1,102,李四,2,\n1,103,王五,3,\n";
        let preview = read_roster_csv(people.as_bytes()).unwrap();
        assert_eq!((preview.households.len(), preview.errors[0].line), (2, 2));

        // Trailing commas in every row, the header's too or not, are the sheet's width.
        for trailing in [
            "楼号,房号,户主,备注,,,\n1,101,张三,,,,\n1,102,李四,独居,,,\n",
            "楼号,房号,户主,备注\n1,101,张三,,,,\n1,102,李四,独居,,,\n1,103,王五,,,,\n",
            "楼号,房号,户主,备注\n1,101,张三,,,,\n",
        ] {
            let preview = read_roster_csv(trailing.as_bytes()).unwrap();
            assert!(preview.is_clean() && !preview.households.is_empty(), "{trailing}: {:?}", preview.errors);
        }
    }

    #[test]
    fn three_good_rows_and_one_bad_row() {
        let preview = read_roster_csv(
            format!(
                "{HEADER}\n\
                 北林小区,1号楼,1单元,1,101,甲,13800000001,2,0,0,,正常,无,\n\
                 北林小区,1号楼,1单元,1,102,乙,13800000002,2,0,0,,居家隔离,无,\n\
                 北林小区,1号楼,1单元,1,103,丙,13800000003,2,0,0,,隔离中,无,\n\
                 北林小区,1号楼,1单元,1,104,丁,13800000004,2,0,0,,确诊,无,\n"
            )
            .as_bytes(),
        )
        .unwrap();
        assert_eq!(preview.households.iter().map(|r| r.line).collect::<Vec<_>>(), [2, 3, 5]);
        assert_eq!(preview.errors.len(), 1);
        let error = &preview.errors[0];
        assert_eq!(
            (error.line, error.column.as_deref(), error.value.as_str()),
            (4, Some("管控状态"), "隔离中")
        );
        assert!(!preview.is_clean());
    }

    #[test]
    fn long_fields_are_refused_and_shortened() {
        let notes = "很".repeat(MAX_FIELD_CHARS + 1);
        let preview = read_roster_csv(format!("楼号,房号,户主,备注\n1,101,甲,{notes}\n").as_bytes()).unwrap();
        assert!(preview.households.is_empty());
        let error = &preview.errors[0];
        assert_eq!(
            error.to_string(),
            "line 2, column 备注: the value is 4001 characters long; at most 4000 are accepted (is a quote \" left open above?)"
        );
        assert_eq!(error.value.chars().count(), SHOWN_CHARS + 1);
    }

    #[test]
    fn errors_beyond_the_limit_are_counted() {
        let mut csv = String::from("楼号,房号,户主\n");
        // One error a row (the blank 户主), on floors 1 to 150.
        for i in 0..MAX_ERRORS + 200 {
            writeln!(csv, "{},{}01,", i / 150 + 1, i % 150 + 1).unwrap();
        }
        let preview = read_roster_csv(csv.as_bytes()).unwrap();
        assert_eq!((preview.errors.len(), preview.omitted_errors), (MAX_ERRORS, 200));
        assert_eq!(preview.bad_rows, MAX_ERRORS + 200);
        assert_eq!(preview.errors[MAX_ERRORS - 1].line, MAX_ERRORS + 1);
        // Three bad cells of one row are one bad row.
        let few = read_roster_csv(
            "楼号,房号,户主,户内人数,60岁以上人数\n1,101,甲,/,/\n1,102,,/,/\n1,103,丙,1,0\n".as_bytes(),
        )
        .unwrap();
        assert_eq!((few.errors.len(), few.bad_rows), (5, 2));
    }

    #[test]
    fn file_level_errors() {
        assert_eq!(fails(b""), ImportError::Empty);
        assert_eq!(fails(b"\xEF\xBB\xBF\r\n,,,\r\n"), ImportError::Empty);
        assert_eq!(
            fails("小区,楼号,单元,楼层,户主\n北林小区,1号楼,1单元,1,甲\n".as_bytes()),
            ImportError::MissingColumns {
                missing: vec!["房号".to_owned()],
                found: ["小区", "楼号", "单元", "楼层", "户主"].map(str::to_owned).to_vec(),
                cut_short: false,
            }
        );
        assert_eq!(
            fails("某某台账,,\n名字,地址,\n".as_bytes()),
            ImportError::MissingColumns {
                missing: ["楼号", "房号", "户主"].map(str::to_owned).to_vec(),
                found: vec!["某某台账".to_owned()],
                cut_short: false,
            }
        );
        assert_eq!(
            fails("楼号,房号,户主,head\n".as_bytes()),
            ImportError::DuplicateColumn {
                column: "户主".to_owned(),
                headers: vec!["户主".to_owned(), "head".to_owned()]
            }
        );
        assert!(matches!(fails(b"\x81\x30\xFF\xFF,\x00"), ImportError::Encoding { .. }));
        let mut random_bytes = HEADER.as_bytes().to_vec();
        random_bytes.extend([0x0A, 0xFF, 0x80, 0x31, 0xC3, 0x28, 0xFE, 0xFF, 0x00, 0x9F]);
        assert!(matches!(fails(&random_bytes), ImportError::Encoding { .. }));
        assert_eq!(fails(b"PK\x03\x04\x14\x00\x06\x00"), ImportError::Workbook { format: ".xlsx" });

        let too_large = vec![b' '; MAX_INPUT_BYTES + 1];
        assert_eq!(
            fails(&too_large),
            ImportError::TooLarge { bytes: MAX_INPUT_BYTES + 1, limit: MAX_INPUT_BYTES }
        );
        let mut too_many = String::from("楼号,房号,户主\n");
        for _ in 0..=MAX_ROWS {
            too_many.push_str("1,1,a\n");
        }
        assert_eq!(fails(too_many.as_bytes()), ImportError::TooManyRows { limit: MAX_ROWS });
    }

    /// A header below the rows searched was refused as a file without 楼号, 房号 and 户主
    /// (found: "标题"), and a header with no rows under it imported nothing without a word.
    #[test]
    fn a_header_too_far_down_or_with_no_rows_under_it_says_so() {
        let low = format!("{}楼号,房号,户主\n1,101,张三\n", "标题,,\n".repeat(49));
        let e = fails(low.as_bytes());
        assert!(matches!(e, ImportError::MissingColumns { cut_short: true, .. }), "{e:?}");
        assert!(
            e.to_string().contains("; only the first 10 non-blank rows are searched for the header row; if it is further down, delete the rows above it"),
            "{e}"
        );
        assert!(e.to_string().contains("只在前 10 个非空行里找表头"), "{e}");
        let short = fails("标题,,\n名字,地址,\n".as_bytes());
        assert!(!short.to_string().contains("searched"), "{short}");

        for empty in [format!("{HEADER}\n"), HEADER.to_owned(), format!("标题\n\n{HEADER}\r\n,,,\r\n\r\n")]
        {
            let preview = read_roster_csv(empty.as_bytes()).unwrap();
            assert!(preview.households.is_empty() && preview.is_clean());
            assert_eq!(warnings(&preview).len(), 1, "{empty:?}");
            assert_eq!(preview.warnings[0].code, "no_households");
            let line = if empty.starts_with("标题") { 3 } else { 1 };
            assert_eq!(
                preview.warnings[0].to_string(),
                format!(
                    "line {line}: there are no households under the header row (line {line}), so nothing is \
                     imported; write one row per household under it"
                )
            );
        }
    }

    /// Matching a header costs work per column: a one-line file of a million columns kept the
    /// relay busy long after it answered. A header row is refused past `MAX_COLUMNS`, counted
    /// up to its last non-empty cell, so the empty columns Excel exports after a table still
    /// import, and the refusal does not echo every header back.
    #[test]
    fn a_header_row_wider_than_a_roster_is_refused_and_trailing_empty_columns_are_not_counted() {
        let wide: String = (0..MAX_COLUMNS + 44).map(|i| format!("列{i},")).collect();
        let e = fails(format!("{wide}\n1,1,a\n").as_bytes());
        assert_eq!(e, ImportError::TooManyColumns { columns: MAX_COLUMNS + 44, limit: MAX_COLUMNS });
        assert!(e.to_string().contains("delete the extra columns"), "{e}");
        assert!(e.to_string().len() < 300, "{e}");
        let bare = fails(&vec![b','; 1_000_000].into_iter().chain(*b"x").collect::<Vec<u8>>());
        assert_eq!(bare, ImportError::TooManyColumns { columns: 1_000_001, limit: MAX_COLUMNS });
        let trailing = format!("楼号,房号,户主{}\n1,101,张三\n", ",".repeat(100_000));
        let preview = read_roster_csv(trailing.as_bytes()).unwrap();
        assert_eq!(preview.households.len(), 1, "{:?}", preview.errors);
        assert!(preview.ignored_columns.is_empty());
    }

    /// A workbook's reader asks each sheet whether it has a roster header row, to find the
    /// roster behind a sheet of instructions: found as the import finds it (under title rows, a
    /// second header row and all), and nothing below it is read.
    #[test]
    fn a_roster_header_is_found_as_the_import_finds_it_without_reading_the_rows() {
        let instructions = "填表说明\n1. 请按模板填写，每户一行\n2. 楼号只写数字\n";
        assert_eq!(
            check_roster_header(instructions),
            Err(ImportError::MissingColumns {
                missing: ["楼号", "房号", "户主"].map(str::to_owned).to_vec(),
                found: vec!["填表说明".to_owned()],
                cut_short: false,
            })
        );
        assert_eq!(check_roster_header("\n\n"), Err(ImportError::Empty));
        let titled = "北林社区疫情防控台账,,\n\n楼号,房号,户主\n1,101,张三\n";
        assert_eq!(check_roster_header(titled), Ok(()));
        assert!(read_roster_csv(titled.as_bytes()).is_ok());
        // Rows the import would refuse the file for are below the header, so not read here.
        let mut too_many = String::from("楼号,房号,户主\n");
        for _ in 0..=MAX_ROWS {
            too_many.push_str("1,1,a\n");
        }
        too_many.push_str("1,\"1,a\n");
        assert_eq!(check_roster_header(&too_many), Ok(()));
        // A header row naming a column twice is a roster's header, refused as the import would.
        assert_eq!(
            check_roster_header("楼号,房号,户主,head\n"),
            Err(fails("楼号,房号,户主,head\n".as_bytes()))
        );
    }

    /// A row the roster would refuse is a bad row in the preview, on its cell, and the good rows
    /// beside it are read: before, a 201-character 小区 or 电话 passed the preview (its cells are
    /// read up to 2,000 characters) and the commit then refused the whole file, "accept the good
    /// rows" or not.
    #[test]
    fn a_row_the_roster_would_refuse_is_a_bad_row_in_the_preview() {
        let long = "字".repeat(crate::limits::SHORT_TEXT + 1);
        let input = format!(
            "{HEADER}\n{long},1号楼,1单元,1,101,张三,13900000000,2,0,0,,正常,无,\n\
             ,1号楼,1单元,1,102,{long},13900000001,2,0,0,,正常,无,\n\
             ,1号楼,1单元,1,103,王五,{long},2,0,0,,正常,无,\n\
             ,1号楼,1单元,1,104,赵六,13900000002,2,0,0,,正常,无,好\n"
        );
        let preview = read_roster_csv(input.as_bytes()).unwrap();
        assert_eq!(preview.households.len(), 1, "{}", render(&preview));
        assert_eq!(preview.households[0].line, 5);
        let bad: Vec<(usize, Option<&str>, &str)> =
            preview.errors.iter().map(|e| (e.line, e.column.as_deref(), e.code)).collect();
        assert_eq!(
            bad,
            [
                (2, Some("小区"), "refused_by_rules"),
                (3, Some("户主"), "refused_by_rules"),
                (4, Some("联系电话"), "refused_by_rules")
            ],
            "{}",
            render(&preview)
        );
        assert!(preview.errors[0].reason_zh.contains("最多 200 个"), "{}", preview.errors[0].reason_zh);
        assert!(preview.errors[0].reason.contains("at most 200"), "{}", preview.errors[0].reason);
    }

    /// Whatever the cells hold, every row the preview reads is one the roster takes.
    #[test]
    fn the_marks_and_words_ledgers_use_read_as_what_they_mean() {
        let input = format!(
            "{HEADER}\n\
             香樟苑,1号楼,1单元,1,101,甲,13900000001,2,0,0,孕妇,无,√,\n\
             香樟苑,1号楼,1单元,1,102,乙,13900000002,2,0,0,独居老人(85岁),/,×,\n\
             香樟苑,1号楼,1单元,1,103,丙,13900000003,2,0,0,残疾、孤寡老人,—,/,\n\
             香樟苑,1号楼,1单元,1,104,丁,13900000004,2,0,0,—,集中隔离,有,\n"
        );
        let preview = read_roster_csv(input.as_bytes()).unwrap();
        assert!(preview.errors.is_empty(), "{:?}", preview.errors);
        let rows = &preview.households;
        assert_eq!(rows.len(), 4);
        let needs = |i: usize| rows[i].draft.needs.iter().copied().collect::<Vec<_>>();
        assert_eq!(needs(0), [NeedTag::Pregnant]);
        assert_eq!(needs(1), [NeedTag::ElderlyAlone]);
        assert_eq!(needs(2), [NeedTag::ElderlyAlone, NeedTag::Disabled]);
        assert!(needs(3).is_empty());
        assert_eq!((rows[0].draft.lift, rows[1].draft.lift, rows[3].draft.lift), (true, false, true));
        // "/" and "—" in 管控状态 state nothing: a re-import keeps what the household has. "无"
        // is no control, 正常, stated: a household released from quarantine is marked so.
        for row in &rows[1..3] {
            assert_eq!(row.draft.status, ControlStatus::default());
            assert!(!row.stated.contains(RosterColumn::Status), "line {}", row.line);
        }
        assert_eq!(rows[0].draft.status, ControlStatus::Normal);
        assert!(rows[0].stated.contains(RosterColumn::Status), "无 says 正常");
        assert!(!rows[2].stated.contains(RosterColumn::Lift), "a dash in 有无电梯 says nothing");
        assert!(rows[3].stated.contains(RosterColumn::Status));
    }

    /// A note typed in a workbook beside the roster, in a column with no heading: named by its
    /// cell, not told to look for "a comma outside quotes" (a workbook has none). In a CSV, the
    /// comma advice stands.
    #[test]
    fn a_workbook_cell_under_no_heading_is_named_by_its_cell() {
        let input =
            format!("{HEADER}\n北林小区,1号楼,1单元,1,101,王芳,13912345678,2,0,0,,,,独居,已电话确认\n");
        let sheet = read_roster_sheet(
            input.as_bytes(),
            &DateCells::default(),
            CalendarDay::new(2026, 12, 7).unwrap(),
        )
        .unwrap();
        let error = &sheet.errors[0];
        assert_eq!((error.code, error.column.as_deref()), ("cell_without_heading", Some("O")), "{error:?}");
        assert!(
            error.reason.contains("cell O2 holds text") && !error.reason.contains("comma"),
            "{}",
            error.reason
        );
        let csv = read_roster_csv(input.as_bytes()).unwrap();
        assert!(csv.errors[0].reason.contains("comma"), "{}", csv.errors[0].reason);
        assert_eq!(column_letters(0), "A");
        assert_eq!(column_letters(26), "AA");
    }

    #[test]
    fn invisible_control_and_direction_characters_are_taken_out_and_the_row_says_so() {
        // A head pasted with a direction override, a flat typed with Alt+Enter (a space, then
        // read as flat 101 as "10 1" is; in a CSV too: it holds no separator), a bell
        // in the phone, and notes on two lines (which they keep) with an escape in them.
        let input = format!(
            "{HEADER}\n北林小区,1号楼,1单元,1,\"10\n1\",王\u{202E}芳,139\u{7}12345678,2,0,0,,,,\"独居\r\n敲门\u{1B}要大声\"\n"
        );
        let csv = read_roster_csv(input.as_bytes()).unwrap();
        let preview = read_roster_sheet(
            input.as_bytes(),
            &DateCells::default(),
            CalendarDay::new(2026, 12, 7).unwrap(),
        )
        .unwrap();
        assert_eq!(csv.households[0].draft, preview.households[0].draft, "a CSV reads it as a workbook does");
        assert!(preview.is_clean(), "{:?}", preview.errors);
        let draft = &preview.households[0].draft;
        assert_eq!((draft.address.flat.as_str(), draft.head.as_str()), ("101", "王芳"));
        assert_eq!(draft.phone, "13912345678");
        assert_eq!(draft.notes, "独居\r\n敲门要大声");
        assert_eq!(
            warnings(&preview),
            [
                "invisible_characters_removed 第 2 行，户主：去掉了 1 个看不见的控制字符或文字方向符，请核对这一格 / line 2, column 户主: 1 invisible control or text-direction character(s) were taken out; check the cell",
                "invisible_characters_removed 第 2 行，联系电话：去掉了 1 个看不见的控制字符或文字方向符，请核对这一格 / line 2, column 联系电话: 1 invisible control or text-direction character(s) were taken out; check the cell",
                "invisible_characters_removed 第 2 行，备注：去掉了 1 个看不见的控制字符或文字方向符，请核对这一格 / line 2, column 备注: 1 invisible control or text-direction character(s) were taken out; check the cell",
            ]
        );
        // What the preview read, the roster takes.
        assert!(crate::operation::draft_problems(draft).is_empty());
    }

    /// A failed formula's error value (`#N/A` from a `VLOOKUP` that found nothing) was imported
    /// as the head, the phone (with only a warning) and the notes of the household: it is a bad
    /// row naming the cell, in every column, 备注 included.
    #[test]
    fn excel_error_values_make_a_bad_row_naming_the_cell() {
        let input = format!(
            "{HEADER},手机号码\n\
             香樟苑,1号楼,1单元,2,201,#N/A,#N/A,2,0,0,,正常,无,#REF!,\n\
             香樟苑,1号楼,1单元,2,202,王五,13900000000,2,0,0,,正常,无,#VALUE! 待查,#div/0!\n\
             香樟苑,1号楼,1单元,2,203,赵六,13900000001,2,0,0,,正常,无,,\n"
        );
        let preview = read_roster_csv(input.as_bytes()).unwrap();
        assert_eq!(preview.households.iter().map(|r| r.line).collect::<Vec<_>>(), [4]);
        let bad: Vec<String> = preview.errors.iter().map(RowError::bilingual).collect();
        assert_eq!(
            bad,
            [
                "第 2 行，户主：户主 是公式错误 #N/A（公式没有算出结果）；请改正公式，或直接输入内容 / line 2, column 户主: formula error #N/A in 户主: fix the formula or type the value",
                "第 2 行，联系电话：联系电话 是公式错误 #N/A（公式没有算出结果）；请改正公式，或直接输入内容 / line 2, column 联系电话: formula error #N/A in 联系电话: fix the formula or type the value",
                "第 2 行，备注：备注 是公式错误 #REF!（公式没有算出结果）；请改正公式，或直接输入内容 / line 2, column 备注: formula error #REF! in 备注: fix the formula or type the value",
                "第 3 行，手机号码：手机号码 是公式错误 #DIV/0!（公式没有算出结果）；请改正公式，或直接输入内容 / line 3, column 手机号码: formula error #DIV/0! in 手机号码: fix the formula or type the value",
            ]
        );
        assert!(preview.errors.iter().all(|e| e.code == "formula_error"));
    }

    /// A zero-width space or soft hyphen in 小区, 楼号, 单元 or 房号 made a look-alike building,
    /// estate or flat (or a refusal: "1单元\u{200b}" is not a unit number). It is taken out, and
    /// the row says so, naming the cell.
    #[test]
    fn invisible_characters_in_an_address_are_taken_out_and_the_row_says_so() {
        let input = format!(
            "{HEADER}\n\
             香樟苑,1\u{200b}号楼,1单元,1,101,甲,13900000001,2,0,0,,,,\n\
             香樟苑\u{200b},1号楼,1单元,2,201,乙,13900000002,2,0,0,,,,\n\
             香樟苑,1号楼,1单元\u{200b},2,202,丙,13900000003,2,0,0,,,,\n\
             香樟苑,1号楼,1单元,3,30\u{ad}1,丁,13900000004,2,0,0,,,,\n\
             香樟苑,\u{feff}1号楼\u{2060},1单元,3,302,戊\u{200d},13900000005,2,0,0,,,,\n"
        );
        let preview = read_roster_csv(input.as_bytes()).unwrap();
        assert!(preview.is_clean(), "{}", render(&preview));
        let addresses: Vec<String> = preview.households.iter().map(|r| r.draft.address.to_string()).collect();
        assert_eq!(
            addresses,
            [
                "香樟苑 1号楼1单元101",
                "香樟苑 1号楼1单元201",
                "香樟苑 1号楼1单元202",
                "香樟苑 1号楼1单元301",
                "香樟苑 1号楼1单元302"
            ]
        );
        assert_eq!(preview.estates(), ["香樟苑"]);
        // Nor does the head keep them (below).
        assert_eq!(preview.households[4].draft.head, "戊");
        let said: Vec<(usize, Option<&str>, &str)> =
            preview.warnings.iter().map(|w| (w.line, w.column.as_deref(), w.value.as_str())).collect();
        assert_eq!(
            said,
            [
                (2, Some("楼号"), "1号楼"),
                (3, Some("小区"), "香樟苑"),
                (4, Some("单元"), "1单元"),
                (5, Some("房号"), "301"),
                (6, Some("楼号"), "1号楼"),
                (6, Some("户主"), "戊"),
            ]
        );
        assert_eq!(
            preview.warnings[0].bilingual(),
            "第 2 行，楼号：去掉了 1 个看不见的字符（零宽空格、软连字符等），按 \"1号楼\" 读取；请核对这一格 / \
             line 2, column 楼号: 1 invisible character(s) (zero-width space, soft hyphen or the like) were taken out, read as \"1号楼\"; check the cell"
        );
        assert!(preview.warnings.iter().all(|w| w.code == "invisible_characters_removed"));
    }

    /// A zero-width space pasted into 户主 was kept: 张\u{200b}三 was a head no search for 张三
    /// found, and a head of only U+200B was not blank. They are taken out, as in an address, with
    /// a warning, and a head of nothing else is blank.
    #[test]
    fn invisible_characters_in_a_head_or_phone_are_taken_out_and_an_invisible_head_is_blank() {
        let input = format!(
            "{HEADER}\n\
             香樟苑,99号楼,1单元,1,101,张\u{200b}三,13800138000,2,0,0,,正常,无,\n\
             香樟苑,99号楼,1单元,1,102,\u{202e}四李,13800138000,2,0,0,,正常,无,\n\
             香樟苑,99号楼,1单元,1,103,\u{200b},13800138000,2,0,0,,正常,无,\n\
             香樟苑,99号楼,1单元,1,104,王五\u{feff},138\u{2060}00138000,2,0,0,,正常,无,\n"
        );
        let preview = read_roster_csv(input.as_bytes()).unwrap();
        let heads: Vec<(&str, &str)> =
            preview.households.iter().map(|r| (r.draft.head.as_str(), r.draft.phone.as_str())).collect();
        assert_eq!(heads, [("张三", "13800138000"), ("四李", "13800138000"), ("王五", "13800138000")]);
        let said: Vec<(usize, Option<&str>, &str)> =
            preview.warnings.iter().map(|w| (w.line, w.column.as_deref(), w.code)).collect();
        assert_eq!(
            said,
            [
                (2, Some("户主"), "invisible_characters_removed"),
                (3, Some("户主"), "invisible_characters_removed"),
                (5, Some("户主"), "invisible_characters_removed"),
                (5, Some("联系电话"), "invisible_characters_removed"),
            ]
        );
        assert_eq!(preview.errors.len(), 1, "{:?}", preview.errors);
        assert_eq!((preview.errors[0].line, preview.errors[0].code), (4, "head_blank"));
    }

    /// Ledgers spell building 1 as 1#楼, 1#, 1栋, 01 or 一号楼, and unit 1 as 一单元 or 01; each
    /// was a new building or unit. They read as the numbers; a flat keeps its leading zeros.
    #[test]
    fn building_and_unit_numbers_read_the_same_however_they_are_spelled() {
        check(
            "楼号,单元,楼层,房号,户主\n\
             1#楼,一单元,1,101,甲\n\
             1#,01,1,102,乙\n\
             1栋,1,1,103,丙\n\
             01,一,1,104,丁\n\
             十二号楼,十单元,1,0101,戊\n\
             A座,二十一单元,1,101,己\n",
            r#"
            2: 1号楼1单元101 f1 甲  ?/0/0 [] normal lift=false ""
            3: 1号楼1单元102 f1 乙  ?/0/0 [] normal lift=false ""
            4: 1号楼1单元103 f1 丙  ?/0/0 [] normal lift=false ""
            5: 1号楼1单元104 f1 丁  ?/0/0 [] normal lift=false ""
            6: 12号楼10单元0101 f1 戊  ?/0/0 [] normal lift=false ""
            7: A号楼21单元101 f1 己  ?/0/0 [] normal lift=false ""
            "#,
        );
        // One flat spelled two ways is one flat, written twice.
        let preview =
            read_roster_csv("楼号,单元,房号,户主\n1#楼,一单元,101,甲\n01,1,101,乙\n".as_bytes()).unwrap();
        assert_eq!(
            preview.errors.iter().map(|e| (e.line, e.code)).collect::<Vec<_>>(),
            [(2, "duplicate_flat"), (3, "duplicate_flat")]
        );
    }

    /// A workbook's date in 楼号 or 单元 is refused (`date_cell`), but the same sheet saved as CSV
    /// writes it as the date it shows (2026/5/1, 5月1日), which was imported as unit "2026/5/1".
    #[test]
    fn a_date_excel_wrote_into_a_csvs_address_is_refused_as_in_a_workbook() {
        let input = "楼号,单元,楼层,房号,户主,备注\n\
            3号楼,2026/5/1,1,101,甲,\n\
            3号楼,5月1日,1,102,乙,\n\
            2026-03-05,1单元,1,103,丙,\n\
            3号楼,1单元,1,1-May,丁,\n\
            3号楼,1单元,1,104,戊,2026/5/1 复查\n";
        let preview = read_roster_csv(input.as_bytes()).unwrap();
        assert_eq!(preview.households.iter().map(|r| r.line).collect::<Vec<_>>(), [6]);
        let bad: Vec<(usize, Option<&str>, &str)> =
            preview.errors.iter().map(|e| (e.line, e.column.as_deref(), e.code)).collect();
        assert_eq!(
            bad,
            [
                (2, Some("单元"), "date_cell"),
                (3, Some("单元"), "date_cell"),
                (4, Some("楼号"), "date_cell"),
                (5, Some("房号"), "date_cell")
            ]
        );
        assert_eq!(
            preview.errors[0].bilingual(),
            "第 2 行，单元：这一格是日期 2026/5/1：Excel 把输入的内容（可能是 5-1）变成了日期；请把 单元 列设为文本（设置单元格格式 → 文本）后重新输入 / \
             line 2, column 单元: this cell is a date (2026/5/1): Excel turned what was typed (perhaps 5-1) into a date; \
             format the 单元 column as text (设置单元格格式 → 文本) and type it again"
        );
        assert!(preview.errors[2].reason.contains("(perhaps 3-5)"), "{}", preview.errors[2].reason);
    }

    /// An old Mac's CSV ends its lines with a lone \r: every error said line 1. A lone \r is a
    /// line end, \r\n one line end, and a quoted cell's line breaks count as they do outside.
    #[test]
    fn lines_ending_in_a_lone_carriage_return_are_counted() {
        let input = "楼号,房号,户主,户内人数\r1,101,甲,X\r1,102,乙,2\r\r1,103,丙,Y\r\n1,104,\"丁\r丁\",Z\n1,105,戊,W\r";
        let preview = read_roster_csv(input.as_bytes()).unwrap();
        let lines: Vec<usize> = preview.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [2, 5, 6, 8], "{}", render(&preview));
        assert_eq!(preview.households[0].line, 3);
        assert_eq!(line_breaks(b"a\rb\r\nc\nd\r"), 4);
    }

    #[test]
    fn every_row_the_preview_reads_is_one_the_roster_takes() {
        use rand::rngs::StdRng;
        use rand::seq::IndexedRandom;
        use rand::{Rng, SeedableRng};
        let odd = [
            String::new(),
            " ".into(),
            "\u{3000}".into(),
            "\u{7}".into(),
            "\u{202E}1".into(),
            "😀".into(),
            "字".repeat(200),
            "字".repeat(201),
            "字".repeat(1999),
            "1".repeat(201),
            "-1".into(),
            "101".into(),
            "4294967296".into(),
            "100".into(),
            "101".into(),
            "透析".into(),
            "是".into(),
            "'=1+1".into(),
        ];
        let mut rng = StdRng::seed_from_u64(1205);
        let mut read = 0;
        for _ in 0..200 {
            let mut input = format!("{HEADER}\n");
            for row in 0..10 {
                let mut cells: Vec<String> = vec![
                    String::new(),
                    "1号楼".into(),
                    "1单元".into(),
                    "1".into(),
                    format!("10{row}"),
                    "张三".into(),
                    "13900000000".into(),
                    "2".into(),
                    "0".into(),
                    "0".into(),
                    String::new(),
                    "正常".into(),
                    "无".into(),
                    String::new(),
                ];
                for _ in 0..rng.random_range(0..3) {
                    let i = rng.random_range(0..cells.len());
                    cells[i] = odd.choose(&mut rng).unwrap().clone();
                }
                let quoted: Vec<String> =
                    cells.iter().map(|c| format!("\"{}\"", c.replace('"', "\"\""))).collect();
                input.push_str(&quoted.join(","));
                input.push('\n');
            }
            let preview = read_roster_csv(input.as_bytes()).unwrap();
            for row in &preview.households {
                let problems = crate::operation::draft_problems(&row.draft);
                assert!(
                    problems.is_empty(),
                    "line {} read, but the roster refuses it: {problems:?}",
                    row.line
                );
                read += 1;
            }
        }
        assert!(read > 500, "most rows are read ({read})");
    }

    /// 小区 typed once at the top (or a merged cell saved as CSV) made the rows under it an
    /// estate of no name: the same door twice, under "" and under 香樟苑, and the preview named
    /// only 香樟苑. With one estate named, the blank ones take it, said once; with several, each
    /// blank row is a bad row asking for its estate.
    #[test]
    fn a_blank_estate_takes_the_files_only_estate_or_is_asked_for() {
        let once = "小区,楼号,房号,户主\n香樟苑,1,101,甲\n,1,102,乙\n,1,103,丙\n";
        let preview = read_roster_csv(once.as_bytes()).unwrap();
        let estates: Vec<&str> = preview.households.iter().map(|h| h.draft.address.estate.as_str()).collect();
        assert_eq!(estates, ["香樟苑"; 3]);
        assert_eq!(
            warnings(&preview),
            [
                "estate_blank_filled 第 3 行，小区：2 行的 小区 为空（第 3、4 行），文件里只有一个小区，按 \"香樟苑\" 导入；如果不是，请填写 小区 / \
              line 3, column 小区: 小区 is empty on 2 rows (3, 4); the file names one estate only, so they are imported into \"香樟苑\"; \
              if that is wrong, fill in 小区"
            ]
        );
        let several = "小区,楼号,房号,户主\n香樟苑,1,101,甲\n,1,102,乙\n北林,1,101,丙\n";
        let preview = read_roster_csv(several.as_bytes()).unwrap();
        assert_eq!(preview.households.len(), 2);
        assert_eq!(preview.bad_rows, 1);
        assert_eq!(
            preview.errors[0].bilingual(),
            "第 3 行，小区：小区 为空，而文件里有 香樟苑、北林 几个小区，不知道这一户属于哪个；请填写 小区 / \
             line 3, column 小区: 小区 is empty, and the file names several estates (香樟苑, 北林), so which one this household \
             is in is not known; fill in 小区"
        );
        // No 小区 at all: the plan places the rows, as before.
        let none = "小区,楼号,房号,户主\n,1,101,甲\n";
        let preview = read_roster_csv(none.as_bytes()).unwrap();
        assert_eq!(preview.households[0].draft.address.estate, "");
        assert!(preview.warnings.is_empty() && preview.errors.is_empty());
    }

    /// Beside a 楼号 column, 房号 "1-101" was building 1's flat 101 (no unit), "2-101" refused as
    /// not matching 1号楼, and "3单元101" refused as having no 楼号. Each is the unit's flat.
    #[test]
    fn a_unit_and_flat_in_the_flat_column_beside_a_building_is_that_units_flat() {
        let csv = "楼号,单元,房号,户主\n1号楼,,1-101,甲\n1号楼,,2-101,乙\n1号楼,,3单元101室,丙\n1号楼,2单元,2-102,丁\n\
                   1号楼,1单元,2-103,戊\n,,17-3-702,己\n";
        let preview = read_roster_csv(csv.as_bytes()).unwrap();
        let read: Vec<String> = preview.households.iter().map(|h| h.draft.address.to_string()).collect();
        assert_eq!(
            read,
            ["1号楼1单元101", "1号楼2单元101", "1号楼3单元101", "1号楼2单元102", "17号楼3单元702"]
        );
        let errors: Vec<String> = preview.errors.iter().map(RowError::bilingual).collect();
        assert_eq!(
            errors,
            ["第 6 行，单元：\"1单元\" 与 房号 \"2-103\" 不符，后者写的是 2 单元；请只在一处写单元 / \
              line 6, column 单元: \"1单元\" does not match 房号 \"2-103\", which says unit 2; write the unit in 单元 only"]
        );
    }

    /// 户主 "空置", "（空房）" with 0 people, "已搬离" were imported as households without a word.
    /// They still are (the sheet has them), each with a warning naming the row.
    #[test]
    fn a_vacant_flat_is_imported_with_a_warning() {
        let csv = "楼号,房号,户主,户内人数\n1,101,空置,\n1,102,（空房）,0\n1,103,已搬离,1\n1,104,张三,0\n1,105,李四,2\n";
        let preview = read_roster_csv(csv.as_bytes()).unwrap();
        assert_eq!(preview.households.len(), 5);
        let vacant: Vec<(usize, Option<&str>)> = preview
            .warnings
            .iter()
            .filter(|w| w.code == "vacant_flat")
            .map(|w| (w.line, w.column.as_deref()))
            .collect();
        assert_eq!(vacant, [(2, Some("户主")), (3, Some("户主")), (4, Some("户主")), (5, Some("户内人数"))]);
        let first = preview.warnings.iter().find(|w| w.code == "vacant_flat").unwrap();
        assert!(
            first.bilingual().starts_with("第 2 行，户主：户主 写的是 \"空置\"，像是没人住的房子"),
            "{}",
            first.bilingual()
        );
    }

    /// A 合计 row blocked the import as a bad row ("没有楼号"); the header row repeated under the
    /// table (a sheet pasted under another) was a bad row of its own. Each is left out with a
    /// warning saying what it is, and the file imports.
    #[test]
    fn a_totals_row_or_the_header_again_is_left_out_and_named() {
        let csv = "楼号,房号,户主,户内人数,备注\n1,101,甲,2,\n楼号,房号,户主,户内人数,\n1,102,乙,3,\n合计：,,,5,\n, 总 计 ,,5,\n1,103,丙,1,合计\n";
        let preview = read_roster_csv(csv.as_bytes()).unwrap();
        assert!(preview.is_clean(), "{:?}", preview.errors);
        assert_eq!(preview.households.len(), 3, "a 备注 of 合计 beside a flat is a household");
        assert_eq!(
            warnings(&preview),
            [
                "header_row_again 第 3 行：这一行又是表头（楼号、房号、户主），没有作为一户导入；可以删去 / \
                 line 3: this row is the header row again (楼号, 房号, 户主), not imported as a household; it can be deleted",
                "totals_row 第 5 行：这一行是合计行（\"合计：\"），不是一户，没有导入 / \
                 line 5: this row is a totals row (\"合计：\"), not a household, so it is not imported",
                "totals_row 第 6 行：这一行是合计行（\"总 计\"），不是一户，没有导入 / \
                 line 6: this row is a totals row (\"总 计\"), not a household, so it is not imported",
            ]
        );
    }

    /// A semicolon-separated "CSV" was refused as "表头没有 楼号、房号、户主" with the whole row as
    /// one header; the refusal names the separator and what to do.
    #[test]
    fn a_file_separated_by_semicolons_is_refused_naming_the_separator() {
        let e = fails("楼号;房号;户主\n1;101;甲\n".as_bytes());
        assert_eq!(e, ImportError::Separator { separator: ';', header: "楼号;房号;户主".to_owned() });
        assert!(e.to_string().starts_with("文件的列是用 ';' 分隔的，不是逗号"), "{e}");
    }

    /// 房号 "101.0" (a flat Excel kept as a number, written with its fraction) was refused as
    /// "没有楼号"; it is flat 101, with a warning naming the cell.
    #[test]
    fn a_flat_with_a_fraction_of_zeros_is_that_flat_with_a_warning() {
        let preview = read_roster_csv("楼号,房号,户主\n1,101.0,甲\n1,101.5,乙\n".as_bytes()).unwrap();
        let read: Vec<String> = preview.households.iter().map(|h| h.draft.address.to_string()).collect();
        assert_eq!(read, ["1号楼101"]);
        assert_eq!(preview.errors.len(), 1, "101.5 is no flat: {:?}", preview.errors);
        assert_eq!(
            warnings(&preview),
            [
                "flat_fraction 第 2 行，房号：\"101.0\" 带有小数点（表格把房号存成了数字），按 \"101\" 读取；请把 房号 列设为文本 / \
              line 2, column 房号: \"101.0\" has a decimal point (the sheet kept the flat as a number), so it is read as \"101\"; \
              format the 房号 column as text"
            ]
        );
    }

    /// A column a program wrote as numbers ("1.0", as pandas writes one with a blank in it): 楼层
    /// "3.0" was refused as not a floor number and 楼号 "1.0" made a building beside 1号楼.
    #[test]
    fn a_building_unit_or_floor_with_a_fraction_of_zeros_is_that_number() {
        check(
            "楼号,单元,楼层,房号,户主\n1.0,2.0,3.0,301,甲\n1,2,-1.00,B01,乙\n",
            "2: 1号楼2单元301 f3 甲  ?/0/0 [] normal lift=false \"\"
             3: 1号楼2单元B01 f-1 乙  ?/0/0 [] normal lift=false \"\"",
        );
    }

    /// 房号 "7a" and "7A" are one door: a sheet typed in lower case in one place made two
    /// households of it.
    #[test]
    fn flats_differing_only_in_case_are_one_door() {
        let preview = read_roster_csv("楼号,楼层,房号,户主\n1,7,7a,甲\n1,7,7A,乙\n".as_bytes()).unwrap();
        assert_eq!(preview.households.len(), 0, "{:?}", preview.households);
        assert_eq!(
            preview.errors.iter().map(|e| e.code).collect::<Vec<_>>(),
            ["duplicate_flat", "duplicate_flat"]
        );
    }

    /// A ledger kept one row per resident (姓名, 与户主关系, 年龄 on every row, the address
    /// repeated) was refused row after row as "a duplicate of line 2 … delete one"; a door's rows
    /// are one household, headed by its 户主 row, counted from its rows and ages.
    #[test]
    fn a_sheet_of_one_row_per_resident_makes_one_household_per_door() {
        let input = "小区,楼号,单元,房号,姓名,与户主关系,性别,年龄,联系电话,重点人群,管控状态\n\
                     北林小区,1,1,101,李四,配偶,女,70,,独居老人,\n\
                     北林小区,1,1,101,张三,户主,男,72岁,13800000001,,home_quarantine\n\
                     北林小区,1,1,101,张小宝,孙子,男,8个月,,,\n\
                     北林小区,1,1,102,王五,本人,男,40,13800000002,,\n\
                     北林小区,1,1,103,赵六,妻,女,三十,13800000003,,\n\
                     北林小区,1,1,103,钱七,子,男,12,,,\n";
        let preview = read_roster_csv(input.as_bytes()).unwrap();
        assert_eq!(
            render(&preview),
            "2: 北林小区 1号楼1单元101 f1 张三 13800000001 3/2/1 [elderly_alone] home_quarantine lift=false \"\"\n\
             5: 北林小区 1号楼1单元102 f1 王五 13800000002 1/0/0 [] normal lift=false \"\"\n\
             6: 北林小区 1号楼1单元103 f1 赵六 13800000003 2/0/0 [] normal lift=false \"\"\n"
        );
        let codes: Vec<&str> = preview.warnings.iter().map(|w| w.code).collect();
        assert_eq!(
            codes,
            ["one_row_per_resident", "bad_age", "no_head_of_household"],
            "{:?}",
            preview.warnings
        );
        assert!(
            preview.warnings[0].reason.contains("6 residents make 3 households"),
            "{}",
            preview.warnings[0]
        );
        for (column, set) in
            [(RosterColumn::People, true), (RosterColumn::Aged60Plus, true), (RosterColumn::Head, true)]
        {
            assert_eq!(preview.households[0].stated.contains(column), set, "{column}");
        }
        assert_eq!(preview.ignored_columns, ["性别"]);
    }

    /// A per-person sheet beside a 户主 column: 姓名 is each resident's, 户主 the household's.
    #[test]
    fn residents_beside_a_head_column_keep_the_head_and_count_the_rows() {
        let input = "楼号,房号,户主,姓名,年龄,户内人数\n1,101,张三,张三,61,2\n1,101,张三,李四,59,2\n1,101,张三,张小宝,3,2\n";
        let preview = read_roster_csv(input.as_bytes()).unwrap();
        assert_eq!(render(&preview), "2: 1号楼101 f1 张三  3/1/1 [] normal lift=false \"\"\n");
        let codes: Vec<&str> = preview.warnings.iter().map(|w| w.code).collect();
        assert!(codes.contains(&"people_fewer_than_residents"), "{codes:?}");
    }

    /// A resident ledger with 出生日期 or 身份证号 and no 年龄 counted no one as 60+ or under 6:
    /// ages are counted from the birth date on the day the file is read, else from the ID
    /// number's, else from 年龄; one turning 60 tomorrow is not yet 60.
    #[test]
    fn residents_ages_are_counted_from_birth_dates_and_id_numbers() {
        let today = CalendarDay::new(2026, 12, 7).unwrap();
        let input = "楼号,房号,姓名,与户主关系,出生日期,身份证号,年龄
                     1,101,张三,户主,1950-03-02,,
                     1,101,李四,配偶,,110105196612080021,
                     1,101,张小宝,孙子,2023年5月1日,,
                     1,102,王五,户主,,11010519661207002X,
                     1,102,赵六,子,不详,,40
                     1,103,钱七,户主,2030-01-01,,70
";
        let preview = read_roster_csv_on(input.as_bytes(), today).unwrap();
        assert_eq!(
            render(&preview),
            "2: 1号楼101 f1 张三  3/1/1 [] normal lift=false \"\"\n\
             5: 1号楼102 f1 王五  2/1/0 [] normal lift=false \"\"\n\
             7: 1号楼103 f1 钱七  1/1/0 [] normal lift=false \"\"\n"
        );
        let codes: Vec<(usize, &str)> = preview.warnings.iter().map(|w| (w.line, w.code)).collect();
        assert!(codes.contains(&(6, "bad_birth_date")), "{codes:?}");
        assert!(codes.contains(&(7, "born_after_today")), "{codes:?}");
        assert!(!codes.iter().any(|(_, code)| *code == "bad_age"), "{codes:?}");
        assert!(
            preview.warnings.iter().any(|w| w.code == "one_row_per_resident" && w.value.contains("出生日期"))
        );
        assert!(preview.ignored_columns.is_empty(), "{:?}", preview.ignored_columns);
        // Without the day, a birth date cannot be counted: ages come from 年龄 alone.
        let undated = read_roster_csv(input.as_bytes()).unwrap();
        assert_eq!(undated.households[0].draft.aged_60_plus, 0);
        assert_eq!(undated.households[2].draft.aged_60_plus, 1);
    }

    /// 身份证号 alone may be the head of household's: a sheet with it and no other resident's
    /// column is still one row per household, and two rows of one flat are still a duplicate.
    #[test]
    fn an_id_number_column_alone_keeps_a_sheet_one_row_per_household() {
        let today = CalendarDay::new(2026, 12, 7).unwrap();
        let input = "楼号,房号,户主,身份证号,户内人数\n\
                     1,101,张三,110105194912310021,2\n\
                     1,101,李四,110105196612080021,3\n";
        let preview = read_roster_csv_on(input.as_bytes(), today).unwrap();
        assert!(preview.households.is_empty(), "{preview:?}");
        assert!(preview.errors.iter().all(|e| e.code == "duplicate_flat"), "{preview:?}");
        assert!(!preview.warnings.iter().any(|w| w.code == "one_row_per_resident"));
        assert_eq!(preview.ignored_columns, ["身份证号"]);
    }

    /// An HTML table saved as .xls was refused as a header row of "<html><head>…"; it is named as
    /// the web page it is.
    #[test]
    fn a_web_page_is_refused_as_one() {
        let page = "<html><head><meta charset=\"utf-8\"></head><body><table><tr><td>楼号</td></tr></table></body></html>";
        assert_eq!(fails(page.as_bytes()), ImportError::WebPage);
        assert!(fails(b"\n <!DOCTYPE html>\n<html>").to_string().starts_with("这是网页（HTML 表格）"));
    }
}
