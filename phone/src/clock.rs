//! The phone's wall clock. Core is sans-IO and reads no clock itself; the phone's commands stamp
//! their operations and compare its last sync with this one.

use doorstep_core::Timestamp;

/// Set (in milliseconds, negative for behind), the phone's clock runs this far ahead of the
/// system's, as a real phone's clock does when it is set wrong: for trying, with the terminal
/// phone, what clocks that disagree do (a close and a late knock, a warning).
pub const CLOCK_AHEAD_VAR: &str = "DOORSTEP_PHONE_CLOCK_AHEAD_MS";

/// The wall-clock time now (0 if the system clock is before 1970), moved by
/// [`CLOCK_AHEAD_VAR`] when it is set to a number.
pub fn now() -> Timestamp {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    let ahead = std::env::var(CLOCK_AHEAD_VAR).ok().and_then(|v| v.trim().parse::<i64>().ok()).unwrap_or(0);
    Timestamp::from_millis(millis.saturating_add(ahead).max(0))
}
