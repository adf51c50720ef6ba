//! The bytes of the changes a relay took, kept for its replies.
//!
//! Automerge 0.12 keeps no change bytes: every reply carrying changes rebuilds them from the op
//! set, walking every op in their counter range, and a team's changes are concurrent, so that
//! range holds the whole team's ops (24 % of the relay's time in a district's return,
//! BENCHMARKS.md §4). The relay already had each change's bytes when it took it; keeping them per
//! document lets a reply be Automerge's own message with those bytes as its changes, the shape
//! the whole-document reply already has. A change not kept (one from before the document was
//! loaded, a coordinator's edit on the dashboard, anything past the byte budget) makes the reply
//! fall back to Automerge.

use std::collections::{HashMap, VecDeque};

use automerge::ChangeHash;

/// The most change bytes kept for one document; past it, the oldest are dropped, as many as
/// make room.
pub const KEPT_BYTES: usize = 4 << 20;

/// Change bytes by hash, for one document.
#[derive(Debug, Default, Clone)]
pub struct KeptChanges {
    bytes: HashMap<ChangeHash, Vec<u8>>,
    /// The kept hashes, oldest first.
    order: VecDeque<ChangeHash>,
    total: usize,
}

impl KeptChanges {
    /// Keeps the bytes of a change the document took, dropping the oldest kept to stay within
    /// [`KEPT_BYTES`]. A reply needs the changes the phone lacks, which are the newest: a
    /// phone that synced an hour ago lacks the last hour's, so the newest are the ones to keep.
    pub fn keep(&mut self, hash: ChangeHash, bytes: Vec<u8>) {
        if bytes.len() > KEPT_BYTES || self.bytes.contains_key(&hash) {
            return;
        }
        while self.total + bytes.len() > KEPT_BYTES {
            let Some(oldest) = self.order.pop_front() else { break };
            if let Some(dropped) = self.bytes.remove(&oldest) {
                self.total -= dropped.len();
            }
        }
        self.total += bytes.len();
        self.bytes.insert(hash, bytes);
        self.order.push_back(hash);
    }

    /// The bytes of every one of `hashes`, in that order, if all are kept.
    pub(crate) fn all_of(&self, hashes: impl IntoIterator<Item = ChangeHash>) -> Option<Vec<Vec<u8>>> {
        hashes.into_iter().map(|hash| self.bytes.get(&hash).cloned()).collect()
    }

