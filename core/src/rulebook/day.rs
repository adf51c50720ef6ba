//! A round's day, as the dashboard's date picker and the apps write it: `YYYY-MM-DD`, a day that
//! exists, in this century. Rounds are listed and printed by it; "明天" or "2026-02-30" sorted
//! among them as text and read as no day at all.

/// The earliest and latest years a round may be for.
const YEARS: std::ops::RangeInclusive<u32> = 2000..=2099;

/// Whether `text` is a day written `YYYY-MM-DD` that exists (2026-02-29 does not), in
/// [`YEARS`].
pub fn is_day(text: &str) -> bool {
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = bytes.get(range)?;
        part.iter().all(u8::is_ascii_digit).then(|| part.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
    };
    if bytes.len() != 10 || bytes.get(4) != Some(&b'-') || bytes.get(7) != Some(&b'-') {
        return false;
    }
    let (Some(year), Some(month), Some(day)) = (digits(0..4), digits(5..7), digits(8..10)) else {
        return false;
    };
    let Some(days) = days_in_month(i64::from(year), month) else { return false };
    YEARS.contains(&year) && (1..=days).contains(&day)
}

/// The days of `month` (1–12) of `year` in the Gregorian calendar; `None` for no month.
pub(crate) fn days_in_month(year: i64, month: u32) -> Option<u32> {
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => Some(31),
        4 | 6 | 9 | 11 => Some(30),
        2 if leap => Some(29),
        2 => Some(28),
        _ => None,
    }
}

/// What a person is told of a value that is not a day.
pub const NOT_A_DAY: &str = "is not a day written as YYYY-MM-DD (for example 2026-11-23)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_days_that_exist_written_year_month_day_are_days() {
        for day in ["2026-11-23", "2028-02-29", "2000-02-29", "2026-12-31", "2099-01-01"] {
            assert!(is_day(day), "{day}");
        }
        for not in [
            "",
            "明天",
            "2026/11/23",
            " 2026-11-23",
            "2026-11-23 ",
            "2026-2-3",
            "2026-02-29",
            "2100-02-29",
            "1900-01-01",
            "9999-12-31",
            "0000-01-01",
            "2026-13-01",
            "2026-00-10",
            "2026-11-31",
            "2026-11-00",
            "２０２６-11-23",
            "+026-11-23",
            "2026-11-2x",
            "2026-11-23T00:00",
        ] {
            assert!(!is_day(not), "{not:?}");
        }
    }
}
