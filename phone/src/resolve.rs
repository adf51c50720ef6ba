//! Turning what a person types (a task ID prefix, an address) into IDs.

use doorstep_core::id::{CompoundId, DocumentId, TaskId};
use doorstep_core::query;
use doorstep_core::schema::household::Household;
use doorstep_core::schema::review::ConflictSubject;
use doorstep_replica::Replica;

use super::PhoneError;

/// The open task whose ID is `text` or starts with it (at least 6 characters).
pub fn task(replica: &Replica, text: &str) -> Result<(CompoundId, DocumentId, TaskId), PhoneError> {
    let text = text.trim().to_ascii_lowercase();
    let mut found = Vec::new();
    for c in replica.compounds() {
        for t in c.open_tasks() {
            let id = t.id.to_string();
            if id == text || (text.len() >= 6 && id.starts_with(&text)) {
                found.push((c.id(), t.round, t.id));
            }
        }
    }
    match found.len() {
        0 => Err(PhoneError::UnknownTask(text)),
        1 => Ok(found.remove(0)),
        _ => Err(PhoneError::AmbiguousTask(text)),
    }
}

/// Refuses a volunteer's claim of a task another person holds, naming its door and what it
/// brings: the rule core would apply, said without IDs. Anything else is left to core.
pub fn refuse_if_taken(replica: &Replica, compound: CompoundId, task: TaskId) -> Result<(), PhoneError> {
    let Some(c) = replica.compounds().find(|c| c.id() == compound) else { return Ok(()) };
    if replica.role(compound) != Some(doorstep_core::Role::Volunteer) {
        return Ok(());
    }
    let me = replica.identity().map(|i| i.person);
    let Some(t) = c.open_tasks().into_iter().find(|t| t.id == task) else { return Ok(()) };
    match t.assignee {
        Some(holder) if Some(holder) != me => {
            let address = c
                .households()
                .into_iter()
                .find(|h| h.id == t.household)
                .map_or_else(|| t.household.to_string(), |h| h.address.to_string());
            Err(PhoneError::TaskTaken { address, items: t.items })
        }
        _ => Ok(()),
    }
}

/// The household at `address` in the phone's compounds.
pub fn household(replica: &Replica, address: &str) -> Result<(CompoundId, Household), PhoneError> {
    let mut last = None;
    for c in replica.compounds() {
        match query::find_household(c, address) {
            Ok(h) => return Ok((c.id(), h)),
            Err(e) => last = Some(e),
        }
    }
    Err(last.map_or(PhoneError::NotJoined, PhoneError::Lookup))
}

/// The phone's only compound.
pub fn only_compound(replica: &Replica) -> Result<CompoundId, PhoneError> {
    let ids: Vec<_> = replica.compounds().map(|c| c.id()).collect();
    match ids.as_slice() {
        [] => Err(PhoneError::NotJoined),
        [one] => Ok(*one),
        many => Err(PhoneError::SeveralCompounds(many.len())),
    }
}

/// The conflict at `target`: a double delivery or competing assignment on the task whose ID is
/// `target` or starts with it (at least 6 characters), or concurrent statuses of the household
/// at the address `target`. A task with both kinds of conflict names the double delivery.
pub fn conflict(replica: &Replica, target: &str) -> Result<(CompoundId, ConflictSubject), PhoneError> {
    let text = target.trim().to_ascii_lowercase();
    let mut found: Vec<(CompoundId, ConflictSubject)> = Vec::new();
    for c in replica.compounds() {
        for conflict in query::conflicts(c) {
            let subject = conflict.subject();
            let on_task = match subject {
                ConflictSubject::DoubleDelivery { task, .. }
                | ConflictSubject::CompetingAssignment { task, .. } => {
                    let id = task.to_string();
                    id == text || (text.len() >= 6 && id.starts_with(&text))
                }
                ConflictSubject::ConcurrentStatus { .. } => false,
            };
            if on_task && !found.iter().any(|(_, s)| task_of(s) == task_of(&subject)) {
                found.push((c.id(), subject));
            }
        }
    }
    match found.len() {
        1 => return Ok(found.remove(0)),
        0 => {}
        _ => return Err(PhoneError::AmbiguousTask(text)),
    }
    // Not a task: an address with concurrent statuses.
    let Ok((compound, household)) = household(replica, target) else {
        return Err(PhoneError::NoConflict(target.to_owned()));
    };
    let subject = ConflictSubject::ConcurrentStatus { household: household.id };
    let on_household = replica
        .compounds()
        .filter(|c| c.id() == compound)
        .flat_map(query::conflicts)
        .any(|c| c.subject() == subject);
    if on_household { Ok((compound, subject)) } else { Err(PhoneError::NoConflict(target.to_owned())) }
}

fn task_of(subject: &ConflictSubject) -> Option<TaskId> {
    match subject {
        ConflictSubject::DoubleDelivery { task, .. } | ConflictSubject::CompetingAssignment { task, .. } => {
            Some(*task)
        }
        ConflictSubject::ConcurrentStatus { .. } => None,
    }
}
