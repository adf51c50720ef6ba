//! A phone: one person's device holding a compound's documents, making operations offline and
//! syncing through [`ClientSession`]. Between sessions it keeps only what a replica keeps: the
//! documents, each document's `PeerState::encode` bytes and the document list it last applied
//! (whose digest lets the hub leave the list out while it is unchanged).

use std::collections::{BTreeMap, BTreeSet};

use automerge::ReadDoc;
use doorstep_core::document::Document;
use doorstep_core::id::{CompoundId, DocumentId};
use doorstep_core::schema::vocabulary::DocKind;
use doorstep_core::sync::{ClientSession, DocumentGrant, DocumentSet, PeerState};
use doorstep_core::{Actor, Applied, Compound, Operation, OperationError};

use super::PhoneId;
use crate::support::{TestEnv, heads};

/// The documents a phone holds, as the sync session sees them (placeholders included).
#[derive(Debug)]
pub struct Held(pub Compound);

impl DocumentSet for Held {
    fn document_ids(&self) -> Vec<DocumentId> {
        self.0.documents().map(Document::id).collect()
    }

    fn get(&self, id: DocumentId) -> Option<&Document> {
        self.0.document(id)
    }

    fn get_mut(&mut self, id: DocumentId) -> Option<&mut Document> {
        self.0.document_mut(id)
    }
}

/// One person's phone.
#[derive(Debug)]
pub struct Phone {
    /// Index in the network.
    pub id: PhoneId,
    /// Who uses it, and in what role.
    pub actor: Actor,
    /// Its clock and entropy.
    pub env: TestEnv,
    /// Its documents.
    pub held: Held,
    /// The heads of every document right after each operation that changed it here: the
    /// changes this phone acknowledged to its user, which must all reach the hub.
    pub made: Vec<(DocumentId, Vec<automerge::ChangeHash>)>,
    /// Changes the hub refused and this phone set aside (with the changes built on them).
    pub set_aside: BTreeSet<automerge::ChangeHash>,
    /// Whether this phone is modified to send hand-made changes besides operations.
    pub modified: bool,
    /// Bytes of messages a request carries at most, when smaller than the phone's own budget:
    /// a backlog past it is cut at a change boundary and goes over several requests.
    pub request_bytes: Option<usize>,
    persisted: BTreeMap<DocumentId, Vec<u8>>,
    known_grants: Option<Vec<DocumentGrant>>,
}

impl Phone {
    /// A new phone for `actor` that holds nothing yet; its first sync learns what it may hold.
    pub fn new(id: PhoneId, actor: Actor, compound: CompoundId, seed: u64) -> Self {
        let device = automerge::ActorId::from([0xFA, id.0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, id.0]);
        Self {
            id,
            actor,
            env: TestEnv::seeded(seed),
            held: Held(Compound::new(compound, device)),
            made: Vec::new(),
            set_aside: BTreeSet::new(),
            modified: false,
            request_bytes: None,
            persisted: BTreeMap::new(),
            known_grants: None,
        }
    }

    /// The compound as this phone holds it.
    pub fn compound(&self) -> &Compound {
        &self.held.0
    }

    /// Makes an operation offline. A refused operation must leave every document unchanged.
    pub fn apply(&mut self, op: &Operation) -> Result<Applied, OperationError> {
        let before = heads(&self.held.0);
        let result = self.held.0.apply(&mut self.env.env(), &self.actor, op);
        match &result {
            Ok(applied) => {
                let after = heads(&self.held.0);
                for id in &applied.changed {
                    assert_ne!(
                        before.get(id),
                        after.get(id),
                        "{op:?} reported a change to {id} but made none"
                    );
                    self.made.push((*id, after[id].clone()));
                }
            }
            Err(e) => {
                assert_eq!(heads(&self.held.0), before, "refused {op:?} ({e}) changed documents");
                assert!(
                    !matches!(e, OperationError::Automerge(_) | OperationError::Document(_)),
                    "{op:?} failed inside Automerge: {e}"
                );
            }
        }
        result
    }

    /// Sets aside the change `refused` of document `doc` and every change built on it, as the
    /// replica does with a change the relay refused: the document is rebuilt from the rest.
    pub fn set_aside(&mut self, doc: DocumentId, refused: automerge::ChangeHash) {
        let Some(held) = self.held.0.document(doc) else { return };
        let header = *held.header();
        let mut dropped = BTreeSet::from([refused]);
        let kept: Vec<automerge::Change> = held
            .automerge()
            .get_changes(&[])
            .into_iter()
            .filter(|c| {
                let drop = dropped.contains(&c.hash()) || c.deps().iter().any(|d| dropped.contains(d));
                if drop {
                    dropped.insert(c.hash());
                }
                !drop
            })
            .collect();
        if !dropped.iter().any(|h| held.automerge().get_change_by_hash(h).is_some()) {
            return;
        }
        let device = self.held.0.device().clone();
        let mut fresh = automerge::Automerge::new().with_actor(device.clone());
        fresh.apply_changes(kept).expect("the kept changes apply");
        self.held.0.remove(doc);
        // A modified phone's copy may still hold a broken header of its own making, not yet
        // refused: keep it as it is, the hub will refuse it in its turn.
        let mut rebuilt = Document::placeholder(header, device);
        *rebuilt.automerge_mut() = fresh;
        self.held.0.insert(rebuilt);
        self.set_aside.extend(dropped);
    }

    /// A session starting from the states persisted after the last successful response.
    pub fn session(&self) -> ClientSession {
        let states = self
            .persisted
            .iter()
            .map(|(id, bytes)| (*id, PeerState::decode(bytes).expect("a persisted state decodes")))
            .collect();
        let session = ClientSession::new(states).with_known_grants(self.known_grants.clone());
        match self.request_bytes {
            Some(bytes) => session.with_request_bytes(bytes),
            None => session,
        }
    }

    /// Persists the session's states, as a replica does after each response.
    pub fn persist(&mut self, session: &ClientSession) {
        self.persisted = session.states().iter().map(|(id, s)| (*id, s.encode())).collect();
        self.known_grants = session.known_grants().map(<[_]>::to_vec);
    }

    /// Whether this phone holds the care ledger in any form (even an empty placeholder).
    pub fn holds_care(&self) -> bool {
        self.held.0.documents().any(|d| d.kind() == DocKind::Care)
    }
}
