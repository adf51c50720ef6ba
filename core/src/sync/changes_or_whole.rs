//! Whether a peer that holds a document gets the changes it lacks or the whole document.
//!
//! The whole document goes only when it is the smaller message, counted in the bytes the link
//! carries. Automerge saves a document with its columns compressed, so DEFLATE gains little on
//! it; a team's changes, each with its own hashes and actor, compress to about a third. A phone
//! that reads compressed replies (nearly all) is weighed with the changes compressed: a team of
//! twenty's 380 small edits go as changes, a district's thousands as the whole document.
//!
//! The relay counts the kept bytes of the changes (`kept_changes.rs`, summed once per last sync
//! in `lacking.rs`, with their compressed share measured on a sample) and compares them with the
//! document saved once for every reply from this state (`SavedOnce`). Where a change's bytes are
//! not at hand (a change from before the document was loaded, or the phone, which keeps none),
//! Automerge 0.12 would have to rebuild every change to count them, so the count decides: a peer
//! lacking at most [`FEW_CHANGES`] gets changes.

use automerge::{Automerge, ChangeHash};

use super::{PeerState, SavedOnce};

/// Where bytes cannot be counted, a peer lacking at most this many changes gets them, never the
/// whole document.
pub(crate) const FEW_CHANGES: usize = 256;

/// Changes coming to at most this many bytes on the link go as changes, without saving the
/// document to compare: the difference is at most a few kilobytes, and a save is the costliest
/// step of a reply.
const SMALL_REPLY: usize = 4 << 10;

