//! A roster file as a coordinator or an operator sends it, from the dashboard, the admin API or
//! the command line: a CSV (UTF-8, GB18030 or UTF-16) or an .xlsx workbook, read into core's
//! rows by the same rules whichever way it came.
//!
//! A workbook's roster sheets (every visible one with a roster header row: a ledger kept as one
//! sheet per building is read whole) are turned into CSV first ([`crate::workbook`]), so both go
//! through core's importer and every rule and row error is shared with phones; a row error names
//! the sheet row, as Excel numbers it, and, when several sheets were read, the sheet
//! ([`RosterFile::locate`]). The sheets passed over are named with why ([`SkippedSheet`]).

use std::collections::BTreeSet;
use std::time::Instant;

use doorstep_core::import::{
    CalendarDay, ImportError, MAX_ERRORS, RosterPreview, RowMessage, read_roster_csv_on, read_roster_sheet,
    shown_names,
};
use serde::Serialize;

use crate::workbook::{self, OLE_MAGIC, SkippedSheet, WorkbookError, ZIP_MAGIC};

/// How far apart the lines of two roster sheets are in a workbook's one preview. With one roster
/// sheet its lines are its rows; with several, the first's are its rows plus `SHEET_LINES`, the
/// second's plus twice that, and so on, so that a line names its sheet, and a number in a
/// message's words below `SHEET_LINES` is a line of the message's own sheet. Far above any row a
/// sheet may have ([`workbook::MAX_SHEET_ROWS`]) and any line its CSV may take.
pub const SHEET_LINES: usize = 100_000_000;

/// A roster sheet of a workbook that was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SheetRead {
    /// The sheet's name.
    pub sheet: String,
    /// Households read from it (before the plan places them).
    pub households: usize,
    /// Its rows left out for errors.
    pub bad_rows: usize,
}

/// A roster file read into rows.
#[derive(Debug)]
pub struct RosterFile {
    /// The rows read, their errors and warnings; lines are sheet rows for a workbook, those of
    /// its second roster sheet and after numbered past [`SHEET_LINES`].
    pub preview: RosterPreview,
    /// `csv` or `xlsx`.
    pub format: &'static str,
    /// For a workbook, the first sheet that was read.
    pub sheet: Option<String>,
    /// For a workbook, how many sheets it has (hidden ones included).
    pub sheets: Option<usize>,
    /// For a workbook, every roster sheet read, in tab order.
    pub sheets_read: Vec<SheetRead>,
    /// For a workbook, every sheet not read, and why.
    pub sheets_skipped: Vec<SkippedSheet>,
}

