//! Reading an uploaded Excel workbook (.xlsx) as the CSV text core's importer reads, so that a
//! workbook and its "Save As CSV" import by the same rules and fail with the same row errors.
//!
//! The first sheet is written out row by row, cell by cell: text as it is, whole numbers without
//! Excel's ".0" (a phone number typed as a number, 19908923609, stays 19908923609), other numbers
//! in their shortest form, booleans as `true`/`false`, error cells as Excel shows them (`#N/A`).
//! Each sheet row becomes the CSV line of the same number (empty rows become empty lines, which
//! the importer skips), so "line 12" in a row error is row 12 in Excel; a cell holding a line
//! break would shift the lines after it, so errors are mapped back to sheet rows.
//!
//! Cells are streamed, never laid out as a whole-sheet grid: a sheet whose used range claims a
//! million rows by sixteen thousand columns costs only the cells it really has, and conversion
//! stops as soon as the text outgrows what the importer accepts.

use std::collections::BTreeMap;
use std::io::Cursor;

use calamine::{DataRef, Reader, Xlsx};
use doorstep_core::import::{ImportError, MAX_INPUT_BYTES, MAX_ROWS};

/// An .xlsx workbook is a ZIP archive.
pub const ZIP_MAGIC: &[u8] = b"PK\x03\x04";
/// An .xls workbook (Excel 97–2003) is an OLE compound file.
pub const OLE_MAGIC: &[u8] = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1";

/// Columns read from a sheet; a roster has 14, and a sheet that uses more is not a roster.
pub const MAX_COLUMNS: u32 = 256;

/// Why a workbook cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum WorkbookError {
    /// The bytes are not a workbook we read.
    #[error("the file cannot be read as an Excel workbook (.xlsx): {0}")]
    Unreadable(String),
    /// The workbook is in the old binary format.
    #[error(
        "the file is an Excel 97-2003 workbook (.xls); in Excel use 另存为 (Save As) → \"Excel 工作簿 (*.xlsx)\" or \"CSV UTF-8 (逗号分隔)\" and upload that"
    )]
    OldFormat,
    /// The workbook has no sheet.
    #[error("the workbook has no sheet")]
    NoSheet,
    /// The sheet uses too many columns.
    #[error(
        "the first sheet uses column {column}; a roster has at most {MAX_COLUMNS} columns, so delete the extra ones"
    )]
    TooManyColumns {
        /// The 1-based column.
        column: u32,
    },
    /// The sheet is larger than an import may be.
    #[error(transparent)]
    TooLarge(#[from] ImportError),
}

/// The first sheet as CSV, and where each CSV line came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SheetCsv {
    /// The sheet's name.
    pub sheet: String,
    /// UTF-8 CSV text.
    pub csv: String,
    /// CSV line → sheet row (both 1-based), for every row that has cells.
    rows: BTreeMap<usize, usize>,
}

impl SheetCsv {
    /// The sheet row a CSV line (as a row error reports it) came from.
    pub fn sheet_row(&self, line: usize) -> usize {
        self.rows.get(&line).copied().unwrap_or(line)
    }
}

/// Reads the first sheet of an .xlsx workbook into CSV.
pub fn sheet_to_csv(bytes: &[u8]) -> Result<SheetCsv, WorkbookError> {
    if bytes.starts_with(OLE_MAGIC) {
        return Err(WorkbookError::OldFormat);
    }
    let mut workbook: Xlsx<_> =
        Xlsx::new(Cursor::new(bytes)).map_err(|e| WorkbookError::Unreadable(e.to_string()))?;
    let sheet = workbook.sheet_names().into_iter().next().ok_or(WorkbookError::NoSheet)?;
    let mut cells =
        workbook.worksheet_cells_reader(&sheet).map_err(|e| WorkbookError::Unreadable(e.to_string()))?;
    // Row → column → text, for the cells that hold something.
    let mut grid: BTreeMap<u32, BTreeMap<u32, String>> = BTreeMap::new();
    let mut size = 0usize;
    while let Some(cell) = cells.next_cell().map_err(|e| WorkbookError::Unreadable(e.to_string()))? {
        let (row, column) = cell.get_position();
        let text = text_of(cell.get_value());
        if text.is_empty() {
            continue;
        }
        if column >= MAX_COLUMNS {
            return Err(WorkbookError::TooManyColumns { column: column + 1 });
        }
        if usize::try_from(row).unwrap_or(usize::MAX) > MAX_ROWS + 1_000 {
            return Err(ImportError::TooManyRows { limit: MAX_ROWS }.into());
        }
        size += text.len() + 3;
        if size > MAX_INPUT_BYTES {
            return Err(ImportError::TooLarge { bytes: size, limit: MAX_INPUT_BYTES }.into());
        }
        grid.entry(row).or_default().insert(column, text);
    }
    drop(cells);

    // Every row as wide as the widest, as Excel's own "Save As CSV" writes them: a row whose
    // last cells are empty still has their commas.
    let width = grid.values().filter_map(|cells| cells.keys().next_back()).max().map_or(0, |last| last + 1);
    let mut csv = String::with_capacity(size + grid.len() * usize::try_from(width).unwrap_or(0));
    let mut rows = BTreeMap::new();
    let mut line = 1usize;
    let mut next_row = 0u32;
    for (row, cells) in grid {
        // Empty rows become empty lines, so that CSV lines stay sheet rows.
        for _ in next_row..row {
            csv.push('\n');
            line += 1;
        }
        rows.insert(line, usize::try_from(row).unwrap_or(usize::MAX).saturating_add(1));
        for column in 0..width {
            if column > 0 {
                csv.push(',');
            }
            if let Some(text) = cells.get(&column) {
                push_field(&mut csv, text);
            }
        }
        csv.push('\n');
        line += 1 + cells.values().map(|t| t.matches('\n').count()).sum::<usize>();
        next_row = row + 1;
    }
    Ok(SheetCsv { sheet, csv, rows })
}

