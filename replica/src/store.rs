//! The replica's SQLite file. Every write goes through [`Store::commit`], one transaction for a
//! batch of [`Write`]s, so an operation that touches two documents is durable all at once or not
//! at all.
//!
//! The file is in WAL mode with `synchronous = FULL`: a commit survives the app being killed and
//! the phone losing power. Documents are a compacted snapshot plus the incremental chunks
//! appended since; loading concatenates them, which Automerge reads as one document.
//!
//! Nothing deleted stays in the file: every connection sets `secure_delete` (SQLite overwrites
//! deleted content and freed pages with zeros) and keeps temporary tables in memory, and
//! [`Store::scrub`] vacuums the file and truncates its WAL after a document is withdrawn, so a
//! revoked phone's file holds none of the withdrawn roster, not even in free pages.
//!
//! Opened with a [`ReplicaKey`], every value that carries data is sealed (`cipher.rs`) on its
//! way in and opened on its way out; a `key_check` meta row tells a wrong key from a right one.
//! A plain file opened with a key for the first time is encrypted in place and scrubbed.

use std::path::Path;

use doorstep_core::document::Header;
use doorstep_core::id::{CompoundId, DocumentId};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params};

use crate::cipher::{ReplicaKey, Sealer};
use crate::error::ReplicaError;
use crate::file_lock::FileLock;

/// The meta key whose sealed value proves the key right. It is itself a sealed constant.
const KEY_CHECK: &str = "key_check";
const KEY_CHECK_PLAIN: &[u8] = b"doorstep replica key v1";

