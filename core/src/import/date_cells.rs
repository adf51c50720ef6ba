//! The cells of a workbook that Excel held as dates. A sheet is read as the CSV text it becomes,
//! where a date is written as its text (2026-05-01); these say which cells those were, so that a
//! flat Excel turned from "5-1" into a date is a bad row naming the date, not flat 46143 on
//! floor 461. A CSV carries no such mark: Excel's "Save As CSV" writes the date as the sheet shows
//! it (2026/5/1, 5月1日, 2026-05-01, 1-May), which [`written_date`] recognises in the address
//! cells, so that a workbook and its CSV import by the same rules.

use std::collections::BTreeSet;

/// Cells held as dates, by the CSV line their row starts on and their field (0-based).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DateCells(BTreeSet<(usize, usize)>);

impl DateCells {
    /// Marks the cell at `field` of the row starting on `line` as a date.
    pub fn insert(&mut self, line: usize, field: usize) {
        self.0.insert((line, field));
    }

    /// Whether the cell at `field` of the row starting on `line` was a date.
    pub fn contains(&self, line: usize, field: usize) -> bool {
        self.0.contains(&(line, field))
    }

    /// Whether no cell was a date.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The month and day of `text` when its whole text is a date as Excel writes one into a CSV:
/// 2026/5/1, 2026-05-01, 2026.5.1, 2026年5月1日, 5月1日, 1-May or May-1.
pub(crate) fn written_date(text: &str) -> Option<(u32, u32)> {
    let text = crate::schema::address::normalize_width(text);
    let month_day =
        |month: u32, day: u32| ((1..=12).contains(&month) && (1..=31).contains(&day)).then_some((month, day));
    let number = |s: &str| {
        (!s.is_empty() && s.len() <= 4 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u32>().ok())
            .flatten()
    };
    let year = |s: &str| s.len() == 4 && number(s).is_some_and(|y| (1900..=2099).contains(&y));
    // 2026年5月1日, 5月1日
    if let Some(rest) = text.strip_suffix('日') {
        let rest = match rest.split_once('年') {
            Some((y, rest)) if year(y) => rest,
            Some(_) => return None,
            None => rest,
        };
        let (month, day) = rest.split_once('月')?;
        return month_day(number(month)?, number(day)?);
    }
    let parts: Vec<&str> = text.split(['-', '/', '.']).collect();
    if let [y, month, day] = parts.as_slice()
        && year(y)
    {
        let separators: Vec<char> = text.chars().filter(|c| matches!(c, '-' | '/' | '.')).collect();
        if separators[0] == separators[1] {
            return month_day(number(month)?, number(day)?);
        }
        return None;
    }
    // 1-May, May-1 (an English Excel's "d-mmm")
    const MONTHS: [&str; 12] =
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
    let month = |s: &str| MONTHS.iter().position(|m| m.eq_ignore_ascii_case(s)).map(|at| at as u32 + 1);
    match text.split_once('-') {
        Some((day, name)) if month(name).is_some() => month_day(month(name)?, number(day)?),
        Some((name, day)) if month(name).is_some() => month_day(month(name)?, number(day)?),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_as_excel_writes_them_into_a_csv() {
        for (text, date) in [
            ("2026/5/1", Some((5, 1))),
            ("2026-03-05", Some((3, 5))),
            ("2026.3.5", Some((3, 5))),
            ("5月1日", Some((5, 1))),
            ("2026年12月31日", Some((12, 31))),
            ("1-May", Some((5, 1))),
            ("Mar-12", Some((3, 12))),
            ("17-3-702", None),
            ("2026-3-702", None),
            ("2026-13-01", None),
            ("12-1", None),
            ("3月", None),
            ("702", None),
            ("2026/5-1", None),
        ] {
            assert_eq!(written_date(text), date, "{text:?}");
        }
    }
}
