//! A roster file as a coordinator or an operator sends it, from the dashboard, the admin API or
//! the command line: a CSV (UTF-8, GB18030 or UTF-16) or an .xlsx workbook, read into core's
//! rows by the same rules whichever way it came.
//!
//! A workbook's roster sheet (the first visible one with a roster header row) is turned into CSV
//! first ([`crate::workbook`]), so both go through core's importer and every rule and row error
//! is shared with phones; a row error names the sheet row, as Excel numbers it.

use std::time::Instant;

use doorstep_core::import::{ImportError, RosterPreview, read_roster_csv, read_roster_sheet};

use crate::workbook::{self, OLE_MAGIC, WorkbookError, ZIP_MAGIC};

/// A roster file read into rows.
#[derive(Debug)]
pub struct RosterFile {
    /// The rows read, their errors and warnings; lines are sheet rows for a workbook.
    pub preview: RosterPreview,
    /// `csv` or `xlsx`.
    pub format: &'static str,
    /// For a workbook, the sheet that was read.
    pub sheet: Option<String>,
    /// For a workbook, how many sheets it has (hidden ones included).
    pub sheets: Option<usize>,
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
}

/// Whether `bytes` are an Excel workbook by their first bytes (.xlsx is a ZIP archive, .xls an
/// OLE compound file), whatever the file was called or declared as.
#[must_use]
pub fn starts_like_a_workbook(bytes: &[u8]) -> bool {
    bytes.starts_with(ZIP_MAGIC) || bytes.starts_with(OLE_MAGIC)
}

/// Reads `bytes` as a workbook or as a CSV, stopping a workbook's read once `deadline` passes.
///
/// # Errors
/// [`RosterFileError`] when the file cannot be read at all; bad rows are in the preview.
pub fn read(workbook: bool, bytes: &[u8], deadline: Instant) -> Result<RosterFile, RosterFileError> {
    if !workbook {
        let preview = read_roster_csv(bytes)?;
        return Ok(RosterFile { preview, format: "csv", sheet: None, sheets: None });
    }
    let sheet = workbook::sheet_to_csv(bytes, deadline)?;
    let mut preview = read_roster_sheet(sheet.csv.as_bytes(), &sheet.dates)?;
    for message in preview.errors.iter_mut().chain(preview.warnings.iter_mut()) {
        message.line = sheet.sheet_row(message.line);
    }
    for row in &mut preview.households {
        row.line = sheet.sheet_row(row.line);
    }
    Ok(RosterFile { preview, format: "xlsx", sheet: Some(sheet.sheet), sheets: Some(sheet.sheets) })
}
