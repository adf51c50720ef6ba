//! A reply that carries the whole document, taken as it comes.
//!
//! The relay answers a phone that lacks many changes (a team coming back at once, a phone
//! far behind) with the whole document, compressed: far fewer bytes than the changes one by one.
//! Automerge's `receive` then loads that document and applies, one by one, every change the phone
//! lacks: for a round a team of 130 has just written, about 80 ms on this project's benchmark
//! machine (BENCHMARKS.md §4), four fifths of a phone's work in the whole sync.
//!
//! When the relay already holds everything the phone holds — after it took the phone's changes
//! in this very request, the usual case — the document it sent is the phone's document plus the
//! others' changes, so the phone can simply adopt it: one load, and the bytes it received are
//! already a compact snapshot to store. If the phone holds anything the relay's copy lacks (a
//! change made while the request was in flight, a change the relay refused), or changes waiting
//! for a dependency, the reply is applied the usual way and nothing is lost.

use automerge::sync::Message;
use automerge::{Automerge, ReadDoc};

use super::SyncError;
use crate::validate::contain::contained;
use crate::validate::{CHUNK_MAGIC, DOCUMENT_CHUNK};

/// The whole document `message` carries, if that is all its changes are.
fn whole_document(message: &Message) -> Option<Vec<u8>> {
    let mut chunks = message.changes.iter();
    let (Some(bytes), None) = (chunks.next(), chunks.next()) else { return None };
    (bytes.len() > 9 && bytes[..4] == CHUNK_MAGIC && bytes[8] == DOCUMENT_CHUNK).then(|| bytes.to_vec())
}

