//! Dashboard sessions, in SQLite.

use rusqlite::{Connection, OptionalExtension, params};

use super::parsed;
use crate::storage::{DashboardSession, SecretHash, StorageError};

pub(super) fn open_session(
    conn: &Connection,
    s: &DashboardSession,
    max_per_person: usize,
) -> Result<(), StorageError> {
    conn.execute("DELETE FROM dashboard_sessions WHERE expires_at <= ?1", [s.opened_at.as_millis()])?;
    let keep = i64::try_from(max_per_person.saturating_sub(1)).unwrap_or(i64::MAX);
    conn.execute(
        "DELETE FROM dashboard_sessions WHERE person = ?1 AND id NOT IN
             (SELECT id FROM dashboard_sessions WHERE person = ?1 ORDER BY id DESC LIMIT ?2)",
        params![s.person.to_string(), keep],
    )?;
    conn.execute(
        "INSERT INTO dashboard_sessions (secret_hash, person, token_hash, opened_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            s.secret_hash.0,
            s.person.to_string(),
            s.token.0,
            s.opened_at.as_millis(),
            s.expires_at.as_millis()
        ],
    )?;
    Ok(())
}

pub(super) fn session(
    conn: &Connection,
    secret_hash: SecretHash,
    now: doorstep_core::Timestamp,
) -> Result<Option<DashboardSession>, StorageError> {
    let row: Option<(String, Vec<u8>, i64, i64)> = conn
        .prepare_cached(
            "SELECT person, token_hash, opened_at, expires_at FROM dashboard_sessions
             WHERE secret_hash = ?1 AND expires_at > ?2",
        )?
        .query_row(params![secret_hash.0, now.as_millis()], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })
        .optional()?;
    let Some((person, token, opened_at, expires_at)) = row else { return Ok(None) };
    let token: [u8; 32] = token
        .try_into()
        .map_err(|_| StorageError::Corrupt("a session's token hash is not 32 bytes".into()))?;
    Ok(Some(DashboardSession {
        secret_hash,
        person: parsed(&person, "person id")?,
        token: SecretHash(token),
        opened_at: doorstep_core::Timestamp::from_millis(opened_at),
        expires_at: doorstep_core::Timestamp::from_millis(expires_at),
    }))
}

pub(super) fn close_session(conn: &Connection, secret_hash: SecretHash) -> Result<(), StorageError> {
    conn.execute("DELETE FROM dashboard_sessions WHERE secret_hash = ?1", [secret_hash.0])?;
    Ok(())
}
