//! A document's whole copy, fetched in pieces that the link dropping does not waste.
//!
//! A phone holding nothing of a document gets it whole (`changes_or_whole.rs`): the sample
//! compound's 600-household roster is 44 KB saved, its import alone 60 KB as a change, so no
//! piece of it is smaller (`reply_budget.rs`), and after a teammate's day of long notes the
//! roster with its history is 340 KB. On a landing's 64 kbit/s a window of signal shorter than
//! that brought nothing, window after window: a new volunteer in 5 s windows never got the
//! roster.
//!
//! So a phone whose link has dropped a request fetches a document it lacks as a copy
//! (`GET /v1/documents/{id}/copy`): the document saved at given heads, which the relay can save
//! again byte for byte, the phone keeping every byte as it arrives. The next window asks for the
//! rest (`from`), naming the heads and the digest of the copy it is completing; if the relay's
//! copy at those heads is not the same bytes (it cannot tell itself; the digest says), it
//! answers from the first byte and the phone starts over. A complete copy whose digest does
//! not match is thrown away, and the sync takes the document. The phone then holds the
//! document at those heads, and its sync gets the changes since, in pieces.
//!
//! A phone that holds a document but lags far behind it (a volunteer back from the morning
//! after a teammate's day of long notes) gets the changes it lacks one at a time, and a change
//! is the smallest piece a sync can carry: the one a window's end cuts is lost. Such a phone
//! may ask for a copy too, naming its own heads (`since`): the relay serves it when it is not
//! much bigger than the changes the phone lacks ([`copy_serves_better`]) and otherwise answers
//! `204 No Content`, and the sync carries the changes. The phone merges the copy into what it
//! holds, its own changes untouched.

use automerge::{Automerge, ChangeHash};

use crate::id::DocumentId;
use sha2::{Digest, Sha256};

/// Answer header: the heads the copy was saved at, hex, comma-separated.
pub const COPY_HEADS_HEADER: &str = "x-doorstep-copy-heads";
/// Answer header: the copy's digest ([`digest`]).
pub const COPY_DIGEST_HEADER: &str = "x-doorstep-copy-digest";
/// Answer header: the copy's length in bytes, all of it.
pub const COPY_BYTES_HEADER: &str = "x-doorstep-copy-bytes";
/// Answer header: the offset in the copy of the answer's first byte.
pub const COPY_FROM_HEADER: &str = "x-doorstep-copy-from";

/// A document the phone holds is sent as a copy only when the changes it lacks come to at least
/// this much: fewer go in a window or two as they are.
pub const LEAST_LACKING_FOR_A_COPY: usize = 16 * 1024;

/// Answer header of `POST /v1/sync` to a phone that asked for small replies: the documents whose
/// reply in this answer is over its budget (a change bigger than the budget goes whole),
/// comma-separated. The head crosses a window of signal that such a body may not: the phone then
/// knows the relay is ahead on them even when no answer ever arrives whole, and asks for their
/// copies.
pub const COPY_ADVISED_HEADER: &str = "x-doorstep-copy-advised";

/// Documents as [`COPY_ADVISED_HEADER`] carries them.
pub fn advised_text(docs: &[DocumentId]) -> String {
    comma_separated(docs)
}

/// What a header or a query lists: each item's text, separated by commas.
fn comma_separated<T: std::fmt::Display>(items: &[T]) -> String {
    items.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
}

/// The documents [`COPY_ADVISED_HEADER`] names, at most [`MAX_COPY_HEADS`]; anything that is not a
/// document ID is passed over.
pub fn parse_advised(text: &str) -> Vec<DocumentId> {
    text.split(',').filter_map(|d| d.trim().parse().ok()).take(MAX_COPY_HEADS).collect()
}

/// The most heads a copy may be asked at: a document's heads are its concurrent tips, a few.
pub const MAX_COPY_HEADS: usize = 64;

/// The digest that names a copy: SHA-256, hex.
pub fn digest(bytes: &[u8]) -> String {
    let full: [u8; 32] = Sha256::digest(bytes).into();
    full.iter().map(|b| format!("{b:02x}")).collect()
}

/// Heads as the copy's header and query carry them.
pub fn heads_text(heads: &[ChangeHash]) -> String {
    comma_separated(heads)
}

/// Heads from [`heads_text`]'s form, sorted; `None` if any is not a change hash, or there are
/// none or more than [`MAX_COPY_HEADS`].
pub fn parse_heads(text: &str) -> Option<Vec<ChangeHash>> {
    let mut heads =
        text.split(',').map(|h| h.trim().parse::<ChangeHash>().ok()).collect::<Option<Vec<_>>>()?;
    if heads.is_empty() || heads.len() > MAX_COPY_HEADS {
        return None;
    }
    heads.sort_unstable();
    heads.dedup();
    Some(heads)
}

/// A document saved whole: the bytes, the heads they were saved at and their digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedCopy {
    /// The heads it was saved at, sorted.
    pub heads: Vec<ChangeHash>,
    /// The saved document.
    pub bytes: Vec<u8>,
    /// [`digest`] of the bytes.
    pub digest: String,
}

impl SavedCopy {
    /// `doc` saved now.
    pub fn of(doc: &Automerge) -> Self {
        let mut heads = doc.get_heads();
        heads.sort_unstable();
        let bytes = doc.save();
        let digest = digest(&bytes);
        Self { heads, bytes, digest }
    }
}

