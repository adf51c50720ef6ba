//! Phone numbers as ledgers write them ("199 9973 6261", "+86 138-0000-0000", "１３８００００００００",
//! "0371-1234567, 13800000000"), normalised to digits so that searching 19999736261 finds the
//! household, and judged plausible or not (a mainland mobile number, or a landline with its area
//! code) so that a mistyped number is flagged before a volunteer needs it.

/// What a phone cell holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PhoneCheck {
    /// Nothing.
    Blank,
    /// A number Excel displayed in scientific notation ("1.99089E+10"): its last digits are lost.
    Rounded,
    /// One or more plausible numbers, normalised to digits and joined by ", ".
    Plausible(String),
    /// Something that does not look like a phone number, as written (full-width forms folded).
    Implausible(String),
}

/// What may separate two numbers in one cell. Spaces do not: they group the digits of one.
const SEPARATORS: &[char] = &[',', '，', '、', ';', '；', '/', '|'];

/// Reads a phone cell.
pub(crate) fn check_phone(cell: &str) -> PhoneCheck {
    let folded = fold_width(cell.trim());
    if folded.is_empty() {
        return PhoneCheck::Blank;
    }
    if is_scientific(&folded) {
        return PhoneCheck::Rounded;
    }
    let numbers: Option<Vec<String>> =
        folded.split(SEPARATORS).map(str::trim).filter(|p| !p.is_empty()).map(normalise_one).collect();
    match numbers {
        Some(numbers) if !numbers.is_empty() => PhoneCheck::Plausible(numbers.join(", ")),
        _ => PhoneCheck::Implausible(folded),
    }
}

/// A phone number the roster holds, as the importer would read it from a cell: so that an
/// exported roster re-imported unedited leaves "+86-139-1234-5678" as it is, not as an update to
/// 13912345678.
pub(crate) fn as_imported(stored: &str) -> String {
    match check_phone(stored) {
        PhoneCheck::Blank => String::new(),
        PhoneCheck::Rounded => stored.trim().to_owned(),
        PhoneCheck::Plausible(phone) | PhoneCheck::Implausible(phone) => phone,
    }
}

/// One number as digits, when it is plausible: grouping spaces, dashes, dots and parentheses
/// dropped, the country code (+86, 0086, 86) dropped from a mobile number, Excel's ".0" dropped.
fn normalise_one(text: &str) -> Option<String> {
    let text = text.strip_suffix(".0").unwrap_or(text);
    let mut digits = String::with_capacity(text.len());
    for (i, c) in text.chars().enumerate() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '\u{3000}' | '-' | '—' | '–' | '(' | ')' | '（' | '）' | '.' => {}
            '+' if i == 0 => {}
            _ => return None,
        }
    }
    let mobile = |d: &str| {
        d.len() == 11 && d.starts_with('1') && d.as_bytes()[1].is_ascii_digit() && d.as_bytes()[1] >= b'3'
    };
    for prefix in ["0086", "86"] {
        if let Some(rest) = digits.strip_prefix(prefix)
            && mobile(rest)
        {
            return Some(rest.to_owned());
        }
    }
    let landline = digits.starts_with('0') && (10..=12).contains(&digits.len());
    let local = !digits.starts_with(['0', '1']) && (7..=8).contains(&digits.len());
    (mobile(&digits) || landline || local).then_some(digits)
}

/// Full-width forms to ASCII, keeping spaces (which may group digits).
fn fold_width(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .collect()
}

/// "1.99089E+10": what Excel writes for a long number it formats as "General".
fn is_scientific(text: &str) -> bool {
    let Some((mantissa, exponent)) = text.split_once(['e', 'E']) else {
        return false;
    };
    let exponent = exponent.strip_prefix('+').unwrap_or(exponent);
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, "0"));
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    digits(whole) && digits(fraction) && digits(exponent)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plausible(text: &str) -> PhoneCheck {
        PhoneCheck::Plausible(text.to_owned())
    }

    #[test]
    fn numbers_are_normalised_to_digits() {
        for (cell, expect) in [
            ("199 9973 6261", plausible("19999736261")),
            ("199-9973-6261", plausible("19999736261")),
            ("+86 138 0000 0000", plausible("13800000000")),
            ("+86-13800000000", plausible("13800000000")),
            ("008613800000000", plausible("13800000000")),
            ("8613800000000", plausible("13800000000")),
            ("１３８００００００００", plausible("13800000000")),
            ("19908923609.0", plausible("19908923609")),
            ("0371-1234567, 13800000000", plausible("03711234567, 13800000000")),
            ("(0371) 6123 4567", plausible("037161234567")),
            ("6123456", plausible("6123456")),
            ("", PhoneCheck::Blank),
            ("   ", PhoneCheck::Blank),
            ("1.99089E+10", PhoneCheck::Rounded),
        ] {
            assert_eq!(check_phone(cell), expect, "{cell:?}");
        }
    }

    #[test]
    fn implausible_numbers_are_kept_as_written() {
        for cell in ["138 000 0000", "12345", "123456789012345", "无", "找邻居", "1380000000x", "11012345678"]
        {
            assert!(matches!(check_phone(cell), PhoneCheck::Implausible(_)), "{cell:?}");
        }
        assert_eq!(check_phone("１３８ ０００ ００００"), PhoneCheck::Implausible("138 000 0000".to_owned()));
    }

    #[test]
    fn detects_scientific_notation() {
        for (text, expect) in [
            ("1.99089E+10", true),
            ("1.99089e10", true),
            ("2E+10", true),
            ("19908923609", false),
            ("E+10", false),
            ("1.E+10", false),
            ("0371-1234567", false),
            ("", false),
        ] {
            assert_eq!(is_scientific(text), expect, "{text:?}");
        }
    }
}
