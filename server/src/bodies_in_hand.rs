//! The memory sync request bodies take, bounded across the relay.
//!
//! Each request is bounded ([`Limits::max_body_bytes`](crate::config::Limits), 8 MiB, as sent and
//! as inflated), but not how many are held at once, and a compressed body costs its sender far
//! less than it costs the relay: 8 KB of DEFLATE inflate to 8 MiB, which the relay then decodes
//! into a second copy. Measured on a demo relay before this bound: 160 such requests sent at once
//! with the demo's four tokens (1.3 MB on the wire) took the relay from 37 MiB to a peak of 850
//! MiB. Any member can do that; a few more tokens, or repeating it within the rate limit, and a
//! small relay machine kills the relay for its memory.
//!
//! So the relay holds at most [`Limits::bodies_in_hand`](crate::config::Limits) bytes of
//! request bodies at once (256 MiB by default; a district's return of a thousand phones holds a
//! few tens of megabytes):
//! - a body's declared length (or the body limit, when it declares none) is held before a byte
//!   of it is read;
//! - what it inflates to and the decoded request's copy of it are held once they are known, until
//!   the request is answered;
//! - a request that finds no room is refused with 503 and `Retry-After`, as a shed request is,
//!   before it takes more memory; the phone comes back after the wait;
//! - a set-aside exchange (JSON) holds its declared length twice, as read and as parsed, before
//!   it is read (`http/room_for_body.rs`).
//!
//! Inflating is CPU work and needs its output buffer whole before its size is known, so at most
//! one compressed body per core inflates at once ([`BodiesInHand::inflating`]): what inflation
//! takes beyond what is held is then at most a body limit per core, and a burst of compressed
//! bodies waits its turn for the cores it would have shared anyway.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, SemaphorePermit};

use crate::error::AppError;

/// Bytes are held in units of this many: a semaphore counts in `u32`.
const UNIT: usize = 1024;

/// How long a refused request is told to wait: bodies are answered in milliseconds to seconds.
pub const RETRY_AFTER: Duration = Duration::from_secs(2);

/// Room for request bodies, shared by all requests.
#[derive(Debug, Clone)]
pub struct BodiesInHand {
    room: Arc<Semaphore>,
    units: u32,
    inflating: Arc<Semaphore>,
}

/// Bytes held for one request; given back when dropped.
#[derive(Debug, Default)]
pub struct HeldBytes(Option<OwnedSemaphorePermit>);

impl BodiesInHand {
    /// Room for `bytes` of bodies, and `cores` inflating at once. The room is at least what
    /// one request at the body limit `max_body` holds at its most (the body, what it inflates
    /// to, and the decoded copy), so the largest request is served when it is alone.
    pub fn new(bytes: usize, max_body: usize, cores: usize) -> Self {
        let bytes = bytes.max(max_body.saturating_mul(3));
        let units = u32::try_from(bytes.div_ceil(UNIT)).unwrap_or(u32::MAX).max(1);
        Self {
            room: Arc::new(Semaphore::new(units as usize)),
            units,
            inflating: Arc::new(Semaphore::new(cores.max(1))),
        }
    }

    /// Holds `bytes` more, or refuses the request (503, `Retry-After`) when the relay holds as
    /// many bodies as it may. More than all the room takes all of it.
    pub fn hold(&self, bytes: usize) -> Result<HeldBytes, AppError> {
        let units = u32::try_from(bytes.div_ceil(UNIT)).unwrap_or(u32::MAX).min(self.units);
        if units == 0 {
            return Ok(HeldBytes(None));
        }
        match Arc::clone(&self.room).try_acquire_many_owned(units) {
            Ok(permit) => Ok(HeldBytes(Some(permit))),
            Err(_) => Err(AppError::Busy {
                reason: format!(
                    "the relay holds as many request bodies as it may ({} MiB) and cannot take this one of {bytes} bytes now; sync again after the wait",
                    self.units as usize * UNIT / (1024 * 1024)
                ),
                retry_after: RETRY_AFTER,
            }),
        }
    }

    /// Bytes of bodies held now.
    pub fn held(&self) -> usize {
        (self.units as usize - self.room.available_permits()) * UNIT
    }

    /// A turn at inflating a compressed body: one per core at once.
    pub async fn inflating(&self) -> Result<SemaphorePermit<'_>, AppError> {
        self.inflating
            .acquire()
            .await
            .map_err(|_| AppError::Unavailable("the relay is stopping; sync again shortly".into()))
    }
}

impl HeldBytes {
    /// This and `more`, held together.
    #[must_use]
    pub fn and(self, more: HeldBytes) -> HeldBytes {
        match (self.0, more.0) {
            (Some(mut held), Some(more)) => {
                held.merge(more);
                HeldBytes(Some(held))
            }
            (held, more) => HeldBytes(held.or(more)),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn bodies_are_held_until_dropped_and_a_request_past_the_room_is_refused_with_a_wait() {
        let in_hand = BodiesInHand::new(10 * 1024 * 1024, 1024 * 1024, 2);
        let first = in_hand.hold(6 * 1024 * 1024).unwrap();
        assert_eq!(in_hand.held(), 6 * 1024 * 1024);
        let refused = in_hand.hold(6 * 1024 * 1024).unwrap_err();
        assert!(matches!(refused, AppError::Busy { retry_after, .. } if retry_after == RETRY_AFTER));
        let small = in_hand.hold(100).unwrap();
        let both = first.and(small);
        assert_eq!(in_hand.held(), 6 * 1024 * 1024 + UNIT);
        drop(both);
        assert_eq!(in_hand.held(), 0, "all of it given back");
        let nothing = in_hand.hold(0).unwrap();
        assert_eq!(in_hand.held(), 0);
        drop(nothing);
        assert_eq!(
            BodiesInHand::new(1, 8 * 1024 * 1024, 2).units as usize * UNIT,
            24 * 1024 * 1024,
            "room for the largest request"
        );
        // Bigger than all the room: takes all of it, and only when nothing else is held.
        let all = in_hand.hold(64 * 1024 * 1024).unwrap();
        assert_eq!(in_hand.held(), 10 * 1024 * 1024);
        assert!(in_hand.hold(1).is_err());
        drop(all);
        assert!(in_hand.hold(64 * 1024 * 1024).is_ok());
    }
}
