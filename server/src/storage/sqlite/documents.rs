//! Compounds, documents (snapshot + append-only chunks) and sync states, in SQLite.

use doorstep_core::Timestamp;
use doorstep_core::document::Header;
use doorstep_core::id::{CompoundId, DocumentId};
use rusqlite::{Connection, OptionalExtension, params};

use super::parsed;
use crate::storage::{
    Catchup, Committed, CompoundRecord, DeviceId, DocCommit, DocumentRecord, StorageError, StoredChunk,
    StoredDocument, SyncStateWrite,
};

pub(super) fn create_compound(
    conn: &Connection,
    compound: &CompoundRecord,
    documents: &[(DocumentRecord, Vec<u8>)],
) -> Result<(), StorageError> {
    conn.execute(
        "INSERT INTO compounds (id, name, created_at) VALUES (?1, ?2, ?3)",
        params![compound.id.to_string(), compound.name, compound.created_at.as_millis()],
    )?;
    for (record, snapshot) in documents {
        insert_document(conn, record, snapshot, compound.created_at)?;
    }
    Ok(())
}

fn insert_document(
    conn: &Connection,
    record: &DocumentRecord,
    snapshot: &[u8],
    at: Timestamp,
) -> Result<(), StorageError> {
    let h = record.header;
    conn.execute(
        "INSERT INTO documents (id, compound, kind, open, snapshot, compacted_seq, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6)",
        params![
            h.id.to_string(),
            h.compound.to_string(),
            h.kind.as_str(),
            record.open,
            snapshot,
            at.as_millis()
        ],
    )?;
    Ok(())
}

fn compound_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(String, String, i64)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
}

fn compound_record((id, name, at): (String, String, i64)) -> Result<CompoundRecord, StorageError> {
    Ok(CompoundRecord { id: parsed(&id, "compound id")?, name, created_at: Timestamp::from_millis(at) })
}

pub(super) fn compounds(conn: &Connection) -> Result<Vec<CompoundRecord>, StorageError> {
    let mut stmt =
        conn.prepare_cached("SELECT id, name, created_at FROM compounds ORDER BY created_at, id")?;
    let rows: Vec<_> = stmt.query_map([], compound_row)?.collect::<Result<_, _>>()?;
    rows.into_iter().map(compound_record).collect()
}

pub(super) fn compound(conn: &Connection, id: CompoundId) -> Result<Option<CompoundRecord>, StorageError> {
    let row = conn
        .prepare_cached("SELECT id, name, created_at FROM compounds WHERE id = ?1")?
        .query_row([id.to_string()], compound_row)
        .optional()?;
    row.map(compound_record).transpose()
}

type RecordRow = (String, String, String, bool);

fn record_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<RecordRow> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
}

fn document_record((id, compound, kind, open): RecordRow) -> Result<DocumentRecord, StorageError> {
    Ok(DocumentRecord {
        header: Header {
            id: parsed(&id, "document id")?,
            kind: parsed(&kind, "document kind")?,
            compound: parsed(&compound, "compound id")?,
        },
        open,
    })
}

pub(super) fn documents_of(
    conn: &Connection,
    compounds: &[CompoundId],
) -> Result<Vec<DocumentRecord>, StorageError> {
    let mut stmt = conn
        .prepare_cached("SELECT id, compound, kind, open FROM documents WHERE compound = ?1 ORDER BY id")?;
    let mut out = Vec::new();
    for compound in compounds {
        let rows: Vec<_> = stmt.query_map([compound.to_string()], record_row)?.collect::<Result<_, _>>()?;
        for row in rows {
            out.push(document_record(row)?);
        }
    }
    Ok(out)
}

pub(super) fn document(conn: &Connection, id: DocumentId) -> Result<Option<DocumentRecord>, StorageError> {
    let row = conn
        .prepare_cached("SELECT id, compound, kind, open FROM documents WHERE id = ?1")?
        .query_row([id.to_string()], record_row)
        .optional()?;
    row.map(document_record).transpose()
}

fn chunks_after(conn: &Connection, id: DocumentId, seq: i64) -> Result<Vec<StoredChunk>, StorageError> {
    let mut stmt =
        conn.prepare_cached("SELECT seq, chunk FROM changes WHERE doc = ?1 AND seq > ?2 ORDER BY seq")?;
    let chunks = stmt
        .query_map(params![id.to_string(), seq], |row| {
            Ok(StoredChunk { seq: row.get(0)?, bytes: row.get(1)? })
        })?
        .collect::<Result<_, _>>()?;
    Ok(chunks)
}

pub(super) fn load_document(
    conn: &Connection,
    id: DocumentId,
) -> Result<Option<StoredDocument>, StorageError> {
    // A read transaction, so the snapshot and the chunks after it are one consistent picture
    // even if another connection compacts in between.
    conn.execute_batch("BEGIN DEFERRED")?;
    let out = (|| {
        let row: Option<(RecordRow, Vec<u8>, i64)> = conn
            .prepare_cached(
                "SELECT id, compound, kind, open, snapshot, compacted_seq FROM documents WHERE id = ?1",
            )?
            .query_row([id.to_string()], |row| Ok((record_row(row)?, row.get(4)?, row.get(5)?)))
            .optional()?;
        let Some((record, snapshot, compacted_seq)) = row else { return Ok(None) };
        let chunks = chunks_after(conn, id, compacted_seq)?;
        Ok(Some(StoredDocument { record: document_record(record)?, snapshot, compacted_seq, chunks }))
    })();
    conn.execute_batch("COMMIT")?;
    out
}

