//! One sync with the relay, driven by a transport: [`SyncRun::next_request`] gives the bytes to
//! POST, [`SyncRun::handle_response`] takes the bytes that came back. State is persisted after
//! every response, so a run cut off half-way (no signal, app killed) costs nothing but a retry.
//!
//! Refusals come in two classes ([`RejectionClass`]). A transient one (the relay's storage busy,
//! a document at its size limit) leaves the changes where they are: the document sits out the
//! rest of the run and the transport tries again later. A permanent one sets aside the refused
//! operation only (see `set_aside.rs`); the rest of the document's queue goes up.

use std::collections::{BTreeSet, HashMap, HashSet};

use automerge::ChangeHash;
use doorstep_core::Compound;
use doorstep_core::document::Document;
use doorstep_core::id::DocumentId;
use doorstep_core::relay_engine::rejection::{HELD_FOR_ITS_AUTHOR, NOT_HELD};
use doorstep_core::sync::{ClientSession, DocumentSet, PeerState, Rejection, SyncRequest, SyncResponse};
use doorstep_core::time::clock_is_off;
use doorstep_core::{Role, Timestamp};
use serde::Serialize;

use crate::actor_rotation::rotate_device_actor;
use crate::error::ReplicaError;
use crate::known_grants;
use crate::link_rate::LinkRate;
use crate::relay_reads::{self, RelayReads};
use crate::replica::Replica;
use crate::request_budget;
use crate::request_in_pieces::RequestInPieces;
use crate::set_aside::{Leaving, Retime, set_aside_refused};
use crate::store::Write;

/// Most requests one run makes before it stops (a normal backlog needs one). A request carries
/// at most `REQUEST_BYTES` (64 KiB) of changes, so a run sends up to 4 MiB; a backlog past that
/// goes on in the next run.
const MAX_REQUESTS: u32 = 64;

/// What a sync run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    /// Requests sent (the review inbox exchange, when something is set aside, included).
    pub requests: u32,
    /// Request bytes sent.
    pub bytes_up: usize,
    /// Response bytes received.
    pub bytes_down: usize,
    /// Documents that changed on this device.
    pub changed: Vec<DocumentId>,
    /// Responses that carried the list of documents this device may hold; the others said the
    /// list this device keeps is unchanged.
    pub document_lists: u32,
    /// Documents that arrived.
    pub fetched: Vec<DocumentId>,
    /// Documents dropped (closed rounds, revoked compounds).
    pub dropped: Vec<DocumentId>,
    /// What the relay refused for good: the refused operations are set aside, under review.
    pub rejected: Vec<Rejection>,
    /// What the relay could not take just now (transient): kept on the phone, sent again later.
    pub retrying: Vec<Rejection>,
    /// Changes set aside by this run.
    pub set_aside: usize,
    /// Times the sync waited and tried again because the relay was busy or out of reach.
    pub retries: u32,
    /// Operations carried out again after an earlier one was set aside.
    pub reapplied: usize,
    /// Replies that could not be applied.
    pub failed: Vec<String>,
    /// Compounds this device was removed from in this run (every document withdrawn), by name.
    pub removed_from: Vec<String>,
    /// Set-aside operations sent to the relay's review inbox by this sync.
    pub set_aside_sent: usize,
    /// Set-aside operations a coordinator applied or dismissed, learned by this sync.
    pub set_aside_decided: usize,
    /// Set-aside operations the relay turned out to hold all along (it took them in a sync whose
    /// answer was cut off), learned by this sync: synced after all, for no one to review.
    pub set_aside_synced: usize,
    /// Operations the relay refused for a time the phone's wrong clock wrote, carried out again
    /// at that time moved by the relay's clock, and synced (`set_aside::Retime`).
    pub retimed: usize,
    /// Operations journaled in a stored copy of a document that did not load, carried out again
    /// on the relay's copy once fetched, and synced (`damaged_copy.rs`).
    pub recovered: usize,
    /// Documents whose history the relay turned out to lack although this phone believed it
    /// shared (a relay restored from an older backup), negotiated again from nothing in the same
    /// sync: not a refusal; what did not go up after it shows in the unsynced count.
    pub renegotiated: Vec<DocumentId>,
    /// The phone's clock minus the relay's, in milliseconds (positive: the phone's is ahead, as
    /// on the members page), when they are more than
    /// [`CLOCK_OFF_BY_MS`](doorstep_core::time::CLOCK_OFF_BY_MS) apart (the phone's date, time or time zone is wrong): what the phone
    /// records is stamped with its own clock, so the app asks the volunteer to set it.
    pub clock_off_by_ms: Option<i64>,
}

