//! The phone's clock as the relay reads it. A phone whose date, time or time zone is wrong dates
//! every knock, close and request wrong: a volunteer's phone thirty minutes fast dates a delivery
//! made before the round's close after it, and the relay refuses it (`closed_rounds_are_final`);
//! a coordinator's phone thirty minutes slow dates its close before deliveries made just before
//! it. The relay says at each sync how far off the phone's clock is
//! ([`Replica::clock_off_by_ms`](crate::Replica::clock_off_by_ms), kept past five minutes), so
//! the replica dates what it records on the relay's clock instead ([`on_relays_clock`]).
//!
//! Only while that offset still holds. The sync's warning asks the volunteer to set the clock
//! right, and a clock set right since, dated by the old offset, would be off the other way. So
//! the wall clock's reading at the measurement is kept with the boot clock's (which counts from
//! the phone's start, asleep too, and no one sets), and the offset is used only while the wall
//! clock has run at the boot clock's pace since ([`SET_SINCE_MS`]), on the same boot. Where the
//! boot clock is not read ([`boot_ms`] on other systems), nothing is moved.

use doorstep_core::Timestamp;

/// How far the wall clock may have gone from the boot clock's pace since the measurement and
/// still be the clock measured (a phone syncing its clock by the network moves it by
/// milliseconds to seconds; a clock set right moves by the minutes it was off).
pub const SET_SINCE_MS: i64 = 60_000;

/// A measurement of the phone's clock: the wall clock and the boot clock read together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    /// The wall clock (what the phone stamps), in Unix milliseconds.
    pub wall_ms: i64,
    /// The boot clock, in milliseconds since the phone started.
    pub boot_ms: i64,
}

impl Reading {
    /// Both as little-endian bytes, as the replica's file keeps them.
    pub fn to_bytes(self) -> [u8; 16] {
        let mut bytes = [0; 16];
        bytes[..8].copy_from_slice(&self.wall_ms.to_le_bytes());
        bytes[8..].copy_from_slice(&self.boot_ms.to_le_bytes());
        bytes
    }

    /// Read back from [`Reading::to_bytes`]; `None` for anything else.
    pub fn from_bytes(bytes: &[u8]) -> Option<Reading> {
        let wall_ms = i64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
        let boot_ms = i64::from_le_bytes(bytes.get(8..16)?.try_into().ok()?);
        (bytes.len() == 16).then_some(Reading { wall_ms, boot_ms })
    }
}

/// `now` (the wall clock) on the relay's clock: moved back by `off_by_ms` (the phone's clock
/// minus the relay's, measured at `measured`) while the wall clock has kept the boot clock's
/// pace since; `now` as it is otherwise, or when nothing was measured.
pub fn on_relays_clock(
    now: Timestamp,
    boot_now: Option<i64>,
    off_by_ms: Option<i64>,
    measured: Option<Reading>,
) -> Timestamp {
    let (Some(boot_now), Some(off_by_ms), Some(measured)) = (boot_now, off_by_ms, measured) else {
        return now;
    };
    let boot_gone = boot_now.saturating_sub(measured.boot_ms);
    let wall_gone = now.as_millis().saturating_sub(measured.wall_ms);
    // A boot clock behind its reading: the phone started again since, and its clock may have
    // been set meanwhile.
    if boot_gone < 0 || wall_gone.saturating_sub(boot_gone).unsigned_abs() > SET_SINCE_MS.unsigned_abs() {
        return now;
    }
    Timestamp::from_millis(now.as_millis().saturating_sub(off_by_ms).max(0))
}

/// The boot clock, in milliseconds: Linux's and Android's `CLOCK_BOOTTIME`, Apple's
/// `CLOCK_MONOTONIC` (both count while asleep, and no one sets them); `None` elsewhere.
#[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
#[expect(unsafe_code, reason = "libc's clock_gettime has no safe binding in std")]
pub fn boot_ms() -> Option<i64> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    const CLOCK: libc::clockid_t = libc::CLOCK_BOOTTIME;
    #[cfg(target_vendor = "apple")]
    const CLOCK: libc::clockid_t = libc::CLOCK_MONOTONIC;
    let mut time = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `clock_gettime` writes one `timespec` through the pointer, which points at a live,
    // writable, properly aligned `timespec` of ours; it reads nothing else of ours and is
    // thread-safe. A clock the system does not have is an error return, not a write.
    let read = unsafe { libc::clock_gettime(CLOCK, &raw mut time) };
    #[allow(
        clippy::useless_conversion,
        reason = "time_t and c_long are 32 bits on 32-bit Android (armv7), 64 here"
    )]
    (read == 0).then(|| {
        i64::from(time.tv_sec).saturating_mul(1000).saturating_add(i64::from(time.tv_nsec) / 1_000_000)
    })
}

/// The boot clock: not read on this system.
#[cfg(not(any(target_os = "linux", target_os = "android", target_vendor = "apple")))]
pub fn boot_ms() -> Option<i64> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_790_000_000_000;
    const HALF_HOUR: i64 = 30 * 60_000;

    fn measured_ago(wall_ago: i64, boot_ago: i64) -> Option<Reading> {
        Some(Reading { wall_ms: NOW - wall_ago, boot_ms: 500_000_000 - boot_ago })
    }

    #[test]
    fn the_offset_moves_the_time_while_the_clock_keeps_the_boot_clocks_pace() {
        let now = Timestamp::from_millis(NOW);
        let boot = Some(500_000_000);
        let an_hour = 3_600_000;
        // Half an hour fast, measured an hour ago, the clock untouched since.
        let fast = on_relays_clock(now, boot, Some(HALF_HOUR), measured_ago(an_hour, an_hour + 2_000));
        assert_eq!(fast.as_millis(), NOW - HALF_HOUR);
        let slow = on_relays_clock(now, boot, Some(-HALF_HOUR), measured_ago(an_hour, an_hour));
        assert_eq!(slow.as_millis(), NOW + HALF_HOUR);
        // The clock set right since (it jumped half an hour against the boot clock): left alone.
        let set_right =
            on_relays_clock(now, boot, Some(HALF_HOUR), measured_ago(an_hour - HALF_HOUR, an_hour));
        assert_eq!(set_right, now);
        // The phone started again since: its boot clock is behind the reading.
        assert_eq!(on_relays_clock(now, Some(1_000), Some(HALF_HOUR), measured_ago(an_hour, an_hour)), now);
        // Nothing measured, no boot clock, no offset.
        assert_eq!(on_relays_clock(now, boot, Some(HALF_HOUR), None), now);
        assert_eq!(on_relays_clock(now, None, Some(HALF_HOUR), measured_ago(0, 0)), now);
        assert_eq!(on_relays_clock(now, boot, None, measured_ago(0, 0)), now);
    }

    #[test]
    fn a_reading_reads_back_from_its_bytes_and_nothing_else_does() {
        let reading = Reading { wall_ms: NOW, boot_ms: -7 };
        assert_eq!(Reading::from_bytes(&reading.to_bytes()), Some(reading));
        assert_eq!(Reading::from_bytes(&[0; 15]), None);
        assert_eq!(Reading::from_bytes(&[0; 17]), None);
    }

    #[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
    #[test]
    fn the_boot_clock_is_read_and_runs_forward() {
        let first = boot_ms().expect("this system has a boot clock");
        std::thread::sleep(std::time::Duration::from_millis(20));
        let second = boot_ms().expect("this system has a boot clock");
        assert!(second >= first + 15, "{first} then {second}");
    }
}
