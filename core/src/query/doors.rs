//! "One visit, several jobs": a volunteer's tasks grouped by door and ordered the way they climb
//! (building → unit → floor → flat).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::Compound;
use crate::id::{HouseholdId, PersonId};
use crate::query::HouseholdBook;
use crate::schema::household::Household;
use crate::schema::task::Task;
use crate::schema::vocabulary::TaskStatus;

/// One door and everything to do there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Door {
    /// The household behind the door (as it last stood, when removed since).
    pub household: Household,
    /// A coordinator removed the household from the roster after the tasks were planned: its
    /// open tasks still stand, so the door is listed, marked, for the volunteer to ask before
    /// going (it was left out of the list, though the dashboard's round still showed it open).
    pub household_removed: bool,
    /// The tasks still to do there (open rounds, not delivered, not cancelled).
    pub tasks: Vec<Task>,
}

/// The doors with tasks still to do for `person` (or, with `None`, for anyone: the unassigned
/// and assigned tasks of every open round), in climbing order.
pub fn doors_for(compound: &Compound, person: Option<PersonId>) -> Vec<Door> {
    let mut by_door: BTreeMap<HouseholdId, Vec<Task>> = BTreeMap::new();
    for task in compound.open_tasks() {
        let pending =
            matches!(task.status(), TaskStatus::Open | TaskStatus::Assigned | TaskStatus::Attempted);
        let mine = person.is_none_or(|p| task.assignee == Some(p));
        if pending && mine {
            by_door.entry(task.household).or_default().push(task);
        }
    }
    let book = HouseholdBook::of(compound, by_door.keys().copied());
    let mut doors: Vec<Door> = by_door
        .into_iter()
        .filter_map(|(id, tasks)| {
            let household = book.get(id)?.clone();
            Some(Door { household, household_removed: book.removal(id).is_some(), tasks })
        })
        .collect();
    doors.sort_by_key(|d| d.household.address.climb_key());
    for door in &mut doors {
        door.tasks.sort_by_key(|t| (std::cmp::Reverse(t.priority), t.kind, t.id));
    }
    doors
}

/// Every household in climbing order.
pub fn households_in_order(compound: &Compound) -> Vec<Household> {
    let mut all = compound.households();
    all.sort_by_key(|h| h.address.climb_key());
    all
}

/// The special-needs ledger: households with a need tag, in climbing order.
pub fn special_needs(compound: &Compound) -> Vec<Household> {
    households_in_order(compound).into_iter().filter(|h| !h.needs.is_empty()).collect()
}