impl SyncReport {
    /// Adds a later run's report to this one. Transient refusals of an earlier run that a later
    /// run got through are not reported.
    pub fn add(&mut self, run: SyncReport) {
        self.requests += run.requests;
        self.bytes_up += run.bytes_up;
        self.bytes_down += run.bytes_down;
        self.document_lists += run.document_lists;
        self.changed.extend(run.changed);
        self.fetched.extend(run.fetched);
        self.dropped.extend(run.dropped);
        self.rejected.extend(run.rejected);
        self.set_aside += run.set_aside;
        self.reapplied += run.reapplied;
        self.retries += run.retries;
        self.failed.extend(run.failed);
        self.removed_from.extend(run.removed_from);
        self.retrying = run.retrying;
        self.set_aside_sent += run.set_aside_sent;
        self.set_aside_decided += run.set_aside_decided;
        self.set_aside_synced += run.set_aside_synced;
        self.retimed += run.retimed;
        self.recovered += run.recovered;
        self.renegotiated.extend(run.renegotiated);
        self.clock_off_by_ms = run.clock_off_by_ms.or(self.clock_off_by_ms);
    }

    /// Documents this sync brought new content for, each counted once: those the relay's
    /// replies changed and those it sent whole for the first time.
    pub fn news(&self) -> usize {
        let mut documents: Vec<DocumentId> = self.changed.iter().chain(&self.fetched).copied().collect();
        documents.sort_unstable();
        documents.dedup();
        documents.len()
    }
}

/// A sync in progress.
#[derive(Debug)]
pub struct SyncRun {
    session: ClientSession,
    report: SyncReport,
    /// Documents refused transiently in this run: they sit out its remaining requests.
    deferred: BTreeSet<DocumentId>,
    /// Whether one of those refusals may pass within seconds ([`Rejection::may_pass_soon`]), so
    /// the sync tries again after a short wait.
    deferred_briefly: bool,
    /// This device's changes each document had when a request of this run was built: only
    /// these can be what the relay refused, never changes made while the sync was in flight.
    sent: HashMap<DocumentId, HashSet<ChangeHash>>,
    /// This device's changes carried by the last request, per document.
    last_sent: HashMap<DocumentId, HashSet<ChangeHash>>,
    /// Changes the relay took in this run: sent, and their document not refused in the answer
    /// (the relay commits before it answers). A document dropped in the same answer (the
    /// coordinator's own `close_round`) keeps none of these in quarantine.
    accepted: HashSet<ChangeHash>,
    /// The last request, when it went in the compact form: sent again in the plain form if
    /// the relay cannot read it ([`SyncRun::plain_again`]).
    compact_sent: Option<SyncRequest>,
    /// Whether the budget was set for this run ([`SyncRun::with_request_bytes`]) and does not
    /// follow the link.
    budget_fixed: bool,
    /// The last request's size.
    last_request_bytes: usize,
    /// The last answer's size, as [`SyncRun::handle_response`] counted it.
    last_answer_bytes: usize,
    /// Requests of at least half the budget answered in a row since it last changed.
    carried_in_a_row: u32,
    /// The link dropped a request lately (this run, or the budget it started from was below its
    /// most): each request asks the relay for replies within the budget, even once the budget
    /// is back at its most, so that a reply is never longer than the link has lately carried.
    asks_small_replies: bool,
    /// How fast the link carried this run's exchanges, from the replica's and back to it (see
    /// `link_rate.rs`).
    link_rate: LinkRate,
    /// The run started on a link that had dropped a request: documents held nothing of, and
    /// those far behind the relay, are left to [`crate::http::fetch_copies`], which keeps every
    /// byte of them that arrives, instead of coming in answers that a window of signal cuts.
    copies_left_out: bool,
    /// The relay's clock minus the phone's, from the last answer that gave the relay's time.
    relay_clock_offset_ms: Option<i64>,
}

/// The documents a run still syncs: every held one but those refused transiently, and, on a
/// link that drops requests, those waiting for a copy (`copy_fetch.rs`).
struct Syncing<'a> {
    replica: &'a Replica,
    deferred: &'a BTreeSet<DocumentId>,
    copies_left_out: bool,
}

impl Syncing<'_> {
    fn syncs(&self, id: DocumentId) -> bool {
        if self.deferred.contains(&id) {
            return false;
        }
        let waits = || {
            DocumentSet::get(&self.replica.compounds, id).is_some_and(|d| self.replica.waits_for_a_copy(d))
        };
        !(self.copies_left_out && waits())
    }
}

impl DocumentSet for Syncing<'_> {
    fn document_ids(&self) -> Vec<DocumentId> {
        let mut ids = self.replica.compounds.document_ids();
        ids.retain(|id| self.syncs(*id));
        ids
    }

    fn get(&self, id: DocumentId) -> Option<&Document> {
        if self.syncs(id) { DocumentSet::get(&self.replica.compounds, id) } else { None }
    }

    fn get_mut(&mut self, _id: DocumentId) -> Option<&mut Document> {
        // Requests only read documents.
        None
    }
}

