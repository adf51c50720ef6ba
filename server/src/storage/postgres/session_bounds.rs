//! Bounds on what one relay's session may hold in PostgreSQL, so that a stalled relay or an
//! abandoned request does not hold the others.
//!
//! A relay paused (a VM frozen, a partition) between a commit's `SELECT … FOR UPDATE` of a
//! document's row and its `COMMIT` left its transaction open and the row locked: every other
//! relay's sync of that document waited on the lock until the request's 30 s limit (408), for as
//! long as the pause lasted, up to the two hours of PostgreSQL's own keepalive, while `/healthz`
//! said ok. And a request given up after 30 s returned its connection with its query still
//! waiting in PostgreSQL; the pool dropped that connection and opened another, and the waiting
//! sessions piled up past `max_connections` (the red team's scale-out findings 1 and 2). So each
//! session is opened with:
//!
//! - `idle_in_transaction_session_timeout`: PostgreSQL ends a session that sits inside a
//!   transaction doing nothing for [`IDLE_IN_TRANSACTION`], which rolls it back and frees its
//!   locks (a relay's transactions never wait on anything but the database);
//! - `lock_timeout`: a statement waits at most [`LOCK_WAIT`] for a lock, then fails, which the
//!   relay answers 503 with `Retry-After` (a phone tries again; its work stays on it);
//! - `statement_timeout`: no statement runs past [`STATEMENT_LIMIT`], below the request limit, so
//!   nothing keeps working in PostgreSQL for a request that was already answered.
//!
//! An address that sets its own `options` keeps them: they come after these, and win.

use std::time::Duration;

/// How long a session may sit idle inside a transaction.
pub const IDLE_IN_TRANSACTION: Duration = Duration::from_secs(10);
/// How long a statement waits for a lock.
pub const LOCK_WAIT: Duration = Duration::from_secs(10);
/// How long a statement may run.
pub const STATEMENT_LIMIT: Duration = Duration::from_secs(25);

/// Adds the bounds to `config`'s startup options, before any the address gave.
pub(super) fn bound_sessions(config: &mut tokio_postgres::Config) {
    let ours = format!(
        "-c idle_in_transaction_session_timeout={} -c lock_timeout={} -c statement_timeout={}",
        IDLE_IN_TRANSACTION.as_millis(),
        LOCK_WAIT.as_millis(),
        STATEMENT_LIMIT.as_millis()
    );
    let options = match config.get_options() {
        Some(theirs) if !theirs.trim().is_empty() => format!("{ours} {theirs}"),
        _ => ours,
    };
    config.options(options);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bounds_come_before_the_addresses_own_options() {
        let mut config: tokio_postgres::Config =
            "postgres://u@h/db?options=-c%20statement_timeout%3D60000".parse().unwrap_or_default();
        bound_sessions(&mut config);
        let options = config.get_options().unwrap_or_default().to_owned();
        assert!(
            options.starts_with("-c idle_in_transaction_session_timeout=10000 -c lock_timeout=10000"),
            "{options}"
        );
        assert!(options.ends_with("-c statement_timeout=60000"), "the address's own wins: {options}");
        let mut plain: tokio_postgres::Config = "postgres://u@h/db".parse().unwrap_or_default();
        bound_sessions(&mut plain);
        assert!(plain.get_options().unwrap_or_default().ends_with("statement_timeout=25000"));
    }
}
