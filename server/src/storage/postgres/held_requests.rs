//! Sync requests held in part (`crate::held_requests`), in PostgreSQL: every relay on the
//! database goes on from the bytes any of them kept. A device's pieces are placed with its row in
//! `devices` locked, so two relays never interleave them; and every piece is placed holding one
//! advisory lock, so that the bound across devices is checked against what the others placed:
//! without it, each of the pieces placed at once (a relay places several at once, one per
//! connection) read the sum before the others committed, and twelve volunteers sending at once
//! through two relays held 104 KiB of a 64 KiB bound.

use deadpool_postgres::GenericClient;
use doorstep_core::Timestamp;

use super::{execute, query, query_one, query_opt};
use crate::held_requests::{Largest, Named, PieceRefused, Placement, let_go, place, whole};
use crate::storage::{DeviceId, HeldRequest, NewPiece, PieceKept, StorageError, loaded_len, stored_len};

/// Serialises the callers working on `device`'s request until the transaction ends: its row in
/// `devices` locked (a revocation, which updates that row, takes turns with them too).
/// The advisory lock every piece is placed under ("pieces" in ASCII, as a number); taken before
/// any device's row, so a transaction waiting for it holds none of them.
const PIECES_LOCK: i64 = 0x7069_6563_6573;

async fn lock_device(db: &impl GenericClient, device: DeviceId) -> Result<(), StorageError> {
    query(db, "SELECT id FROM devices WHERE id = $1 FOR NO KEY UPDATE", &[&device.0]).await?;
    Ok(())
}

pub(super) async fn held(
    db: &impl GenericClient,
    device: DeviceId,
) -> Result<Option<HeldRequest>, StorageError> {
    let row = query_opt(
        db,
        "SELECT digest, total, deflated, held, taken FROM held_requests WHERE device = $1",
        &[&device.0],
    )
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(HeldRequest {
        digest: row.try_get(0)?,
        total: loaded_len(row.try_get(1)?, "a held request's length")?,
        deflated: row.try_get(2)?,
        held: loaded_len(row.try_get(3)?, "a held request's bytes held")?,
        taken: row.try_get(4)?,
    }))
}

async fn held_everywhere(db: &impl GenericClient) -> Result<u64, StorageError> {
    let row = query_one(db, "SELECT COALESCE(SUM(held), 0)::BIGINT FROM held_requests WHERE NOT taken", &[])
        .await?;
    Ok(u64::try_from(row.try_get::<_, i64>(0)?).unwrap_or(0))
}

async fn forget(db: &impl GenericClient, device: DeviceId) -> Result<(), StorageError> {
    execute(db, "DELETE FROM held_request_pieces WHERE device = $1", &[&device.0]).await?;
    execute(db, "DELETE FROM held_requests WHERE device = $1", &[&device.0]).await?;
    Ok(())
}

/// The bytes the requests in part of `device`'s person hold, all its devices together.
async fn person_holds(db: &impl GenericClient, device: DeviceId) -> Result<u64, StorageError> {
    let row = query_one(
        db,
        "SELECT COALESCE(SUM(h.held), 0)::BIGINT FROM held_requests h JOIN devices d ON d.id = h.device
         WHERE NOT h.taken AND d.person = (SELECT person FROM devices WHERE id = $1)",
        &[&device.0],
    )
    .await?;
    Ok(u64::try_from(row.try_get::<_, i64>(0)?).unwrap_or(0))
}

/// The largest request in part of whoever holds the most, other than `device`'s person, whose
/// device no other transaction is working on (a relay placing a piece of it holds its row; that
/// request is passed over rather than waited for, so two relays making room never wait on each
/// other).
async fn largest_elsewhere(
    db: &impl GenericClient,
    device: DeviceId,
) -> Result<Option<Largest>, StorageError> {
    let row = query_opt(
        db,
        "SELECT h.device, t.holds FROM held_requests h
         JOIN devices d ON d.id = h.device
         JOIN (SELECT d2.person AS person, SUM(h2.held)::BIGINT AS holds
               FROM held_requests h2 JOIN devices d2 ON d2.id = h2.device
               WHERE NOT h2.taken GROUP BY d2.person) t ON t.person = d.person
         WHERE NOT h.taken AND h.held > 0 AND d.person <> (SELECT person FROM devices WHERE id = $1)
         ORDER BY t.holds DESC, h.held DESC, h.device
         LIMIT 1 FOR NO KEY UPDATE OF d SKIP LOCKED",
        &[&device.0],
    )
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(Largest {
        device: DeviceId(row.try_get(0)?),
        person_holds: u64::try_from(row.try_get::<_, i64>(1)?).unwrap_or(0),
    }))
}

