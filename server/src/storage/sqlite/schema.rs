//! The relay database's schema and its upgrades.
//!
//! A new database is created from [`SQL`] in one step; an older one is upgraded by the numbered
//! files in `migrations/`, one version at a time, each in the same transaction as the new
//! `PRAGMA user_version`. Opening a database written by a newer relay is refused rather than
//! guessed at. `migrations/NOTES.md` says how to add a version.

use rusqlite::Connection;

use crate::storage::StorageError;

/// The schema version this relay writes.
pub const VERSION: i64 = 9;

/// The current schema, for a new database.
pub const SQL: &str = include_str!("schema.sql");

/// The upgrades: `MIGRATIONS[n]` takes version `n` to `n + 1`.
const MIGRATIONS: [&str; VERSION as usize] = [
    include_str!("migrations/001_initial.sql"),
    include_str!("migrations/002_dashboard_sessions.sql"),
    include_str!("migrations/003_set_aside.sql"),
    include_str!("migrations/004_held_requests.sql"),
    include_str!("migrations/005_share_refusals.sql"),
    include_str!("migrations/006_devices_seen.sql"),
    include_str!("migrations/007_clock_off_by.sql"),
    include_str!("migrations/008_set_aside_by_person.sql"),
    include_str!("migrations/009_join_retries.sql"),
];

/// Brings the database to [`VERSION`]: creates it if empty, upgrades it if older.
pub fn init(conn: &mut Connection) -> Result<(), StorageError> {
    let tx = conn.transaction()?;
    let found: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if found > VERSION {
        return Err(StorageError::TooNew { found, supported: VERSION });
    }
    if found == 0 {
        tx.execute_batch(SQL)?;
    } else if found < VERSION {
        upgrade_from(&tx, found)?;
    }
    tx.pragma_update(None, "user_version", VERSION)?;
    tx.commit()?;
    Ok(())
}

/// Applies every migration after `version`.
pub fn upgrade_from(conn: &Connection, version: i64) -> Result<(), StorageError> {
    let start =
        usize::try_from(version).map_err(|_| StorageError::Corrupt(format!("schema version {version}")))?;
    for step in MIGRATIONS.iter().skip(start) {
        conn.execute_batch(step)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn shape(conn: &Connection) -> Vec<(String, String, String)> {
        let mut stmt = conn
            .prepare("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name")
            .unwrap();
        stmt.query_map([], |row| {
            let sql: Option<String> = row.get(2)?;
            // Spacing aside: `ALTER TABLE … ADD COLUMN` splices its column in as `NOT NULL , x
            // INTEGER)`, where `schema.sql` writes `NOT NULL, x INTEGER )`.
            let sql = sql.unwrap_or_default().split_whitespace().collect::<Vec<_>>().join(" ");
            let sql = sql.replace(" ,", ",").replace(" )", ")");
            Ok((row.get(0)?, row.get(1)?, sql))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
    }

    #[test]
    fn migrated_schema_equals_fresh_schema() {
        let fresh = Connection::open_in_memory().unwrap();
        fresh.execute_batch(SQL).unwrap();
        for from in 0..VERSION {
            let migrated = Connection::open_in_memory().unwrap();
            // A database at `from` is what the first `from` migrations make.
            for step in MIGRATIONS.iter().take(usize::try_from(from).unwrap()) {
                migrated.execute_batch(step).unwrap();
            }
            upgrade_from(&migrated, from).unwrap();
            assert_eq!(shape(&migrated), shape(&fresh), "upgrading from version {from}");
        }
        assert!(shape(&fresh).iter().any(|(_, name, _)| name == "changes"));
    }

    #[test]
    fn init_is_idempotent_and_refuses_newer_databases() {
        let mut conn = Connection::open_in_memory().unwrap();
        init(&mut conn).unwrap();
        init(&mut conn).unwrap();
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(version, VERSION);
        conn.pragma_update(None, "user_version", VERSION + 1).unwrap();
        let err = init(&mut conn).unwrap_err();
        assert!(matches!(err, StorageError::TooNew { found, .. } if found == VERSION + 1), "{err}");
    }
}
