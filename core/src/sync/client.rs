//! The phone's side of a sync session: build a request from every document held, apply the
//! relay's response, learn which documents to fetch and which to drop.
//!
//! The list of documents the phone may hold comes with a response only when it changed: the
//! session keeps the list it last applied (the replica persists it), sends its digest, and
//! applies the kept list again when the relay answers "unchanged".

use std::collections::{BTreeMap, BTreeSet};

use automerge::{ChangeHash, ReadDoc};

use super::wire::{DocMessage, DocumentGrant, Rejection, SyncRequest, SyncResponse, WIRE_VERSION};
use super::{GrantsDigest, PeerState, SyncError};
use crate::document::{Document, Header};
use crate::id::DocumentId;
use crate::validate::DOCUMENT_CHUNK;

/// Any set of documents a session can sync (a replica's compounds, a test's peer).
pub trait DocumentSet {
    /// The IDs of the documents held.
    fn document_ids(&self) -> Vec<DocumentId>;
    /// A held document.
    fn get(&self, id: DocumentId) -> Option<&Document>;
    /// A held document, to apply changes to.
    fn get_mut(&mut self, id: DocumentId) -> Option<&mut Document>;
}

/// What one response did.
#[derive(Debug, Default)]
pub struct ResponseOutcome {
    /// Documents whose content changed.
    pub changed: Vec<DocumentId>,
    /// Documents the caller may hold now: the relay's list, or the kept one when the relay
    /// said it is unchanged.
    pub grants: Vec<DocumentGrant>,
    /// Whether the relay sent its list of documents (`false`: it said the kept one is unchanged).
    pub documents_listed: bool,
    /// Granted documents this device does not hold yet: create placeholders and sync again.
    pub to_fetch: Vec<Header>,
    /// Held documents no longer granted (closed rounds, revoked compounds): drop them.
    pub to_drop: Vec<DocumentId>,
    /// Messages the relay refused.
    pub rejected: Vec<Rejection>,
    /// Replies we could not apply, per document; the other documents still synced.
    pub failed: Vec<(DocumentId, SyncError)>,
    /// Documents replaced by the whole document the relay sent (see `whole_document.rs`), with
    /// its bytes: a snapshot of the document as it is now, to store instead of a new chunk.
    pub adopted: Vec<(DocumentId, Vec<u8>)>,
    /// Documents whose new changes are exactly the ones the relay sent, with their bytes as
    /// they came: the chunk to store, instead of one rebuilt from the op set.
    pub received: Vec<(DocumentId, ReceivedChanges)>,
    /// For each document the response refused a message of: changes the relay's reply for it
    /// shows the relay holds (its heads, the changes it sent and what they depend on), read
    /// before the reply is applied, so even a reply that cannot be applied (the relay holds other
    /// changes under this device's actor) says which of this device's changes reached it.
    pub relay_holds: BTreeMap<DocumentId, BTreeSet<ChangeHash>>,
}

/// The changes a message shows its sender holds: its heads, the changes it carries and every
/// change those depend on. Changes that do not decode show nothing (the heads still count).
fn held_by_sender(message: &automerge::sync::Message) -> BTreeSet<ChangeHash> {
    let mut held: BTreeSet<ChangeHash> = message.heads.iter().copied().collect();
    if let Ok(changes) = crate::validate::changes_in(message) {
        for change in &changes {
            held.insert(change.hash());
            held.extend(change.deps().iter().copied());
        }
    }
    held
}

/// The changes the relay sent for a document, every one of them new to it and applied, and
/// nothing else new: their bytes, one after another, are what Automerge's `save_after(since)`
/// would write. Automerge 0.12 keeps no change bytes and would rebuild them from the op set,
/// walking every op in their range (a team's changes are concurrent, so the range holds the
/// whole team's ops): most of a phone's work on a reply of many changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedChanges {
    /// The document's heads before they came.
    pub since: Vec<ChangeHash>,
    /// The changes' bytes, in the order the relay sent them.
    pub bytes: Vec<u8>,
}

/// Most documents one request carries. The relay refuses a request naming more than its cap
/// (256 by default) as a whole, so a phone holding more (a coordinator of many open rounds, or of
/// several compounds) spreads them over several requests instead of never syncing again.
pub const REQUEST_DOCUMENTS: usize = 128;

/// Most message bytes one request carries; what does not fit waits for the next request of the
/// session: other documents whole, and a document's own changes past the first that fit (see
/// `upload_budget.rs`). 64 KiB is eight seconds on a landing's 64 kbit/s, well inside the
/// relay's 30 s for a request, and about 280 offline edits: a day's normal backlog still goes in
/// one request. A single change larger than this (a roster imported on the phone) still goes,
/// alone.
pub const REQUEST_BYTES: usize = 64 * 1024;

