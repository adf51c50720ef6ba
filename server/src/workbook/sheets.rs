//! Which sheets of an uploaded workbook are the roster.
//!
//! Coordinators' ledgers come as workbooks of several sheets: 填表说明 (how to fill it in) before
//! the roster, a hidden 数据字典 feeding the drop-down lists, one sheet per building (1号楼,
//! 2号楼, …). The roster is every visible worksheet, in tab order, with a roster header row,
//! found by core's own header search ([`import::check_roster_header`]), so a sheet is taken by
//! the rule the import then reads it by; every other sheet is named with why it was not read
//! ([`SkippedSheet`]). (Only the first was read, and a ledger of one sheet per building imported
//! its first building without a word about the others.) A copy of last month's roster left
//! visible is read too: its rows are the same households as this month's, which the import then
//! names sheet by sheet, rather than dropping a sheet a coordinator can see. Hidden sheets (hidden or very hidden) are not read: the coordinator
//! does not see them on screen, and what is on them is not what they meant to import. Chart,
//! dialog and macro sheets hold no cells to read.
//!
//! Each sheet is read whole (its cells, then its merged regions, since a merged heading can make
//! the header row), one at a time, and dropped when it is not a roster; what they cost is
//! counted across all of them in one `Budget`, so a workbook of many sheets costs no more than
//! one sheet at the bounds. When none has a header row, the refusal names the sheets read, the
//! one that came closest and what it lacks, and the hidden sheets passed over.

use std::io::{Read, Seek};

use calamine::{Reader, SheetType, SheetVisible, Xlsx};
use doorstep_core::import::{self, ImportError, RosterColumn, shown_names};

use super::{Budget, SheetCsv, WorkbookError};

/// The sheet read that came closest to a roster header row, and what it lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closest {
    /// The sheet's name.
    pub sheet: String,
    /// The required columns its closest row lacks, by their Chinese header.
    pub missing: Vec<String>,
    /// The headers of that row, as written.
    pub found: Vec<String>,
}

/// A sheet of the workbook that was not read as a roster, and why, in Chinese and English: the
/// dashboard's preview and the command line list them beside the sheets read.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SkippedSheet {
    /// The sheet's name.
    pub sheet: String,
    /// `hidden`, `no_header`, `empty` or `not_cells` (a chart or dialog sheet).
    pub code: &'static str,
    /// Why, in Chinese, with what to do if it was meant to be read.
    pub reason_zh: String,
    /// Why, in English.
    pub reason: String,
}

impl SkippedSheet {
    fn new(sheet: &str, code: &'static str, reason_zh: String, reason: String) -> Self {
        SkippedSheet { sheet: sheet.to_owned(), code, reason_zh, reason }
    }
}

/// The roster sheets of a workbook, in tab order, and the sheets passed over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterSheets {
    /// Every visible worksheet with a roster header row, as CSV.
    pub read: Vec<SheetCsv>,
    /// Every other sheet, and why it was not read.
    pub skipped: Vec<SkippedSheet>,
}

