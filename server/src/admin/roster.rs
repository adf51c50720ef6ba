//! Importing a roster spreadsheet into a compound, and exporting the roster back out.
//!
//! Import reads the whole file first (a CSV, or a workbook's roster sheet: `roster_file.rs`,
//! which never touches a document) and refuses it if any row is bad, unless the caller accepts
//! importing the good rows only: a coordinator should see "line 12, column 户内人数: \"三\" is not a whole number" before half a
//! ledger lands. Export writes the ledger template's Chinese columns with a byte-order mark, as
//! Excel expects, and reads back through the importer unchanged.

use std::time::{Duration, Instant};

use doorstep_core::ImportPolicy;
use doorstep_core::id::CompoundId;
use doorstep_core::import::{RosterColumn, RowMessage, export_version};
use doorstep_core::schema::household::Household;
use doorstep_core::schema::vocabulary::DocKind;
use serde::Serialize;

use super::{AdminError, Principal, require_compound};
use crate::relay::{Relay, RelayError};
use crate::roster_file::{self, Lines, RosterFile, SheetRead};
use crate::roster_reading::RosterReaders;
use crate::workbook::SkippedSheet;

/// How long a roster read may take when no request waits on it (the command line, the demo's
/// seed): a workbook's own bounds (`workbook/bounds.rs`) stop a hostile file long before; this
/// only keeps a read from running on for nobody.
pub const UNHURRIED_READ: Duration = Duration::from_secs(600);

/// A row left out (or imported with a warning), by line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowProblem {
    /// The 1-based line in the file.
    pub line: usize,
    /// A stable code for the kind of problem (`people_blank`, `duplicate_row`, ...).
    pub code: &'static str,
    /// What is wrong with it, in Chinese, with the line and column.
    pub reason_zh: String,
    /// What is wrong with it, in English, with the line and column.
    pub reason: String,
    /// The sheet it is on, when a workbook's several roster sheets were read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sheet: Option<String>,
}

impl From<&RowMessage> for RowProblem {
    fn from(m: &RowMessage) -> Self {
        let bilingual = m.bilingual();
        let zh = bilingual.split(" / ").next().unwrap_or_default().to_owned();
        Self { line: m.line, code: m.code, reason_zh: zh, reason: m.to_string(), sheet: None }
    }
}

impl RowProblem {
    /// `m`, a message about a row of a roster file read, by its sheet and row there
    /// ([`Lines::sentences`]).
    fn of(lines: Lines<'_>, m: &RowMessage) -> Self {
        let (sheet, row) = lines.place(m.line);
        let (zh, en) = lines.sentences(m);
        Self { line: row, code: m.code, reason_zh: zh, reason: en, sheet: sheet.map(str::to_owned) }
    }

    fn more(n: usize, zh: &str, en: &str) -> Self {
        Self {
            line: 0,
            code: "more",
            reason_zh: format!("另有 {n} {zh}"),
            reason: format!("{n} more {en}"),
            sheet: None,
        }
    }
}

/// Chinese, then English, as the command line prints it.
impl std::fmt::Display for RowProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} / {}", self.reason_zh, self.reason)
    }
}

/// What an import did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    /// Households added to the roster.
    pub imported: usize,
    /// Households already in the roster whose fields the file changed.
    pub updated: usize,
    /// Households already in the roster that the file matched and left as they were.
    pub unchanged: usize,
    /// Rows left out because they could not be read.
    pub skipped: Vec<RowProblem>,
    /// Rows imported (or identical rows dropped) with something to check or fill in; they never
    /// block the import.
    pub warnings: Vec<RowProblem>,
    /// Headers that name no roster column; their values were not imported.
    pub ignored_columns: Vec<String>,
    /// For a workbook, the first sheet that was read (every visible one with a roster header
    /// row is); row numbers are their sheets'.
    pub sheet: Option<String>,
    /// For a workbook, the roster sheets read, in tab order, with the households read from each.
    pub sheets_read: Vec<SheetRead>,
    /// For a workbook, the sheets not read, each with why.
    pub sheets_skipped: Vec<SkippedSheet>,
}

/// Imports a roster file into `compound`: a CSV, or an .xlsx workbook's roster sheet (told by
/// its first bytes, `roster_file.rs`), read on `readers` (`roster_reading.rs`: the relay's, so
/// that uploads sent at once are read one per core) and stopped once `deadline` passes. With
/// row errors and without `accept_good_rows`, nothing is imported and the errors are returned.
pub async fn import_roster(
    readers: &RosterReaders,
    relay: &Relay,
    principal: &Principal,
    compound: CompoundId,
    bytes: impl AsRef<[u8]> + Send + 'static,
    accept_good_rows: bool,
    deadline: Instant,
) -> Result<ImportReport, AdminError> {
    require_compound(relay, compound).await?;
    principal.require_running(compound, "import a roster")?;
    let file = readers
        .read(principal.person, move || {
            let bytes = bytes.as_ref();
            roster_file::read(
                roster_file::starts_like_a_workbook(bytes),
                bytes,
                deadline,
                roster_file::today(),
            )
        })
        .await??;
    import_read(relay, compound, file, accept_good_rows).await
}

