//! What one side knows of a peer's copy of one document. Persisted between sessions so that a
//! reconnect with nothing new costs a few hundred bytes.

use automerge::sync::{BloomFilter, Capability, Have, State};
use automerge::{Automerge, ChangeHash};

use super::SyncError;
use super::reply_budget::ReplyBudget;
use super::untaken_changes::UntakenChanges;

/// Automerge's per-peer, per-document sync state, and how replies reach the peer.
#[derive(Debug, Clone, Default)]
pub struct PeerState {
    state: State,
    /// Replies to the peer travel compressed (it said it reads `Content-Encoding: deflate`),
    /// so the changes it lacks are weighed compressed against the whole document. Known for
    /// this exchange only; never persisted.
    replies_deflated: bool,
    /// The most bytes the peer asked a reply to carry, its link having dropped requests lately
    /// (`reply_budget.rs`). Known for this exchange only; never persisted.
    reply_budget: Option<ReplyBudget>,
    /// The changes of the peer's message this side did not take (`untaken_changes.rs`): what
    /// it holds is read through them. Known for this exchange only; never persisted.
    untaken: UntakenChanges,
}

impl PeerState {
    /// A fresh state: we know nothing of the peer's copy.
    pub fn new() -> Self {
        Self { state: State::new(), ..Self::default() }
    }

    /// Restores a state saved by [`PeerState::encode`]. Only the shared heads survive, which is
    /// what makes a new session after a failed one correct.
    pub fn decode(bytes: &[u8]) -> Result<Self, SyncError> {
        State::decode(bytes)
            .map(|state| Self { state, ..Self::default() })
            .map_err(|e| SyncError::BadState(e.to_string()))
    }

    /// The part of the state worth keeping between sessions.
    pub fn encode(&self) -> Vec<u8> {
        self.state.encode()
    }

    /// The state as a new session starts from it: the shared heads kept, everything this
    /// session sent and heard of the peer forgotten (what [`PeerState::encode`] keeps).
    pub fn as_at_session_start(&self) -> Self {
        let state = State::decode(&self.state.encode()).unwrap_or_else(|_| State::new());
        Self {
            state,
            replies_deflated: self.replies_deflated,
            reply_budget: self.reply_budget,
            ..Self::default()
        }
    }

    /// A fresh state for the same peer in the same exchange: nothing known of its copy, its
    /// replies travelling as before.
    pub(crate) fn afresh(&self) -> Self {
        Self {
            state: State::new(),
            replies_deflated: self.replies_deflated,
            reply_budget: self.reply_budget,
            ..Self::default()
        }
    }

    /// Says whether replies to the peer travel compressed, for this exchange.
    pub fn set_replies_deflated(&mut self, deflated: bool) {
        self.replies_deflated = deflated;
    }

    /// Whether replies to the peer travel compressed.
    pub(crate) fn replies_deflated(&self) -> bool {
        self.replies_deflated
    }

    /// Says the most bytes a reply to the peer may carry, for this exchange (`None`: no bound).
    pub fn set_reply_budget(&mut self, budget: Option<ReplyBudget>) {
        self.reply_budget = budget;
    }

    /// The most bytes a reply to the peer may carry, if it asked for a bound.
    pub(crate) fn reply_budget(&self) -> Option<ReplyBudget> {
        self.reply_budget
    }

    /// The heads both sides are known to share.
    pub fn shared_heads(&self) -> &[ChangeHash] {
        &self.state.shared_heads
    }

    /// The peer's heads, as last heard in this session.
    pub fn their_heads(&self) -> Option<&[ChangeHash]> {
        self.state.their_heads.as_deref()
    }

    /// Before the first message of a session: takes the peer to hold exactly the heads both
    /// sides shared when the last session ended, so that the message already carries every
    /// change made since (the relay never loses a change it acknowledged). Without this,
    /// Automerge's first message only announces heads and a Bloom filter, and the changes wait
    /// for the peer's answer: one more round trip on a link where each costs 300 ms or more.
    ///
    /// If the peer does lack one of those heads after all (a relay restored from an old
    /// backup), it refuses the changes as `missing_dependencies`; the caller then starts the
    /// document over with [`PeerState::new`] and the ordinary exchange finds what is missing.
    pub(crate) fn presume_peer_holds_shared_heads(&mut self) {
        if self.state.their_heads.is_some() || self.state.shared_heads.is_empty() {
            return;
        }
        let shared = self.state.shared_heads.clone();
        self.state.their_heads = Some(shared.clone());
        self.state.their_need = Some(Vec::new());
        self.state.their_have = Some(vec![Have { last_sync: shared, bloom: BloomFilter::default() }]);
    }

