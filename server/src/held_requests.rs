//! Sync requests the relay holds in part: the bytes of each device's request in pieces
//! (core's `sync/request_pieces.rs`) kept as they arrive, so that the next window of signal
//! sends only the rest.
//!
//! Kept in the store (the `held_requests` and `held_request_pieces` tables), not in a relay's
//! memory: a relay restarted, or another relay on the same PostgreSQL, goes on from the bytes
//! held, and a device revoked loses what it held in the same transaction. Each device holds one
//! request at a time (a new one replaces it), kept an hour after its last piece; all of them
//! together hold at most [`HeldRequests`]' bound. A request the relay took is remembered by its
//! digest alone for the same hour, so that a phone whose link cut the answer learns it was taken;
//! the same bytes sent again from byte 0 are a new request, synced and answered again.
//!
//! **The bound is shared fairly between people.** A piece that does not fit makes room by
//! letting go of the largest request of the person holding the most, for as long as that person
//! holds more than the piece's own person would with it ([`let_go`]); only when nobody holds more
//! is the piece refused (the phone sends the request whole, or later). So members who fill the
//! bound with requests they never finish hold it only until someone holding less needs room: to
//! keep out a request of `n` bytes they must each hold `n`, and so be the bound's size over `n`
//! people (64 for a 1 MiB request under the default 64 MiB). The device let go of finds its next
//! piece answered 409, asks what is held (nothing), and starts again.
//!
//! This file decides where a piece goes ([`place`]) and whose request makes room ([`let_go`]);
//! the store carries that out in one transaction with what it read, so relays sharing a store
//! never interleave two pieces.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use doorstep_core::Timestamp;
use doorstep_core::sync::request_pieces::PiecesHeld;

use crate::pieces_arriving::PiecesArriving;
use crate::storage::{DeviceId, HeldRequest, NewPiece, Storage, StorageError};

/// How long a request in part, or the memory of one taken, is kept after its last piece.
pub const KEPT_FOR: Duration = Duration::from_secs(60 * 60);

/// The most bytes all devices' requests in part hold together, by default: 64 MiB, a district's
/// volunteers each halfway through a day's 64 KiB request a thousand times over.
pub const MOST_BYTES: usize = 64 * 1024 * 1024;

/// A request named by its digest and length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Named<'a> {
    /// SHA-256 of its bytes, hex.
    pub digest: &'a str,
    /// Its length.
    pub total: usize,
    /// Its bytes are compressed.
    pub deflated: bool,
}

/// Why a piece was not kept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PieceRefused {
    /// The piece does not start where the bytes held end.
    #[error("the relay holds {held} bytes of this request; send the rest from byte {held}")]
    NotNext {
        /// Bytes held.
        held: usize,
    },
    /// The request is held under the same digest with another length or encoding.
    #[error(
        "a request with this digest is held as {total} bytes (compressed: {deflated}); name it as it was first named, or send it from byte 0 under its own digest"
    )]
    Renamed {
        /// Its length as first named.
        total: usize,
        /// Its encoding as first named.
        deflated: bool,
    },
    /// The piece goes past the request's named length.
    #[error("the piece goes past the {total} bytes the request was named with")]
    PastTheEnd {
        /// The named length.
        total: usize,
    },
    /// The relay took this request already and answered it.
    #[error("the relay already took this request and answered it; sync again for what changed since")]
    Taken,
    /// All devices' requests in part hold as much as the relay keeps.
    #[error(
        "the relay holds as many requests in part as it keeps ({most} bytes); send this one whole to /v1/sync, or try again later"
    )]
    Full {
        /// The bound.
        most: usize,
    },
}

/// Where a piece goes, given what the store holds of the device's request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// It starts the request: whatever else the device held is replaced.
    Start,
    /// Its bytes from `skip` on follow the bytes held (the first `skip` are held already: a
    /// piece sent again, or two relays sent the same bytes; the digest names them, so they are
    /// the same).
    Append {
        /// Bytes of the piece already held.
        skip: usize,
    },
    /// Everything it carries is held already.
    Nothing,
}

