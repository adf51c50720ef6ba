//! Compounds, documents (snapshot + append-only chunks) and sync states, in PostgreSQL.
//!
//! Sequence numbers: a chunk's `seq` comes from an identity column, shared by every document.
//! A relay that has folded in chunks up to `seq` asks for those above it, so a chunk must never
//! become visible with a lower `seq` than one already seen for the same document. Two
//! transactions could otherwise draw 10 and 11 and commit 11 first. So [`commit`] locks the
//! document's row *before* it draws a number, and holds the lock until it commits: commits to one
//! document take turns, and their chunks appear in `seq` order. Commits to different documents
//! still run side by side.

use deadpool_postgres::GenericClient;
use doorstep_core::Timestamp;
use doorstep_core::document::Header;
use doorstep_core::id::{CompoundId, DocumentId};
use tokio_postgres::Row;

use super::notify::ChangeNotice;
use super::{execute, parsed, query, query_one, query_opt};
use crate::storage::{
    Catchup, Committed, CompoundRecord, DeviceId, DocCommit, DocumentRecord, StorageError, StoredChunk,
    StoredDocument, SyncStateWrite,
};

pub(super) async fn create_compound(
    db: &impl GenericClient,
    compound: &CompoundRecord,
    documents: &[(DocumentRecord, Vec<u8>)],
) -> Result<(), StorageError> {
    execute(
        db,
        "INSERT INTO compounds (id, name, created_at) VALUES ($1, $2, $3)",
        &[&compound.id.to_string(), &compound.name, &compound.created_at.as_millis()],
    )
    .await?;
    for (record, snapshot) in documents {
        insert_document(db, record, snapshot, compound.created_at).await?;
    }
    Ok(())
}

async fn insert_document(
    db: &impl GenericClient,
    record: &DocumentRecord,
    snapshot: &[u8],
    at: Timestamp,
) -> Result<(), StorageError> {
    let h = record.header;
    execute(
        db,
        "INSERT INTO documents (id, compound, kind, open, snapshot, compacted_seq, created_at)
         VALUES ($1, $2, $3, $4, $5, 0, $6)",
        &[
            &h.id.to_string(),
            &h.compound.to_string(),
            &h.kind.as_str(),
            &record.open,
            &snapshot,
            &at.as_millis(),
        ],
    )
    .await?;
    Ok(())
}

fn compound_record(row: &Row) -> Result<CompoundRecord, StorageError> {
    Ok(CompoundRecord {
        id: parsed(&row.try_get::<_, String>(0)?, "compound id")?,
        name: row.try_get(1)?,
        created_at: Timestamp::from_millis(row.try_get(2)?),
    })
}

pub(super) async fn compounds(db: &impl GenericClient) -> Result<Vec<CompoundRecord>, StorageError> {
    let rows = query(db, "SELECT id, name, created_at FROM compounds ORDER BY created_at, id", &[]).await?;
    rows.iter().map(compound_record).collect()
}

pub(super) async fn compound(
    db: &impl GenericClient,
    id: CompoundId,
) -> Result<Option<CompoundRecord>, StorageError> {
    let row =
        query_opt(db, "SELECT id, name, created_at FROM compounds WHERE id = $1", &[&id.to_string()]).await?;
    row.as_ref().map(compound_record).transpose()
}

/// Reads `id, compound, kind, open` from the first four columns.
fn document_record(row: &Row) -> Result<DocumentRecord, StorageError> {
    Ok(DocumentRecord {
        header: Header {
            id: parsed(&row.try_get::<_, String>(0)?, "document id")?,
            compound: parsed(&row.try_get::<_, String>(1)?, "compound id")?,
            kind: parsed(&row.try_get::<_, String>(2)?, "document kind")?,
        },
        open: row.try_get(3)?,
    })
}

