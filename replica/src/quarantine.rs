//! Changes set aside: refused for good by the relay (or made in a document the device may no
//! longer hold). They leave the document (so they no longer block its sync) and wait here, where
//! the user sees "N set aside, under review", with the operation behind each in readable form
//! when it was journaled, and can export them for a coordinator.

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
    /// Who made it (person ID), when the operation was journaled.
    pub person: Option<String>,
    /// The operation that made it, as JSON (`{"op":"set_control_status",…}`), when journaled.
    pub operation: Option<String>,
    /// When it was made (device time, Unix ms), when journaled.
    pub made_at: Option<i64>,
}
