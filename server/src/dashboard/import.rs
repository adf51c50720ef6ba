//! `POST …/import?mode=preview|commit[&accept_good_rows=true]`: a roster spreadsheet uploaded
//! from the dashboard, as CSV (UTF-8, GB18030 or UTF-16) or as an .xlsx workbook.
//!
//! A workbook's roster sheets (every visible one with a roster header row) are turned into CSV
//! first ([`crate::roster_file`]), so both go through core's `read_roster_csv` and every rule and
//! row error is shared with the command line and phones.
//! `preview` reads and changes nothing; `commit` imports with core's `Compound::import_roster`
//! as the signed-in coordinator, refusing a file with bad rows unless the coordinator accepts
//! importing only the good ones.

use std::time::Instant;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use doorstep_core::import::{RowError, RowWarning};
use doorstep_core::operation::FieldChanges;
use doorstep_core::{ImportPolicy, PlanSummary};
use serde::{Deserialize, Serialize};

use super::error::{DashError, RowProblem};
use super::export::XLSX;
use super::signed_in::{Scope, SignedIn};
use super::snapshot::{self, Rounds};
use super::{DashState, Params, blocking};
use crate::error::AppError;
use crate::http::body_in_hand;
use crate::http::json::PathParams;
use crate::roster_file::{self, RosterFile, SheetRead};
use crate::workbook::SkippedSheet;

/// The query string.
#[derive(Debug, Clone, Deserialize)]
pub struct ImportParams {
    mode: Option<String>,
    #[serde(default)]
    accept_good_rows: Option<String>,
}

/// What a preview found.
#[derive(Debug, Clone, Serialize)]
pub struct Preview {
    /// Households read.
    pub households: usize,
    /// Rows that cannot be imported, first [`doorstep_core::import::MAX_ERRORS`].
    pub errors: Vec<RowProblem>,
    /// Rows with errors beyond those listed.
    pub omitted_errors: usize,
    /// Rows imported with something to check or fill in (a blank 户内人数 imported as unknown, a
    /// blank or implausible phone number, an identical row dropped); they never block an import.
    pub warnings: Vec<RowProblem>,
    /// Warnings beyond those listed.
    pub omitted_warnings: usize,
    /// Headers that name no roster column; their values would not be imported.
    pub ignored_columns: Vec<String>,
    /// The estates (小区) the households go into, in file order: for rows without a 小区, the
    /// one the plan works out (the matched household's, or the compound's only estate); none
    /// when there is nothing to say (a new compound taking a file without 小区).
    pub estates: Vec<String>,
    /// `csv` or `xlsx`.
    pub format: &'static str,
    /// For a workbook, the first sheet that was read (every visible one with a roster header
    /// row is: `sheets_read`).
    pub sheet: Option<String>,
    /// For a workbook, how many sheets it has (hidden ones included), so that the page can say
    /// which was read when there was a choice.
    pub sheets: Option<usize>,
    /// For a workbook, the roster sheets read, in tab order, with the households read from each;
    /// with more than one, every row problem names its sheet.
    pub sheets_read: Vec<SheetRead>,
    /// For a workbook, the sheets not read (hidden, no roster header row, empty, a chart), each
    /// with why, in Chinese and English.
    pub sheets_skipped: Vec<SkippedSheet>,
    /// What the commit would do to the roster as it is now: households added, households
    /// updated and which fields change on how many, households the file leaves as they are,
    /// and how rows without a 小区 were placed.
    pub plan: PlanSummary,
}

/// What a commit did.
#[derive(Debug, Clone, Serialize)]
pub struct Committed {
    /// Households added.
    pub added: usize,
    /// Households already in the roster whose fields the file changed.
    pub updated: usize,
    /// Households already in the roster that the file matched and left as they were.
    pub unchanged: usize,
    /// For each field changed, on how many households.
    pub changes: Vec<FieldChanges>,
    /// Rows left out because of errors (only with `accept_good_rows`).
    pub rows_left_out: usize,
    /// Buildings added.
    pub buildings_added: usize,
    /// Headers that name no roster column; their values were not imported.
    pub ignored_columns: Vec<String>,
    /// What the coordinator should still check or fill in.
    pub warnings: Vec<RowProblem>,
}

/// A file read and planned against the compound's roster as it is now.
struct Planned {
    read: RosterFile,
    plan: PlanSummary,
    /// The estates the rows placed go into.
    estates: Vec<String>,
    /// Rows read that cannot be placed in the roster (no 小区, and the flat is in several
    /// estates or none of several): left out like bad rows.
    unplaced: Vec<RowError>,
    /// Every warning, the file's and the plan's, in file order (core's `ImportPlan::warnings`:
    /// a blank cell of a household already there says the value stored was kept).
    warnings: Vec<RowWarning>,
}

impl Planned {
    /// Every row left out, in file order.
    fn left_out(&self) -> Vec<&RowError> {
        let mut rows: Vec<&RowError> = self.read.preview.errors.iter().chain(&self.unplaced).collect();
        rows.sort_by_key(|e| e.line);
        rows
    }

    fn problems(&self) -> Vec<RowProblem> {
        self.left_out().into_iter().map(|e| RowProblem::of(&self.read, e)).collect()
    }

    fn is_clean(&self) -> bool {
        self.read.preview.is_clean() && self.unplaced.is_empty()
    }

    /// Every warning, the file's and the plan's, in file order.
    fn warnings(&self) -> Vec<RowProblem> {
        self.warnings.iter().map(|w| RowProblem::of(&self.read, w)).collect()
    }
}

