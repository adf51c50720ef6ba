//! Reading one document message: the first step, which needs no document.

use std::collections::BTreeSet;

use automerge::Change;
use automerge::sync::Message;

use super::budget::Budget;
use super::rejection;
use crate::id::DocumentId;
use crate::sync::{self, MessageLimits, Rejection, UntakenChanges};
use crate::validate::{self, RosterAtHand};

/// A decoded message and the changes it carries.
#[derive(Debug)]
pub struct Incoming {
    /// The message.
    pub message: Message,
    /// Its changes, in order.
    pub changes: Vec<Change>,
    /// The actors (hex) the changes were made under: whose owners the caller looks up before
    /// the message is taken.
    pub actors: BTreeSet<String>,
    /// The actors (hex) the sending phone says it writes and wrote under, if it said (its
    /// request's `x-doorstep-writer`): the only actors the relay has never seen that it binds to
    /// the sender. Unsaid, every such actor is bound to the sender, as before phones said.
    pub writers: Option<Vec<String>>,
    /// The hashes and dependencies of the changes [`Incoming::without_changes`] dropped: what
    /// the phone holds is read through them (`sync/untaken_changes.rs`).
    pub dropped: UntakenChanges,
    /// The compound's roster, for the households new tasks, requests and care entries name
    /// (`validate::RosterAtHand`); [`read`] leaves it not consulted, the relay sets it
    /// ([`Incoming::against`]).
    pub roster: RosterAtHand,
}

impl Incoming {
    /// The same message, sent by a phone that says it writes and wrote under `writers` (hex).
    #[must_use]
    pub fn written_by(self, writers: Option<Vec<String>>) -> Self {
        Self { writers, ..self }
    }

    /// The same message, its new work checked against `roster`.
    #[must_use]
    pub fn against(self, roster: RosterAtHand) -> Self {
        Self { roster, ..self }
    }

    /// The bytes of its changes, as they came.
    pub fn change_bytes(&self) -> usize {
        self.changes.iter().map(|c| c.raw_bytes().len()).sum()
    }

    /// The message with its changes dropped: its heads, needs and Bloom filter only, for a
    /// message refused before anything of it is taken, and each dropped change's hash and
    /// dependencies (a few dozen bytes each, where the changes may be kilobytes).
    pub fn without_changes(self) -> Self {
        let mut message = self.message;
        message.changes = Vec::<Vec<u8>>::new().into();
        let dropped = if self.changes.is_empty() { self.dropped } else { UntakenChanges::of(&self.changes) };
        Self {
            message,
            changes: Vec::new(),
            actors: BTreeSet::new(),
            writers: self.writers,
            dropped,
            roster: self.roster,
        }
    }
}

/// Checks a document message against `limits` and decodes it, within `budget`.
pub fn read(
    doc: DocumentId,
    bytes: &[u8],
    limits: &MessageLimits,
    budget: &impl Budget,
) -> Result<Incoming, Rejection> {
    budget.check("decoding the message").map_err(|e| rejection::over_budget(doc, &e))?;
    let message = sync::decode(bytes, limits).map_err(|e| rejection::undecodable(doc, &e))?;
    budget.check("reading its changes").map_err(|e| rejection::over_budget(doc, &e))?;
    let changes = validate::changes_in(&message).map_err(|v| rejection::from_violation(doc, v))?;
    let actors: BTreeSet<String> = changes.iter().map(|c| c.actor_id().to_hex_string()).collect();
    if actors.len() > crate::limits::ACTORS_PER_MESSAGE {
        return Err(rejection::reject(
            doc,
            rejection::TOO_LARGE,
            None,
            format!(
                "the message's changes are made under {} actors; at most {} are taken in one message",
                actors.len(),
                crate::limits::ACTORS_PER_MESSAGE
            ),
        ));
    }
    Ok(Incoming {
        message,
        changes,
        actors,
        writers: None,
        dropped: UntakenChanges::default(),
        roster: RosterAtHand::NotConsulted,
    })
}
