//! What the relay knows of a compound's roster when it checks a batch for one of the compound's
//! other documents. The rules are per document, but a new task, request or care entry names a
//! household, which only the roster holds: the phone refuses one for a household its roster does
//! not know (`Compound::apply`, `require_household`), and the relay must too, or a modified phone
//! fills the coordinators' critical queue with requests for doors nobody can find.
//!
//! The relay looks the roster up only for a batch that can name a household
//! ([`may_name_households`]): one that makes a map under a key (a new task, request or entry) or
//! writes a `household` field. A volunteer's knock, claim or note makes none, so the team's
//! return never pays for it.

use std::sync::Arc;

use automerge::legacy::{Key, OpType};
use automerge::{Automerge, Change, ObjType};

use crate::document::roster;
use crate::id::HouseholdId;
use crate::query::{change_ops, once_removed};

/// The roster a batch is checked against, as far as the caller looked it up.
#[derive(Debug, Clone, Default)]
pub enum RosterAtHand {
    /// Not consulted: the batch is checked as one document alone (tools, the validator's own
    /// tests). Households are not looked up.
    #[default]
    NotConsulted,
    /// The caller did not look the roster up, because [`may_name_households`] said the batch
    /// names none, or could not (its storage failed): a household named anyway is refused for
    /// now (`missing_dependencies`, transient), never taken unchecked.
    NotLookedUp,
    /// The compound's roster as the relay holds it.
    Held(Arc<HeldRoster>),
}

/// A compound's roster as the relay holds it, and what the sender's phone said of its own.
#[derive(Debug, Clone)]
pub struct HeldRoster {
    /// The roster document (an empty one when the compound has none).
    pub roster: Automerge,
    /// The sender's phone holds roster changes the relay lacks (its request's message for the
    /// roster names heads the relay does not hold: changes from another phone met offline, ones
    /// the relay refused for the moment, or a relay restored from an older backup). A household
    /// its work names may be in them, so that work waits rather than being set aside.
    pub sender_ahead: bool,
}

/// What the relay can say of a household a batch names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Known {
    /// In the roster, or removed from it by a coordinator (its history says so): work at its
    /// door made by someone who had not seen the removal is honest.
    Yes,
    /// Not in the roster, nor ever removed from it, and the sender's roster holds nothing the
    /// relay lacks.
    No,
    /// Not known now, but the sender may know it from roster changes the relay does not hold
    /// yet, or the roster was not looked up.
    NotYet,
}

impl RosterAtHand {
    /// The relay's roster, with `sender_ahead` as [`HeldRoster::sender_ahead`].
    pub fn held(roster: Automerge, sender_ahead: bool) -> Self {
        Self::Held(Arc::new(HeldRoster { roster, sender_ahead }))
    }

    /// Whether household `id` may be named by new work: the live roster first (one map lookup),
    /// its history only for an ID not live.
    pub fn knows(&self, id: HouseholdId) -> Known {
        match self {
            Self::NotConsulted => Known::Yes,
            Self::NotLookedUp => Known::NotYet,
            Self::Held(held) => {
                if roster::entity(&held.roster, roster::HOUSEHOLDS, &id.to_string()).is_some()
                    || once_removed(&held.roster, id)
                {
                    Known::Yes
                } else if held.sender_ahead {
                    Known::NotYet
                } else {
                    Known::No
                }
            }
        }
    }
}

/// Whether `changes` may name a household anew: one of them makes a map under a map key (a new
/// task, request or care entry is one; an attempt is a map in a list, a note a text) or writes
/// a `household` field. Reads the operations of each change.
pub fn may_name_households(changes: &[Change]) -> bool {
    changes.iter().any(|change| {
        change_ops::operations(change).iter().any(|(_, op)| match (&op.action, &op.key) {
            (OpType::Make(ObjType::Map), Key::Map(_)) => true,
            (_, Key::Map(key)) => key.as_str() == HOUSEHOLD_FIELD,
            _ => false,
        })
    })
}

/// The field of a task, request or care entry that names its household.
const HOUSEHOLD_FIELD: &str = "household";
