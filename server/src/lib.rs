//! Doorstep's relay: a small axum + tokio server that merges the documents of volunteers' and
//! coordinators' phones (DESIGN §5).
//!
//! - [`run`] serves a [`Router`] built by [`app`] on a listener until a shutdown future
//!   completes; `main.rs` only parses the command line, sets up logging and calls it.
//! - [`relay::Relay`] is the relay without HTTP (storage, document cache, the relay's own admin
//!   actor); [`sync::sync_batch`] is `POST /v1/sync` without HTTP; [`admin`] holds what the
//!   HTTP API and the `doorstep admin` commands share.
//! - [`storage::Storage`] is the store behind an `Arc<dyn Storage>`; SQLite is the default.
//!
//! **Architecture Invariant:** every change that reaches a stored document was checked by
//! `doorstep_core::validate` against its author's role and bound actor, or written by the relay
//! itself through `Compound::apply`.

pub mod access;
pub mod admin;
pub mod bodies_in_hand;
pub mod cache;
pub mod client;
pub mod clock;
pub mod config;
pub mod connections;
pub mod counts_by_key;
/// Spreadsheet-safe CSV cells, shared with core's importer (which undoes the quoting on re-import).
pub use doorstep_core::csv_cell;
pub mod dashboard;
pub mod demo;
pub mod devices_seen;
pub mod error;
pub mod events;
pub mod growth_share;
pub mod held_requests;
pub mod http;
/// The `doorstep://` links the members page shows as QR codes, shared with the terminal phone.
pub use doorstep_core::join_link;
pub mod memory;
pub mod metrics;
pub mod pieces_arriving;
pub mod rate_limit;
pub mod refetch_guard;
pub mod relay;
pub mod relay_clock;
pub mod requests_in_hand;
pub mod roster_file;
pub mod roster_reading;
pub mod secret;
pub mod set_aside;
pub mod state;
pub mod storage;
pub mod sync;
pub mod throttle;
pub mod workbook;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;

pub use config::{Config, Limits};
pub use state::AppState;

/// The relay's router for `state`.
pub fn app(state: AppState) -> Router {
    http::app(state)
}

/// Serves the relay over plain HTTP on `listener` until `shutdown` completes, then finishes the
/// requests in flight and returns. A background task evicts idle documents from memory meanwhile.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve(listener, state, None, shutdown).await
}

/// [`run`], over HTTPS when `tls` is given (see [`connections::tls::acceptor`]); its
/// certificate's validity is then looked at while serving (`/healthz`, and the log at each
/// eviction sweep, at most once a day: `connections/certificate_expiry.rs`).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    tls: Option<connections::tls::Tls>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let tls = tls.map(|tls| {
        let _ = state.certificate.set(tls.certificate);
        tls.acceptor
    });
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let evictor = {
        let state = state.clone();
        let every = (state.config.idle_eviction / 2).max(std::time::Duration::from_millis(100));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            let mut return_again = None;
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => sweep_idle(&state, &mut return_again).await,
                    _ = stop_rx.changed() => break,
                }
            }
        })
    };
    // Live streams never end by themselves: close them when shutdown begins, or graceful
    // shutdown would wait for them for ever.
    let events = state.relay.events().clone();
    let shutdown = async move {
        shutdown.await;
        events.close();
    };
    let serving = connections::Serving {
        config: state.config.connections.clone(),
        tls,
        handshake_failures: Arc::clone(&state.tls_handshake_failures),
    };
    let last = state.clone();
    let served = connections::serve(listener, app(state), serving, shutdown).await;
    let _ = stop_tx.send(true);
    if let Err(e) = evictor.await {
        tracing::warn!(error = %e, "eviction task ended abnormally");
    }
    // What the last sweep did not write of when devices last synced.
    last.relay.record_devices_seen().await;
    tracing::info!("relay stopped");
    served
}

/// One eviction sweep: documents idle for the configured time leave memory, those with chunks
/// are compacted on the way out, and if any left, the store's page caches are emptied and the
/// memory goes back to the system (`memory.rs`: without it the process stays at its peak size),
/// and once more at the first sweep [`Config::return_memory_again`] later (`return_again`). The
/// relay's certificate, if it ends soon or has ended, is said in the log too, once a day.
async fn sweep_idle(state: &AppState, return_again: &mut Option<std::time::Instant>) {
    if let Some(certificate) = state.certificate.get() {
        certificate.warn_if_due(clock::now());
    }
    state.relay.record_devices_seen().await;
    let cache = state.relay.cache();
    let evicted_before = cache.evicted();
    let to_compact = cache.evict_idle(state.config.idle_eviction);
    if !to_compact.is_empty() {
        tracing::debug!(documents = to_compact.len(), "compacting evicted documents");
        state.relay.compact_evicted(to_compact).await;
    }
    if cache.evicted() != evicted_before {
        let forgotten = state.relay.queues().forget_idle(|id| cache.has_slot(id));
        tracing::debug!(queues = forgotten, "forgot the work queues of evicted documents");
        if let Err(e) = state.relay.storage().release_memory().await {
            tracing::warn!(error = %e, "the store kept its caches");
        }
        trim_and_count(state, "after eviction").await;
        *return_again = Some(std::time::Instant::now() + state.config.return_memory_again);
    } else if return_again.is_some_and(|at| std::time::Instant::now() >= at) {
        *return_again = None;
        trim_and_count(state, "after the eviction's threads left").await;
    }
}

/// Hands the allocator's free pages back to the system, off the async workers, and counts it.
async fn trim_and_count(state: &AppState, when: &'static str) {
    match tokio::task::spawn_blocking(memory::return_freed_memory).await {
        Ok(returned) => {
            tracing::debug!(returned, when, "gave freed memory back");
            state.metrics.memory_trimmed();
        }
        Err(e) => tracing::warn!(error = %e, "returning freed memory failed"),
    }
}
