//! The sans-IO sync engine. It wraps Automerge's sync protocol (`automerge::sync`) per
//! document and batches every document of a phone into one request and one response, so a
//! phone back in signal is in sync after one HTTP request: the first request carries the phone's
//! changes since the last session, and the reply exactly what the relay got meanwhile.
//!
//! Nothing here does IO: the phone's transport sends [`SyncRequest`] bytes and feeds back
//! [`SyncResponse`] bytes; the replica persists each document's [`PeerState`] between sessions.
//! A session that fails half-way (a dropped request, a killed app) is harmless: the next one
//! starts again from the persisted state, and Automerge never applies a change twice.
//!
//! Every message is read by [`check_message`] before Automerge sees it (see
//! `message_check.rs` for why), and the protocol steps that read a peer's heads and bloom
//! filters run with Automerge's panics contained.

pub mod answer_to;
pub mod body_deflate;
mod changes_or_whole;
mod client;
pub mod clock_header;
mod compact_request;
pub mod document_copy;
mod error;
mod grants_digest;
mod heads_merge;
mod kept_changes;
mod lacking;
mod loadable_snapshot;
mod message_check;
mod message_limits;
mod peer_state;
mod refusal_words;
pub mod reply_budget;
pub mod request_pieces;
mod set_aside;
mod untaken_changes;
mod upload_budget;
mod whole_document;
mod wipe_report;
mod wire;
pub mod writer_header;

pub use client::{
    ClientSession, DocumentSet, REQUEST_BYTES, REQUEST_DOCUMENTS, ReceivedChanges, ResponseOutcome,
};
pub use error::SyncError;
pub use grants_digest::{BadDigestLength, GrantsDigest};
pub use heads_merge::HeadsMerged;
pub use kept_changes::KeptChanges;
pub use loadable_snapshot::loadable_snapshot;
pub use message_check::{MessageProblem, MessageShape, check_message};
pub use message_limits::{BLOOM_BITS_PER_ENTRY, BLOOM_PROBES, MessageLimits};
pub use peer_state::PeerState;
pub use refusal_words::{DOCUMENT_WITHDRAWN, NOT_REAPPLIED, refusal_words};
pub use set_aside::{
    MAX_SET_ASIDE_AWAITING, MAX_SET_ASIDE_ITEMS, MAX_SET_ASIDE_OPERATION_BYTES, MAX_SET_ASIDE_TEXT_BYTES,
    SetAsideAnswer, SetAsideDecision, SetAsideExchange, SetAsideOutcome, SetAsideRefusal, SetAsideUpload,
};
pub use untaken_changes::UntakenChanges;
pub use wipe_report::{MAX_WIPE_REPORT_CHANGES, UnsentChanges, WipeReport};
pub use wire::{
    AmbiguousDocumentList, DocMessage, DocumentGrant, Rejection, RejectionClass, SyncRequest, SyncResponse,
    WIRE_VERSION,
};

use automerge::sync::{Message, SyncDoc};
use automerge::{Automerge, ChangeHash};

use self::changes_or_whole::{FEW_CHANGES, changes_outweigh_whole};
use self::lacking::LackingCounts;
use crate::validate::contain::contained;

/// The message to send to a peer about `doc`, if there is anything to say.
pub fn generate(doc: &Automerge, state: &mut PeerState) -> Option<Vec<u8>> {
    generate_message(doc, state).map(Message::encode)
}

fn generate_message(doc: &Automerge, state: &mut PeerState) -> Option<Message> {
    state.trust_known_heads(doc);
    let few = |heads: &[ChangeHash]| doc.get_changes_meta(heads).len() <= FEW_CHANGES;
    state.changes_for_a_holder(doc, few, |state| doc.generate_sync_message(state))
}

/// A message [`generate`]d for a request with `budget` bytes left for changes: if its changes
/// pass the budget, it carries the first of them (at least one) and the next message the rest
/// (see `upload_budget.rs`). Returns the message and the hashes of the changes it carries.
pub fn generate_within(
    doc: &Automerge,
    state: &mut PeerState,
    budget: usize,
) -> Option<(Vec<u8>, Vec<ChangeHash>)> {
    let sent_before = state.inner_mut().sent_hashes.clone();
    let mut message = generate_message(doc, state)?;
    let carried = upload_budget::fit(doc, state, &mut message, &sent_before, budget);
    Some((message.encode(), carried))
}

/// What every reply generated from the same state of a document can share: the document saved
/// once, the changes since each last sync the peers announced, listed once (`lacking.rs`), and
/// the bytes of the changes the relay took (`kept_changes.rs`), if it keeps them.
///
/// Automerge saves (and compresses) the whole document anew for every peer it sends the whole
/// document to; after a team's batch, the relay answers dozens of phones from one state of the
/// document, and saving a full roster for each was most of the relay's work on a team's return.
/// Make one per state of the document: it must not outlive a change to it.
#[derive(Debug, Default)]
pub struct SavedOnce<'a> {
    document: std::cell::OnceCell<Vec<u8>>,
    lacking: LackingCounts,
    kept: Option<&'a KeptChanges>,
}

