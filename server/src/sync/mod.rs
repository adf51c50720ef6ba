//! `POST /v1/sync` without the HTTP: one request's document messages in, the replies, the
//! rejections and the documents the caller may hold out — or, when the request carries the
//! digest of that very list (`SyncRequest::documents_digest`), that it is unchanged.
//!
//! A request's documents are synced side by side, each through its own work queue: the messages
//! queued for one document are checked and applied in one turn of its lock and committed in one
//! transaction (see [`batch`]), so a rejected or failed document never holds the others back.
//! Before any message is read, the request is admitted only if every document's queue can take
//! it in time; otherwise it is refused whole with 503 and `Retry-After` (see [`admission`] and
//! [`queue`]). Retrying a request is harmless: changes the relay has already are filtered out
//! before anything is checked, and Automerge never applies a change twice.

pub mod admission;
mod batch;
pub mod budget;
mod document;
pub mod queue;
pub mod relay_load;
mod roster_at_hand;
pub mod syncs_in_hand;

/// The rule codes and builders of rejections live with core's relay engine, which makes most of
/// them; the relay's own (busy, damaged, a refetch loop) use the same codes.
pub use doorstep_core::relay_engine::rejection;

use std::collections::BTreeSet;

use doorstep_core::Timestamp;
use doorstep_core::id::{DocumentId, PersonId};
use doorstep_core::sync::reply_budget::ReplyBudget;
use doorstep_core::sync::{
    DocMessage, GrantsDigest, MessageShape, SyncRequest, SyncResponse, WIRE_VERSION, check_message,
};
use doorstep_core::time::clock_is_off;

use crate::access::{Access, Decision};
use crate::clock;
use crate::config::Limits;
use crate::devices_seen::Seen;
use crate::state::AppState;
use crate::storage::{DeviceId, StorageError};
use doorstep_core::sync::writer_header;
use roster_at_hand::SenderRosters;

/// Who is syncing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    /// The person.
    pub person: PersonId,
    /// Their device.
    pub device: DeviceId,
    /// The answer travels compressed (the request said `Accept-Encoding: deflate`), so the
    /// changes a reply would carry are weighed compressed against the whole document.
    pub replies_deflated: bool,
    /// The most bytes the answer may carry, when the phone's link has dropped requests lately
    /// and it asked for small replies (core `sync/reply_budget.rs`): for one document, what the
    /// answer's earlier documents left of it.
    pub reply_budget: Option<ReplyBudget>,
    /// What the phone's clock read when it sent the request (its `Date` header), if it said;
    /// kept to show the coordinators whose clock is wrong (`devices_seen.rs`).
    pub phone_clock: Option<Timestamp>,
    /// The actors the phone says it writes and wrote under (its `x-doorstep-writer` header), if
    /// it said: the only unseen actors its changes bind to it (core `sync/writer_header.rs`).
    pub writers: Option<writer_header::Writers>,
}

