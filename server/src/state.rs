//! What every request handler shares.

use std::ops::Deref;
use std::sync::{Arc, OnceLock};

use crate::bodies_in_hand::BodiesInHand;
use crate::config::Config;
use crate::events::StreamSlots;
use crate::held_requests::HeldRequests;
use crate::metrics::Metrics;
use crate::rate_limit::RateLimiter;
use crate::relay::Relay;
use crate::roster_reading::RosterReaders;

/// The relay, its configuration and its counters, cheap to clone into each request.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Shared>);

/// The shared part of [`AppState`].
#[derive(Debug)]
pub struct Shared {
    /// The relay.
    pub relay: Relay,
    /// Limits and timings.
    pub config: Config,
    /// Counters for `/metrics`.
    pub metrics: Metrics,
    /// Per-token rate limits.
    pub limiter: RateLimiter,
    /// Live-stream slots.
    pub streams: Arc<StreamSlots>,
    /// What the storage integrity check at start found wrong, if anything; `/healthz` reports it.
    pub damage: OnceLock<String>,
    /// Turns at the sync batches' CPU work: at most one batch per core works at once. Without
    /// them a district's return runs a batch per busy document on the blocking pool at the same
    /// time (hundreds of threads), and the async workers that answer `/healthz` and read the
    /// requests wait behind all of them for the cores.
    pub batch_turns: Arc<tokio::sync::Semaphore>,
    /// Sync requests held in part, sent in pieces by phones on links that drop requests.
    pub held_requests: HeldRequests,
    /// Room for sync request bodies, bounded across the relay.
    pub bodies_in_hand: BodiesInHand,
    /// Failed TLS handshakes on the relay's own HTTPS port.
    pub tls_handshake_failures: Arc<crate::connections::handshake_failures::HandshakeFailures>,
    /// Whether most phones say the relay's own clock is wrong (`relay_clock.rs`).
    pub relay_clock: crate::relay_clock::RelayClock,
    /// The relay's own certificate, when it serves HTTPS itself; set by [`crate::serve`].
    pub certificate: OnceLock<Arc<crate::connections::certificate_expiry::CertificateWatch>>,
    /// The threads roster uploads are read on, one per core.
    pub roster_readers: RosterReaders,
    /// The requests each person has in hand (`requests_in_hand.rs`).
    pub requests_in_hand: crate::requests_in_hand::RequestsInHand,
}

impl AppState {
    /// State for a relay with this configuration.
    pub fn new(relay: Relay, config: Config) -> Self {
        let limiter = RateLimiter::new(
            config.limits.rate_per_second,
            config.limits.rate_burst,
            relay.shared_throttles(),
        );
        let streams = StreamSlots::new(config.streams.clone());
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        let batch_turns = Arc::new(tokio::sync::Semaphore::new(cores));
        let bodies_in_hand =
            BodiesInHand::new(config.limits.bodies_in_hand, config.limits.max_body_bytes, cores);
        let held_requests = HeldRequests::new(config.limits.pieces_held);
        Self(Arc::new(Shared {
            relay,
            config,
            metrics: Metrics::default(),
            limiter,
            streams,
            damage: OnceLock::new(),
            batch_turns,
            held_requests,
            bodies_in_hand,
            tls_handshake_failures: Arc::default(),
            relay_clock: crate::relay_clock::RelayClock::default(),
            certificate: OnceLock::new(),
            roster_readers: RosterReaders::new(cores),
            requests_in_hand: crate::requests_in_hand::RequestsInHand::default(),
        }))
    }
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}
