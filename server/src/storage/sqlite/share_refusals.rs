//! Refusals for a used-up share of a compound's growth, per person, in SQLite.

use doorstep_core::Timestamp;
use doorstep_core::id::{CompoundId, DocumentId, PersonId};
use doorstep_core::schema::vocabulary::DocKind;
use rusqlite::{Connection, params};

use super::parsed;
use crate::storage::{ShareRefused, StorageError};

/// Counts one more refusal of `person` in `compound`, the last for `document` at `at`.
pub(super) fn record(
    conn: &Connection,
    person: PersonId,
    compound: CompoundId,
    document: DocumentId,
    kind: DocKind,
    at: Timestamp,
) -> Result<(), StorageError> {
    conn.prepare_cached(
        "INSERT INTO share_refusals (person, compound, times, last_at, document, kind)
         VALUES (?1, ?2, 1, ?3, ?4, ?5)
         ON CONFLICT (compound, person) DO UPDATE SET
             times = times + 1, last_at = excluded.last_at, document = excluded.document, kind = excluded.kind",
    )?
    .execute(params![person.to_string(), compound.to_string(), at.as_millis(), document.to_string(), kind.as_str()])?;
    Ok(())
}

/// Every person's refusals in `compound`.
pub(super) fn of_compound(
    conn: &Connection,
    compound: CompoundId,
) -> Result<Vec<(PersonId, ShareRefused)>, StorageError> {
    let mut stmt = conn.prepare_cached(
        "SELECT person, times, last_at, document, kind FROM share_refusals WHERE compound = ?1 ORDER BY person",
    )?;
    let rows: Vec<(String, i64, i64, String, String)> = stmt
        .query_map([compound.to_string()], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?))
        })?
        .collect::<Result<_, _>>()?;
    rows.into_iter().map(refused).collect()
}

/// A row as read: person, times, last at, document, kind.
pub(crate) type RawRow = (String, i64, i64, String, String);

/// A row, parsed.
pub(crate) fn refused(
    (person, times, last_at, document, kind): RawRow,
) -> Result<(PersonId, ShareRefused), StorageError> {
    Ok((
        parsed(&person, "person id")?,
        ShareRefused {
            times: u64::try_from(times).map_err(|_| StorageError::Corrupt(format!("{times} refusals")))?,
            last_at: Timestamp::from_millis(last_at),
            document: parsed(&document, "document id")?,
            kind: parsed(&kind, "document kind")?,
        },
    ))
}
