//! Allowances (token buckets) in PostgreSQL: every relay on the database takes from the same
//! buckets, and a restart finds them as they were ([`crate::throttle`]).
//!
//! One statement takes from a bucket: an upsert that refills it by the time since it was last
//! touched, takes one if there is one, and records whether it did, all under the row's lock, so
//! two relays taking at once cannot both take the last one. Time is the database's clock
//! (`clock_timestamp()`), the one clock every relay sees. A bucket left alone until it is full
//! again is the same as no bucket, so such rows are deleted now and then.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use deadpool_postgres::Pool;

use super::{execute, pool_error, query_one};
use crate::storage::{SecretHash, StorageError, StoreFuture};
use crate::throttle::{Allowance, Throttles};

/// Every this many takes, this relay deletes the buckets that are full again.
const SWEEP_EVERY: u64 = 256;

/// Takes an amount from a bucket. `$1` key, `$2` refill per second, `$3` burst, `$4` the amount
/// (at most the burst). Returns the tokens left and whether the amount was taken. The
/// parameters are cast: PostgreSQL would otherwise infer integers from the arithmetic they
/// appear in.
const TAKE: &str = "
    WITH clock AS (SELECT (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT AS now_ms)
    INSERT INTO throttles AS t (key, tokens, at_ms, full_at_ms, granted)
    SELECT $1, $3::FLOAT8 - $4::FLOAT8, now_ms, now_ms + ceil(1000 * $4::FLOAT8 / $2::FLOAT8)::BIGINT, TRUE
    FROM clock
    ON CONFLICT (key) DO UPDATE SET
        granted = least($3::FLOAT8, t.tokens + greatest(0, EXCLUDED.at_ms - t.at_ms) * $2::FLOAT8 / 1000) >= $4::FLOAT8,
        tokens = least($3::FLOAT8, t.tokens + greatest(0, EXCLUDED.at_ms - t.at_ms) * $2::FLOAT8 / 1000)
            - CASE WHEN least($3::FLOAT8, t.tokens + greatest(0, EXCLUDED.at_ms - t.at_ms) * $2::FLOAT8 / 1000) >= $4::FLOAT8
                   THEN $4::FLOAT8 ELSE 0 END,
        at_ms = EXCLUDED.at_ms,
        full_at_ms = EXCLUDED.at_ms + ceil(1000 * ($3::FLOAT8 - (
            least($3::FLOAT8, t.tokens + greatest(0, EXCLUDED.at_ms - t.at_ms) * $2::FLOAT8 / 1000)
            - CASE WHEN least($3::FLOAT8, t.tokens + greatest(0, EXCLUDED.at_ms - t.at_ms) * $2::FLOAT8 / 1000) >= $4::FLOAT8
                   THEN $4::FLOAT8 ELSE 0 END)) / $2::FLOAT8)::BIGINT
    RETURNING tokens, granted";

/// Puts an amount back into a bucket, refilled by the time since it was last touched and never
/// above its burst. `$1` key, `$2` refill per second, `$3` burst, `$4` the amount. A bucket with
/// no row is full, so nothing is inserted.
const GIVE_BACK: &str = "
    WITH clock AS (SELECT (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT AS now_ms),
    given AS (
        SELECT t.key, now_ms,
               least($3::FLOAT8, t.tokens + greatest(0, now_ms - t.at_ms) * $2::FLOAT8 / 1000 + $4::FLOAT8) AS tokens
        FROM throttles t, clock WHERE t.key = $1)
    UPDATE throttles AS t SET
        tokens = given.tokens,
        at_ms = given.now_ms,
        full_at_ms = given.now_ms + ceil(1000 * ($3::FLOAT8 - given.tokens) / $2::FLOAT8)::BIGINT
    FROM given WHERE t.key = given.key";

/// Deletes the buckets that are full again.
const SWEEP: &str =
    "DELETE FROM throttles WHERE full_at_ms < (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT";

/// The buckets of a PostgreSQL database.
#[derive(Debug)]
pub struct PostgresThrottles {
    pool: Pool,
    takes: AtomicU64,
}

impl PostgresThrottles {
    /// Buckets in the database behind `pool`.
    pub(super) fn new(pool: Pool) -> Self {
        Self { pool, takes: AtomicU64::new(0) }
    }

    async fn take_amount(
        &self,
        key: SecretHash,
        allowance: Allowance,
        amount: f64,
    ) -> Result<Result<(), Duration>, StorageError> {
        let Allowance { per_second, burst } = allowance.sane();
        let amount = amount.clamp(0.0, burst);
        let db = self.pool.get().await.map_err(pool_error)?;
        if self.takes.fetch_add(1, Ordering::Relaxed).is_multiple_of(SWEEP_EVERY) {
            execute(&db, SWEEP, &[]).await?;
        }
        let row = query_one(&db, TAKE, &[&key.0.as_slice(), &per_second, &burst, &amount]).await?;
        let tokens: f64 = row.try_get(0)?;
        let granted: bool = row.try_get(1)?;
        Ok(if granted {
            Ok(())
        } else {
            Err(Duration::from_secs_f64(((amount - tokens) / per_second).max(0.0)))
        })
    }

    async fn give_back_amount(
        &self,
        key: SecretHash,
        allowance: Allowance,
        amount: f64,
    ) -> Result<(), StorageError> {
        let Allowance { per_second, burst } = allowance.sane();
        let amount = amount.max(0.0);
        let db = self.pool.get().await.map_err(pool_error)?;
        execute(&db, GIVE_BACK, &[&key.0.as_slice(), &per_second, &burst, &amount]).await?;
        Ok(())
    }
}

impl Throttles for PostgresThrottles {
    fn take_some(
        &self,
        key: SecretHash,
        allowance: Allowance,
        amount: f64,
    ) -> StoreFuture<'_, Result<(), Duration>> {
        Box::pin(self.take_amount(key, allowance, amount))
    }

    fn give_back(&self, key: SecretHash, allowance: Allowance, amount: f64) -> StoreFuture<'_, ()> {
        Box::pin(self.give_back_amount(key, allowance, amount))
    }
}
