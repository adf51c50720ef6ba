//! The replica's SQLite file. Every write goes through [`Store::commit`], one transaction for a
//! batch of [`Write`]s, so an operation that touches two documents is durable all at once or not
//! at all.
//!
//! The file is in WAL mode with `synchronous = FULL`: a commit survives the app being killed and
//! the phone losing power. Documents are a compacted snapshot plus the incremental chunks
//! appended since; loading concatenates them, which Automerge reads as one document.

use std::path::Path;

use doorstep_core::document::Header;
use doorstep_core::id::{CompoundId, DocumentId};
use rusqlite::{Connection, OptionalExtension, params};

use crate::error::ReplicaError;

/// The schema version this code writes (`PRAGMA user_version`). Version 2 adds the operation
/// journal's tables (`journal.rs`).
pub(crate) const VERSION: i64 = 2;

/// The schema, as a fresh database gets it.
const SCHEMA_V1: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE documents (
    id TEXT PRIMARY KEY,
    compound TEXT NOT NULL,
    kind TEXT NOT NULL,
    snapshot BLOB NOT NULL
);
CREATE TABLE chunks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    doc TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    bytes BLOB NOT NULL
);
CREATE INDEX chunks_by_doc ON chunks(doc, seq);
CREATE TABLE peer_states (doc TEXT PRIMARY KEY, state BLOB NOT NULL);
CREATE TABLE roles (compound TEXT PRIMARY KEY, role TEXT NOT NULL);
CREATE TABLE quarantine (
    hash TEXT PRIMARY KEY,
    doc TEXT NOT NULL,
    rule TEXT NOT NULL,
    reason TEXT NOT NULL,
    bytes BLOB NOT NULL,
    at INTEGER NOT NULL
);
";