/// Where a piece of `request` from byte `at`, `len` bytes long, goes, when the device holds
/// `current`; whether it fits within the bound is [`Holding::fits`].
pub fn place(
    current: Option<&HeldRequest>,
    request: Named<'_>,
    at: usize,
    len: usize,
) -> Result<Placement, PieceRefused> {
    if at.saturating_add(len) > request.total {
        return Err(PieceRefused::PastTheEnd { total: request.total });
    }
    let Some(held) = current.filter(|c| c.digest == request.digest) else {
        if at != 0 {
            return Err(PieceRefused::NotNext { held: 0 });
        }
        return Ok(Placement::Start);
    };
    if held.taken {
        // From byte 0 it is a new request with the same bytes (a phone resuming one asks what
        // is held first, and is told it was taken): the same refused work offered again at the
        // next sync, whose state did not move. Refused as taken, it cost the phone its bytes
        // again, a status question and a request asking the relay's heads before sending them a
        // third time. Syncing the same bytes twice takes nothing twice.
        return if at == 0 { Ok(Placement::Start) } else { Err(PieceRefused::Taken) };
    }
    if held.total != request.total || held.deflated != request.deflated {
        return Err(PieceRefused::Renamed { total: held.total, deflated: held.deflated });
    }
    if at > held.held {
        return Err(PieceRefused::NotNext { held: held.held });
    }
    let skip = held.held - at;
    if skip >= len {
        return Ok(Placement::Nothing);
    }
    Ok(Placement::Append { skip })
}

impl Placement {
    /// What the device's request in part holds before and after a piece of `len` bytes placed
    /// so, against `current`.
    pub fn device_holds(self, current: Option<&HeldRequest>, len: usize) -> Holding {
        let before = current.filter(|c| !c.taken).map_or(0, |c| c.held) as u64;
        let after = match self {
            Self::Start => len as u64,
            Self::Append { skip } => before.saturating_add(len.saturating_sub(skip) as u64),
            Self::Nothing => before,
        };
        Holding { before, after }
    }
}

/// What a device's request in part holds before and after a piece.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holding {
    /// Before the piece.
    pub before: u64,
    /// After it.
    pub after: u64,
}

impl Holding {
    /// Whether the piece fits when all devices' requests in part hold `held_everywhere` bytes
    /// (this device's `before` among them) of at most `most`. A piece that adds nothing always
    /// fits.
    pub fn fits(self, held_everywhere: u64, most: usize) -> bool {
        self.after <= self.before
            || held_everywhere.saturating_sub(self.before).saturating_add(self.after) <= most as u64
    }
}

/// The largest request in part of the person who holds the most, among everyone but the
/// person placing a piece.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Largest {
    /// Its device.
    pub device: DeviceId,
    /// The bytes all of that person's requests in part hold.
    pub person_holds: u64,
}

/// Whose request is let go of to make room for a piece that does not fit, when its person would
/// hold `person_would_hold` with it and `largest` is the largest request of whoever else holds
/// the most: that one, if its person holds more; else nobody's, and the piece is refused.
pub fn let_go(largest: Option<Largest>, person_would_hold: u64) -> Option<DeviceId> {
    largest.filter(|l| l.person_holds > person_would_hold).map(|l| l.device)
}

/// What `current` says of `request`.
pub fn status(current: Option<&HeldRequest>, request: Named<'_>) -> PiecesHeld {
    match current.filter(|c| c.digest == request.digest) {
        Some(c) if c.taken => PiecesHeld { held: request.total, taken: true },
        Some(c) if c.total == request.total && c.deflated == request.deflated => {
            PiecesHeld { held: c.held, taken: false }
        }
        _ => PiecesHeld { held: 0, taken: false },
    }
}

/// The relay's side of requests in pieces: its bound, and the gauge of what the store holds.
#[derive(Debug)]
pub struct HeldRequests {
    most_bytes: usize,
    held_bytes: AtomicU64,
    let_go: AtomicU64,
    /// The pieces this relay is receiving now, asked to keep what they hold before a status.
    pub arriving: PiecesArriving,
}

