//! The CPU side of syncing one document, run on tokio's blocking pool: decoding the message,
//! checking and applying its changes, updating the peer state and generating the reply.
//!
//! Split in steps around the one thing that needs storage, the owners of the actors the changes
//! were made under, and around the batch: [`read`] needs no document; [`take`] needs the
//! document and the owners, and runs for every message of a batch in turn; [`answer`] runs for
//! each message once the whole batch is in. [`apply`] is the two for a single message.

use std::collections::{BTreeSet, HashMap};

use automerge::sync::Message;
use automerge::{Automerge, Change, ReadDoc};
use doorstep_core::document::Header;
use doorstep_core::id::{DocumentId, PersonId};
use doorstep_core::permission::Rule;
use doorstep_core::sync::{self as core_sync, MessageLimits, PeerState, Rejection, SavedOnce};
use doorstep_core::{Actor, validate};

use super::budget::WorkBudget;
use super::rejection::{self, reject};

/// A decoded message and the changes it carries.
#[derive(Debug)]
pub struct Incoming {
    /// The message.
    pub message: Message,
    /// Its changes, in order.
    pub changes: Vec<Change>,
    /// The actors (hex) the changes were made under.
    pub actors: BTreeSet<String>,
}

/// Checks a document message against `limits` and decodes it, within `budget`.
pub fn read(
    doc: DocumentId,
    bytes: &[u8],
    limits: &MessageLimits,
    budget: &WorkBudget,
) -> Result<Incoming, Rejection> {
    budget.check("decoding the message").map_err(|e| rejection::over_budget(doc, &e))?;
    let message = core_sync::decode(bytes, limits).map_err(|e| rejection::undecodable(doc, &e))?;
    budget.check("reading its changes").map_err(|e| rejection::over_budget(doc, &e))?;
    let changes = validate::changes_in(&message).map_err(|v| rejection::from_violation(doc, v))?;
    let actors = changes.iter().map(|c| c.actor_id().to_hex_string()).collect();
    Ok(Incoming { message, changes, actors })
}

/// The header a new document's changes give it (its first change must write one).
pub fn header_of(doc: DocumentId, changes: &[Change]) -> Result<Header, Rejection> {
    validate::new_document_header(doc, changes).map_err(|v| rejection::from_violation(doc, v))
}

/// A message whose changes were accepted.
#[derive(Debug)]
pub struct Accepted {
    /// The new changes as one chunk (empty if none were new).
    pub chunk: Vec<u8>,
    /// Actors to bind to the caller, first seen in this message.
    pub bindings: Vec<String>,
    /// The reply, if there is anything to say.
    pub reply: Option<Vec<u8>>,
    /// The peer state to persist.
    pub state: PeerState,
}

/// A message whose changes were refused; `doc` is unchanged.
#[derive(Debug)]
pub struct Refused {
    /// Why.
    pub rejection: Rejection,
    /// A reply from a fresh state, so the phone still receives everyone else's changes.
    pub reply: Option<Vec<u8>>,
}

/// A message whose new changes were checked and applied to the document, not yet answered.
#[derive(Debug)]
pub struct Taken {
    /// Actors to bind to the caller, first seen in this message.
    pub bindings: Vec<String>,
    /// The message without its changes: its heads, needs and bloom filter, still to be received.
    pub message: Message,
    /// Whether the message changed the document (it carried changes the document lacked).
    pub changed: bool,
}

/// A message whose changes were refused; the document is unchanged.
#[derive(Debug)]
pub struct Turned {
    /// Why.
    pub rejection: Rejection,
    /// The message without its changes, to answer from a fresh state so the phone still
    /// receives everyone else's changes; `None` when the work stopped on its budget.
    pub message: Option<Message>,
}

