//! Dashboard sessions, in PostgreSQL: every relay on the database sees every session.

use deadpool_postgres::GenericClient;
use doorstep_core::Timestamp;

use super::{execute, parsed, query_opt};
use crate::storage::{DashboardSession, SecretHash, StorageError};

pub(super) async fn open_session(
    db: &impl GenericClient,
    s: &DashboardSession,
    max_per_person: usize,
) -> Result<(), StorageError> {
    execute(db, "DELETE FROM dashboard_sessions WHERE expires_at <= $1", &[&s.opened_at.as_millis()]).await?;
    let keep = i64::try_from(max_per_person.saturating_sub(1)).unwrap_or(i64::MAX);
    execute(
        db,
        "DELETE FROM dashboard_sessions WHERE person = $1 AND id NOT IN
             (SELECT id FROM dashboard_sessions WHERE person = $1 ORDER BY id DESC LIMIT $2)",
        &[&s.person.to_string(), &keep],
    )
    .await?;
    execute(
        db,
        "INSERT INTO dashboard_sessions (secret_hash, person, token_hash, opened_at, expires_at)
         VALUES ($1, $2, $3, $4, $5)",
        &[
            &s.secret_hash.0.as_slice(),
            &s.person.to_string(),
            &s.token.0.as_slice(),
            &s.opened_at.as_millis(),
            &s.expires_at.as_millis(),
        ],
    )
    .await?;
    Ok(())
}

pub(super) async fn session(
    db: &impl GenericClient,
    secret_hash: SecretHash,
    now: Timestamp,
) -> Result<Option<DashboardSession>, StorageError> {
    let row = query_opt(
        db,
        "SELECT person, token_hash, opened_at, expires_at FROM dashboard_sessions
         WHERE secret_hash = $1 AND expires_at > $2",
        &[&secret_hash.0.as_slice(), &now.as_millis()],
    )
    .await?;
    let Some(row) = row else { return Ok(None) };
    let token: [u8; 32] = row
        .try_get::<_, Vec<u8>>(1)?
        .try_into()
        .map_err(|_| StorageError::Corrupt("a session's token hash is not 32 bytes".into()))?;
    Ok(Some(DashboardSession {
        secret_hash,
        person: parsed(&row.try_get::<_, String>(0)?, "person id")?,
        token: SecretHash(token),
        opened_at: Timestamp::from_millis(row.try_get(2)?),
        expires_at: Timestamp::from_millis(row.try_get(3)?),
    }))
}

pub(super) async fn close_session(
    db: &impl GenericClient,
    secret_hash: SecretHash,
) -> Result<(), StorageError> {
    execute(db, "DELETE FROM dashboard_sessions WHERE secret_hash = $1", &[&secret_hash.0.as_slice()])
        .await?;
    Ok(())
}
