//! Times on exports, printed sheets and the terminal phone, as the people reading them tell
//! time: China Standard Time (UTC+8, no daylight saving), written `2026-11-23 14:05`. The JSON
//! API keeps Unix milliseconds and leaves display to the browser's own time zone.

use doorstep_core::Timestamp;

/// China Standard Time's offset from UTC, in seconds.
const OFFSET_SECONDS: i64 = 8 * 3600;

/// `2026-11-23 14:05`, China Standard Time.
pub fn beijing(at: Timestamp) -> String {
    let seconds = at.as_millis().div_euclid(1000) + OFFSET_SECONDS;
    let (days, of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}", of_day / 3600, of_day % 3600 / 60)
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
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
    use super::*;

    #[test]
    fn formats_in_china_standard_time() {
        assert_eq!(beijing(Timestamp::from_millis(0)), "1970-01-01 08:00");
        // 2026-11-23 06:05:59 UTC.
        assert_eq!(beijing(Timestamp::from_millis(1_795_413_959_000)), "2026-11-23 14:05");
        // 2024-02-29 16:30 UTC is already 1 March in Beijing.
        assert_eq!(beijing(Timestamp::from_millis(1_709_224_200_000)), "2024-03-01 00:30");
        assert_eq!(beijing(Timestamp::from_millis(-1000)), "1970-01-01 07:59");
    }
}