    /// Whether the peer, as last heard, holds exactly what `doc` holds, knows that we hold it
    /// too (the heads it last shared with us are these), and asked for nothing: a reply would
    /// only repeat what both sides know. A peer whose changes we just took is not in step: the
    /// reply is its acknowledgement.
    pub fn in_step_with(&self, doc: &Automerge) -> bool {
        let ours = sorted(doc.get_heads());
        let theirs = self.state.their_heads.clone().map(sorted);
        let known_shared =
            self.state.their_have.as_ref().and_then(|have| have.first()).map(|h| sorted(h.last_sync.clone()));
        theirs.as_ref() == Some(&ours)
            && known_shared.as_ref() == Some(&ours)
            && self.state.their_need.as_ref().is_none_or(Vec::is_empty)
    }

    /// When we hold every head the peer announced, the changes it lacks are exactly ours that
    /// are not ancestors of those heads: no Bloom filter is needed to find them. Automerge
    /// still consults the peer's filter, whose 1% false positives per change hold a change
    /// back until the peer asks for it (one more round trip). Replacing the peer's `have` with
    /// its heads and an empty filter makes Automerge send exactly what the peer lacks. Heads we
    /// did not take from its message are read through their dependencies
    /// ([`PeerState::saw_untaken`]).
    pub(crate) fn trust_known_heads(&mut self, doc: &Automerge) {
        let Some(theirs) = self.state.their_heads.as_ref() else { return };
        if theirs.is_empty() || self.state.their_have.is_none() {
            return;
        }
        if let Some(held) = self.untaken.held_heads(doc, theirs) {
            self.state.their_have = Some(vec![Have { last_sync: held, bloom: BloomFilter::default() }]);
        }
    }

    /// Says which changes of the peer's message this side did not take (refused, or held for
    /// their author): its heads may be among them, and what it holds is read through them.
    pub fn saw_untaken(&mut self, untaken: UntakenChanges) {
        self.untaken = untaken;
    }

    /// The last sync the peer announced in its message (the heads it shared with us when its
    /// last session ended), before [`PeerState::trust_known_heads`] replaces it.
    pub(crate) fn heard_last_sync(&self) -> Vec<ChangeHash> {
        self.state
            .their_have
            .as_ref()
            .and_then(|have| have.first())
            .map(|have| have.last_sync.clone())
            .unwrap_or_default()
    }

    pub(crate) fn inner_mut(&mut self) -> &mut State {
        &mut self.state
    }

    /// Runs `generate` with the peer's support for whole-document messages hidden, when the
    /// peer already holds the document and `send_changes` says the changes it lacks should go
    /// as changes.
    ///
    /// Automerge 0.12 answers with the whole document whenever the changes to send are more
    /// than a third of the document's change COUNT. Our rosters and rounds are one or two large
    /// changes followed by small ones, so a phone a few edits behind was sent the whole
    /// document: 2–18× the bytes of the changes, and a whole-document load on the other side.
    ///
    /// `send_changes` is given the heads the peer holds.
    pub(crate) fn changes_for_a_holder<T>(
        &mut self,
        doc: &Automerge,
        send_changes: impl FnOnce(&[ChangeHash]) -> bool,
        generate: impl FnOnce(&mut State) -> T,
    ) -> T {
        let hide = self.holds(doc).is_some_and(|heads| send_changes(&heads));
        if !hide {
            return generate(&mut self.state);
        }
        let capabilities = self.state.their_capabilities.take();
        self.state.their_capabilities = capabilities
            .as_ref()
            .map(|caps| caps.iter().filter(|c| **c != Capability::MessageV2).cloned().collect());
        let out = generate(&mut self.state);
        self.state.their_capabilities = capabilities;
        out
    }

    /// Whether the peer reads whole-document messages.
    pub(crate) fn reads_whole(&self) -> bool {
        self.state.their_capabilities.as_ref().is_some_and(|c| c.contains(&Capability::MessageV2))
    }

    /// Whether the reply should be the whole document: the peer reads whole-document messages,
    /// and it holds nothing of the document, or `outweighs_whole` says the changes it lacks are
    /// the bigger message. `outweighs_whole` is given this state and the heads the peer holds.
    pub(crate) fn wants_whole_document(
        &self,
        doc: &Automerge,
        outweighs_whole: impl FnOnce(&Self, &[ChangeHash]) -> bool,
    ) -> bool {
        let reads_whole = self.reads_whole();
        let has_nothing =
            self.state.their_heads.as_ref().is_some_and(Vec::is_empty) && self.state.shared_heads.is_empty();
        // A peer whose last sync names changes we lack is sent a reset by Automerge, not a document.
        let knows_ours = self
            .state
            .their_have
            .as_ref()
            .and_then(|have| have.first())
            .is_none_or(|have| have.last_sync.iter().all(|h| doc.get_change_meta_by_hash(h).is_some()));
        reads_whole
            && knows_ours
            && (has_nothing || self.holds(doc).is_some_and(|heads| outweighs_whole(self, &heads)))
    }

