//! What a peer holds, read through the changes of its message that this side did not take.
//!
//! A phone's heads are usually changes the relay holds, and then what the phone lacks is exactly
//! the relay's changes that are not their ancestors ([`PeerState`](super::PeerState)'s trusted
//! heads). When the relay refused the message (a used-up share, a change held for its author),
//! the phone's heads are changes the relay never took, and Automerge falls back on the phone's
//! Bloom filter to guess which of the relay's changes it has: about 1 in 120 of them is taken
//! for held when it is not, and the phone, whose refused document sits out the rest of its sync,
//! goes without that change (a coordinator's correction) for as long as it stays refused, since
//! the same unsent changes make the same filter at every sync.
//!
//! The refused changes still name their dependencies. Walking from the phone's heads through
//! them down to the first changes the relay holds gives exactly what the phone holds of the
//! relay's document, and no filter is needed.

use std::collections::{HashMap, HashSet};

use automerge::{Automerge, Change, ChangeHash};

/// The changes of a peer's message, each with its dependencies: kept for
/// the exchange the message belongs to, never persisted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UntakenChanges(HashMap<ChangeHash, Vec<ChangeHash>>);

impl UntakenChanges {
    /// A message's `changes` (those the document holds are passed over when read).
    pub fn of<'a>(changes: impl IntoIterator<Item = &'a Change>) -> Self {
        Self(changes.into_iter().map(|c| (c.hash(), c.deps().to_vec())).collect())
    }

    /// The heads of what a peer whose heads are `theirs` holds of `doc`: `theirs` themselves when
    /// `doc` holds them all; otherwise the first changes `doc` holds on every path down from them
    /// through these changes. `None` when a path meets a change that is neither in `doc` nor
    /// here (the peer holds something this side never saw, so only its filter can tell).
    pub fn held_heads(&self, doc: &Automerge, theirs: &[ChangeHash]) -> Option<Vec<ChangeHash>> {
        let held = |h: &ChangeHash| doc.get_change_meta_by_hash(h).is_some();
        if theirs.iter().all(held) {
            return Some(theirs.to_vec());
        }
        let (mut frontier, mut seen) = (Vec::new(), HashSet::new());
        let mut walking: Vec<ChangeHash> = theirs.to_vec();
        while let Some(hash) = walking.pop() {
            if !seen.insert(hash) {
                continue;
            }
            if held(&hash) {
                frontier.push(hash);
            } else {
                walking.extend(self.0.get(&hash)?);
            }
        }
        frontier.sort_unstable();
        Some(frontier)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use automerge::transaction::Transactable;
    use automerge::{ActorId, ROOT};

    use super::*;

    fn edit(doc: &mut Automerge, key: &str) -> Change {
        let mut tx = doc.transaction();
        tx.put(ROOT, key, 1).unwrap();
        tx.commit();
        doc.get_last_local_change().unwrap().clone()
    }

    #[test]
    fn a_peer_whose_heads_are_changes_never_taken_holds_what_they_were_built_on() {
        let mut relay = Automerge::new().with_actor(ActorId::random());
        edit(&mut relay, "roster");
        let mut phone = relay.fork().with_actor(ActorId::random());
        let correction = edit(&mut relay, "correction");
        let refused = [edit(&mut phone, "note 1"), edit(&mut phone, "note 2")];
        let untaken = UntakenChanges::of(&refused);

        let held = untaken.held_heads(&relay, &phone.get_heads()).unwrap();
        assert_eq!(held, correction.deps().to_vec(), "the phone holds the roster, not the correction");
        let lacking: Vec<ChangeHash> = relay.get_changes(&held).iter().map(|c| c.hash()).collect();
        assert_eq!(lacking, vec![correction.hash()]);
    }

    #[test]
    fn a_peer_holding_a_change_never_seen_here_is_left_to_its_filter() {
        let mut relay = Automerge::new().with_actor(ActorId::random());
        edit(&mut relay, "roster");
        let mut phone = relay.fork().with_actor(ActorId::random());
        edit(&mut phone, "synced elsewhere");
        let refused = edit(&mut phone, "note");
        assert_eq!(UntakenChanges::of([&refused]).held_heads(&relay, &phone.get_heads()), None);
        assert_eq!(
            UntakenChanges::default().held_heads(&relay, &relay.get_heads()),
            Some(relay.get_heads()),
            "heads all held are taken as they are"
        );
    }
}
