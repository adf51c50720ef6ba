//! A compound's documents held in memory: the roster, requests, care ledger (for those who may
//! read it) and rounds. Operations and queries work on this; persistence and sync are layered
//! on top by the replica and the relay.

use std::collections::BTreeMap;

use automerge::ActorId;

use crate::document::{Document, Header};
use crate::id::{CompoundId, DocumentId};
use crate::schema::vocabulary::{DocKind, RoundStatus};

/// The documents of one compound that this process holds.
#[derive(Debug, Clone)]
pub struct Compound {
    id: CompoundId,
    device: ActorId,
    docs: BTreeMap<DocumentId, Document>,
}

impl Compound {
    /// An empty compound, to be filled with documents written under the device actor `device`.
    pub fn new(id: CompoundId, device: ActorId) -> Self {
        Self { id, device, docs: BTreeMap::new() }
    }

    /// The compound's ID.
    pub fn id(&self) -> CompoundId {
        self.id
    }

    /// The actor this device writes under.
    pub fn device(&self) -> &ActorId {
        &self.device
    }

    /// Writes every later change of this compound under `device` (a new actor for the device).
    pub fn set_device(&mut self, device: ActorId) {
        for doc in self.docs.values_mut() {
            doc.automerge_mut().set_actor(device.clone());
        }
        self.device = device;
    }

    /// Adds (or replaces) a document of this compound.
    pub fn insert(&mut self, doc: Document) {
        debug_assert_eq!(doc.compound(), self.id);
        self.docs.insert(doc.id(), doc);
    }

    /// Removes a document (a closed round or a revoked one).
    pub fn remove(&mut self, id: DocumentId) -> Option<Document> {
        self.docs.remove(&id)
    }

    /// A document by ID.
    pub fn document(&self, id: DocumentId) -> Option<&Document> {
        self.docs.get(&id)
    }

    /// A document by ID, to sync into.
    pub fn document_mut(&mut self, id: DocumentId) -> Option<&mut Document> {
        self.docs.get_mut(&id)
    }

    /// Every document held.
    pub fn documents(&self) -> impl Iterator<Item = &Document> {
        self.docs.values()
    }

    /// The document headers held.
    pub fn headers(&self) -> Vec<Header> {
        self.docs.values().map(|d| *d.header()).collect()
    }

    /// The one document of `kind` (roster, requests or care).
    pub fn single(&self, kind: DocKind) -> Option<&Document> {
        self.docs.values().find(|d| d.kind() == kind && !d.is_placeholder())
    }

    pub(crate) fn single_id(&self, kind: DocKind) -> Option<DocumentId> {
        self.single(kind).map(Document::id)
    }

    /// The round documents held, open or closed.
    pub fn rounds(&self) -> impl Iterator<Item = &Document> {
        self.docs.values().filter(|d| d.kind() == DocKind::Round && !d.is_placeholder())
    }

    /// The round documents whose round is still open.
    pub fn open_rounds(&self) -> impl Iterator<Item = &Document> {
        self.rounds().filter(|d| {
            crate::document::round::info(d.id(), d.automerge()).is_ok_and(|i| i.status == RoundStatus::Open)
        })
    }
}
