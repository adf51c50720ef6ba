//! The relay database's schema and its upgrades.
//!
//! A new database is created from [`SQL`] in one step; an older one is upgraded by the numbered
//! files in `migrations/`, one version at a time, each in the same transaction as the new
//! `PRAGMA user_version`. Opening a database written by a newer relay is refused rather than
//! guessed at. `migrations/NOTES.md` says how to add a version.

use rusqlite::Connection;

use crate::storage::StorageError;

/// The schema version this relay writes.
pub const VERSION: i64 = 12;

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
    include_str!("migrations/010_invite_devices.sql"),
    include_str!("migrations/011_set_aside_by_change.sql"),
    include_str!("migrations/012_wipe_reports.sql"),
];

/// Brings the database to [`VERSION`]: creates it if empty, upgrades it if older.
pub fn init(conn: &mut Connection) -> Result<(), StorageError> {
    let tx = conn.transaction()?;
    let found: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if found > VERSION {
        return Err(StorageError::TooNew { found, supported: VERSION });
    }
    if found == 0 {
        refuse_tables_without_a_version(&tx)?;
        tx.execute_batch(SQL)?;
    } else if found < VERSION {
        upgrade_from(&tx, found)?;
    }
    tx.pragma_update(None, "user_version", VERSION)?;
    tx.commit()?;
    Ok(())
}

/// A file with no schema version is the relay's to fill only if it holds no tables: tables
/// there are another application's (the relay's would be added beside them), or a relay's
/// database copied by `sqlite3 .dump` or `.recover`, which leave the version out (creating the
/// schema over them fails in a way that says nothing useful).
pub(super) fn refuse_tables_without_a_version(conn: &Connection) -> Result<(), StorageError> {
    let mut stmt = conn.prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )?;
    let tables: Vec<String> = stmt.query_map([], |row| row.get(0))?.collect::<Result<_, _>>()?;
    if tables.is_empty() {
        return Ok(());
    }
    let ours = ["persons", "compounds", "memberships", "devices", "documents", "changes"];
    let reason = if ours.iter().all(|t| tables.iter().any(|name| name == t)) {
        format!(
            "this file holds a relay's tables but no schema version (PRAGMA user_version is 0), as a copy made with sqlite3's .dump or .recover does: restore from a copy made with `.backup` or `VACUUM INTO` (DEPLOY.md), or, if the copy is of a relay at schema version {VERSION} (this relay's), set it with: sqlite3 FILE 'PRAGMA user_version = {VERSION}'"
        )
    } else {
        let shown: Vec<&str> = tables.iter().take(5).map(String::as_str).collect();
        format!(
            "this file holds another application's tables ({}{}); the relay needs a database file of its own: pass --db with a new file",
            shown.join(", "),
            if tables.len() > shown.len() { ", …" } else { "" }
        )
    };
    Err(StorageError::Unrecognised(reason))
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

    #[test]
    fn a_file_with_tables_but_no_version_is_refused_and_left_alone() {
        // Another application's file.
        let mut other = Connection::open_in_memory().unwrap();
        other
            .execute_batch("CREATE TABLE contacts (name TEXT); INSERT INTO contacts VALUES ('王芳');")
            .unwrap();
        let refused = init(&mut other).unwrap_err().to_string();
        assert!(refused.contains("another application's tables (contacts)"), "{refused}");
        let count: i64 = other.query_row("SELECT COUNT(*) FROM sqlite_master", [], |r| r.get(0)).unwrap();
        assert_eq!(count, 1, "nothing was added beside its table");

        // A relay's database copied with `.dump`: the tables, without the version.
        let mut dumped = Connection::open_in_memory().unwrap();
        init(&mut dumped).unwrap();
        dumped.pragma_update(None, "user_version", 0).unwrap();
        let refused = init(&mut dumped).unwrap_err().to_string();
        assert!(
            refused.contains(".dump") && refused.contains(&format!("PRAGMA user_version = {VERSION}")),
            "{refused}"
        );

        // An empty file is the relay's to fill.
        init(&mut Connection::open_in_memory().unwrap()).unwrap();
    }
}
