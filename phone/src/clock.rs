//! The phone's wall clock. Core is sans-IO and reads no clock itself; the phone's commands stamp
//! their operations and compare its last sync with this one.

use doorstep_core::Timestamp;

/// The wall-clock time now (0 if the system clock is before 1970).
pub fn now() -> Timestamp {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    Timestamp::from_millis(millis)
}
