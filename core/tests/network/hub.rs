//! The hub: plays the relay's part of the sync protocol. It holds every document of the
//! compound and answers a phone's [`SyncRequest`] bytes with [`SyncResponse`] bytes the way the
//! relay does (`server/src/sync/work.rs`): take each message's changes out
//! (`validate::changes_in`), bind every change's actor to the caller's person on first use,
//! check the new changes with the real `validate::check_and_apply` against the caller's role and
//! the hub's clock, store them only if every rule holds (else answer a [`Rejection`] and reply
//! from a fresh state), receive the rest of the message (heads and bloom filter, never the
//! changes), reply with `generate`, and list the documents the caller may hold (every document
//! of the compound, minus the care ledger for volunteers). Every rejection is kept in
//! [`Hub::rejections`] so a property can say which were expected.
//!
//! The hub keeps no session memory: between requests it keeps each (phone, document)
//! [`PeerState`] only as `PeerState::encode` bytes, as a relay that stores them in SQLite (or
//! serves the next request from another process) must. Automerge's in-memory state remembers
//! which changes it sent; if that response was lost, a hub that kept it would never send those
//! changes again. The encoded state keeps only the shared heads, which is always safe.

use std::collections::{BTreeMap, BTreeSet};

use automerge::{Automerge, Change, ReadDoc};
use doorstep_core::document::{Document, Header};
use doorstep_core::id::{DocumentId, PersonId};
use doorstep_core::permission::Rule;
use doorstep_core::schema::vocabulary::DocKind;
use doorstep_core::sync::{
    DocMessage, DocumentGrant, PeerState, Rejection, SyncRequest, SyncResponse, WIRE_VERSION, decode,
    generate, receive,
};
use doorstep_core::validate::{Violation, changes_in, check_and_apply, new_document_header};
use doorstep_core::{Actor, Compound, Role, Timestamp};

use super::PhoneId;

/// A rejection the hub answered, with what a property needs to judge it.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// Who sent the change.
    pub phone: PhoneId,
    /// What the phone was told.
    pub rejection: Rejection,
    /// The refused change, when the rejection names one.
    pub change: Option<Change>,
    /// For a round: when it had been closed, as the hub held it when it refused.
    pub closed_at: Option<Timestamp>,
}

/// The relay's side of the network.
#[derive(Debug)]
pub struct Hub {
    compound: Compound,
    members: BTreeMap<PhoneId, Actor>,
    /// Which person each Automerge actor belongs to (bound on first use, as the relay does).
    owners: BTreeMap<automerge::ActorId, PersonId>,
    /// The hub's clock, set by the test as simulated time passes.
    pub now: Timestamp,
    /// Changes that arrived before a change they depend on (the phone's bloom filter said the
    /// hub had it), held per phone and document until it arrives, as Automerge's own queue
    /// does; the hub asks for the missing changes with the message's `need`.
    waiting: BTreeMap<(PhoneId, DocumentId), Vec<Change>>,
    /// The batch being checked, kept for [`Hub::waiting`] if its dependencies are missing.
    pending_batch: Option<Vec<Change>>,
    /// Every rejection answered, with the refused change when one was named and, for a round,
    /// when it was closed at that moment.
    pub rejections: Vec<Refusal>,
    states: BTreeMap<(PhoneId, DocumentId), Vec<u8>>,
    /// Documents the hub keeps but no longer lists (a closed round leaving the phones).
    withheld: BTreeSet<DocumentId>,
    /// Requests answered, replays and retries included.
    pub handled: u64,
}

impl Hub {
    /// A hub holding `compound`'s documents.
    pub fn new(compound: Compound) -> Self {
        Self {
            compound,
            members: BTreeMap::new(),
            owners: BTreeMap::new(),
            waiting: BTreeMap::new(),
            pending_batch: None,
            now: crate::support::MORNING,
            rejections: Vec::new(),
            states: BTreeMap::new(),
            withheld: BTreeSet::new(),
            handled: 0,
        }
    }

