//! Sync requests held in part (`crate::held_requests`), in SQLite: one row per device naming its
//! request, and one row per piece kept.

use doorstep_core::Timestamp;
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::held_requests::{Largest, Named, PieceRefused, Placement, let_go, place, whole};
use crate::storage::{DeviceId, HeldRequest, NewPiece, PieceKept, StorageError, loaded_len, stored_len};

pub(super) fn held(conn: &Connection, device: DeviceId) -> Result<Option<HeldRequest>, StorageError> {
    let row: Option<(String, i64, bool, i64, bool)> = conn
        .prepare_cached("SELECT digest, total, deflated, held, taken FROM held_requests WHERE device = ?1")?
        .query_row([device.0], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .optional()?;
    let Some((digest, total, deflated, held, taken)) = row else { return Ok(None) };
    Ok(Some(HeldRequest {
        digest,
        total: loaded_len(total, "a held request's length")?,
        deflated,
        held: loaded_len(held, "a held request's bytes held")?,
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

/// The bytes the requests in part of `device`'s person hold, all its devices together.
fn person_holds(tx: &Transaction<'_>, device: DeviceId) -> Result<u64, StorageError> {
    let n: i64 = tx.query_row(
        "SELECT COALESCE(SUM(h.held), 0) FROM held_requests h JOIN devices d ON d.id = h.device
         WHERE h.taken = 0 AND d.person = (SELECT person FROM devices WHERE id = ?1)",
        [device.0],
        |r| r.get(0),
    )?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// The largest request in part of whoever holds the most, other than `device`'s person.
fn largest_elsewhere(tx: &Transaction<'_>, device: DeviceId) -> Result<Option<Largest>, StorageError> {
    let row: Option<(i64, i64)> = tx
        .query_row(
            "SELECT h.device, t.holds FROM held_requests h
             JOIN devices d ON d.id = h.device
             JOIN (SELECT d2.person AS person, SUM(h2.held) AS holds
                   FROM held_requests h2 JOIN devices d2 ON d2.id = h2.device
                   WHERE h2.taken = 0 GROUP BY d2.person) t ON t.person = d.person
             WHERE h.taken = 0 AND h.held > 0 AND d.person <> (SELECT person FROM devices WHERE id = ?1)
             ORDER BY t.holds DESC, h.held DESC, h.device LIMIT 1",
            [device.0],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    Ok(row.map(|(device, holds)| Largest {
        device: DeviceId(device),
        person_holds: u64::try_from(holds).unwrap_or(0),
    }))
}

pub(super) fn hold_piece(
    tx: &Transaction<'_>,
    piece: &NewPiece,
) -> Result<Result<PieceKept, PieceRefused>, StorageError> {
    // Forgotten first, so that requests nobody finished do not count against the bound.
    forget_stale(tx, piece.forget_before)?;
    let current = held(tx, piece.device)?;
    let named = Named { digest: &piece.digest, total: piece.total, deflated: piece.deflated };
    let placement = match place(current.as_ref(), named, piece.at, piece.bytes.len()) {
        Ok(placement) => placement,
        Err(refused) => return Ok(Err(refused)),
    };
    let holding = placement.device_holds(current.as_ref(), piece.bytes.len());
    let mut everywhere = held_everywhere(tx)?;
    let mut let_go_of = 0;
    if !holding.fits(everywhere, piece.most_bytes) {
        // What the piece's person would hold with it: letting go of others' requests leaves it.
        let would_hold =
            person_holds(tx, piece.device)?.saturating_sub(holding.before).saturating_add(holding.after);
        while !holding.fits(everywhere, piece.most_bytes) {
            let Some(other) = let_go(largest_elsewhere(tx, piece.device)?, would_hold) else {
                return Ok(Err(PieceRefused::Full { most: piece.most_bytes }));
            };
            forget(tx, other)?;
            let_go_of += 1;
            everywhere = held_everywhere(tx)?;
        }
    }
    let held = match placement {
        Placement::Nothing => current.map_or(0, |c| c.held),
        Placement::Start => {
            forget(tx, piece.device)?;
            tx.execute(
                "INSERT INTO held_requests (device, digest, total, deflated, held, taken, touched_at)
                 VALUES (?1, ?2, ?3, ?4, 0, 0, ?5)",
                params![
                    piece.device.0,
                    piece.digest,
                    stored_len(piece.total),
                    piece.deflated,
                    piece.now.as_millis()
                ],
            )?;
            append(tx, piece, 0, 0)?
        }
        Placement::Append { skip } => append(tx, piece, current.map_or(0, |c| c.held), skip)?,
    };
    let held_everywhere = everywhere.saturating_sub(holding.before).saturating_add(holding.after);
    Ok(Ok(PieceKept { held, held_everywhere, let_go_of }))
}

/// Appends the piece's bytes from `skip` on after the `held` bytes held; the bytes now held.
fn append(tx: &Transaction<'_>, piece: &NewPiece, held: usize, skip: usize) -> Result<usize, StorageError> {
    let new = &piece.bytes[skip.min(piece.bytes.len())..];
    if !new.is_empty() {
        tx.execute(
            "INSERT INTO held_request_pieces (device, at, bytes) VALUES (?1, ?2, ?3)",
            params![piece.device.0, stored_len(held), new],
        )?;
    }
    let now_held = held + new.len();
    tx.execute(
        "UPDATE held_requests SET held = ?2, touched_at = ?3 WHERE device = ?1",
        params![piece.device.0, stored_len(now_held), piece.now.as_millis()],
    )?;
    Ok(now_held)
}

pub(super) fn bytes(
    conn: &Connection,
    device: DeviceId,
    digest: &str,
) -> Result<Option<Vec<u8>>, StorageError> {
    // One statement, so the pieces are read from the same state of the database as the request.
    let mut stmt = conn.prepare_cached(
        "SELECT h.total, p.at, p.bytes FROM held_requests h JOIN held_request_pieces p ON p.device = h.device
         WHERE h.device = ?1 AND h.digest = ?2 AND h.taken = 0 AND h.held = h.total ORDER BY p.at",
    )?;
    let rows: Vec<(i64, i64, Vec<u8>)> = stmt
        .query_map(params![device.0, digest], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    whole(rows)
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
pub(super) fn forget_device(tx: &Transaction<'_>, device: DeviceId) -> Result<(), StorageError> {
    for table in ["held_request_pieces", "held_requests"] {
        tx.execute(&format!("DELETE FROM {table} WHERE device = ?1"), [device.0])?;
    }
    Ok(())
}

pub(super) fn forget_person(tx: &Transaction<'_>, person: &str) -> Result<(), StorageError> {
    for table in ["held_request_pieces", "held_requests"] {
        tx.execute(
            &format!("DELETE FROM {table} WHERE device IN (SELECT id FROM devices WHERE person = ?1)"),
            [person],
        )?;
    }
    Ok(())
}