impl Replica {
    /// Starts a sync run from the persisted sync states.
    pub fn start_sync(&self) -> SyncRun {
        // Each run starts from what persisting keeps (the shared heads). The in-memory states
        // still carry the last run's sent-message bookkeeping, with which Automerge stays silent
        // about documents it believes in sync, and the relay's newer changes would never be asked
        // for until the app restarted.
        let states = self.peer_states.iter().map(|(id, state)| (*id, state.as_at_session_start())).collect();
        SyncRun {
            session: {
                let mut session = ClientSession::new(states).with_known_grants(self.known_grants.clone());
                request_budget::fit(&mut session, self.request_budget);
                session
            },
            report: SyncReport::default(),
            deferred: BTreeSet::new(),
            deferred_briefly: false,
            sent: HashMap::new(),
            last_sent: HashMap::new(),
            accepted: HashSet::new(),
            compact_sent: None,
            budget_fixed: false,
            last_request_bytes: 0,
            last_answer_bytes: 0,
            carried_in_a_row: 0,
            asks_small_replies: self.reply_budget().is_some(),
            link_rate: self.link_rate,
            copies_left_out: self.reply_budget().is_some(),
            relay_clock_offset_ms: None,
        }
    }
}

impl SyncRun {
    /// Before the run's first request: a document with more heads than a sync message carries
    /// gets a merge change of this device, stored at once, and a sync state naming more heads
    /// than a message carries starts afresh (core's `sync/heads_merge.rs`); refused for them at
    /// every sync otherwise, the phone would never send its work or hear anyone's again.
    pub fn merge_many_heads(&mut self, replica: &mut Replica) -> Result<(), ReplicaError> {
        for merged in self.session.merge_many_heads(&mut replica.compounds) {
            if !merged.merged {
                continue;
            }
            let compound = DocumentSet::get(&replica.compounds, merged.doc).map(Document::compound);
            if let Some(compound) = compound {
                replica.persist(compound, &[merged.doc])?;
            }
        }
        Ok(())
    }

    /// The relay answered at `relay_time` (its clock), heard at `device_now` (the phone's). A
    /// phone whose clock is off by more than [`CLOCK_OFF_BY_MS`](doorstep_core::time::CLOCK_OFF_BY_MS) is told so in the report, and what
    /// the relay refuses for a time that clock wrote is carried out again by the relay's
    /// (`set_aside::Retime`).
    pub fn heard_relay_clock(&mut self, relay_time: Timestamp, device_now: Timestamp) {
        let offset = relay_time.as_millis().saturating_sub(device_now.as_millis());
        self.relay_clock_offset_ms = Some(offset);
        self.report.clock_off_by_ms = clock_is_off(offset).then_some(offset.saturating_neg());
    }

    /// The next request's bytes (CBOR `SyncRequest`), or `None` when in sync.
    pub fn next_request(&mut self, replica: &Replica) -> Option<Vec<u8>> {
        if self.session.requests_made() >= MAX_REQUESTS {
            tracing::warn!(requests = MAX_REQUESTS, "sync run stopped after too many requests");
            return None;
        }
        let syncing = Syncing { replica, deferred: &self.deferred, copies_left_out: self.copies_left_out };
        let request = self.session.request(&syncing)?;
        let device = replica.device_actor();
        self.last_sent.clear();
        for message in &request.messages {
            let Some(doc) = DocumentSet::get(&replica.compounds, message.doc) else { continue };
            let shared: Vec<ChangeHash> = self
                .session
                .states()
                .get(&message.doc)
                .map(|s| s.shared_heads().to_vec())
                .unwrap_or_default();
            // What the message carries: a backlog past the request's budget goes over several
            // requests, and only what went can be what the relay took or refused.
            let carried: HashSet<ChangeHash> = self.session.carried(message.doc).iter().copied().collect();
            let sent = self.sent.entry(message.doc).or_default();
            let last = self.last_sent.entry(message.doc).or_default();
            // Only each change's actor and hash are needed: the metadata, not the change itself,
            // which Automerge 0.12 would rebuild from the op set for every document of every request.
            for change in doc.automerge().get_changes_meta(&shared) {
                if change.actor.as_ref() == device && carried.contains(&change.hash) {
                    sent.insert(change.hash);
                    last.insert(change.hash);
                }
            }
        }
        let bytes = if replica.relay_reads_compact { request.encode_compact() } else { request.encode() };
        self.compact_sent = replica.relay_reads_compact.then_some(request);
        self.report.requests += 1;
        self.report.bytes_up += bytes.len();
        self.last_request_bytes = bytes.len();
        Some(bytes)
    }

    /// This device's changes the last request carries, per document: kept with a request sent
    /// in pieces, since its answer may come in a later run.
    pub fn carried_by_last_request(&self) -> Vec<(DocumentId, Vec<ChangeHash>)> {
        self.last_sent.iter().map(|(doc, hashes)| (*doc, hashes.iter().copied().collect())).collect()
    }

    /// The request an earlier run began sending in pieces goes on now (`request_in_pieces.rs`):
    /// its answer is handled as this run's, what it carries as sent by this run.
    pub fn sends_earlier_request(&mut self, request: &RequestInPieces) {
        self.last_sent.clear();
        for (doc, hashes) in &request.carries {
            self.sent.entry(*doc).or_default().extend(hashes.iter().copied());
            self.last_sent.entry(*doc).or_default().extend(hashes.iter().copied());
        }
        self.compact_sent = None;
        self.report.requests += 1;
        self.report.bytes_up += request.bytes.len();
        self.last_request_bytes = request.bytes.len();
    }

