//! The dashboard's errors: the relay's [`AppError`] for everything the rest of the API also
//! answers, plus 422 for what was understood but refused (an operation core's rules forbid on
//! this data, a roster file with bad rows). A 422 may carry the rows at fault, so that the
//! dashboard can show "line 12, column 户内人数: \"三\" is not a whole number" next to each.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use doorstep_core::OperationError;
use doorstep_core::import::RowMessage;
use serde::Serialize;

use crate::admin::AdminError;
use crate::cache::CacheError;
use crate::error::AppError;
use crate::relay::RelayError;
use crate::storage::StorageError;

/// A row of an uploaded roster that cannot be imported, or was imported with a warning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowProblem {
    /// The sheet it is on, when a workbook's several roster sheets were read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sheet: Option<String>,
    /// The 1-based line (CSV) or row (workbook, of its sheet) where it starts.
    pub line: usize,
    /// The column at fault, by its header as written, if one is.
    pub column: Option<String>,
    /// The value as written.
    pub value: String,
    /// A stable code for the kind of problem (`people_blank`, `duplicate_row`, ...).
    pub code: &'static str,
    /// What is wrong, as a sentence in Chinese (the dashboard shows it in Chinese).
    pub reason_zh: String,
    /// What is wrong, as a sentence in English (the dashboard's English switch).
    pub reason: String,
}

impl From<&RowMessage> for RowProblem {
    fn from(e: &RowMessage) -> Self {
        Self {
            sheet: None,
            line: e.line,
            column: e.column.clone(),
            value: e.value.clone(),
            code: e.code,
            reason_zh: e.reason_zh.clone(),
            reason: e.reason.clone(),
        }
    }
}

impl RowProblem {
    /// `e`, a message about a row of `file`, by its sheet and row there
    /// ([`RosterFile::locate`](crate::roster_file::RosterFile::locate)).
    pub fn of(file: &crate::roster_file::RosterFile, e: &RowMessage) -> Self {
        let (sheet, located) = file.locate(e);
        Self { sheet, ..Self::from(&located) }
    }
}

/// An error answered by a dashboard route.
#[derive(Debug)]
pub enum DashError {
    /// Answered as the rest of the API answers it.
    App(AppError),
    /// 422: understood, and refused.
    Unprocessable {
        /// The code: `refused` (an operation), `unreadable_file`, `bad_rows`.
        error: &'static str,
        /// A sentence for the coordinator.
        reason: String,
        /// The rows at fault, for `bad_rows`.
        errors: Vec<RowProblem>,
    },
}

impl DashError {
    /// A 422 without rows.
    pub fn unprocessable(error: &'static str, reason: impl Into<String>) -> Self {
        DashError::Unprocessable { error, reason: reason.into(), errors: Vec::new() }
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    reason: &'a str,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    errors: &'a [RowProblem],
}

impl IntoResponse for DashError {
    fn into_response(self) -> Response {
        match self {
            DashError::App(e) => e.into_response(),
            DashError::Unprocessable { error, reason, errors } => {
                let body = Body { error, reason: &reason, errors: &errors };
                let mut response = (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response();
                // The request middleware logs the AppError it finds on a response.
                response.extensions_mut().insert(AppError::BadRequest { error, reason });
                response
            }
        }
    }
}

impl From<AppError> for DashError {
    fn from(e: AppError) -> Self {
        DashError::App(e)
    }
}

impl From<StorageError> for DashError {
    fn from(e: StorageError) -> Self {
        DashError::App(e.into())
    }
}

impl From<AdminError> for DashError {
    fn from(e: AdminError) -> Self {
        DashError::App(e.into())
    }
}

impl From<RelayError> for DashError {
    fn from(e: RelayError) -> Self {
        if let RelayError::Storage(said @ (StorageError::AlreadyDecided(_) | StorageError::TurnNotHeld(_))) =
            e
        {
            return DashError::App(said.into());
        }
        DashError::App(e.into())
    }
}

impl From<CacheError> for DashError {
    fn from(e: CacheError) -> Self {
        RelayError::from(e).into()
    }
}

impl From<OperationError> for DashError {
    fn from(e: OperationError) -> Self {
        match e {
            OperationError::Forbidden { .. } => DashError::App(AppError::Forbidden(e.to_string())),
            OperationError::Automerge(_) | OperationError::Document(_) => {
                tracing::error!(error = %e, "operation failed in the document");
                DashError::App(AppError::Unavailable(format!("the relay could not write this: {e}")))
            }
            OperationError::UnknownHousehold(_) => DashError::unprocessable(
                "unknown_household",
                format!(
                    "{e}: it was removed from the roster, or is not in it yet / 名册中没有该住户（可能已被移除）"
                ),
            ),
            other => DashError::unprocessable("refused", other.to_string()),
        }
    }
}