/// A request refused as a whole.
#[derive(Debug, thiserror::Error)]
pub enum SyncBatchError {
    /// More document messages than a request may carry.
    #[error(
        "the request carries {count} document messages; at most {limit} are accepted, so send them in several requests"
    )]
    TooManyDocuments {
        /// How many were sent.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// The messages together carry more than one request may.
    #[error(
        "the request's messages carry {count} {what} together; at most {limit} are accepted in one request, so sync fewer documents at a time"
    )]
    OverBudget {
        /// What was counted.
        what: &'static str,
        /// How many the request carries.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// The same document twice.
    #[error("document {0} appears more than once in the request; send one message per document")]
    DuplicateDocument(DocumentId),
    /// The relay holds as much sync work across its documents as it may; nothing was read.
    #[error(
        "the relay is busy: {queued} sync messages are queued across its documents; nothing was \
         accepted, sync again in {} s (中继服务器繁忙，本次未接收任何内容，请 {} 秒后再同步)",
        crate::error::whole_seconds(*retry_after),
        crate::error::whole_seconds(*retry_after)
    )]
    RelayBusy {
        /// Messages queued across all documents.
        queued: usize,
        /// When there will be room.
        retry_after: std::time::Duration,
    },
    /// A document's work queue is too long to answer this request in time; nothing was read.
    #[error(
        "the relay is busy: {queued} sync messages are queued for document {doc}; nothing was \
         accepted, sync again in {} s (中继服务器繁忙，本次未接收任何内容，请 {} 秒后再同步)",
        crate::error::whole_seconds(*retry_after),
        crate::error::whole_seconds(*retry_after)
    )]
    Busy {
        /// The busiest document.
        doc: DocumentId,
        /// Messages queued for it.
        queued: usize,
        /// When its queue will have room.
        retry_after: std::time::Duration,
    },
    /// The caller's device or person already has as many sync requests in hand as it may;
    /// nothing was read.
    #[error(transparent)]
    InProgress(#[from] syncs_in_hand::SyncInProgress),
    /// Storage failed before any document could be looked at.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A request's answer, and what its HTTP head says beside it.
#[derive(Debug)]
pub struct Answered {
    /// The answer.
    pub response: SyncResponse,
    /// The documents whose reply is over the phone's reply budget (core
    /// `sync/document_copy.rs`, `COPY_ADVISED_HEADER`).
    pub copies_advised: Vec<DocumentId>,
}

/// Syncs every document message of `request` for `caller`.
pub async fn sync_batch(
    state: &AppState,
    caller: Caller,
    request: SyncRequest,
) -> Result<Answered, SyncBatchError> {
    let (relay, config, metrics) = (&state.relay, &state.config, &state.metrics);
    // One member's phone must not hold a crowd's share of the relay's work: its place first,
    // before anything of the request is looked at, held until it is answered.
    let _in_hand = relay.syncs_in_hand().acquire(caller, &config.queue)?;
    let seen = Seen::at(clock::now(), caller.phone_clock);
    if seen.clock_off_by_ms.is_some_and(clock_is_off) {
        metrics.clock_off();
    }
    state.relay_clock.saw(caller.device, seen);
    relay.devices_seen().saw(caller.device, seen);
    let known_digest = request.documents_digest;
    let limit = config.limits.max_docs_per_request;
    if request.messages.len() > limit {
        return Err(SyncBatchError::TooManyDocuments { count: request.messages.len(), limit });
    }
    let mut seen = BTreeSet::new();
    if let Some(dup) = request.messages.iter().find(|m| !seen.insert(m.doc)) {
        return Err(SyncBatchError::DuplicateDocument(dup.doc));
    }
    // Every message is read once here, without Automerge, to budget the request as a whole. A
    // message that fails its own check is rejected for its document alone, later, by the
    // engine's `read`; the others still sync.
    let shapes: Vec<Option<MessageShape>> = request
        .messages
        .iter()
        .map(|m| check_message(&m.message, &config.limits.sync_message).ok())
        .collect();
    check_request_budget(&config.limits, &shapes)?;
    let with_changes: BTreeSet<DocumentId> = request
        .messages
        .iter()
        .zip(&shapes)
        .filter(|(_, shape)| shape.as_ref().is_some_and(|s| s.changes > 0))
        .map(|(m, _)| m.doc)
        .collect();
    // Asking for the whole of a document is cheap to send and dear to answer; a device may do
    // it only a few times per document and window (see `refetch_guard`). A document over its
    // allowance is refused on its own (transient: the phone retries later); the request's other
    // documents still sync.
    let mut looping = BTreeSet::new();
    for (m, shape) in request.messages.iter().zip(&shapes) {
        if shape.is_some_and(|s| s.asks_for_everything())
            && let Err(refused) = relay.refetch_guard().check(caller.device, m.doc).await?
        {
            looping.insert((m.doc, refused.to_string()));
        }
    }
    let access = Access::load(relay.storage(), caller.person).await?;
    // Shed load before reading any message: a place in the queue of every document the caller
    // may sync, or a 503 with the time the busiest queue needs.
    let queued = request.messages.iter().map(|m| m.doc).filter(|doc| {
        !looping.iter().any(|(d, _)| d == doc)
            && matches!(access.decide(*doc), Some(Decision::Allowed { .. }))
    });
    let mut places = match relay.queues().admit(queued, &config.queue) {
        Ok(places) => places,
        Err(busy) => {
            metrics.shed();
            tracing::info!(doc = ?busy.doc, queued = busy.queued, retry_after = ?busy.retry_after, "sync shed");
            let (queued, retry_after) = (busy.queued, busy.retry_after);
            return Err(match busy.doc {
                Some(doc) => SyncBatchError::Busy { doc, queued, retry_after },
                None => SyncBatchError::RelayBusy { queued, retry_after },
            });
        }
    };
    let mut response = SyncResponse {
        version: WIRE_VERSION,
        messages: Vec::new(),
        documents: None,
        rejected: Vec::new(),
        reads_compact: false,
    };
    for (doc, reason) in looping.iter().cloned() {
        metrics.rejection(rejection::REFETCH_LOOP);
        response.rejected.push(rejection::reject(doc, rejection::REFETCH_LOOP, None, reason));
    }
    let mut states = Vec::new();
    let mut copies_advised = Vec::new();
    let mut messages: Vec<DocMessage> =
        request.messages.into_iter().filter(|m| !looping.iter().any(|(d, _)| *d == m.doc)).collect();
    let rosters = SenderRosters::of(&messages, &access, &config.limits.sync_message);
    // A roster message that brings changes goes first, the request's other documents once it is
    // committed: a household a coordinator added offline is in the roster before the task or
    // request for it, sent in the same request, is checked (`roster_at_hand`).
    let first = |m: &DocMessage| with_changes.contains(&m.doc) && SenderRosters::is_roster(&access, m.doc);
    messages.sort_by_key(|m| !first(m));
    let rosters_first = messages.iter().take_while(|m| first(m)).count();
    let outcomes = match caller.reply_budget {
        // Every document at once: each waits in its own queue, so the request takes as long as
        // its slowest document, not the sum of them (and its rosters' changes, when it brings
        // some).
        None => {
            let later = messages.split_off(rosters_first);
            let mut outcomes = Vec::with_capacity(messages.len() + later.len());
            for wave in [messages, later] {
                let syncing = wave.into_iter().map(|message| {
                    let doc = message.doc;
                    let place = places.remove(&doc);
                    let (access, caller, rosters) = (&access, &caller, &rosters);
                    async move {
                        (doc, document::sync_document(state, caller, access, rosters, message, place).await)
                    }
                });
                outcomes.extend(futures_util::future::join_all(syncing).await);
            }
            outcomes
        }
        // A phone on a link that drops requests: its budget bounds the whole answer, so the
        // documents go one after another, each replying within what the ones before it left.
        // Its link, not the relay, is what it waits for.
        Some(asked) => {
            let mut outcomes = Vec::with_capacity(messages.len());
            let mut spent = 0usize;
            for message in messages {
                let doc = message.doc;
                let place = places.remove(&doc);
                let given = asked.after(spent);
                let caller = Caller { reply_budget: Some(given), ..caller };
                let outcome =
                    document::sync_document(state, &caller, &access, &rosters, message, place).await;
                let reply = outcome.reply.as_ref().map_or(0, Vec::len);
                // A change bigger than the budget went whole: the answer may be longer than the
                // phone's window of signal, and the head of it says so.
                if reply > given.bytes() {
                    copies_advised.push(doc);
                }
                spent += reply;
                outcomes.push((doc, outcome));
            }
            outcomes
        }
    };
    for (doc, outcome) in outcomes {
        if let Some(reply) = outcome.reply {
            response.messages.push(DocMessage { doc, message: reply });
        }
        if let Some(rejection) = outcome.rejection {
            tracing::info!(doc = %doc, rule = %rejection.rule, reason = %rejection.reason, "document message rejected");
            metrics.rejection(&rejection.rule);
            response.rejected.push(rejection);
        }
        states.extend(outcome.state);
    }
    if !states.is_empty()
        && let Err(e) = relay.storage().put_sync_states(states, clock::now()).await
    {
        // Sync states only save work: the next request starts from an older one and is still
        // correct. The changes themselves were committed already.
        tracing::warn!(error = %e, "sync states not saved");
    }
    // Again, not the start-of-request view: this request may have created or closed a round.
    let grants = Access::load(relay.storage(), caller.person).await?.grants();
    // The list the phone already holds is not sent again: `None` says "unchanged", which only a
    // phone that sent this digest reads. Any other list, the empty one included, is sent whole.
    response.documents = (known_digest != Some(GrantsDigest::of(&grants))).then_some(grants);
    Ok(Answered { response, copies_advised })
}

/// Refuses a request whose messages together carry more changes or hashes than one request may.
fn check_request_budget(limits: &Limits, shapes: &[Option<MessageShape>]) -> Result<(), SyncBatchError> {
    let shapes = shapes.iter().flatten();
    let changes: usize = shapes.clone().map(|s| s.changes).fold(0, usize::saturating_add);
    if changes > limits.max_changes_per_request {
        return Err(SyncBatchError::OverBudget {
            what: "change entries",
            count: changes,
            limit: limits.max_changes_per_request,
        });
    }
    let hashes: usize = shapes
        .map(|s| s.heads.saturating_add(s.need).saturating_add(s.last_sync))
        .fold(0, usize::saturating_add);
    if hashes > limits.max_hashes_per_request {
        return Err(SyncBatchError::OverBudget {
            what: "change hashes (heads, needs and last-sync hashes)",
            count: hashes,
            limit: limits.max_hashes_per_request,
        });
    }
    Ok(())
}
