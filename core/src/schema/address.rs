//! Addresses as coordinators write them: "17号楼3单元702", "17栋3单元702室", "17-3-702",
//! with ASCII or full-width digits, optionally preceded by the estate (小区) name.

use serde::{Deserialize, Serialize};

/// A flat's address within a compound.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Address {
    /// The estate (小区) within the compound; empty when the compound has one.
    pub estate: String,
    /// The building number or name, without "号楼"/"栋" ("17").
    pub building: String,
    /// The unit (单元) without "单元" ("3"); empty when the building has no units.
    pub unit: String,
    /// The floor (楼层).
    pub floor: i32,
    /// The flat (房号) without "室" ("702").
    pub flat: String,
}

impl Address {
    /// Orders building → unit → floor → flat the way a volunteer climbs, numbers by value.
    pub fn climb_key(&self) -> (String, NumericKey, NumericKey, i32, NumericKey) {
        (
            self.estate.clone(),
            NumericKey::new(&self.building),
            NumericKey::new(&self.unit),
            self.floor,
            NumericKey::new(&self.flat),
        )
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.estate.is_empty() {
            write!(f, "{} ", self.estate)?;
        }
        write!(f, "{}号楼", self.building)?;
        if !self.unit.is_empty() {
            write!(f, "{}单元", self.unit)?;
        }
        write!(f, "{}", self.flat)
    }
}

/// Sorts "2" before "10" and text after numbers.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NumericKey(Option<u64>, String);

impl NumericKey {
    /// The key for a label.
    pub fn new(label: &str) -> Self {
        Self(label.parse().ok(), label.to_owned())
    }
}

/// An address a person typed, before it is matched to a household.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressQuery {
    /// Estate name, if the text started with one.
    pub estate: Option<String>,
    /// Building label.
    pub building: String,
    /// Unit label, if given.
    pub unit: Option<String>,
    /// Flat number.
    pub flat: String,
}

/// Text that is not an address we can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot read address {text:?}: {reason}; write it like 17号楼3单元702, 17栋3单元702室 or 17-3-702")]
pub struct BadAddress {
    /// What was given.
    pub text: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Full-width digits, letters and dashes to ASCII; spaces removed.
pub fn normalize_width(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '—' | '–' | '‐' => '-',
            _ => c,
        })
        .collect()
}

/// Strips one of `suffixes` from the end of a label ("1号楼" → "1").
pub fn strip_label(label: &str, suffixes: &[&str]) -> String {
    let label = normalize_width(label);
    for suffix in suffixes {
        if let Some(rest) = label.strip_suffix(suffix) {
            return rest.to_owned();
        }
    }
    label
}

/// Building label suffixes, longest first.
pub const BUILDING_SUFFIXES: &[&str] = &["号楼", "栋", "幢", "座", "楼", "号"];
/// Unit label suffixes.
pub const UNIT_SUFFIXES: &[&str] = &["单元", "门"];
/// Flat label suffixes.
pub const FLAT_SUFFIXES: &[&str] = &["室", "号", "户"];

