//! `POST /v1/sync` without the HTTP: one request's document messages in, the replies, the
//! rejections and the documents the caller may hold out.
//!
//! Documents are synced one after another, each under its own lock and in its own transaction,
//! so a rejected or failed document never holds the others back. Retrying a request is
//! harmless: changes the relay has already are filtered out before anything is checked, and
//! Automerge never applies a change twice.

mod document;
pub mod rejection;
mod work;

use std::collections::BTreeSet;

use doorstep_core::id::{DocumentId, PersonId};
use doorstep_core::sync::{DocMessage, SyncRequest, SyncResponse, WIRE_VERSION};

use crate::access::Access;
use crate::clock;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::relay::Relay;
use crate::storage::{DeviceId, StorageError};

/// Who is syncing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    /// The person.
    pub person: PersonId,
    /// Their device.
    pub device: DeviceId,
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
    /// The same document twice.
    #[error("document {0} appears more than once in the request; send one message per document")]
    DuplicateDocument(DocumentId),
    /// The device keeps asking for the whole of a document.
    #[error(transparent)]
    RefetchLoop(#[from] crate::refetch_guard::RefetchLoop),
    /// Storage failed before any document could be looked at.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Syncs every document message of `request` for `caller`.
pub async fn sync_batch(
    relay: &Relay,
    config: &Config,
    metrics: &Metrics,
    caller: Caller,
    request: SyncRequest,
) -> Result<SyncResponse, SyncBatchError> {
    let limit = config.limits.max_docs_per_request;
    if request.messages.len() > limit {
        return Err(SyncBatchError::TooManyDocuments { count: request.messages.len(), limit });
    }
    let mut seen = BTreeSet::new();
    if let Some(dup) = request.messages.iter().find(|m| !seen.insert(m.doc)) {
        return Err(SyncBatchError::DuplicateDocument(dup.doc));
    }
    // Asking for the whole of a document is cheap to send and dear to answer; a device may do
    // it only a few times per document and window (see `refetch_guard`).
    let now = std::time::Instant::now();
    for m in &request.messages {
        if doorstep_core::sync::decode(&m.message)
            .is_ok_and(|d| crate::refetch_guard::asks_for_everything(&d))
        {
            relay.refetch_guard().check(caller.device, m.doc, now)?;
        }
    }
    let access = Access::load(relay.storage(), caller.person).await?;
    let mut response = SyncResponse {
        version: WIRE_VERSION,
        messages: Vec::new(),
        documents: Vec::new(),
        rejected: Vec::new(),
    };
    let mut states = Vec::new();
    for message in request.messages {
        let doc = message.doc;
        let outcome = document::sync_document(relay, config, &caller, &access, message).await;
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
    response.documents = Access::load(relay.storage(), caller.person).await?.grants();
    Ok(response)
}