    /// The relay took an earlier run's request in pieces but its answer was lost: this run's
    /// first messages ask the relay's heads before they carry changes, rather than carry the
    /// same changes again.
    pub fn relay_took_earlier_request(&mut self) {
        self.session.ask_before_sending();
    }

    /// The last request was sent again as it is (uncompressed, after a relay refused it
    /// compressed): counted as another request of `bytes`.
    pub fn sent_again(&mut self, bytes: usize) {
        self.report.requests += 1;
        self.report.bytes_up += bytes;
        self.last_request_bytes = bytes;
    }

    /// What the link carried for the last request and its answer (compressed with
    /// `Content-Encoding: deflate`, when they went so), and how long that took from the
    /// request's start to the answer's last byte: the report counts the link's bytes, the ones a
    /// volunteer waits for, and the replies asked for follow the link's rate
    /// ([`SyncRun::reply_budget`]). Call after [`SyncRun::handle_response`].
    pub fn carried_on_the_wire(&mut self, sent: usize, received: usize, took: std::time::Duration) {
        self.report.bytes_up = self.report.bytes_up.saturating_sub(self.last_request_bytes) + sent;
        self.report.bytes_down = self.report.bytes_down.saturating_sub(self.last_answer_bytes) + received;
        self.last_answer_bytes = received;
        self.link_rate.carried(sent + received, took);
    }

    /// After the last request was not carried: no answer came (the connection dropped or timed
    /// out) or the relay gave up reading it (408). The next requests, in this run or the next
    /// one, carry half as much (see `request_budget.rs`).
    pub fn request_failed(&mut self, replica: &mut Replica) -> Result<(), ReplicaError> {
        self.link_dropped(replica, false)
    }

    /// [`SyncRun::request_failed`] for a request that went in pieces: the budget stays, since
    /// the relay kept what the link carried of it and the next window sends the rest.
    pub fn piece_cut(&mut self, replica: &mut Replica) -> Result<(), ReplicaError> {
        self.link_dropped(replica, true)
    }

    fn link_dropped(&mut self, replica: &mut Replica, in_pieces: bool) -> Result<(), ReplicaError> {
        if self.budget_fixed {
            return Ok(());
        }
        self.asks_small_replies = true;
        replica.link_rate = self.link_rate;
        if in_pieces {
            return Ok(());
        }
        self.follow_link(replica, request_budget::halved(self.session.request_bytes()))
    }

    /// The most bytes each answer should carry, asked of the relay with the next request, while
    /// the link has lately dropped a request: about two seconds of the link at the rate it
    /// carried this run's or the last runs' exchanges, within the request budget (the budget
    /// until a rate is known; see `link_rate.rs`). `None` (no bound) otherwise. See core's
    /// `sync/reply_budget.rs`.
    pub fn reply_budget(&self) -> Option<usize> {
        (self.asks_small_replies && !self.budget_fixed)
            .then(|| self.link_rate.piece_within(self.session.request_bytes()))
    }

    fn follow_link(&mut self, replica: &mut Replica, budget: usize) -> Result<(), ReplicaError> {
        self.carried_in_a_row = 0;
        let before = self.session.request_bytes();
        if budget == before {
            return Ok(());
        }
        tracing::info!(from = before, to = budget, "sync request budget fitted to the link");
        request_budget::fit(&mut self.session, budget);
        replica.request_budget = budget;
        request_budget::keep(replica.store_mut(), budget)
    }

    /// After the relay refused the last request as unreadable (400): if it went in the compact
    /// form, the same request in the plain form, which every relay reads, and the replica
    /// forgets that the relay reads compact ones (an older relay, or one rolled back) until it
    /// says so again. `None` when the last request was plain: the refusal stands.
    pub fn plain_again(&mut self, replica: &mut Replica) -> Result<Option<Vec<u8>>, ReplicaError> {
        let Some(request) = self.compact_sent.take() else { return Ok(None) };
        tracing::info!("the relay did not read a compact request; sending it in the plain form");
        replica.store_mut().commit(&[relay_reads::forget(RelayReads::CompactRequests)])?;
        replica.relay_reads_compact = false;
        let bytes = request.encode();
        self.report.requests += 1;
        self.report.bytes_up += bytes.len();
        self.last_request_bytes = bytes.len();
        Ok(Some(bytes))
    }

