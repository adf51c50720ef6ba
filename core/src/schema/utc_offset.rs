//! The compound's time zone, as a fixed offset from UTC in minutes: what printed sheets,
//! exports, the dashboard and phones show times in. The default is China Standard Time
//! (UTC+8), which has no daylight saving.
//!
//! Why a fixed offset and not a time-zone database: the compounds Doorstep serves tell time in
//! one zone without daylight saving, a database (IANA tzdata) would add about 100 KiB of data
//! to every phone and to core's no-IO build, and it goes stale unless updated. A coordinator
//! in a zone with daylight saving sets the new offset on the day it changes.

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

/// The westernmost offset in use, UTC−12:00, in minutes.
pub const MIN_MINUTES: i64 = -12 * 60;
/// The easternmost offset in use, UTC+14:00, in minutes.
pub const MAX_MINUTES: i64 = 14 * 60;

/// A fixed offset from UTC, a whole number of quarter hours between UTC−12:00 and UTC+14:00.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct UtcOffset(i16);

/// Why a number of minutes is no UTC offset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "时区偏移须为 UTC−12:00 至 UTC+14:00 之间的整刻钟，{0} 分钟不行 / a UTC offset must be whole quarter \
     hours from UTC−12:00 to UTC+14:00 (−720 to 840 minutes), not {0} minutes"
)]
pub struct BadUtcOffset(pub i64);

impl UtcOffset {
    /// China Standard Time, UTC+8: the default.
    pub const CHINA: UtcOffset = UtcOffset(8 * 60);

    /// An offset of `minutes` east of UTC (negative west of it).
    pub fn from_minutes(minutes: i64) -> Result<Self, BadUtcOffset> {
        if !(MIN_MINUTES..=MAX_MINUTES).contains(&minutes) || minutes % 15 != 0 {
            return Err(BadUtcOffset(minutes));
        }
        i16::try_from(minutes).map(UtcOffset).map_err(|_| BadUtcOffset(minutes))
    }

    /// Minutes east of UTC.
    pub fn minutes(self) -> i64 {
        i64::from(self.0)
    }

    /// `UTC+8`, `UTC+5:30`, `UTC-3`, `UTC`.
    pub fn label(self) -> String {
        let m = self.minutes();
        if m == 0 {
            return "UTC".to_owned();
        }
        let sign = if m < 0 { '-' } else { '+' };
        let (h, rest) = (m.abs() / 60, m.abs() % 60);
        if rest == 0 { format!("UTC{sign}{h}") } else { format!("UTC{sign}{h}:{rest:02}") }
    }

    /// `2026-11-23 14:05`: the wall-clock time at this offset.
    pub fn local_time(self, at: Timestamp) -> String {
        let seconds = at.as_millis().div_euclid(1000) + self.minutes() * 60;
        let (days, of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
        let (y, m, d) = civil_from_days(days);
        format!("{y:04}-{m:02}-{d:02} {:02}:{:02}", of_day / 3600, of_day % 3600 / 60)
    }
}

impl Default for UtcOffset {
    fn default() -> Self {
        UtcOffset::CHINA
    }
}

impl TryFrom<i64> for UtcOffset {
    type Error = BadUtcOffset;

    fn try_from(minutes: i64) -> Result<Self, BadUtcOffset> {
        UtcOffset::from_minutes(minutes)
    }
}

impl From<UtcOffset> for i64 {
    fn from(offset: UtcOffset) -> i64 {
        offset.minutes()
    }
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
pub(crate) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn formats_in_china_standard_time_by_default() {
        let cst = UtcOffset::default();
        assert_eq!(cst.local_time(Timestamp::from_millis(0)), "1970-01-01 08:00");
        // 2026-11-23 06:05:59 UTC.
        assert_eq!(cst.local_time(Timestamp::from_millis(1_795_413_959_000)), "2026-11-23 14:05");
        // 2024-02-29 16:30 UTC is already 1 March in Beijing.
        assert_eq!(cst.local_time(Timestamp::from_millis(1_709_224_200_000)), "2024-03-01 00:30");
        assert_eq!(cst.local_time(Timestamp::from_millis(-1000)), "1970-01-01 07:59");
        assert_eq!(cst.label(), "UTC+8");
    }

    #[test]
    fn other_offsets_shift_the_wall_clock() {
        let at = Timestamp::from_millis(1_795_413_959_000);
        let india = UtcOffset::from_minutes(330).unwrap();
        assert_eq!(
            (india.local_time(at), india.label()),
            ("2026-11-23 11:35".to_owned(), "UTC+5:30".to_owned())
        );
        let west = UtcOffset::from_minutes(-180).unwrap();
        assert_eq!((west.local_time(at), west.label()), ("2026-11-23 03:05".to_owned(), "UTC-3".to_owned()));
        assert_eq!(UtcOffset::from_minutes(0).unwrap().label(), "UTC");
    }

    #[test]
    fn impossible_offsets_are_refused() {
        for bad in [-721, 841, 7, 481, i64::MAX, i64::MIN] {
            assert_eq!(UtcOffset::from_minutes(bad), Err(BadUtcOffset(bad)));
        }
        assert!(UtcOffset::try_from(900).is_err());
        assert_eq!(UtcOffset::try_from(-345).map(UtcOffset::minutes), Ok(-345));
    }
}
