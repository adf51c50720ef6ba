//! What every request handler shares.

use std::ops::Deref;
use std::sync::{Arc, OnceLock};

use crate::config::Config;
use crate::events::StreamSlots;
use crate::metrics::Metrics;
use crate::rate_limit::RateLimiter;
use crate::relay::Relay;

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
        Self(Arc::new(Shared {
            relay,
            config,
            metrics: Metrics::default(),
            limiter,
            streams,
            damage: OnceLock::new(),
        }))
    }
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}
