//! A change is taken only in the encoding Automerge itself writes. A change's hash is taken over
//! its bytes as sent; a document saved whole keeps its operations, not those bytes, and loading
//! it writes each change again and checks the hashes against the document's heads. A change whose
//! bytes say its operations in a way Automerge would not (a column left out or cut short, which
//! its reader fills with defaults) is applied, then saved into a document that no longer loads:
//! "mismatching heads" for every phone that fetched it whole, for good. So each change is written
//! again from its operations here, and refused unless that gives the same hash.

use automerge::{Change, ExpandedChange};

/// Refuses `change` unless Automerge, writing its operations (`expanded`, decoded once for every
/// check) again, makes the same change.
pub(super) fn check_canonical(change: &Change, expanded: ExpandedChange) -> Result<(), String> {
    let again = Change::from(expanded);
    if again.hash() == change.hash() {
        Ok(())
    } else {
        Err(format!(
            "is not in the encoding Automerge writes: written again from its own operations it is change {}, not {}; \
             a document holding it would not load again, so the change was crafted",
            again.hash(),
            change.hash()
        ))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use automerge::transaction::Transactable;
    use automerge::{ActorId, Automerge, ObjType, ROOT};

    use super::*;

    /// Changes as phones write them, several authors' objects referred to in one change, text
    /// and list edits, deletions and a long change Automerge compresses: all taken.
    #[test]
    fn changes_automerge_writes_are_canonical() {
        let mut first = Automerge::new().with_actor(ActorId::from([9; 16]));
        let mut tx = first.transaction();
        let tasks = tx.put_object(ROOT, "tasks", ObjType::List).unwrap();
        let task = tx.insert_object(&tasks, 0, ObjType::Map).unwrap();
        let notes = tx.put_object(&task, "notes", ObjType::Text).unwrap();
        tx.splice_text(&notes, 0, 0, "门口").unwrap();
        tx.commit();
        let mut second = first.fork().with_actor(ActorId::from([1; 16]));
        let mut tx = second.transaction();
        let attempts = tx.put_object(&task, "attempts", ObjType::List).unwrap();
        tx.insert(&attempts, 0, "delivered").unwrap();
        tx.commit();
        let mut third = second.fork().with_actor(ActorId::from([5; 16]));
        let mut tx = third.transaction();
        tx.insert(&attempts, 1, "nobody_home").unwrap();
        tx.splice_text(&notes, 1, 1, &"外".repeat(400)).unwrap();
        tx.put(&task, "status", "delivered").unwrap();
        tx.delete(&tasks, 0).unwrap();
        tx.commit();
        for change in third.get_changes(&[]) {
            check_canonical(&change, change.decode()).unwrap();
        }
    }

    /// Reads one unsigned LEB128 number at `at` (the chunk reader's own), moving past it.
    fn leb(bytes: &[u8], at: &mut usize) -> u64 {
        let (value, size) = crate::validate::changes::uleb128(&bytes[*at..]).unwrap();
        *at += size;
        value
    }

    /// `change` (uncompressed) with the length the column `spec` is said to have set to 0, its
    /// bytes left where they were (the next columns read them, the last ones are left over), as
    /// a crafted change had it: its header's checksum made right again, so it reads.
    fn with_column_said_empty(change: &[u8], spec: u64) -> Vec<u8> {
        let mut at = 9;
        let length = usize::try_from(leb(change, &mut at)).unwrap();
        let body_start = at;
        let body = &change[at..at + length];
        let mut at = 0;
        let deps = leb(body, &mut at);
        at += 32 * usize::try_from(deps).unwrap();
        let actor = leb(body, &mut at);
        at += usize::try_from(actor).unwrap();
        for _ in 0..3 {
            leb(body, &mut at); // seq, start op, time
        }
        let message = leb(body, &mut at);
        at += usize::try_from(message).unwrap();
        for _ in 0..leb(body, &mut at) {
            let other = leb(body, &mut at);
            at += usize::try_from(other).unwrap();
        }
        let mut crafted = change.to_vec();
        let mut found = false;
        for _ in 0..leb(body, &mut at) {
            let column = leb(body, &mut at);
            let len_at = at;
            let len = leb(body, &mut at);
            if column == spec {
                assert!(len > 0 && len < 128, "a one-byte length");
                crafted[body_start + len_at] = 0;
                found = true;
            }
        }
        assert!(found, "the change has column {spec:#x}");
        let checksum = <sha2::Sha256 as sha2::Digest>::digest(&crafted[8..]);
        crafted[4..8].copy_from_slice(&checksum[..4]);
        crafted
    }

    /// A change whose operations column is said to be empty, its bytes read by the columns after
    /// it: Automerge reads and applies it, and a document saved with it would not load. Refused.
    #[test]
    fn a_change_written_otherwise_than_automerge_writes_it_is_refused() {
        let mut doc = Automerge::new().with_actor(ActorId::from([1; 16]));
        let mut tx = doc.transaction();
        let list = tx.put_object(ROOT, "attempts", ObjType::List).unwrap();
        tx.insert(&list, 0, "delivered").unwrap();
        tx.commit();
        let honest = doc.get_changes(&[]).pop().unwrap();
        check_canonical(&honest, honest.decode()).unwrap();
        let mut refused = 0;
        for spec in [0x34, 0x42] {
            let bytes = with_column_said_empty(honest.raw_bytes(), spec);
            let Ok(crafted) = Change::try_from(bytes.as_slice()) else { continue };
            let why = check_canonical(&crafted, crafted.decode()).unwrap_err();
            assert!(why.contains("not in the encoding Automerge writes"), "{why}");
            refused += 1;
        }
        assert!(refused > 0, "at least one crafted change reads, and is refused");
    }
}