/// If `message` carries a whole document that holds everything `doc` holds, replaces `doc` with
/// it (keeping `doc`'s actor), takes the changes out of `message` (its heads, needs and filter
/// still go to `receive`) and returns the document's bytes, a snapshot of the new `doc`.
/// Otherwise leaves both untouched and returns `None`, for `receive` to apply as usual.
/// `loaded` is that document as the reply's check already loaded it, if it did; otherwise it is
/// loaded here.
pub fn adopt(
    doc: &mut Automerge,
    message: &mut Message,
    loaded: Option<Automerge>,
) -> Result<Option<Vec<u8>>, SyncError> {
    let Some(bytes) = whole_document(message) else { return Ok(None) };
    // Changes waiting for a dependency live only in `doc`'s queue; adopting would drop them.
    if !doc.get_missing_deps(&[]).is_empty() {
        return Ok(None);
    }
    let loaded = match loaded {
        Some(loaded) => loaded,
        None => contained("a whole document from the relay", || Automerge::load(&bytes))
            .map_err(SyncError::Malformed)?
            .map_err(|e| SyncError::Rejected(e.to_string()))?,
    };
    if !doc.get_heads().iter().all(|head| loaded.get_change_meta_by_hash(head).is_some()) {
        return Ok(None);
    }
    *doc = loaded.with_actor(doc.get_actor().clone());
    message.changes = Vec::<Vec<u8>>::new().into();
    Ok(Some(bytes))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use automerge::sync::SyncDoc;
    use automerge::transaction::Transactable;
    use automerge::{ActorId, ROOT};

    use super::*;
    use crate::sync::{PeerState, receive};

    fn with_key(doc: &mut Automerge, key: &str) {
        let mut tx = doc.transaction();
        tx.put(ROOT, key, 1).unwrap();
        tx.commit();
    }

    /// The relay's reply to a phone holding `phone`, from `relay`, as a whole document.
    fn whole_reply(relay: &Automerge, phone: &Automerge) -> Message {
        let (mut theirs, mut ours) = (automerge::sync::State::new(), automerge::sync::State::new());
        let phone = phone.clone();
        let hello = phone.generate_sync_message(&mut ours).unwrap();
        let mut relay = relay.clone();
        relay.receive_sync_message(&mut theirs, hello).unwrap();
        let reply = relay.generate_sync_message(&mut theirs).unwrap();
        assert!(
            whole_document(&reply).is_some(),
            "Automerge sends a phone this far behind the whole document"
        );
        reply
    }

    fn shared_start() -> (Automerge, Automerge) {
        let mut relay = Automerge::new().with_actor(ActorId::from([1; 16]));
        with_key(&mut relay, "header");
        let phone = relay.fork().with_actor(ActorId::from([2; 16]));
        for i in 0..20 {
            with_key(&mut relay, &format!("other-{i}"));
        }
        (relay, phone)
    }

    #[test]
    fn a_whole_document_holding_everything_the_phone_holds_is_adopted() {
        let (mut relay, mut phone) = shared_start();
        with_key(&mut phone, "mine");
        relay.merge(&mut phone.clone()).unwrap();
        let mut reply = whole_reply(&relay, &phone);
        let snapshot = adopt(&mut phone, &mut reply, None).unwrap().expect("adopted");
        assert_eq!(phone.get_heads(), relay.get_heads());
        assert_eq!(phone.get_actor(), &ActorId::from([2; 16]), "the phone keeps its own actor");
        assert!(reply.changes.is_empty(), "the changes are not applied a second time");
        assert_eq!(Automerge::load(&snapshot).unwrap().get_heads(), relay.get_heads());
        let mut state = PeerState::new();
        receive(&mut phone, &mut state, reply).unwrap();
        assert!(phone.get(ROOT, "other-19").unwrap().is_some() && phone.get(ROOT, "mine").unwrap().is_some());
    }

    #[test]
    fn phones_far_behind_are_answered_from_one_save_of_the_document() {
        use crate::sync::{MessageLimits, SavedOnce, decode, generate_sharing};
        let mut relay = Automerge::new().with_actor(ActorId::from([1; 16]));
        with_key(&mut relay, "header");
        let phones: Vec<Automerge> =
            (3..5u8).map(|i| relay.fork().with_actor(ActorId::from([i; 16]))).collect();
        for i in 0..300 {
            with_key(&mut relay, &format!("other-{i}"));
        }
        let saved = SavedOnce::default();
        let mut replies = Vec::new();
        for phone in &phones {
            let mut ours = automerge::sync::State::new();
            let hello = phone.clone().generate_sync_message(&mut ours).unwrap();
            let mut state = PeerState::new();
            receive(&mut relay, &mut state, hello).unwrap();
            replies.push(generate_sharing(&relay, &mut state, &saved).expect("a reply"));
        }
        let saved_bytes = saved.document.get().expect("saved once").clone();
        for (mut phone, reply) in phones.into_iter().zip(replies) {
            let mut message = decode(&reply, &MessageLimits::for_replies()).unwrap();
            assert_eq!(whole_document(&message), Some(saved_bytes.clone()), "the one saved copy");
            assert_eq!(message.heads, relay.get_heads());
            assert!(adopt(&mut phone, &mut message, None).unwrap().is_some());
            receive(&mut phone, &mut PeerState::new(), message).unwrap();
            assert_eq!(phone.get_heads(), relay.get_heads());
        }
    }

    #[test]
    fn a_whole_document_missing_the_phones_change_is_merged_not_adopted() {
        let (relay, mut phone) = shared_start();
        with_key(&mut phone, "made-while-the-request-was-in-flight");
        let mut reply = whole_reply(&relay, &phone);
        assert!(adopt(&mut phone, &mut reply, None).unwrap().is_none());
        assert!(!reply.changes.is_empty(), "left for receive");
        let mut state = PeerState::new();
        receive(&mut phone, &mut state, reply).unwrap();
        assert!(phone.get(ROOT, "made-while-the-request-was-in-flight").unwrap().is_some(), "nothing lost");
        assert!(phone.get(ROOT, "other-19").unwrap().is_some());
    }
}
