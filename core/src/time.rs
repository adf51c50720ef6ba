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