/// For `peer`, holding `heads` of `doc`, whose last sync was `since`: whether the changes it
/// lacks outweigh the whole document on the link, in bytes where the relay kept them, else by
/// count.
pub(crate) fn changes_outweigh_whole(
    doc: &Automerge,
    peer: &PeerState,
    heads: &[ChangeHash],
    since: &[ChangeHash],
    saved: &SavedOnce<'_>,
) -> bool {
    let by_count = || saved.lacking.count(doc, heads, since) > FEW_CHANGES;
    let Some(kept) = saved.kept else { return by_count() };
    let Some(lacking) = saved.lacking.bytes(doc, heads, since, kept) else { return by_count() };
    let on_the_link = if peer.replies_deflated() { lacking.deflated } else { lacking.plain };
    on_the_link > SMALL_REPLY && saved.whole(doc).len() < on_the_link
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use automerge::sync::Message;
    use automerge::transaction::Transactable;
    use automerge::{ActorId, ObjType, ROOT};

    use super::*;
    use crate::sync::body_deflate::{self, Effort};
    use crate::sync::{
        KeptChanges, MessageLimits, decode, generate, generate_sharing, receive, whole_document,
    };

    /// A roster of `households` imported as one large change, which every phone holds.
    fn roster(households: usize) -> Automerge {
        let mut doc = Automerge::new().with_actor(ActorId::from([1; 16]));
        let mut tx = doc.transaction();
        for i in 0..households {
            let household = tx.put_object(ROOT, format!("household-{i}"), ObjType::Map).unwrap();
            tx.put(&household, "address", format!("{} 号楼 {} 单元 {}", i / 40, i % 4, 100 + i)).unwrap();
            tx.put(&household, "head", format!("张{i}")).unwrap();
            tx.put(&household, "phone", format!("1380000{i:04}")).unwrap();
            tx.put(&household, "needs", if i % 7 == 0 { "透析" } else { "" }).unwrap();
            tx.put(&household, "notes", format!("门口放 {i}")).unwrap();
        }
        tx.commit();
        doc
    }

    /// `phones` phones each make `each` edits in a row, keyed by `key(phone, edit)`; `relay`
    /// takes them and keeps their bytes as it took them.
    fn team_edits(
        relay: &mut Automerge,
        kept: &mut KeptChanges,
        phones: u64,
        each: u64,
        key: impl Fn(u64, u64) -> String,
    ) {
        let base = relay.fork();
        for n in 0..phones {
            let mut phone = base.fork().with_actor(ActorId::from(&(n + 10).to_be_bytes()[..]));
            for e in 0..each {
                let mut tx = phone.transaction();
                tx.put(ROOT, key(n, e), format!("已送达 {n} {e}")).unwrap();
                tx.commit();
                let change = phone.get_last_local_change().unwrap();
                kept.keep(change.hash(), change.raw_bytes().to_vec());
                relay.apply_changes([change]).unwrap();
            }
        }
    }

    struct Reply {
        message: Message,
        bytes: usize,
        saved: bool,
    }

    /// The relay's reply, from `relay` with `kept`, to a phone holding `phone` that comes back
    /// in step with where it left and reads compressed replies or not.
    fn reply(phone: &Automerge, relay: &mut Automerge, kept: &KeptChanges, deflated: bool) -> Reply {
        let mut phone_state = PeerState::new();
        phone_state.inner_mut().shared_heads = phone.get_heads();
        phone_state.presume_peer_holds_shared_heads();
        let hello = generate(phone, &mut phone_state).unwrap();
        let mut relay_state = PeerState::new();
        relay_state.set_replies_deflated(deflated);
        receive(relay, &mut relay_state, decode(&hello, &MessageLimits::default()).unwrap()).unwrap();
        let saved = SavedOnce::keeping(kept);
        let bytes = generate_sharing(relay, &mut relay_state, &saved).unwrap();
        let on_the_link = if deflated {
            body_deflate::compress(&bytes, Effort::Light).map_or(bytes.len(), |z| z.len())
        } else {
            bytes.len()
        };
        let message = decode(&bytes, &MessageLimits::for_replies()).unwrap();
        Reply { message, bytes: on_the_link, saved: saved.document.get().is_some() }
    }

    fn is_whole(message: &Message) -> bool {
        let mut changes = message.changes.iter();
        matches!((changes.next(), changes.next()), (Some(c), None) if c[8] == crate::validate::DOCUMENT_CHUNK)
    }

    fn in_step_after(mut phone: Automerge, mut message: Message, relay: &Automerge) {
        whole_document::adopt(&mut phone, &mut message, None).unwrap();
        receive(&mut phone, &mut PeerState::new(), message).unwrap();
        assert_eq!(phone.get_heads(), relay.get_heads(), "the phone holds everything after one reply");
    }

    /// A relay holding a roster of `households`, a phone that left with it, and the edits of a
    /// team back before the phone (as [`team_edits`]), kept.
    fn team_back(
        households: usize,
        phones: u64,
        each: u64,
        key: impl Fn(u64, u64) -> String,
    ) -> (Automerge, Automerge, KeptChanges) {
        let mut relay = roster(households);
        let phone = relay.fork().with_actor(ActorId::from([2; 16]));
        let mut kept = KeptChanges::default();
        team_edits(&mut relay, &mut kept, phones, each, key);
        (relay, phone, kept)
    }

    /// A team of twenty's return: 380 changes the phone lacks, far more than 256, which
    /// compress to fewer bytes than the roster; plain, they outweigh it.
    fn team_of_twenty() -> (Automerge, Automerge, KeptChanges) {
        team_back(1500, 19, 20, |n, e| format!("attempt-{n}-{e}"))
    }

    #[test]
    fn a_teams_edits_go_as_changes_when_compressed_they_are_the_smaller() {
        let (mut relay, phone, kept) = team_of_twenty();
        let whole = reply(&phone, &mut relay.clone(), &KeptChanges::default(), true);
        assert!(is_whole(&whole.message), "by count alone (over 256), the whole document");
        let changes = reply(&phone, &mut relay, &kept, true);
        assert!(!is_whole(&changes.message), "changes, not the whole document");
        assert_eq!(changes.message.changes.len(), 380);
        assert!(changes.saved, "the document was saved to compare");
        assert!(
            changes.bytes < whole.bytes,
            "{} B of changes on the link against {} B for the whole document",
            changes.bytes,
            whole.bytes
        );
        in_step_after(phone, changes.message, &relay);
    }

    #[test]
    fn a_phone_reading_plain_replies_is_weighed_plain() {
        let (mut relay, phone, kept) = team_of_twenty();
        let plain_changes: usize = relay
            .get_changes_meta(&phone.get_heads())
            .iter()
            .map(|c| kept.bytes_of(&c.hash).unwrap().len())
            .sum();
        let whole = relay.save().len();
        assert!(whole < plain_changes, "the case: {whole} B whole, {plain_changes} B of changes");
        let reply = reply(&phone, &mut relay, &kept, false);
        assert!(is_whole(&reply.message), "plain, the whole document is the smaller");
        assert!(reply.bytes < plain_changes);
        in_step_after(phone, reply.message, &relay);
    }

    #[test]
    fn changes_heavier_than_the_document_even_compressed_go_as_the_whole_document() {
        // A district's return: thousands of edits in rows, each change with its own dependency
        // hash (which does not compress); the document holds them in a few bytes each.
        let (mut relay, phone, kept) = team_back(800, 200, 20, |n, _| format!("status-{}", n % 5));
        let changes: Vec<u8> = relay
            .get_changes_meta(&phone.get_heads())
            .iter()
            .flat_map(|c| kept.bytes_of(&c.hash).unwrap().to_vec())
            .collect();
        let compressed = body_deflate::compress(&changes, Effort::Light).unwrap().len();
        let reply = reply(&phone, &mut relay, &kept, true);
        assert!(is_whole(&reply.message), "the whole document, {} B", reply.bytes);
        assert!(reply.bytes < compressed, "{} B against {compressed} B of changes compressed", reply.bytes);
        in_step_after(phone, reply.message, &relay);
    }

    #[test]
    fn a_few_edits_go_as_changes_without_saving_the_document() {
        let (relay, phone, kept) = team_back(800, 4, 5, |n, e| format!("attempt-{n}-{e}"));
        for deflated in [true, false] {
            let reply = reply(&phone, &mut relay.clone(), &kept, deflated);
            assert_eq!(reply.message.changes.len(), 20);
            assert!(!reply.saved, "no save for a reply of a few kilobytes");
            in_step_after(phone.clone(), reply.message, &relay);
        }
    }
}
