//! The review inbox on the wire (`POST /v1/set-aside`, JSON): a phone sends the operations it
//! set aside, in readable form, for its compound's coordinators to review, and asks what became
//! of the ones it sent before. One exchange does both, so a phone with nothing set aside makes
//! no extra request, and one with something set aside makes one per sync.
//!
//! The limits below are shared: the phone never sends an item over them (it keeps it for export
//! instead), and the relay refuses a body with one with 413, so an honest phone is never refused.

use serde::{Deserialize, Serialize};

use crate::id::{CompoundId, DocumentId, PersonId};

/// Most items one exchange may carry; a phone with more sends them over several syncs.
pub const MAX_SET_ASIDE_ITEMS: usize = 32;
/// Most item IDs one exchange may ask about.
pub const MAX_SET_ASIDE_AWAITING: usize = 512;
/// Most bytes of one item's operation (JSON).
pub const MAX_SET_ASIDE_OPERATION_BYTES: usize = 16 * 1024;
/// Most bytes of one item's text fields (rule, reason, summary) together.
pub const MAX_SET_ASIDE_TEXT_BYTES: usize = 4 * 1024;

/// One operation a phone set aside, as it is sent for review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetAsideUpload {
    /// The refused change's hash (hex): the item's identity on this device.
    pub id: String,
    /// The document it was made in.
    pub doc: DocumentId,
    /// The compound it was made in, when the phone recorded it: the relay's when it no longer
    /// holds the document (restored from a backup older than a round), so the work still
    /// reaches that compound's coordinators. Absent from older phones' items.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compound: Option<CompoundId>,
    /// Who made it, when the phone journaled the operation; the relay takes the signed-in
    /// person otherwise, and refuses an item naming anyone else.
    pub person: Option<PersonId>,
    /// The operation, as core's tagged JSON (`{"op":"set_control_status",…}`), when journaled.
    pub operation: Option<String>,
    /// A line a person reads ("set_control_status · 北林小区 1号楼1单元102").
    pub summary: String,
    /// When it was made (device time, Unix ms), when journaled.
    pub made_at: Option<i64>,
    /// When it was set aside (device time, Unix ms).
    pub set_aside_at: i64,
    /// The refusal's rule code.
    pub rule: String,
    /// The refusal's reason.
    pub reason: String,
}

impl SetAsideUpload {
    /// Why this item is over the shared limits, if it is.
    pub fn oversize(&self) -> Option<String> {
        let operation = self.operation.as_ref().map_or(0, String::len);
        if operation > MAX_SET_ASIDE_OPERATION_BYTES {
            return Some(format!(
                "set-aside item {}: its operation is {operation} bytes, over the {MAX_SET_ASIDE_OPERATION_BYTES}-byte limit; export it from the phone instead (操作过大，请从手机导出)",
                self.id
            ));
        }
        let text = self.rule.len() + self.reason.len() + self.summary.len() + self.id.len();
        if text > MAX_SET_ASIDE_TEXT_BYTES {
            return Some(format!(
                "set-aside item {}: its text fields are {text} bytes, over the {MAX_SET_ASIDE_TEXT_BYTES}-byte limit (说明文字过长)",
                self.id
            ));
        }
        None
    }
}

/// A phone's exchange with the review inbox.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetAsideExchange {
    /// Items not sent before (sending one again is harmless: it is stored once).
    #[serde(default)]
    pub items: Vec<SetAsideUpload>,
    /// IDs of items sent before whose outcome the phone does not know yet.
    #[serde(default)]
    pub awaiting: Vec<String>,
}

impl SetAsideExchange {
    /// Whether there is nothing to send or ask.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty() && self.awaiting.is_empty()
    }
}

/// What a coordinator decided about an item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum SetAsideDecision {
    /// Applied as the coordinator's own operation.
    Applied,
    /// Dismissed, with the coordinator's reason.
    Dismissed {
        /// Why.
        reason: String,
    },
}

/// The outcome of an item the phone sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetAsideOutcome {
    /// The item (change hash, hex).
    pub id: String,
    /// What was decided.
    #[serde(flatten)]
    pub decision: SetAsideDecision,
    /// The coordinator who decided.
    pub by: PersonId,
    /// Their name, as the compound knows it.
    pub by_name: Option<String>,
    /// When (relay time, Unix ms).
    pub at: i64,
}

/// An item the relay would not take, and why; the phone keeps it for export and does not send
/// it again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetAsideRefusal {
    /// The item.
    pub id: String,
    /// A sentence a person can act on.
    pub reason: String,
}

/// The relay's answer to a [`SetAsideExchange`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetAsideAnswer {
    /// Items stored now or before: under review.
    #[serde(default)]
    pub received: Vec<String>,
    /// Items refused.
    #[serde(default)]
    pub refused: Vec<SetAsideRefusal>,
    /// Items a coordinator decided, among those asked about.
    #[serde(default)]
    pub outcomes: Vec<SetAsideOutcome>,
    /// Items whose change the relay's document already holds: it took the change in a sync
    /// whose answer never reached the phone, so the work is synced and there is nothing to review
    /// (stored nowhere; applied again by a coordinator it would be done twice).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub held: Vec<String>,
}