/// Reads "17号楼3单元702", "17栋3单元702室", "17-3-702", "北林小区1号楼1单元102" and the
/// same with full-width digits.
pub fn parse_address(text: &str) -> Result<AddressQuery, BadAddress> {
    let bad = |reason| BadAddress { text: text.chars().take(80).collect(), reason };
    let s = normalize_width(text);
    if s.is_empty() {
        return Err(bad("it is empty"));
    }
    // Dashed form: [estate]17-3-702 or 17-702.
    if s.contains('-') {
        let start = s.find(|c: char| c.is_ascii_alphanumeric()).ok_or_else(|| bad("no building number"))?;
        let (estate, rest) = s.split_at(start);
        let parts: Vec<&str> = rest.split('-').collect();
        let ok = |p: &&str| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric());
        return match parts.as_slice() {
            [b, u, f] if [b, u, f].iter().all(|p| ok(p)) => Ok(AddressQuery {
                estate: non_empty(estate),
                building: (*b).to_owned(),
                unit: Some((*u).to_owned()),
                flat: strip_label(f, FLAT_SUFFIXES),
            }),
            [b, f] if ok(b) && ok(f) => Ok(AddressQuery {
                estate: non_empty(estate),
                building: (*b).to_owned(),
                unit: None,
                flat: (*f).to_owned(),
            }),
            _ => Err(bad("a dashed address needs building-unit-flat")),
        };
    }
    // Written form: [estate]<building>(号楼|栋|幢|座)[<unit>(单元|门)]<flat>[室|号].
    let building_at = BUILDING_SUFFIXES
        .iter()
        .filter_map(|suffix| s.find(suffix).map(|at| (at, suffix.len())))
        .min_by_key(|(at, len)| (*at, usize::MAX - len))
        .ok_or_else(|| bad("no building (号楼 or 栋)"))?;
    let head = &s[..building_at.0];
    let digits_from = head
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_ascii_alphanumeric())
        .last()
        .map(|(i, _)| i)
        .ok_or_else(|| bad("no building number before 号楼/栋"))?;
    let estate = &head[..digits_from];
    let building = &head[digits_from..];
    let rest = &s[building_at.0 + building_at.1..];
    let (unit, flat_text) =
        match UNIT_SUFFIXES.iter().find_map(|suffix| rest.find(suffix).map(|at| (at, suffix.len()))) {
            Some((at, len)) => (Some(rest[..at].to_owned()), &rest[at + len..]),
            None => (None, rest),
        };
    if unit.as_deref().is_some_and(|u| u.is_empty() || !u.chars().all(|c| c.is_ascii_alphanumeric())) {
        return Err(bad("the unit is not a number"));
    }
    let flat = strip_label(flat_text, FLAT_SUFFIXES);
    if flat.is_empty() || !flat.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(bad("no flat number after the building and unit"));
    }
    Ok(AddressQuery { estate: non_empty(estate), building: building.to_owned(), unit, flat })
}

/// The floor a flat number implies ("702" → 7, "1102" → 11), when it is all digits.
pub fn floor_of_flat(flat: &str) -> Option<i32> {
    if flat.len() < 3 || !flat.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    flat[..flat.len() - 2].parse().ok()
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expect: Option<(&str, &str, Option<&str>, &str)>) {
        let got =
            parse_address(text).ok().map(|q| (q.estate.unwrap_or_default(), q.building, q.unit, q.flat));
        let expect =
            expect.map(|(e, b, u, f)| (e.to_owned(), b.to_owned(), u.map(str::to_owned), f.to_owned()));
        assert_eq!(got, expect, "parsing {text:?}");
    }

    #[test]
    fn reads_the_written_variants() {
        check("17号楼3单元702", Some(("", "17", Some("3"), "702")));
        check("17栋3单元702室", Some(("", "17", Some("3"), "702")));
        check("17-3-702", Some(("", "17", Some("3"), "702")));
        check("１７号楼３单元７０２", Some(("", "17", Some("3"), "702")));
        check("１７－３－７０２", Some(("", "17", Some("3"), "702")));
        check("北林小区1号楼1单元102", Some(("北林小区", "1", Some("1"), "102")));
        check("17栋702", Some(("", "17", None, "702")));
        check(" 17 号楼 3 单元 702 室 ", Some(("", "17", Some("3"), "702")));
    }

    #[test]
    fn rejects_what_is_not_an_address() {
        check("", None);
        check("hello", None);
        check("号楼3单元702", None);
        check("17号楼3单元", None);
        check("17-3-", None);
        check("17--702", None);
    }

    #[test]
    fn floors_follow_flat_numbers() {
        assert_eq!(floor_of_flat("702"), Some(7));
        assert_eq!(floor_of_flat("1102"), Some(11));
        assert_eq!(floor_of_flat("02"), None);
        assert_eq!(floor_of_flat("A1"), None);
    }
}