/// A cell as text, the way the coordinator sees it in Excel.
fn text_of(value: &DataRef<'_>) -> String {
    match value {
        DataRef::Empty => String::new(),
        DataRef::String(s) | DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => s.clone(),
        DataRef::SharedString(s) => (*s).to_owned(),
        DataRef::Int(i) => i.to_string(),
        DataRef::Float(f) => number(*f),
        DataRef::Bool(b) => b.to_string(),
        DataRef::DateTime(d) => d.to_string(),
        DataRef::Error(e) => e.to_string(),
    }
}

/// Whole numbers without a fraction (Excel stores every number as a float); others in their
/// shortest exact form.
fn number(f: f64) -> String {
    // 2^53: every whole number below it is exact in a float, and a phone number (11 digits) is.
    if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 { format!("{f:.0}") } else { f.to_string() }
}

/// Appends a CSV field, quoted when it must be.
fn push_field(out: &mut String, text: &str) {
    if text.contains([',', '"', '\n', '\r']) || text.starts_with(' ') || text.ends_with(' ') {
        out.push('"');
        out.push_str(&text.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(text);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use rust_xlsxwriter::Workbook;

    use super::*;

    fn workbook(fill: impl FnOnce(&mut rust_xlsxwriter::Worksheet)) -> Vec<u8> {
        let mut book = Workbook::new();
        fill(book.add_worksheet());
        book.add_worksheet().write_string(0, 0, "second sheet, ignored").unwrap();
        book.save_to_buffer().unwrap()
    }

    #[test]
    fn numbers_lose_excels_fraction_and_text_is_quoted_when_needed() {
        let bytes = workbook(|s| {
            s.write_string(0, 0, "房号").unwrap();
            s.write_string(0, 1, "联系电话").unwrap();
            s.write_string(0, 2, "备注").unwrap();
            s.write_number(1, 0, 702.0).unwrap();
            s.write_number(1, 1, 19908923609.0).unwrap();
            s.write_string(1, 2, "需送货上门, \"高层\"").unwrap();
            s.write_number(2, 0, 2.5).unwrap();
            s.write_boolean(2, 1, true).unwrap();
        });
        let sheet = sheet_to_csv(&bytes).unwrap();
        assert_eq!(
            sheet.csv,
            "房号,联系电话,备注\n702,19908923609,\"需送货上门, \"\"高层\"\"\"\n2.5,true,\n"
        );
    }

    #[test]
    fn sheet_rows_stay_csv_lines_across_gaps_and_line_breaks() {
        let bytes = workbook(|s| {
            s.write_string(2, 1, "楼号").unwrap();
            s.write_string(3, 1, "1").unwrap();
            s.write_string(3, 2, "two\nlines").unwrap();
            s.write_string(5, 1, "2").unwrap();
        });
        let sheet = sheet_to_csv(&bytes).unwrap();
        assert_eq!(sheet.csv, "\n\n,楼号,\n,1,\"two\nlines\"\n\n,2,\n");
        assert_eq!(sheet.sheet_row(3), 3);
        assert_eq!(sheet.sheet_row(4), 4);
        // Row 6 starts on line 7, after the line break in row 4.
        assert_eq!(sheet.sheet_row(7), 6);
    }

    #[test]
    fn what_is_not_an_xlsx_says_so() {
        assert!(matches!(sheet_to_csv(OLE_MAGIC), Err(WorkbookError::OldFormat)));
        let e = sheet_to_csv(b"PK\x03\x04 not really a zip").unwrap_err();
        assert!(e.to_string().starts_with("the file cannot be read as an Excel workbook"), "{e}");
        let wide = workbook(|s| {
            s.write_string(0, 300, "x").unwrap();
        });
        assert!(matches!(sheet_to_csv(&wide), Err(WorkbookError::TooManyColumns { column: 301 })));
    }
}