impl<'a> SavedOnce<'a> {
    /// For replies that may take their changes' bytes from `kept`.
    pub fn keeping(kept: &'a KeptChanges) -> Self {
        Self { kept: Some(kept), ..Self::default() }
    }

    /// `doc` saved, the first time it is asked for.
    fn whole(&self, doc: &Automerge) -> &Vec<u8> {
        self.document.get_or_init(|| doc.save())
    }
}

/// [`generate`] for a peer of a relay answering many from one state of `doc`: a peer that
/// should get the whole document (it holds nothing, or the changes it lacks outweigh the
/// document on the link, `changes_or_whole.rs`) gets `saved`'s copy, saved at most once.
///
/// The message is Automerge's own for a peer that takes no changes (our heads, needs and
/// Bloom filter) with the saved document as its changes, exactly the shape of Automerge's
/// whole-document message. Unlike Automerge, `state` does not record the document's hashes as
/// sent: the relay keeps only a peer's shared heads between requests, never what it sent.
pub fn generate_sharing(doc: &Automerge, state: &mut PeerState, saved: &SavedOnce<'_>) -> Option<Vec<u8>> {
    let since = state.heard_last_sync();
    state.trust_known_heads(doc);
    if let Some(cut) = reply_budget::reply_within(doc, state, saved, &since) {
        return cut.map(Message::encode);
    }
    let outweigh =
        |peer: &PeerState, heads: &[ChangeHash]| changes_outweigh_whole(doc, peer, heads, &since, saved);
    if !state.wants_whole_document(doc, outweigh) {
        let list = |heads: &[ChangeHash]| saved.lacking.list(doc, heads, &since);
        if let Some(reply) = saved.kept.and_then(|kept| from_kept(doc, state, kept, list)) {
            return reply;
        }
        return state
            .changes_for_a_holder(doc, |_| true, |state| doc.generate_sync_message(state))
            .map(Message::encode);
    }
    whole_message(doc, state, saved).map(Message::encode)
}

/// Automerge's message for a peer that takes no changes (our heads, needs and Bloom filter) with
/// `saved`'s copy of the whole document as its changes: the shape of Automerge's own
/// whole-document message.
fn whole_message(doc: &Automerge, state: &mut PeerState, saved: &SavedOnce<'_>) -> Option<Message> {
    let mut message = state.without_changes(|state| doc.generate_sync_message(state))?;
    message.version = automerge::sync::MessageVersion::V2;
    message.changes = saved.whole(doc).clone().into();
    Some(message)
}

/// The reply to a peer that holds the document and lacks changes, all of them kept:
/// Automerge's message for a peer that takes no changes (our heads, needs and Bloom filter) with
/// the kept bytes as its changes, in the order the document holds them. `None` when Automerge
/// should answer: the peer asked for changes by hash, its heads include one we lack, it lacks
/// nothing, or a change it lacks is not kept.
/// `list` gives the changes of `doc` that are not ancestors of the heads it is given, in order.
fn from_kept(
    doc: &Automerge,
    state: &mut PeerState,
    kept: &KeptChanges,
    list: impl FnOnce(&[ChangeHash]) -> Vec<ChangeHash>,
) -> Option<Option<Vec<u8>>> {
    let lacking = state.lacks_exactly(doc, list)?;
    let changes = kept.all_of(lacking)?;
    let mut message = state.without_changes(|state| doc.generate_sync_message(state));
    if let Some(message) = message.as_mut() {
        message.changes = changes.into();
    }
    Some(message.map(Message::encode))
}

/// [`generate_sharing`] with a panic inside Automerge returned as an error, as [`try_generate`].
pub fn try_generate_sharing(
    doc: &Automerge,
    state: &mut PeerState,
    saved: &SavedOnce<'_>,
) -> Result<Option<Vec<u8>>, SyncError> {
    contained("a reply to the peer's sync state", || generate_sharing(doc, state, saved))
        .map_err(SyncError::Malformed)
}

/// [`generate`] with a panic inside Automerge (on a peer's state Automerge cannot handle)
/// returned as an error; `state` is then unusable and should be replaced by a fresh one.
pub fn try_generate(doc: &Automerge, state: &mut PeerState) -> Result<Option<Vec<u8>>, SyncError> {
    contained("a reply to the peer's sync state", || generate(doc, state)).map_err(SyncError::Malformed)
}

/// Checks a peer's sync message against `limits` and decodes it, without applying it.
pub fn decode(bytes: &[u8], limits: &MessageLimits) -> Result<Message, SyncError> {
    check_message(bytes, limits)?;
    Message::decode(bytes).map_err(|e| SyncError::Malformed(e.to_string()))
}

/// Applies a peer's decoded message to `doc`. A panic inside Automerge is returned as
/// [`SyncError::Malformed`]; `state` is then unusable and should be replaced by a fresh one.
pub fn receive(doc: &mut Automerge, state: &mut PeerState, message: Message) -> Result<(), SyncError> {
    contained("a sync message", || doc.receive_sync_message(state.inner_mut(), message))
        .map_err(SyncError::Malformed)?
        .map_err(|e| SyncError::Rejected(e.to_string()))
}
