//! Per-token rate limiting: a token bucket for each token, in this relay's memory.
//!
//! A phone syncs every few minutes and a dashboard polls every few seconds; a token making tens
//! of requests a second is a bug or an attack. Buckets refill continuously at the configured
//! rate up to the burst size; a request that finds its bucket empty is told how long to wait.
//!
//! This check runs on every request, so it stays in memory even when several relays share a
//! PostgreSQL database: behind a balancer a token may make up to one allowance per relay. The
//! allowances that guard against guessing and amplification are shared ([`crate::throttle`]).

use std::time::{Duration, Instant};

use crate::storage::SecretHash;
use crate::throttle::{Allowance, MemoryThrottles};

/// Token buckets keyed by token hash, all with one allowance.
#[derive(Debug)]
pub struct RateLimiter {
    allowance: Allowance,
    buckets: MemoryThrottles,
}

impl RateLimiter {
    /// `rate` requests per second on average, `burst` at most at once.
    pub fn new(rate: f64, burst: f64) -> Self {
        Self { allowance: Allowance { per_second: rate, burst }.sane(), buckets: MemoryThrottles::new() }
    }

    /// Takes one request from `key`'s bucket, or says how long until one is available.
    pub fn check(&self, key: SecretHash) -> Result<(), Duration> {
        self.buckets.take_at(key, self.allowance, Instant::now())
    }
}
