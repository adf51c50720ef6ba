//! The PostgreSQL schema and its upgrades, kept the way the SQLite backend keeps its own.
//!
//! A new database is created from [`SQL`] in one step; an older one is upgraded by the numbered
//! files in `migrations/`, one version at a time, in one transaction with the new version number
//! in `doorstep_schema`. A database written by a newer relay is refused rather than guessed at.
//! Several relays may start at once on one database, so the whole step runs under a
//! transaction-scoped advisory lock: one creates or upgrades, the others wait and find it done.
//! `migrations/NOTES.md` says how to add a version.

use deadpool_postgres::GenericClient;

use super::{execute, query_opt};
use crate::storage::StorageError;

/// The schema version this relay writes.
pub const VERSION: i64 = 13;

/// The current schema, for a new database.
pub const SQL: &str = include_str!("schema.sql");

/// The upgrades: `MIGRATIONS[n]` takes version `n` to `n + 1`.
pub const MIGRATIONS: [&str; VERSION as usize] = [
    include_str!("migrations/001_initial.sql"),
    include_str!("migrations/002_dashboard_sessions.sql"),
    include_str!("migrations/003_throttles.sql"),
    include_str!("migrations/004_set_aside.sql"),
    include_str!("migrations/005_held_requests.sql"),
    include_str!("migrations/006_share_refusals.sql"),
    include_str!("migrations/007_devices_seen.sql"),
    include_str!("migrations/008_clock_off_by.sql"),
    include_str!("migrations/009_set_aside_by_person.sql"),
    include_str!("migrations/010_join_retries.sql"),
    include_str!("migrations/011_invite_devices.sql"),
    include_str!("migrations/012_set_aside_by_change.sql"),
    include_str!("migrations/013_wipe_reports.sql"),
];

/// The advisory lock key migrations hold ("doorstep" in ASCII, as a number).
const MIGRATION_LOCK: i64 = 0x646f_6f72_7374_6570;

/// Brings the database to [`VERSION`]: creates it if empty, upgrades it if older.
pub async fn init(client: &mut deadpool_postgres::Client) -> Result<(), StorageError> {
    let tx = client.transaction().await?;
    // The session bounds (`session_bounds.rs`) are for serving: a migration may take minutes on
    // a large database, and relays starting together wait for the one migrating.
    tx.batch_execute("SET LOCAL lock_timeout = 0; SET LOCAL statement_timeout = 0").await?;
    execute(&tx, "SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await?;
    // Looked up before it is made: `CREATE TABLE IF NOT EXISTS` on a database that has it has
    // PostgreSQL send a NOTICE, which the driver logs at every start.
    let exists: bool = query_opt(&tx, "SELECT to_regclass('doorstep_schema') IS NOT NULL", &[])
        .await?
        .map(|row| row.try_get(0))
        .transpose()?
        .unwrap_or(false);
    if !exists {
        tx.batch_execute("CREATE TABLE doorstep_schema (version BIGINT NOT NULL)").await?;
    }
    let found: Option<i64> = query_opt(&tx, "SELECT version FROM doorstep_schema", &[])
        .await?
        .map(|row| row.try_get(0))
        .transpose()?;
    match found {
        Some(found) if found > VERSION => return Err(StorageError::TooNew { found, supported: VERSION }),
        Some(found) if found == VERSION => {}
        Some(found) => {
            upgrade_from(&tx, found).await?;
            execute(&tx, "UPDATE doorstep_schema SET version = $1", &[&VERSION]).await?;
        }
        None => {
            tx.batch_execute(SQL).await?;
            execute(&tx, "INSERT INTO doorstep_schema (version) VALUES ($1)", &[&VERSION]).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Applies every migration after `version`.
pub async fn upgrade_from(db: &impl GenericClient, version: i64) -> Result<(), StorageError> {
    let start =
        usize::try_from(version).map_err(|_| StorageError::Corrupt(format!("schema version {version}")))?;
    for step in MIGRATIONS.iter().skip(start) {
        db.batch_execute(step).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::storage::postgres::query;
    use crate::storage::postgres::scratch::ScratchDatabase;

    /// Every column, constraint and index in `schema`, with the schema's name taken out.
    async fn shape(db: &impl GenericClient, schema: &str) -> Vec<String> {
        let rows = query(
            db,
            "SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable
                    || ' ' || coalesce(column_default, '') || ' ' || is_identity
               FROM information_schema.columns WHERE table_schema = $1
             UNION ALL
             SELECT 'constraint ' || t.relname || '.' || c.conname || ' ' || pg_get_constraintdef(c.oid)
               FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
               JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = $1
             UNION ALL
             SELECT 'index ' || indexname || ' ' || indexdef FROM pg_indexes WHERE schemaname = $1
             ORDER BY 1",
            &[&schema],
        )
        .await
        .unwrap();
        rows.iter().map(|row| row.get::<_, String>(0).replace(&format!("{schema}."), "")).collect()
    }

    #[tokio::test]
    async fn migrated_schema_equals_fresh_schema() {
        let Some(scratch) = ScratchDatabase::from_env().await else { return };
        let config: tokio_postgres::Config = scratch.url().parse().unwrap();
        let pool =
            deadpool_postgres::Pool::builder(deadpool_postgres::Manager::new(config, tokio_postgres::NoTls))
                .max_size(1)
                .build()
                .unwrap();
        let db = pool.get().await.unwrap();
        db.batch_execute(&format!("CREATE SCHEMA fresh; SET search_path TO fresh; {SQL}")).await.unwrap();
        let fresh = shape(&db, "fresh").await;
        assert!(fresh.iter().any(|line| line.starts_with("column changes.seq bigint")), "{fresh:#?}");
        for from in 0..VERSION {
            let name = format!("from_{from}");
            db.batch_execute(&format!("CREATE SCHEMA {name}; SET search_path TO {name};")).await.unwrap();
            // A database at `from` is what the first `from` migrations make.
            for step in MIGRATIONS.iter().take(usize::try_from(from).unwrap()) {
                db.batch_execute(step).await.unwrap();
            }
            upgrade_from(&db, from).await.unwrap();
            assert_eq!(shape(&db, &name).await, fresh, "upgrading from version {from}");
        }
    }

    #[tokio::test]
    async fn init_is_idempotent_and_refuses_newer_databases() {
        let Some(scratch) = ScratchDatabase::from_env().await else { return };
        let config: tokio_postgres::Config = scratch.url().parse().unwrap();
        let pool =
            deadpool_postgres::Pool::builder(deadpool_postgres::Manager::new(config, tokio_postgres::NoTls))
                .max_size(1)
                .build()
                .unwrap();
        let mut db = pool.get().await.unwrap();
        init(&mut db).await.unwrap();
        init(&mut db).await.unwrap();
        let version: i64 = db.query_one("SELECT version FROM doorstep_schema", &[]).await.unwrap().get(0);
        assert_eq!(version, VERSION);
        db.execute("UPDATE doorstep_schema SET version = $1", &[&(VERSION + 1)]).await.unwrap();
        let err = init(&mut db).await.unwrap_err();
        assert!(matches!(err, StorageError::TooNew { found, .. } if found == VERSION + 1), "{err}");
    }
}
