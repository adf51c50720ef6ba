//! A revoked phone's last word (`POST /v1/wiped`, JSON): as it wipes itself after the relay said
//! its token was revoked, it says how much of its own work the relay never got, which went with
//! the wipe. The coordinator who revoked it sees the number on the members page: a phone revoked
//! by mistake while still in a volunteer's hands shows that knocks were lost, and who to ask.
//!
//! Only the count and the changes' hashes go: the work itself stays unsent, since whoever holds
//! the phone now is not taken to be the volunteer. The hashes let the relay leave out of the
//! count what it holds after all: changes it took in a sync whose answer the link lost, or that
//! a copy of the phone (a backup put back on a new phone) synced meanwhile. Counted, they had
//! the coordinator ask the volunteer to record that work again, and every knock was then made
//! twice.

use serde::{Deserialize, Serialize};

use crate::id::DocumentId;

/// Most change hashes one report carries; a phone with more unsynced changes sends the first
/// ones, and the rest count as lacking.
pub const MAX_WIPE_REPORT_CHANGES: usize = 512;

/// What a phone says as it wipes itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WipeReport {
    /// Its changes the relay was not known to have, and its set-aside items the review inbox
    /// never received.
    pub unsent: u32,
    /// The hashes of the changes among `unsent` (at most [`MAX_WIPE_REPORT_CHANGES`] in all), by
    /// document: the relay does not count those it holds. Absent from older phones, whose count
    /// stands as it is; and sent only to relays that read it (an older one refuses the field,
    /// and the phone then says the bare count).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<UnsentChanges>,
}

/// One document's changes in a [`WipeReport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnsentChanges {
    pub doc: DocumentId,
    /// Change hashes, as hex.
    pub hashes: Vec<String>,
}

impl WipeReport {
    /// How many change hashes the report carries.
    pub fn change_count(&self) -> usize {
        self.changes.iter().map(|c| c.hashes.len()).sum()
    }

    /// The report with `unsent` alone, as phones sent it before the hashes.
    pub fn bare(&self) -> WipeReport {
        WipeReport { unsent: self.unsent, changes: Vec::new() }
    }
}
