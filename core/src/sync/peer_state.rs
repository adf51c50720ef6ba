//! What one side knows of a peer's copy of one document. Persisted between sessions so that a
//! reconnect with nothing new costs a few hundred bytes.

use automerge::sync::State;

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
    pub fn shared_heads(&self) -> &[automerge::ChangeHash] {
        &self.0.shared_heads
    }

    /// The peer's heads, as last heard in this session.
    pub fn their_heads(&self) -> Option<&[automerge::ChangeHash]> {
        self.0.their_heads.as_deref()
    }

    pub(crate) fn inner_mut(&mut self) -> &mut State {
        &mut self.0
    }
}