/// One sync session with the relay.
#[derive(Debug, Default)]
pub struct ClientSession {
    states: BTreeMap<DocumentId, PeerState>,
    /// Documents this session has offered the relay at least once.
    announced: BTreeSet<DocumentId>,
    /// The changes each document's message in the last request carries.
    carried: BTreeMap<DocumentId, Vec<ChangeHash>>,
    /// Most message bytes one request carries ([`REQUEST_BYTES`] unless set).
    request_bytes: usize,
    /// Most documents not held yet one request asks for, when set: each comes back whole.
    fetches_per_request: Option<usize>,
    requests_made: u32,
    /// The list of documents this device last applied, whose digest each request carries.
    known_grants: Option<Vec<DocumentGrant>>,
    /// A document's first message waits to hear the relay's heads before it carries changes,
    /// instead of carrying those since the shared heads ([`ClientSession::ask_before_sending`]).
    asks_first: bool,
}

impl ClientSession {
    /// Starts a session from the states persisted after the last one. Without
    /// [`ClientSession::with_known_grants`] the relay sends its list of documents every time.
    pub fn new(persisted: BTreeMap<DocumentId, PeerState>) -> Self {
        Self {
            states: persisted,
            announced: BTreeSet::new(),
            carried: BTreeMap::new(),
            request_bytes: REQUEST_BYTES,
            fetches_per_request: None,
            requests_made: 0,
            known_grants: None,
            asks_first: false,
        }
    }

    /// Each document's next message asks the relay's heads and carries no changes: the relay
    /// took this device's changes in a request whose answer was lost (a request sent in pieces,
    /// core's `sync/request_pieces.rs`), so the shared heads kept are behind, and the changes
    /// since them would go up again for nothing.
    ///
    /// Documents this session already announced (the lost answer was to this session's own
    /// request) are asked about afresh, from the shared heads alone: Automerge holds back a
    /// message that would repeat the one in flight, and the run would end with its changes
    /// still counted unsynced, to build the same request, named taken, at every later sync.
    pub fn ask_before_sending(&mut self) {
        self.asks_first = true;
        for id in std::mem::take(&mut self.announced) {
            if let Some(state) = self.states.get_mut(&id) {
                *state = state.as_at_session_start();
            }
        }
    }

    /// Starts from the list of documents this device last applied (persisted beside the sync
    /// states): its digest goes with every request, and the relay omits the list while it is
    /// unchanged. `None` (never synced, or the list was forgotten) asks for the list.
    #[must_use]
    pub fn with_known_grants(mut self, grants: Option<Vec<DocumentGrant>>) -> Self {
        self.known_grants = grants;
        self
    }

    /// Carries at most `bytes` of messages per request instead of [`REQUEST_BYTES`] (a phone
    /// on a slow link, or a benchmark comparing budgets; at least one message still goes in
    /// each request).
    #[must_use]
    pub fn with_request_bytes(mut self, bytes: usize) -> Self {
        self.request_bytes = bytes;
        self
    }

    /// [`ClientSession::with_request_bytes`] for the requests still to come.
    pub fn set_request_bytes(&mut self, bytes: usize) {
        self.request_bytes = bytes;
    }

    /// Most message bytes the next request carries.
    pub fn request_bytes(&self) -> usize {
        self.request_bytes
    }

    /// Asks for at most `fetches` documents not held yet per request (`None`: all of them).
    /// Each comes back whole in the answer, which the request's budget does not bound: on a
    /// link known to be slow, one a request keeps each answer to one document's size, so it can
    /// finish before the link drops, and what arrived stays.
    pub fn set_fetches_per_request(&mut self, fetches: Option<usize>) {
        self.fetches_per_request = fetches;
    }

    /// Forgets the kept list: the next request carries no digest, and the relay sends its list.
    pub fn forget_known_grants(&mut self) {
        self.known_grants = None;
    }

    /// The list of documents applied last, to persist after each response.
    pub fn known_grants(&self) -> Option<&[DocumentGrant]> {
        self.known_grants.as_deref()
    }

