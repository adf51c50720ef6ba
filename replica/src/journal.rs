//! The operation journal: every local change is recorded with the [`Operation`] that made it,
//! the time it was made and the random draws it used for new IDs.
//!
//! Automerge chains a device's changes (each depends on the device's previous one), so a change
//! the relay refuses for good would take every later change of the device to that document with
//! it. With the journal, the replica rebuilds the document from the heads it shares with the
//! relay and carries out the later operations again, with the same time and the same random
//! draws (so the same IDs): only the refused operation is set aside. An entry leaves the journal
//! once the relay holds its changes.
//!
//! The journal lives in its own tables of the replica's file and is written in the same
//! transaction as the changes it explains.

use doorstep_core::id::{CompoundId, DocumentId, PersonId};
use doorstep_core::{Operation, Timestamp};
use rusqlite::{Connection, Transaction, params};

use crate::error::ReplicaError;
use crate::store::{Codec, JOURNAL_OPERATION_CONTEXT, bytes_at};

/// The journal's tables, created by schema version 2 of the replica's file.
pub(crate) const SCHEMA: &str = "
CREATE TABLE journal_entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    compound TEXT NOT NULL,
    person TEXT NOT NULL,
    operation TEXT NOT NULL,
    made_at INTEGER NOT NULL,
    entropy BLOB NOT NULL
);
CREATE TABLE journal_changes (
    hash TEXT PRIMARY KEY,
    entry INTEGER NOT NULL REFERENCES journal_entries(id) ON DELETE CASCADE,
    doc TEXT NOT NULL
);
CREATE INDEX journal_changes_by_doc ON journal_changes(doc);
CREATE TABLE set_aside_operations (
    hash TEXT PRIMARY KEY,
    person TEXT NOT NULL,
    operation TEXT NOT NULL,
    made_at INTEGER NOT NULL
);
";

/// One journaled operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JournalEntry {
    /// Its row.
    pub id: i64,
    /// The compound it was applied in.
    pub compound: CompoundId,
    /// Who made it.
    pub person: PersonId,
    /// What it was.
    pub operation: Operation,
    /// When (device time).
    pub made_at: Timestamp,
    /// The random draws it used, in order.
    pub entropy: Vec<u128>,
}

/// An operation as [`Store::commit`](crate::store::Store::commit) records it.
#[derive(Debug, Clone)]
pub(crate) struct NewEntry<'a> {
    pub compound: CompoundId,
    pub person: PersonId,
    pub operation: &'a Operation,
    pub made_at: Timestamp,
    pub entropy: &'a [u128],
    /// The change it made in each document.
    pub changes: &'a [(DocumentId, String)],
}

fn entropy_bytes(draws: &[u128]) -> Vec<u8> {
    draws.iter().flat_map(|d| d.to_le_bytes()).collect()
}

fn entropy_draws(bytes: &[u8]) -> Vec<u128> {
    bytes.chunks_exact(16).filter_map(|c| <[u8; 16]>::try_from(c).ok()).map(u128::from_le_bytes).collect()
}

/// Records a new entry and its changes.
pub(crate) fn record(tx: &Transaction<'_>, codec: &Codec, entry: &NewEntry<'_>) -> Result<(), ReplicaError> {
    let operation = serde_json::to_string(entry.operation)
        .map_err(|e| ReplicaError::Journal(format!("operation does not serialize: {e}")))?;
    // The operation holds what the person typed (notes, requests): sealed in an encrypted file.
    let operation = codec.text_value(JOURNAL_OPERATION_CONTEXT, &operation)?;
    tx.prepare_cached(
        "INSERT INTO journal_entries (compound, person, operation, made_at, entropy)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        entry.compound.to_string(),
        entry.person.to_string(),
        operation,
        entry.made_at.as_millis(),
        entropy_bytes(entry.entropy)
    ])?;
    let id = tx.last_insert_rowid();
    for (doc, hash) in entry.changes {
        tx.prepare_cached(
            "INSERT INTO journal_changes (hash, entry, doc) VALUES (?1, ?2, ?3)
             ON CONFLICT(hash) DO UPDATE SET entry = excluded.entry, doc = excluded.doc",
        )?
        .execute(params![hash, id, doc.to_string()])?;
    }
    Ok(())
}