pub(super) async fn documents_of(
    db: &impl GenericClient,
    compounds: &[CompoundId],
) -> Result<Vec<DocumentRecord>, StorageError> {
    let ids: Vec<String> = compounds.iter().map(ToString::to_string).collect();
    // In the order the compounds were asked for, then by ID, as the SQLite backend answers.
    let rows = query(
        db,
        "SELECT id, compound, kind, open FROM documents WHERE compound = ANY($1)
         ORDER BY array_position($1, compound), id",
        &[&ids],
    )
    .await?;
    rows.iter().map(document_record).collect()
}

pub(super) async fn document(
    db: &impl GenericClient,
    id: DocumentId,
) -> Result<Option<DocumentRecord>, StorageError> {
    let row =
        query_opt(db, "SELECT id, compound, kind, open FROM documents WHERE id = $1", &[&id.to_string()])
            .await?;
    row.as_ref().map(document_record).transpose()
}

fn chunk(row: &Row, seq: usize, bytes: usize) -> Result<StoredChunk, StorageError> {
    Ok(StoredChunk { seq: row.try_get(seq)?, bytes: row.try_get(bytes)? })
}

/// Loads a document. Call it inside a repeatable-read transaction, so the snapshot and the chunks
/// after it are one consistent picture even if another relay compacts in between.
pub(super) async fn load_document(
    db: &impl GenericClient,
    id: DocumentId,
) -> Result<Option<StoredDocument>, StorageError> {
    let row = query_opt(
        db,
        "SELECT id, compound, kind, open, snapshot, compacted_seq FROM documents WHERE id = $1",
        &[&id.to_string()],
    )
    .await?;
    let Some(row) = row else { return Ok(None) };
    let compacted_seq: i64 = row.try_get(5)?;
    let chunks = query(
        db,
        "SELECT seq, chunk FROM changes WHERE doc = $1 AND seq > $2 ORDER BY seq",
        &[&id.to_string(), &compacted_seq],
    )
    .await?;
    Ok(Some(StoredDocument {
        record: document_record(&row)?,
        snapshot: row.try_get(4)?,
        compacted_seq,
        chunks: chunks.iter().map(|c| chunk(c, 0, 1)).collect::<Result<_, _>>()?,
    }))
}

/// What was written after `seq`: one statement, so the compaction mark and the chunks come from
/// one snapshot of the database. This runs before every use of a cached document, so it is one
/// round trip.
pub(super) async fn changes_since(
    db: &impl GenericClient,
    id: DocumentId,
    seq: i64,
) -> Result<Catchup, StorageError> {
    let rows = query(
        db,
        "SELECT d.compacted_seq, c.seq, c.chunk FROM documents d
         LEFT JOIN changes c ON c.doc = d.id AND c.seq > $2
         WHERE d.id = $1 ORDER BY c.seq",
        &[&id.to_string(), &seq],
    )
    .await?;
    let first = rows.first().ok_or_else(|| StorageError::NotFound(format!("document {id}")))?;
    let compacted_seq = first.try_get(0)?;
    let mut chunks = Vec::new();
    for row in &rows {
        if row.try_get::<_, Option<i64>>(1)?.is_some() {
            chunks.push(chunk(row, 1, 2)?);
        }
    }
    Ok(Catchup { compacted_seq, chunks })
}