pub(super) async fn hold_piece(
    db: &impl GenericClient,
    piece: &NewPiece,
) -> Result<Result<PieceKept, PieceRefused>, StorageError> {
    execute(db, "SELECT pg_advisory_xact_lock($1)", &[&PIECES_LOCK]).await?;
    lock_device(db, piece.device).await?;
    // Forgotten first, so that requests nobody finished do not count against the bound.
    forget_stale(db, piece.forget_before).await?;
    let current = held(db, piece.device).await?;
    let named = Named { digest: &piece.digest, total: piece.total, deflated: piece.deflated };
    let placement = match place(current.as_ref(), named, piece.at, piece.bytes.len()) {
        Ok(placement) => placement,
        Err(refused) => return Ok(Err(refused)),
    };
    let holding = placement.device_holds(current.as_ref(), piece.bytes.len());
    let mut everywhere = held_everywhere(db).await?;
    let mut let_go_of = 0;
    if !holding.fits(everywhere, piece.most_bytes) {
        // What the piece's person would hold with it: letting go of others' requests leaves it.
        let would_hold = person_holds(db, piece.device)
            .await?
            .saturating_sub(holding.before)
            .saturating_add(holding.after);
        while !holding.fits(everywhere, piece.most_bytes) {
            let Some(other) = let_go(largest_elsewhere(db, piece.device).await?, would_hold) else {
                return Ok(Err(PieceRefused::Full { most: piece.most_bytes }));
            };
            forget(db, other).await?;
            let_go_of += 1;
            everywhere = held_everywhere(db).await?;
        }
    }
    let held = match placement {
        Placement::Nothing => current.map_or(0, |c| c.held),
        Placement::Start => {
            forget(db, piece.device).await?;
            execute(
                db,
                "INSERT INTO held_requests (device, digest, total, deflated, held, taken, touched_at)
                 VALUES ($1, $2, $3, $4, 0, FALSE, $5)",
                &[
                    &piece.device.0,
                    &piece.digest,
                    &stored_len(piece.total),
                    &piece.deflated,
                    &piece.now.as_millis(),
                ],
            )
            .await?;
            append(db, piece, 0, 0).await?
        }
        Placement::Append { skip } => append(db, piece, current.map_or(0, |c| c.held), skip).await?,
    };
    let held_everywhere = everywhere.saturating_sub(holding.before).saturating_add(holding.after);
    Ok(Ok(PieceKept { held, held_everywhere, let_go_of }))
}

async fn append(
    db: &impl GenericClient,
    piece: &NewPiece,
    held: usize,
    skip: usize,
) -> Result<usize, StorageError> {
    let new = &piece.bytes[skip.min(piece.bytes.len())..];
    if !new.is_empty() {
        execute(
            db,
            "INSERT INTO held_request_pieces (device, at, bytes) VALUES ($1, $2, $3)",
            &[&piece.device.0, &stored_len(held), &new],
        )
        .await?;
    }
    let now_held = held + new.len();
    execute(
        db,
        "UPDATE held_requests SET held = $2, touched_at = $3 WHERE device = $1",
        &[&piece.device.0, &stored_len(now_held), &piece.now.as_millis()],
    )
    .await?;
    Ok(now_held)
}

pub(super) async fn bytes(
    db: &impl GenericClient,
    device: DeviceId,
    digest: &str,
) -> Result<Option<Vec<u8>>, StorageError> {
    // One statement, so the pieces are read from the same snapshot as the request.
    let rows = query(
        db,
        "SELECT h.total, p.at, p.bytes FROM held_requests h JOIN held_request_pieces p ON p.device = h.device
         WHERE h.device = $1 AND h.digest = $2 AND NOT h.taken AND h.held = h.total ORDER BY p.at",
        &[&device.0, &digest],
    )
    .await?;
    let rows = rows
        .iter()
        .map(|r| Ok((r.try_get::<_, i64>(0)?, r.try_get::<_, i64>(1)?, r.try_get::<_, Vec<u8>>(2)?)))
        .collect::<Result<Vec<_>, StorageError>>()?;
    whole(rows)
}

pub(super) async fn settle(
    db: &impl GenericClient,
    device: DeviceId,
    digest: &str,
    taken: bool,
    at: Timestamp,
) -> Result<u64, StorageError> {
    lock_device(db, device).await?;
    if held(db, device).await?.is_some_and(|r| r.digest == digest) {
        execute(db, "DELETE FROM held_request_pieces WHERE device = $1", &[&device.0]).await?;
        if taken {
            execute(
                db,
                "UPDATE held_requests SET held = total, taken = TRUE, touched_at = $2 WHERE device = $1",
                &[&device.0, &at.as_millis()],
            )
            .await?;
        } else {
            execute(db, "DELETE FROM held_requests WHERE device = $1", &[&device.0]).await?;
        }
    }
    held_everywhere(db).await
}

async fn forget_stale(db: &impl GenericClient, before: Timestamp) -> Result<(), StorageError> {
    execute(
        db,
        "DELETE FROM held_request_pieces WHERE device IN (SELECT device FROM held_requests WHERE touched_at < $1)",
        &[&before.as_millis()],
    )
    .await?;
    execute(db, "DELETE FROM held_requests WHERE touched_at < $1", &[&before.as_millis()]).await?;
    Ok(())
}

/// Lets go of what a person's devices hold (their tokens revoked).
pub(super) async fn forget_device(db: &impl GenericClient, device: DeviceId) -> Result<(), StorageError> {
    for sql in
        ["DELETE FROM held_request_pieces WHERE device = $1", "DELETE FROM held_requests WHERE device = $1"]
    {
        execute(db, sql, &[&device.0]).await?;
    }
    Ok(())
}

pub(super) async fn forget_person(db: &impl GenericClient, person: &str) -> Result<(), StorageError> {
    for sql in [
        "DELETE FROM held_request_pieces WHERE device IN (SELECT id FROM devices WHERE person = $1)",
        "DELETE FROM held_requests WHERE device IN (SELECT id FROM devices WHERE person = $1)",
    ] {
        execute(db, sql, &[&person]).await?;
    }
    Ok(())
}
