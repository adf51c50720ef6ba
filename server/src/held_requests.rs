//! Sync requests the relay holds in part: the bytes of each device's request in pieces
//! (core's `sync/request_pieces.rs`) kept as they arrive, so that the next window of signal
//! sends only the rest.
//!
//! In memory only: a relay restarted holds none, and the phone, asking, starts again from the
//! first byte. Each device holds one request at a time (a new one replaces it), kept an hour
//! after its last piece; all of them together hold at most [`HeldRequests::most_bytes`], past
//! which a new request is refused (the phone sends it whole, or later). A request the relay
//! took is remembered for the same hour by its digest alone, so that a phone whose link cut
//! the answer learns it was taken.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use doorstep_core::sync::request_pieces::PiecesHeld;

use crate::storage::DeviceId;

/// How long a request in part, or the memory of one taken, is kept after its last piece.
pub const KEPT_FOR: Duration = Duration::from_secs(60 * 60);

/// The most bytes all devices' requests in part hold together, by default: 64 MiB, a district's
/// volunteers each halfway through a day's 64 KiB request a thousand times over.
pub const MOST_BYTES: usize = 64 * 1024 * 1024;

/// A request named by its digest and length.
#[derive(Debug, Clone, Copy)]
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
    /// All devices' requests in part hold as much as the relay keeps.
    #[error(
        "the relay holds as many requests in part as it keeps ({most} bytes); send this one whole to /v1/sync, or try again later"
    )]
    Full {
        /// The bound.
        most: usize,
    },
}

#[derive(Debug)]
struct Partial {
    digest: String,
    total: usize,
    deflated: bool,
    bytes: Vec<u8>,
    touched: Instant,
}

#[derive(Debug, Default)]
struct Held {
    partial: HashMap<DeviceId, Partial>,
    taken: HashMap<DeviceId, (String, Instant)>,
    bytes: usize,
}

impl Held {
    fn forget_stale(&mut self, now: Instant) {
        let mut freed = 0;
        self.partial.retain(|_, p| {
            let keep = now.duration_since(p.touched) < KEPT_FOR;
            if !keep {
                freed += p.bytes.len();
            }
            keep
        });
        self.bytes -= freed;
        self.taken.retain(|_, (_, at)| now.duration_since(*at) < KEPT_FOR);
    }

    fn drop_partial(&mut self, device: DeviceId) {
        if let Some(p) = self.partial.remove(&device) {
            self.bytes -= p.bytes.len();
        }
    }
}

/// The requests held in part, shared by the relay's handlers.
#[derive(Debug)]
pub struct HeldRequests {
    held: Mutex<Held>,
    most_bytes: usize,
}

impl Default for HeldRequests {
    fn default() -> Self {
        Self::new(MOST_BYTES)
    }
}

