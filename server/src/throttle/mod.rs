//! Allowances that must hold across relays and restarts: requests per token, join attempts per
//! client address and whole-document fetches per device and document ([`crate::refetch_guard`]).
//!
//! Each allowance is a token bucket: `burst` at once, refilled at `per_second`. Where the buckets
//! live depends on the store, behind the [`Throttles`] trait:
//! - With SQLite (one relay on one file) they live in the relay's memory ([`MemoryThrottles`]):
//!   there is no other relay to share them with, and a restart, which empties them, is rare and
//!   slow compared with the allowances.
//! - With PostgreSQL they live in the database (`storage::postgres::throttles`), so a guesser
//!   whom relay A has throttled is throttled on relay B too, and restarting a relay does not
//!   hand out a fresh allowance. The database's clock times them, so relays whose clocks
//!   disagree still agree on every bucket.
//!
//! The per-token request rate ([`crate::rate_limit`]) takes from a memory bucket first and then
//! from these. What stays per process: the caps on open connections and live streams, which
//! count sockets this process holds.

mod memory;

use std::fmt;
use std::time::Duration;

pub use memory::MemoryThrottles;

use crate::storage::{SecretHash, StoreFuture};

/// How much a key may take: `burst` at once, refilled continuously at `per_second`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Allowance {
    /// Takes per second on average.
    pub per_second: f64,
    /// Takes at once, from a full bucket.
    pub burst: f64,
}

impl Allowance {
    /// The allowance with its numbers made usable: a rate above zero, a burst of at least one.
    pub fn sane(self) -> Self {
        Self { per_second: self.per_second.max(f64::MIN_POSITIVE), burst: self.burst.max(1.0) }
    }
}

/// Where the relay keeps its allowances; see the module docs.
pub trait Throttles: Send + Sync + fmt::Debug {
    /// Takes `amount` from `key`'s bucket under `allowance`: `Ok(Ok(()))` if it held that much,
    /// `Ok(Err(wait))` with how long until it will (nothing is taken then), `Err` if the store
    /// failed. An amount above the burst is taken from a full bucket, emptying it: a bucket
    /// can never hold more, and waiting would never end.
    fn take_some(
        &self,
        key: SecretHash,
        allowance: Allowance,
        amount: f64,
    ) -> StoreFuture<'_, Result<(), Duration>>;

    /// Puts `amount` back into `key`'s bucket under `allowance`, as if it had never been taken
    /// (a bucket never holds more than its burst): for a caller that took before it knew how
    /// much it would use. A bucket the store no longer holds is full, and stays so.
    fn give_back(&self, key: SecretHash, allowance: Allowance, amount: f64) -> StoreFuture<'_, ()>;

    /// Takes one from `key`'s bucket: [`take_some`](Self::take_some) of 1.
    fn take(&self, key: SecretHash, allowance: Allowance) -> StoreFuture<'_, Result<(), Duration>> {
        self.take_some(key, allowance, 1.0)
    }
}
