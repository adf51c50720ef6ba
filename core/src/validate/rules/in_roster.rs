//! New work names a household of its compound's roster: a task, a request or a care entry added,
//! or its `household` field written, must name one the roster holds or a coordinator removed
//! from it (work at a door removed meanwhile is honest), as the phone requires before it writes
//! one. What the relay knows of the roster is the caller's ([`RosterAtHand`]).
//!
//! [`RosterAtHand`]: crate::validate::RosterAtHand

use super::Effect;
use super::entities::Present;
use crate::id::HouseholdId;
use crate::permission::Rule;
use crate::validate::roster_at_hand::Known;
use crate::validate::violation::{Problem, ViolationKind};

/// Whether the batch names `present`'s household anew: it added the entity, or wrote its
/// `household` field.
pub(super) fn names_anew(e: &Effect<'_>, collection: &str, present: &Present) -> bool {
    present.added
        || e.touched
            .in_collection(collection)
            .any(|(key, t)| *key == present.key && (t.whole || t.fields.contains("household")))
}

/// Refuses `label` naming `household` unless the compound's roster knows it: for good when the
/// relay's roster does not and the sender's holds nothing the relay lacks; for now (transient,
/// the phone keeps it) when the sender's roster is ahead of the relay's or was not looked up.
pub(super) fn check(e: &Effect<'_>, household: HouseholdId, label: &str) -> Result<(), Problem> {
    match e.roster.knows(household) {
        Known::Yes => Ok(()),
        Known::No => Err(Problem::forbidden(
            Rule::HouseholdsAreInTheRoster,
            format!(
                "{label} names household {household}, which the compound's roster does not hold and never held"
            ),
        )),
        Known::NotYet => Err(Problem {
            kind: ViolationKind::MissingDeps,
            reason: format!(
                "{label} names household {household}, which the relay's roster does not hold yet; the phone keeps it and sends it again once the roster changes that add the household have reached the relay"
            ),
        }),
    }
}