/// Why a roster file cannot be read at all. The messages are the readers' own, Chinese and
/// English.
#[derive(Debug, thiserror::Error)]
pub enum RosterFileError {
    /// As a CSV.
    #[error(transparent)]
    Csv(#[from] ImportError),
    /// As a workbook.
    #[error(transparent)]
    Workbook(#[from] WorkbookError),
    /// One roster sheet of a workbook of several cannot be read (a column named twice): nothing
    /// is read, and the refusal names the sheet.
    #[error("{}", in_sheet(sheet, &error.to_string()))]
    Sheet {
        /// The sheet's name.
        sheet: String,
        /// Why.
        error: ImportError,
    },
}

/// A bilingual message ("zh / en") said of a sheet.
fn in_sheet(sheet: &str, said: &str) -> String {
    let name = shown_names(&[sheet.to_owned()], true);
    match said.split_once(" / ") {
        Some((zh, en)) => format!("工作表 {name}：{zh} / sheet {name}: {en}"),
        None => format!("工作表 {name}：{said} / sheet {name}: {said}"),
    }
}

/// The day it is, by the relay's clock in China Standard Time: the day a roster read now counts
/// residents' ages on. (A compound in another time zone has its residents a year older up to a
/// day early or late; the file is read before the compound's documents are.)
#[must_use]
pub fn today() -> CalendarDay {
    CalendarDay::at(crate::clock::now(), doorstep_core::schema::utc_offset::UtcOffset::CHINA)
}

/// Whether `bytes` are an Excel workbook by their first bytes (.xlsx is a ZIP archive, .xls an
/// OLE compound file), whatever the file was called or declared as.
#[must_use]
pub fn starts_like_a_workbook(bytes: &[u8]) -> bool {
    bytes.starts_with(ZIP_MAGIC) || bytes.starts_with(OLE_MAGIC)
}

/// Reads `bytes` as a workbook or as a CSV, stopping a workbook's read once `deadline` passes;
/// residents' ages are counted from their birth dates on `today` ([`today`]).
///
/// # Errors
/// [`RosterFileError`] when the file cannot be read at all; bad rows are in the preview.
pub fn read(
    workbook: bool,
    bytes: &[u8],
    deadline: Instant,
    today: CalendarDay,
) -> Result<RosterFile, RosterFileError> {
    if !workbook {
        let preview = read_roster_csv_on(bytes, today)?;
        return Ok(RosterFile {
            preview,
            format: "csv",
            sheet: None,
            sheets: None,
            sheets_read: Vec::new(),
            sheets_skipped: Vec::new(),
        });
    }
    let book = workbook::roster_sheets(bytes, deadline)?;
    let several = book.read.len() > 1;
    let names: Vec<&str> = book.read.iter().map(|s| s.sheet.as_str()).collect();
    let hidden = workbook::hidden_rows::hidden_rows(bytes, &names);
    let mut preview = RosterPreview::default();
    let mut sheets_read = Vec::new();
    for (at, sheet) in book.read.iter().enumerate() {
        let mut one = match read_roster_sheet(sheet.csv.as_bytes(), &sheet.dates, today) {
            Ok(one) => one,
            Err(error) if several => {
                return Err(RosterFileError::Sheet { sheet: sheet.sheet.clone(), error });
            }
            Err(error) => return Err(error.into()),
        };
        let offset = if several { (at + 1) * SHEET_LINES } else { 0 };
        for message in one.errors.iter_mut().chain(one.warnings.iter_mut()) {
            message.line = sheet.sheet_row(message.line);
        }
        for row in &mut one.households {
            row.line = sheet.sheet_row(row.line);
        }
        if let Some(rows) = hidden.get(&sheet.sheet)
            && let Some(warning) = hidden_rows_read(&one, rows)
        {
            one.warnings.push(warning);
            one.warnings.sort_by_key(|w| w.line);
        }
        for message in one.errors.iter_mut().chain(one.warnings.iter_mut()) {
            message.line += offset;
        }
        for row in &mut one.households {
            row.line += offset;
        }
        sheets_read.push(SheetRead {
            sheet: sheet.sheet.clone(),
            households: one.households.len(),
            bad_rows: one.bad_rows,
        });
        merge(&mut preview, one);
    }
    Ok(RosterFile {
        preview,
        format: "xlsx",
        sheet: book.read.first().map(|s| s.sheet.clone()),
        sheets: book.read.first().map(|s| s.sheets),
        sheets_read,
        sheets_skipped: book.skipped,
    })
}

/// Rows hidden in Excel shown in a warning, at most.
const HIDDEN_ROWS_SHOWN: usize = 10;

/// The warning that rows of a sheet read (a household or a bad row; lines as sheet rows) are
/// hidden in Excel, on the first of them: they are read as the sheet holds them, which the
/// coordinator, who does not see them on screen, should know (`workbook/hidden_rows.rs`).
fn hidden_rows_read(sheet: &RosterPreview, hidden: &BTreeSet<usize>) -> Option<RowMessage> {
    let read: BTreeSet<usize> = sheet
        .households
        .iter()
        .map(|h| h.line)
        .chain(sheet.errors.iter().map(|e| e.line))
        .filter(|line| hidden.contains(line))
        .collect();
    let first = *read.first()?;
    let shown: Vec<String> = read.iter().take(HIDDEN_ROWS_SHOWN).map(ToString::to_string).collect();
    let more = if read.len() > HIDDEN_ROWS_SHOWN { ("…", ", …") } else { ("", "") };
    let n = read.len();
    Some(RowMessage {
        line: first,
        column: None,
        value: String::new(),
        code: "hidden_rows",
        reason_zh: format!(
            "有 {n} 行在 Excel 中是隐藏的（或被筛选隐去），仍照常读取：第 {}{} 行；如果其中有不该导入的户（如已搬离），请取消隐藏、删去这些行后重新预览",
            shown.join("、"),
            more.0
        ),
        reason: format!(
            "{n} rows hidden in Excel (or by a filter) are read all the same: rows {}{}; if some should not be imported (moved out, say), unhide them, delete those rows and preview again",
            shown.join(", "),
            more.1
        ),
    })
}

/// Adds one sheet's preview to the workbook's, in tab order: the messages kept up to
/// [`MAX_ERRORS`] in all, the rest counted.
fn merge(into: &mut RosterPreview, sheet: RosterPreview) {
    into.households.extend(sheet.households);
    for (kept, omitted, more, more_omitted) in [
        (&mut into.errors, &mut into.omitted_errors, sheet.errors, sheet.omitted_errors),
        (&mut into.warnings, &mut into.omitted_warnings, sheet.warnings, sheet.omitted_warnings),
    ] {
        *omitted += more_omitted;
        for message in more {
            if kept.len() < MAX_ERRORS {
                kept.push(message);
            } else {
                *omitted += 1;
            }
        }
    }
    into.bad_rows += sheet.bad_rows;
    for column in sheet.ignored_columns {
        if !into.ignored_columns.contains(&column) {
            into.ignored_columns.push(column);
        }
    }
    for column in sheet.columns.iter() {
        into.columns.insert(column);
    }
}

impl RosterFile {
    /// Where the preview's lines are ([`Lines`]).
    pub fn lines(&self) -> Lines<'_> {
        Lines(&self.sheets_read)
    }

    /// [`Lines::locate`].
    pub fn locate(&self, message: &RowMessage) -> (Option<String>, RowMessage) {
        self.lines().locate(message)
    }

    /// [`Lines::sentences`].
    pub fn sentences(&self, message: &RowMessage) -> (String, String) {
        self.lines().sentences(message)
    }
    /// The sheets read and passed over, one line each, Chinese then English, as the command line
    /// prints them; nothing for a CSV.
    pub fn sheets_said(&self) -> Vec<String> {
        said(&self.sheets_read, &self.sheets_skipped)
    }
}

/// The sheets read and passed over, one line each, Chinese then English.
pub fn said(read: &[SheetRead], skipped: &[SkippedSheet]) -> Vec<String> {
    let name = |sheet: &str| shown_names(&[sheet.to_owned()], true);
    let mut lines: Vec<String> = read
        .iter()
        .map(|s| {
            format!(
                "读取工作表 {0}：{1} 户，{2} 行有错误，行号为该表的行号 / read sheet {0}: {1} households, {2} rows with errors; rows are numbered as in the sheet",
                name(&s.sheet),
                s.households,
                s.bad_rows
            )
        })
        .collect();
    lines.extend(skipped.iter().map(|s| {
        format!("未读工作表 {0}：{1} / sheet {0} not read: {2}", name(&s.sheet), s.reason_zh, s.reason)
    }));
    lines
}

/// The roster sheets a workbook's preview was read from, to tell a line's sheet and row.
#[derive(Debug, Clone, Copy)]
pub struct Lines<'a>(pub &'a [SheetRead]);

