//! Sync requests held in part (`crate::held_requests`), in SQLite: one row per device naming its
//! request, and one row per piece kept.

use doorstep_core::Timestamp;
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::held_requests::{Named, PieceRefused, Placement, place, whole};
use crate::storage::{DeviceId, HeldRequest, NewPiece, PieceKept, StorageError};

fn count(n: i64, what: &str) -> Result<usize, StorageError> {
    usize::try_from(n).map_err(|_| StorageError::Corrupt(format!("a held request's {what} is {n}")))
}

fn signed(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(super) fn held(conn: &Connection, device: DeviceId) -> Result<Option<HeldRequest>, StorageError> {
    let row: Option<(String, i64, bool, i64, bool)> = conn
        .prepare_cached("SELECT digest, total, deflated, held, taken FROM held_requests WHERE device = ?1")?
        .query_row([device.0], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .optional()?;
    let Some((digest, total, deflated, held, taken)) = row else { return Ok(None) };
    Ok(Some(HeldRequest {
        digest,
        total: count(total, "length")?,
        deflated,
        held: count(held, "bytes")?,
        taken,
    }))
}

fn held_everywhere(tx: &Transaction<'_>) -> Result<u64, StorageError> {
    let n: i64 =
        tx.query_row("SELECT COALESCE(SUM(held), 0) FROM held_requests WHERE taken = 0", [], |r| r.get(0))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

fn forget(tx: &Transaction<'_>, device: DeviceId) -> Result<(), StorageError> {
    tx.execute("DELETE FROM held_request_pieces WHERE device = ?1", [device.0])?;
    tx.execute("DELETE FROM held_requests WHERE device = ?1", [device.0])?;
    Ok(())
}

pub(super) fn hold_piece(
    tx: &Transaction<'_>,
    piece: &NewPiece,
) -> Result<Result<PieceKept, PieceRefused>, StorageError> {
    // Forgotten first, so that requests nobody finished do not count against the bound.
    forget_stale(tx, piece.forget_before)?;
    let current = held(tx, piece.device)?;
    let everywhere = held_everywhere(tx)?;
    let named = Named { digest: &piece.digest, total: piece.total, deflated: piece.deflated };
    let placement =
        match place(current.as_ref(), named, piece.at, piece.bytes.len(), everywhere, piece.most_bytes) {
            Ok(placement) => placement,
            Err(refused) => return Ok(Err(refused)),
        };
    let (held, added) = match placement {
        Placement::Nothing => (current.map_or(0, |c| c.held), 0),
        Placement::Start => {
            forget(tx, piece.device)?;
            tx.execute(
                "INSERT INTO held_requests (device, digest, total, deflated, held, taken, touched_at)
                 VALUES (?1, ?2, ?3, ?4, 0, 0, ?5)",
                params![
                    piece.device.0,
                    piece.digest,
                    signed(piece.total),
                    piece.deflated,
                    piece.now.as_millis()
                ],
            )?;
            append(tx, piece, 0, 0)?
        }
        Placement::Append { skip } => append(tx, piece, current.map_or(0, |c| c.held), skip)?,
    };
    Ok(Ok(PieceKept { held, held_everywhere: everywhere.saturating_add(added) }))
}

/// Appends the piece's bytes from `skip` on after the `held` bytes held; the bytes now held and
/// how many were added.
fn append(
    tx: &Transaction<'_>,
    piece: &NewPiece,
    held: usize,
    skip: usize,
) -> Result<(usize, u64), StorageError> {
    let new = &piece.bytes[skip.min(piece.bytes.len())..];
    if !new.is_empty() {
        tx.execute(
            "INSERT INTO held_request_pieces (device, at, bytes) VALUES (?1, ?2, ?3)",
            params![piece.device.0, signed(held), new],
        )?;
    }
    let now_held = held + new.len();
    tx.execute(
        "UPDATE held_requests SET held = ?2, touched_at = ?3 WHERE device = ?1",
        params![piece.device.0, signed(now_held), piece.now.as_millis()],
    )?;
    Ok((now_held, new.len() as u64))
}

pub(super) fn bytes(
    conn: &Connection,
    device: DeviceId,
    digest: &str,
) -> Result<Option<Vec<u8>>, StorageError> {
    let Some(request) = held(conn, device)?.filter(|r| r.digest == digest && !r.taken && r.held == r.total)
    else {
        return Ok(None);
    };
    let mut stmt =
        conn.prepare_cached("SELECT at, bytes FROM held_request_pieces WHERE device = ?1 ORDER BY at")?;
    let pieces: Vec<(i64, Vec<u8>)> =
        stmt.query_map([device.0], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
    whole(request.total, pieces)
}

pub(super) fn settle(
    tx: &Transaction<'_>,
    device: DeviceId,
    digest: &str,
    taken: bool,
    at: Timestamp,
) -> Result<u64, StorageError> {
    if held(tx, device)?.is_some_and(|r| r.digest == digest) {
        tx.execute("DELETE FROM held_request_pieces WHERE device = ?1", [device.0])?;
        if taken {
            tx.execute(
                "UPDATE held_requests SET held = total, taken = 1, touched_at = ?2 WHERE device = ?1",
                params![device.0, at.as_millis()],
            )?;
        } else {
            tx.execute("DELETE FROM held_requests WHERE device = ?1", [device.0])?;
        }
    }
    held_everywhere(tx)
}

/// Forgets requests (and taken ones' digests) last touched before `before`.
fn forget_stale(tx: &Transaction<'_>, before: Timestamp) -> Result<(), StorageError> {
    tx.execute(
        "DELETE FROM held_request_pieces WHERE device IN (SELECT device FROM held_requests WHERE touched_at < ?1)",
        [before.as_millis()],
    )?;
    tx.execute("DELETE FROM held_requests WHERE touched_at < ?1", [before.as_millis()])?;
    Ok(())
}

/// Lets go of what a person's devices hold (their tokens revoked).
pub(super) fn forget_person(tx: &Transaction<'_>, person: &str) -> Result<(), StorageError> {
    for table in ["held_request_pieces", "held_requests"] {
        tx.execute(
            &format!("DELETE FROM {table} WHERE device IN (SELECT id FROM devices WHERE person = ?1)"),
            [person],
        )?;
    }
    Ok(())
}
