//! What is looked at before the relay opens its SQLite file, because opening it would already do
//! harm or say nothing useful (all found by an operator's black-box run, stop 61):
//!
//! - **A `-wal` without its database.** After a `kill -9` the district's latest writes live in
//!   `NAME-wal` until a checkpoint; an operator who moved `NAME` aside and restarted got a new,
//!   empty district, and SQLite threw the `-wal` away.
//! - **A file of more than one name.** `ln relay.db other.db` and a second `serve --db other.db`
//!   got past the lock beside the file (`NAME.lock`, by name) and served the same data from a
//!   `-wal` of its own name: the two relays' writes overwrote each other, and a district was
//!   wiped. A hard link is refused, for `serve` and the admin commands alike.
//! - **A file that is not the relay's.** Another program's database was refused, but only after
//!   opening it had switched it to WAL (the file changed); a phone's file got "no such table:
//!   main.set_aside" from the first upgrade step. Both are now read read-only first and refused
//!   in words that say what the file is.
//! - **A directory** given for the database is named as one (its link count made it a file of two
//!   names before).
//! - **A file SQLite cannot read as a database** (cut short, or not one at all) is named as damaged,
//!   with what to do, instead of SQLite's "database disk image is malformed".

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use super::schema;
use crate::storage::StorageError;

/// The relay's own tables, all of which a relay's database has.
const RELAY_TABLES: [&str; 4] = ["persons", "compounds", "memberships", "devices"];
/// Tables only a phone's file has (`replica/src/store.rs`, `journal.rs`).
const PHONE_TABLES: [&str; 2] = ["peer_states", "journal_entries"];

/// Refuses to open the database at `path` when opening it would lose or damage data, or when it
/// is not a relay's database; `Ok` for a relay's file and for no file at all (a new district).
pub fn before_open(path: &Path) -> Result<(), StorageError> {
    let wal = with_suffix(path, "-wal");
    if !path.exists() {
        return match std::fs::metadata(&wal) {
            Ok(meta) if meta.len() > 0 => Err(StorageError::Place(format!(
                "{wal} is here but {file} is not: the district's latest writes may be in the -wal file, and opening a new {file} would throw them away. Put the database file back beside it (and start the relay again), or, to start a new district, move {wal} aside first",
                wal = wal.display(),
                file = path.display(),
            ))),
            _ => Ok(()),
        };
    }
    if path.is_dir() {
        // A directory's link count is 2 and up: it was named as a file with two names.
        return Err(StorageError::Place(format!(
            "{} is a directory: give the database file in it (for example {}), not the directory",
            path.display(),
            path.join("doorstep.db").display(),
        )));
    }
    for file in [path, wal.as_path()] {
        if let Some(links) = hard_links(file).filter(|&links| links > 1) {
            return Err(StorageError::Place(format!(
                "{} has {links} names (hard links): a relay serving one name cannot see another relay serving the other, and their writes would overwrite each other. Remove the other names (find them with: find / -xdev -samefile {}), or copy the file (sqlite3 FILE '.backup COPY') instead of linking it",
                file.display(),
                file.display(),
            )));
        }
    }
    if std::fs::metadata(path).is_ok_and(|meta| meta.len() == 0) {
        // Made empty beforehand (`private_file`), or by the operator: a new district.
        return Ok(());
    }
    // SQLite's words for a file or directory it may not write say nothing of which.
    let in_place = |e: rusqlite::Error| super::place::problem(path).unwrap_or(StorageError::Sqlite(e));
    let conn =
        Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .map_err(in_place)?;
    let read = || -> Result<(i64, Vec<String>), rusqlite::Error> {
        let version = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
        let mut stmt = conn.prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )?;
        let tables = stmt.query_map([], |row| row.get(0))?.collect::<Result<_, _>>()?;
        Ok((version, tables))
    };
    let (version, tables) = match read() {
        Ok(found) => found,
        Err(e) if super::integrity::is_damage_error(&e) => {
            return Err(StorageError::Corrupt(format!(
                "{} is not a database SQLite can read ({e}): a file cut short, or not a relay's database at all. If it is the relay's, restore it from a backup (DEPLOY.md) and keep this one aside; otherwise give --db the relay's file",
                path.display()
            )));
        }
        Err(e) => return Err(in_place(e)),
    };
    let has = |table: &str| tables.iter().any(|name| name == table);
    if version == 0 {
        return schema::refuse_tables_without_a_version(&conn);
    }
    if !RELAY_TABLES.iter().all(|table| has(table)) {
        let what = if PHONE_TABLES.iter().any(|table| has(table)) {
            "a phone's file (a volunteer's or coordinator's replica), not a relay's database".to_owned()
        } else {
            let shown: Vec<&str> = tables.iter().take(5).map(String::as_str).collect();
            format!(
                "not a relay's database: it has schema version {version} and tables {}{}",
                shown.join(", "),
                if tables.len() > shown.len() { ", …" } else { "" }
            )
        };
        return Err(StorageError::Unrecognised(format!(
            "{} is {what}; the relay needs a database file of its own: pass --db with the relay's file, or a new one",
            path.display()
        )));
    }
    Ok(())
}

