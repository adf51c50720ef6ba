//! The hub: the relay's part of the network. Every message of a phone's [`SyncRequest`] goes
//! through core's relay engine (`doorstep_core::relay_engine`), the very functions the relay's
//! batches call (`server/src/sync/batch.rs`, `document.rs`): `read`, then `sync_batch` for a
//! document the hub holds (each message's changes bound to the caller's person and checked by
//! the real validator against the caller's role and the hub's clock, then answered) or `create`
//! for a round made offline. What the hub keeps is what the relay keeps in storage: the
//! documents, the owners of the actors, each (phone, document) sync state as bytes, and the list
//! of documents a caller may hold (every document of the compound, minus the care ledger for
//! volunteers and the rounds it withholds). Every rejection is kept in [`Hub::rejections`] so a
//! property can say which were expected.
//!
//! The hub keeps no session memory: between requests it keeps each (phone, document)
//! [`PeerState`] only as `PeerState::encode` bytes, as a relay that stores them in SQLite (or
//! serves the next request from another process) must, and forgets it when it refuses the
//! phone's message, as the relay does.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use automerge::Change;
use doorstep_core::document::{Document, Header};
use doorstep_core::id::{DocumentId, PersonId};
use doorstep_core::permission::Rule;
use doorstep_core::relay_engine::{
    self as engine, BatchOutcome, Incoming, Queued, Unlimited, Verdict, rejection,
};
use doorstep_core::sync::{
    DocMessage, DocumentGrant, GrantsDigest, KeptChanges, MessageLimits, PeerState, Rejection, SyncRequest,
    SyncResponse, WIRE_VERSION,
};
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

/// What the engine made of one document message.
struct Outcome {
    reply: Option<Vec<u8>>,
    rejection: Option<Rejection>,
}

/// The relay's side of the network.
#[derive(Debug)]
pub struct Hub {
    compound: Compound,
    members: BTreeMap<PhoneId, Actor>,
    /// Which person each Automerge actor (hex) belongs to, bound on first use.
    owners: HashMap<String, PersonId>,
    /// The hub's clock, set by the test as simulated time passes.
    pub now: Timestamp,
    /// Every rejection answered, with the refused change when one was named and, for a round,
    /// when it was closed at that moment.
    pub rejections: Vec<Refusal>,
    states: BTreeMap<(PhoneId, DocumentId), Vec<u8>>,
    /// The bytes of the changes each document took, for replies, as the relay keeps them.
    kept: BTreeMap<DocumentId, KeptChanges>,
    /// Documents the hub keeps but no longer lists (a closed round leaving the phones).
    withheld: BTreeSet<DocumentId>,
    /// Phones whose person's membership a coordinator revoked.
    revoked: BTreeSet<PhoneId>,
    /// Requests answered, replays and retries included.
    pub handled: u64,
}