    /// Applies the relay's response bytes and persists everything it changed.
    pub fn handle_response(
        &mut self,
        replica: &mut Replica,
        bytes: &[u8],
        now: Timestamp,
    ) -> Result<(), ReplicaError> {
        self.report.bytes_down += bytes.len();
        self.last_answer_bytes = bytes.len();
        // An answer that does not decode came from something on the way as often as from the
        // relay (a sign-in page not labelled as one, a cut or empty body): it is not a bug, and
        // the work stays for the next try.
        let response = SyncResponse::decode(bytes).map_err(|e| {
            tracing::info!(error = %e, bytes = bytes.len(), "a sync answer did not decode");
            ReplicaError::NotTheRelaysAnswer(e.to_string())
        })?;
        // The link carried two exchanges in a row of at least half the budget, up or down (a
        // reply cut to the budget counts): it may carry twice as much. One is not enough: on the stairs, the request after a doubling is the
        // one the end of the window cuts, and the budget would swing between two sizes.
        let budget = self.session.request_bytes();
        if !self.budget_fixed && self.last_request_bytes.max(bytes.len()) >= budget / 2 {
            self.carried_in_a_row += 1;
            if self.carried_in_a_row >= request_budget::CARRIED_TO_GROW {
                self.follow_link(replica, request_budget::doubled(budget))?;
            }
        }
        if response.reads_compact && !replica.relay_reads_compact {
            replica.store_mut().commit(&[relay_reads::remember(RelayReads::CompactRequests)])?;
            replica.relay_reads_compact = true;
        }
        let refused: HashSet<DocumentId> = response.rejected.iter().map(|r| r.doc).collect();
        // Taken only when the relay answered the document. An answer that says nothing of it
        // (a broken relay, or an answer forged on a plain-HTTP path) does not count: should that
        // same answer withdraw the document, these changes go to quarantine, not with it. A
        // relay in step with the phone says nothing either; its changes are then quarantined
        // too if the document is withdrawn in this run, which costs a duplicate, never work.
        let replied: HashSet<DocumentId> = response.messages.iter().map(|m| m.doc).collect();
        for (doc, hashes) in self.last_sent.drain() {
            if replied.contains(&doc) && !refused.contains(&doc) {
                self.accepted.extend(hashes);
            }
        }
        // A message taken in part: the relay names the changes it took despite the refusal.
        for rejection in &response.rejected {
            let sent = self.sent.get(&rejection.doc);
            let taken = rejection.taken.iter().filter_map(|h| h.parse::<ChangeHash>().ok());
            self.accepted.extend(taken.filter(|h| sent.is_some_and(|s| s.contains(h))));
        }
        let answered: Vec<DocumentId> = response.messages.iter().map(|m| m.doc).collect();
        let outcome = self.session.handle(&mut replica.compounds, response);
        // Documents whose relay is ahead by more than this answer brought: a copy may bring
        // them faster once the link drops requests (`copy_fetch.rs`).
        for doc in answered {
            if let Some(state) = self.session.states().get(&doc) {
                replica.note_relay_heads(doc, state, self.asks_small_replies)?;
            }
        }
        if outcome.documents_listed {
            self.report.document_lists += 1;
        }

        // Content that arrived: a document adopted whole is stored as the snapshot it came as,
        // changes that were exactly the document's new ones as the chunk they came as.
        for id in &outcome.changed {
            if let Some(compound) =
                replica.compounds.values().find(|c| c.document(*id).is_some()).map(Compound::id)
            {
                let adopted = outcome.adopted.iter().find(|(adopted, _)| adopted == id);
                let received = outcome.received.iter().find(|(received, _)| received == id);
                match (adopted, received) {
                    (Some((_, snapshot)), _) => replica.persist_snapshot(compound, *id, snapshot)?,
                    (None, Some((_, changes))) => replica.persist_received(compound, *id, changes)?,
                    (None, None) => replica.persist(compound, &[*id])?,
                }
            }
        }
        self.report.changed.extend(&outcome.changed);
        self.report.failed.extend(outcome.failed.iter().map(|(id, e)| format!("{id}: {e}")));

        // Roles and new documents.
        let mut role_writes = Vec::new();
        for grant in &outcome.grants {
            if replica.role(grant.header.compound) != Some(grant.role) {
                role_writes.push((grant.header.compound, grant.role));
            }
        }
        for (compound, role) in role_writes {
            replica.store_mut().commit(&[Write::Role { compound, role: role.as_str() }])?;
            replica.set_role(compound, Some(role));
        }
        for header in &outcome.to_fetch {
            let device = replica.device_actor().clone();
            replica
                .compounds
                .entry(header.compound)
                .or_insert_with(|| Compound::new(header.compound, device.clone()))
                .insert(Document::placeholder(*header, device));
            self.report.fetched.push(header.id);
        }

        // The relay holds other changes under this device's actor: the phone runs on an older
        // copy of its data. Its unsynced work is written again under a new actor, and the
        // documents rebuilt are negotiated again in this same run.
        // So is a change of this device's held for "another phone": the relay bound this
        // device's actor to someone else (a relay restored from an older backup, where another
        // phone offered this one's work first, before phones said which actor they write
        // under); written again under a new actor, the work is this phone's person's again.
        let own_held = |r: &Rejection| r.rule == HELD_FOR_ITS_AUTHOR && written_here(replica, r);
        let (reused, rejected): (Vec<Rejection>, Vec<Rejection>) =
            outcome.rejected.into_iter().partition(|r| r.actor_reused() || own_held(r));
        if !reused.is_empty() {
            // The file is an older copy of itself (restored from a backup): whatever it kept of
            // the relay's answers is forgotten, the document list with the rest.
            self.session.forget_known_grants();
            let states = self.session.states();
            let shared_of =
                |doc: DocumentId| states.get(&doc).map(|s| s.shared_heads().to_vec()).unwrap_or_default();
            // What the relay's reply shows it holds, although that reply could not be applied:
            // a change this copy still took for unsynced that the original phone synced (the
            // relay's newer change under the old actor depends on it) is not written again.
            let empty = BTreeSet::new();
            let held_of = |doc: DocumentId| outcome.relay_holds.get(&doc).unwrap_or(&empty);
            let (rebuilt, done) = rotate_device_actor(replica, shared_of, held_of, now)?;
            self.report.set_aside += done.set_aside;
            self.report.reapplied += done.reapplied;
            for doc in rebuilt.iter().chain(reused.iter().map(|r| &r.doc)) {
                let kept =
                    self.session.states().get(doc).map(PeerState::as_at_session_start).unwrap_or_default();
                self.session.reset(*doc, kept);
                // The relay's reply could not be applied over the old actor's changes either;
                // it comes again now that they are gone.
                let prefix = format!("{doc}: ");
                self.report.failed.retain(|f| !f.starts_with(&prefix));
            }
        }

        // A transient refusal keeps the changes: the document sits out this run and is sent
        // again later. A permanent one sets aside the refused operation only, before any
        // document is dropped: a change refused because its round closed must still be kept.
        for rejection in rejected {
            let believed_shared =
                self.session.states().get(&rejection.doc).is_some_and(|s| !s.shared_heads().is_empty());
            if rejection.lacks_dependencies() && believed_shared {
                // The relay lacks heads this phone believed shared (a relay restored from an
                // older backup): forget them and let the next request find what is missing.
                tracing::warn!(doc = %rejection.doc, "the relay lacks changes we believed it had; negotiating the document again");
                self.session.reset(rejection.doc, PeerState::new());
                self.report.renegotiated.push(rejection.doc);
                continue;
            }
            if rejection.rule == NOT_HELD {
                // The relay does not hold the document at all (restored from a backup older than
                // it): nothing of it is shared, so all of this phone's work in it counts as not
                // yet synced, and goes whole once a coordinator's phone has brought it back.
                tracing::warn!(doc = %rejection.doc, "the relay does not hold a document this phone holds; kept, with its work");
                self.session.reset(rejection.doc, PeerState::new());
                // Dropped in this same answer (its compound no longer this phone's), all of this
                // device's work in it is set aside, none taken for shared.
                replica.peer_states.insert(rejection.doc, PeerState::new());
            }
            if rejection.is_transient() {
                tracing::info!(doc = %rejection.doc, rule = %rejection.rule, "relay busy for a document; it is sent again later");
                self.deferred.insert(rejection.doc);
                self.deferred_briefly |= rejection.may_pass_soon();
                self.report.retrying.push(rejection);
                continue;
            }
            let shared: Vec<ChangeHash> = self
                .session
                .states()
                .get(&rejection.doc)
                .map(|s| s.shared_heads().to_vec())
                .unwrap_or_default();
            let sent = self.sent.get(&rejection.doc).cloned().unwrap_or_default();
            let retime = self.relay_clock_offset_ms.map(|offset_ms| Retime {
                offset_ms,
                relay_now: Timestamp::from_millis(now.as_millis().saturating_add(offset_ms)),
            });
            let done = set_aside_refused(replica, &shared, &rejection, &sent, now, retime)?;
            self.report.set_aside += done.set_aside;
            self.report.reapplied += done.reapplied;
            self.report.retimed += done.retimed;
            // The relay forgot its side; ours keeps the heads both sides share, which stay true.
            let kept = self
                .session
                .states()
                .get(&rejection.doc)
                .map(PeerState::as_at_session_start)
                .unwrap_or_default();
            self.session.reset(rejection.doc, kept);
            // Carried out again by the relay's clock, nothing set aside: not a refusal for the
            // volunteer (the report's clock line says why).
            if done.set_aside > 0 || done.retimed == 0 {
                self.report.rejected.push(rejection);
            }
        }

        // Documents no longer granted. Local changes the relay never received (an attempt made
        // offline on a round closed meanwhile) are kept in quarantine, not dropped with it.
        // Names come from the roster, which may be among the documents dropped first: take them
        // all before anything goes, so the phone can say which compound it was removed from.
        let names: HashMap<_, _> = if outcome.to_drop.is_empty() {
            HashMap::new()
        } else {
            replica.compounds.values().map(|c| (c.id(), c.name())).collect()
        };
        // A compound of the person signed in before a hand-over is no removal of this one.
        let handed_over = if outcome.to_drop.is_empty() { HashSet::new() } else { replica.handed_over()? };
        for id in &outcome.to_drop {
            let Some(compound) =
                replica.compounds.values().find(|c| c.document(*id).is_some()).map(Compound::id)
            else {
                continue;
            };
            self.report.set_aside += withhold_unsynced(replica, *id, &self.accepted, now)?;
            let name = names.get(&compound).cloned().unwrap_or_default();
            replica.store_mut().commit(&[Write::Delete { doc: *id }])?;
            replica.forget_saved(*id);
            replica.peer_states.remove(id);
            let now_empty = replica.compounds.get_mut(&compound).is_some_and(|c| {
                c.remove(*id);
                c.documents().next().is_none()
            });
            if now_empty {
                replica.compounds.remove(&compound);
                replica.store_mut().commit(&[Write::DeleteRole { compound }])?;
                replica.set_role(compound, None::<Role>);
                if !name.is_empty() && !handed_over.contains(&compound) {
                    replica.remember_removal(std::slice::from_ref(&name))?;
                    self.report.removed_from.push(name);
                }
            }
            self.report.dropped.push(*id);
            // A document dropped waits for nothing: what was kept of it is set aside.
            self.report.retrying.retain(|r| r.doc != *id);
            self.deferred.remove(id);
        }
        // A withdrawn document leaves nothing behind: not in free pages, not in the WAL.
        if !outcome.to_drop.is_empty() {
            replica.store_mut().scrub()?;
        }

        // Sync states, so the next run (or a retry) starts from here.
        let states: Vec<(DocumentId, Vec<u8>)> =
            self.session.states().iter().map(|(id, s)| (*id, s.encode())).collect();
        let mut writes: Vec<Write<'_>> =
            states.iter().map(|(doc, state)| Write::PeerState { doc: *doc, state }).collect();
        // The document list applied, kept with the states so the relay may leave it out next time.
        let known = self.session.known_grants().map(<[_]>::to_vec);
        let known_bytes = known.as_deref().map(known_grants::encode);
        if known != replica.known_grants {
            writes.push(match &known_bytes {
                Some(value) => Write::Meta { key: known_grants::KNOWN_GRANTS, value },
                None => known_grants::forget(),
            });
        }
        replica.store_mut().commit(&writes)?;
        replica.known_grants = known;
        for (id, state) in self.session.states() {
            replica.peer_states.insert(*id, state.clone());
        }
        forget_synced_journal(replica)?;
        Ok(())
    }