    /// The changes of `doc` the peer lacks, in the order `doc` holds them, when that is exactly
    /// what Automerge would send: the peer's heads are known and all in `doc`, its `have` is those
    /// heads with an empty filter ([`PeerState::trust_known_heads`] made it so), it asks for no
    /// change by hash, and it lacks at least one change. `None` otherwise.
    /// `list` gives the changes of `doc` that are not ancestors of the heads it is given, in order.
    pub(crate) fn lacks_exactly(
        &self,
        doc: &Automerge,
        list: impl FnOnce(&[ChangeHash]) -> Vec<ChangeHash>,
    ) -> Option<Vec<ChangeHash>> {
        let theirs = self.state.their_heads.as_ref().filter(|heads| !heads.is_empty())?;
        let empty_filter = BloomFilter::default().to_bytes();
        let trusted = self.state.their_have.as_ref().is_some_and(|have| {
            matches!(have.as_slice(), [only] if only.last_sync == *theirs && only.bloom.to_bytes() == empty_filter)
        });
        let asks = self.state.their_need.as_ref().is_some_and(|need| !need.is_empty());
        if !trusted
            || asks
            || self.state.peer_read_only
            || !theirs.iter().all(|h| doc.get_change_meta_by_hash(h).is_some())
        {
            return None;
        }
        let lacking = list(theirs);
        (!lacking.is_empty()).then_some(lacking)
    }

    /// Runs `generate` as for a peer that takes no changes: the message then carries our heads,
    /// needs and Bloom filter, and no change, so Automerge neither collects nor saves any.
    pub(crate) fn without_changes<T>(&mut self, generate: impl FnOnce(&mut State) -> T) -> T {
        let read_only = std::mem::replace(&mut self.state.peer_read_only, true);
        let out = generate(&mut self.state);
        self.state.peer_read_only = read_only;
        out
    }

    /// The heads the peer is known to hold, if it holds the document at all and we have every
    /// one of them (so the changes it lacks can be counted); heads we did not take from its
    /// message are read through their dependencies.
    fn holds(&self, doc: &Automerge) -> Option<Vec<ChangeHash>> {
        match self.state.their_heads.as_deref() {
            Some(theirs) if !theirs.is_empty() => self.untaken.held_heads(doc, theirs),
            _ if !self.state.shared_heads.is_empty() => {
                let shared = &self.state.shared_heads;
                shared.iter().all(|h| doc.get_change_meta_by_hash(h).is_some()).then(|| shared.clone())
            }
            _ => None,
        }
    }
}

fn sorted(mut heads: Vec<ChangeHash>) -> Vec<ChangeHash> {
    heads.sort_unstable();
    heads
}

#[cfg(test)]
mod tests {
    use automerge::transaction::Transactable;
    use automerge::{ActorId, ROOT};

    use super::*;
    use crate::sync::{MessageLimits, decode, generate, receive};

    /// A document made of one large change (an imported roster) and `small` one-key edits.
    fn roster_with_edits(small: usize) -> Automerge {
        let mut doc = Automerge::new().with_actor(ActorId::from(&[1u8; 16][..]));
        let mut tx = doc.transaction();
        for i in 0..500 {
            tx.put(ROOT, format!("household-{i}"), format!("楼 {i} 户主 住户 {i}")).ok();
        }
        tx.commit();
        for i in 0..small {
            let mut tx = doc.transaction();
            tx.put(ROOT, format!("note-{i}"), "门口").ok();
            tx.commit();
        }
        doc
    }

    /// Syncs `from` → `to` until quiet; the bytes `from` sent.
    fn sent_bytes(from: &mut Automerge, to: &mut Automerge) -> usize {
        let (mut a, mut b) = (PeerState::new(), PeerState::new());
        let mut sent = 0;
        for _ in 0..10 {
            let ab = generate(from, &mut a);
            if let Some(message) = ab.as_deref().and_then(|m| decode(m, &MessageLimits::default()).ok()) {
                sent += ab.as_ref().map_or(0, Vec::len);
                assert!(receive(to, &mut b, message).is_ok());
            }
            let ba = generate(to, &mut b);
            if let Some(message) = ba.as_deref().and_then(|m| decode(m, &MessageLimits::default()).ok()) {
                assert!(receive(from, &mut a, message).is_ok());
            }
            if ab.is_none() && ba.is_none() {
                break;
            }
        }
        sent
    }

