//! A coordinator's review of a conflict: who looked at it, when, what they noted, and exactly
//! which conflicting values they looked at. Reviews are append-only records; the conflicting
//! values (both attempts of a double delivery, every concurrent assignee) all stay.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::ledger_field::LedgerField;
use crate::id::{DocumentId, HouseholdId, PersonId, RequestId, ReviewId, TaskId};
use crate::time::Timestamp;

/// Which conflict a review is about: its kind and where it is. The round document holds the
/// reviews of its tasks' conflicts; the roster holds the others' (concurrent statuses, ledger
/// edits and triage: the roster is read by everyone in the compound, as the requests are).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ConflictSubject {
    /// A task delivered more than once.
    DoubleDelivery {
        /// The round.
        round: DocumentId,
        /// The task.
        task: TaskId,
    },
    /// A task assigned concurrently to different people.
    CompetingAssignment {
        /// The round.
        round: DocumentId,
        /// The task.
        task: TaskId,
    },
    /// A task delivered by a volunteer who had not yet learnt that a coordinator cancelled it.
    CancelledButDelivered {
        /// The round.
        round: DocumentId,
        /// The task.
        task: TaskId,
    },
    /// A household's control status set concurrently to different values.
    ConcurrentStatus {
        /// The household.
        household: HouseholdId,
    },
    /// A household's ledger field (phone, people …) set concurrently to different values.
    ConcurrentLedgerEdit {
        /// The household.
        household: HouseholdId,
        /// The field.
        field: LedgerField,
    },
    /// A request triaged concurrently to different decisions (status or urgency).
    ConcurrentTriage {
        /// The request.
        request: RequestId,
    },
}

impl ConflictSubject {
    /// The kind's wire name (`"double_delivery"`), as the review record stores it.
    pub fn kind(&self) -> &'static str {
        match self {
            ConflictSubject::DoubleDelivery { .. } => "double_delivery",
            ConflictSubject::CompetingAssignment { .. } => "competing_assignment",
            ConflictSubject::CancelledButDelivered { .. } => "cancelled_but_delivered",
            ConflictSubject::ConcurrentStatus { .. } => "concurrent_status",
            ConflictSubject::ConcurrentLedgerEdit { .. } => "concurrent_ledger_edit",
            ConflictSubject::ConcurrentTriage { .. } => "concurrent_triage",
        }
    }

    /// The entity the conflict is on, as the review record stores it (a task, household or
    /// request ID; a household's ID and the field's wire name for a ledger edit: `<id>/phone`).
    pub fn entity(&self) -> String {
        match self {
            ConflictSubject::DoubleDelivery { task, .. }
            | ConflictSubject::CompetingAssignment { task, .. }
            | ConflictSubject::CancelledButDelivered { task, .. } => task.to_string(),
            ConflictSubject::ConcurrentStatus { household } => household.to_string(),
            ConflictSubject::ConcurrentLedgerEdit { household, field } => {
                format!("{household}/{}", field.as_str())
            }
            ConflictSubject::ConcurrentTriage { request } => request.to_string(),
        }
    }

    /// The round a task's conflict is in, where its reviews are kept; `None` for the others
    /// (kept in the roster).
    pub fn round(&self) -> Option<DocumentId> {
        match self {
            ConflictSubject::DoubleDelivery { round, .. }
            | ConflictSubject::CompetingAssignment { round, .. }
            | ConflictSubject::CancelledButDelivered { round, .. } => Some(*round),
            ConflictSubject::ConcurrentStatus { .. }
            | ConflictSubject::ConcurrentLedgerEdit { .. }
            | ConflictSubject::ConcurrentTriage { .. } => None,
        }
    }

    /// The subject a review record names, from its stored kind and entity, read in the
    /// document `round` (for the task kinds). `None` if the kind is unknown or the ID malformed.
    pub fn from_record(kind: &str, entity: &str, round: DocumentId) -> Option<Self> {
        Some(match kind {
            "double_delivery" => ConflictSubject::DoubleDelivery { round, task: entity.parse().ok()? },
            "competing_assignment" => {
                ConflictSubject::CompetingAssignment { round, task: entity.parse().ok()? }
            }
            "cancelled_but_delivered" => {
                ConflictSubject::CancelledButDelivered { round, task: entity.parse().ok()? }
            }
            "concurrent_status" => ConflictSubject::ConcurrentStatus { household: entity.parse().ok()? },
            "concurrent_ledger_edit" => {
                let (household, field) = entity.split_once('/')?;
                ConflictSubject::ConcurrentLedgerEdit {
                    household: household.parse().ok()?,
                    field: field.parse().ok()?,
                }
            }
            "concurrent_triage" => ConflictSubject::ConcurrentTriage { request: entity.parse().ok()? },
            _ => return None,
        })
    }
}

/// One review, as a document holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    /// Stable ID.
    pub id: ReviewId,
    /// The conflict reviewed.
    pub subject: ConflictSubject,
    /// The conflicting values the reviewer saw (a delivered attempt's Automerge element ID, an
    /// assignee's person ID or `nobody`, a control status). A conflict that later gains a value
    /// outside this set is shown as unreviewed again.
    pub covers: BTreeSet<String>,
    /// The coordinator.
    pub by: PersonId,
    /// When (device time of the coordinator's phone or the relay's clock for the dashboard).
    pub at: Timestamp,
    /// What they noted ("已核实，第二份转给 2-1-302"); may be empty.
    pub note: String,
}

impl Review {
    /// Whether this review covers a conflict on `subject` whose conflicting values are now
    /// `values`: same conflict, and no value the reviewer did not see.
    pub fn covers(&self, subject: &ConflictSubject, values: &BTreeSet<String>) -> bool {
        self.subject == *subject && values.is_subset(&self.covers)
    }
}
