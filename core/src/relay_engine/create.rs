//! A message for a document the relay does not hold: a round created offline. The first message
//! of a session carries no changes, so it is answered from an empty document (asking for
//! everything) and nothing is made; the next one carries the round, whose first change writes
//! its header, and which is checked like any change.

use std::collections::HashMap;

use automerge::sync::Message;
use automerge::{ActorId, Automerge, Change};

use super::apply::{Refused, apply};
use super::budget::Budget;
use super::incoming::Incoming;
use super::rejection::{self, reject};
use crate::document::Header;
use crate::id::{DocumentId, PersonId};
use crate::permission::Rule;
use crate::role::{Actor, Role};
use crate::schema::vocabulary::DocKind;
use crate::sync::{self, PeerState, Rejection};
use crate::time::Timestamp;
use crate::validate;

/// A document made by a message, checked, ready to store whole.
#[derive(Debug)]
pub struct Created {
    /// The document, holding the message's changes.
    pub doc: Automerge,
    /// Its header.
    pub header: Header,
    /// The document saved whole, to store.
    pub snapshot: Vec<u8>,
    /// Actors to bind to the caller, first seen in this message.
    pub bindings: Vec<String>,
    /// The peer state to persist.
    pub state: PeerState,
    /// The reply, if there is anything to say.
    pub reply: Option<Vec<u8>>,
}

/// The reply to a message without changes for a document the relay does not hold: from an
/// empty document, which asks the phone for everything.
pub fn answer_unheld(id: DocumentId, message: Message) -> Result<Option<Vec<u8>>, Rejection> {
    let mut empty = Automerge::new();
    let mut state = PeerState::new();
    sync::receive(&mut empty, &mut state, message)
        .and_then(|()| sync::try_generate(&empty, &mut state))
        .map_err(|e| {
            reject(
                id,
                rejection::MALFORMED,
                None,
                format!("the sync message for document {id} was refused: {e}"),
            )
        })
}

/// The header a new document's changes give it (its first change must write one). The caller
/// looks up the author's role in the header's compound before [`create`].
pub fn header_of(id: DocumentId, changes: &[Change]) -> Result<Header, Rejection> {
    validate::new_document_header(id, changes).map_err(|v| rejection::from_violation(id, v))
}

/// Makes the document `header` names from `incoming`, on behalf of `person`, whose role in its
/// compound is `role` (`None`: not a member). Only coordinators and admins create documents on
/// a phone, and only rounds (a compound's roster, requests and care ledger are made with it).
/// The changes are checked like any others (see [`apply`]); the new document writes under
/// `actor`, the relay's own.
#[allow(clippy::too_many_arguments)]
pub fn create(
    header: Header,
    person: PersonId,
    role: Option<Role>,
    incoming: Incoming,
    owners: &HashMap<String, PersonId>,
    now: Timestamp,
    budget: &impl Budget,
    actor: ActorId,
) -> Result<Created, Refused> {
    let id = header.id;
    let refused = |rejection| Refused { rejection, reply: None };
    let Some(role) = role else {
        return Err(refused(reject(
            id,
            rejection::FORBIDDEN,
            None,
            format!("document {id} is for compound {}, of which you are not a member", header.compound),
        )));
    };
    if header.kind != DocKind::Round || !role.is_coordinating() {
        let rule = Rule::RoundsArePlannedByCoordinators;
        let (code, reason) = if header.kind == DocKind::Round {
            (rule.code(), format!("a {} may not create a round: {}", role.as_str(), rule.explain()))
        } else {
            (
                rejection::UNKNOWN_DOCUMENT,
                format!("a {} document is created with its compound, never on a phone", header.kind),
            )
        };
        return Err(refused(reject(id, code, None, reason)));
    }
    let author = Actor { person, role };
    let mut doc = Automerge::new().with_actor(actor);
    let accepted = apply(&mut doc, &header, &author, incoming, owners, PeerState::new(), now, budget)?;
    let snapshot = doc.save();
    Ok(Created {
        doc,
        header,
        snapshot,
        bindings: accepted.bindings,
        state: accepted.state,
        reply: accepted.reply,
    })
}