    /// Carries at most `bytes` of messages per request for this whole run, instead of the
    /// budget that follows the link: for a benchmark comparing budgets on a slow link.
    #[must_use]
    pub fn with_request_bytes(mut self, bytes: usize) -> Self {
        self.session = self.session.with_request_bytes(bytes);
        self.budget_fixed = true;
        self
    }

    /// Whether some document was refused by a transient refusal that may pass within seconds
    /// and waits for another run. One refused for longer (a document full, or its sender's
    /// share of it used up) waits for the next sync instead: sending it again now only spends
    /// the link.
    pub fn has_deferred(&self) -> bool {
        self.deferred_briefly
    }

    /// Ends a run that reached quiescence. The sync's time is recorded by whoever runs the
    /// whole sync, once every step of it got through (`http::sync`'s `completed`).
    pub fn finish(self, replica: &mut Replica) -> Result<SyncReport, ReplicaError> {
        replica.link_rate = self.link_rate;
        replica.forget_handed_over()?;
        Ok(self.report)
    }

    /// The report so far.
    pub fn report(&self) -> &SyncReport {
        &self.report
    }
}

/// Whether the change `rejection` names was written under this device's current actor.
fn written_here(replica: &Replica, rejection: &Rejection) -> bool {
    use automerge::ReadDoc;
    let Some(hash) = rejection.change.as_deref().and_then(|h| h.parse::<ChangeHash>().ok()) else {
        return false;
    };
    replica
        .compounds
        .values()
        .find_map(|c| c.document(rejection.doc))
        .and_then(|doc| doc.automerge().get_change_by_hash(&hash))
        .is_some_and(|change| change.actor_id() == replica.device_actor())
}

