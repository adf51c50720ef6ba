//! The sans-IO sync engine. It wraps Automerge's sync protocol (`automerge::sync`) per
//! document and batches every document of a phone into one request and one response, so a
//! phone back in signal is in sync after one or two HTTP requests.
//!
//! Nothing here does IO: the phone's transport sends [`SyncRequest`] bytes and feeds back
//! [`SyncResponse`] bytes; the replica persists each document's [`PeerState`] between sessions.
//! A session that fails half-way (a dropped request, a killed app) is harmless: the next one
//! starts again from the persisted state, and Automerge never applies a change twice.

mod client;
mod error;
mod peer_state;
mod wire;

pub use client::{ClientSession, DocumentSet, ResponseOutcome};
pub use error::SyncError;
pub use peer_state::PeerState;
pub use wire::{DocMessage, DocumentGrant, Rejection, SyncRequest, SyncResponse, WIRE_VERSION};

use automerge::Automerge;
use automerge::sync::{Message, SyncDoc};

/// The message to send to a peer about `doc`, if there is anything to say.
pub fn generate(doc: &Automerge, state: &mut PeerState) -> Option<Vec<u8>> {
    doc.generate_sync_message(state.inner_mut()).map(Message::encode)
}

/// Decodes a peer's sync message, without applying it.
pub fn decode(bytes: &[u8]) -> Result<Message, SyncError> {
    Message::decode(bytes).map_err(|e| SyncError::Malformed(e.to_string()))
}

/// Applies a peer's decoded message to `doc`.
pub fn receive(doc: &mut Automerge, state: &mut PeerState, message: Message) -> Result<(), SyncError> {
    doc.receive_sync_message(state.inner_mut(), message).map_err(|e| SyncError::Rejected(e.to_string()))
}