impl Hub {
    /// A hub holding `compound`'s documents.
    pub fn new(compound: Compound) -> Self {
        Self {
            compound,
            members: BTreeMap::new(),
            owners: HashMap::new(),
            now: crate::support::MORNING,
            rejections: Vec::new(),
            states: BTreeMap::new(),
            kept: BTreeMap::new(),
            withheld: BTreeSet::new(),
            revoked: BTreeSet::new(),
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

    /// Whether a caller in `role` may sync the document `header` names (the relay's rule).
    pub fn may_hold(role: Role, header: &Header) -> bool {
        engine::may_sync(role, header.kind)
    }

    /// Stops listing `doc` in responses, as the relay does for a closed round: phones drop it
    /// at their next sync, the hub keeps it.
    pub fn withhold(&mut self, doc: DocumentId) {
        self.withheld.insert(doc);
    }

    /// Revokes the membership of `phone`'s person, as a coordinator does from the members page:
    /// from its next request on, the hub refuses its messages and lists no document for it, so
    /// the phone drops the compound's documents; what it had not synced never arrives.
    pub fn revoke(&mut self, phone: PhoneId) {
        self.revoked.insert(phone);
    }

    /// Whether `phone`'s membership was revoked.
    pub fn is_revoked(&self, phone: PhoneId) -> bool {
        self.revoked.contains(&phone)
    }

    /// The documents `phone` may hold now: none once its membership was revoked.
    pub fn grants_to(&self, phone: PhoneId) -> Vec<DocumentGrant> {
        match self.members.get(&phone) {
            Some(actor) if !self.is_revoked(phone) => self.grants(actor.role),
            _ => Vec::new(),
        }
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

    /// Answers one request. Phones in these tests only send requests `ClientSession` builds, so
    /// a body that does not decode is a test failure here (the relay would answer 4xx).
    pub fn handle(&mut self, phone: PhoneId, body: &[u8]) -> Vec<u8> {
        self.handled += 1;
        let author = *self.members.get(&phone).expect("only members sync");
        let request = SyncRequest::decode(body).expect("a phone's request decodes");
        let mut messages = Vec::new();
        let mut rejected = Vec::new();
        for DocMessage { doc, message } in request.messages {
            let Outcome { reply, rejection } = self.sync_document(phone, author, doc, &message);
            if let Some(message) = reply {
                messages.push(DocMessage { doc, message });
            }
            rejected.extend(rejection);
        }
        // As the relay does: the list only when it differs from the one whose digest came.
        let grants = self.grants_to(phone);
        let documents = (request.documents_digest != Some(GrantsDigest::of(&grants))).then_some(grants);
        let response =
            SyncResponse { version: WIRE_VERSION, messages, documents, rejected, reads_compact: false };
        response.encode()
    }

    /// One document message, as the relay's `sync/document.rs` and `sync/batch.rs` drive the
    /// engine (a request holds one message per document, so each is a batch of one).
    fn sync_document(&mut self, phone: PhoneId, author: Actor, doc: DocumentId, bytes: &[u8]) -> Outcome {
        let role = author.role;
        if self.is_revoked(phone) {
            // As the relay answers a person with no membership: a document of the compound is
            // another compound's to them, and one it does not hold is unknown.
            let refusal = match self.compound.document(doc) {
                Some(_) => rejection::reject(
                    doc,
                    rejection::FORBIDDEN,
                    None,
                    format!("no document {doc} in your compounds; sync to learn the documents you may hold"),
                ),
                None => rejection::reject(
                    doc,
                    rejection::UNKNOWN_DOCUMENT,
                    None,
                    format!("the relay has no document {doc}"),
                ),
            };
            return self.refused(phone, refusal, &[], None);
        }
        if let Some(held) = self.compound.document(doc)
            && !Self::may_hold(role, held.header())
        {
            let rule = Rule::CareLedgerIsForCoordinatorsAndMedics;
            let reason = format!("a {} may not hold the care ledger: {}", role.as_str(), rule.explain());
            return self.refused(phone, rejection::reject(doc, rule.code(), None, reason), &[], None);
        }
        if self.compound.document(doc).is_none() && !role.is_coordinating() {
            let reason = format!("the relay does not hold document {doc}");
            return self.refused(phone, rejection::reject(doc, rejection::NOT_HELD, None, reason), &[], None);
        }
        let incoming = match engine::read(doc, bytes, &MessageLimits::default(), &Unlimited) {
            Ok(incoming) => incoming,
            Err(refusal) => return self.refused(phone, refusal, &[], None),
        };
        let sent = incoming.changes.clone();
        let owners: HashMap<String, PersonId> = incoming
            .actors
            .iter()
            .filter_map(|actor| self.owners.get(actor).map(|person| (actor.clone(), *person)))
            .collect();
        let state = match self.states.get(&(phone, doc)) {
            Some(bytes) => PeerState::decode(bytes).expect("the hub's stored state decodes"),
            None => PeerState::new(),
        };
        let Some(held) = self.compound.document_mut(doc) else {
            return self.create(phone, author, doc, incoming, &owners, &sent);
        };
        let header = *held.header();
        // As the round was when the message came: a message taken in part may reopen it.
        let closed_at = doorstep_core::document::round::closed_at(held.automerge());
        let queued = Queued { author, incoming, owners, state, budget: Unlimited };
        let BatchOutcome { chunk: _, verdicts } = engine::sync_batch(
            held.automerge_mut(),
            self.kept.entry(doc).or_default(),
            &header,
            vec![queued],
            self.now,
        );
        let mut outcome = Outcome { reply: None, rejection: None };
        for verdict in verdicts {
            match verdict {
                Verdict::Accepted { bindings, state, reply, refused: None, .. } => {
                    self.bind(bindings, author.person);
                    self.states.insert((phone, doc), state.encode());
                    outcome = Outcome { reply, rejection: None };
                }
                // Taken in part: the rest is in the document; the refusal is judged as any other.
                Verdict::Accepted { bindings, reply, refused: Some(rejection), .. } => {
                    self.bind(bindings, author.person);
                    let Outcome { rejection, .. } = self.refused(phone, rejection, &sent, closed_at);
                    outcome = Outcome { reply, rejection };
                }
                Verdict::Refused { rejection, reply } => {
                    let Outcome { rejection, .. } = self.refused(phone, rejection, &sent, closed_at);
                    outcome = Outcome { reply, rejection };
                }
            }
        }
        outcome
    }

    /// A document the hub does not hold: a round a coordinator created offline.
    fn create(
        &mut self,
        phone: PhoneId,
        author: Actor,
        doc: DocumentId,
        incoming: Incoming,
        owners: &HashMap<String, PersonId>,
        sent: &[Change],
    ) -> Outcome {
        if incoming.changes.is_empty() {
            return match engine::answer_unheld(doc, incoming.message) {
                Ok(reply) => Outcome { reply, rejection: None },
                Err(refusal) => self.refused(phone, refusal, sent, None),
            };
        }
        let header = match engine::header_of(doc, &incoming.changes) {
            Ok(header) => header,
            Err(refusal) => return self.refused(phone, refusal, sent, None),
        };
        let role = (header.compound == self.compound.id()).then_some(author.role);
        let actor = self.compound.device().clone();
        match engine::create(header, author.person, role, incoming, owners, self.now, &Unlimited, actor) {
            Ok(created) => {
                self.bind(created.bindings, author.person);
                self.states.insert((phone, doc), created.state.encode());
                let document =
                    Document::from_automerge(created.header, created.doc).expect("a checked round loads");
                self.compound.insert(document);
                Outcome { reply: created.reply, rejection: None }
            }
            Err(refused) => {
                let Outcome { rejection, .. } = self.refused(phone, refused.rejection, sent, None);
                Outcome { reply: refused.reply, rejection }
            }
        }
    }

    /// Binds `actors` to `person`, as the relay's commit does.
    fn bind(&mut self, actors: Vec<String>, person: PersonId) {
        for actor in actors {
            self.owners.entry(actor).or_insert(person);
        }
    }

    /// Records a refusal of `phone`'s message (naming the refused change among `sent` when the
    /// rejection names one) and forgets the phone's sync state for the document, as the relay
    /// does.
    fn refused(
        &mut self,
        phone: PhoneId,
        rejection: Rejection,
        sent: &[Change],
        closed_at: Option<Timestamp>,
    ) -> Outcome {
        let change = rejection
            .change
            .as_ref()
            .and_then(|hash| sent.iter().find(|c| c.hash().to_string() == *hash).cloned());
        self.states.remove(&(phone, rejection.doc));
        self.rejections.push(Refusal { phone, rejection: rejection.clone(), change, closed_at });
        Outcome { reply: None, rejection: Some(rejection) }
    }
}
