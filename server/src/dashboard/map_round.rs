//! An open round's progress door by door, as the 参谋图 shows it when a coordinator picks the
//! round: which doors are delivered, which were knocked on without delivering (nobody home,
//! refused, wrong address) and which are still to visit.

use std::collections::{HashMap, HashSet};

use doorstep_core::document::Document;
use doorstep_core::document::round;
use doorstep_core::id::HouseholdId;
use doorstep_core::schema::task::{RoundInfo, Task};
use doorstep_core::schema::vocabulary::{Outcome, TaskStatus};
use serde::Serialize;

/// Where a door stands in a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DoorState {
    /// Every task for the door is delivered.
    Delivered,
    /// Knocked on, not delivered yet (the last attempt says why).
    Attempted,
    /// Not visited yet, assigned or not.
    Pending,
}

/// A door in the round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Door {
    /// Where it stands.
    pub state: DoorState,
    /// The last attempt's outcome at an attempted door (nobody home, refused, wrong address).
    pub outcome: Option<Outcome>,
}

/// The round shown on the map, with its doors counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoundOnMap {
    /// The round's header.
    pub round: RoundInfo,
    /// Doors in the round drawn on the map (households of the roster with a task that is not
    /// cancelled); the counts below add up to it.
    pub doors: u32,
    /// Doors delivered.
    pub delivered: u32,
    /// Doors knocked on, not delivered.
    pub attempted: u32,
    /// Doors not visited yet.
    pub pending: u32,
    /// Doors of the round the map does not draw: households removed from the roster since the
    /// round was planned (the round page lists them, marked removed).
    pub not_drawn: u32,
}

/// The doors of one round, by household, and their counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoundDoors {
    /// The round and its counts.
    pub summary: RoundOnMap,
    /// Each household's door.
    pub doors: HashMap<HouseholdId, Door>,
}

impl RoundDoors {
    /// The doors of a round document among the households the map draws (`drawn`: the
    /// roster's), or `None` if its header does not read.
    pub fn of(doc: &Document, drawn: &HashSet<HouseholdId>) -> Option<Self> {
        let info = round::info(doc.id(), doc.automerge()).ok()?;
        let mut by_household: HashMap<HouseholdId, Vec<Task>> = HashMap::new();
        for task in round::tasks(doc.id(), doc.automerge()) {
            if task.status() != TaskStatus::Cancelled {
                by_household.entry(task.household).or_default().push(task);
            }
        }
        let in_round = by_household.len();
        by_household.retain(|household, _| drawn.contains(household));
        let not_drawn = u32::try_from(in_round - by_household.len()).unwrap_or(u32::MAX);
        let doors: HashMap<HouseholdId, Door> =
            by_household.into_iter().map(|(household, tasks)| (household, door(&tasks))).collect();
        let count = |state: DoorState| {
            u32::try_from(doors.values().filter(|d| d.state == state).count()).unwrap_or(u32::MAX)
        };
        let summary = RoundOnMap {
            round: info,
            doors: u32::try_from(doors.len()).unwrap_or(u32::MAX),
            delivered: count(DoorState::Delivered),
            attempted: count(DoorState::Attempted),
            pending: count(DoorState::Pending),
            not_drawn,
        };
        Some(RoundDoors { summary, doors })
    }
}

/// A door with several tasks (a round's bag and a request's medicine) is delivered only when all
/// are; it counts as attempted once any undelivered task was knocked on for.
fn door(tasks: &[Task]) -> Door {
    let undelivered: Vec<&Task> = tasks.iter().filter(|t| t.status() != TaskStatus::Delivered).collect();
    if undelivered.is_empty() {
        return Door { state: DoorState::Delivered, outcome: None };
    }
    let last = undelivered.iter().flat_map(|t| t.attempts.iter()).max_by_key(|a| a.at);
    match last {
        Some(attempt) => Door { state: DoorState::Attempted, outcome: Some(attempt.outcome) },
        None => Door { state: DoorState::Pending, outcome: None },
    }
}

#[cfg(test)]
mod tests {
    use doorstep_core::id::{DocumentId, PersonId, TaskId};
    use doorstep_core::schema::task::Attempt;
    use doorstep_core::schema::vocabulary::{Priority, TaskKind};
    use doorstep_core::time::Timestamp;

    use super::*;

    fn task(n: u128, attempts: &[(i64, Outcome)]) -> Task {
        Task {
            id: TaskId::from_uuid(uuid::Uuid::from_u128(n)),
            round: DocumentId::from_uuid(uuid::Uuid::from_u128(100)),
            household: HouseholdId::from_uuid(uuid::Uuid::from_u128(200)),
            kind: TaskKind::Groceries,
            items: String::new(),
            priority: Priority::Normal,
            assignee: None,
            request: None,
            cancelled: None,
            attempts: attempts
                .iter()
                .map(|&(at, outcome)| Attempt {
                    by: PersonId::from_uuid(uuid::Uuid::from_u128(300)),
                    at: Timestamp::from_millis(at),
                    outcome,
                    note: String::new(),
                    knocked_by: None,
                    knocked_at: None,
                })
                .collect(),
        }
    }

    #[test]
    fn a_door_with_several_tasks_is_delivered_only_when_all_are() {
        let delivered = task(1, &[(1, Outcome::NobodyHome), (5, Outcome::Delivered)]);
        assert_eq!(
            door(std::slice::from_ref(&delivered)),
            Door { state: DoorState::Delivered, outcome: None }
        );
        let untouched = task(2, &[]);
        assert_eq!(door(&[delivered.clone(), untouched]), Door { state: DoorState::Pending, outcome: None });
        // The last knock on an undelivered task says why; a delivered task's knocks do not count.
        let refused_then_nobody = task(3, &[(2, Outcome::Refused), (4, Outcome::NobodyHome)]);
        assert_eq!(
            door(&[delivered, refused_then_nobody]),
            Door { state: DoorState::Attempted, outcome: Some(Outcome::NobodyHome) }
        );
    }
}
