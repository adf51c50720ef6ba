//! Typed questions a volunteer or a coordinator asks of a compound. Everything is computed from
//! the documents on demand; nothing here is stored, so it cannot disagree with the documents.

pub(crate) mod change_ops;
mod conflicts;
mod counts;
mod doors;
mod history;
pub(crate) mod late;
mod lookup;
mod removed;
mod reviews;
mod to_reassign;

pub use conflicts::{Conflict, cancelled_but_delivered, conflicts, round_conflicts};
pub use counts::{Counts, counts, counts_among};
pub use doors::{Door, doors_for, households_in_order, special_needs};
pub use history::{HistoryEntry, history};
pub use late::{LateAttempt, late_attempts, late_in_round};
pub use lookup::{LookupError, find_household};
pub use removed::{HouseholdBook, Removal, once_removed, removed_households};
pub use reviews::{
    ConflictReview, all_reviews, conflict_reviews, round_conflict_reviews, unreviewed_conflicts,
};
pub use to_reassign::needs_reassigning;

use crate::Compound;
use crate::document::{requests, roster, round};
use crate::schema::household::Household;
use crate::schema::request::Request;
use crate::schema::task::{RoundInfo, Task};
use crate::schema::vocabulary::DocKind;

impl Compound {
    /// Every household in the roster.
    pub fn households(&self) -> Vec<Household> {
        self.single(DocKind::Roster).map(|d| roster::households(d.automerge())).unwrap_or_default()
    }

    /// The headers of every round held.
    pub fn round_infos(&self) -> Vec<RoundInfo> {
        self.rounds().filter_map(|d| round::info(d.id(), d.automerge()).ok()).collect()
    }

    /// Every task of every round held.
    pub fn tasks(&self) -> Vec<Task> {
        self.rounds().flat_map(|d| round::tasks(d.id(), d.automerge())).collect()
    }

    /// Every task of the open rounds.
    pub fn open_tasks(&self) -> Vec<Task> {
        self.open_rounds().flat_map(|d| round::tasks(d.id(), d.automerge())).collect()
    }

    /// Every request.
    pub fn requests(&self) -> Vec<Request> {
        self.single(DocKind::Requests).map(|d| requests::requests(d.automerge())).unwrap_or_default()
    }

    /// The care ledger, if this device holds it.
    pub fn care_entries(&self) -> Vec<crate::schema::request::CareEntry> {
        self.single(DocKind::Care).map(|d| crate::document::care::entries(d.automerge())).unwrap_or_default()
    }
}