    /// Lets `phone` sync as `actor`.
    pub fn join(&mut self, phone: PhoneId, actor: Actor) {
        self.members.insert(phone, actor);
    }

    /// Every document, as the relay holds it.
    pub fn compound(&self) -> &Compound {
        &self.compound
    }

    /// Whether a caller in `role` may hold the document `header` names.
    pub fn may_hold(role: Role, header: &Header) -> bool {
        header.kind != DocKind::Care || role.reads_care()
    }

    /// Stops listing `doc` in responses, as the relay does for a closed round: phones drop it
    /// at their next sync, the hub keeps it.
    pub fn withhold(&mut self, doc: DocumentId) {
        self.withheld.insert(doc);
    }

    /// The documents a caller in `role` may hold now.
    pub fn grants(&self, role: Role) -> Vec<DocumentGrant> {
        self.compound
            .headers()
            .into_iter()
            .filter(|h| Self::may_hold(role, h) && !self.withheld.contains(&h.id))
            .map(|header| DocumentGrant { header, role })
            .collect()
    }

    /// Answers one request. Bad bytes would get a 4xx from the relay; phones in these tests
    /// only send what `ClientSession` builds, so they are a test failure here.
    pub fn handle(&mut self, phone: PhoneId, body: &[u8]) -> Vec<u8> {
        self.handled += 1;
        let author = *self.members.get(&phone).expect("only members sync");
        let role = author.role;
        let request = SyncRequest::decode(body).expect("a phone's request decodes");
        let mut messages = Vec::new();
        let mut rejected = Vec::new();
        for DocMessage { doc, message } in request.messages {
            let allowed = match self.compound.document(doc) {
                Some(d) => Self::may_hold(role, d.header()),
                // Only coordinators create documents (rounds).
                None => role.is_coordinating(),
            };
            if !allowed {
                rejected.push(Rejection {
                    doc,
                    change: None,
                    rule: "forbidden".into(),
                    reason: format!("a {} may not hold document {doc}", role.as_str()),
                });
                continue;
            }
            let mut state = match self.states.get(&(phone, doc)) {
                Some(bytes) => PeerState::decode(bytes).expect("the hub's stored state decodes"),
                None => PeerState::new(),
            };
            let mut message = decode(&message, &doorstep_core::sync::MessageLimits::default())
                .expect("a phone's sync message decodes");
            let checked =
                changes_in(&message).map_err(|v| (v.in_document(doc), None)).and_then(|mut changes| {
                    let mut held = self.waiting.remove(&(phone, doc)).unwrap_or_default();
                    held.append(&mut changes);
                    self.check(doc, &author, held)
                });
            // Whatever happens, the changes never reach Automerge's receive unchecked.
            message.changes = Vec::<Vec<u8>>::new().into();
            let mut need = Vec::new();
            let checked = match checked {
                Err((violation, Some(change)))
                    if violation.kind == doorstep_core::validate::ViolationKind::MissingDeps =>
                {
                    need = self.missing_deps(doc, &change);
                    let batch = self.pending_batch.take().unwrap_or_default();
                    self.waiting.insert((phone, doc), batch);
                    Ok(())
                }
                other => other,
            };
            let reply = match checked {
                Ok(()) => match self.compound.document_mut(doc) {
                    Some(d) => {
                        receive(d.automerge_mut(), &mut state, message)
                            .expect("the hub applies a phone's message");
                        let reply = generate(d.automerge(), &mut state);
                        self.states.insert((phone, doc), state.encode());
                        reply
                    }
                    // A document the phone announced without its changes yet: ask for them.
                    None => {
                        let mut scratch = Automerge::new();
                        let mut fresh = PeerState::new();
                        receive(&mut scratch, &mut fresh, message).expect("the hub reads a phone's message");
                        generate(&scratch, &mut fresh)
                    }
                },
                Err((violation, change)) => {
                    let rejection = violation.rejection();
                    let closed_at = self
                        .compound
                        .document(doc)
                        .and_then(|d| doorstep_core::document::round::closed_at(d.automerge()));
                    self.rejections.push(Refusal { phone, rejection: rejection.clone(), change, closed_at });
                    rejected.push(rejection);
                    // Answer from a fresh state, so the phone still gets everyone else's changes.
                    let mut fresh = PeerState::new();
                    match self.compound.document_mut(doc) {
                        Some(d) => receive(d.automerge_mut(), &mut fresh, message)
                            .ok()
                            .and_then(|()| generate(d.automerge(), &mut fresh)),
                        None => None,
                    }
                }
            };
            // Changes whose dependencies the phone did not send: ask for the dependencies, as
            // Automerge's own `need` does.
            let reply = reply.map(|bytes| {
                if need.is_empty() {
                    return bytes;
                }
                let mut m = decode(&bytes, &doorstep_core::sync::MessageLimits::default())
                    .expect("the hub's own reply decodes");
                m.need.append(&mut need);
                m.need.sort();
                m.need.dedup();
                m.encode()
            });
            if let Some(message) = reply {
                messages.push(DocMessage { doc, message });
            }
        }
        let response =
            SyncResponse { version: WIRE_VERSION, messages, documents: self.grants(role), rejected };
        response.encode()
    }

