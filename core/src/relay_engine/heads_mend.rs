//! The relay mends a document with many heads: one empty change of its own that depends on every
//! head, so the document has one head again.
//!
//! Every sync message a phone sends carries its document's heads (one per concurrent writer),
//! and the relay refuses a message with more than [`MessageLimits::max_heads`](crate::sync::MessageLimits)
//! (4,096). Many members writing on old versions (or one hostile member, under new actors) can
//! raise a document's heads, and nothing else brings them back down: a coordinator's edit merges
//! them, but only when someone makes one, and phones that synced before still hold them all.
//! So each batch that leaves a document with more than [`MEND_AT_HEADS`] heads adds this change,
//! in the same chunk and under the same lock as the batch, and every phone that syncs afterwards
//! receives it and is back to one head (plus its own unsynced work).
//!
//! The change is Automerge's merge commit (`empty_commit`): no operation and no message, so
//! nothing any reader sees changes; the validator takes exactly this shape of empty change
//! (`validate/op_shapes.rs`: no operation, at least two dependencies). It is written under the
//! actor the caller gives, the relay's admin's (bound to them, like the relay's other writes).

use automerge::transaction::CommitOptions;
use automerge::{ActorId, Automerge, ChangeHash, ReadDoc};

/// A document with more heads than this is mended: well below the 4,096 a message carries, so a
/// phone that synced before the mend still holds few enough to sync, and above what an honest
/// team makes (one head per phone that edited offline since the last sync: about a team's size).
pub const MEND_AT_HEADS: usize = 256;

/// The merge change added to `doc` if it has more than `more_than` heads: one change under
/// `actor` that depends on every head. Returns its hash and bytes (to store and to keep for
/// replies); `None` when the document has few enough heads. `doc`'s own actor is kept.
pub fn mend_heads(doc: &mut Automerge, actor: &ActorId, more_than: usize) -> Option<(ChangeHash, Vec<u8>)> {
    if doc.get_heads().len() <= more_than {
        return None;
    }
    let own = doc.get_actor().clone();
    doc.set_actor(actor.clone());
    let hash = doc.empty_commit(CommitOptions::default());
    doc.set_actor(own);
    let bytes = doc.get_change_by_hash(&hash)?.raw_bytes().to_vec();
    Some((hash, bytes))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use automerge::ROOT;
    use automerge::transaction::Transactable;

    use super::*;

    /// A document with `n` heads: `n` phones each wrote once on the same first version.
    fn many_headed(n: usize) -> Automerge {
        let mut doc = Automerge::new();
        let mut tx = doc.transaction();
        tx.put(ROOT, "k", 0).unwrap();
        tx.commit();
        let base = doc.clone();
        for i in 0..n {
            let mut phone = base.fork();
            let mut tx = phone.transaction();
            tx.put(ROOT, format!("k{i}"), i as i64).unwrap();
            tx.commit();
            doc.merge(&mut phone).unwrap();
        }
        doc
    }

    #[test]
    fn a_document_past_the_threshold_gets_one_head_and_nothing_readable_changes() {
        let mut doc = many_headed(12);
        let before: Vec<String> = doc.keys(ROOT).collect();
        let relay = ActorId::from([9; 16]);
        let own = doc.get_actor().clone();
        let (hash, bytes) = mend_heads(&mut doc, &relay, 10).expect("12 heads are mended at 10");
        assert_eq!(doc.get_heads(), vec![hash]);
        assert_eq!(doc.keys(ROOT).collect::<Vec<_>>(), before);
        assert_eq!(doc.get_actor(), &own, "the document's own actor is kept");
        let change = automerge::Change::from_bytes(bytes).unwrap();
        assert_eq!((change.actor_id(), change.deps().len(), change.len()), (&relay, 12, 0));
        assert!(mend_heads(&mut doc, &relay, 10).is_none(), "one head: nothing more to mend");
    }

    #[test]
    fn a_document_at_the_threshold_is_left_as_it_is() {
        let mut doc = many_headed(10);
        assert!(mend_heads(&mut doc, &ActorId::from([9; 16]), 10).is_none());
        assert_eq!(doc.get_heads().len(), 10);
    }
}
