//! One message on its own: a batch of one.

use std::collections::HashMap;

use automerge::Automerge;

use super::batch::{Verdict, verdict};
use super::budget::Budget;
use super::incoming::Incoming;
use super::take::take;
use crate::document::Header;
use crate::id::PersonId;
use crate::role::Actor;
use crate::sync::{PeerState, Rejection, SavedOnce};
use crate::time::Timestamp;

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
    /// Taken in part: what was refused (see [`Verdict::Accepted`]).
    pub refused: Option<Rejection>,
}

/// A message whose changes were refused; the document is unchanged.
#[derive(Debug)]
pub struct Refused {
    /// Why.
    pub rejection: Rejection,
    /// A reply from a fresh state, so the phone still receives everyone else's changes.
    pub reply: Option<Vec<u8>>,
}

/// Syncs one message with `doc`, as [`sync_batch`](super::sync_batch) does a batch of one:
/// [`take`](super::take), then [`answer`](super::answer), with the new changes as one chunk. For
/// a round created offline and for the fuzz targets; the relay's queues run whole batches.
#[allow(clippy::too_many_arguments)]
pub fn apply(
    doc: &mut Automerge,
    header: &Header,
    author: &Actor,
    incoming: Incoming,
    owners: &HashMap<String, PersonId>,
    state: PeerState,
    now: Timestamp,
    budget: &impl Budget,
) -> Result<Accepted, Refused> {
    let mut taken = take(doc, header, author, incoming, owners, now, budget);
    let chunk: Vec<u8> = taken
        .as_mut()
        .map(|t| std::mem::take(&mut t.changes).into_iter().flat_map(|(_, bytes)| bytes).collect())
        .unwrap_or_default();
    match verdict(doc, header.id, taken, state, &SavedOnce::default()) {
        Verdict::Accepted { bindings, state, reply, refused, .. } => {
            Ok(Accepted { chunk, bindings, reply, state, refused })
        }
        Verdict::Refused { rejection, reply } => Err(Refused { rejection, reply }),
    }
}