/// Reads the roster's sheets: every visible worksheet whose CSV has a roster header row (a
/// ledger kept as one sheet per building, 1号楼, 2号楼, …, is read whole), and says of every
/// other sheet why it was not read.
pub(super) fn roster_sheets<R: Read + Seek>(
    workbook: &mut Xlsx<R>,
    budget: &mut Budget,
) -> Result<RosterSheets, WorkbookError> {
    let sheets = workbook.sheets_metadata().to_vec();
    if sheets.is_empty() {
        return Err(WorkbookError::NoSheet);
    }
    let required = RosterColumn::ALL.iter().filter(|c| c.is_required()).count();
    let mut out = RosterSheets { read: Vec::new(), skipped: Vec::new() };
    let mut looked_at = Vec::new();
    let mut searched_short = Vec::new();
    let mut closest: Option<Closest> = None;
    for sheet in &sheets {
        let name = sheet.name.as_str();
        if sheet.visible != SheetVisible::Visible {
            if sheet.typ == SheetType::WorkSheet {
                out.skipped.push(SkippedSheet::new(
                    name,
                    "hidden",
                    "隐藏的工作表，没有读（屏幕上看不到的内容不导入）；如要导入，请在 Excel 中取消隐藏后重新导入".to_owned(),
                    "a hidden sheet, not read (what is not on screen is not imported); to import it, unhide it in Excel and import again"
                        .to_owned(),
                ));
            }
            continue;
        }
        if sheet.typ != SheetType::WorkSheet {
            out.skipped.push(SkippedSheet::new(
                name,
                "not_cells",
                "不是表格（图表或对话框工作表），没有读".to_owned(),
                "not a sheet of cells (a chart or dialog sheet), not read".to_owned(),
            ));
            continue;
        }
        let csv = super::read_sheet(workbook, name, budget)?;
        match import::check_roster_header(&csv.csv) {
            Err(ImportError::MissingColumns { missing, found, cut_short }) => {
                if cut_short {
                    searched_short.push(name.to_owned());
                }
                let (zh, en) = if missing.len() < required {
                    (
                        format!(
                            "没有台账表头行（缺 {} 列，找到的是：{}），没有读；如果这是台账，请把表头写成 楼号、房号、户主",
                            missing.join("、"),
                            shown_names(&found, true)
                        ),
                        format!(
                            "no roster header row (no {} column; found: {}), not read; if it is a roster, head its columns 楼号, 房号 and 户主",
                            missing.join(", "),
                            shown_names(&found, false)
                        ),
                    )
                } else {
                    (
                        "没有含 楼号、房号、户主 的表头行，不是台账，没有读".to_owned(),
                        "no header row with 楼号, 房号 and 户主: not a roster, not read".to_owned(),
                    )
                };
                out.skipped.push(SkippedSheet::new(name, "no_header", zh, en));
                // A row naming none of the required columns is no nearer a roster than a title.
                if missing.len() < required
                    && closest.as_ref().is_none_or(|c| missing.len() < c.missing.len())
                {
                    closest = Some(Closest { sheet: name.to_owned(), missing, found });
                }
            }
            Err(ImportError::Empty) => out.skipped.push(SkippedSheet::new(
                name,
                "empty",
                "空白工作表，没有读".to_owned(),
                "an empty sheet, not read".to_owned(),
            )),
            // A header row, or one the import refuses for its own reason (a column named twice),
            // which it then says, naming the sheet.
            _ => {
                out.read.push(csv);
                continue;
            }
        }
        looked_at.push(name.to_owned());
    }
    if !out.read.is_empty() {
        return Ok(out);
    }
    let hidden = sheets
        .iter()
        .filter(|s| s.typ == SheetType::WorkSheet && s.visible != SheetVisible::Visible)
        .map(|s| s.name.clone())
        .collect();
    Err(WorkbookError::NoRosterSheet { read: looked_at, hidden, closest, searched_short })
}

