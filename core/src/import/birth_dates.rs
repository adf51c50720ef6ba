//! Residents' ages from their birth dates or their ID numbers. Many resident ledgers
//! (社区人员台账) keep 出生日期 or 身份证号 and no 年龄 column, and a sheet kept for a year says
//! last year's ages; without reading these, the 60+ and under-6 counts a coordinator plans the
//! elderly's deliveries by were 0 for every household. An age is counted on the day the file is
//! read ([`CalendarDay`]), which the caller passes in: core reads no clock.

use crate::schema::address::normalize_width;
use crate::schema::utc_offset::{UtcOffset, civil_from_days};
use crate::time::Timestamp;

/// Headers of a resident's date of birth.
pub(super) const BIRTH_HEADERS: &[&str] = &[
    "出生日期",
    "出生年月",
    "出生年月日",
    "生日",
    "出生时间",
    "birth date",
    "date of birth",
    "birthday",
    "dob",
];
/// Headers of a resident's mainland ID number (居民身份证), whose digits 7–14 are the birth date.
pub(super) const ID_NUMBER_HEADERS: &[&str] =
    &["身份证号", "身份证号码", "公民身份号码", "身份证", "证件号码", "证件号", "id number", "id no"];

/// A day of the calendar (proleptic Gregorian).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct CalendarDay {
    year: i64,
    month: u32,
    day: u32,
}

impl CalendarDay {
    /// The day `year`-`month`-`day`, when there is one (no 2 February 30th).
    pub fn new(year: i64, month: u32, day: u32) -> Option<Self> {
        let days = crate::rulebook::day::days_in_month(year, month)?;
        (1..=days).contains(&day).then_some(CalendarDay { year, month, day })
    }

    /// The day it is at `at` in the time zone `offset`: the day ages are counted on.
    pub fn at(at: Timestamp, offset: UtcOffset) -> Self {
        let seconds = at.as_millis().div_euclid(1000) + offset.minutes() * 60;
        let (year, month, day) = civil_from_days(seconds.div_euclid(86_400));
        CalendarDay { year, month: u32::try_from(month).unwrap_or(1), day: u32::try_from(day).unwrap_or(1) }
    }

    /// Whole years from `born` to this day; `None` when `born` is after it.
    pub fn years_since(self, born: CalendarDay) -> Option<u32> {
        if born > self {
            return None;
        }
        let before_birthday = (self.month, self.day) < (born.month, born.day);
        u32::try_from(self.year - born.year - i64::from(before_birthday)).ok()
    }
}

/// A birth date as ledgers write one: 1950-03-02, 1950/3/2, 1950.3.2, 1950年3月2日, 19500302, and
/// a workbook's date cell as the relay writes it (1950-03-02 00:00:00); a year and month alone
/// (1950-03, 1950年3月, 195003) is the month's first day. `Ok(None)` for a blank cell, `Err(())`
/// for anything else.
pub(super) fn birth_date(cell: &str) -> Result<Option<CalendarDay>, ()> {
    // A workbook's date cell carries its time of day.
    let Some(date) = cell.split_whitespace().next() else { return Ok(None) };
    let text = normalize_width(date);
    let text = text.as_str();
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let number = |s: &str| if digits(s) { s.parse::<u32>().ok() } else { None };
    let day_of = |year: &str, month: &str, day: Option<&str>| -> Result<Option<CalendarDay>, ()> {
        if year.len() != 4 || !digits(year) {
            return Err(());
        }
        let year = i64::from(number(year).ok_or(())?);
        let day = match day {
            Some(day) => number(day).ok_or(())?,
            None => 1,
        };
        CalendarDay::new(year, number(month).ok_or(())?, day).map(Some).ok_or(())
    };
    if digits(text) {
        return match text.len() {
            8 => day_of(&text[..4], &text[4..6], Some(&text[6..])),
            6 => day_of(&text[..4], &text[4..], None),
            _ => Err(()),
        };
    }
    if let Some((year, rest)) = text.split_once('年') {
        let rest = rest.strip_suffix('日').or_else(|| rest.strip_suffix('号')).unwrap_or(rest);
        return match rest.split_once('月') {
            Some((month, "")) => day_of(year, month, None),
            Some((month, day)) => day_of(year, month, Some(day)),
            None => Err(()),
        };
    }
    let parts: Vec<&str> = text.split(['-', '/', '.']).collect();
    match parts.as_slice() {
        [year, month, day] => day_of(year, month, Some(day)),
        [year, month] => day_of(year, month, None),
        _ => Err(()),
    }
}

