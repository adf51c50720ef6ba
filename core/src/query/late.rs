//! Late field facts: attempts that reached a round after a coordinator closed it. A volunteer
//! who knocked offline before the close could not know the round was closing; the relay keeps
//! such an attempt (see [`rulebook::state`](crate::rulebook::state)) and the coordinator sees it
//! here, marked late, on the round and in the overview's counts.
//!
//! Which attempts are late is read from the documents, not stored: an attempt is late if it
//! reached the relay after the relay took the close. The round's closing write has a place in
//! history, and so has the relay's taking of it: a close made on the dashboard is written on
//! the relay, which holds everything, and when a batch brings a close made on a phone and leaves
//! the round with more than one head, the relay adds one empty merge change over every head
//! (`relay_engine/close_mark.rs`). So an attempt is known at the close if it is in the task's
//! attempts as the round stood at the first empty merge change that descends from the closing
//! write (or, without one, at the write itself); the rest are late. A phone that had not synced
//! since the morning cannot make knocks the relay held by the evening late. Concurrent closes
//! count from the earliest: an attempt is known only if every current close's point knows it.
//! A reopened round has no late attempts; a round closed again counts from the new close.

use std::collections::{HashMap, HashSet};

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
    let closes = closing_changes(doc);
    if closes.is_empty() {
        return Vec::new();
    }
    let points: Vec<ChangeHash> = closes.iter().flat_map(|c| taken_at(doc, *c)).collect();
    let mut late = Vec::new();
    for task in round::tasks(document, doc) {
        let Some(obj) = round::task_object(doc, task.id) else { continue };
        let Some(list) = read::object(doc, &obj, "attempts", ObjType::List) else { continue };
        let known: Vec<HashSet<automerge::ObjId>> =
            points.iter().map(|p| doc.list_range_at(&list, .., &[*p]).map(|i| i.id()).collect()).collect();
        for item in doc.list_range(&list, ..) {
            if known.iter().all(|k| k.contains(&item.id())) {
                continue;
            }
            if let Ok(attempt) = round::read_attempt(doc, &item.id()) {
                late.push(LateAttempt { round: document, task: task.id, household: task.household, attempt });
            }
        }
    }
    late
}

/// The changes that closed the round, if the round is closed now: the status write shown and
/// any concurrent write of "closed" beside it (two coordinators closing at once).
pub(crate) fn closing_changes(doc: &Automerge) -> Vec<ChangeHash> {
    let closed = |value: &Value<'_>| matches!(value, Value::Scalar(s) if matches!(s.as_ref(), ScalarValue::Str(s) if s.as_str() == RoundStatus::Closed.as_str()));
    match doc.get(ROOT, "status") {
        Ok(Some((value, _))) if closed(&value) => {}
        _ => return Vec::new(),
    }
    let Ok(all) = doc.get_all(ROOT, "status") else { return Vec::new() };
    all.into_iter().filter(|(value, _)| closed(value)).filter_map(|(_, id)| doc.hash_for_opid(&id)).collect()
}

/// Where the relay took `close`: the first empty merge changes that descend from it (the
/// relay's mark, `relay_engine/close_mark.rs`; one, unless phones merged concurrently), or the
/// closing write itself when none does (a close written on the relay, or one the relay took
/// with nothing beside it).
fn taken_at(doc: &Automerge, close: ChangeHash) -> Vec<ChangeHash> {
    let after = doc.get_changes_meta(&[close]);
    let mut children: HashMap<ChangeHash, Vec<ChangeHash>> = HashMap::new();
    let mut merges = HashSet::new();
    for change in &after {
        for dep in &change.deps {
            children.entry(*dep).or_default().push(change.hash);
        }
        if change.max_op < change.start_op && change.deps.len() >= 2 {
            merges.insert(change.hash);
        }
    }
    let below = |from: &[ChangeHash]| {
        let mut seen: HashSet<ChangeHash> = HashSet::new();
        let mut todo: Vec<ChangeHash> =
            from.iter().flat_map(|h| children.get(h).into_iter().flatten().copied()).collect();
        while let Some(h) = todo.pop() {
            if seen.insert(h) {
                todo.extend(children.get(&h).into_iter().flatten().copied());
            }
        }
        seen
    };
    let found: Vec<ChangeHash> = below(&[close]).into_iter().filter(|h| merges.contains(h)).collect();
    let later = below(&found);
    let first: Vec<ChangeHash> = found.into_iter().filter(|h| !later.contains(h)).collect();
    if first.is_empty() { vec![close] } else { first }
}