    /// The request to send next, or `None` when the session has nothing more to say. The first
    /// request of a session is always sent (it learns which documents we may hold). A request
    /// carries at most [`REQUEST_DOCUMENTS`] documents and about [`REQUEST_BYTES`]; the rest
    /// follow in the next ones.
    pub fn request(&mut self, docs: &impl DocumentSet) -> Option<SyncRequest> {
        let mut messages = Vec::new();
        let mut bytes = 0usize;
        let mut fetches = 0usize;
        self.carried.clear();
        for id in docs.document_ids() {
            if messages.len() >= REQUEST_DOCUMENTS {
                break;
            }
            let Some(doc) = docs.get(id) else { continue };
            let fetch = doc.is_placeholder();
            if fetch && self.fetches_per_request.is_some_and(|most| fetches >= most) {
                // Asked for in the next request, as if not looked at now.
                continue;
            }
            let state = self.states.entry(id).or_default();
            let before = state.clone();
            let first = !self.announced.contains(&id);
            if first && !self.asks_first {
                // A document's first message of a session carries this device's changes since
                // the last session.
                state.presume_peer_holds_shared_heads();
            } else if state.their_heads() == Some(doc.heads().as_slice()) {
                // The relay holds exactly what we hold: nothing to send and nothing to ask.
                // Automerge would still announce heads that changed by applying its reply, a
                // request that tells the relay nothing it does not already know.
                continue;
            }
            let room = self.request_bytes.saturating_sub(bytes);
            let Some((message, carried)) = super::generate_within(doc.automerge(), state, room) else {
                self.announced.insert(id);
                continue;
            };
            if !messages.is_empty() && bytes + message.len() > self.request_bytes {
                // Full: this document goes in the next request, as if not generated now.
                *state = before;
                continue;
            }
            bytes += message.len();
            self.announced.insert(id);
            self.carried.insert(id, carried);
            fetches += usize::from(fetch);
            messages.push(DocMessage { doc: id, message });
        }
        if messages.is_empty() && self.requests_made > 0 {
            return None;
        }
        self.requests_made += 1;
        let documents_digest = self.known_grants.as_deref().map(GrantsDigest::of);
        Some(SyncRequest { version: WIRE_VERSION, messages, documents_digest })
    }