pub(super) fn changes_since(conn: &Connection, id: DocumentId, seq: i64) -> Result<Catchup, StorageError> {
    conn.execute_batch("BEGIN DEFERRED")?;
    let out = (|| {
        let compacted_seq: i64 = conn
            .prepare_cached("SELECT compacted_seq FROM documents WHERE id = ?1")?
            .query_row([id.to_string()], |row| row.get(0))
            .optional()?
            .ok_or_else(|| StorageError::NotFound(format!("document {id}")))?;
        Ok(Catchup { compacted_seq, chunks: chunks_after(conn, id, seq)? })
    })();
    conn.execute_batch("COMMIT")?;
    out
}

pub(super) fn commit(conn: &Connection, c: &DocCommit) -> Result<Committed, StorageError> {
    let id = c.record.header.id;
    let mut known_seq = c.known_seq;
    if let Some(snapshot) = &c.create {
        insert_document(conn, &c.record, snapshot, c.at)?;
    } else {
        let updated = conn.execute(
            "UPDATE documents SET open = ?2 WHERE id = ?1",
            params![id.to_string(), c.record.open],
        )?;
        if updated == 0 {
            return Err(StorageError::NotFound(format!("document {id}")));
        }
    }
    // Did another process write to this document since the caller last looked? Then the caller
    // must still fetch those chunks, so its known seq stays where it was, and settle the open
    // flag it stored without them.
    let others: bool = c.create.is_none()
        && conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM changes WHERE doc = ?1 AND seq > ?2)
                     OR (SELECT compacted_seq FROM documents WHERE id = ?1) > ?2",
            )?
            .query_row(params![id.to_string(), c.known_seq], |row| row.get(0))?;
    if !c.chunk.is_empty() {
        conn.execute(
            "INSERT INTO changes (doc, chunk, created_at) VALUES (?1, ?2, ?3)",
            params![id.to_string(), c.chunk, c.at.as_millis()],
        )?;
        if !others {
            known_seq = conn.last_insert_rowid();
        }
    }
    if let Some(state) = &c.sync_state {
        put_sync_state(conn, state, c.at)?;
    }
    Ok(Committed { known_seq, others })
}

/// See [`Storage::settle_open`](crate::storage::Storage::settle_open).
pub(super) fn settle_open(
    conn: &Connection,
    id: DocumentId,
    open: bool,
    seen_seq: i64,
) -> Result<bool, StorageError> {
    let updated = conn.execute(
        "UPDATE documents SET open = ?2 WHERE id = ?1 AND compacted_seq <= ?3
             AND NOT EXISTS (SELECT 1 FROM changes WHERE doc = ?1 AND seq > ?3)",
        params![id.to_string(), open, seen_seq],
    )?;
    Ok(updated == 1)
}

pub(super) fn compact(
    conn: &Connection,
    id: DocumentId,
    snapshot: &[u8],
    through_seq: i64,
) -> Result<bool, StorageError> {
    // Only a snapshot newer than the stored one may replace it. Eviction compacts a copy it took
    // out of memory earlier; by then a sync may have loaded the document again, stored more
    // chunks and compacted them into a newer snapshot (or another process, a second relay or an
    // admin command, compacted further). Replacing that snapshot with the older copy would lose
    // the newer chunks' changes, since those chunks are gone.
    let replaced = conn.execute(
        "UPDATE documents SET snapshot = ?2, compacted_seq = ?3 WHERE id = ?1 AND compacted_seq < ?3",
        params![id.to_string(), snapshot, through_seq],
    )?;
    if replaced == 0 {
        return Ok(false);
    }
    conn.execute("DELETE FROM changes WHERE doc = ?1 AND seq <= ?2", params![id.to_string(), through_seq])?;
    Ok(true)
}

pub(super) fn sync_state(
    conn: &Connection,
    device: DeviceId,
    doc: DocumentId,
) -> Result<Option<Vec<u8>>, StorageError> {
    Ok(conn
        .prepare_cached("SELECT state FROM sync_states WHERE device = ?1 AND doc = ?2")?
        .query_row(params![device.0, doc.to_string()], |row| row.get(0))
        .optional()?)
}

pub(super) fn put_sync_state(
    conn: &Connection,
    s: &SyncStateWrite,
    at: Timestamp,
) -> Result<(), StorageError> {
    match &s.state {
        Some(state) => conn.execute(
            "INSERT INTO sync_states (device, doc, state, updated_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (device, doc) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
            params![s.device.0, s.doc.to_string(), state, at.as_millis()],
        )?,
        None => conn.execute(
            "DELETE FROM sync_states WHERE device = ?1 AND doc = ?2",
            params![s.device.0, s.doc.to_string()],
        )?,
    };
    Ok(())
}
