//! Why an admin or coordinator action failed.

use doorstep_core::OperationError;
use doorstep_core::import::ImportError;

use super::roster::RowProblem;
use crate::relay::RelayError;
use crate::storage::{InviteProblem, StorageError};

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
    /// The roster file cannot be read at all.
    #[error("the roster file cannot be imported: {0}")]
    Import(#[from] ImportError),
    /// Some rows of the roster file are bad, and the caller did not accept importing the rest.
    #[error(
        "{rows} rows of the roster file cannot be imported (first: {}); fix them, or import the good rows only",
        problems.first().map(|p| p.to_string()).unwrap_or_default()
    )]
    BadRows {
        /// How many rows (not errors: a row may have several).
        rows: usize,
        /// Their errors, the first [`MAX_ERRORS`](doorstep_core::import::MAX_ERRORS) and a line
        /// counting the rest.
        problems: Vec<RowProblem>,
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

impl From<StorageError> for AdminError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Invite(problem) => AdminError::Invite(problem),
            other => AdminError::Storage(other),
        }
    }
}
