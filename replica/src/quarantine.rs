//! Changes the relay refused. They leave the document (so they no longer block its sync) and
//! wait here, where the user can see them and export them for a coordinator.

use serde::Serialize;

/// A local change the relay refused, with its reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuarantinedChange {
    /// The change hash, hex.
    pub hash: String,
    /// The document it was made in.
    pub document: String,
    /// The rule's code.
    pub rule: String,
    /// The relay's explanation.
    pub reason: String,
    /// The raw change, for export.
    #[serde(skip)]
    pub bytes: Vec<u8>,
    /// When it was quarantined (device time, Unix ms).
    pub at: i64,
}
