//! Token buckets in the relay's memory: the per-token request rate of every relay, and the
//! shared allowances of a relay on SQLite, which has no other relay to share them with.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::{Allowance, Throttles};
use crate::storage::{SecretHash, StoreFuture};

/// Buckets beyond this many trigger a sweep of the full ones.
const SWEEP_AT: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
    // When the bucket is full again if nothing more is taken: past that, forgetting it changes
    // nothing, since a missing bucket is a full one.
    full_at: Instant,
}

impl Bucket {
    /// Refills the bucket for the time since it was last touched, adds `extra` (what a caller
    /// gives back), never above the burst, then `change`s its tokens; notes when it is full
    /// again. Returns what `change` returned.
    fn touch<T>(
        &mut self,
        allowance: Allowance,
        now: Instant,
        extra: f64,
        change: impl FnOnce(&mut f64) -> T,
    ) -> T {
        let Allowance { per_second, burst } = allowance;
        let refilled = self.tokens + now.saturating_duration_since(self.at).as_secs_f64() * per_second;
        self.tokens = (refilled + extra).min(burst);
        self.at = now;
        let outcome = change(&mut self.tokens);
        self.full_at = now + Duration::from_secs_f64(((burst - self.tokens) / per_second).min(1e9));
        outcome
    }
}

/// Token buckets keyed by a hash, in memory.
#[derive(Debug, Default)]
pub struct MemoryThrottles {
    // A std mutex: held for one map lookup and a few float operations, never across an `.await`.
    buckets: Mutex<HashMap<SecretHash, Bucket>>,
}

impl MemoryThrottles {
    /// Empty buckets.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes one from `key`'s bucket at `now`, or says how long until one is available.
    pub fn take_at(&self, key: SecretHash, allowance: Allowance, now: Instant) -> Result<(), Duration> {
        self.take_some_at(key, allowance, 1.0, now)
    }

    /// Takes `amount` from `key`'s bucket at `now` (at most the burst: see
    /// [`Throttles::take_some`]), or says how long until it holds that much.
    pub fn take_some_at(
        &self,
        key: SecretHash,
        allowance: Allowance,
        amount: f64,
        now: Instant,
    ) -> Result<(), Duration> {
        let allowance = allowance.sane();
        let Allowance { per_second, burst } = allowance;
        let amount = amount.clamp(0.0, burst);
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() >= SWEEP_AT {
            buckets.retain(|_, b| b.full_at > now);
        }
        let bucket = buckets.entry(key).or_insert(Bucket { tokens: burst, at: now, full_at: now });
        bucket.touch(allowance, now, 0.0, |tokens| {
            if *tokens >= amount {
                *tokens -= amount;
                Ok(())
            } else {
                Err(Duration::from_secs_f64((amount - *tokens) / per_second))
            }
        })
    }

    /// Puts `amount` back into `key`'s bucket at `now` (see [`Throttles::give_back`]).
    pub fn give_back_at(&self, key: SecretHash, allowance: Allowance, amount: f64, now: Instant) {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(bucket) = buckets.get_mut(&key) {
            bucket.touch(allowance.sane(), now, amount.max(0.0), |_| ());
        }
    }
}

