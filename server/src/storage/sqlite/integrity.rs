//! Damage to the database file, found at start and named in `/healthz`.
//!
//! `doorstep serve` runs SQLite's `PRAGMA quick_check` before it accepts connections (skip it
//! with `--skip-integrity-check` on a database so large that the check's full read would delay
//! the start too long). `quick_check` reads every page and checks the b-tree structure and
//! record formats, in time linear in the file's size; it skips only the comparison of each
//! index against its table, which `integrity_check` adds at a much higher cost.
//!
//! A damaged database does not stop the relay: it starts, logs the damage, and `/healthz`
//! answers 503 with the reason, so a load balancer or an operator sees it at once instead of
//! phones getting "try again" for ever.

use rusqlite::ErrorCode;

use super::SqliteStorage;
use crate::storage::StorageError;

/// Problems reported beyond this many are counted, not listed.
const MAX_LISTED: usize = 5;
/// The most characters of SQLite's words on the damage kept.
const MAX_CHARS: usize = 300;

/// What the check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Integrity {
    /// No damage.
    Intact,
    /// Damage, in SQLite's words (the first few problems).
    Damaged(String),
}

impl SqliteStorage {
    /// Runs `PRAGMA quick_check` on the database file.
    pub async fn check_integrity(&self) -> Result<Integrity, StorageError> {
        let path = self.path().to_path_buf();
        tokio::task::spawn_blocking(move || {
            let conn =
                rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
            let found: Result<Vec<String>, rusqlite::Error> = conn
                .prepare("PRAGMA quick_check")
                .and_then(|mut stmt| stmt.query_map([], |row| row.get::<_, String>(0))?.collect());
            match found {
                Ok(lines) if lines.len() == 1 && lines[0] == "ok" => Ok(Integrity::Intact),
                Ok(lines) => {
                    let mut text = lines.iter().take(MAX_LISTED).cloned().collect::<Vec<_>>().join("; ");
                    if lines.len() > MAX_LISTED {
                        text.push_str(&format!("; and {} more", lines.len() - MAX_LISTED));
                    }
                    // One of SQLite's lines may list every page it found unused (2 KB on
                    // /healthz): the start says what it is.
                    if text.chars().count() > MAX_CHARS {
                        text = text.chars().take(MAX_CHARS).collect::<String>() + "…";
                    }
                    Ok(Integrity::Damaged(text))
                }
                // So damaged that the check itself cannot run.
                Err(e) if is_damage_error(&e) => Ok(Integrity::Damaged(e.to_string())),
                Err(e) => Err(e.into()),
            }
        })
        .await
        .map_err(|e| StorageError::Task(e.to_string()))?
    }
}

/// Whether SQLite's error says the file is damaged or is no database.
pub(super) fn is_damage_error(e: &rusqlite::Error) -> bool {
    matches!(e.sqlite_error_code(), Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase))
}

/// Whether a storage failure means the stored data is damaged (so a retry cannot help), not
/// that the store is busy or briefly unreachable.
pub fn is_damage(e: &StorageError) -> bool {
    match e {
        StorageError::Corrupt(_) => true,
        StorageError::Sqlite(e) => is_damage_error(e),
        _ => false,
    }
}