/// The schema version this code writes (`PRAGMA user_version`). Version 2 adds the operation
/// journal's tables (`journal.rs`); version 3 what became of set-aside items (`review.rs`);
/// version 4 the compound of each set-aside item and when the phone let go of what it said
/// (`let_go.rs`).
pub(crate) const VERSION: i64 = 4;

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
    /// A key of the meta table removed.
    DeleteMeta { key: &'a str },
    /// Every key of the meta table that starts with `prefix` removed.
    DeleteMetaStartingWith { prefix: &'a str },
    /// A change the relay refused, kept for the user to see and export.
    Quarantine {
        hash: &'a str,
        compound: CompoundId,
        doc: DocumentId,
        rule: &'a str,
        reason: &'a str,
        bytes: &'a [u8],
        at: i64,
    },
    /// A set-aside change whose compound the phone left, once the relay holds it: its bytes,
    /// operation and reason go, and its outcome keeps no name or note (`let_go.rs`).
    LetGo { hash: &'a str, reason: &'a str, at: i64 },
    /// An operation and the changes it made, for the journal.
    Journal(crate::journal::NewEntry<'a>),
    /// A journaled change carried out again under a new hash.
    JournalRehash { old: &'a str, new: &'a str },
    /// A journaled operation carried out again at a time moved by the relay's clock
    /// (`set_aside::Retime`): carried out so from now on.
    JournalRetime { entry: i64, made_at: doorstep_core::Timestamp },
    /// A journaled change the relay now holds, or that was set aside.
    JournalForget { hash: &'a str },
    /// The operation behind a set-aside change, in readable form.
    SetAsideOperation { hash: &'a str, entry: &'a crate::journal::JournalEntry },
    /// Where a set-aside item stands with the coordinators.
    Review {
        hash: &'a str,
        state: crate::review::ReviewState,
        outcome: Option<&'a crate::review::KeptOutcome>,
    },
}

/// A document as stored: its header, its bytes (snapshot then chunks) and how many chunks.
#[derive(Debug)]
pub(crate) struct StoredDocument {
    pub header: Header,
    pub bytes: Vec<u8>,
    pub chunks: usize,
}

/// How values go to the file: as they are, or sealed with the replica's key.
#[derive(Debug)]
pub(crate) enum Codec {
    Plain,
    Sealed(Sealer),
}

impl Codec {
    fn encode(&self, context: &str, value: &[u8]) -> Result<Vec<u8>, ReplicaError> {
        match self {
            Codec::Plain => Ok(value.to_vec()),
            Codec::Sealed(sealer) => sealer.seal(context, value),
        }
    }

    fn decode(&self, context: &str, value: Vec<u8>) -> Result<Vec<u8>, ReplicaError> {
        match self {
            Codec::Plain => Ok(value),
            Codec::Sealed(sealer) => sealer.open(context, &value),
        }
    }

    /// Text as SQLite keeps it: as text in a plain file, as a sealed blob in an encrypted one.
    pub(crate) fn text_value(
        &self,
        context: &str,
        text: &str,
    ) -> Result<rusqlite::types::Value, ReplicaError> {
        Ok(match self {
            Codec::Plain => text.to_owned().into(),
            Codec::Sealed(sealer) => sealer.seal(context, text.as_bytes())?.into(),
        })
    }

    /// Text read back from [`Codec::text_value`].
    pub(crate) fn text(&self, context: &str, stored: Vec<u8>) -> Result<String, ReplicaError> {
        Ok(String::from_utf8_lossy(&self.decode(context, stored)?).into_owned())
    }
}

/// The row names that seal each value (its associated data).
fn snapshot_context(doc: &str) -> String {
    format!("snapshot {doc}")
}
fn chunk_context(doc: &str) -> String {
    format!("chunk {doc}")
}
fn peer_state_context(doc: &str) -> String {
    format!("peer_state {doc}")
}
fn meta_context(key: &str) -> String {
    format!("meta {key}")
}
fn quarantine_context(hash: &str) -> String {
    format!("quarantine {hash}")
}
fn quarantine_reason_context(hash: &str) -> String {
    format!("quarantine reason {hash}")
}

/// A set-aside item's reason as stored: as text in a plain file, as a sealed blob in an
/// encrypted one.
fn quarantine_reason_value(
    codec: &Codec,
    hash: &str,
    reason: &str,
) -> Result<rusqlite::types::Value, ReplicaError> {
    Ok(match codec {
        Codec::Plain => reason.to_owned().into(),
        Codec::Sealed(sealer) => sealer.seal(&quarantine_reason_context(hash), reason.as_bytes())?.into(),
    })
}
fn set_aside_operation_context(hash: &str) -> String {
    format!("set_aside operation {hash}")
}
/// Journal entries are sealed for the journal as a whole: their row IDs are given on insert.
pub(crate) const JOURNAL_OPERATION_CONTEXT: &str = "journal operation";

/// A quarantine row as stored: hash, document, rule, reason and bytes (sealed or not), time.
type QuarantineRow = (String, String, String, Vec<u8>, Vec<u8>, i64);

/// The readable operation kept beside a set-aside change: person, operation (sealed or not),
/// when it was made.
type SetAsideRow = (Option<String>, Option<Vec<u8>>, Option<i64>);

/// A column read as bytes whether SQLite holds it as a blob or as text (a plain file keeps
/// reasons as text; an encrypted one seals them into blobs).
pub(crate) fn bytes_at(row: &Row<'_>, index: usize) -> rusqlite::Result<Vec<u8>> {
    match row.get_ref(index)? {
        ValueRef::Blob(b) | ValueRef::Text(b) => Ok(b.to_vec()),
        other => Err(rusqlite::Error::InvalidColumnType(index, "bytes".into(), other.data_type())),
    }
}

/// The replica file, and what SQLite is given to open it: its path, or a `file:` URI.
struct ReadTarget {
    path: std::path::PathBuf,
    open: std::ffi::OsString,
}

/// The file at `path` opened read-only (`mode=ro`). With no `-wal` beside it (the last
/// connection closed cleanly, so everything is in the file), also `immutable=1`: SQLite cannot
/// read a WAL file in a read-only folder otherwise, as it cannot make the `-shm` index there.
/// The replica's lock keeps every other writer of ours out meanwhile.
fn read_only_uri(path: &Path) -> ReadTarget {
    let mut uri = String::from("file:");
    for &byte in path.to_string_lossy().as_bytes() {
        if byte.is_ascii_alphanumeric() || b"/-_.~".contains(&byte) {
            uri.push(char::from(byte));
        } else {
            uri.push_str(&format!("%{byte:02X}"));
        }
    }
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    uri.push_str(if Path::new(&wal).exists() { "?mode=ro" } else { "?mode=ro&immutable=1" });
    ReadTarget { path: path.to_owned(), open: uri.into() }
}

/// The SQLite file.
#[derive(Debug)]
pub(crate) struct Store {
    conn: Connection,
    codec: Codec,
    /// Held while the file is open: one replica per file ([`FileLock`]).
    _lock: FileLock,
}

impl Store {
    /// Opens (creating if needed) and upgrades the file, sealed with `key` when given. A plain
    /// file opened with a key is encrypted in place.
    ///
    /// A file on storage that takes no writes (gone read-only, or full so that SQLite cannot
    /// make its shared-memory index) is opened read-only, so the phone still shows what it
    /// holds; a write then fails with [`ReplicaError::StorageReadOnly`] or
    /// [`ReplicaError::StorageFull`], which say so.
    pub fn open_with(path: &Path, key: Option<&ReplicaKey>) -> Result<Self, ReplicaError> {
        let plain = ReadTarget { path: path.to_owned(), open: path.as_os_str().to_owned() };
        match Self::connect(&plain, OpenFlags::default(), key) {
            Err(e @ (ReplicaError::StorageReadOnly(_) | ReplicaError::StorageFull(_))) if path.exists() => {
                tracing::warn!(error = %e, "the replica's storage takes no writes; opening it read-only to show what it holds");
                let read_only = OpenFlags::SQLITE_OPEN_READ_ONLY
                    | OpenFlags::SQLITE_OPEN_URI
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX;
                Self::connect(&read_only_uri(path), read_only, key).map_err(|again| match again {
                    ReplicaError::Storage(_)
                    | ReplicaError::StorageReadOnly(_)
                    | ReplicaError::StorageFull(_) => e,
                    other => other,
                })
            }
            opened => opened,
        }
    }

    /// [`Store::open_with`] with the SQLite open flags given.
    fn connect(
        target: &ReadTarget,
        flags: OpenFlags,
        key: Option<&ReplicaKey>,
    ) -> Result<Self, ReplicaError> {
        let lock = FileLock::take(&target.path)?;
        let conn = Connection::open_with_flags(&target.open, flags)?;
        // Set only when it is not WAL yet: opening a file that is needs no write.
        let mode: String = conn.pragma_query_value(None, "journal_mode", |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            conn.pragma_update(None, "journal_mode", "WAL")?;
        }
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.pragma_update(None, "secure_delete", "ON")?;
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let mut store = Self { conn, codec: Codec::Plain, _lock: lock };
        store.upgrade()?;
        store.unlock(key)?;
        Ok(store)
    }

    /// Chooses the codec from the key given and the file's `key_check`.
    fn unlock(&mut self, key: Option<&ReplicaKey>) -> Result<(), ReplicaError> {
        let check: Option<Vec<u8>> = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [KEY_CHECK], |r| r.get(0))
            .optional()?;
        match (key, check) {
            (None, None) => Ok(()),
            (None, Some(_)) => Err(ReplicaError::KeyRequired),
            (Some(key), Some(check)) => {
                let sealer = Sealer::new(key);
                match sealer.open(&meta_context(KEY_CHECK), &check) {
                    Ok(plain) if plain == KEY_CHECK_PLAIN => {
                        self.codec = Codec::Sealed(sealer);
                        Ok(())
                    }
                    _ => Err(ReplicaError::WrongKey),
                }
            }
            (Some(key), None) => self.encrypt_in_place(Sealer::new(key)),
        }
    }

    /// Seals every value of a plain file (a fresh one has none) in one transaction, records the
    /// key check, then scrubs the file so no plain value is left in free pages or the WAL.
    fn encrypt_in_place(&mut self, sealer: Sealer) -> Result<(), ReplicaError> {
        let tx = self.conn.transaction()?;
        let mut sealed_values = 0_usize;
        {
            let mut reseal =
                |select: &str, update: &str, context: &dyn Fn(&str) -> String| -> Result<(), ReplicaError> {
                    let rows: Vec<(i64, String, Vec<u8>)> = {
                        let mut stmt = tx.prepare(select)?;
                        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, bytes_at(r, 2)?)))?
                            .collect::<Result<_, _>>()?
                    };
                    for (rowid, name, value) in rows {
                        tx.execute(update, params![rowid, sealer.seal(&context(&name), &value)?])?;
                        sealed_values += 1;
                    }
                    Ok(())
                };
            reseal(
                "SELECT rowid, id, snapshot FROM documents",
                "UPDATE documents SET snapshot = ?2 WHERE rowid = ?1",
                &snapshot_context,
            )?;
            reseal(
                "SELECT rowid, doc, bytes FROM chunks",
                "UPDATE chunks SET bytes = ?2 WHERE rowid = ?1",
                &chunk_context,
            )?;
            reseal(
                "SELECT rowid, doc, state FROM peer_states",
                "UPDATE peer_states SET state = ?2 WHERE rowid = ?1",
                &peer_state_context,
            )?;
            reseal(
                "SELECT rowid, key, value FROM meta",
                "UPDATE meta SET value = ?2 WHERE rowid = ?1",
                &meta_context,
            )?;
            reseal(
                "SELECT rowid, hash, bytes FROM quarantine",
                "UPDATE quarantine SET bytes = ?2 WHERE rowid = ?1",
                &quarantine_context,
            )?;
            reseal(
                "SELECT rowid, hash, operation FROM set_aside_operations",
                "UPDATE set_aside_operations SET operation = ?2 WHERE rowid = ?1",
                &set_aside_operation_context,
            )?;
            reseal(
                "SELECT rowid, '', operation FROM journal_entries",
                "UPDATE journal_entries SET operation = ?2 WHERE rowid = ?1",
                &|_: &str| JOURNAL_OPERATION_CONTEXT.to_owned(),
            )?;
            reseal(
                "SELECT rowid, hash, outcome FROM set_aside_reviews WHERE outcome IS NOT NULL",
                "UPDATE set_aside_reviews SET outcome = ?2 WHERE rowid = ?1",
                &crate::review::outcome_context,
            )?;
            reseal(
                "SELECT rowid, hash, reason FROM quarantine",
                "UPDATE quarantine SET reason = ?2 WHERE rowid = ?1",
                &quarantine_reason_context,
            )?;
        }
        tx.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)",
            params![KEY_CHECK, sealer.seal(&meta_context(KEY_CHECK), KEY_CHECK_PLAIN)?],
        )?;
        tx.commit()?;
        self.codec = Codec::Sealed(sealer);
        if sealed_values > 0 {
            self.scrub()?;
            tracing::info!(values = sealed_values, "a plain replica file was encrypted in place");
        }
        Ok(())
    }

    fn upgrade(&mut self) -> Result<(), ReplicaError> {
        let version: i64 = self.conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > VERSION {
            return Err(ReplicaError::StoreTooNew { found: version, supported: VERSION });
        }
        // A current file is opened without a write: a phone whose storage is full or read-only
        // still opens and shows what it holds (a write then says why it cannot be made).
        if version == VERSION {
            return Ok(());
        }
        let tx = self.conn.transaction()?;
        if version < 1 {
            tx.execute_batch(SCHEMA_V1)?;
        }
        if version < 2 {
            tx.execute_batch(crate::journal::SCHEMA)?;
        }
        if version < 3 {
            tx.execute_batch(crate::review::SCHEMA)?;
        }
        if version < 4 {
            tx.execute_batch(crate::let_go::SCHEMA)?;
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
        let codec = &self.codec;
        let tx = self.conn.transaction()?;
        for write in writes {
            match write {
                Write::Create { header, snapshot } => {
                    let id = header.id.to_string();
                    let snapshot = codec.encode(&snapshot_context(&id), snapshot)?;
                    tx.prepare_cached(
                        "INSERT INTO documents (id, compound, kind, snapshot) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT(id) DO UPDATE SET snapshot = excluded.snapshot",
                    )?
                    .execute(params![
                        id,
                        header.compound.to_string(),
                        header.kind.as_str(),
                        snapshot
                    ])?;
                    tx.prepare_cached("DELETE FROM chunks WHERE doc = ?1")?.execute([&id])?;
                }
                Write::Append { doc, chunk } => {
                    let doc = doc.to_string();
                    let chunk = codec.encode(&chunk_context(&doc), chunk)?;
                    tx.prepare_cached("INSERT INTO chunks (doc, bytes) VALUES (?1, ?2)")?
                        .execute(params![doc, chunk])?;
                }
                Write::Compact { doc, snapshot } => {
                    let snapshot = codec.encode(&snapshot_context(&doc.to_string()), snapshot)?;
                    tx.prepare_cached("UPDATE documents SET snapshot = ?2 WHERE id = ?1")?
                        .execute(params![doc.to_string(), snapshot])?;
                    tx.prepare_cached("DELETE FROM chunks WHERE doc = ?1")?.execute([doc.to_string()])?;
                }
                Write::Delete { doc } => {
                    tx.prepare_cached("DELETE FROM chunks WHERE doc = ?1")?.execute([doc.to_string()])?;
                    tx.prepare_cached("DELETE FROM documents WHERE id = ?1")?.execute([doc.to_string()])?;
                    tx.prepare_cached("DELETE FROM peer_states WHERE doc = ?1")?
                        .execute([doc.to_string()])?;
                    // A copy of it being fetched, and whether its relay is ahead (`copy_fetch.rs`).
                    tx.prepare_cached(
                        "DELETE FROM meta WHERE key = 'copy:' || ?1 OR key = 'relay-ahead:' || ?1 OR key = 'copy-declined:' || ?1
                         OR substr(key, 1, length('copy-part:' || ?1 || ':')) = 'copy-part:' || ?1 || ':'",
                    )?
                    .execute([doc.to_string()])?;
                }
                Write::PeerState { doc, state } => {
                    let doc = doc.to_string();
                    let state = codec.encode(&peer_state_context(&doc), state)?;
                    tx.prepare_cached(
                        "INSERT INTO peer_states (doc, state) VALUES (?1, ?2)
                         ON CONFLICT(doc) DO UPDATE SET state = excluded.state",
                    )?
                    .execute(params![doc, state])?;
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
                    let value = codec.encode(&meta_context(key), value)?;
                    tx.prepare_cached(
                        "INSERT INTO meta (key, value) VALUES (?1, ?2)
                         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    )?
                    .execute(params![key, value])?;
                }
                Write::DeleteMeta { key } => {
                    tx.prepare_cached("DELETE FROM meta WHERE key = ?1")?.execute([key])?;
                }
                Write::DeleteMetaStartingWith { prefix } => {
                    tx.prepare_cached("DELETE FROM meta WHERE substr(key, 1, length(?1)) = ?1")?
                        .execute([prefix])?;
                }
                Write::Quarantine { hash, compound, doc, rule, reason, bytes, at } => {
                    let bytes = codec.encode(&quarantine_context(hash), bytes)?;
                    let reason = quarantine_reason_value(codec, hash, reason)?;
                    tx.prepare_cached(
                        "INSERT OR IGNORE INTO quarantine (hash, compound, doc, rule, reason, bytes, at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    )?
                    .execute(params![
                        hash,
                        compound.to_string(),
                        doc.to_string(),
                        rule,
                        reason,
                        bytes,
                        at
                    ])?;
                }
                Write::LetGo { hash, reason, at } => {
                    let bytes = codec.encode(&quarantine_context(hash), &[])?;
                    let reason = quarantine_reason_value(codec, hash, reason)?;
                    crate::let_go::record(&tx, codec, hash, bytes, reason, *at)?;
                }
                Write::Journal(entry) => crate::journal::record(&tx, codec, entry)?,
                Write::JournalRehash { old, new } => crate::journal::rehash(&tx, old, new)?,
                Write::JournalRetime { entry, made_at } => crate::journal::retime(&tx, *entry, *made_at)?,
                Write::JournalForget { hash } => crate::journal::forget(&tx, hash)?,
                Write::SetAsideOperation { hash, entry } => {
                    let context = set_aside_operation_context(hash);
                    crate::journal::keep_set_aside(&tx, codec, &context, hash, entry)?;
                }
                Write::Review { hash, state, outcome } => {
                    crate::review::record(&tx, codec, hash, *state, *outcome)?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Leaves nothing deleted recoverable from the file: `VACUUM` rebuilds it from the live rows
    /// only (free pages and the slack of half-empty pages go), then the WAL, which still holds
    /// the old page images, is checkpointed and truncated to zero bytes.
    pub fn scrub(&mut self) -> Result<(), ReplicaError> {
        self.conn.execute_batch("VACUUM")?;
        let (busy, _, _): (i64, i64, i64) =
            self.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?;
        if busy != 0 {
            return Err(ReplicaError::ScrubIncomplete);
        }
        Ok(())
    }

    /// Deletes every compound's data (documents, sync states, roles, set-aside changes, the
    /// operation journal) and this
    /// device's sign-in (person, relay token, actor, last sync), then [`Store::scrub`]s the file.
    /// The meta keys in `keep` survive, and so does the key check of an encrypted file.
    pub fn wipe(&mut self, keep: &[&str]) -> Result<(), ReplicaError> {
        let tx = self.conn.transaction()?;
        tx.execute_batch(
            "DELETE FROM chunks; DELETE FROM documents; DELETE FROM peer_states;
             DELETE FROM roles; DELETE FROM quarantine; DELETE FROM journal_changes;
             DELETE FROM journal_entries; DELETE FROM set_aside_operations;
             DELETE FROM set_aside_reviews;",
        )?;
        let mut stmt = tx.prepare("SELECT key FROM meta")?;
        let keys: Vec<String> = stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
        drop(stmt);
        for key in keys.iter().filter(|k| k.as_str() != KEY_CHECK && !keep.contains(&k.as_str())) {
            tx.execute("DELETE FROM meta WHERE key = ?1", [key])?;
        }
        tx.commit()?;
        self.scrub()
    }

    /// A meta value.
    pub fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, ReplicaError> {
        let value: Option<Vec<u8>> =
            self.conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0)).optional()?;
        value.map(|v| self.codec.decode(&meta_context(key), v)).transpose()
    }

    /// Every key of the meta table that starts with `prefix`, with its value, in key order.
    pub fn meta_starting_with(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, ReplicaError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT key, value FROM meta WHERE substr(key, 1, length(?1)) = ?1 ORDER BY key",
        )?;
        let rows = stmt.query_map([prefix], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?)))?;
        let mut found = Vec::new();
        for row in rows {
            let (key, value) = row?;
            let value = self.codec.decode(&meta_context(&key), value)?;
            found.push((key, value));
        }
        Ok(found)
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
            let (id, compound, kind, snapshot) = row?;
            let mut bytes = self.codec.decode(&snapshot_context(&id), snapshot)?;
            let header = Header {
                id: id.parse().map_err(|e| ReplicaError::BadIdentity(format!("document row: {e}")))?,
                compound: compound
                    .parse()
                    .map_err(|e| ReplicaError::BadIdentity(format!("document row: {e}")))?,
                kind: kind.parse().map_err(|e| ReplicaError::BadIdentity(format!("document row: {e}")))?,
            };
            let mut count = 0;
            for chunk in chunks.query_map([&id], |r| r.get::<_, Vec<u8>>(0))? {
                bytes.extend_from_slice(&self.codec.decode(&chunk_context(&id), chunk?)?);
                count += 1;
            }
            out.push(StoredDocument { header, bytes, chunks: count });
        }
        Ok(out)
    }

    /// Every stored peer state, by document.
    pub fn peer_states(&self) -> Result<Vec<(String, Vec<u8>)>, ReplicaError> {
        let mut stmt = self.conn.prepare("SELECT doc, state FROM peer_states")?;
        let rows: Vec<(String, Vec<u8>)> =
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
        rows.into_iter()
            .map(|(doc, state)| {
                let state = self.codec.decode(&peer_state_context(&doc), state)?;
                Ok((doc, state))
            })
            .collect()
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
            "SELECT q.hash, q.doc, q.rule, q.reason, q.bytes, q.at, o.person, o.operation, o.made_at, q.compound
             FROM quarantine q LEFT JOIN set_aside_operations o ON o.hash = q.hash
             ORDER BY q.at, q.hash",
        )?;
        let rows: Vec<(QuarantineRow, SetAsideRow, Option<String>)> = stmt
            .query_map([], |r| {
                let operation = match r.get_ref(7)? {
                    ValueRef::Null => None,
                    _ => Some(bytes_at(r, 7)?),
                };
                Ok((
                    (r.get(0)?, r.get(1)?, r.get(2)?, bytes_at(r, 3)?, r.get(4)?, r.get(5)?),
                    (r.get(6)?, operation, r.get(8)?),
                    r.get(9)?,
                ))
            })?
            .collect::<Result<_, _>>()?;
        let reviews = crate::review::all(&self.conn, &self.codec)?;
        rows.into_iter()
            .map(|((hash, document, rule, reason, bytes, at), (person, operation, made_at), compound)| {
                let (state, outcome) = reviews
                    .get(&hash)
                    .cloned()
                    .unwrap_or((crate::review::ReviewState::NotSent, crate::review::KeptOutcome::default()));
                let reason = self.codec.decode(&quarantine_reason_context(&hash), reason)?;
                let bytes = self.codec.decode(&quarantine_context(&hash), bytes)?;
                let operation = operation
                    .map(|o| self.codec.decode(&set_aside_operation_context(&hash), o))
                    .transpose()?
                    .map(|o| String::from_utf8_lossy(&o).into_owned());
                Ok(crate::QuarantinedChange {
                    reason: String::from_utf8_lossy(&reason).into_owned(),
                    hash,
                    document,
                    compound,
                    rule,
                    bytes,
                    at,
                    person,
                    operation,
                    made_at,
                    review_state: state.as_str().to_owned(),
                    reviewed_by: outcome.by,
                    reviewed_by_name: outcome.by_name,
                    reviewed_at: outcome.at,
                    review_note: outcome.note,
                })
            })
            .collect()
    }

    /// Set-aside items the relay has received that the phone still keeps whole, with their
    /// compound (`let_go.rs`).
    pub fn received_and_kept(&self) -> Result<Vec<(String, Option<String>, bool)>, ReplicaError> {
        crate::let_go::received_and_kept(&self.conn)
    }

    /// The set-aside items the phone let go of (`let_go.rs`).
    pub fn let_go_hashes(&self) -> Result<std::collections::HashSet<String>, ReplicaError> {
        crate::let_go::let_go_hashes(&self.conn)
    }

    /// How many changes are set aside and not yet decided by a coordinator.
    pub fn quarantine_count(&self) -> Result<usize, ReplicaError> {
        let n: i64 = self.conn.query_row(
            "SELECT count(*) FROM quarantine q LEFT JOIN set_aside_reviews r ON r.hash = q.hash
             WHERE r.state IS NULL OR r.state NOT IN ('applied', 'dismissed')",
            [],
            |r| r.get(0),
        )?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// Every journaled change of `doc`, oldest operation first.
    pub fn journal_of(
        &self,
        doc: DocumentId,
    ) -> Result<Vec<(String, crate::journal::JournalEntry)>, ReplicaError> {
        crate::journal::of_document(&self.conn, &self.codec, doc)
    }

    /// Every journaled change hash with its document.
    pub fn journal_hashes(&self) -> Result<Vec<(String, String)>, ReplicaError> {
        crate::journal::hashes(&self.conn)
    }
}