impl HeldRequests {
    /// Holding at most `most_bytes` across devices.
    pub fn new(most_bytes: usize) -> Self {
        Self {
            most_bytes,
            held_bytes: AtomicU64::new(0),
            let_go: AtomicU64::new(0),
            arriving: PiecesArriving::default(),
        }
    }

    /// What `device` holds of `request`: its bytes so far, or that it was taken; counting what
    /// its pieces still arriving at this relay hold, asked to keep it first.
    pub async fn status(
        &self,
        store: &dyn Storage,
        device: DeviceId,
        request: Named<'_>,
    ) -> Result<PiecesHeld, StorageError> {
        self.arriving.keep_all(device).await;
        Ok(status(store.held_request(device).await?.as_ref(), request))
    }

    /// Keeps `piece`, the bytes of `request` from byte `at` on; the bytes now held. A piece from
    /// byte 0 of a request not held starts it, replacing the device's other one. Whatever any
    /// device last touched more than [`KEPT_FOR`] ago is forgotten first.
    pub async fn append(
        &self,
        store: &dyn Storage,
        device: DeviceId,
        request: Named<'_>,
        at: usize,
        piece: Vec<u8>,
    ) -> Result<Result<usize, PieceRefused>, StorageError> {
        let now = crate::clock::now();
        let piece = NewPiece {
            device,
            digest: request.digest.to_owned(),
            total: request.total,
            deflated: request.deflated,
            at,
            bytes: piece,
            most_bytes: self.most_bytes,
            now,
            forget_before: before(now, KEPT_FOR),
        };
        let kept = store.hold_piece(piece).await?;
        Ok(kept.map(|kept| {
            self.held_bytes.store(kept.held_everywhere, Ordering::Relaxed);
            if kept.let_go_of > 0 {
                self.let_go.fetch_add(u64::from(kept.let_go_of), Ordering::Relaxed);
                tracing::info!(
                    %device,
                    let_go_of = kept.let_go_of,
                    "requests in part of people holding more were let go of to make room for this one"
                );
            }
            kept.held
        }))
    }

    /// `request`'s bytes when all of them are held.
    pub async fn whole(
        &self,
        store: &dyn Storage,
        device: DeviceId,
        request: Named<'_>,
    ) -> Result<Option<Vec<u8>>, StorageError> {
        store.held_request_bytes(device, request.digest.to_owned()).await
    }

    /// `request` was synced and answered (`taken`): its bytes are let go and its digest
    /// remembered; or it is not what it was named, or was refused as a request: let go.
    pub async fn settle(
        &self,
        store: &dyn Storage,
        device: DeviceId,
        digest: &str,
        taken: bool,
    ) -> Result<(), StorageError> {
        let now = crate::clock::now();
        let left = store.settle_held_request(device, digest.to_owned(), taken, now).await?;
        self.held_bytes.store(left, Ordering::Relaxed);
        Ok(())
    }

    /// Requests in part let go of to make room since the relay started (the `/metrics` counter).
    pub fn let_go(&self) -> u64 {
        self.let_go.load(Ordering::Relaxed)
    }

    /// Bytes held across devices, as last seen (the `/metrics` gauge).
    pub fn bytes(&self) -> usize {
        usize::try_from(self.held_bytes.load(Ordering::Relaxed)).unwrap_or(usize::MAX)
    }
}

/// The request from its pieces, as `(total, at, bytes)` rows in order: `None` without any (not
/// held whole); each piece must start where the one before ended.
pub fn whole(pieces: Vec<(i64, i64, Vec<u8>)>) -> Result<Option<Vec<u8>>, StorageError> {
    let Some(&(total, _, _)) = pieces.first() else { return Ok(None) };
    let total = crate::storage::loaded_len(total, "a held request's length")?;
    let mut out = Vec::with_capacity(total);
    for (_, at, piece) in pieces {
        if usize::try_from(at).ok() != Some(out.len()) {
            return Err(StorageError::Corrupt(format!(
                "a held request's piece starts at byte {at}, not at {}",
                out.len()
            )));
        }
        out.extend_from_slice(&piece);
    }
    Ok((out.len() == total).then_some(out))
}

