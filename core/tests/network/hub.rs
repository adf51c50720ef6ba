//! The hub: plays the relay's part of the sync protocol. It holds every document of the
//! compound and answers a phone's [`SyncRequest`] bytes with [`SyncResponse`] bytes the way the
//! relay does: apply each message, reply with `generate`, and list the documents the caller may
//! hold (every document of the compound, minus the care ledger for volunteers).
//!
//! The hub keeps no session memory: between requests it keeps each (phone, document)
//! [`PeerState`] only as `PeerState::encode` bytes, as a relay that stores them in SQLite (or
//! serves the next request from another process) must. Automerge's in-memory state remembers
//! which changes it sent; if that response was lost, a hub that kept it would never send those
//! changes again. The encoded state keeps only the shared heads, which is always safe.

use std::collections::{BTreeMap, BTreeSet};

use automerge::Automerge;
use doorstep_core::document::{Document, Header};
use doorstep_core::id::DocumentId;
use doorstep_core::schema::vocabulary::DocKind;
use doorstep_core::sync::{
    DocMessage, DocumentGrant, PeerState, Rejection, SyncRequest, SyncResponse, WIRE_VERSION, decode,
    generate, receive,
};
use doorstep_core::{Compound, Role};

use super::PhoneId;

/// The relay's side of the network.
#[derive(Debug)]
pub struct Hub {
    compound: Compound,
    /// Documents a coordinator's phone announced (a new round) whose header has not arrived yet.
    pending: BTreeMap<DocumentId, Automerge>,
    members: BTreeMap<PhoneId, Role>,
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
            pending: BTreeMap::new(),
            members: BTreeMap::new(),
            states: BTreeMap::new(),
            withheld: BTreeSet::new(),
            handled: 0,
        }
    }

    /// Lets `phone` sync in `role`.
    pub fn join(&mut self, phone: PhoneId, role: Role) {
        self.members.insert(phone, role);
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
        let role = *self.members.get(&phone).expect("only members sync");
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
            let message = decode(&message, &doorstep_core::sync::MessageLimits::default())
                .expect("a phone's sync message decodes");
            let reply = match self.compound.document_mut(doc) {
                Some(d) => {
                    receive(d.automerge_mut(), &mut state, message)
                        .expect("the hub applies a phone's message");
                    generate(d.automerge(), &mut state)
                }
                None => {
                    let am = self.pending.entry(doc).or_default();
                    receive(am, &mut state, message).expect("the hub applies a phone's message");
                    let reply = generate(am, &mut state);
                    self.adopt(doc);
                    reply
                }
            };
            self.states.insert((phone, doc), state.encode());
            if let Some(message) = reply {
                messages.push(DocMessage { doc, message });
            }
        }
        let response =
            SyncResponse { version: WIRE_VERSION, messages, documents: self.grants(role), rejected };
        response.encode()
    }

    /// Turns a pending document into a round of the compound once its header has arrived.
    fn adopt(&mut self, id: DocumentId) {
        let Some(am) = self.pending.get(&id) else { return };
        let Ok((header, _)) = Header::read(id, am) else { return };
        assert_eq!(header.compound, self.compound.id(), "a phone sent another compound's document");
        assert_eq!(header.kind, DocKind::Round, "phones only create rounds");
        let am = self.pending.remove(&id).expect("just seen");
        self.compound.insert(Document::from_automerge(header, am).expect("a round created by a phone loads"));
    }
}
