//! Turning what a person types (a task's handle, an address) into IDs.

use doorstep_core::Compound;
use doorstep_core::id::{CompoundId, TaskId};
use doorstep_core::query;
use doorstep_core::schema::household::Household;
use doorstep_core::schema::review::ConflictSubject;
use doorstep_replica::Replica;

use super::PhoneError;
use crate::handle::{Handles, Named};

/// The task named by `text`: the handle `tasks` shows ("1-1-101", "1-1-101/2"), the door
/// written out ("1号楼1单元101"), or for scripts a task ID or a unique prefix of one.
pub fn task(replica: &Replica, text: &str) -> Result<Named, PhoneError> {
    Handles::of(replica)
        .read_as_listed(replica.shown_handles()?)
        .resolve(&replica.compounds().collect::<Vec<_>>(), text)
}

/// Refuses a volunteer's claim of a task another person holds, naming its door and what it
/// brings: the rule core would apply, said without IDs. Anything else is left to core.
pub fn refuse_if_taken(replica: &Replica, task: &Named) -> Result<(), PhoneError> {
    if replica.role(task.compound) != Some(doorstep_core::Role::Volunteer) {
        return Ok(());
    }
    let me = replica.identity().map(|i| i.person);
    match task.task.assignee {
        Some(holder) if Some(holder) != me => {
            Err(PhoneError::TaskTaken { address: task.address.clone(), items: task.task.items.clone() })
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

/// The conflict at `target`: a double delivery or competing assignment on the task `target`
/// names (its handle as `conflicts` shows it, or a task ID or prefix), or the household's own
/// conflict at the address `target` (concurrent statuses, ledger fields or triage; the first
/// still to review). A task with both kinds of conflict names the double
/// delivery.
/// Which of a task's two kinds of conflict `review --kind` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TaskConflict {
    /// Delivered more than once.
    Delivery,
    /// Assigned concurrently to different people.
    Assignment,
    /// Delivered by a volunteer who had not learnt that a coordinator cancelled it.
    Cancelled,
}

impl TaskConflict {
    /// Whether `subject` is of this kind.
    fn names(self, subject: &ConflictSubject) -> bool {
        matches!(
            (self, subject),
            (TaskConflict::Delivery, ConflictSubject::DoubleDelivery { .. })
                | (TaskConflict::Assignment, ConflictSubject::CompetingAssignment { .. })
                | (TaskConflict::Cancelled, ConflictSubject::CancelledButDelivered { .. })
        )
    }

    /// The kind `subject` is, if it is a task's.
    pub fn of(subject: &ConflictSubject) -> Option<Self> {
        match subject {
            ConflictSubject::DoubleDelivery { .. } => Some(TaskConflict::Delivery),
            ConflictSubject::CompetingAssignment { .. } => Some(TaskConflict::Assignment),
            ConflictSubject::CancelledButDelivered { .. } => Some(TaskConflict::Cancelled),
            ConflictSubject::ConcurrentStatus { .. }
            | ConflictSubject::ConcurrentLedgerEdit { .. }
            | ConflictSubject::ConcurrentTriage { .. } => None,
        }
    }

    /// As typed after `--kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskConflict::Delivery => "delivery",
            TaskConflict::Assignment => "assignment",
            TaskConflict::Cancelled => "cancelled",
        }
    }
}

/// The conflict `target` names, of `kind` when given: on a task with both a double delivery and
/// a competing assignment, without `kind`, the first still to review (the second `review` of
/// that door reviewed the same one again, replacing its note, and the other stayed to review).
pub fn conflict(
    replica: &Replica,
    target: &str,
    kind: Option<TaskConflict>,
) -> Result<(CompoundId, ConflictSubject), PhoneError> {
    // A script's task ID, or a prefix of one unique among the tasks in conflict.
    let id = target.trim().to_ascii_lowercase();
    let mut by_id: Vec<(CompoundId, ConflictSubject)> = Vec::new();
    for c in replica.compounds() {
        for subject in ordered_for_review(c, kind) {
            let matches = task_of(&subject)
                .is_some_and(|t| t.to_string() == id || (id.len() >= 6 && t.to_string().starts_with(&id)));
            if matches && !by_id.iter().any(|(_, s)| task_of(s) == task_of(&subject)) {
                by_id.push((c.id(), subject));
            }
        }
    }
    if by_id.len() == 1 {
        return Ok(by_id.remove(0));
    }
    // The handle `conflicts` shows: a task's door ("1-1-101", "1-1-101/2").
    if let Ok(named) = task(replica, target) {
        let on_task = replica
            .compounds()
            .filter(|c| c.id() == named.compound)
            .flat_map(|c| ordered_for_review(c, kind))
            .find(|s| task_of(s) == Some(named.task.id));
        if let Some(subject) = on_task {
            return Ok((named.compound, subject));
        }
    }
    // Not a task with a conflict: an address with concurrent statuses.
    let door = target.split('/').next().unwrap_or(target);
    let Ok((compound, household)) = household(replica, door) else {
        return Err(PhoneError::NoConflict(target.to_owned()));
    };
    // The household's own conflicts (statuses, ledger fields, its requests' triage): the first
    // still to review.
    let mut at_door: Vec<_> = replica
        .compounds()
        .filter(|c| c.id() == compound)
        .flat_map(query::conflict_reviews)
        .filter(|c| c.conflict.household() == household.id && task_of(&c.conflict.subject()).is_none())
        .collect();
    at_door.sort_by_key(|c| c.is_reviewed());
    at_door
        .first()
        .map(|c| (compound, c.conflict.subject()))
        .ok_or_else(|| PhoneError::NoConflict(target.to_owned()))
}

/// `compound`'s conflicts of `kind` (any kind when `None`), those still to review first.
fn ordered_for_review(compound: &Compound, kind: Option<TaskConflict>) -> Vec<ConflictSubject> {
    let (mut to_review, mut reviewed): (Vec<_>, Vec<_>) =
        query::conflict_reviews(compound).into_iter().partition(|c| !c.is_reviewed());
    to_review.append(&mut reviewed);
    to_review.into_iter().map(|c| c.conflict.subject()).filter(|s| kind.is_none_or(|k| k.names(s))).collect()
}

/// The task a conflict is on, if it is a task's.
pub(crate) fn task_of(subject: &ConflictSubject) -> Option<TaskId> {
    match subject {
        ConflictSubject::DoubleDelivery { task, .. }
        | ConflictSubject::CompetingAssignment { task, .. }
        | ConflictSubject::CancelledButDelivered { task, .. } => Some(*task),
        ConflictSubject::ConcurrentStatus { .. }
        | ConflictSubject::ConcurrentLedgerEdit { .. }
        | ConflictSubject::ConcurrentTriage { .. } => None,
    }
}
