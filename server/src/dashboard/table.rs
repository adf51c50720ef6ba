//! One table, two files: every export is built as a [`Table`] and written either as CSV (UTF-8
//! with a byte-order mark, which Excel needs to show Chinese) or as an .xlsx workbook, so the two
//! downloads of one export always hold the same rows.
//!
//! CSV cells are written through [`crate::csv_cell::neutralise`], so a cell that a spreadsheet
//! would run as a formula is quoted, and read back through [`crate::csv_cell::restore`]; the
//! workbook's cells are typed text and need no quote.
//!
//! In the workbook, counts are numbers (they sum in Excel) and everything else is text: a phone
//! number or a flat like "0702" must never become a number Excel reformats.

use rust_xlsxwriter::{Format, Workbook, XlsxError};

/// One cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    /// Text, kept as typed.
    Text(String),
    /// A whole number.
    Number(i64),
}

impl Cell {
    fn as_text(&self) -> String {
        match self {
            Cell::Text(t) => t.clone(),
            Cell::Number(n) => n.to_string(),
        }
    }
}

impl From<String> for Cell {
    fn from(s: String) -> Self {
        Cell::Text(s)
    }
}

impl From<&str> for Cell {
    fn from(s: &str) -> Self {
        Cell::Text(s.to_owned())
    }
}

/// Why a table could not be written.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// CSV writing or reading failed.
    #[error("CSV: {0}")]
    Csv(#[from] csv::Error),
    /// Workbook writing failed.
    #[error("workbook: {0}")]
    Xlsx(#[from] XlsxError),
}

/// A sheet of an export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// The sheet's name in the workbook.
    pub sheet: String,
    /// The header row.
    pub headers: Vec<String>,
    /// The rows.
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    /// A table read back from a CSV the relay wrote (the first record is the header row; cells
    /// lose the quote [`crate::csv_cell::neutralise`] gave them), with the columns
    /// named in `numeric` as numbers wherever their value is a whole number.
    pub fn from_csv(sheet: &str, text: &str, numeric: &[&str]) -> Result<Table, TableError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut reader =
            csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
        let mut records = reader.records();
        let headers: Vec<String> = match records.next() {
            Some(record) => record?.iter().map(str::to_owned).collect(),
            None => Vec::new(),
        };
        let is_numeric: Vec<bool> = headers.iter().map(|h| numeric.contains(&h.as_str())).collect();
        let mut rows = Vec::new();
        for record in records {
            let record = record?;
            rows.push(
                record
                    .iter()
                    .map(crate::csv_cell::restore)
                    .enumerate()
                    .map(|(i, value)| match value.parse::<i64>() {
                        Ok(n) if is_numeric.get(i).copied().unwrap_or(false) => Cell::Number(n),
                        _ => Cell::Text(value.to_owned()),
                    })
                    .collect(),
            );
        }
        Ok(Table { sheet: sheet.to_owned(), headers, rows })
    }

    /// The rows whose value in column `header` satisfies `keep`.
    pub fn filtered(mut self, header: &str, keep: impl Fn(&Cell) -> bool) -> Table {
        if let Some(i) = self.headers.iter().position(|h| h == header) {
            self.rows.retain(|row| row.get(i).is_some_and(&keep));
        }
        self
    }

    /// CSV, UTF-8 with a byte-order mark.
    pub fn to_csv(&self) -> Result<String, TableError> {
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.write_record(self.headers.iter().map(|h| crate::csv_cell::neutralise(h).into_owned()))?;
        for row in &self.rows {
            writer.write_record(
                row.iter().map(|cell| crate::csv_cell::neutralise(&cell.as_text()).into_owned()),
            )?;
        }
        let bytes = writer.into_inner().map_err(|e| TableError::Csv(e.into_error().into()))?;
        // Every cell came in as a Rust string, so the bytes are UTF-8.
        Ok(format!("\u{feff}{}", String::from_utf8_lossy(&bytes)))
    }

    /// An .xlsx workbook of one sheet: bold header row, frozen, columns sized to their text.
    pub fn to_xlsx(&self) -> Result<Vec<u8>, TableError> {
        let mut book = Workbook::new();
        let sheet = book.add_worksheet();
        sheet.set_name(sheet_name(&self.sheet))?;
        let bold = Format::new().set_bold();
        let wrap = Format::new().set_text_wrap().set_align(rust_xlsxwriter::FormatAlign::Top);
        let mut widths: Vec<usize> = self.headers.iter().map(|h| display_width(h)).collect();
        for (col, header) in self.headers.iter().enumerate() {
            sheet.write_string_with_format(0, column(col), header, &bold)?;
        }
        for (r, row) in self.rows.iter().enumerate() {
            let r = u32::try_from(r + 1).unwrap_or(u32::MAX);
            for (col, cell) in row.iter().enumerate() {
                match cell {
                    Cell::Text(t) if t.is_empty() => {}
                    Cell::Text(t) if t.contains('\n') => {
                        sheet.write_string_with_format(r, column(col), fit_cell(t), &wrap)?;
                    }
                    Cell::Text(t) => {
                        sheet.write_string(r, column(col), fit_cell(t))?;
                    }
                    // Counts and floors are far below 2^53, so the float is exact.
                    #[allow(clippy::cast_precision_loss)]
                    Cell::Number(n) => {
                        sheet.write_number(r, column(col), *n as f64)?;
                    }
                }
                let width = cell.as_text().lines().map(display_width).max().unwrap_or(0);
                if let Some(w) = widths.get_mut(col) {
                    *w = (*w).max(width);
                }
            }
        }
        for (col, width) in widths.iter().enumerate() {
            let width = u32::try_from((*width).clamp(4, 60) + 2).unwrap_or(62);
            sheet.set_column_width(column(col), width)?;
        }
        sheet.set_freeze_panes(1, 0)?;
        Ok(book.save_to_buffer()?)
    }
}

