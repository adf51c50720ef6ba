//! Rounds, tasks and attempts, as read from a round document.

use serde::{Deserialize, Serialize};

use super::vocabulary::{Outcome, Priority, RoundStatus, TaskKind, TaskStatus};
use crate::id::{DocumentId, HouseholdId, PersonId, RequestId, TaskId};
use crate::time::Timestamp;

/// A delivery round's header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundInfo {
    /// The round's document.
    pub document: DocumentId,
    /// "蔬菜包 第3轮".
    pub title: String,
    /// What it delivers.
    pub kind: TaskKind,
    /// The day it is for, written YYYY-MM-DD ("2026-11-23"), or empty.
    pub date: String,
    /// Open or closed.
    pub status: RoundStatus,
}

/// One knock on a door: appended, never edited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// Who recorded it: the knocker, or the coordinator who applied a knock the relay had set
    /// aside (then `knocked_by` names the knocker).
    pub by: PersonId,
    /// Device time it was recorded.
    pub at: Timestamp,
    /// What happened.
    pub outcome: Outcome,
    /// What the volunteer noted.
    pub note: String,
    /// Who knocked, when a coordinator recorded the knock for them (a knock of theirs the relay
    /// set aside, applied from the review inbox); absent when `by` knocked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub knocked_by: Option<PersonId>,
    /// When they knocked, by their phone's clock, when a coordinator recorded it for them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub knocked_at: Option<Timestamp>,
}

impl Attempt {
    /// Who knocked on the door: the person credited with the attempt.
    pub fn knocker(&self) -> PersonId {
        self.knocked_by.unwrap_or(self.by)
    }

    /// When the door was knocked on.
    pub fn knock_time(&self) -> Timestamp {
        self.knocked_at.unwrap_or(self.at)
    }
}

/// A coordinator's cancellation of a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cancellation {
    /// The coordinator.
    pub by: PersonId,
    /// When.
    pub at: Timestamp,
    /// Why.
    pub reason: String,
}

/// A task as a round holds it now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// Stable ID.
    pub id: TaskId,
    /// The round it belongs to.
    pub round: DocumentId,
    /// The door.
    pub household: HouseholdId,
    /// What to bring.
    pub kind: TaskKind,
    /// Free text: "蔬菜包1份, 药品(降压药)".
    pub items: String,
    /// How soon.
    pub priority: Priority,
    /// The winning assignee, if any.
    pub assignee: Option<PersonId>,
    /// The request this task answers.
    pub request: Option<RequestId>,
    /// Set when a coordinator cancelled the task.
    pub cancelled: Option<Cancellation>,
    /// Every attempt from every phone, in merged order.
    pub attempts: Vec<Attempt>,
}

impl Task {
    /// The status derived from attempts, cancellation and assignee: delivered if any attempt
    /// delivered; else cancelled if cancelled; else attempted, assigned or open.
    pub fn status(&self) -> TaskStatus {
        if self.attempts.iter().any(|a| a.outcome == Outcome::Delivered) {
            TaskStatus::Delivered
        } else if self.cancelled.is_some() {
            TaskStatus::Cancelled
        } else if !self.attempts.is_empty() {
            TaskStatus::Attempted
        } else if self.assignee.is_some() {
            TaskStatus::Assigned
        } else {
            TaskStatus::Open
        }
    }

    /// How many attempts delivered (more than one is a double delivery to review).
    pub fn deliveries(&self) -> usize {
        self.attempts.iter().filter(|a| a.outcome == Outcome::Delivered).count()
    }
}
