//! Downloads: `GET …/export/roster.csv|.xlsx`, `…/export/special-needs.csv|.xlsx` and
//! `…/export/rounds/{round}.csv|.xlsx`.
//!
//! The roster export is the relay's existing one ([`admin::export_roster`]): the ledger
//! template's Chinese columns, which import back unchanged. The workbook is that same CSV laid
//! into a sheet, and the special-needs ledger is that same CSV's rows with a need tag, so all
//! three re-import through the dashboard's import. A round's results are one row per task: the
//! door, the household, what was carried, who had it, its status and every knock on the door.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use doorstep_core::Compound;
use doorstep_core::document::round;
use doorstep_core::id::{DocumentId, PersonId};
use doorstep_core::import::RosterColumn;
use doorstep_core::query::HouseholdBook;
use doorstep_core::schema::vocabulary::TaskStatus;

use super::error::DashError;
use super::signed_in::SignedIn;
use super::snapshot::{self, Rounds};
use super::table::{Cell, Table, TableError};
use super::{DashState, blocking, names, path_id};
use crate::admin;
use crate::error::{AppError, excerpt};
use crate::http::json::PathParams;

/// The media type of .xlsx files.
pub const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// The roster columns that hold counts (numbers in the workbook).
const ROSTER_NUMBERS: [RosterColumn; 4] =
    [RosterColumn::Floor, RosterColumn::People, RosterColumn::Aged60Plus, RosterColumn::ChildrenUnder6];

/// The two file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Xlsx,
}

/// Splits `roster.xlsx` into its name and format.
fn file(name: &str) -> Result<(&str, Format), AppError> {
    match name.rsplit_once('.') {
        Some((stem, "csv")) => Ok((stem, Format::Csv)),
        Some((stem, "xlsx")) => Ok((stem, Format::Xlsx)),
        _ => Err(AppError::NotFound(format!("no export {}; ask for a .csv or an .xlsx file", excerpt(name)))),
    }
}

/// The download of `table` in `format`, saved as `ascii_name` or, where the browser reads it,
/// the UTF-8 `name` (the extension is added to both).
fn download(table: &Table, format: Format, ascii_name: &str, name: &str) -> Result<Response, DashError> {
    Ok(match format {
        Format::Csv => attachment(table.to_csv().map_err(failed)?.into_bytes(), CSV, "csv", ascii_name, name),
        Format::Xlsx => attachment(table.to_xlsx().map_err(xlsx_failed)?, XLSX, "xlsx", ascii_name, name),
    })
}

/// The media type of CSV downloads.
const CSV: &str = "text/csv; charset=utf-8";

fn attachment(bytes: Vec<u8>, media: &str, ext: &str, ascii_name: &str, name: &str) -> Response {
    let disposition = format!(
        "attachment; filename=\"{ascii_name}.{ext}\"; filename*=UTF-8''{}.{ext}",
        percent_encode(name)
    );
    (
        [
            (CONTENT_TYPE, media.to_owned()),
            (CONTENT_DISPOSITION, disposition),
            (CACHE_CONTROL, "no-store".to_owned()),
        ],
        bytes,
    )
        .into_response()
}

/// An export the relay could not write from what it stores: its own fault, which a retry meets
/// again, so it says so (500) rather than "try again shortly" (503).
fn failed(e: TableError) -> DashError {
    tracing::error!(error = %e, "export failed");
    AppError::Fault(format!(
        "the relay could not write this export ({e}); this is a fault in the relay, not in the data: \
         tell whoever runs it, and use `doorstep admin export` for the roster meanwhile"
    ))
    .into()
}

/// A workbook the relay could not write: the same table as CSV holds everything.
fn xlsx_failed(e: TableError) -> DashError {
    tracing::error!(error = %e, "xlsx export failed");
    AppError::Fault(format!(
        "the relay could not write this table as .xlsx ({e}); download it as .csv, which holds the same rows"
    ))
    .into()
}

/// RFC 5987 encoding for a download's UTF-8 file name.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The roster as a table, from the relay's roster CSV.
fn roster_table(csv: &str) -> Result<Table, DashError> {
    let numbers: Vec<&str> = ROSTER_NUMBERS.iter().map(|c| c.header_zh()).collect();
    Table::from_csv("台账", csv, &numbers).map_err(failed)
}

/// `GET /dashboard/api/compounds/{compound}/export/{file}`: the roster or the special-needs
/// ledger.
pub async fn ledger(
    State(state): State<DashState>,
    signed: SignedIn,
    PathParams((compound, name)): PathParams<(String, String)>,
) -> Result<Response, DashError> {
    let scope = signed.scope(&state, &compound).await?;
    let (stem, format) = file(&name)?;
    let which = match stem {
        "roster" => "台账",
        "special-needs" => "重点人群",
        _ => {
            return Err(AppError::NotFound(format!(
                "no export {}; there are roster and special-needs",
                excerpt(&name)
            ))
            .into());
        }
    };
    let csv = admin::export_roster(&state.app.relay, &signed.principal, scope.compound.id).await?;
    let title = format!("{}-{which}", scope.compound.name);
    if stem == "roster" && format == Format::Csv {
        // The relay's export as it is: the bytes `doorstep admin export` writes.
        return Ok(attachment(csv.into_bytes(), CSV, "csv", stem, &title));
    }
    let mut table = roster_table(&csv)?;
    if stem == "special-needs" {
        let needs = RosterColumn::Needs.header_zh();
        table = table.filtered(needs, |c| *c != Cell::from(""));
        table.sheet = which.to_owned();
    }
    download(&table, format, stem, &title)
}

