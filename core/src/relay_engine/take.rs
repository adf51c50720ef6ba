//! Taking one message's changes into the document: the actor bindings, then the validator.

use std::collections::{BTreeSet, HashMap};

use automerge::sync::Message;
use automerge::{Automerge, Change, ChangeHash, ReadDoc};

use super::budget::Budget;
use super::incoming::Incoming;
use super::rejection::{self, reject};
use crate::document::Header;
use crate::id::PersonId;
use crate::permission::Rule;
use crate::role::Actor;
use crate::sync::Rejection;
use crate::time::Timestamp;
use crate::validate;

/// A message whose new changes were checked and applied to the document, not yet answered.
#[derive(Debug)]
pub struct Taken {
    /// Actors to bind to the caller, first seen in this message.
    pub bindings: Vec<String>,
    /// The message without its changes: its heads, needs and bloom filter, still to be received.
    pub message: Message,
    /// Whether the message changed the document (it carried changes the document lacked).
    pub changed: bool,
    /// The changes it added to the document, each with its own bytes, in the order applied: what
    /// the relay stores and keeps for it. Copied from the message rather than saved from the
    /// document, which in Automerge 0.12 rebuilds changes from the whole op set (BENCHMARKS.md §4).
    pub changes: Vec<(ChangeHash, Vec<u8>)>,
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

/// Checks the new changes of `incoming` (the ones `doc` lacks) and applies them, on behalf of
/// `author`. `owners` are the people the changes' actors are bound to, as far as they are
/// bound; an actor bound to someone else refuses the message, an unbound one is returned in
/// [`Taken::bindings`] for the caller to bind. `now` is the relay's clock, which recorded times
/// must follow. The budget is checked before the changes are checked.
///
/// The answer is [`answer`](super::answer)'s: a batch takes all its messages first and answers
/// them once all are in, so each phone also hears what the others in its batch brought.
pub fn take(
    doc: &mut Automerge,
    header: &Header,
    author: &Actor,
    incoming: Incoming,
    owners: &HashMap<String, PersonId>,
    now: Timestamp,
    budget: &impl Budget,
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
    let mut bytes: HashMap<ChangeHash, Vec<u8>> =
        new.iter().map(|c| (c.hash(), c.raw_bytes().to_vec())).collect();
    let applied = match validate::check_and_apply(doc, header, author, new, now) {
        Ok(applied) => applied,
        Err(violation) => {
            return Err(Turned {
                rejection: rejection::from_violation(header.id, violation),
                message: Some(message),
            });
        }
    };
    let changes: Vec<(ChangeHash, Vec<u8>)> =
        applied.iter().filter_map(|hash| bytes.remove(hash).map(|b| (*hash, b))).collect();
    Ok(Taken { bindings: bindings.into_iter().collect(), message, changed: !applied.is_empty(), changes })
}