/// `NAME` + `suffix` beside the database file `NAME`.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// How many names (hard links) the file at `path` has, where the platform says.
fn hard_links(path: &Path) -> Option<u64> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path).ok().map(|meta| meta.nlink())
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::storage::sqlite::SqliteStorage;

    /// A relay's database with its writes still in its `-wal` (as after a `kill -9`): the
    /// storage is leaked so that no checkpoint runs when it would close.
    fn served(path: &Path) {
        let storage = SqliteStorage::open_blocking(path.to_owned()).unwrap();
        std::mem::forget(storage);
    }

    fn refusal(path: &Path) -> String {
        SqliteStorage::open_blocking(path.to_owned()).err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn a_wal_without_its_database_is_not_thrown_away() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("relay.db");
        served(&path);
        let wal = with_suffix(&path, "-wal");
        assert!(std::fs::metadata(&wal).unwrap().len() > 0);
        std::fs::rename(&path, dir.path().join("aside.db")).unwrap();
        let refused = refusal(&path);
        assert!(
            refused.contains("relay.db-wal is here but") && refused.contains("Put the database file back"),
            "{refused}"
        );
        assert!(!path.exists(), "no new district was made beside the -wal");
        assert!(std::fs::metadata(&wal).unwrap().len() > 0, "the -wal is kept");
    }

    #[test]
    fn a_database_of_two_names_is_refused_under_either() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("relay.db");
        served(&path);
        let other = dir.path().join("other-name.db");
        std::fs::hard_link(&path, &other).unwrap();
        for name in [&path, &other] {
            let refused = refusal(name);
            assert!(refused.contains("has 2 names (hard links)"), "{refused}");
        }
        std::fs::remove_file(&other).unwrap();
        SqliteStorage::open_blocking(path).unwrap();
    }

    /// A directory given as the database was named a file of two names (a directory's link
    /// count is 2), with advice to look for hard links.
    #[test]
    fn a_directory_given_as_the_database_is_named_as_one() {
        let dir = tempfile::tempdir().unwrap();
        let refused = refusal(dir.path());
        assert!(refused.contains("is a directory: give the database file in it"), "{refused}");
        assert!(!refused.contains("hard links"), "{refused}");
    }

    #[test]
    fn another_programs_database_is_refused_unchanged_and_a_phones_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let foreign = dir.path().join("foreign.db");
        let conn = Connection::open(&foreign).unwrap();
        conn.execute_batch("CREATE TABLE invoices (id INTEGER); INSERT INTO invoices VALUES (1);").unwrap();
        drop(conn);
        let before = std::fs::read(&foreign).unwrap();
        let refused = refusal(&foreign);
        assert!(refused.contains("another application's tables (invoices)"), "{refused}");
        assert_eq!(std::fs::read(&foreign).unwrap(), before, "the file is as it was (not switched to WAL)");

        let phone = dir.path().join("phone.sqlite");
        let conn = Connection::open(&phone).unwrap();
        conn.execute_batch(
            "CREATE TABLE documents (id TEXT); CREATE TABLE peer_states (doc TEXT); PRAGMA user_version = 7;",
        )
        .unwrap();
        drop(conn);
        let refused = refusal(&phone);
        assert!(refused.contains("a phone's file"), "{refused}");
    }

    #[test]
    fn a_database_cut_short_is_named_as_damaged_with_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("relay.db");
        drop(SqliteStorage::open_blocking(path.clone()).unwrap());
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        let _ = std::fs::remove_file(with_suffix(&path, "-wal"));
        let refused = refusal(&path);
        assert!(refused.contains("restore it from a backup"), "{refused}");
    }
}
