//! Sync failures.

use crate::document::DocumentError;
use crate::id::DocumentId;

/// Why a sync step failed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Bytes that are not a sync message, or that Automerge failed on.
    #[error("malformed sync message: {0}")]
    Malformed(String),
    /// A sync message refused before Automerge saw it: not one Automerge writes, or over a cap.
    #[error(transparent)]
    Refused(#[from] super::MessageProblem),
    /// Bytes that are not a batch request or response.
    #[error("malformed sync batch: {0}")]
    MalformedBatch(String),
    /// The batch speaks a wire version we do not.
    #[error("sync wire version {found} is not supported (this side speaks {supported}); update the app")]
    WireVersion {
        /// Theirs.
        found: u32,
        /// Ours.
        supported: u32,
    },
    /// Automerge refused the message's changes.
    #[error("sync message could not be applied: {0}")]
    Rejected(String),
    /// A document received by sync is not what it was announced to be.
    #[error("document {id}: {source}")]
    Document {
        /// The document.
        id: DocumentId,
        /// What is wrong.
        #[source]
        source: DocumentError,
    },
    /// The persisted peer state is corrupt.
    #[error("stored sync state is corrupt: {0}")]
    BadState(String),
}
