//! One document's batch: every message queued for it, taken one after another and then
//! answered, as the relay's group commit runs them under one turn of the document's lock.

use std::collections::HashMap;

use automerge::Automerge;

use super::answer::{answer, answer_turned};
use super::budget::Budget;
use super::incoming::Incoming;
use super::take::{Taken, Turned, take};
use crate::document::Header;
use crate::id::{DocumentId, PersonId};
use crate::role::Actor;
use crate::sync::{KeptChanges, PeerState, Rejection, SavedOnce};
use crate::time::Timestamp;

/// One message of a batch, with what its caller looked up for it.
#[derive(Debug)]
pub struct Queued<B> {
    /// Who sent it, in their role in the document's compound.
    pub author: Actor,
    /// The message, read.
    pub incoming: Incoming,
    /// Owners of the actors its changes were made under, as far as they are bound.
    pub owners: HashMap<String, PersonId>,
    /// The sending device's sync state for the document (fresh if none was stored).
    pub state: PeerState,
    /// The message's work budget.
    pub budget: B,
}

/// What one message of a batch came to.
#[derive(Debug)]
pub enum Verdict {
    /// Its changes (if any) are in the batch's chunk.
    Accepted {
        /// Actors to bind to the sender, first seen in this message.
        bindings: Vec<String>,
        /// The sync state to store for the sending device.
        state: PeerState,
        /// The reply, if there is anything to say.
        reply: Option<Vec<u8>>,
        /// Taken in part: what was refused (the rest is in the chunk, named in its `taken`). The
        /// device's stored sync state should then be forgotten, as for a refused message.
        refused: Option<Rejection>,
        /// The bytes of the changes it added to the document (changes the document already held,
        /// or refused ones, count nothing).
        added: usize,
    },
    /// Nothing of it is in the document; the device's stored sync state should be forgotten.
    Refused {
        /// Why.
        rejection: Rejection,
        /// A reply from a fresh state, so the phone still receives everyone else's changes.
        reply: Option<Vec<u8>>,
    },
}

/// What a batch came to: what to commit, and each message's verdict, in order.
#[derive(Debug)]
pub struct BatchOutcome {
    /// Every change the batch accepted, as one chunk (empty if none was new). `doc` holds them
    /// already; the caller stores the chunk and the accepted messages' bindings together.
    pub chunk: Vec<u8>,
    /// One verdict per message.
    pub verdicts: Vec<Verdict>,
}

/// A batch whose messages were all taken, not yet answered.
#[derive(Debug)]
pub struct TakenBatch {
    chunk: Vec<u8>,
    added: Vec<automerge::ChangeHash>,
    taken: Vec<(Result<Taken, Turned>, PeerState)>,
}

/// Syncs every message of a batch with `doc`: [`take_batch`], then [`answer_batch`].
pub fn sync_batch<B: Budget>(
    doc: &mut Automerge,
    kept: &mut KeptChanges,
    header: &Header,
    messages: Vec<Queued<B>>,
    now: Timestamp,
) -> BatchOutcome {
    let taken = take_batch(doc, kept, header, messages, now);
    answer_batch(doc, kept, header, taken)
}

/// Takes every message of a batch: each message's new changes are bound to its author and
/// checked and applied against the document as the messages before it left it (a refused one
/// changes nothing and does not stop the others); an actor bound by an earlier message of the
/// batch counts as bound for the later ones, so two people cannot both claim a new actor in one
/// batch. The bytes of every change taken are also kept in `kept`, the document's, for replies.
pub fn take_batch<B: Budget>(
    doc: &mut Automerge,
    kept: &mut KeptChanges,
    header: &Header,
    messages: Vec<Queued<B>>,
    now: Timestamp,
) -> TakenBatch {
    let mut bound: HashMap<String, PersonId> = HashMap::new();
    let mut chunk = Vec::new();
    let mut added = Vec::new();
    let mut taken = Vec::with_capacity(messages.len());
    for queued in messages {
        let mut owners = queued.owners;
        for (actor, person) in &bound {
            owners.entry(actor.clone()).or_insert(*person);
        }
        let mut result = take(doc, header, &queued.author, queued.incoming, &owners, now, &queued.budget);
        if let Ok(t) = &mut result {
            for actor in &t.bindings {
                bound.insert(actor.clone(), queued.author.person);
            }
            for (hash, bytes) in std::mem::take(&mut t.changes) {
                chunk.extend_from_slice(&bytes);
                added.push(hash);
                kept.keep(hash, bytes);
            }
        }
        taken.push((result, queued.state));
    }
    TakenBatch { chunk, added, taken }
}