    /// The bytes the changes `hashes` add up to, if all are kept.
    pub(crate) fn bytes_of_all<'h>(&self, hashes: impl IntoIterator<Item = &'h ChangeHash>) -> Option<usize> {
        hashes.into_iter().map(|hash| self.bytes.get(hash).map(Vec::len)).sum()
    }

    /// The kept bytes of `hash`.
    pub(crate) fn bytes_of(&self, hash: &ChangeHash) -> Option<&[u8]> {
        self.bytes.get(hash).map(Vec::as_slice)
    }

    /// Bytes kept.
    pub fn kept_bytes(&self) -> usize {
        self.total
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use automerge::transaction::Transactable;
    use automerge::{ActorId, Automerge, ROOT};

    use super::*;
    use crate::sync::{MessageLimits, PeerState, SavedOnce, decode, generate, generate_sharing, receive};

    fn edit(doc: &mut Automerge, key: &str) {
        let mut tx = doc.transaction();
        tx.put(ROOT, key, "门口").unwrap();
        tx.commit();
    }

    /// The relay's reply to `phone`'s first message of a session, answered from `relay` with
    /// `kept`, decoded.
    fn reply_to(
        phone: &Automerge,
        phone_state: &mut PeerState,
        relay: &mut Automerge,
        kept: &KeptChanges,
    ) -> (automerge::sync::Message, bool) {
        phone_state.presume_peer_holds_shared_heads();
        let hello = generate(phone, phone_state).unwrap();
        let mut relay_state = PeerState::new();
        receive(relay, &mut relay_state, decode(&hello, &MessageLimits::default()).unwrap()).unwrap();
        let mut probe = relay_state.clone();
        probe.trust_known_heads(relay);
        let lists = crate::sync::lacking::LackingCounts::default();
        let from_kept =
            crate::sync::from_kept(relay, &mut probe, kept, |heads| lists.list(relay, heads, &[])).is_some();
        let reply = generate_sharing(relay, &mut relay_state, &SavedOnce::keeping(kept)).unwrap();
        (decode(&reply, &MessageLimits::for_replies()).unwrap(), from_kept)
    }

    #[test]
    fn a_reply_carries_the_kept_bytes_of_the_changes_the_phone_lacks_or_falls_back_to_automerge() {
        let mut relay = Automerge::new().with_actor(ActorId::from([1; 16]));
        edit(&mut relay, "roster");
        let mut phone = relay.fork().with_actor(ActorId::from([2; 16]));
        // The phone's last session ended in step with the relay.
        let mut phone_state = PeerState::new();
        for _ in 0..4 {
            if let Some(m) = generate(&phone, &mut phone_state) {
                let mut rs = PeerState::new();
                receive(&mut relay, &mut rs, decode(&m, &MessageLimits::default()).unwrap()).unwrap();
                if let Some(r) = generate(&relay, &mut rs) {
                    receive(&mut phone, &mut phone_state, decode(&r, &MessageLimits::default()).unwrap())
                        .unwrap();
                }
            }
        }
        let mut phone_state = PeerState::decode(&phone_state.encode()).unwrap();
        // Meanwhile three other phones' changes reach the relay, and are kept as it took them.
        let mut kept = KeptChanges::default();
        let mut sent = Vec::new();
        for n in 3..6u8 {
            let mut other = relay.fork().with_actor(ActorId::from([n; 16]));
            edit(&mut other, &format!("attempt-{n}"));
            let change = other.get_last_local_change().unwrap();
            kept.keep(change.hash(), change.raw_bytes().to_vec());
            sent.push(change.raw_bytes().to_vec());
            relay.apply_changes([change]).unwrap();
        }
        let (message, kept_used) = reply_to(&phone, &mut phone_state.clone(), &mut relay.clone(), &kept);
        assert!(kept_used, "answered from the kept bytes");
        let mut carried: Vec<Vec<u8>> = message.changes.iter().map(<[u8]>::to_vec).collect();
        carried.sort();
        sent.sort();
        assert_eq!(carried, sent, "the reply carries exactly the kept bytes of the three");
        let mut mine = phone.clone();
        receive(&mut mine, &mut phone_state.clone(), message).unwrap();
        assert_eq!(mine.get_heads(), relay.get_heads(), "and the phone is in step");

        // A change the relay did not keep (a coordinator's edit on the dashboard): Automerge answers.
        edit(&mut relay, "dashboard");
        let (message, kept_used) = reply_to(&phone, &mut phone_state.clone(), &mut relay.clone(), &kept);
        assert!(!kept_used, "one change not kept: Automerge answers");
        let mut mine = phone.clone();
        receive(&mut mine, &mut phone_state, message).unwrap();
        assert_eq!(mine.get_heads(), relay.get_heads(), "in step all the same");
    }

    #[test]
    fn past_the_budget_the_oldest_bytes_are_dropped_and_what_is_asked_must_all_be_kept() {
        let mut kept = KeptChanges::default();
        let (a, b, c) = (ChangeHash([1; 32]), ChangeHash([2; 32]), ChangeHash([3; 32]));
        kept.keep(a, vec![1; 100]);
        kept.keep(b, vec![2; 100]);
        assert_eq!(kept.all_of([b, a]), Some(vec![vec![2; 100], vec![1; 100]]));
        assert_eq!(kept.all_of([a, c]), None, "one not kept: none");
        kept.keep(c, vec![3; KEPT_BYTES - 150]);
        assert_eq!(kept.all_of([a]), None, "the oldest dropped to make room");
        assert_eq!(kept.all_of([b]), Some(vec![vec![2; 100]]), "and only as many as make room");
        assert_eq!(kept.all_of([c]).map(|v| v[0].len()), Some(KEPT_BYTES - 150));
        assert!(kept.kept_bytes() <= KEPT_BYTES);
        kept.keep(b, vec![2; 100]);
        assert_eq!(kept.kept_bytes(), KEPT_BYTES - 50, "a change kept twice counts once");
    }

    #[test]
    fn a_long_burst_keeps_its_newest_changes_within_the_budget() {
        let mut kept = KeptChanges::default();
        let hash = |n: u32| {
            let mut h = [0; 32];
            h[..4].copy_from_slice(&n.to_be_bytes());
            ChangeHash(h)
        };
        let size = 1000;
        let fit = KEPT_BYTES / size;
        let count = u32::try_from(fit * 5 / 2).unwrap();
        for n in 0..count {
            kept.keep(hash(n), vec![0; size]);
            assert!(kept.kept_bytes() <= KEPT_BYTES);
        }
        assert_eq!(kept.kept_bytes(), fit * size, "full, not emptied");
        let newest = count - u32::try_from(fit).unwrap();
        assert!(kept.all_of((newest..count).map(hash)).is_some(), "every one of the newest that fit");
        assert_eq!(kept.all_of([hash(newest - 1)]), None, "and none older");
    }
}
