//! Counting the changes a peer lacks, for many peers answered from one state of a document.
//!
//! Whether a reply carries the changes or the whole document depends on how many changes the
//! peer lacks ([`PeerState`](super::PeerState)'s `wants_whole_document`). Automerge counts them by
//! building the metadata of every one (`get_changes_meta`): for each phone of a team coming back
//! together, every change the rest of the team made. Once per phone, that made the relay's cost
//! per edit grow with the team (17 % of the relay's time at 1,000 phones, BENCHMARKS.md §4).
//!
//! Phones that come back together announce the same last sync (the state they all left with).
//! The changes since it are listed once per state of the document; a phone lacks all of them
//! except the ones its own heads reach, found by walking back from its heads through the list,
//! which costs what the phone itself sent.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use automerge::{Automerge, ChangeHash};

/// The changes since each last sync asked about, for one state of a document.
#[derive(Debug, Default)]
pub(crate) struct LackingCounts(RefCell<HashMap<Vec<ChangeHash>, HashSet<ChangeHash>>>);

impl LackingCounts {
    /// How many changes of `doc` are not ancestors of `heads`, for a peer whose last sync was
    /// `since`. Exact when every ancestor of `since` is an ancestor of `heads` (a peer's last sync
    /// is a state it held); otherwise it may count too few, which only changes which reply a
    /// peer gets, never what it holds afterwards.
    pub(crate) fn count(&self, doc: &Automerge, heads: &[ChangeHash], since: &[ChangeHash]) -> usize {
        let mut key = since.to_vec();
        key.sort_unstable();
        let mut memo = self.0.borrow_mut();
        let after = memo
            .entry(key)
            .or_insert_with(|| doc.get_changes_meta(since).into_iter().map(|change| change.hash).collect());
        let mut reached = HashSet::new();
        let mut to_visit = heads.to_vec();
        while let Some(hash) = to_visit.pop() {
            if after.contains(&hash) && reached.insert(hash) {
                to_visit
                    .extend(doc.get_change_meta_by_hash(&hash).map(|change| change.deps).unwrap_or_default());
            }
        }
        after.len() - reached.len()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use automerge::transaction::Transactable;
    use automerge::{ActorId, ROOT};

    use super::*;

    fn edit(doc: &mut Automerge, key: &str) {
        let mut tx = doc.transaction();
        tx.put(ROOT, key, 1).unwrap();
        tx.commit();
    }

    #[test]
    fn each_peer_lacks_what_the_others_made_since_their_common_last_sync() {
        let mut relay = Automerge::new().with_actor(ActorId::from([1; 16]));
        for i in 0..5 {
            edit(&mut relay, &format!("base-{i}"));
        }
        let since = relay.get_heads();
        let mut phones: Vec<Automerge> =
            (2..6u8).map(|i| relay.fork().with_actor(ActorId::from([i; 16]))).collect();
        for (n, phone) in phones.iter_mut().enumerate() {
            for i in 0..=n {
                edit(phone, &format!("phone-{n}-{i}"));
            }
        }
        for phone in &mut phones {
            relay.merge(phone).unwrap();
        }
        edit(&mut relay, "after-all");
        let counts = LackingCounts::default();
        for phone in &phones {
            let expected = relay.get_changes_meta(&phone.get_heads()).len();
            assert_eq!(counts.count(&relay, &phone.get_heads(), &since), expected);
        }
        assert_eq!(counts.0.borrow().len(), 1, "the changes since the common last sync are listed once");
        assert_eq!(counts.count(&relay, &since, &since), relay.get_changes_meta(&since).len());
        assert_eq!(counts.count(&relay, &relay.get_heads(), &since), 0);
        assert_eq!(
            counts.count(&relay, &phones[0].get_heads(), &[]),
            relay.get_changes_meta(&phones[0].get_heads()).len()
        );
    }
}
