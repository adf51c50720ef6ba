//! A document's changes cut to what one request may carry, the rest left for the next request.
//!
//! A volunteer on a landing may have a few seconds of 64 kbit/s: 8 KB a second. A message that
//! carries every change made since the last sync is sent whole or not at all. A day's backlog
//! of a thousand knocks is about 230 KB, half a minute on that link: longer than the relay waits
//! for a request (30 s) and than most windows of signal. Sent whole, it failed every time and
//! was sent again from its first byte, and the day's work stayed on the phone.
//!
//! So a message whose changes pass the request's byte budget carries the first changes in the
//! order the document holds them (each one's dependencies before it), as many as fit and at
//! least one; the relay takes and commits them, and the next request of the session carries the
//! next ones. Each request is then short enough to finish on a bad link, and what one window of
//! signal sends is kept even if the link drops before the rest.
//!
//! A document new to the relay is not cut: it must arrive with its header whole, and the changes
//! that create it may be several.
//!
//! The message still announces all of this device's heads: the relay learns it lacks the rest
//! and asks for it, as Automerge's protocol does for any change it has not received. The
//! changes left out are taken off the state's record of what was sent this session, so the next
//! message carries them.

use std::collections::BTreeSet;

use automerge::sync::{Message, MessageVersion};
use automerge::{Automerge, ChangeHash, ReadDoc};

use super::PeerState;

