//! Which sheet of an uploaded workbook is the roster.
//!
//! Coordinators' ledgers come as workbooks of several sheets: 填表说明 (how to fill it in) before
//! the roster, a hidden 数据字典 feeding the drop-down lists, last month's copy after it. The
//! roster is the first visible worksheet, in tab order, with a roster header row, found by core's
//! own header search ([`import::check_roster_header`]), so a sheet is taken by the rule the
//! import then reads it by. Hidden sheets (hidden or very hidden) are not read: the coordinator
//! does not see them on screen, and what is on them is not what they meant to import. Chart,
//! dialog and macro sheets hold no cells to read.
//!
//! Each sheet is read whole (its cells, then its merged regions, since a merged heading can make
//! the header row), one at a time, and dropped when it is not the roster; what they cost is
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

/// Reads the roster's sheet: the first visible worksheet whose CSV has a roster header row.
pub(super) fn roster_sheet<R: Read + Seek>(
    workbook: &mut Xlsx<R>,
    budget: &mut Budget,
) -> Result<SheetCsv, WorkbookError> {
    let sheets = workbook.sheets_metadata().to_vec();
    if sheets.is_empty() {
        return Err(WorkbookError::NoSheet);
    }
    let required = RosterColumn::ALL.iter().filter(|c| c.is_required()).count();
    let mut read = Vec::new();
    let mut searched_short = Vec::new();
    let mut closest: Option<Closest> = None;
    for sheet in sheets.iter().filter(|s| s.typ == SheetType::WorkSheet && s.visible == SheetVisible::Visible)
    {
        let csv = super::read_sheet(workbook, &sheet.name, budget)?;
        match import::check_roster_header(&csv.csv) {
            Err(ImportError::MissingColumns { missing, found, cut_short }) => {
                if cut_short {
                    searched_short.push(sheet.name.clone());
                }
                // A row naming none of the required columns is no nearer a roster than a title.
                if missing.len() < required
                    && closest.as_ref().is_none_or(|c| missing.len() < c.missing.len())
                {
                    closest = Some(Closest { sheet: sheet.name.clone(), missing, found });
                }
            }
            Err(ImportError::Empty) => {}
            // A header row, or one the import refuses for its own reason (a column named twice),
            // which it then says.
            _ => return Ok(csv),
        }
        read.push(sheet.name.clone());
    }
    let hidden = sheets
        .iter()
        .filter(|s| s.typ == SheetType::WorkSheet && s.visible != SheetVisible::Visible)
        .map(|s| s.name.clone())
        .collect();
    Err(WorkbookError::NoRosterSheet { read, hidden, closest, searched_short })
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
        let sheet = sheet_to_csv(&book.save_to_buffer().unwrap(), later()).unwrap();
        assert_eq!((sheet.sheet.as_str(), sheet.sheets), ("台账", 3));
        let preview = import::read_roster_sheet(sheet.csv.as_bytes(), &sheet.dates).unwrap();
        let read: Vec<(usize, &str)> =
            preview.households.iter().map(|h| (sheet.sheet_row(h.line), h.draft.head.as_str())).collect();
        assert_eq!(read, [(3, "张三"), (4, "李四")]);
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
