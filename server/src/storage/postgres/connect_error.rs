//! Why a relay could not reach its PostgreSQL database at start, in the operator's words: the
//! pool's own error says "error connecting to server" whether nothing listens on the port or the
//! server refused the database, user or password. Names the host and port, never the password.

use std::time::Duration;

use deadpool_postgres::{PoolError, TimeoutType};
use tokio_postgres::config::Host;

use super::POOL_WAIT;
use crate::storage::StorageError;

/// The first connection's failure, said as what to check.
pub(super) fn first_connection(config: &tokio_postgres::Config, e: PoolError) -> StorageError {
    connection_failed(config, e, POOL_WAIT)
}

/// A connection that could not be had (within `waited`), said as what to check: at start, and
/// when `/healthz` asks a running relay's database.
pub(super) fn connection_failed(
    config: &tokio_postgres::Config,
    e: PoolError,
    waited: Duration,
) -> StorageError {
    let at = address(config);
    match e {
        PoolError::Backend(e) => {
            // The server answered and refused: its words (`database "x" does not exist`,
            // `password authentication failed for user "y"`).
            if let Some(db) = e.as_db_error() {
                // Class 57P: starting up, shutting down, or not taking connections now; 53300:
                // every connection slot taken (other relays, or clients beside them), which frees.
                if db.code().code().starts_with("57P") || db.code().code() == "53300" {
                    return StorageError::Unreachable(format!(
                        "PostgreSQL at {at} is not taking connections yet: {}",
                        db.message()
                    ));
                }
                return StorageError::Connect(format!(
                    "PostgreSQL at {at} refused the connection: {}",
                    db.message()
                ));
            }
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                if let Some(io) = c.downcast_ref::<std::io::Error>() {
                    let why = match io.kind() {
                        std::io::ErrorKind::ConnectionRefused => {
                            "connection refused (is PostgreSQL running, and listening on that address and port?)"
                                .to_owned()
                        }
                        _ => io.to_string(),
                    };
                    return StorageError::Unreachable(format!(
                        "could not connect to PostgreSQL at {at}: {why}"
                    ));
                }
                cause = c.source();
            }
            StorageError::Connect(format!("could not connect to PostgreSQL at {at}: {e}"))
        }
        // Every pooled connection in use the whole time: PostgreSQL may be fine, the relay busy.
        PoolError::Timeout(TimeoutType::Wait) => StorageError::Connect(format!(
            "every connection of this relay to PostgreSQL at {at} stayed busy for {} s (the relay is overloaded, or its queries are stuck)",
            waited.as_secs()
        )),
        PoolError::Timeout(_) => StorageError::Unreachable(format!(
            "could not connect to PostgreSQL at {at}: no answer within {} s",
            waited.as_secs()
        )),
        other => StorageError::Pool(other.to_string()),
    }
}

/// A trivial query that failed on a connection that was had (the server shutting down, the
/// connection cut): PostgreSQL's own words if it said any.
pub(super) fn query_failed(config: &tokio_postgres::Config, e: &tokio_postgres::Error) -> StorageError {
    let at = address(config);
    match e.as_db_error() {
        Some(db) => StorageError::Connect(format!("PostgreSQL at {at} refused a query: {}", db.message())),
        None => StorageError::Connect(format!("PostgreSQL at {at} failed a query: {e}")),
    }
}

/// `host:port` (several, comma-separated, as the address gave them).
pub(super) fn address(config: &tokio_postgres::Config) -> String {
    let ports = config.get_ports();
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            match host {
                Host::Tcp(name) => format!("{name}:{port}"),
                #[cfg(unix)]
                Host::Unix(dir) => format!("{}/.s.PGSQL.{port}", dir.display()),
            }
        })
        .collect();
    if hosts.is_empty() {
        format!("localhost:{}", ports.first().copied().unwrap_or(5432))
    } else {
        hosts.join(",")
    }
}
