//! The compound's roster, for a message whose changes may name a household (a new task, request
//! or care entry, or a `household` field written): the validator checks that the roster holds
//! it or once held it (core `validate/roster_at_hand.rs`). Looked up only for such a message,
//! from the relay's cache (its lock, a look at storage for newer chunks, a copy); a volunteer's
//! knock, claim or note names none, so a team's return never pays for it.
//!
//! A coordinator who adds a household and, offline, a task or a request for it sends the roster
//! and the round in one request: the request's roster messages that carry changes are synced
//! before its other documents (`super::sync_batch`), so the round finds the household here. A
//! phone whose roster holds changes the relay lacks (met another phone offline, or the relay was
//! restored from an older backup) says so by its roster message's heads: its work for a
//! household the relay does not know yet waits on the phone (transient) rather than being set
//! aside.

use std::collections::HashMap;

use automerge::ChangeHash;
use doorstep_core::id::CompoundId;
use doorstep_core::schema::vocabulary::DocKind;
use doorstep_core::sync::{self, DocMessage, MessageLimits};
use doorstep_core::validate::{RosterAtHand, may_name_households};

use super::budget::WorkBudget;
use crate::access::{Access, Decision};
use crate::relay::Relay;

/// The heads each roster message of a request names, by compound: what the sender's phone holds
/// of its compound's roster.
#[derive(Debug, Default)]
pub struct SenderRosters(HashMap<CompoundId, Vec<ChangeHash>>);

impl SenderRosters {
    /// The heads of the roster messages among `messages` the caller may sync; a message that
    /// does not decode says nothing (the engine refuses it on its own).
    pub fn of(messages: &[DocMessage], access: &Access, limits: &MessageLimits) -> Self {
        let heads = messages
            .iter()
            .filter_map(|m| match access.decide(m.doc) {
                Some(Decision::Allowed { record, .. }) if record.header.kind == DocKind::Roster => {
                    let message = sync::decode(&m.message, limits).ok()?;
                    Some((record.header.compound, message.heads))
                }
                _ => None,
            })
            .collect();
        Self(heads)
    }

    /// Whether `doc` is a roster the caller may sync.
    pub fn is_roster(access: &Access, doc: doorstep_core::id::DocumentId) -> bool {
        matches!(access.decide(doc), Some(Decision::Allowed { record, .. }) if record.header.kind == DocKind::Roster)
    }
}

/// What the validator checks the households of a message's changes against: `NotLookedUp` for
/// a message that names none (or a roster that cannot be read just now, which refuses a named
/// household for the moment), else the relay's roster of `compound`.
pub async fn roster_at_hand(
    relay: &Relay,
    access: &Access,
    senders: &SenderRosters,
    compound: CompoundId,
    kind: DocKind,
    changes: &[automerge::Change],
    budget: &WorkBudget,
) -> RosterAtHand {
    if kind == DocKind::Roster || changes.is_empty() || !may_name_households(changes) {
        return RosterAtHand::NotLookedUp;
    }
    let Some(roster) = access.roster_of(compound) else {
        // A compound without a roster holds no household.
        return RosterAtHand::held(automerge::Automerge::new(), false);
    };
    let Ok(mut slot) = tokio::time::timeout(budget.remaining(), relay.cache().lock(roster)).await else {
        return RosterAtHand::NotLookedUp;
    };
    match slot.fresh(relay.storage()).await {
        Ok(Some(_)) => {}
        Ok(None) => return RosterAtHand::held(automerge::Automerge::new(), false),
        Err(e) => {
            tracing::warn!(doc = %roster, error = %e, "roster not read for the households of new work");
            return RosterAtHand::NotLookedUp;
        }
    }
    let heads = senders.0.get(&compound).cloned().unwrap_or_default();
    let copied = tokio::task::spawn_blocking(move || {
        slot.held().map(|cached| {
            let ahead = heads.iter().any(|h| cached.doc.get_change_meta_by_hash(h).is_none());
            RosterAtHand::held(cached.doc.clone(), ahead)
        })
    })
    .await;
    match copied {
        Ok(Some(roster)) => roster,
        Ok(None) | Err(_) => RosterAtHand::NotLookedUp,
    }
}