/// One write of a batch.
#[derive(Debug, Clone)]
pub(crate) enum Write<'a> {
    /// A new document with its first snapshot.
    Create { header: Header, snapshot: &'a [u8] },
    /// An incremental chunk appended to a document.
    Append { doc: DocumentId, chunk: &'a [u8] },
    /// A compacted snapshot replacing the document's snapshot and chunks.
    Compact { doc: DocumentId, snapshot: &'a [u8] },
    /// A document dropped from the device, with its sync state.
    Delete { doc: DocumentId },
    /// The sync state with the relay for one document.
    PeerState { doc: DocumentId, state: &'a [u8] },
    /// This device's role in a compound.
    Role { compound: CompoundId, role: &'a str },
    /// A compound this device no longer belongs to.
    DeleteRole { compound: CompoundId },
    /// A key of the meta table.
    Meta { key: &'a str, value: &'a [u8] },
    /// A change the relay refused, kept for the user to see and export.
    Quarantine { hash: &'a str, doc: DocumentId, rule: &'a str, reason: &'a str, bytes: &'a [u8], at: i64 },
    /// An operation and the changes it made, for the journal.
    Journal(crate::journal::NewEntry<'a>),
    /// A journaled change carried out again under a new hash.
    JournalRehash { old: &'a str, new: &'a str },
    /// A journaled change the relay now holds, or that was set aside.
    JournalForget { hash: &'a str },
    /// The operation behind a set-aside change, in readable form.
    SetAsideOperation { hash: &'a str, entry: &'a crate::journal::JournalEntry },
}

/// A document as stored: its header, its bytes (snapshot then chunks) and how many chunks.
#[derive(Debug)]
pub(crate) struct StoredDocument {
    pub header: Header,
    pub bytes: Vec<u8>,
    pub chunks: usize,
}

/// The SQLite file.
#[derive(Debug)]
pub(crate) struct Store {
    conn: Connection,
}

impl Store {
    /// Opens (creating if needed) and upgrades the file.
    pub fn open(path: &Path) -> Result<Self, ReplicaError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let mut store = Self { conn };
        store.upgrade()?;
        Ok(store)
    }

    fn upgrade(&mut self) -> Result<(), ReplicaError> {
        let version: i64 = self.conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > VERSION {
            return Err(ReplicaError::StoreTooNew { found: version, supported: VERSION });
        }
        let tx = self.conn.transaction()?;
        if version < 1 {
            tx.execute_batch(SCHEMA_V1)?;
        }
        if version < 2 {
            tx.execute_batch(crate::journal::SCHEMA)?;
        }
        tx.pragma_update(None, "user_version", VERSION)?;
        tx.commit()?;
        Ok(())
    }

    /// Commits `writes` in one transaction.
    pub fn commit(&mut self, writes: &[Write<'_>]) -> Result<(), ReplicaError> {
        if writes.is_empty() {
            return Ok(());
        }
        let tx = self.conn.transaction()?;
        for write in writes {
            match write {
                Write::Create { header, snapshot } => {
                    tx.prepare_cached(
                        "INSERT INTO documents (id, compound, kind, snapshot) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT(id) DO UPDATE SET snapshot = excluded.snapshot",
                    )?
                    .execute(params![
                        header.id.to_string(),
                        header.compound.to_string(),
                        header.kind.as_str(),
                        snapshot
                    ])?;
                    tx.prepare_cached("DELETE FROM chunks WHERE doc = ?1")?
                        .execute([header.id.to_string()])?;
                }
                Write::Append { doc, chunk } => {
                    tx.prepare_cached("INSERT INTO chunks (doc, bytes) VALUES (?1, ?2)")?
                        .execute(params![doc.to_string(), chunk])?;
                }
                Write::Compact { doc, snapshot } => {
                    tx.prepare_cached("UPDATE documents SET snapshot = ?2 WHERE id = ?1")?
                        .execute(params![doc.to_string(), snapshot])?;
                    tx.prepare_cached("DELETE FROM chunks WHERE doc = ?1")?.execute([doc.to_string()])?;
                }
                Write::Delete { doc } => {
                    tx.prepare_cached("DELETE FROM chunks WHERE doc = ?1")?.execute([doc.to_string()])?;
                    tx.prepare_cached("DELETE FROM documents WHERE id = ?1")?.execute([doc.to_string()])?;
                    tx.prepare_cached("DELETE FROM peer_states WHERE doc = ?1")?
                        .execute([doc.to_string()])?;
                }
                Write::PeerState { doc, state } => {
                    tx.prepare_cached(
                        "INSERT INTO peer_states (doc, state) VALUES (?1, ?2)
                         ON CONFLICT(doc) DO UPDATE SET state = excluded.state",
                    )?
                    .execute(params![doc.to_string(), state])?;
                }
                Write::Role { compound, role } => {
                    tx.prepare_cached(
                        "INSERT INTO roles (compound, role) VALUES (?1, ?2)
                         ON CONFLICT(compound) DO UPDATE SET role = excluded.role",
                    )?
                    .execute(params![compound.to_string(), role])?;
                }
                Write::DeleteRole { compound } => {
                    tx.prepare_cached("DELETE FROM roles WHERE compound = ?1")?
                        .execute([compound.to_string()])?;
                }
                Write::Meta { key, value } => {
                    tx.prepare_cached(
                        "INSERT INTO meta (key, value) VALUES (?1, ?2)
                         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    )?
                    .execute(params![key, value])?;
                }
                Write::Quarantine { hash, doc, rule, reason, bytes, at } => {
                    tx.prepare_cached(
                        "INSERT OR IGNORE INTO quarantine (hash, doc, rule, reason, bytes, at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    )?
                    .execute(params![hash, doc.to_string(), rule, reason, bytes, at])?;
                }
                Write::Journal(entry) => crate::journal::record(&tx, entry)?,
                Write::JournalRehash { old, new } => crate::journal::rehash(&tx, old, new)?,
                Write::JournalForget { hash } => crate::journal::forget(&tx, hash)?,
                Write::SetAsideOperation { hash, entry } => crate::journal::keep_set_aside(&tx, hash, entry)?,
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// A meta value.
    pub fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, ReplicaError> {
        Ok(self.conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0)).optional()?)
    }

    /// Every stored document. Rows that cannot be parsed are reported, not skipped silently.
    pub fn documents(&self) -> Result<Vec<StoredDocument>, ReplicaError> {
        let mut stmt = self.conn.prepare("SELECT id, compound, kind, snapshot FROM documents ORDER BY id")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Vec<u8>>(3)?,
            ))
        })?;
        let mut chunks = self.conn.prepare_cached("SELECT bytes FROM chunks WHERE doc = ?1 ORDER BY seq")?;
        let mut out = Vec::new();
        for row in rows {
            let (id, compound, kind, mut bytes) = row?;
            let header = Header {
                id: id.parse().map_err(|e| ReplicaError::BadIdentity(format!("document row: {e}")))?,
                compound: compound
                    .parse()
                    .map_err(|e| ReplicaError::BadIdentity(format!("document row: {e}")))?,
                kind: kind.parse().map_err(|e| ReplicaError::BadIdentity(format!("document row: {e}")))?,
            };
            let mut count = 0;
            for chunk in chunks.query_map([&id], |r| r.get::<_, Vec<u8>>(0))? {
                bytes.extend_from_slice(&chunk?);
                count += 1;
            }
            out.push(StoredDocument { header, bytes, chunks: count });
        }
        Ok(out)
    }

    /// Every stored peer state, by document.
    pub fn peer_states(&self) -> Result<Vec<(String, Vec<u8>)>, ReplicaError> {
        let mut stmt = self.conn.prepare("SELECT doc, state FROM peer_states")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every stored role, by compound.
    pub fn roles(&self) -> Result<Vec<(String, String)>, ReplicaError> {
        let mut stmt = self.conn.prepare("SELECT compound, role FROM roles")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The quarantined (set-aside) changes, oldest first, with the operation behind each when
    /// it was journaled.
    pub fn quarantine(&self) -> Result<Vec<crate::QuarantinedChange>, ReplicaError> {
        let mut stmt = self.conn.prepare(
            "SELECT q.hash, q.doc, q.rule, q.reason, q.bytes, q.at, o.person, o.operation, o.made_at
             FROM quarantine q LEFT JOIN set_aside_operations o ON o.hash = q.hash
             ORDER BY q.at, q.hash",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(crate::QuarantinedChange {
                hash: r.get(0)?,
                document: r.get(1)?,
                rule: r.get(2)?,
                reason: r.get(3)?,
                bytes: r.get(4)?,
                at: r.get(5)?,
                person: r.get(6)?,
                operation: r.get(7)?,
                made_at: r.get(8)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// How many changes are set aside.
    pub fn quarantine_count(&self) -> Result<usize, ReplicaError> {
        let n: i64 = self.conn.query_row("SELECT count(*) FROM quarantine", [], |r| r.get(0))?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// Every journaled change of `doc`, oldest operation first.
    pub fn journal_of(
        &self,
        doc: DocumentId,
    ) -> Result<Vec<(String, crate::journal::JournalEntry)>, ReplicaError> {
        crate::journal::of_document(&self.conn, doc)
    }

    /// Every journaled change hash with its document.
    pub fn journal_hashes(&self) -> Result<Vec<(String, String)>, ReplicaError> {
        crate::journal::hashes(&self.conn)
    }
}
