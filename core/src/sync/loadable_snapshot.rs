//! A compacted copy of a document, known to load before it replaces the changes it is made of.
//! Compaction stores `save()` and drops the stored changes; a document holding a change that
//! Automerge applies but cannot save in a form it loads again (crafted operations the relay's
//! check did not know of when they arrived) would then be lost for good, to every phone and to
//! the dashboard. So the copy is loaded once and its heads compared before it is used; a copy
//! that fails keeps the document as its changes, which still load.

use automerge::Automerge;

use crate::validate::contain::contained;

/// `doc` saved whole, once the saved bytes are found to load into a document with the same heads.
pub fn loadable_snapshot(doc: &Automerge) -> Result<Vec<u8>, String> {
    let bytes = contained("saving the document", || doc.save())?;
    let loaded = contained("loading its saved copy", || Automerge::load(&bytes))?
        .map_err(|e| format!("its saved copy does not load: {e}"))?;
    let (mut saved, mut held) = (loaded.get_heads(), doc.get_heads());
    saved.sort();
    held.sort();
    if saved != held {
        return Err(format!(
            "its saved copy loads with {} heads where the document has {}",
            saved.len(),
            held.len()
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use automerge::transaction::Transactable;
    use automerge::{ActorId, Change, ObjType, ROOT};

    use super::*;

    #[test]
    fn a_document_that_saves_into_what_loads_is_saved() {
        let mut doc = Automerge::new();
        let mut tx = doc.transaction();
        let notes = tx.put_object(ROOT, "notes", ObjType::Text).unwrap();
        tx.splice_text(&notes, 0, 0, "门口").unwrap();
        tx.commit();
        let bytes = loadable_snapshot(&doc).unwrap();
        assert_eq!(Automerge::load(&bytes).unwrap().get_heads(), doc.get_heads());
    }

    #[test]
    fn a_document_whose_saved_copy_would_not_load_is_not_saved() {
        // A delete that names nothing it deletes: Automerge applies it, and its saved copy
        // does not load (the relay's check refuses it now; this is the net under that check).
        let mut doc = Automerge::new().with_actor(ActorId::from([1; 16]));
        let mut tx = doc.transaction();
        let task = tx.put_object(ROOT, "task", ObjType::Map).unwrap();
        tx.put(&task, "status", "open").unwrap();
        tx.commit();
        let mut other = doc.fork().with_actor(ActorId::from([2; 16]));
        let mut tx = other.transaction();
        tx.delete(&task, "status").unwrap();
        tx.commit();
        let mut crafted = other.get_changes(&doc.get_heads()).pop().unwrap().decode();
        crafted.operations[0].pred = Vec::new().into();
        crafted.hash = None;
        doc.apply_changes([Change::from(crafted)]).unwrap();
        let refused = loadable_snapshot(&doc).unwrap_err();
        assert!(refused.contains("does not load"), "{refused}");
    }
}