/// Points a journaled change at the new hash it got when its operation was carried out again.
pub(crate) fn rehash(tx: &Transaction<'_>, old: &str, new: &str) -> Result<(), ReplicaError> {
    tx.prepare_cached("UPDATE journal_changes SET hash = ?2 WHERE hash = ?1")?.execute(params![old, new])?;
    Ok(())
}

/// Moves a journaled operation's time, once it was carried out again at that time.
pub(crate) fn retime(tx: &Transaction<'_>, entry: i64, made_at: Timestamp) -> Result<(), ReplicaError> {
    tx.prepare_cached("UPDATE journal_entries SET made_at = ?2 WHERE id = ?1")?
        .execute(params![entry, made_at.as_millis()])?;
    Ok(())
}

/// Forgets a journaled change (the relay has it, or it was set aside); an entry with no change
/// left goes too.
pub(crate) fn forget(tx: &Transaction<'_>, hash: &str) -> Result<(), ReplicaError> {
    tx.prepare_cached("DELETE FROM journal_changes WHERE hash = ?1")?.execute([hash])?;
    tx.prepare_cached("DELETE FROM journal_entries WHERE id NOT IN (SELECT entry FROM journal_changes)")?
        .execute([])?;
    Ok(())
}

/// Keeps the readable form of a set-aside operation beside its raw change.
pub(crate) fn keep_set_aside(
    tx: &Transaction<'_>,
    codec: &Codec,
    context: &str,
    hash: &str,
    entry: &JournalEntry,
) -> Result<(), ReplicaError> {
    let operation = serde_json::to_string(&entry.operation)
        .map_err(|e| ReplicaError::Journal(format!("operation does not serialize: {e}")))?;
    let operation = codec.text_value(context, &operation)?;
    tx.prepare_cached(
        "INSERT OR IGNORE INTO set_aside_operations (hash, person, operation, made_at)
         VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![hash, entry.person.to_string(), operation, entry.made_at.as_millis()])?;
    Ok(())
}

/// Every journaled change of `doc`, by hash, with its entry, oldest entry first.
pub(crate) fn of_document(
    conn: &Connection,
    codec: &Codec,
    doc: DocumentId,
) -> Result<Vec<(String, JournalEntry)>, ReplicaError> {
    let mut stmt = conn.prepare_cached(
        "SELECT c.hash, e.id, e.compound, e.person, e.operation, e.made_at, e.entropy
         FROM journal_changes c JOIN journal_entries e ON e.id = c.entry
         WHERE c.doc = ?1 ORDER BY e.id",
    )?;
    let rows = stmt.query_map([doc.to_string()], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            bytes_at(r, 4)?,
            r.get::<_, i64>(5)?,
            r.get::<_, Vec<u8>>(6)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (hash, id, compound, person, operation, made_at, entropy) = row?;
        let operation = codec.text(JOURNAL_OPERATION_CONTEXT, operation)?;
        // A row this app cannot read (written by a newer one) cannot be carried out again; its
        // change is then treated like an unjournaled one and set aside raw if it must be.
        let (Ok(compound), Ok(person), Ok(operation)) = (
            compound.parse::<CompoundId>(),
            person.parse::<PersonId>(),
            serde_json::from_str::<Operation>(&operation),
        ) else {
            tracing::warn!(%hash, "journal entry not readable; its change cannot be carried out again");
            continue;
        };
        let entry = JournalEntry {
            id,
            compound,
            person,
            operation,
            made_at: Timestamp::from_millis(made_at),
            entropy: entropy_draws(&entropy),
        };
        out.push((hash, entry));
    }
    Ok(out)
}

/// Every journaled change hash with its document.
pub(crate) fn hashes(conn: &Connection) -> Result<Vec<(String, String)>, ReplicaError> {
    let mut stmt = conn.prepare_cached("SELECT hash, doc FROM journal_changes")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Draws that replay the recorded ones, then fresh ones if the operation asks for more (it
/// would not, carried out again on the same input; but a changed document may lead it another
/// way).
pub(crate) fn replay(recorded: &[u128]) -> impl FnMut() -> u128 + '_ {
    let mut next = recorded.iter();
    move || next.next().copied().unwrap_or_else(rand::random::<u128>)
}
