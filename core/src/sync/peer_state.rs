//! What one side knows of a peer's copy of one document. Persisted between sessions so that a
//! reconnect with nothing new costs a few hundred bytes.

use automerge::sync::{Capability, State};
use automerge::{Automerge, ChangeHash};

use super::SyncError;

/// Automerge's per-peer, per-document sync state.
#[derive(Debug, Clone, Default)]
pub struct PeerState(State);

impl PeerState {
    /// A fresh state: we know nothing of the peer's copy.
    pub fn new() -> Self {
        Self(State::new())
    }

    /// Restores a state saved by [`PeerState::encode`]. Only the shared heads survive, which is
    /// what makes a new session after a failed one correct.
    pub fn decode(bytes: &[u8]) -> Result<Self, SyncError> {
        State::decode(bytes).map(Self).map_err(|e| SyncError::BadState(e.to_string()))
    }

    /// The part of the state worth keeping between sessions.
    pub fn encode(&self) -> Vec<u8> {
        self.0.encode()
    }

    /// The heads both sides are known to share.
    pub fn shared_heads(&self) -> &[ChangeHash] {
        &self.0.shared_heads
    }

    /// The peer's heads, as last heard in this session.
    pub fn their_heads(&self) -> Option<&[ChangeHash]> {
        self.0.their_heads.as_deref()
    }

    pub(crate) fn inner_mut(&mut self) -> &mut State {
        &mut self.0
    }

    /// Runs `generate` with the peer's support for whole-document messages hidden, when the
    /// peer already holds the document and lacks only a few of its changes.
    ///
    /// Automerge 0.12 answers with the whole document whenever the changes to send are more
    /// than a third of the document's change COUNT. Our rosters and rounds are one or two large
    /// changes followed by small ones, so a phone a few edits behind was sent the whole
    /// document: 2–18× the bytes of the changes, and a whole-document load on the other side.
    /// A peer far behind still gets Automerge's choice, where the whole document is the smaller
    /// and cheaper message (BENCHMARKS.md §4).
    pub(crate) fn changes_for_a_holder<T>(
        &mut self,
        doc: &Automerge,
        generate: impl FnOnce(&mut State) -> T,
    ) -> T {
        let hide = self.holds(doc).is_some_and(|heads| doc.get_changes_meta(&heads).len() <= FEW_CHANGES);
        if !hide {
            return generate(&mut self.0);
        }
        let capabilities = self.0.their_capabilities.take();
        self.0.their_capabilities = capabilities
            .as_ref()
            .map(|caps| caps.iter().filter(|c| **c != Capability::MessageV2).cloned().collect());
        let out = generate(&mut self.0);
        self.0.their_capabilities = capabilities;
        out
    }

    /// The heads the peer is known to hold, if it holds the document at all and we have every
    /// one of them (so the changes it lacks can be counted).
    fn holds(&self, doc: &Automerge) -> Option<Vec<ChangeHash>> {
        let heads = match self.0.their_heads.as_deref() {
            Some(theirs) if !theirs.is_empty() => theirs,
            _ if !self.0.shared_heads.is_empty() => self.0.shared_heads.as_slice(),
            _ => return None,
        };
        heads.iter().all(|h| doc.get_change_meta_by_hash(h).is_some()).then(|| heads.to_vec())
    }
}

/// A peer lacking at most this many changes is sent them, never the whole document.
const FEW_CHANGES: usize = 256;

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
}