/// Whether the upload is a workbook: by its first bytes whatever the browser declared (a file
/// picker often sends `application/octet-stream`), or by its declared type unless its bytes are
/// text (a CSV renamed to .xlsx, which the page sends as a workbook, is read as the CSV it is).
fn is_workbook(headers: &HeaderMap, body: &[u8]) -> bool {
    let declared = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let media = declared.split(';').next().unwrap_or_default().trim();
    let declared_a_workbook =
        media.eq_ignore_ascii_case(XLSX) || media.eq_ignore_ascii_case("application/vnd.ms-excel");
    roster_file::starts_like_a_workbook(body)
        || (declared_a_workbook && !crate::workbook::kind::looks_like_text(body))
}

/// Plans `read` against the compound's roster as stored now (core's `Compound::plan_import`),
/// as the commit will.
async fn plan(state: &DashState, scope: &Scope, read: RosterFile) -> Result<Planned, DashError> {
    let roster = snapshot::load(state, scope, Rounds::Open).await?;
    blocking(move || {
        let plan = roster.plan_import(&read.preview)?;
        let (plan, estates, unplaced, warnings) = (plan.summary, plan.estates, plan.errors, plan.warnings);
        Ok(Planned { read, plan, estates, unplaced, warnings })
    })
    .await?
}

/// Previews or imports an upload.
pub async fn import(
    State(state): State<DashState>,
    signed: SignedIn,
    PathParams(compound): PathParams<String>,
    Params(params): Params<ImportParams>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, DashError> {
    // Whether this person runs the compound, before a byte of the upload is read.
    let scope = signed.scope(&state, &compound).await?;
    let limit = state.app.config.limits.max_body_bytes;
    let (body, _held) =
        body_in_hand::upload(&state.app.bodies_in_hand, signed.principal.person, &headers, body, limit)
            .await?;
    let accept_good_rows = match params.accept_good_rows.as_deref().map(str::trim) {
        None | Some("" | "false" | "0") => false,
        Some("true" | "1") => true,
        Some(other) => {
            return Err(
                AppError::invalid(format!("accept_good_rows must be true or false, not {other:?}")).into()
            );
        }
    };
    let commit = match params.mode.as_deref() {
        Some("preview") => false,
        Some("commit") => true,
        _ => {
            return Err(
                AppError::invalid("say what to do: ?mode=preview (changes nothing) or ?mode=commit").into()
            );
        }
    };
    if body.is_empty() {
        return Err(AppError::invalid("the upload is empty; send the roster file as the request body").into());
    }
    let workbook = is_workbook(&headers, &body);
    // The read stops itself at the request's deadline: when the relay answers 408, the
    // blocking thread is not left inflating and parsing for nobody.
    let deadline = Instant::now() + state.app.config.limits.request_timeout;
    // On the roster readers' threads, one per core, in turns round the people waiting
    // (`roster_reading.rs`): a read builds far more than the upload's bytes.
    let person = signed.principal.person;
    let read = state
        .app
        .roster_readers
        .read(person, move || {
            roster_file::read(workbook, &body, deadline, roster_file::today())
                .map_err(|e| DashError::unprocessable("unreadable_file", e.to_string()))
        })
        .await
        .map_err(DashError::from)??;

    let planned = plan(&state, &scope, read).await?;
    let read = &planned.read;
    if !commit {
        let preview = Preview {
            households: read.preview.households.len() - planned.unplaced.len(),
            errors: planned.problems(),
            omitted_errors: read.preview.omitted_errors,
            warnings: planned.warnings(),
            omitted_warnings: read.preview.omitted_warnings,
            ignored_columns: read.preview.ignored_columns.clone(),
            estates: planned.estates.clone(),
            format: read.format,
            sheet: read.sheet.clone(),
            sheets: read.sheets,
            sheets_read: read.sheets_read.clone(),
            sheets_skipped: read.sheets_skipped.clone(),
            plan: planned.plan.clone(),
        };
        return Ok(Json(preview).into_response());
    }

    if !planned.is_clean() && !accept_good_rows {
        let left_out = planned.left_out();
        // Rows, not errors: a row with three bad cells is one row.
        let rows = read.preview.bad_rows + planned.unplaced.len();
        let (first_zh, first) = left_out.first().map(|e| read.sentences(e)).unwrap_or_default();
        return Err(DashError::Unprocessable {
            error: "bad_rows",
            reason: format!(
                "{rows} 行无法导入（第一处：{first_zh}），什么都没有导入；请改正，或只导入无误的行 / \
                 rows that cannot be imported: {rows} (first: {first}); nothing was imported. Fix them, or import the good rows only"
            ),
            errors: planned.problems(),
        });
    }
    let ignored_columns = read.preview.ignored_columns.clone();
    let warnings = planned.warnings();
    let actor = scope.actor;
    let policy = if accept_good_rows { ImportPolicy::AcceptGoodRows } else { ImportPolicy::AllOrNothing };
    let preview = planned.read.preview;
    let summary = state
        .app
        .relay
        .write_as(actor.person, scope.compound.id, move |compound, env, _relay_admin| {
            compound.import_roster(env, &actor, &preview, policy)
        })
        .await??;
    tracing::info!(
        compound = %scope.compound.id, person = %actor.person, added = summary.added,
        updated = summary.updated, left_out = summary.rows_left_out, "roster imported from the dashboard"
    );
    Ok(Json(Committed {
        added: summary.added,
        updated: summary.updated,
        unchanged: summary.unchanged,
        changes: summary.changes,
        rows_left_out: summary.rows_left_out,
        buildings_added: summary.buildings_added,
        ignored_columns,
        warnings,
    })
    .into_response())
}
