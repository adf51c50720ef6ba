//! Per-token rate limiting: a token bucket for each token, in this relay's memory.
//!
//! A phone syncs every few minutes and a dashboard polls every few seconds; a token making tens
//! of requests a second is a bug or an attack. Buckets refill continuously at the configured
//! rate up to the burst size; a request that finds its bucket empty is told how long to wait.
//!
//! Each relay first takes from its own bucket in memory, which refuses a flood without any
//! round trip. A relay on PostgreSQL then takes from the token's bucket in the database too
//! ([`crate::throttle`]), so behind a balancer a token has one allowance, not one per relay, and
//! a restart gives it no fresh one. If the database cannot answer, the memory bucket's verdict
//! stands (logged): a slow database must not sign everybody out.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::storage::SecretHash;
use crate::throttle::{Allowance, MemoryThrottles, Throttles};

/// Token buckets keyed by token hash, all with one allowance.
#[derive(Debug)]
pub struct RateLimiter {
    allowance: Allowance,
    buckets: MemoryThrottles,
    shared: Option<Arc<dyn Throttles>>,
}

impl RateLimiter {
    /// `rate` requests per second on average, `burst` at most at once, in this relay's memory
    /// and, when `shared` is given, in the store every relay sees.
    pub fn new(rate: f64, burst: f64, shared: Option<Arc<dyn Throttles>>) -> Self {
        Self {
            allowance: Allowance { per_second: rate, burst }.sane(),
            buckets: MemoryThrottles::new(),
            shared,
        }
    }

    /// Takes one request from `key`'s bucket, or says how long until one is available.
    pub async fn check(&self, key: SecretHash) -> Result<(), Duration> {
        self.buckets.take_at(key, self.allowance, Instant::now())?;
        let Some(shared) = &self.shared else { return Ok(()) };
        match shared.take(key, self.allowance).await {
            Ok(verdict) => verdict,
            Err(error) => {
                tracing::warn!(%error, "the shared rate limit could not be read; this relay's own applies");
                Ok(())
            }
        }
    }
}