/// The bytes of the changes in `doc` that a peer holding `since` lacks (their stored, compressed
/// form, the form a sync carries them in). Heads `doc` does not hold (the peer's own changes not
/// yet sent) name nothing the peer is known to hold; none known means the whole history.
pub fn lacking_bytes(doc: &Automerge, since: &[ChangeHash]) -> usize {
    let known: Vec<ChangeHash> =
        since.iter().filter(|h| doc.get_change_meta_by_hash(h).is_some()).copied().collect();
    doc.get_changes(&known).iter().map(|c| c.raw_bytes().len()).sum()
}

/// Whether a phone that lacks `lacking` bytes of a document's changes is better served a copy of
/// `copy` bytes, kept byte by byte across windows of signal, than the changes, a window's end
/// losing the one it cuts: when the changes are more than a window or two
/// ([`LEAST_LACKING_FOR_A_COPY`]) and the copy is at most half as big again as they are.
pub fn copy_serves_better(copy: usize, lacking: usize) -> bool {
    lacking >= LEAST_LACKING_FOR_A_COPY && copy.saturating_mul(2) <= lacking.saturating_mul(3)
}

/// Whether a phone holding `since` of `doc` (`None`: nothing of it) is served a copy: always
/// when it holds nothing the document holds (the whole history lacked, nothing to count);
/// otherwise by [`copy_serves_better`], with the changes it lacks counted, and the copy's size
/// asked of `copy_bytes` only when they come to [`LEAST_LACKING_FOR_A_COPY`] (a relay saves
/// the document for that).
pub fn copy_serves(
    doc: &Automerge,
    since: Option<&[ChangeHash]>,
    copy_bytes: impl FnOnce() -> usize,
) -> bool {
    let Some(since) = since.filter(|since| since.iter().any(|h| doc.get_change_meta_by_hash(h).is_some()))
    else {
        return true;
    };
    let lacking = lacking_bytes(doc, since);
    lacking >= LEAST_LACKING_FOR_A_COPY && copy_serves_better(copy_bytes(), lacking)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use automerge::transaction::Transactable;
    use automerge::{ActorId, ObjType, ROOT};

    use super::*;

    fn roster(households: usize) -> Automerge {
        let mut doc = Automerge::new().with_actor(ActorId::from([1; 16]));
        let mut tx = doc.transaction();
        for i in 0..households {
            let h = tx.put_object(ROOT, format!("household-{i}"), ObjType::Map).unwrap();
            tx.put(&h, "address", format!("{} 号楼 {}", i / 40, 100 + i)).unwrap();
        }
        tx.commit();
        doc
    }

    /// A copy is the same bytes whenever the document is saved again at the same heads: from the
    /// same document and from one loaded again from disk (a restarted relay). That is what lets
    /// a phone complete a copy over several windows when the relay no longer holds the one it
    /// served.
    #[test]
    fn a_copy_at_the_same_heads_is_the_same_bytes_saved_again() {
        let doc = roster(300);
        let first = SavedCopy::of(&doc);
        assert_eq!(SavedCopy::of(&doc), first);
        let reloaded = Automerge::load(&doc.save()).unwrap();
        assert_eq!(SavedCopy::of(&reloaded), first, "loaded again");
        assert_eq!(first.digest.len(), 64);
        assert_eq!(parse_heads(&heads_text(&first.heads)).unwrap(), first.heads);
    }

    /// What a phone lacks is counted from the heads it shares with the document; a copy is
    /// served only when those changes are many and the copy not much bigger.
    #[test]
    fn a_copy_serves_a_phone_far_behind_not_one_a_change_behind() {
        let mut doc = roster(300);
        let held = doc.get_heads();
        let all = lacking_bytes(&doc, &[]);
        assert_eq!(lacking_bytes(&doc, &held), 0);
        for i in 0..40 {
            let mut tx = doc.transaction();
            let note: String = (0..3_000).map(|j| char::from(b'a' + ((i * 7 + j * 13) % 26) as u8)).collect();
            tx.put(ROOT, format!("note-{i}"), note).unwrap();
            tx.commit();
        }
        let behind = lacking_bytes(&doc, &held);
        assert!(behind > 0 && behind < lacking_bytes(&doc, &[]) && lacking_bytes(&doc, &[]) > all);
        let own = ChangeHash([9; 32]);
        assert_eq!(lacking_bytes(&doc, &[held[0], own]), behind, "a head the relay lacks names nothing");
        assert_eq!(lacking_bytes(&doc, &[own]), lacking_bytes(&doc, &[]));

        let copy = SavedCopy::of(&doc).bytes.len();
        assert!(!copy_serves_better(copy, 2_000), "a change behind: the sync carries it");
        assert!(copy_serves_better(40_000, 40_000));
        assert!(copy_serves_better(60_000, 40_000));
        assert!(!copy_serves_better(60_001, 40_000), "a copy much bigger than the changes");
    }

    #[test]
    fn heads_that_are_not_change_hashes_are_refused() {
        let doc = roster(3);
        assert!(parse_heads("").is_none());
        assert!(parse_heads("not-a-hash").is_none());
        let too_many = vec![heads_text(&doc.get_heads()); MAX_COPY_HEADS + 1].join(",");
        assert!(parse_heads(&too_many).is_none(), "more than the most listed");
    }
}
