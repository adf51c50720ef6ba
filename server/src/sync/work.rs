//! The CPU side of syncing one document, run on tokio's blocking pool: decoding the message,
//! checking and applying its changes, updating the peer state and generating the reply.
//!
//! Split in two steps around the one thing that needs storage, the owners of the actors the
//! changes were made under: [`read`] needs no document, [`apply`] needs the document and the
//! owners.

use std::collections::{BTreeSet, HashMap};

use automerge::sync::Message;
use automerge::{Automerge, Change, ReadDoc};
use doorstep_core::document::Header;
use doorstep_core::id::{DocumentId, PersonId};
use doorstep_core::permission::Rule;
use doorstep_core::sync::{self as core_sync, MessageLimits, PeerState, Rejection};
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

/// Checks the new changes of `incoming` (the ones `doc` lacks), binds their actors, applies
/// them, and answers. The budget is checked before the changes are checked; once they are
/// applied the work runs to its end, so what `doc` holds is always what is answered.
pub fn apply(
    doc: &mut Automerge,
    header: &Header,
    author: &Actor,
    incoming: Incoming,
    owners: &HashMap<String, PersonId>,
    mut state: PeerState,
    budget: &WorkBudget,
) -> Result<Accepted, Refused> {
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
                return Err(refused(doc, rejection, message));
            }
            None => {
                bindings.insert(actor);
            }
        }
    }

    let before = doc.get_heads();
    if let Err(stopped) = budget.check("checking its changes") {
        return Err(Refused { rejection: rejection::over_budget(header.id, &stopped), reply: None });
    }
    if !new.is_empty()
        && let Err(violation) = validate::check_and_apply(doc, header, author, new, crate::clock::now())
    {
        return Err(refused(doc, rejection::from_violation(header.id, violation), message));
    }
    let chunk = if doc.get_heads() == before { Vec::new() } else { doc.save_after(&before) };
    // Only the message's heads, needs and bloom filter are left to read; `read` checked them, so
    // a failure here (Automerge's panics are contained) means a shape the check does not know.
    let protocol =
        core_sync::receive(doc, &mut state, message).and_then(|()| core_sync::try_generate(doc, &mut state));
    let reply = match protocol {
        Ok(reply) => reply,
        Err(e) if chunk.is_empty() && bindings.is_empty() => {
            // Nothing was accepted, so this is a plain refusal of a message the relay cannot answer.
            let reason = format!("the sync message for document {} was refused: {e}", header.id);
            return Err(Refused {
                rejection: reject(header.id, rejection::MALFORMED, None, reason),
                reply: None,
            });
        }
        Err(e) => {
            // The changes already applied are valid and will be stored; answer from a fresh state.
            tracing::warn!(doc = %header.id, error = %e, "sync message state not applied; starting afresh");
            state = PeerState::new();
            core_sync::try_generate(doc, &mut state).ok().flatten()
        }
    };
    Ok(Accepted { chunk, bindings: bindings.into_iter().collect(), reply, state })
}

/// The answer to a refused message: its heads and bloom filter received into a fresh state (the
/// changes were stripped, so `doc` does not change), and a reply generated from there.
fn refused(doc: &mut Automerge, rejection: Rejection, message: Message) -> Refused {
    let mut fresh = PeerState::new();
    let reply = core_sync::receive(doc, &mut fresh, message)
        .and_then(|()| core_sync::try_generate(doc, &mut fresh))
        .ok()
        .flatten();
    Refused { rejection, reply }
}