/// The birth date in a mainland ID number: 18 characters (17 digits and a check digit or X),
/// born on digits 7–14; or the old 15 digits, born 19YY-MM-DD on digits 7–12. `Ok(None)` for a
/// blank cell, `Err(())` for anything else. The check digit is not checked: a mistyped last
/// digit does not move the birth date, and the roster keeps no ID number.
pub(super) fn id_number_birth(cell: &str) -> Result<Option<CalendarDay>, ()> {
    let text = normalize_width(cell);
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let (body, check) = text.split_at(text.len().saturating_sub(1));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let born = match text.len() {
        18 if all_digits(body) && (all_digits(check) || check.eq_ignore_ascii_case("x")) => &body[6..14],
        15 if all_digits(text) => &format!("19{}", &text[6..12]),
        _ => return Err(()),
    };
    birth_date(born)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn day(year: i64, month: u32, day: u32) -> CalendarDay {
        CalendarDay::new(year, month, day).unwrap()
    }

    #[test]
    fn birth_dates_are_read_however_ledgers_write_them() {
        for cell in [
            "1950-03-02",
            "1950/3/2",
            "1950.3.2",
            "1950年3月2日",
            "1950年3月2号",
            "19500302",
            "１９５０-０３-０２",
            "1950-03-02 00:00:00",
        ] {
            assert_eq!(birth_date(cell), Ok(Some(day(1950, 3, 2))), "{cell}");
        }
        for cell in ["1950-03", "1950年3月", "195003", "1950/3"] {
            assert_eq!(birth_date(cell), Ok(Some(day(1950, 3, 1))), "{cell}");
        }
        assert_eq!(birth_date(" "), Ok(None));
        for cell in ["1950-02-30", "1950", "50-3-2", "三月", "1950-13-01", "72", "1950-3-2-1"] {
            assert_eq!(birth_date(cell), Err(()), "{cell}");
        }
    }

    #[test]
    fn id_numbers_give_their_birth_dates() {
        assert_eq!(id_number_birth("11010519491231002X"), Ok(Some(day(1949, 12, 31))));
        assert_eq!(id_number_birth("110105194912310021"), Ok(Some(day(1949, 12, 31))));
        assert_eq!(id_number_birth("11010519491231002x"), Ok(Some(day(1949, 12, 31))));
        assert_eq!(id_number_birth("110105491231002"), Ok(Some(day(1949, 12, 31))), "the old 15 digits");
        assert_eq!(id_number_birth(""), Ok(None));
        for cell in ["1101051949123100", "110105194913310021", "1.10105194912E+17", "ABCDEF194912310021"] {
            assert_eq!(id_number_birth(cell), Err(()), "{cell}");
        }
    }

    #[test]
    fn ages_turn_on_the_birthday() {
        let born = day(1966, 12, 8);
        assert_eq!(day(2026, 12, 7).years_since(born), Some(59));
        assert_eq!(day(2026, 12, 8).years_since(born), Some(60));
        assert_eq!(day(2026, 12, 7).years_since(day(2026, 12, 8)), None, "born tomorrow");
        assert_eq!(day(2025, 2, 28).years_since(day(2024, 2, 29)), Some(0));
        assert_eq!(day(2025, 3, 1).years_since(day(2024, 2, 29)), Some(1));
    }

    #[test]
    fn the_day_is_the_compound_s_day() {
        // 2026-12-07 16:30 UTC is already 8 December in Beijing.
        let at = Timestamp::from_millis(1_796_661_000_000);
        assert_eq!(CalendarDay::at(at, UtcOffset::CHINA), day(2026, 12, 8));
        assert_eq!(CalendarDay::at(at, UtcOffset::from_minutes(0).unwrap()), day(2026, 12, 7));
    }
}
