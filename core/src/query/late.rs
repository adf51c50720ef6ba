//! Late field facts: attempts that reached a round after a coordinator closed it. A volunteer
//! who knocked offline before the close could not know the round was closing; the relay keeps
//! such an attempt (see [`rulebook::state`](crate::rulebook::state)) and the coordinator sees it
//! here, marked late, on the round and in the overview's counts.
//!
//! Which attempts are late is read from the documents, not stored: the round's closing write
//! has a place in history, and an attempt is late if it is not in the task's attempts as the
//! round stood at that write. A reopened round has no late attempts; a round closed again
//! counts from the new close.

use automerge::{Automerge, ChangeHash, ObjType, ROOT, ReadDoc, ScalarValue, Value};
use serde::Serialize;

use crate::Compound;
use crate::document::{read, round};
use crate::id::{DocumentId, HouseholdId, TaskId};
use crate::schema::task::Attempt;
use crate::schema::vocabulary::RoundStatus;

/// An attempt that arrived after its round was closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LateAttempt {
    /// The round.
    pub round: DocumentId,
    /// The task.
    pub task: TaskId,
    /// The door.
    pub household: HouseholdId,
    /// The attempt, as recorded at the door (its time is before the close).
    pub attempt: Attempt,
}

/// Every late attempt of every closed round held.
pub fn late_attempts(compound: &Compound) -> Vec<LateAttempt> {
    compound.rounds().flat_map(|d| late_in_round(d.id(), d.automerge())).collect()
}

/// The late attempts of one round (none if it is open).
pub fn late_in_round(document: DocumentId, doc: &Automerge) -> Vec<LateAttempt> {
    let Some(closed) = closing_change(doc) else {
        return Vec::new();
    };
    let at_close = [closed];
    let mut late = Vec::new();
    for task in round::tasks(document, doc) {
        let Some(obj) = round::task_object(doc, task.id) else { continue };
        let Some(list) = read::object(doc, &obj, "attempts", ObjType::List) else { continue };
        let known: Vec<automerge::ObjId> = doc.list_range_at(&list, .., &at_close).map(|i| i.id()).collect();
        for item in doc.list_range(&list, ..) {
            if known.contains(&item.id()) {
                continue;
            }
            if let Ok(attempt) = round::read_attempt(doc, &item.id()) {
                late.push(LateAttempt { round: document, task: task.id, household: task.household, attempt });
            }
        }
    }
    late
}

/// The change that closed the round, if the round is closed now.
fn closing_change(doc: &Automerge) -> Option<ChangeHash> {
    let (value, id) = doc.get(ROOT, "status").ok().flatten()?;
    let Value::Scalar(status) = value else { return None };
    if !matches!(status.as_ref(), ScalarValue::Str(s) if s.as_str() == RoundStatus::Closed.as_str()) {
        return None;
    }
    doc.hash_for_opid(&id)
}