impl Lines<'_> {
    /// The sheet a line of the preview is on, when several were read, and its row there.
    pub fn place(&self, line: usize) -> (Option<&str>, usize) {
        if self.0.len() < 2 {
            return (None, line);
        }
        let sheet = self.sheet_at(line).map(|s| s.sheet.as_str());
        (sheet, line % SHEET_LINES)
    }

    /// `message` as a coordinator reads it: when several sheets were read, its sheet, its line
    /// the row of that sheet, and every line its words name (another row of the same
    /// household, on whatever sheet) named by sheet and row.
    pub fn locate(&self, message: &RowMessage) -> (Option<String>, RowMessage) {
        let (sheet, row) = self.place(message.line);
        let Some(sheet) = sheet else {
            return (None, message.clone());
        };
        let mut located = message.clone();
        located.line = row;
        located.reason_zh = self.relocate(&message.reason_zh, "第 ", " 行", |sheet, row| {
            format!("工作表 {} 第 {row} 行", shown_names(&[sheet.to_owned()], true))
        });
        located.reason = self.relocate(&message.reason, "line ", "", |sheet, row| {
            format!("line {row} of sheet {}", shown_names(&[sheet.to_owned()], false))
        });
        // One door on two sheets: most often a copy kept beside the roster (last month's).
        if message.code == "same_household" && located.reason.contains(" of sheet ") {
            located.reason_zh.push_str("；如果其中一个工作表是旧的台账（如上月的），请隐藏或删除它");
            located
                .reason
                .push_str("; if one of the sheets is an old copy (last month's, say), hide or delete it");
        }
        (Some(sheet.to_owned()), located)
    }

    fn sheet_at(&self, line: usize) -> Option<&SheetRead> {
        self.0.get((line / SHEET_LINES).checked_sub(1)?)
    }

    /// `message` located ([`Self::locate`]) as one sentence in Chinese and one in English, each
    /// starting with where: `工作表 "2号楼" 第 3 行，房号：…` and `sheet "2号楼", line 3, column 房号: …`.
    pub fn sentences(&self, message: &RowMessage) -> (String, String) {
        let (sheet, located) = self.locate(message);
        let bilingual = located.bilingual();
        let (zh, en) = bilingual.split_once(" / ").unwrap_or((&bilingual, ""));
        match sheet {
            Some(sheet) => {
                let name = shown_names(&[sheet], true);
                (format!("工作表 {name} {zh}"), format!("sheet {name}, {en}"))
            }
            None => (zh.to_owned(), en.to_owned()),
        }
    }

    /// `text` with each `{before}{line}{after}` naming a line of a sheet written as
    /// `name(sheet, row)`; other numbers (a line of the message's own sheet) are left as they are.
    fn relocate(
        &self,
        text: &str,
        before: &str,
        after: &str,
        name: impl Fn(&str, usize) -> String,
    ) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest.find(before) {
            let (head, tail) = rest.split_at(at + before.len());
            out.push_str(head);
            let digits = tail.bytes().take_while(u8::is_ascii_digit).count();
            let line = tail[..digits].parse::<usize>().ok();
            let named = line.filter(|line| *line >= SHEET_LINES && tail[digits..].starts_with(after));
            match named.and_then(|line| self.sheet_at(line).map(|s| (s, line))) {
                Some((sheet, line)) => {
                    // `before` is said again by `name`.
                    out.truncate(out.len() - before.len());
                    out.push_str(&name(&sheet.sheet, line % SHEET_LINES));
                    rest = &tail[digits + after.len()..];
                }
                None => rest = tail,
            }
        }
        out.push_str(rest);
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Duration;

    use rust_xlsxwriter::Workbook;

    use super::*;

    fn per_building() -> Vec<u8> {
        let mut book = Workbook::new();
        for (building, rows) in [
            ("1号楼", [["1", "101", "甲", "2"], ["1", "102", "乙", "3"]]),
            ("2号楼", [["2", "101", "丙", "2"], ["2", "102", "丁", "三"]]),
        ] {
            let sheet = book.add_worksheet();
            sheet.set_name(building).unwrap();
            for (c, header) in ["楼号", "房号", "户主", "户内人数"].into_iter().enumerate() {
                sheet.write_string(0, u16::try_from(c).unwrap(), header).unwrap();
            }
            for (r, row) in rows.iter().enumerate() {
                for (c, cell) in row.iter().enumerate() {
                    sheet
                        .write_string(u32::try_from(r + 1).unwrap(), u16::try_from(c).unwrap(), *cell)
                        .unwrap();
                }
            }
        }
        book.save_to_buffer().unwrap()
    }

    /// Both sheets of a ledger kept per building are read, and a row's message names its sheet
    /// and its row there, as do the lines its words name (a second sheet's 102 was "line
    /// 100000003" before it was told where).
    #[test]
    fn a_row_of_a_workbook_of_several_roster_sheets_is_told_by_sheet_and_row() {
        let file = read(true, &per_building(), Instant::now() + Duration::from_secs(60), today()).unwrap();
        let heads: Vec<&str> = file.preview.households.iter().map(|h| h.draft.head.as_str()).collect();
        assert_eq!(heads, ["甲", "乙", "丙"]);
        let read: Vec<(&str, usize, usize)> =
            file.sheets_read.iter().map(|s| (s.sheet.as_str(), s.households, s.bad_rows)).collect();
        assert_eq!(read, [("1号楼", 2, 0), ("2号楼", 1, 1)]);
        let error = &file.preview.errors[0];
        assert_eq!(file.lines().place(error.line), (Some("2号楼"), 3));
        assert_eq!(
            file.sentences(error),
            (
                "工作表 \"2号楼\" 第 3 行，户内人数：\"三\" 不是整数".to_owned(),
                "sheet \"2号楼\", line 3, column 户内人数: \"三\" is not a whole number".to_owned()
            )
        );
        // What the plan says of a row naming another row, on another sheet or its own.
        let same = RowMessage {
            line: error.line,
            reason_zh: format!("与第 {} 行是同一户；与第 2 行无关", SHEET_LINES + 2),
            reason: format!("is the same household as line {} (香樟苑); not line 2", SHEET_LINES + 2),
            code: "same_household",
            ..error.clone()
        };
        let (sheet, located) = file.locate(&same);
        assert_eq!(sheet.as_deref(), Some("2号楼"));
        assert_eq!(
            located.reason_zh,
            "与工作表 \"1号楼\" 第 2 行是同一户；与第 2 行无关；如果其中一个工作表是旧的台账（如上月的），请隐藏或删除它"
        );
        assert_eq!(
            located.reason,
            "is the same household as line 2 of sheet \"1号楼\" (香樟苑); not line 2; if one of the sheets is an old copy (last month's, say), hide or delete it"
        );
        assert_eq!(
            file.sheets_said()[1],
            "读取工作表 \"2号楼\"：1 户，1 行有错误，行号为该表的行号 / read sheet \"2号楼\": 1 households, 1 rows with errors; rows are numbered as in the sheet"
        );
    }

    /// Rows hidden in Excel were imported with no mention. They are read, as a filter hides
    /// rows of a roster a coordinator means to import, and one warning on each sheet's first
    /// says how many and which, by row (a bad row hidden counts too).
    #[test]
    fn rows_hidden_in_excel_are_read_and_said() {
        let mut book = Workbook::new();
        for name in ["1号楼", "2号楼"] {
            let sheet = book.add_worksheet();
            sheet.set_name(name).unwrap();
            for (c, header) in ["楼号", "房号", "户主", "户内人数"].into_iter().enumerate() {
                sheet.write_string(0, u16::try_from(c).unwrap(), header).unwrap();
            }
            for (r, (flat, people)) in
                [("101", "2"), ("102", "三"), ("103", "1"), ("104", "1")].into_iter().enumerate()
            {
                let r = u32::try_from(r + 1).unwrap();
                for (c, cell) in [name, flat, "某", people].into_iter().enumerate() {
                    sheet.write_string(r, u16::try_from(c).unwrap(), cell).unwrap();
                }
            }
        }
        let first = book.worksheet_from_name("1号楼").unwrap();
        first.set_row_hidden(2).unwrap();
        first.set_row_hidden(3).unwrap();
        // A hidden row under the table holds nothing, and is not said.
        first.set_row_hidden(30).unwrap();
        let file =
            read(true, &book.save_to_buffer().unwrap(), Instant::now() + Duration::from_secs(60), today())
                .unwrap();
        let hidden: Vec<(Option<String>, RowMessage)> = file
            .preview
            .warnings
            .iter()
            .filter(|w| w.code == "hidden_rows")
            .map(|w| file.locate(w))
            .collect();
        assert_eq!(hidden.len(), 1, "{:?}", file.preview.warnings);
        let (sheet, warning) = &hidden[0];
        assert_eq!((sheet.as_deref(), warning.line), (Some("1号楼"), 3));
        assert_eq!(
            warning.reason_zh,
            "有 2 行在 Excel 中是隐藏的（或被筛选隐去），仍照常读取：第 3、4 行；如果其中有不该导入的户（如已搬离），请取消隐藏、删去这些行后重新预览"
        );
        assert!(
            warning
                .reason
                .starts_with("2 rows hidden in Excel (or by a filter) are read all the same: rows 3, 4;")
        );
        assert_eq!(file.preview.households.len(), 6, "hidden rows are read");
    }
}