    /// Applies the relay's response to `docs`.
    pub fn handle(&mut self, docs: &mut impl DocumentSet, response: SyncResponse) -> ResponseOutcome {
        let mut out = ResponseOutcome { rejected: response.rejected, ..Default::default() };
        let refused: BTreeSet<DocumentId> = out.rejected.iter().map(|r| r.doc).collect();
        for DocMessage { doc: id, message } in response.messages {
            let Some(doc) = docs.get_mut(id) else {
                tracing::debug!(doc = %id, "reply for a document we do not hold; ignored");
                continue;
            };
            let before = doc.heads();
            let state = self.states.entry(id).or_default();
            let applied = super::decode(&message, &super::MessageLimits::for_replies())
                .and_then(|m| {
                    if refused.contains(&id) {
                        out.relay_holds.entry(id).or_default().extend(held_by_sender(&m));
                    }
                    // Automerge inflates and expands a reply's chunks with no bound: a bomb from
                    // a broken relay or a forger on the path would take the phone's memory. A
                    // whole document is loaded once, by its check.
                    let checked = checked_reply(&m)?;
                    Ok((m, checked))
                })
                .and_then(|(mut m, checked)| {
                    let snapshot = super::whole_document::adopt(doc.automerge_mut(), &mut m, checked)?;
                    // Kept only where they could be the chunk to store: changes (a whole
                    // document not adopted is merged as usual) for a document the phone held (a
                    // new one is stored whole).
                    let only_changes = !m.changes.is_empty()
                        && m.changes.iter().all(|c| c.get(8).is_some_and(|t| *t != DOCUMENT_CHUNK));
                    let sent = (only_changes && !before.is_empty())
                        .then(|| (m.changes.len(), m.changes.iter().flatten().copied().collect::<Vec<u8>>()));
                    super::receive(doc.automerge_mut(), state, m)?;
                    Ok((snapshot, sent))
                })
                .and_then(|(snapshot, sent)| {
                    let received = doc.heads();
                    doc.adopt_synced().map_err(|source| SyncError::Document { id, source })?;
                    // A migration made a change of its own: the snapshot no longer says it all,
                    // nor do the changes sent.
                    let unmigrated = doc.heads() == received;
                    let am = doc.automerge();
                    let changes = sent
                        .filter(|(count, _)| {
                            unmigrated
                                && am.get_missing_deps(&[]).is_empty()
                                && am.get_changes_meta(&before).len() == *count
                        })
                        .map(|(_, bytes)| ReceivedChanges { since: before.clone(), bytes });
                    Ok((snapshot.filter(|_| unmigrated), changes))
                });
            match applied {
                Ok((snapshot, changes)) if doc.heads() != before => {
                    out.changed.push(id);
                    match snapshot {
                        Some(bytes) => out.adopted.push((id, bytes)),
                        None => out.received.extend(changes.map(|changes| (id, changes))),
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(doc = %id, error = %e, "reply not applied");
                    out.failed.push((id, e));
                }
            }
        }
        out.documents_listed = response.documents.is_some();
        let grants = match response.documents {
            Some(listed) => {
                self.known_grants = Some(listed.clone());
                listed
            }
            None => match &self.known_grants {
                Some(known) => known.clone(),
                None => {
                    // "Unchanged" is only an answer to a digest, which this session did not
                    // send: nothing is known to fetch or drop. The next request asks again.
                    tracing::warn!(
                        "the relay said the document list is unchanged, but none was kept; ignored"
                    );
                    return out;
                }
            },
        };
        let granted: BTreeSet<DocumentId> = grants.iter().map(|g| g.header.id).collect();
        // A document the relay says it does not hold (restored from a backup older than it) is
        // not withdrawn: the phone keeps it, and its work, until a coordinator's phone brings it
        // back; but only in a compound the relay still lets the phone hold (a person removed
        // from the compound meanwhile keeps nothing of it).
        let granted_compounds: BTreeSet<_> = grants.iter().map(|g| g.header.compound).collect();
        let not_held: BTreeSet<DocumentId> = out
            .rejected
            .iter()
            .filter(|r| r.rule == crate::relay_engine::rejection::NOT_HELD)
            .map(|r| r.doc)
            .filter(|id| docs.get(*id).is_some_and(|d| granted_compounds.contains(&d.header().compound)))
            .collect();
        let held: BTreeSet<DocumentId> =
            docs.document_ids().into_iter().filter(|id| !not_held.contains(id)).collect();
        out.to_fetch = grants.iter().filter(|g| !held.contains(&g.header.id)).map(|g| g.header).collect();
        out.to_drop = held
            .difference(&granted)
            .copied()
            .filter(|id| {
                // A document made on this device that the relay has never acknowledged holding
                // (no shared heads) is on its way up, not revoked: keep it until it is granted,
                // unless the relay grants nothing of its compound any more.
                let placeholder = docs.get(*id).is_none_or(Document::is_placeholder);
                let acknowledged = self.states.get(id).is_some_and(|s| !s.shared_heads().is_empty());
                let compound_gone =
                    docs.get(*id).is_some_and(|d| !granted_compounds.contains(&d.header().compound));
                placeholder || acknowledged || compound_gone
            })
            .collect();
        for id in &out.to_drop {
            self.states.remove(id);
        }
        out.grants = grants;
        out
    }

    /// Replaces the state of one document (after the document was rewritten locally, or the
    /// relay refused its message and forgot its side). Its next message is as a session's first:
    /// it carries this device's changes since the heads `state` says both sides share, instead
    /// of announcing heads and waiting a round trip for the relay to ask for them (a state with
    /// no shared heads starts the ordinary exchange).
    pub fn reset(&mut self, doc: DocumentId, state: PeerState) {
        self.states.insert(doc, state);
        self.announced.remove(&doc);
    }

    /// The changes the last request's message for `doc` carries (none when it had no message
    /// for it): what the relay takes if it does not refuse the document.
    pub fn carried(&self, doc: DocumentId) -> &[ChangeHash] {
        self.carried.get(&doc).map_or(&[], Vec::as_slice)
    }

    /// How many requests this session has built.
    pub fn requests_made(&self) -> u32 {
        self.requests_made
    }

    /// The per-document states to persist at the end of the session (or after each response).
    pub fn states(&self) -> &BTreeMap<DocumentId, PeerState> {
        &self.states
    }
}

impl DocumentSet for crate::Compound {
    fn document_ids(&self) -> Vec<DocumentId> {
        self.documents().map(Document::id).collect()
    }

    fn get(&self, id: DocumentId) -> Option<&Document> {
        self.document(id)
    }

    fn get_mut(&mut self, id: DocumentId) -> Option<&mut Document> {
        self.document_mut(id)
    }
}

impl DocumentSet for BTreeMap<crate::id::CompoundId, crate::Compound> {
    fn document_ids(&self) -> Vec<DocumentId> {
        self.values().flat_map(DocumentSet::document_ids).collect()
    }

    fn get(&self, id: DocumentId) -> Option<&Document> {
        self.values().find_map(|c| c.document(id))
    }

    fn get_mut(&mut self, id: DocumentId) -> Option<&mut Document> {
        self.values_mut().find_map(|c| c.document_mut(id))
    }
}

/// Checks every change entry of a relay's reply ([`validate::load_received_document`](crate::validate::load_received_document));
/// a reply whose one entry is a whole document gives the document its check loaded, for
/// [`whole_document::adopt`](super::whole_document::adopt) to take without loading it again.
fn checked_reply(message: &automerge::sync::Message) -> Result<Option<automerge::Automerge>, SyncError> {
    let mut loaded = None;
    for (entry, bytes) in message.changes.iter().enumerate() {
        loaded = crate::validate::load_received_document(bytes).map_err(|problem| {
            SyncError::Malformed(format!("the reply's change entry {entry}: {problem}"))
        })?;
    }
    Ok(loaded.filter(|_| message.changes.len() == 1))
}
