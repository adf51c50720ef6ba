//! A revoked phone's last word (`POST /v1/wiped`, JSON): as it wipes itself after the relay said
//! its token was revoked, it says how much of its own work the relay never got, which went with
//! the wipe. The coordinator who revoked it sees the number on the members page: a phone revoked
//! by mistake while still in a volunteer's hands shows that knocks were lost, and who to ask.
//!
//! Only the count goes: the work itself stays unsent, since whoever holds the phone now is not
//! taken to be the volunteer.

use serde::{Deserialize, Serialize};

/// What a phone says as it wipes itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WipeReport {
    /// Its changes the relay was not known to have, and its set-aside items the review inbox
    /// never received.
    pub unsent: u32,
}
