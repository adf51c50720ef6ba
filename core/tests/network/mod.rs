//! A deterministic, single-threaded, in-memory network in the style of samod's test harness:
//! one [`Hub`] playing the relay and N [`Phone`]s syncing through `ClientSession`, every request
//! and response going through the real CBOR encoding. Faults come from a seeded generator, so a
//! failing case replays exactly:
//!
//! - a request is lost before the hub sees it, or the hub's response is lost: the session ends as
//!   if the HTTP call failed, and the next one starts from the persisted states;
//! - a request reaches the hub twice (the phone retried; it reads the second response);
//! - the messages within a request or a response arrive in another order;
//! - an old request (any phone's) reaches the hub again, late; its response goes nowhere.
//!
//! Invariants checked on every exchange: a volunteer is never sent or granted the care ledger
//! and never holds it, and every reply applies. The hub syncs every message through the relay's
//! own engine (`doorstep_core::relay_engine`); a phone sets a refused change (and the changes
//! built on it) aside, as the replica does, and the property says which refusals were expected.

pub mod actions;
pub mod forge;
pub mod hub;
pub mod phone;

use std::collections::BTreeMap;

use automerge::ChangeHash;
use doorstep_core::document::Document;
use doorstep_core::id::DocumentId;
use doorstep_core::schema::vocabulary::DocKind;
use doorstep_core::sync::{SyncRequest, SyncResponse};
use doorstep_core::{Actor, Role};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

pub use hub::Hub;
pub use phone::Phone;

use crate::support::heads;

/// A phone's index in the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PhoneId(pub u8);

/// How often each fault happens, per exchange.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Faults {
    /// The request is lost before the hub sees it.
    pub drop_request: f64,
    /// The hub handled the request but its response is lost.
    pub drop_response: f64,
    /// The request reaches the hub twice.
    pub duplicate_request: f64,
    /// The messages within a batch are shuffled.
    pub reorder: f64,
    /// An old request is replayed to the hub, late.
    pub replay_old: f64,
}

impl Faults {
    /// A perfect network.
    pub const NONE: Faults = Faults {
        drop_request: 0.0,
        drop_response: 0.0,
        duplicate_request: 0.0,
        reorder: 0.0,
        replay_old: 0.0,
    };

    /// A stairwell: something goes wrong in about a third of the exchanges.
    pub const FLAKY: Faults = Faults {
        drop_request: 0.1,
        drop_response: 0.1,
        duplicate_request: 0.1,
        reorder: 0.3,
        replay_old: 0.1,
    };
}

/// What one session did.
#[derive(Debug, Clone, Default)]
pub struct SessionReport {
    /// Requests the phone built and sent (the last one may have been lost).
    pub requests: u32,
    /// Whether the session ran until `ClientSession::request` returned `None`.
    pub completed: bool,
    /// Bytes of every request sent.
    pub request_bytes: Vec<usize>,
    /// Bytes of every response received.
    pub response_bytes: Vec<usize>,
    /// Messages in every response received.
    pub response_messages: Vec<usize>,
    /// Whether any of the phone's documents changed (including fetched or dropped ones).
    pub changed: bool,
}

/// Sessions longer than this are a bug: the protocol should settle in two or three requests.
const MAX_REQUESTS_PER_SESSION: u32 = 8;

/// The same for a phone whose requests carry a small budget, whose backlog goes a piece a
/// request, and for a modified phone, whose hand-made changes the hub refuses one a request.
const MAX_REQUESTS_PER_LONG_SESSION: u32 = 64;

/// The hub, the phones and the wire between them.
#[derive(Debug)]
pub struct Network {
    /// The relay.
    pub hub: Hub,
    /// The phones, indexed by `PhoneId`.
    pub phones: Vec<Phone>,
    faults: Faults,
    rng: StdRng,
    sent: Vec<(PhoneId, Vec<u8>)>,
    seed: u64,
}

impl Network {
    /// A network around `hub` whose faults (when enabled) follow `faults`, drawn from `seed`.
    pub fn new(hub: Hub, faults: Faults, seed: u64) -> Self {
        Self { hub, phones: Vec::new(), faults, rng: StdRng::seed_from_u64(seed), sent: Vec::new(), seed }
    }

    /// Adds a phone for `actor` that holds nothing yet.
    pub fn add_phone(&mut self, actor: Actor) -> PhoneId {
        let id = PhoneId(u8::try_from(self.phones.len()).expect("fewer than 256 phones"));
        self.hub.join(id, actor);
        let seed = self.seed.wrapping_mul(31).wrapping_add(u64::from(id.0) + 1);
        self.phones.push(Phone::new(id, actor, self.hub.compound().id(), seed));
        id
    }

    /// The phone `id`.
    pub fn phone(&mut self, id: PhoneId) -> &mut Phone {
        &mut self.phones[usize::from(id.0)]
    }

    /// One sync session of `phone` over the faulty network.
    pub fn session(&mut self, phone: PhoneId) -> SessionReport {
        let faults = self.faults;
        self.run_session(phone, faults)
    }

    /// One sync session of `phone` over a perfect network.
    pub fn clean_session(&mut self, phone: PhoneId) -> SessionReport {
        self.run_session(phone, Faults::NONE)
    }

    /// One sync session of `phone` with these `faults`.
    pub fn session_with(&mut self, phone: PhoneId, faults: Faults) -> SessionReport {
        self.run_session(phone, faults)
    }

