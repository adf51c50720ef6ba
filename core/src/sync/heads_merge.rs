//! A phone whose document has more heads than a sync message carries merges them before it
//! syncs, instead of being refused at every sync for good.
//!
//! Every message a phone sends names its document's heads, and (from its sync state) the heads
//! it last shared with the relay and those of the relay's it needs; the relay refuses a message
//! naming more than [`MessageLimits`] allows (4,096 of each). A phone that synced while its
//! document had more heads than that (a roster many-headed by a hostile member, before the
//! relay mended it, `relay_engine/heads_mend.rs`) holds them all, and would send them in every
//! message: refused every time, its volunteer's deliveries never reaching the coordinator.
//!
//! So before a session's first request, such a document gets one empty change of this device
//! that depends on every head (Automerge's merge commit, which the relay's validator takes:
//! no operation, at least two dependencies): its heads are one again, and nothing anyone reads
//! changes. A sync state naming more heads than a message carries starts afresh: the first
//! message then names none of them, and the ordinary exchange finds what the relay lacks (this
//! device's unsynced work and the merge change), while the relay, which mends its own copy in
//! the batch that answers it, announces few heads back.

use automerge::transaction::CommitOptions;

use super::client::{ClientSession, DocumentSet};
use super::{MessageLimits, PeerState};
use crate::id::DocumentId;

/// What [`ClientSession::merge_many_heads`] did to one document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadsMerged {
    /// The document.
    pub doc: DocumentId,
    /// Its heads before: more than a message carries when `merged`.
    pub heads: usize,
    /// Whether a merge change was made (the caller stores the document).
    pub merged: bool,
    /// Whether its sync state started afresh.
    pub state_reset: bool,
}

/// Whether a message with `heads` heads, naming `shared` heads shared and needing `needed`, is
/// more than `limits` let the relay take.
fn over(limits: &MessageLimits, heads: usize, shared: usize, needed: usize) -> bool {
    heads > limits.max_heads || shared > limits.max_last_sync || needed > limits.max_need
}

impl ClientSession {
    /// Before a session's first request: every document of `docs` with more heads than a
    /// message carries gets a merge change of this device (see the module), and every document
    /// whose sync state names more heads than a message carries starts afresh. Returns what it
    /// did, per document touched; those `merged` changed, for the caller to store.
    pub fn merge_many_heads(&mut self, docs: &mut impl DocumentSet) -> Vec<HeadsMerged> {
        let limits = MessageLimits::default();
        let mut touched = Vec::new();
        for id in docs.document_ids() {
            let Some(doc) = docs.get_mut(id) else { continue };
            if doc.is_placeholder() {
                continue;
            }
            let heads = doc.heads().len();
            let merged = heads > limits.max_heads;
            if merged {
                doc.automerge_mut().empty_commit(CommitOptions::default());
            }
            let state = self.states().get(&id);
            let shared = state.map_or(0, |s| s.shared_heads().len());
            let needed = state.and_then(PeerState::their_heads).map_or(0, <[_]>::len);
            let state_reset = over(&limits, 0, shared, needed);
            if state_reset {
                self.reset(id, PeerState::new());
            }
            if merged || state_reset {
                tracing::warn!(doc = %id, heads, shared, merged, state_reset, "a document with more heads than a sync message carries was merged before syncing");
                touched.push(HeadsMerged { doc: id, heads, merged, state_reset });
            }
        }
        touched
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::BTreeMap;

    use automerge::transaction::Transactable;
    use automerge::{ActorId, ReadDoc};

    use super::*;
    use crate::Compound;
    use crate::document::{Document, Header};
    use crate::id::CompoundId;
    use crate::schema::vocabulary::DocKind;
    use crate::sync::{self, decode};

    /// A roster held by a phone, with `n` concurrent changes by other writers on top.
    fn many_headed(n: usize) -> (Document, ActorId) {
        let device = ActorId::random();
        let header = Header {
            id: DocumentId::from_uuid(uuid::Uuid::from_u128(1)),
            kind: DocKind::Roster,
            compound: CompoundId::from_uuid(uuid::Uuid::from_u128(2)),
        };
        let mut doc = Document::create(header, device.clone()).unwrap();
        let base = doc.automerge().clone();
        let mut changes = Vec::new();
        for i in 0..n {
            let mut other = base.fork();
            let mut tx = other.transaction();
            tx.put(automerge::ROOT, format!("k{i}"), i as i64).unwrap();
            tx.commit();
            changes.push(other.get_last_local_change().unwrap());
        }
        doc.automerge_mut().apply_changes(changes).unwrap();
        (doc, device)
    }

    /// The phone's documents: `doc` in its compound.
    fn held(doc: Document, device: &ActorId) -> Compound {
        let mut compound = Compound::new(doc.compound(), device.clone());
        compound.insert(doc);
        compound
    }

    #[test]
    fn a_document_past_what_a_message_carries_is_merged_and_its_message_is_taken() {
        let limits = MessageLimits::default();
        let (doc, device) = many_headed(limits.max_heads + 4);
        let id = doc.id();
        let mut docs = held(doc, &device);
        let mut session = ClientSession::new(BTreeMap::new());
        let touched = session.merge_many_heads(&mut docs);
        assert_eq!(
            touched,
            vec![HeadsMerged { doc: id, heads: limits.max_heads + 4, merged: true, state_reset: false }]
        );
        let doc = docs.document(id).unwrap();
        assert_eq!(doc.heads().len(), 1);
        let merge = doc.automerge().get_change_by_hash(&doc.heads()[0]).unwrap();
        assert_eq!((merge.actor_id(), merge.len()), (&device, 0));
        // Every head, and (as Automerge writes every change) this device's own last change.
        assert_eq!(merge.deps().len(), limits.max_heads + 4 + 1);
        let request = session.request(&docs).unwrap();
        let message = &request.messages[0].message;
        assert!(decode(message, &limits).is_ok(), "the relay's caps take the message");
        assert!(session.merge_many_heads(&mut docs).is_empty(), "nothing more to merge");
    }

    #[test]
    fn a_state_naming_more_heads_than_a_message_carries_starts_afresh() {
        let limits = MessageLimits::default();
        let (doc, device) = many_headed(limits.max_last_sync + 1);
        let id = doc.id();
        // The relay and the phone both held every head at the last sync.
        let mut relay = doc.automerge().clone();
        let (mut ours, mut theirs) = (PeerState::new(), PeerState::new());
        let mut phone = doc.automerge().clone();
        for _ in 0..4 {
            if let Some(m) = sync::generate(&phone, &mut ours) {
                sync::receive(&mut relay, &mut theirs, decode(&m, &MessageLimits::for_replies()).unwrap())
                    .unwrap();
            }
            if let Some(m) = sync::generate(&relay, &mut theirs) {
                sync::receive(&mut phone, &mut ours, decode(&m, &MessageLimits::for_replies()).unwrap())
                    .unwrap();
            }
        }
        assert!(ours.shared_heads().len() > limits.max_last_sync);
        let mut docs = held(doc, &device);
        let mut session = ClientSession::new(BTreeMap::from([(id, ours.as_at_session_start())]));
        let touched = session.merge_many_heads(&mut docs);
        assert!(touched[0].merged && touched[0].state_reset, "{touched:?}");
        let request = session.request(&docs).unwrap();
        assert!(decode(&request.messages[0].message, &limits).is_ok(), "the relay's caps take the message");
    }
}