/// Cuts `message` (just generated for `state`) to changes of at most `budget` bytes, at least
/// one, when it carries more. `sent_before` is what the state recorded as sent before the
/// message was generated. Returns the hashes of the changes the message carries.
pub(crate) fn fit(
    doc: &Automerge,
    state: &mut PeerState,
    message: &mut Message,
    sent_before: &BTreeSet<ChangeHash>,
    budget: usize,
) -> Vec<ChangeHash> {
    let carried: Vec<ChangeHash> = state.inner_mut().sent_hashes.difference(sent_before).copied().collect();
    let bytes: usize = message.changes.iter().map(<[u8]>::len).sum();
    if bytes <= budget || carried.len() <= 1 {
        return carried;
    }
    // What the peer lacks, in the order the document holds them: from the heads it is known to
    // hold, or, before it said any, the heads both sides shared. A document the peer holds
    // nothing of goes whole: the relay takes a new document only with its header complete, and
    // the changes that make it may be several.
    let inner = state.inner_mut();
    let theirs = inner.their_heads.clone().unwrap_or_else(|| inner.shared_heads.clone());
    if theirs.is_empty() {
        return carried;
    }
    let mut taken = Vec::new();
    let mut chunks = Vec::new();
    let mut size = 0usize;
    for meta in doc.get_changes_meta(&theirs) {
        if sent_before.contains(&meta.hash) {
            continue;
        }
        let Some(change) = doc.get_change_by_hash(&meta.hash) else { break };
        let raw = change.raw_bytes();
        if !chunks.is_empty() && size + raw.len() > budget {
            break;
        }
        size += raw.len();
        taken.push(meta.hash);
        chunks.push(raw.to_vec());
    }
    if chunks.is_empty() || size >= bytes {
        return carried;
    }
    message.changes = chunks.into();
    message.version = MessageVersion::V1;
    let inner = state.inner_mut();
    inner.sent_hashes = sent_before.clone();
    inner.sent_hashes.extend(taken.iter().copied());
    taken
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use automerge::sync::SyncDoc;
    use automerge::transaction::Transactable;
    use automerge::{ActorId, ROOT};

    use super::*;

    /// A relay and a phone that have synced, then 40 changes of about 1 KB each on the phone.
    fn phone_far_ahead() -> (Automerge, Automerge, PeerState) {
        let mut relay = Automerge::new().with_actor(ActorId::from([1; 16]));
        let mut tx = relay.transaction();
        tx.put(ROOT, "name", "香樟苑").unwrap();
        tx.commit();
        let mut phone = relay.fork().with_actor(ActorId::from([2; 16]));
        let mut state = PeerState::new();
        state.inner_mut().shared_heads = relay.get_heads();
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        for i in 0..40u32 {
            let mut tx = phone.transaction();
            // Random letters, which hardly compress: each change is about its text's 1,000 bytes.
            let text: String = (0..1000)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    char::from(b'a' + (seed % 26) as u8)
                })
                .collect();
            tx.put(ROOT, format!("note-{i}"), text).unwrap();
            tx.commit();
        }
        (relay, phone, state)
    }

    /// Sends messages from the phone to the relay, each cut to `budget`, until the phone has
    /// nothing more to say; returns the bytes of the changes each carried.
    fn upload(relay: &mut Automerge, phone: &Automerge, mut state: PeerState, budget: usize) -> Vec<usize> {
        let mut relay_state = automerge::sync::State::new();
        state.presume_peer_holds_shared_heads();
        let mut sizes = Vec::new();
        for _ in 0..100 {
            let before = state.inner_mut().sent_hashes.clone();
            let Some(mut message) = phone.generate_sync_message(state.inner_mut()) else { break };
            let carried = fit(phone, &mut state, &mut message, &before, budget);
            let size: usize = message.changes.iter().map(<[u8]>::len).sum();
            assert!(carried.len() <= 1 || size <= budget, "{size} bytes over a budget of {budget}");
            sizes.push(size);
            let bytes = message.encode();
            relay.receive_sync_message(&mut relay_state, Message::decode(&bytes).unwrap()).unwrap();
            for hash in &carried {
                assert!(relay.get_change_meta_by_hash(hash).is_some(), "the relay took what was carried");
            }
            let Some(reply) = relay.generate_sync_message(&mut relay_state) else { continue };
            let mut ours = phone.clone();
            ours.receive_sync_message(state.inner_mut(), reply).unwrap();
        }
        sizes
    }

    #[test]
    fn a_backlog_over_the_budget_goes_in_pieces_that_each_fit_and_all_of_it_arrives() {
        let (mut relay, phone, state) = phone_far_ahead();
        let sizes = upload(&mut relay, &phone, state, 8 * 1024);
        let carrying: Vec<usize> = sizes.iter().copied().filter(|&s| s > 0).collect();
        assert!(carrying.len() >= 5, "40 KB in pieces of at most 8 KB: {sizes:?}");
        assert!(carrying.iter().all(|&s| s <= 8 * 1024), "{sizes:?}");
        assert_eq!(relay.get_heads(), phone.get_heads(), "every change arrived");
    }

    #[test]
    fn a_backlog_within_the_budget_goes_in_one_message_as_before() {
        let (mut relay, phone, state) = phone_far_ahead();
        let sizes = upload(&mut relay, &phone, state, 1024 * 1024);
        assert_eq!(sizes.iter().filter(|&&s| s > 0).count(), 1, "{sizes:?}");
        assert_eq!(relay.get_heads(), phone.get_heads());
    }

    #[test]
    fn a_document_the_peer_holds_nothing_of_goes_whole() {
        let (_, phone, _) = phone_far_ahead();
        let mut state = PeerState::new();
        // The relay answered that it holds nothing of the document.
        let inner = state.inner_mut();
        inner.their_heads = Some(Vec::new());
        inner.their_need = Some(Vec::new());
        inner.their_have = Some(vec![automerge::sync::Have {
            last_sync: Vec::new(),
            bloom: automerge::sync::BloomFilter::default(),
        }]);
        let before = state.inner_mut().sent_hashes.clone();
        let mut message = phone.generate_sync_message(state.inner_mut()).unwrap();
        let whole: usize = message.changes.iter().map(<[u8]>::len).sum();
        let carried = fit(&phone, &mut state, &mut message, &before, 8 * 1024);
        assert!(whole > 8 * 1024, "{whole}");
        assert_eq!(message.changes.iter().map(<[u8]>::len).sum::<usize>(), whole, "not cut");
        assert_eq!(carried.len(), phone.get_changes_meta(&[]).len(), "every change is carried");
        let mut relay = Automerge::new();
        relay.receive_sync_message(&mut automerge::sync::State::new(), message).unwrap();
        assert_eq!(relay.get_heads(), phone.get_heads());
    }

    #[test]
    fn one_change_bigger_than_the_budget_still_goes_alone() {
        let (mut relay, phone, state) = phone_far_ahead();
        let sizes = upload(&mut relay, &phone, state, 100);
        assert_eq!(sizes.iter().filter(|&&s| s > 0).count(), 40, "one change a message: {sizes:?}");
        assert_eq!(relay.get_heads(), phone.get_heads());
    }
}
