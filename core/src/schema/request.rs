//! Residents' requests (诉求) and care-ledger entries.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::need_tag::NeedTag;
use super::vocabulary::{Category, Channel, RequestStatus, Urgency};
use crate::id::{CareEntryId, DocumentId, HouseholdId, PersonId, RequestId, TaskId};
use crate::time::Timestamp;

/// A resident's request as the requests document holds it now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// Stable ID.
    pub id: RequestId,
    /// Who asked.
    pub household: HouseholdId,
    /// How it reached us.
    pub channel: Channel,
    /// What it is about.
    pub category: Category,
    /// What they asked for, merged from concurrent edits.
    pub text: String,
    /// How urgent.
    pub urgency: Urgency,
    /// Triage status.
    pub status: RequestStatus,
    /// Tasks that answer it, with their rounds.
    pub tasks: BTreeMap<TaskId, DocumentId>,
    /// Who took it down.
    pub by: PersonId,
    /// When.
    pub at: Timestamp,
}

/// An entry of the care ledger: one person, one file (一人一档).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CareEntry {
    /// Stable ID.
    pub id: CareEntryId,
    /// The household the person lives in.
    pub household: HouseholdId,
    /// The person's name.
    pub person_name: String,
    /// The condition that puts them on the ledger.
    pub condition: NeedTag,
    /// "每周二、四、六上午血透".
    pub schedule: String,
    /// Regular medicines.
    pub medicines: String,
    /// Who holds their insurance card for the medicine run, if anyone.
    pub insurance_card_held_by: Option<PersonId>,
    /// Free notes, merged.
    pub notes: String,
}

/// The fields of a new or edited care entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CareDraft {
    /// The household.
    pub household: HouseholdId,
    /// The person's name.
    pub person_name: String,
    /// The condition.
    pub condition: NeedTag,
    /// Treatment schedule.
    pub schedule: String,
    /// Regular medicines.
    pub medicines: String,
    /// Insurance-card custody.
    pub insurance_card_held_by: Option<PersonId>,
    /// Notes.
    pub notes: String,
}
