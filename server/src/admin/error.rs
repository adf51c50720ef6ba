//! Why an admin or coordinator action failed.

use doorstep_core::OperationError;
use doorstep_core::import::ImportError;

use super::roster::RowProblem;
use crate::relay::RelayError;
use crate::roster_file::RosterFileError;
use crate::storage::{InviteProblem, StorageError};
use crate::workbook::WorkbookError;

/// A refused or failed admin action.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The caller's role does not allow it.
    #[error("{0}")]
    Forbidden(String),
    /// No such compound or person.
    #[error("{0}")]
    NotFound(String),
    /// A bad argument.
    #[error("{0}")]
    Invalid(String),
    /// A compound of this name exists already, and the caller did not say it means another.
    #[error(
        "a compound named {name} exists already ({}); to make another of the same name, say so (the API's \"again\": true, the command line's --again) / 已有名为 {name} 的小区；如确需再建一个同名小区，请明确说明",
        existing.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    )]
    NameTaken {
        /// The name asked for.
        name: String,
        /// The compounds that have it.
        existing: Vec<doorstep_core::id::CompoundId>,
    },
    /// The roster file cannot be read at all. Its message is part of this one, not a source
    /// (`#[from]` would make it one): the command line prints an error's sources after it, and
    /// printed every refusal twice.
    #[error("the roster file cannot be imported: {0}")]
    Import(ImportError),
    /// The roster workbook cannot be read at all (not a workbook we read, too large, no roster
    /// sheet, …); as [`AdminError::Import`], its message is part of this one.
    #[error("the roster file cannot be imported: {0}")]
    Workbook(WorkbookError),
    /// One of a workbook's several roster sheets cannot be read at all (a column named twice);
    /// the message names the sheet.
    #[error("the roster file cannot be imported: {0}")]
    RosterSheet(RosterFileError),
    /// Some rows of the roster file are bad, and the caller did not accept importing the rest.
    #[error(
        "rows of the roster file that cannot be imported: {rows}{} (first: {}); fix them, or import the good rows only",
        if sheets.is_empty() { String::new() } else { format!(" ({})", sheets.join("; ")) },
        problems.first().map(|p| p.to_string()).unwrap_or_default()
    )]
    BadRows {
        /// How many rows (not errors: a row may have several).
        rows: usize,
        /// Their errors, the first [`MAX_ERRORS`](doorstep_core::import::MAX_ERRORS) and a line
        /// counting the rest.
        problems: Vec<RowProblem>,
        /// For a workbook, the sheets read and not read, one line each
        /// ([`RosterFile::sheets_said`](crate::roster_file::RosterFile::sheets_said)).
        sheets: Vec<String>,
    },
    /// An operation was refused by core.
    #[error(transparent)]
    Operation(#[from] OperationError),
    /// An invite cannot be redeemed.
    #[error(transparent)]
    Invite(InviteProblem),
    /// The relay failed.
    #[error(transparent)]
    Relay(#[from] RelayError),
    /// Storage failed.
    #[error(transparent)]
    Storage(StorageError),
}

impl From<ImportError> for AdminError {
    fn from(e: ImportError) -> Self {
        AdminError::Import(e)
    }
}

impl From<RosterFileError> for AdminError {
    fn from(e: RosterFileError) -> Self {
        match e {
            RosterFileError::Csv(e) => AdminError::Import(e),
            RosterFileError::Workbook(e) => AdminError::Workbook(e),
            e @ RosterFileError::Sheet { .. } => AdminError::RosterSheet(e),
        }
    }
}

impl From<StorageError> for AdminError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Invite(problem) => AdminError::Invite(problem),
            other => AdminError::Storage(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    /// `doorstep admin import-roster` of an empty file printed "error: the roster file cannot be
    /// imported: 文件是空的… / the file is empty…: 文件是空的… / the file is empty…", the message
    /// and then its source, the same message.
    #[test]
    fn a_refused_roster_file_says_why_once() {
        let e = AdminError::from(ImportError::Empty);
        assert!(e.source().is_none());
        let said = e.to_string();
        assert_eq!(said.matches(&ImportError::Empty.to_string()).count(), 1, "{said}");
        assert!(said.starts_with("the roster file cannot be imported: 文件是空的"), "{said}");
    }
}