    #[test]
    fn a_peer_that_holds_the_document_gets_the_changes_not_the_whole_document() {
        let base = roster_with_edits(0);
        let mut behind = base.fork().with_actor(ActorId::from(&[2u8; 16][..]));
        let mut ahead = base.fork().with_actor(ActorId::from(&[3u8; 16][..]));
        for i in 0..3 {
            let mut tx = ahead.transaction();
            tx.put(ROOT, format!("note-{i}"), "门口").ok();
            tx.commit();
        }
        // Three changes of four is more than a third: Automerge alone would send the whole
        // document, tens of kilobytes, for three one-key edits.
        let whole = ahead.save().len();
        let sent = sent_bytes(&mut ahead, &mut behind);
        assert!(sent * 4 < whole, "{sent} bytes sent; the whole document is {whole}");
        assert_eq!(behind.get_heads(), ahead.get_heads(), "and the peer has them all");

        // A peer with nothing still gets the compact whole document.
        let mut empty = Automerge::new();
        let sent = sent_bytes(&mut ahead, &mut empty);
        assert!(sent < whole * 2, "{sent} bytes for a document of {whole}");
        assert_eq!(empty.get_heads(), ahead.get_heads());
    }

    /// Syncs `a` and `b` until quiet from fresh states; returns `a`'s state afterwards.
    fn synced(a: &mut Automerge, b: &mut Automerge) -> PeerState {
        let (mut sa, mut sb) = (PeerState::new(), PeerState::new());
        for _ in 0..10 {
            let ab = generate(a, &mut sa);
            if let Some(m) = ab.as_deref().and_then(|m| decode(m, &MessageLimits::default()).ok()) {
                assert!(receive(b, &mut sb, m).is_ok());
            }
            let ba = generate(b, &mut sb);
            if let Some(m) = ba.as_deref().and_then(|m| decode(m, &MessageLimits::default()).ok()) {
                assert!(receive(a, &mut sa, m).is_ok());
            }
            if ab.is_none() && ba.is_none() {
                break;
            }
        }
        PeerState::decode(&sa.encode()).unwrap_or_default()
    }

    #[test]
    fn a_backlog_is_one_exchange_even_against_many_new_changes() {
        // A relay that got 100 changes from other phones while this one made 3 offline. With
        // Bloom filters alone, each of the 100 has a 1% chance of being held back (a false
        // positive), which costs the phone a second request in about half the runs; here every
        // run of twenty takes exactly one exchange.
        for run in 0..20 {
            let mut phone = roster_with_edits(0).with_actor(ActorId::random());
            let mut relay = Automerge::new().with_actor(ActorId::random());
            let mut phone_state = synced(&mut phone, &mut relay);
            // Each from a phone of its own, made concurrently: every one is the first of its
            // branch, so a false positive on it is not covered by a change that depends on it.
            let shared = relay.fork();
            for i in 0..100 {
                let mut other = shared.fork().with_actor(ActorId::random());
                let mut tx = other.transaction();
                tx.put(ROOT, format!("other-{i}"), "门口").ok();
                tx.commit();
                relay.merge(&mut other).ok();
            }
            for i in 0..3 {
                let mut tx = phone.transaction();
                tx.put(ROOT, format!("mine-{i}"), "已送达").ok();
                tx.commit();
            }

            // The first request carries the phone's three changes.
            phone_state.presume_peer_holds_shared_heads();
            let request = generate(&phone, &mut phone_state).expect("a first request");
            let request = decode(&request, &MessageLimits::default()).expect("a valid request");
            assert_eq!(request.changes.len(), 3, "run {run}: the first request carries the changes");
            let mut relay_state = PeerState::new();
            assert!(receive(&mut relay, &mut relay_state, request).is_ok());
            // The reply carries exactly the 100 changes the phone lacks.
            let reply = generate(&relay, &mut relay_state).expect("a reply");
            let reply = decode(&reply, &MessageLimits::default()).expect("a valid reply");
            assert_eq!(reply.changes.len(), 100, "run {run}: none held back by a false positive");
            assert!(receive(&mut phone, &mut phone_state, reply).is_ok());
            assert_eq!(phone.get_heads(), relay.get_heads(), "run {run}: in sync after one exchange");
            assert_eq!(phone_state.their_heads(), Some(phone.get_heads().as_slice()));
        }
    }
}