    /// Syncs every phone, fault-free, pass after pass, until a pass changes nothing on any
    /// phone or on the hub. Returns the number of passes.
    pub fn run_until_quiescent(&mut self) -> usize {
        for pass in 1..=10 {
            let hub_before = heads(self.hub.compound());
            let mut changed = false;
            for i in 0..self.phones.len() {
                let report = self.clean_session(PhoneId(u8::try_from(i).expect("few phones")));
                assert!(report.completed, "a fault-free session completes");
                changed |= report.changed;
            }
            if !changed && heads(self.hub.compound()) == hub_before {
                return pass;
            }
        }
        panic!("the network did not become quiescent in 10 passes");
    }

    fn run_session(&mut self, phone_id: PhoneId, faults: Faults) -> SessionReport {
        let mut report = SessionReport::default();
        let index = usize::from(phone_id.0);
        let before = phone_heads(&self.phones[index]);
        let mut session = self.phones[index].session();
        let long = self.phones[index].request_bytes.is_some() || self.phones[index].modified;
        let most = if long { MAX_REQUESTS_PER_LONG_SESSION } else { MAX_REQUESTS_PER_SESSION };
        loop {
            let phone = &mut self.phones[index];
            let Some(mut request) = session.request(&phone.held) else {
                report.completed = true;
                break;
            };
            report.requests += 1;
            assert!(
                report.requests <= most,
                "phone {phone_id:?} is still talking after {most} requests (last refusals: {:?})",
                self.hub.rejections.iter().rev().take(3).map(|r| &r.rejection).collect::<Vec<_>>()
            );
            if self.rng.random_bool(faults.reorder) {
                request.messages.shuffle(&mut self.rng);
            }
            // Every other request goes in the compact form, which must read back as the very
            // request the session built (untouched documents as their heads included).
            let body =
                if self.sent.len().is_multiple_of(2) { request.encode_compact() } else { request.encode() };
            assert_eq!(SyncRequest::decode(&body).expect("a request decodes"), request);
            report.request_bytes.push(body.len());
            self.sent.push((phone_id, body.clone()));
            if self.rng.random_bool(faults.drop_request) {
                break;
            }
            let mut response_body = self.hub.handle(phone_id, &body);
            if self.rng.random_bool(faults.duplicate_request) {
                response_body = self.hub.handle(phone_id, &body);
            }
            if self.rng.random_bool(faults.replay_old) {
                let (old_phone, old) = self.sent[self.rng.random_range(..self.sent.len())].clone();
                self.hub.handle(old_phone, &old);
            }
            if self.rng.random_bool(faults.drop_response) {
                break;
            }
            let mut response = SyncResponse::decode(&response_body).expect("a response decodes");
            report.response_bytes.push(response_body.len());
            report.response_messages.push(response.messages.len());
            if self.rng.random_bool(faults.reorder) {
                response.messages.shuffle(&mut self.rng);
                if let Some(documents) = response.documents.as_mut() {
                    documents.shuffle(&mut self.rng);
                }
            }
            let phone = &mut self.phones[index];
            if phone.actor.role == Role::Volunteer {
                let care: Vec<DocumentId> = self
                    .hub
                    .compound()
                    .documents()
                    .filter(|d| d.kind() == DocKind::Care)
                    .map(Document::id)
                    .collect();
                assert!(
                    response.documents.iter().flatten().all(|g| g.header.kind != DocKind::Care),
                    "care granted to a volunteer"
                );
                assert!(response.messages.iter().all(|m| !care.contains(&m.doc)), "care sent to a volunteer");
            }
            let outcome = session.handle(&mut phone.held, response);
            // A modified phone may have broken its own copy until it sets its change aside.
            assert!(phone.modified || outcome.failed.is_empty(), "replies not applied: {:?}", outcome.failed);
            for rejection in &outcome.rejected {
                assert_ne!(rejection.rule, "malformed", "a phone sent a malformed change: {rejection:?}");
                if self.hub.is_revoked(phone_id) && rejection.change.is_none() {
                    // The person was removed from the compound: its documents leave the phone
                    // below (none is granted any more), with whatever it had not synced.
                    continue;
                }
                if rejection.rule == "missing_dependencies" {
                    // Transient: the changes stay on the phone, which starts the document's
                    // exchange afresh so that it sends them again with what they depend on.
                    session.reset(rejection.doc, doorstep_core::sync::PeerState::new());
                    continue;
                }
                let change = rejection.change.as_ref().and_then(|c| c.parse().ok());
                let change = change.unwrap_or_else(|| panic!("a refusal names its change: {rejection:?}"));
                phone.set_aside(rejection.doc, change);
                // As the replica does: the hub forgot its side, the phone keeps the heads both
                // sides share, which stay true (the refused change is not among them). A fresh
                // state here would also make the phone take the document for one of its own the
                // hub never acknowledged, and keep it when its person is removed.
                let kept = session
                    .states()
                    .get(&rejection.doc)
                    .map(|s| doorstep_core::sync::PeerState::decode(&s.encode()).expect("a state decodes"))
                    .unwrap_or_default();
                session.reset(rejection.doc, kept);
            }
            for header in outcome.to_fetch {
                let actor = phone.held.0.device().clone();
                phone.held.0.insert(Document::placeholder(header, actor));
            }
            for id in outcome.to_drop {
                phone.held.0.remove(id);
            }
            phone.persist(&session);
            if phone.actor.role == Role::Volunteer {
                assert!(!phone.holds_care(), "a volunteer's phone holds the care ledger");
            }
        }
        report.changed = phone_heads(&self.phones[index]) != before;
        report
    }
}

fn phone_heads(phone: &Phone) -> BTreeMap<DocumentId, Vec<ChangeHash>> {
    heads(phone.compound())
}
