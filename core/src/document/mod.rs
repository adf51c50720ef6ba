//! The compound's Automerge documents and how the typed schema maps onto them.
//!
//! Every document's root holds `schema` (the version), `kind`, `compound` and `id`; the rest
//! depends on the kind:
//!
//! ```text
//! roster    buildings: {BuildingId: {estate, label, lift}}
//!           households: {HouseholdId: {building, unit, floor, flat, head, phone, people,
//!                        aged_60_plus, children_under_6, needs: {tag: true}, status, lift,
//!                        notes: Text}}   (people absent or null: unknown, 未填)
//!           reviews: {ReviewId: {conflict, entity, covers, by, at, note}}   (concurrent statuses)
//! round     title, round_kind, date, status
//!           tasks: {TaskId: {household, kind, items, priority, assignee, request,
//!                   cancelled: {by, at, reason}, attempts: [{by, at, outcome, note, knocked_by?, knocked_at?}]}}
//!           reviews: {ReviewId: {conflict, entity, covers, by, at, note}}   (its tasks' conflicts)
//! requests  requests: {RequestId: {household, channel, category, text: Text, urgency,
//!                      status, tasks: {TaskId: round DocumentId}, by, at}}
//! care      entries: {CareEntryId: {household, person_name, condition, schedule, medicines,
//!                     insurance_card_held_by, notes: Text}}
//! ```
//!
//! `reviews` (see [`reviews`]) is absent from documents written before reviews existed, and
//! reads as empty there.

pub mod care;
mod header;
pub(crate) mod read;
pub mod requests;
pub mod reviews;
pub mod roster;
pub mod round;
pub(crate) mod text_update;

use automerge::{ActorId, Automerge, ChangeHash};

pub use header::{DocumentError, Header};
pub use read::SchemaError;

use crate::id::{CompoundId, DocumentId};
use crate::schema::vocabulary::DocKind;

/// One Automerge document with its identity.
#[derive(Debug, Clone)]
pub struct Document {
    header: Header,
    doc: Automerge,
}

impl Document {
    /// A new, empty-bodied document of `kind`, written by `actor`.
    pub fn create(header: Header, actor: ActorId) -> Result<Self, DocumentError> {
        let mut doc = Automerge::new().with_actor(actor);
        let mut tx = doc.transaction();
        header.write(&mut tx)?;
        tx.commit();
        Ok(Self { header, doc })
    }

    /// Loads a saved document (a `save()` followed by any number of incremental chunks),
    /// checks its header against what we expect and migrates it to the current schema.
    pub fn load(expected: Header, bytes: &[u8], actor: ActorId) -> Result<Self, DocumentError> {
        let doc = Automerge::load(bytes).map_err(DocumentError::Corrupt)?.with_actor(actor);
        Self::from_automerge(expected, doc)
    }

    /// Wraps an Automerge document that arrived by sync, once it has a header.
    pub fn from_automerge(expected: Header, mut doc: Automerge) -> Result<Self, DocumentError> {
        header::check_and_migrate(&expected, &mut doc)?;
        Ok(Self { header: expected, doc })
    }

    /// A document we know of but have not received yet: it fills in by sync.
    pub fn placeholder(header: Header, actor: ActorId) -> Self {
        Self { header, doc: Automerge::new().with_actor(actor) }
    }

    /// Checks the header of a document that was a placeholder and has now received content by
    /// sync, and migrates it; a no-op for documents that already had content.
    pub fn adopt_synced(&mut self) -> Result<(), DocumentError> {
        header::check_and_migrate(&self.header, &mut self.doc)
    }

    /// Whether the document has received its header yet.
    pub fn is_placeholder(&self) -> bool {
        self.doc.get_heads().is_empty()
    }

    /// The document's ID.
    pub fn id(&self) -> DocumentId {
        self.header.id
    }

    /// What kind of document it is.
    pub fn kind(&self) -> DocKind {
        self.header.kind
    }

    /// The compound it belongs to.
    pub fn compound(&self) -> CompoundId {
        self.header.compound
    }

    /// Its identity.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The Automerge document, to read.
    pub fn automerge(&self) -> &Automerge {
        &self.doc
    }

    /// The Automerge document, to sync into. Callers must not write outside operations.
    pub fn automerge_mut(&mut self) -> &mut Automerge {
        &mut self.doc
    }

    /// The current heads.
    pub fn heads(&self) -> Vec<ChangeHash> {
        self.doc.get_heads()
    }

    /// Changes since `heads`, as one chunk for `load_incremental` (empty if none).
    pub fn save_after(&self, heads: &[ChangeHash]) -> Vec<u8> {
        self.doc.save_after(heads)
    }

    /// The whole document, compacted.
    pub fn save(&self) -> Vec<u8> {
        self.doc.save()
    }
}
