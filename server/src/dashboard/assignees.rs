//! Who a task may be given to from the dashboard: a live member of its compound. The dashboard
//! is online, so it refuses an assignment to anyone else (another compound's person, someone
//! removed, an ID nobody holds) rather than write a task nobody can deliver or claim. A phone's
//! assignment arriving by sync is not judged here: a coordinator assigning offline to someone
//! removed meanwhile did nothing wrong, and the round view marks such a task
//! (`assignee_removed`) so that it is reassigned.

use std::collections::HashSet;

use doorstep_core::Operation;
use doorstep_core::id::{CompoundId, PersonId};

use super::DashState;
use super::error::DashError;

/// The person `op` gives tasks to, if it gives any.
fn assignee(op: &Operation) -> Option<PersonId> {
    match op {
        Operation::AssignTask { volunteer, .. } | Operation::AssignBuilding { volunteer, .. } => {
            Some(*volunteer)
        }
        _ => None,
    }
}

/// The live (not removed) members of `compound`: the people a task may be given to, and whom a
/// task given to anyone else waits on nobody (待改派, `to_reassign`).
pub(super) async fn live_members(
    state: &DashState,
    compound: CompoundId,
) -> Result<HashSet<PersonId>, DashError> {
    let members = state.app.relay.storage().members(compound).await?;
    Ok(members.into_iter().filter(|m| !m.revoked).map(|m| m.person).collect())
}

/// Refuses (422 `not_a_member`) an operation that gives tasks to someone who is not a live
/// member of `compound`.
pub(super) async fn require_live_assignee(
    state: &DashState,
    compound: CompoundId,
    op: &Operation,
) -> Result<(), DashError> {
    let Some(person) = assignee(op) else { return Ok(()) };
    let members = state.app.relay.storage().members(compound).await?;
    match members.iter().find(|m| m.person == person) {
        Some(m) if !m.revoked => Ok(()),
        Some(m) => Err(DashError::unprocessable(
            "not_a_member",
            format!(
                "{} was removed from this compound, so nobody could deliver or claim the task; \
                 choose a current member (此人已被移出本小区，请改派给现有成员)",
                m.name
            ),
        )),
        None => Err(DashError::unprocessable(
            "not_a_member",
            format!(
                "{person} is not a member of this compound, so nobody could deliver or claim the task; \
                 choose a current member (此人不是本小区成员，请改派给现有成员)"
            ),
        )),
    }
}