/// Checks the new changes of `incoming` (the ones `doc` lacks) and applies them. The budget is
/// checked before the changes are checked. The answer is [`answer`]'s: a batch takes all its
/// messages first and answers them once all are in, so each phone also hears what the others
/// in its batch brought.
pub fn take(
    doc: &mut Automerge,
    header: &Header,
    author: &Actor,
    incoming: Incoming,
    owners: &HashMap<String, PersonId>,
    budget: &WorkBudget,
) -> Result<Taken, Turned> {
    let Incoming { mut message, changes, .. } = incoming;
    // Whatever happens, the message's changes are never handed to Automerge's receive: it would
    // queue those with missing dependencies and apply them later, unchecked.
    message.changes = Vec::<Vec<u8>>::new().into();
    let mut seen = BTreeSet::new();
    let new: Vec<Change> = changes
        .into_iter()
        .filter(|c| doc.get_change_by_hash(&c.hash()).is_none() && seen.insert(c.hash()))
        .collect();
    let mut bindings = BTreeSet::new();
    for change in &new {
        let actor = change.actor_id().to_hex_string();
        match owners.get(&actor) {
            Some(owner) if *owner == author.person => {}
            Some(_) => {
                let rule = Rule::ActorsBelongToTheirPerson;
                let rejection = reject(
                    header.id,
                    rule.code(),
                    Some(change.hash()),
                    format!(
                        "change {} was made under actor {actor}, which belongs to another person: {}",
                        change.hash(),
                        rule.explain()
                    ),
                );
                return Err(Turned { rejection, message: Some(message) });
            }
            None => {
                bindings.insert(actor);
            }
        }
    }
    if let Err(stopped) = budget.check("checking its changes") {
        return Err(Turned { rejection: rejection::over_budget(header.id, &stopped), message: None });
    }
    let before = doc.get_heads();
    if !new.is_empty()
        && let Err(violation) = validate::check_and_apply(doc, header, author, new, crate::clock::now())
    {
        return Err(Turned {
            rejection: rejection::from_violation(header.id, violation),
            message: Some(message),
        });
    }
    let changed = doc.get_heads() != before;
    Ok(Taken { bindings: bindings.into_iter().collect(), message, changed })
}

/// Receives a taken message's heads, needs and bloom filter into `state` and generates the
/// reply. `read` checked them, so a failure here (Automerge's panics are contained) means a
/// shape the check does not know: a message that brought nothing is then refused as malformed;
/// one whose changes were applied (valid, and about to be stored) is answered from a fresh state.
pub fn answer(
    doc: &mut Automerge,
    id: DocumentId,
    state: &mut PeerState,
    taken: Taken,
    saved: &SavedOnce,
) -> Result<Option<Vec<u8>>, Rejection> {
    let nothing_taken = !taken.changed && taken.bindings.is_empty();
    // A phone that announced exactly our heads and needs nothing gets no reply for the
    // document: on a reconnect with nothing new, that is most of the response's bytes.
    let protocol = core_sync::receive(doc, state, taken.message).and_then(|()| {
        if state.in_step_with(doc) { Ok(None) } else { core_sync::try_generate_sharing(doc, state, saved) }
    });
    match protocol {
        Ok(reply) => Ok(reply),
        Err(e) if nothing_taken => {
            let reason = format!("the sync message for document {id} was refused: {e}");
            Err(reject(id, rejection::MALFORMED, None, reason))
        }
        Err(e) => {
            tracing::warn!(doc = %id, error = %e, "sync message state not applied; starting afresh");
            *state = PeerState::new();
            Ok(core_sync::try_generate_sharing(doc, state, saved).ok().flatten())
        }
    }
}

/// The reply to a turned message: its heads and bloom filter received into a fresh state (the
/// changes were stripped, so `doc` does not change), and a reply generated from there.
pub fn answer_turned(doc: &mut Automerge, message: Option<Message>, saved: &SavedOnce) -> Option<Vec<u8>> {
    let message = message?;
    let mut fresh = PeerState::new();
    core_sync::receive(doc, &mut fresh, message)
        .and_then(|()| core_sync::try_generate_sharing(doc, &mut fresh, saved))
        .ok()
        .flatten()
}

/// One message on its own: [`take`], then [`answer`], with the new changes as one chunk. The
/// relay's batches use the two steps; this is for a single message (a round created offline,
/// the fuzz targets).
pub fn apply(
    doc: &mut Automerge,
    header: &Header,
    author: &Actor,
    incoming: Incoming,
    owners: &HashMap<String, PersonId>,
    mut state: PeerState,
    budget: &WorkBudget,
) -> Result<Accepted, Refused> {
    let before = doc.get_heads();
    let saved = SavedOnce::default();
    let taken = match take(doc, header, author, incoming, owners, budget) {
        Ok(taken) => taken,
        Err(turned) => {
            let reply = answer_turned(doc, turned.message, &saved);
            return Err(Refused { rejection: turned.rejection, reply });
        }
    };
    let chunk = if taken.changed { doc.save_after(&before) } else { Vec::new() };
    let bindings = taken.bindings.clone();
    match answer(doc, header.id, &mut state, taken, &saved) {
        Ok(reply) => Ok(Accepted { chunk, bindings, reply, state }),
        Err(rejection) => Err(Refused { rejection, reply: None }),
    }
}
