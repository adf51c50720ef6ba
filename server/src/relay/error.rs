//! Why the relay could not open or could not write.

use crate::cache::CacheError;
use crate::storage::StorageError;

/// A failure of the relay itself, not of the caller's input.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A stored document does not load.
    #[error(transparent)]
    Cache(#[from] CacheError),
    /// A stored document is not what its record says.
    #[error("stored document {id} is inconsistent: {reason}")]
    Inconsistent {
        /// The document.
        id: doorstep_core::id::DocumentId,
        /// What is wrong.
        reason: String,
    },
    /// Work on a blocking thread failed.
    #[error("relay task failed: {0}")]
    Task(String),
}

impl RelayError {
    /// Whether a commit failed because the set-aside item it applies was decided already.
    pub fn already_decided(&self) -> bool {
        matches!(self, RelayError::Storage(StorageError::AlreadyDecided(_)))
    }
}
