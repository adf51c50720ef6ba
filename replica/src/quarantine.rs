//! Changes set aside: refused for good by the relay (or made in a document the device may no
//! longer hold). They leave the document (so they no longer block its sync) and wait here, where
//! the user sees "N set aside, under review", with the operation behind each in readable form
//! when it was journaled. Each is sent to the relay's review inbox (`review.rs`), and the
//! coordinator's decision comes back with a later sync; it can also be exported.

use serde::Serialize;

/// A local change the relay refused, with its reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuarantinedChange {
    /// The change hash, hex.
    pub hash: String,
    /// The document it was made in.
    pub document: String,
    /// The compound it was made in, when recorded (items set aside since replica schema 4).
    pub compound: Option<String>,
    /// The rule's code.
    pub rule: String,
    /// The relay's explanation.
    pub reason: String,
    /// The raw change, for export: the operation's changes one after the other when it made
    /// several in the document (a round it created), which are one item.
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
    /// Where it stands with the coordinators: `not_sent`, `under_review`, `applied`,
    /// `dismissed` or `not_accepted` (see `ReviewState`).
    pub review_state: String,
    /// The coordinator who applied or dismissed it (person ID).
    pub reviewed_by: Option<String>,
    /// Their name.
    pub reviewed_by_name: Option<String>,
    /// When they decided (relay time, Unix ms).
    pub reviewed_at: Option<i64>,
    /// The coordinator's reason for dismissing it, or why the relay would not take it.
    pub review_note: Option<String>,
}