fn column(i: usize) -> u16 {
    u16::try_from(i).unwrap_or(u16::MAX)
}

/// Roughly how many character cells text takes: Chinese characters take two.
fn display_width(text: &str) -> usize {
    text.chars().map(|c| if c.is_ascii() { 1 } else { 2 }).sum()
}

/// A sheet name Excel accepts: at most 31 UTF-16 code units (an emoji takes two), none of
/// `[]:*?/\\`, no control character, not starting or ending with an apostrophe.
fn sheet_name(name: &str) -> String {
    let mut units = 0;
    let clean: String = name
        .chars()
        .filter(|c| !matches!(c, '[' | ']' | ':' | '*' | '?' | '/' | '\\') && !c.is_control())
        .take_while(|c| {
            units += c.len_utf16();
            units <= EXCEL_SHEET_NAME_UNITS
        })
        .collect();
    let clean = clean.trim_matches(|c: char| c == '\'' || c.is_whitespace()).to_owned();
    if clean.is_empty() { "Sheet1".to_owned() } else { clean }
}

/// Excel's limits, counted as it counts them, in UTF-16 code units.
const EXCEL_SHEET_NAME_UNITS: usize = 31;
const EXCEL_CELL_UNITS: usize = 32_767;

/// What is said at the end of a cell cut to Excel's limit.
const CUT: &str = "…［已截断，完整内容见 CSV / cut here, the CSV holds it all］";

/// A cell's text as Excel takes it: a text longer than a cell holds (many long knocks on one
/// task, notes merged from many phones) is cut, saying so, rather than failing the workbook.
fn fit_cell(text: &str) -> std::borrow::Cow<'_, str> {
    if text.len() <= EXCEL_CELL_UNITS || text.encode_utf16().count() <= EXCEL_CELL_UNITS {
        return std::borrow::Cow::Borrowed(text);
    }
    let room = EXCEL_CELL_UNITS - CUT.encode_utf16().count();
    let mut units = 0;
    let kept: String = text
        .chars()
        .take_while(|c| {
            units += c.len_utf16();
            units <= room
        })
        .collect();
    std::borrow::Cow::Owned(format!("{kept}{CUT}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn csv_round_trips_with_numbers_where_asked() {
        let table =
            Table::from_csv("台账", "\u{feff}房号,户内人数,电话\n0702,2,199\n", &["户内人数"]).unwrap();
        assert_eq!(table.rows, vec![vec![Cell::from("0702"), Cell::Number(2), Cell::from("199")]]);
        assert_eq!(table.to_csv().unwrap(), "\u{feff}房号,户内人数,电话\n0702,2,199\n");
        let only = table.clone().filtered("电话", |c| *c == Cell::from("x"));
        assert!(only.rows.is_empty());
    }

    #[test]
    fn sheet_names_are_what_excel_accepts() {
        assert_eq!(sheet_name("蔬菜包 第1轮 [1/2]"), "蔬菜包 第1轮 12");
        assert_eq!(sheet_name("???"), "Sheet1");
        assert_eq!(sheet_name(&"长".repeat(40)).chars().count(), 31);
        // Excel counts UTF-16 code units: an emoji is two.
        assert_eq!(sheet_name(&"😀".repeat(31)), "😀".repeat(15));
        assert_eq!(sheet_name(" 'x' "), "x");
        assert_eq!(sheet_name("a\u{0}b\u{1b}c\n"), "abc");
        for odd in
            ["😀".repeat(31), " 'x' ".to_owned(), "a\u{0}b".to_owned(), "'".repeat(40), "x".repeat(30) + "😀"]
        {
            let table = Table { sheet: odd.clone(), headers: vec!["a".into()], rows: Vec::new() };
            table.to_xlsx().unwrap_or_else(|e| panic!("{odd:?}: {e}"));
        }
    }

    #[test]
    fn a_cell_longer_than_excel_holds_is_cut_saying_so_and_the_workbook_is_written() {
        let long = "敲门无人😀".repeat(10_000);
        let cut = fit_cell(&long);
        assert_eq!(cut.encode_utf16().count(), EXCEL_CELL_UNITS, "cut to the limit exactly");
        assert!(cut.ends_with(CUT) && long.starts_with(cut.trim_end_matches(CUT)));
        assert!(matches!(fit_cell("短"), std::borrow::Cow::Borrowed("短")));
        let table = Table {
            sheet: "第1轮".into(),
            headers: vec!["敲门记录".into(), "备注".into()],
            rows: vec![vec![Cell::from(long.as_str()), Cell::from(format!("a\n{long}").as_str())]],
        };
        assert!(!table.to_xlsx().unwrap().is_empty());
    }
}
