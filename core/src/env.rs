//! The outside world, passed in. Core reads no clock and no random source of its own, so tests
//! are deterministic and the same code runs on phones, the relay and in property tests.

use crate::time::Timestamp;

/// A source of randomness for IDs. Implemented for any `FnMut() -> u128`, so callers can pass
/// a seeded generator in tests and the OS generator in production.
pub trait Entropy {
    /// 128 fresh random bits.
    fn next_u128(&mut self) -> u128;
}

impl<F: FnMut() -> u128> Entropy for F {
    fn next_u128(&mut self) -> u128 {
        self()
    }
}

/// The time and entropy an operation may use.
pub struct Env<'a> {
    /// The device's wall-clock time when the operation was made.
    pub now: Timestamp,
    /// Randomness for new IDs.
    pub entropy: &'a mut dyn Entropy,
    /// Whether operations are rehearsed: checked, not written ([`Compound::rehearse`]).
    ///
    /// [`Compound::rehearse`]: crate::Compound::rehearse
    pub(crate) rehearsal: bool,
}

impl std::fmt::Debug for Env<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Env").field("now", &self.now).finish_non_exhaustive()
    }
}

impl<'a> Env<'a> {
    /// An environment at `now` drawing IDs from `entropy`.
    pub fn new(now: Timestamp, entropy: &'a mut dyn Entropy) -> Self {
        Self { now, entropy, rehearsal: false }
    }

    /// A UUIDv7 from `now` and the entropy source.
    pub(crate) fn uuid_v7(&mut self) -> uuid::Uuid {
        let millis = u64::try_from(self.now.as_millis()).unwrap_or(0);
        let random = self.entropy.next_u128().to_le_bytes();
        let mut bytes = [0u8; 10];
        bytes.copy_from_slice(&random[..10]);
        uuid::Builder::from_unix_timestamp_millis(millis, &bytes).into_uuid()
    }
}
