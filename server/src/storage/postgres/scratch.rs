//! Throwaway databases for tests that need a real PostgreSQL.
//!
//! Tests read the server's address from `DOORSTEP_TEST_POSTGRES` (`scripts/with-postgres` starts
//! a throwaway cluster and sets it; `scripts/test` runs everything under it). Each test gets a
//! database of its own, created from that address and dropped when the test ends, so tests run
//! in parallel without seeing each other's rows or notices. Without the variable, a test prints
//! that it was skipped and why, and passes: a plain `cargo test` on a laptop without PostgreSQL
//! stays green, and CI, which sets the variable, runs them.

use std::sync::atomic::{AtomicU32, Ordering};

use tokio_postgres::NoTls;

use crate::storage::StorageError;

/// The variable tests read the server's address from.
pub const ENV: &str = "DOORSTEP_TEST_POSTGRES";

/// A database that exists until this value is dropped.
#[derive(Debug)]
pub struct ScratchDatabase {
    server: String,
    name: String,
    url: String,
}

impl ScratchDatabase {
    /// A new database on the server named by [`ENV`], or `None` after printing that the test
    /// (named after the current thread, as the test harness names it) is skipped because the
    /// variable is not set.
    pub async fn from_env() -> Option<Self> {
        let Ok(server) = std::env::var(ENV) else {
            let test = std::thread::current().name().unwrap_or("this test").to_owned();
            #[allow(clippy::print_stderr)]
            {
                eprintln!(
                    "SKIPPED {test}: needs PostgreSQL; set {ENV}=postgres://… or run it under scripts/with-postgres"
                );
            }
            return None;
        };
        match Self::create(&server).await {
            Ok(db) => Some(db),
            // The variable is set, so PostgreSQL is expected: failing loudly beats skipping.
            Err(e) => panic!("cannot create a scratch database on {server}: {e}"),
        }
    }

    /// Creates a new, empty database on the server at `server`.
    pub async fn create(server: &str) -> Result<Self, StorageError> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "doorstep_test_{}_{}_{:08x}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            rand::random::<u32>()
        );
        admin(server, &format!("CREATE DATABASE {name}")).await?;
        let url = with_database(server, &name)?;
        Ok(Self { server: server.to_owned(), name, url })
    }

    /// Its address, for `PostgresStorage::open` or `doorstep serve --db`.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        // Dropping runs inside a test's runtime, which cannot be blocked on; a thread with a
        // runtime of its own can.
        let (server, sql) =
            (self.server.clone(), format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(admin(&server, &sql)).map_err(std::io::Error::other)
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            tracing::warn!(database = %self.name, "could not drop a scratch database");
        }
    }
}

/// Runs one statement on the server's own database.
async fn admin(server: &str, sql: &str) -> Result<(), StorageError> {
    let config: tokio_postgres::Config =
        server.parse().map_err(|e| StorageError::BadAddress(format!("{ENV}={server:?}: {e}")))?;
    let (client, connection) = config.connect(NoTls).await?;
    let driver = tokio::spawn(connection);
    client.batch_execute(sql).await?;
    drop(client);
    let _ = driver.await;
    Ok(())
}

/// `url` with its database replaced by `name`: `postgres://u@h:5432/postgres?x=y` becomes
/// `postgres://u@h:5432/name?x=y`.
pub fn with_database(url: &str, name: &str) -> Result<String, StorageError> {
    let bad = || {
        StorageError::BadAddress(format!(
            "{:?} is not a postgres://host/database address",
            crate::storage::without_password(url)
        ))
    };
    let rest_at = url.find("://").ok_or_else(bad)? + 3;
    let (scheme, rest) = url.split_at(rest_at);
    let (authority, path) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    let query = path.find('?').map_or("", |i| &path[i..]);
    Ok(format!("{scheme}{authority}/{name}{query}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_database_is_replaced_and_the_rest_kept() {
        let check = |url: &str, expect: &str| assert_eq!(with_database(url, "t1").unwrap(), expect);
        check("postgres://u@127.0.0.1:5433/postgres", "postgres://u@127.0.0.1:5433/t1");
        check("postgres://u@127.0.0.1:5433", "postgres://u@127.0.0.1:5433/t1");
        check("postgresql://u:p@h/db?sslmode=disable", "postgresql://u:p@h/t1?sslmode=disable");
        check("postgres://h?host=/tmp/x", "postgres://h/t1?host=/tmp/x");
        assert!(with_database("nonsense", "t1").is_err());
    }
}