/// Keeps this device's changes to `doc` that the relay is not known to have in quarantine, one
/// item per operation, before the document leaves the device. Returns how many items.
fn withhold_unsynced(
    replica: &mut Replica,
    doc: DocumentId,
    accepted: &HashSet<ChangeHash>,
    now: Timestamp,
) -> Result<usize, ReplicaError> {
    let device = replica.device_actor().clone();
    let shared: Vec<ChangeHash> =
        replica.peer_states.get(&doc).map(|s| s.shared_heads().to_vec()).unwrap_or_default();
    let Some((compound, document)) =
        replica.compounds.values().find_map(|c| c.document(doc).map(|d| (c.id(), d)))
    else {
        return Ok(0);
    };
    let kind = document.kind();
    let unsynced: Vec<(String, Vec<u8>)> = document
        .automerge()
        .get_changes(&shared)
        .iter()
        .filter(|c| c.actor_id() == &device && !accepted.contains(&c.hash()))
        .map(|c| (c.hash().to_string(), c.raw_bytes().to_vec()))
        .collect();
    if unsynced.is_empty() {
        return Ok(0);
    }
    let reason = format!(
        "the relay no longer lets this device hold {kind} {doc} (a closed round or a revoked membership), so these changes could not be synced; show them to a coordinator"
    );
    let journal: HashMap<String, crate::journal::JournalEntry> =
        replica.store().journal_of(doc)?.into_iter().collect();
    let leaving: Vec<Leaving> = unsynced
        .into_iter()
        .map(|(hash, bytes)| {
            let entry = journal.get(&hash).cloned();
            Leaving::new(hash, bytes, entry, crate::set_aside::DOCUMENT_WITHDRAWN, &reason)
        })
        .collect();
    let items = crate::set_aside::one_per_operation(leaving);
    let mut writes: Vec<Write<'_>> = Vec::new();
    for item in &items {
        writes.extend(item.writes((compound, doc), now.as_millis()));
    }
    replica.store_mut().commit(&writes)?;
    tracing::warn!(%doc, items = items.len(), "unsynced changes of a withdrawn document moved to quarantine");
    Ok(items.len())
}