/// `span` before `now`.
fn before(now: Timestamp, span: Duration) -> Timestamp {
    Timestamp::from_millis(
        now.as_millis().saturating_sub(i64::try_from(span.as_millis()).unwrap_or(i64::MAX)),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn named(digest: &str, total: usize) -> Named<'_> {
        Named { digest, total, deflated: true }
    }

    fn holding(digest: &str, total: usize, held: usize) -> HeldRequest {
        HeldRequest { digest: digest.into(), total, deflated: true, held, taken: false }
    }

    #[test]
    fn a_piece_follows_the_bytes_held_and_what_is_held_already_is_skipped() {
        let request = named("aa", 10);
        assert_eq!(place(None, request, 0, 4), Ok(Placement::Start));
        assert_eq!(place(None, request, 2, 4), Err(PieceRefused::NotNext { held: 0 }));
        let current = holding("aa", 10, 4);
        assert_eq!(place(Some(&current), request, 4, 6), Ok(Placement::Append { skip: 0 }));
        assert_eq!(place(Some(&current), request, 2, 6), Ok(Placement::Append { skip: 2 }));
        assert_eq!(place(Some(&current), request, 1, 3), Ok(Placement::Nothing));
        assert_eq!(place(Some(&current), request, 5, 1), Err(PieceRefused::NotNext { held: 4 }));
        assert_eq!(place(Some(&current), request, 4, 7), Err(PieceRefused::PastTheEnd { total: 10 }));
        assert_eq!(
            place(Some(&current), Named { deflated: false, ..request }, 4, 1),
            Err(PieceRefused::Renamed { total: 10, deflated: true })
        );
        let taken = HeldRequest { taken: true, ..current.clone() };
        assert_eq!(place(Some(&taken), request, 4, 1), Err(PieceRefused::Taken));
        assert_eq!(place(Some(&taken), request, 0, 4), Ok(Placement::Start), "the same bytes anew");
        assert_eq!(status(Some(&taken), request), PiecesHeld { held: 10, taken: true });
        assert_eq!(status(Some(&current), request), PiecesHeld { held: 4, taken: false });
        assert_eq!(status(Some(&current), named("bb", 10)), PiecesHeld { held: 0, taken: false });
    }

    #[test]
    fn a_new_request_replaces_the_devices_other_one_within_the_bound() {
        let current = holding("aa", 10, 5);
        // Starting another frees the device's own 5 bytes: 3 others + 5 new fit in 8.
        let start = place(Some(&current), named("bb", 6), 0, 5).unwrap();
        assert_eq!(start, Placement::Start);
        assert!(start.device_holds(Some(&current), 5).fits(8, 8));
        assert_eq!(place(Some(&current), named("bb", 6), 3, 1), Err(PieceRefused::NotNext { held: 0 }));
        let append = place(Some(&current), named("aa", 10), 5, 1).unwrap();
        assert_eq!(append.device_holds(Some(&current), 1), Holding { before: 5, after: 6 });
        assert!(!append.device_holds(Some(&current), 1).fits(8, 8));
        let new = place(None, named("cc", 9), 0, 9).unwrap();
        assert!(!new.device_holds(None, 9).fits(0, 8));
        // A piece sent again adds nothing and fits even past the bound.
        let again = place(Some(&current), named("aa", 10), 0, 5).unwrap();
        assert_eq!(again, Placement::Nothing);
        assert!(again.device_holds(Some(&current), 5).fits(100, 8));
    }

    #[test]
    fn room_is_made_only_from_someone_who_holds_more_than_the_piece_s_person_would() {
        let largest = |person_holds| Some(Largest { device: DeviceId(7), person_holds });
        assert_eq!(let_go(largest(9), 8), Some(DeviceId(7)));
        assert_eq!(let_go(largest(8), 8), None, "as much: nobody is let go of for a peer");
        assert_eq!(let_go(largest(3), 8), None);
        assert_eq!(let_go(None, 0), None);
    }
}