/// The refusal when no sheet read has a roster header row, in Chinese, then English.
pub(super) fn no_roster_sheet(
    read: &[String],
    hidden: &[String],
    closest: Option<&Closest>,
    searched_short: &[String],
) -> String {
    let (mut zh, mut en) = if read.is_empty() {
        ("工作簿里没有可见的工作表".to_owned(), "the workbook has no visible sheet".to_owned())
    } else {
        (
            format!(
                "没有找到台账：工作表 {} 中没有含 楼号、房号、户主 三列的表头行",
                shown_names(read, true)
            ),
            format!(
                "no roster found: no sheet read ({}) has a header row with 楼号, 房号 and 户主 (building, flat and head)",
                shown_names(read, false)
            ),
        )
    };
    if let Some(c) = closest {
        let sheet = shown_names(std::slice::from_ref(&c.sheet), true);
        zh += &format!(
            "（最接近的是 {sheet}：没有 {} 列，找到的是：{}）",
            c.missing.join("、"),
            shown_names(&c.found, true)
        );
        en += &format!(
            " (the closest, {sheet}, has no {} column; found: {})",
            c.missing.join(", "),
            shown_names(&c.found, false)
        );
    }
    if !searched_short.is_empty() {
        zh += &format!("；工作表 {} {}", shown_names(searched_short, true), import::header_search_note(true));
        en += &format!(
            "; in sheet {}, {}",
            shown_names(searched_short, false),
            import::header_search_note(false)
        );
    }
    if !hidden.is_empty() {
        zh += &format!("；隐藏的工作表 {} 没有读", shown_names(hidden, true));
        en += &format!("; hidden sheets are not read ({})", shown_names(hidden, false));
    }
    format!(
        "{zh}。请把台账放在一个可见的工作表里，表头写 楼号、房号、户主 / \
         {en}. Put the roster on a visible sheet whose header row has 楼号, 房号 and 户主"
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::{Duration, Instant};

    use rust_xlsxwriter::{Workbook, Worksheet};

    use super::super::sheet_to_csv;
    use super::*;

    fn later() -> Instant {
        Instant::now() + Duration::from_secs(60)
    }

    /// A sheet with `rows`, one string per cell, from A1.
    fn write_rows(sheet: &mut Worksheet, rows: &[&[&str]]) {
        for (r, row) in rows.iter().enumerate() {
            for (c, text) in row.iter().enumerate() {
                sheet.write_string(u32::try_from(r).unwrap(), u16::try_from(c).unwrap(), *text).unwrap();
            }
        }
    }

    /// The instructions coordinators put before the roster.
    fn instructions(sheet: &mut Worksheet) {
        sheet.set_name("填表说明").unwrap();
        write_rows(sheet, &[&["请按模板填写，每户一行；楼号只写数字"], &["管控状态从下拉列表中选"]]);
    }

    fn roster(sheet: &mut Worksheet) {
        sheet.set_name("台账").unwrap();
        write_rows(
            sheet,
            &[
                &["北林小区住户台账"],
                &["楼号", "单元", "房号", "户主"],
                &["1", "1", "101", "张三"],
                &["1", "1", "102", "李四"],
            ],
        );
    }

    /// A workbook of 填表说明 then the roster was refused, "the header row has no 楼号, 房号, 户主
    /// column (found: "请按模板填写…")": only the first sheet was read. The roster is the first
    /// visible sheet with a header row, and its rows keep their Excel numbers.
    #[test]
    fn a_roster_behind_an_instructions_sheet_is_read() {
        let mut book = Workbook::new();
        instructions(book.add_worksheet());
        roster(book.add_worksheet());
        let later_copy = book.add_worksheet();
        later_copy.set_name("上月台账").unwrap();
        write_rows(later_copy, &[&["楼号", "房号", "户主"], &["9", "901", "不读"]]);
        let bytes = book.save_to_buffer().unwrap();
        let sheet = sheet_to_csv(&bytes, later()).unwrap();
        assert_eq!((sheet.sheet.as_str(), sheet.sheets), ("台账", 3));
        let preview =
            import::read_roster_sheet(sheet.csv.as_bytes(), &sheet.dates, crate::roster_file::today())
                .unwrap();
        let read: Vec<(usize, &str)> =
            preview.households.iter().map(|h| (sheet.sheet_row(h.line), h.draft.head.as_str())).collect();
        assert_eq!(read, [(3, "张三"), (4, "李四")]);
        // Every visible sheet with a roster header row is read, a copy of last month's too (a
        // coordinator sees it; the import then names its rows as the same households), and the
        // instructions are named as not read, and why.
        let book = super::super::roster_sheets(&bytes, later()).unwrap();
        let read: Vec<&str> = book.read.iter().map(|s| s.sheet.as_str()).collect();
        assert_eq!(read, ["台账", "上月台账"]);
        let skipped: Vec<(&str, &str)> = book.skipped.iter().map(|s| (s.sheet.as_str(), s.code)).collect();
        assert_eq!(skipped, [("填表说明", "no_header")]);
        assert_eq!(book.skipped[0].reason_zh, "没有含 楼号、房号、户主 的表头行，不是台账，没有读");
    }

    /// A ledger kept as one sheet per building: only 1号楼 was read, and 2号楼 and 3号楼 were
    /// dropped without a word. Every one is read; a hidden sheet and a sheet whose header lacks
    /// 户主 are named as not read, each with why.
    #[test]
    fn every_visible_sheet_with_a_roster_header_is_read() {
        let mut book = Workbook::new();
        for building in ["1号楼", "2号楼", "3号楼"] {
            let sheet = book.add_worksheet();
            sheet.set_name(building).unwrap();
            write_rows(
                sheet,
                &[&["楼号", "房号", "户主"], &[building, "101", "甲"], &[building, "102", "乙"]],
            );
        }
        let hidden = book.add_worksheet();
        hidden.set_name("4号楼").unwrap();
        write_rows(hidden, &[&["楼号", "房号", "户主"], &["4", "101", "丙"]]);
        hidden.set_hidden(true);
        let typo = book.add_worksheet();
        typo.set_name("5号楼").unwrap();
        write_rows(typo, &[&["楼号", "房号", "房主"], &["5", "101", "丁"]]);
        book.add_worksheet().set_name("空白").unwrap();
        let book = super::super::roster_sheets(&book.save_to_buffer().unwrap(), later()).unwrap();
        let read: Vec<&str> = book.read.iter().map(|s| s.sheet.as_str()).collect();
        assert_eq!(read, ["1号楼", "2号楼", "3号楼"]);
        let skipped: Vec<(&str, &str)> = book.skipped.iter().map(|s| (s.sheet.as_str(), s.code)).collect();
        assert_eq!(skipped, [("4号楼", "hidden"), ("5号楼", "no_header"), ("空白", "empty")]);
        assert_eq!(
            (book.skipped[1].reason_zh.as_str(), book.skipped[1].reason.as_str()),
            (
                "没有台账表头行（缺 户主 列，找到的是：\"楼号\", \"房号\", \"房主\"），没有读；如果这是台账，请把表头写成 楼号、房号、户主",
                "no roster header row (no 户主 column; found: \"楼号\", \"房号\", \"房主\"), not read; if it is a roster, head its columns 楼号, 房号 and 户主"
            )
        );
        assert!(book.skipped[0].reason_zh.contains("取消隐藏"), "{:?}", book.skipped[0]);
    }

    /// A hidden 数据字典 first (the lists behind the drop-downs) was read as the roster; it has a
    /// header row of its own, but the coordinator never sees it. Hidden sheets are not read.
    #[test]
    fn a_hidden_first_sheet_is_passed_over() {
        let mut book = Workbook::new();
        let dictionary = book.add_worksheet();
        dictionary.set_name("数据字典").unwrap();
        write_rows(
            dictionary,
            &[&["楼号", "房号", "户主", "管控状态"], &["", "", "", "正常"], &["", "", "", "居家隔离"]],
        );
        dictionary.set_hidden(true);
        let very = book.add_worksheet();
        very.set_name("隐藏").unwrap();
        write_rows(very, &[&["楼号", "房号", "户主"], &["8", "801", "也不读"]]);
        very.set_very_hidden(true);
        roster(book.add_worksheet().set_active(true));
        let sheet = sheet_to_csv(&book.save_to_buffer().unwrap(), later()).unwrap();
        assert_eq!((sheet.sheet.as_str(), sheet.sheets), ("台账", 3));
        assert!(sheet.csv.starts_with("北林小区住户台账,,,\n楼号,单元,房号,户主\n"), "{}", sheet.csv);
    }

    /// No visible sheet has a header row: the refusal says which sheets were read, which came
    /// closest and what it lacks, and which hidden ones were not read, in Chinese, then English.
    #[test]
    fn a_workbook_without_a_roster_sheet_names_the_sheets_looked_at() {
        let mut book = Workbook::new();
        instructions(book.add_worksheet());
        let typo = book.add_worksheet();
        typo.set_name("Sheet2").unwrap();
        write_rows(typo, &[&["楼号", "房号", "房主"], &["1", "101", "张三"]]);
        book.add_worksheet().set_name("空白").unwrap();
        let hidden = book.add_worksheet();
        hidden.set_name("数据字典").unwrap();
        write_rows(hidden, &[&["楼号", "房号", "户主"]]);
        hidden.set_hidden(true);
        let e = sheet_to_csv(&book.save_to_buffer().unwrap(), later()).unwrap_err();
        assert!(
            matches!(&e, WorkbookError::NoRosterSheet { read, hidden, closest: Some(c), .. }
                if read == &["填表说明", "Sheet2", "空白"] && hidden == &["数据字典"] && c.sheet == "Sheet2"),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "没有找到台账：工作表 \"填表说明\", \"Sheet2\", \"空白\" 中没有含 楼号、房号、户主 三列的表头行\
             （最接近的是 \"Sheet2\"：没有 户主 列，找到的是：\"楼号\", \"房号\", \"房主\"）；隐藏的工作表 \"数据字典\" 没有读。\
             请把台账放在一个可见的工作表里，表头写 楼号、房号、户主 / \
             no roster found: no sheet read (\"填表说明\", \"Sheet2\", \"空白\") has a header row with 楼号, 房号 and 户主 \
             (building, flat and head) (the closest, \"Sheet2\", has no 户主 column; found: \"楼号\", \"房号\", \"房主\"); \
             hidden sheets are not read (\"数据字典\"). Put the roster on a visible sheet whose header row has 楼号, 房号 and 户主"
        );
        // A sheet of instructions alone says no more than that it is not a roster.
        let mut book = Workbook::new();
        instructions(book.add_worksheet());
        let e = sheet_to_csv(&book.save_to_buffer().unwrap(), later()).unwrap_err().to_string();
        assert!(e.starts_with("没有找到台账：工作表 \"填表说明\" 中没有"), "{e}");
        assert!(!e.contains("非空行"), "{e}");
        // A header row below the rows searched: the refusal says only those were.
        let mut book = Workbook::new();
        let low = book.add_worksheet();
        let title: &[&str] = &["标题"];
        let mut rows = vec![title; 49];
        rows.extend([&["楼号", "房号", "户主"][..], &["1", "101", "张三"][..]]);
        write_rows(low, &rows);
        let e = sheet_to_csv(&book.save_to_buffer().unwrap(), later()).unwrap_err().to_string();
        assert!(e.contains("；工作表 \"Sheet1\" 只在前 10 个非空行里找表头"), "{e}");
        assert!(
            e.contains(
                "; in sheet \"Sheet1\", only the first 10 non-blank rows are searched for the header row"
            ),
            "{e}"
        );
        assert!(!e.contains("请按模板填写") && !e.contains("closest"), "{e}");
    }
}