/// Imports the rows read from a roster file; a report or refusal names the workbook's sheet read.
async fn import_read(
    relay: &Relay,
    compound: CompoundId,
    file: RosterFile,
    accept_good_rows: bool,
) -> Result<ImportReport, AdminError> {
    let mut skipped: Vec<RowProblem> =
        file.preview.errors.iter().map(|e| RowProblem::of(file.lines(), e)).collect();
    let sheets_said = file.sheets_said();
    if file.preview.omitted_errors > 0 {
        skipped.push(RowProblem::more(file.preview.omitted_errors, "行有错误", "rows with errors"));
    }
    if !skipped.is_empty() && !accept_good_rows {
        return Err(AdminError::BadRows {
            rows: file.preview.bad_rows,
            problems: skipped,
            sheets: sheets_said,
        });
    }
    let RosterFile { preview, sheet, sheets_read, sheets_skipped, .. } = file;
    let ignored_columns = preview.ignored_columns.clone();
    let omitted_warnings = preview.omitted_warnings;
    let policy = if accept_good_rows { ImportPolicy::AcceptGoodRows } else { ImportPolicy::AllOrNothing };
    // One Automerge change for the whole file: households already at an address are updated,
    // never duplicated (a re-import of a corrected sheet).
    let summary = relay
        .write(compound, move |compound, env, actor| compound.import_roster(env, actor, &preview, policy))
        .await??;
    let (imported, updated, unchanged) = (summary.added, summary.updated, summary.unchanged);
    // The plan's warnings, not the file's: a blank cell of a household already there says the
    // value stored was kept, and a new flat like another but for its leading zeros is named.
    let mut warnings: Vec<RowProblem> =
        summary.warnings.iter().map(|w| RowProblem::of(Lines(&sheets_read), w)).collect();
    if omitted_warnings > 0 {
        warnings.push(RowProblem::more(omitted_warnings, "条提醒", "warnings"));
    }
    tracing::info!(%compound, imported, updated, skipped = summary.rows_left_out, "roster imported");
    Ok(ImportReport {
        imported,
        updated,
        unchanged,
        skipped,
        warnings,
        ignored_columns,
        sheet,
        sheets_read,
        sheets_skipped,
    })
}

/// The compound's roster as CSV (UTF-8 with BOM, the ledger template's columns), households in
/// the order a volunteer climbs.
pub async fn export_roster(
    relay: &Relay,
    principal: &Principal,
    compound: CompoundId,
) -> Result<String, AdminError> {
    require_compound(relay, compound).await?;
    principal.require_running(compound, "export the roster")?;
    let roster = relay
        .storage()
        .documents_of(vec![compound])
        .await?
        .into_iter()
        .find(|r| r.header.kind == DocKind::Roster)
        .ok_or_else(|| AdminError::NotFound(format!("compound {compound} has no roster")))?;
    let mut slot = relay.cache().lock(roster.header.id).await;
    let cached = slot
        .fresh(relay.storage())
        .await
        .map_err(RelayError::from)?
        .ok_or_else(|| AdminError::NotFound(format!("compound {compound} has no roster")))?;
    let mut households = doorstep_core::document::roster::households(&cached.doc);
    let version = export_version::of_heads(&cached.doc.get_heads());
    drop(slot);
    households.sort_by_key(|h| h.address.climb_key());
    write_csv(&households, &version)
}

/// The roster as CSV, each row ending with the roster's `version` (导出版本), so that the file
/// imported again changes only what was changed in it (`doorstep_core::import::export_version`).
fn write_csv(households: &[Household], version: &str) -> Result<String, AdminError> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let bad = |e: csv::Error| AdminError::Invalid(format!("CSV export failed: {e}"));
    let headers = RosterColumn::ALL.iter().map(|c| c.header_zh()).chain([export_version::HEADER]);
    writer.write_record(headers).map_err(bad)?;
    for h in households {
        let a = &h.address;
        let needs: Vec<&str> = h.needs.iter().map(|n| n.label_zh()).collect();
        let record = [
            a.estate.clone(),
            format!("{}号楼", a.building),
            if a.unit.is_empty() { String::new() } else { format!("{}单元", a.unit) },
            a.floor.to_string(),
            a.flat.clone(),
            h.head.clone(),
            h.phone.clone(),
            // An unknown count is written blank, and a blank reads back as unknown.
            h.people.map(|people| people.to_string()).unwrap_or_default(),
            h.aged_60_plus.to_string(),
            h.children_under_6.to_string(),
            needs.join("、"),
            h.status.label_zh().to_owned(),
            if h.lift { "有" } else { "无" }.to_owned(),
            h.notes.clone(),
            version.to_owned(),
        ];
        writer
            .write_record(record.iter().map(|cell| crate::csv_cell::neutralise(cell).into_owned()))
            .map_err(bad)?;
    }
    let bytes = writer.into_inner().map_err(|e| AdminError::Invalid(format!("CSV export failed: {e}")))?;
    let text =
        String::from_utf8(bytes).map_err(|e| AdminError::Invalid(format!("CSV export failed: {e}")))?;
    Ok(format!("\u{feff}{text}"))
}