impl Throttles for MemoryThrottles {
    fn take_some(
        &self,
        key: SecretHash,
        allowance: Allowance,
        amount: f64,
    ) -> StoreFuture<'_, Result<(), Duration>> {
        let outcome = self.take_some_at(key, allowance, amount, Instant::now());
        Box::pin(async move { Ok(outcome) })
    }

    fn give_back(&self, key: SecretHash, allowance: Allowance, amount: f64) -> StoreFuture<'_, ()> {
        self.give_back_at(key, allowance, amount, Instant::now());
        Box::pin(async move { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_burst_is_allowed_then_takes_wait_for_the_refill_and_keys_are_apart() {
        let throttles = MemoryThrottles::new();
        let allowance = Allowance { per_second: 2.0, burst: 3.0 };
        let key = SecretHash([7; 32]);
        let start = Instant::now();
        for _ in 0..3 {
            assert!(throttles.take_at(key, allowance, start).is_ok());
        }
        let wait = throttles.take_at(key, allowance, start).unwrap_err();
        assert!((wait.as_secs_f64() - 0.5).abs() < 1e-6, "{wait:?}");
        assert!(throttles.take_at(key, allowance, start + Duration::from_millis(500)).is_ok());
        assert!(throttles.take_at(SecretHash([8; 32]), allowance, start).is_ok(), "another key");
    }

    #[test]
    fn an_amount_is_taken_whole_or_not_at_all_and_one_past_the_burst_takes_a_full_bucket() {
        let throttles = MemoryThrottles::new();
        let bytes = Allowance { per_second: 100.0, burst: 1000.0 };
        let key = SecretHash([9; 32]);
        let start = Instant::now();
        assert!(throttles.take_some_at(key, bytes, 700.0, start).is_ok());
        let wait = throttles.take_some_at(key, bytes, 400.0, start).unwrap_err();
        assert!((wait.as_secs_f64() - 1.0).abs() < 1e-6, "300 held, 400 asked, 100 a second: {wait:?}");
        assert!(throttles.take_some_at(key, bytes, 300.0, start).is_ok(), "a refusal took nothing");
        // More than the bucket ever holds waits for it to be full, then empties it.
        let wait = throttles.take_some_at(key, bytes, 5000.0, start).unwrap_err();
        assert!((wait.as_secs_f64() - 10.0).abs() < 1e-6, "{wait:?}");
        let full = start + Duration::from_secs(10);
        assert!(throttles.take_some_at(key, bytes, 5000.0, full).is_ok());
        assert!(throttles.take_some_at(key, bytes, 1.0, full).is_err(), "emptied");
    }

    #[test]
    fn what_is_given_back_can_be_taken_again_and_a_bucket_never_holds_more_than_its_burst() {
        let throttles = MemoryThrottles::new();
        let bytes = Allowance { per_second: 100.0, burst: 1000.0 };
        let key = SecretHash([10; 32]);
        let start = Instant::now();
        assert!(throttles.take_some_at(key, bytes, 900.0, start).is_ok());
        assert!(throttles.take_some_at(key, bytes, 600.0, start).is_err());
        throttles.give_back_at(key, bytes, 500.0, start);
        assert!(throttles.take_some_at(key, bytes, 600.0, start).is_ok(), "100 held, 500 given back");
        throttles.give_back_at(key, bytes, 5000.0, start);
        assert!(throttles.take_some_at(key, bytes, 1000.0, start).is_ok(), "full");
        assert!(throttles.take_some_at(key, bytes, 1.0, start).is_err(), "and no more than full");
        // A bucket never taken from is full: giving back to it keeps no entry.
        throttles.give_back_at(SecretHash([11; 32]), bytes, 10.0, start);
        assert!(!throttles.buckets.lock().unwrap().contains_key(&SecretHash([11; 32])));
    }

    #[test]
    fn full_buckets_are_swept_and_empty_ones_kept() {
        let throttles = MemoryThrottles::new();
        let slow = Allowance { per_second: 0.001, burst: 1.0 };
        let start = Instant::now();
        let drained = SecretHash([1; 32]);
        assert!(throttles.take_at(drained, slow, start).is_ok());
        for i in 0..SWEEP_AT {
            let mut key = [0u8; 32];
            key[..8].copy_from_slice(&(i as u64 + 10).to_le_bytes());
            let fast = Allowance { per_second: 1000.0, burst: 2.0 };
            assert!(throttles.take_at(SecretHash(key), fast, start).is_ok());
        }
        // A second later every fast bucket is full again and forgotten; the drained one is not.
        assert!(throttles.take_at(SecretHash([2; 32]), slow, start + Duration::from_secs(1)).is_ok());
        assert!(throttles.buckets.lock().unwrap().len() <= 3);
        assert!(throttles.take_at(drained, slow, start + Duration::from_secs(1)).is_err());
    }
}