/// The document part of a commit, inside the caller's transaction. Returns the commit's outcome
/// and, if it changed the document, the notice to send to the other relays.
pub(super) async fn commit(
    db: &impl GenericClient,
    c: &DocCommit,
) -> Result<(Committed, Option<ChangeNotice>), StorageError> {
    let header = c.record.header;
    let id = header.id.to_string();
    let mut known_seq = c.known_seq;
    if let Some(snapshot) = &c.create {
        insert_document(db, &c.record, snapshot, c.at).await?;
    } else {
        // This also locks the row until the transaction ends: see the module docs.
        let updated =
            execute(db, "UPDATE documents SET open = $2 WHERE id = $1", &[&id, &c.record.open]).await?;
        if updated == 0 {
            return Err(StorageError::NotFound(format!("document {}", header.id)));
        }
    }
    let mut notice = c.create.as_ref().map(|_| ChangeNotice { header, seq: 0 });
    // Did another writer add to this document since the caller last looked? Then the caller
    // must still fetch those chunks, so its known seq stays where it was, and settle the open
    // flag it stored without them (under the row's lock, taken above, no commit comes between).
    let others: bool = c.create.is_none()
        && query_one(
            db,
            "SELECT EXISTS (SELECT 1 FROM changes WHERE doc = $1 AND seq > $2)
                 OR (SELECT compacted_seq FROM documents WHERE id = $1) > $2",
            &[&id, &c.known_seq],
        )
        .await?
        .try_get(0)?;
    if !c.chunk.is_empty() {
        let seq: i64 = query_one(
            db,
            "INSERT INTO changes (doc, chunk, created_at) VALUES ($1, $2, $3) RETURNING seq",
            &[&id, &c.chunk, &c.at.as_millis()],
        )
        .await?
        .try_get(0)?;
        if !others {
            known_seq = seq;
        }
        notice = Some(ChangeNotice { header, seq });
    }
    if let Some(state) = &c.sync_state {
        put_sync_state(db, state, c.at).await?;
    }
    Ok((Committed { known_seq, others }, notice))
}

/// See [`Storage::settle_open`](crate::storage::Storage::settle_open), inside the caller's
/// transaction: the row locked first, as a commit locks it, so that the check that follows sees
/// every commit before it and none comes between the check and the write.
pub(super) async fn settle_open(
    db: &impl GenericClient,
    id: DocumentId,
    open: bool,
    seen_seq: i64,
) -> Result<bool, StorageError> {
    query_opt(db, "SELECT 1 FROM documents WHERE id = $1 FOR UPDATE", &[&id.to_string()]).await?;
    let updated = execute(
        db,
        "UPDATE documents SET open = $2 WHERE id = $1 AND compacted_seq <= $3
             AND NOT EXISTS (SELECT 1 FROM changes WHERE doc = $1 AND seq > $3)",
        &[&id.to_string(), &open, &seen_seq],
    )
    .await?;
    Ok(updated == 1)
}

/// Replaces the snapshot unless another relay already compacted further: its snapshot then holds
/// more than ours, and ours must not overwrite it.
pub(super) async fn compact(
    db: &impl GenericClient,
    id: DocumentId,
    snapshot: &[u8],
    through_seq: i64,
) -> Result<bool, StorageError> {
    let id = id.to_string();
    let replaced = execute(
        db,
        "UPDATE documents SET snapshot = $2, compacted_seq = $3 WHERE id = $1 AND compacted_seq < $3",
        &[&id, &snapshot, &through_seq],
    )
    .await?;
    if replaced > 0 {
        execute(db, "DELETE FROM changes WHERE doc = $1 AND seq <= $2", &[&id, &through_seq]).await?;
    }
    Ok(replaced > 0)
}

pub(super) async fn sync_state(
    db: &impl GenericClient,
    device: DeviceId,
    doc: DocumentId,
) -> Result<Option<Vec<u8>>, StorageError> {
    let row = query_opt(
        db,
        "SELECT state FROM sync_states WHERE device = $1 AND doc = $2",
        &[&device.0, &doc.to_string()],
    )
    .await?;
    Ok(row.map(|row| row.try_get(0)).transpose()?)
}

pub(super) async fn put_sync_state(
    db: &impl GenericClient,
    s: &SyncStateWrite,
    at: Timestamp,
) -> Result<(), StorageError> {
    match &s.state {
        Some(state) => {
            execute(
                db,
                "INSERT INTO sync_states (device, doc, state, updated_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (device, doc) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
                &[&s.device.0, &s.doc.to_string(), state, &at.as_millis()],
            )
            .await?
        }
        None => {
            execute(db, "DELETE FROM sync_states WHERE device = $1 AND doc = $2", &[&s.device.0, &s.doc.to_string()])
                .await?
        }
    };
    Ok(())
}