    /// The dependencies of `change` that the hub does not hold.
    fn missing_deps(&self, doc: DocumentId, change: &Change) -> Vec<automerge::ChangeHash> {
        let held = self.compound.document(doc).map(|d| d.automerge());
        change
            .deps()
            .iter()
            .copied()
            .filter(|d| held.is_none_or(|h| h.get_change_by_hash(d).is_none()))
            .collect()
    }

    /// Binds the changes' actors and checks and applies the new ones, as the relay does; on a
    /// refusal, nothing is stored and the refused change (when named) comes back with the
    /// violation.
    fn check(
        &mut self,
        doc: DocumentId,
        author: &Actor,
        changes: Vec<Change>,
    ) -> Result<(), (Violation, Option<Change>)> {
        let held = self.compound.document(doc).map(|d| d.automerge());
        let new: Vec<Change> = changes
            .into_iter()
            .filter(|c| held.is_none_or(|d| d.get_change_by_hash(&c.hash()).is_none()))
            .collect();
        if new.is_empty() {
            return Ok(());
        }
        for change in &new {
            if let Some(owner) = self.owners.get(change.actor_id())
                && *owner != author.person
            {
                let violation = Violation {
                    document: doc,
                    change: Some(change.hash()),
                    kind: doorstep_core::validate::ViolationKind::Forbidden(Rule::ActorsBelongToTheirPerson),
                    reason: "the actor belongs to another person".into(),
                };
                return Err((violation, Some(change.clone())));
            }
        }
        self.pending_batch = Some(new.clone());
        let named = |v: Violation, new: &[Change]| {
            let change = v.change.and_then(|h| new.iter().find(|c| c.hash() == h).cloned());
            (v, change)
        };
        let (header, mut am) = match self.compound.document(doc) {
            Some(d) => (*d.header(), d.automerge().clone()),
            None => (new_document_header(doc, &new).map_err(|v| named(v, &new))?, Automerge::new()),
        };
        if self.compound.document(doc).is_none() {
            assert_eq!(header.compound, self.compound.id(), "a phone sent another compound's document");
        }
        check_and_apply(&mut am, &header, author, new.clone(), self.now).map_err(|v| named(v, &new))?;
        for change in &new {
            self.owners.entry(change.actor_id().clone()).or_insert(author.person);
        }
        match self.compound.document_mut(doc) {
            Some(d) => *d.automerge_mut() = am,
            None => {
                self.compound.insert(Document::from_automerge(header, am).expect("a checked round loads"))
            }
        }
        Ok(())
    }
}
