//! Per-token rate limiting: a token bucket for each token, in memory.
//!
//! A phone syncs every few minutes and a dashboard polls every few seconds; a token making tens
//! of requests a second is a bug or an attack. Buckets refill continuously at the configured
//! rate up to the burst size; a request that finds its bucket empty is told how long to wait.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::storage::SecretHash;

/// Buckets beyond this many trigger a sweep of the full ones.
const SWEEP_AT: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets keyed by token hash.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    // A std mutex: held for one map lookup and a few float operations, never across an `.await`.
    buckets: Mutex<HashMap<SecretHash, Bucket>>,
}

impl RateLimiter {
    /// `rate` requests per second on average, `burst` at most at once.
    pub fn new(rate: f64, burst: f64) -> Self {
        Self { rate: rate.max(f64::MIN_POSITIVE), burst: burst.max(1.0), buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes one request from `key`'s bucket, or says how long until one is available.
    pub fn check(&self, key: SecretHash) -> Result<(), Duration> {
        self.check_at(key, Instant::now())
    }

    fn check_at(&self, key: SecretHash, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() >= SWEEP_AT {
            let (rate, burst) = (self.rate, self.burst);
            buckets
                .retain(|_, b| b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * rate < burst);
        }
        let bucket = buckets.entry(key).or_insert(Bucket { tokens: self.burst, at: now });
        let refilled = bucket.tokens + now.saturating_duration_since(bucket.at).as_secs_f64() * self.rate;
        bucket.tokens = refilled.min(self.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / self.rate))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_burst_is_allowed_then_requests_wait_for_the_refill() {
        let limiter = RateLimiter::new(2.0, 3.0);
        let key = SecretHash([7; 32]);
        let start = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check_at(key, start).is_ok());
        }
        let wait = limiter.check_at(key, start).unwrap_err();
        assert!((wait.as_secs_f64() - 0.5).abs() < 1e-6, "{wait:?}");
        assert!(limiter.check_at(key, start + Duration::from_millis(500)).is_ok());
        // Another token has its own bucket.
        assert!(limiter.check_at(SecretHash([8; 32]), start).is_ok());
    }
}