/// The headers of a round's results.
const ROUND_HEADERS: [&str; 12] = [
    "小区",
    "楼号",
    "单元",
    "楼层",
    "房号",
    "户主",
    "联系电话",
    "物品",
    "负责人",
    "任务状态",
    "上门次数",
    "上门记录",
];

/// A round's results, one row per task in climbing order; `None` if the round is not held.
pub fn round_table(
    compound: &Compound,
    id: DocumentId,
    names: &HashMap<PersonId, String>,
) -> Option<(String, Table)> {
    let doc = compound.rounds().find(|d| d.id() == id)?;
    let info = round::info(doc.id(), doc.automerge()).ok()?;
    let name_of = |p: PersonId| names.get(&p).cloned().unwrap_or_else(|| p.to_string());
    let offset = compound.utc_offset();
    let mut tasks = round::tasks(doc.id(), doc.automerge());
    let households = HouseholdBook::of(compound, tasks.iter().map(|t| t.household));
    tasks.sort_by_key(|t| (households.get(t.household).map(|h| h.address.climb_key()), t.id));
    let rows = tasks
        .iter()
        .map(|task| {
            let h = households.get(task.household);
            let a = h.map(|h| &h.address);
            // A household removed from the roster since keeps its last address, marked.
            let flat = match (a, households.removal(task.household)) {
                (Some(a), None) => a.flat.clone(),
                (Some(a), Some(_)) => format!("{}（已移除）", a.flat),
                (None, _) => format!("(已移除 {})", task.household),
            };
            let mut status = task.status().label_zh().to_owned();
            match (task.status(), &task.cancelled) {
                (TaskStatus::Cancelled, Some(c)) => status = format!("{status}：{}", c.reason),
                // Delivered or knocked at before the phone learnt of the cancellation: both stand.
                (_, Some(c)) => status = format!("{status}（协调员已取消：{}）", c.reason),
                _ => {}
            }
            let knocks: Vec<String> = task
                .attempts
                .iter()
                .map(|at| {
                    let note = if at.note.is_empty() { String::new() } else { format!("：{}", at.note) };
                    let recorded = match at.knocked_by {
                        Some(_) => format!("（{}代录）", name_of(at.by)),
                        None => String::new(),
                    };
                    let (when, who) = (offset.local_time(at.knock_time()), name_of(at.knocker()));
                    format!("{when} {who}{recorded} {}{note}", at.outcome.label_zh())
                })
                .collect();
            vec![
                Cell::from(a.map(|a| a.estate.clone()).unwrap_or_default()),
                Cell::from(a.map(|a| a.building.clone()).unwrap_or_default()),
                Cell::from(a.map(|a| a.unit.clone()).unwrap_or_default()),
                a.map_or(Cell::from(""), |a| Cell::Number(i64::from(a.floor))),
                Cell::from(flat),
                Cell::from(h.map(|h| h.head.clone()).unwrap_or_default()),
                Cell::from(h.map(|h| h.phone.clone()).unwrap_or_default()),
                Cell::from(task.items.clone()),
                Cell::from(task.assignee.map(name_of).unwrap_or_default()),
                Cell::from(status),
                Cell::Number(i64::try_from(task.attempts.len()).unwrap_or(i64::MAX)),
                Cell::from(knocks.join("\n")),
            ]
        })
        .collect();
    let table = Table {
        sheet: info.title.clone(),
        headers: ROUND_HEADERS.iter().map(|h| (*h).to_owned()).collect(),
        rows,
    };
    Some((format!("{} {}", info.date, info.title), table))
}

/// `GET /dashboard/api/compounds/{compound}/export/rounds/{file}`: a round's results.
pub async fn round_results(
    State(state): State<DashState>,
    signed: SignedIn,
    PathParams((compound, name)): PathParams<(String, String)>,
) -> Result<Response, DashError> {
    let scope = signed.scope(&state, &compound).await?;
    let (stem, format) = file(&name)?;
    let round: DocumentId = path_id(stem)?;
    let names = names(&state, scope.compound.id).await?;
    let compound = snapshot::load(&state, &scope, Rounds::All).await?;
    let found = blocking(move || round_table(&compound, round, &names)).await?;
    let (title, table) =
        found.ok_or_else(|| AppError::NotFound(format!("no round {round} in this compound")))?;
    download(&table, format, &format!("round-{round}"), &title)
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use rust_xlsxwriter::XlsxError;

    use super::*;

    #[test]
    fn file_names_say_what_and_how() {
        assert_eq!(file("roster.csv").ok(), Some(("roster", Format::Csv)));
        assert_eq!(file("a.b.xlsx").ok(), Some(("a.b", Format::Xlsx)));
        assert!(file("roster.pdf").is_err());
        assert_eq!(percent_encode("台账 1.csv"), "%E5%8F%B0%E8%B4%A6%201.csv");
    }

    #[test]
    fn a_workbook_that_cannot_be_written_is_the_relays_fault_and_points_to_the_csv() {
        let e = TableError::Xlsx(XlsxError::SheetnameCannotBeBlank(String::new()));
        let response = xlsx_failed(e).into_response();
        // Not 503 "try again shortly": the same table fails the same way every time.
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let error = response.extensions().get::<AppError>().cloned();
        let Some(AppError::Fault(reason)) = error else { panic!("{error:?}") };
        assert!(reason.contains(".csv"), "{reason}");
    }
}