/// Drops from the journal every change the relay now holds (or that left the device): only
/// changes that may still have to be carried out again are kept.
fn forget_synced_journal(replica: &mut Replica) -> Result<(), ReplicaError> {
    let journaled = replica.store().journal_hashes()?;
    if journaled.is_empty() {
        return Ok(());
    }
    let mut unsynced: HashMap<String, HashSet<String>> = HashMap::new();
    let mut done: Vec<String> = Vec::new();
    for (hash, doc) in journaled {
        // A document that did not load is not held, but its operations are not done: their
        // journal entries are the only record of them left (two copies of the app writing one
        // file once made a round unloadable, and its knocks were forgotten here).
        if doc.parse::<DocumentId>().is_ok_and(|id| replica.did_not_load(id)) {
            continue;
        }
        let pending = unsynced.entry(doc.clone()).or_insert_with(|| {
            let Some(id) = doc.parse::<DocumentId>().ok() else { return HashSet::new() };
            let Some(document) = DocumentSet::get(&replica.compounds, id) else { return HashSet::new() };
            let shared: Vec<ChangeHash> =
                replica.peer_states.get(&id).map(|s| s.shared_heads().to_vec()).unwrap_or_default();
            document.automerge().get_changes(&shared).iter().map(|c| c.hash().to_string()).collect()
        });
        if !pending.contains(&hash) {
            done.push(hash);
        }
    }
    let writes: Vec<Write<'_>> = done.iter().map(|hash| Write::JournalForget { hash }).collect();
    replica.store_mut().commit(&writes)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use doorstep_core::schema::address::Address;
    use doorstep_core::schema::household::HouseholdDraft;
    use doorstep_core::schema::vocabulary::{Outcome, Priority, TaskKind};
    use doorstep_core::{Actor, Compound, Env, Operation, Role, Selection, Timestamp};

    use super::*;

    /// A stored document that does not load (two copies of the app once wrote one file and
    /// made a round unloadable) keeps its journal: its knocks are recorded nowhere else.
    #[test]
    fn the_journal_of_a_document_that_did_not_load_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("phone.sqlite");
        let now = Timestamp::from_millis(1_790_000_000_000);
        let round = {
            let mut replica = Replica::open(&path).unwrap();
            let person: doorstep_core::id::PersonId = "01935f3e-0000-7000-8000-000000000001".parse().unwrap();
            replica.set_identity(person).unwrap();
            let mut seed = 7u128;
            let mut entropy = move || {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                seed
            };
            let actor = Actor { person, role: Role::Admin };
            let compound = Compound::create(
                &mut Env::new(now, &mut entropy),
                &actor,
                replica.device_actor().clone(),
                "香樟苑",
            )
            .unwrap();
            let id = compound.id();
            replica.adopt(compound, Role::Admin).unwrap();
            let address = Address {
                estate: String::new(),
                building: "1".into(),
                unit: "1".into(),
                floor: 1,
                flat: "101".into(),
            };
            let draft = HouseholdDraft {
                address,
                head: "王芳".into(),
                phone: String::new(),
                people: Some(1),
                aged_60_plus: 0,
                children_under_6: 0,
                needs: Default::default(),
                status: Default::default(),
                lift: false,
                notes: String::new(),
            };
            replica.apply(now, id, &Operation::AddHousehold { draft }).unwrap();
            let create = Operation::CreateRound {
                title: "蔬菜包".into(),
                kind: TaskKind::Groceries,
                date: "2026-11-23".into(),
                selection: Selection::All,
                items: "蔬菜包1份".into(),
                priority: Priority::Normal,
            };
            replica.apply(now, id, &create).unwrap();
            let task = replica.compounds().next().unwrap().open_tasks()[0].clone();
            let knock = Operation::RecordAttempt {
                round: task.round,
                task: task.id,
                outcome: Outcome::NobodyHome,
                note: "敲门".into(),
            };
            replica.apply(now, id, &knock).unwrap();
            task.round
        };
        let of_round = |replica: &Replica| -> usize {
            let all = replica.store().journal_hashes().unwrap();
            all.iter().filter(|(_, doc)| *doc == round.to_string()).count()
        };
        let before = of_round(&Replica::open(&path).unwrap());
        assert!(before >= 2, "the round's creation and the knock are journaled");
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute("UPDATE documents SET snapshot = x'00112233' WHERE kind = 'round'", []).unwrap();
        conn.execute("DELETE FROM chunks WHERE doc IN (SELECT id FROM documents WHERE kind = 'round')", [])
            .unwrap();
        drop(conn);
        let mut replica = Replica::open(&path).unwrap();
        assert!(replica.did_not_load(round), "{:?}", replica.load_problems());
        forget_synced_journal(&mut replica).unwrap();
        assert_eq!(of_round(&replica), before, "nothing of the round's journal is forgotten");
    }
}