impl TakenBatch {
    /// Mends `doc` if the batch left it with more than `more_than` heads (`heads_mend.rs`): the
    /// merge change, under `actor`, goes into the batch's chunk and into `kept`, so it is stored
    /// with the batch and the batch's replies carry it. Call it after the batch is taken and
    /// before it is answered. Returns the change's hash, if one was made.
    pub fn mend_heads(
        &mut self,
        doc: &mut Automerge,
        kept: &mut KeptChanges,
        actor: &automerge::ActorId,
        more_than: usize,
    ) -> Option<automerge::ChangeHash> {
        let (hash, bytes) = super::heads_mend::mend_heads(doc, actor, more_than)?;
        self.chunk.extend_from_slice(&bytes);
        kept.keep(hash, bytes);
        Some(hash)
    }

    /// Marks where the relay took a round's close if the batch closed it and left it with more
    /// than one head (`close_mark.rs`): the merge change, under `actor`, goes into the batch's
    /// chunk and into `kept`, like [`TakenBatch::mend_heads`]'s. Call it after the batch is taken
    /// and before it is answered. Returns the change's hash, if one was made.
    pub fn mark_close(
        &mut self,
        doc: &mut Automerge,
        kept: &mut KeptChanges,
        header: &Header,
        actor: &automerge::ActorId,
    ) -> Option<automerge::ChangeHash> {
        let (hash, bytes) = super::close_mark::mark_close(doc, header, &self.added, actor)?;
        self.chunk.extend_from_slice(&bytes);
        kept.keep(hash, bytes);
        Some(hash)
    }

    /// Adds a message its caller refused before the batch (its sender's share of the document's
    /// growth was used up, say), to be answered like one the batch refused: its changes are
    /// dropped unread and a reply is generated from a fresh state, so its phone still hears what
    /// everyone else brought. `state` says how replies reach its sender (its stored sync state is
    /// not needed: the answer starts afresh). Its verdict comes after those of the messages taken.
    pub fn push_turned(&mut self, rejection: Rejection, incoming: Incoming, state: PeerState) {
        let Incoming { message, dropped, .. } = incoming.without_changes();
        self.taken.push((Err(Turned { rejection, message: Some(message), untaken: dropped }), state));
    }
}

/// Answers every message of a taken batch from the document with the whole batch in, so a phone
/// also receives what the others in its batch brought; the document is saved at most once for
/// all the phones that should get it whole, and a reply's changes come from `kept` when it
/// holds them all.
pub fn answer_batch(
    doc: &mut Automerge,
    kept: &KeptChanges,
    header: &Header,
    batch: TakenBatch,
) -> BatchOutcome {
    let saved = SavedOnce::keeping(kept);
    let verdicts = batch
        .taken
        .into_iter()
        .map(|(result, state)| verdict(doc, header.id, result, state, &saved))
        .collect();
    BatchOutcome { chunk: batch.chunk, verdicts }
}

/// Answers a message once its batch is in: a taken one from its device's `state`, a turned one
/// from a fresh state.
pub(super) fn verdict(
    doc: &mut Automerge,
    id: DocumentId,
    result: Result<Taken, Turned>,
    mut state: PeerState,
    saved: &SavedOnce<'_>,
) -> Verdict {
    match result {
        Ok(mut taken) => {
            let bindings = taken.bindings.clone();
            let refused = taken.refused.take();
            let added = taken.added;
            match answer(doc, id, &mut state, taken, saved) {
                Ok(reply) => Verdict::Accepted { bindings, state, reply, refused, added },
                Err(rejection) => Verdict::Refused { rejection, reply: None },
            }
        }
        Err(Turned { rejection, message, untaken }) => {
            let reply = answer_turned(doc, message, untaken, state.afresh(), saved);
            Verdict::Refused { rejection, reply }
        }
    }
}