impl HeldRequests {
    /// Holding at most `most_bytes` across devices.
    pub fn new(most_bytes: usize) -> Self {
        Self { held: Mutex::new(Held::default()), most_bytes }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// What `device` holds of `request`: its bytes so far, or that it was taken.
    pub fn status(&self, device: DeviceId, request: Named<'_>) -> PiecesHeld {
        let held = self.lock();
        if held.taken.get(&device).is_some_and(|(digest, _)| digest == request.digest) {
            return PiecesHeld { held: request.total, taken: true };
        }
        let bytes = held
            .partial
            .get(&device)
            .filter(|p| {
                p.digest == request.digest && p.total == request.total && p.deflated == request.deflated
            })
            .map_or(0, |p| p.bytes.len());
        PiecesHeld { held: bytes, taken: false }
    }

    /// Keeps `piece`, the bytes of `request` from byte `at` on; returns the bytes now held. A
    /// piece from byte 0 of a request not held starts it, replacing the device's other one.
    pub fn append(
        &self,
        device: DeviceId,
        request: Named<'_>,
        at: usize,
        piece: &[u8],
    ) -> Result<usize, PieceRefused> {
        if at.saturating_add(piece.len()) > request.total {
            return Err(PieceRefused::PastTheEnd { total: request.total });
        }
        let now = Instant::now();
        let mut held = self.lock();
        let same = held.partial.get(&device).is_some_and(|p| p.digest == request.digest);
        if !same {
            if at != 0 {
                return Err(PieceRefused::NotNext { held: 0 });
            }
            held.forget_stale(now);
            held.drop_partial(device);
            held.taken.remove(&device);
            held.partial.insert(
                device,
                Partial {
                    digest: request.digest.to_owned(),
                    total: request.total,
                    deflated: request.deflated,
                    bytes: Vec::new(),
                    touched: now,
                },
            );
        }
        let most = self.most_bytes;
        let room = most.saturating_sub(held.bytes);
        let Some(partial) = held.partial.get_mut(&device) else {
            return Err(PieceRefused::NotNext { held: 0 });
        };
        if partial.total != request.total || partial.deflated != request.deflated {
            return Err(PieceRefused::Renamed { total: partial.total, deflated: partial.deflated });
        }
        if partial.bytes.len() != at {
            return Err(PieceRefused::NotNext { held: partial.bytes.len() });
        }
        if piece.len() > room {
            return Err(PieceRefused::Full { most });
        }
        partial.bytes.extend_from_slice(piece);
        partial.touched = now;
        let now_held = partial.bytes.len();
        held.bytes += piece.len();
        Ok(now_held)
    }

    /// A copy of `request`'s bytes when all of them are held.
    pub fn whole(&self, device: DeviceId, request: Named<'_>) -> Option<Vec<u8>> {
        let held = self.lock();
        held.partial
            .get(&device)
            .filter(|p| p.digest == request.digest && p.bytes.len() == p.total)
            .map(|p| p.bytes.clone())
    }

    /// `request` was synced and answered: its bytes are let go, and its digest remembered.
    pub fn taken(&self, device: DeviceId, digest: &str) {
        let mut held = self.lock();
        if held.partial.get(&device).is_some_and(|p| p.digest == digest) {
            held.drop_partial(device);
        }
        held.taken.insert(device, (digest.to_owned(), Instant::now()));
    }

    /// `request` is not what it was named (its bytes do not match its digest): let go.
    pub fn discard(&self, device: DeviceId, digest: &str) {
        let mut held = self.lock();
        if held.partial.get(&device).is_some_and(|p| p.digest == digest) {
            held.drop_partial(device);
        }
    }

    /// Bytes held across devices (the `/metrics` gauge).
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const DEVICE: DeviceId = DeviceId(7);

    fn named(digest: &str, total: usize) -> Named<'_> {
        Named { digest, total, deflated: true }
    }

    #[test]
    fn pieces_held_in_order_make_the_whole_request_and_a_taken_one_is_remembered() {
        let held = HeldRequests::default();
        let request = named("aa", 10);
        assert_eq!(held.status(DEVICE, request), PiecesHeld { held: 0, taken: false });
        assert_eq!(held.append(DEVICE, request, 0, b"0123").unwrap(), 4);
        assert_eq!(held.append(DEVICE, request, 2, b"23"), Err(PieceRefused::NotNext { held: 4 }));
        assert_eq!(held.append(DEVICE, request, 4, b"4567890"), Err(PieceRefused::PastTheEnd { total: 10 }));
        assert!(held.whole(DEVICE, request).is_none());
        assert_eq!(held.append(DEVICE, request, 4, b"456789").unwrap(), 10);
        assert_eq!(held.whole(DEVICE, request).unwrap(), b"0123456789");
        assert_eq!(held.bytes(), 10);
        held.taken(DEVICE, "aa");
        assert_eq!(held.bytes(), 0);
        assert_eq!(held.status(DEVICE, request), PiecesHeld { held: 10, taken: true });
        assert_eq!(held.status(DEVICE, named("bb", 10)), PiecesHeld { held: 0, taken: false });
    }

    #[test]
    fn a_new_request_replaces_the_devices_other_one_and_the_bound_holds() {
        let held = HeldRequests::new(8);
        held.append(DEVICE, named("aa", 10), 0, b"01234").unwrap();
        assert_eq!(held.append(DEVICE, named("bb", 6), 3, b"x"), Err(PieceRefused::NotNext { held: 0 }));
        held.append(DEVICE, named("bb", 6), 0, b"012").unwrap();
        assert_eq!(held.status(DEVICE, named("aa", 10)).held, 0, "replaced");
        assert_eq!(held.bytes(), 3);
        held.append(DeviceId(8), named("cc", 9), 0, b"0123").unwrap();
        assert_eq!(held.append(DeviceId(8), named("cc", 9), 4, b"45"), Err(PieceRefused::Full { most: 8 }));
        assert_eq!(
            held.append(DEVICE, Named { digest: "bb", total: 6, deflated: false }, 3, b"3"),
            Err(PieceRefused::Renamed { total: 6, deflated: true })
        );
        held.discard(DEVICE, "bb");
        assert_eq!(held.bytes(), 4);
    }
}
