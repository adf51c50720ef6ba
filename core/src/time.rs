//! Device time, as milliseconds since the Unix epoch. Passed in, never read by core.

use serde::{Deserialize, Serialize};

/// Milliseconds since 1970-01-01T00:00:00Z, as the device's clock said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    /// A timestamp from Unix milliseconds.
    pub const fn from_millis(millis: i64) -> Self {
        Self(millis)
    }

    /// Unix milliseconds.
    pub const fn as_millis(self) -> i64 {
        self.0
    }
}

/// How far a phone's clock may be from the relay's before it is called wrong: drift and an
/// answer's time on the link are under this, a wrong date or time zone is not. The phone says
/// so after a sync, and the members page beside the device.
pub const CLOCK_OFF_BY_MS: i64 = 5 * 60 * 1000;

/// Whether a clock `off_by_ms` milliseconds from the relay's (either way) is wrong.
pub const fn clock_is_off(off_by_ms: i64) -> bool {
    off_by_ms.unsigned_abs() > CLOCK_OFF_BY_MS.unsigned_abs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clock_is_off_past_five_minutes_either_way() {
        assert!(!clock_is_off(0) && !clock_is_off(CLOCK_OFF_BY_MS) && !clock_is_off(-CLOCK_OFF_BY_MS));
        assert!(clock_is_off(CLOCK_OFF_BY_MS + 1) && clock_is_off(-CLOCK_OFF_BY_MS - 1));
        assert!(clock_is_off(i64::MIN) && clock_is_off(i64::MAX), "the ends of the range panic nowhere");
    }
}
