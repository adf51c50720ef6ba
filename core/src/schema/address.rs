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

/// An address as addresses are compared, so that two ways of writing one door are one door:
/// each part as [`normalize_width`] writes it, the building and unit labels as
/// [`building_label`] and [`unit_label`] read them, the flat as [`flat_key`] does.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DoorKey {
    /// The estate.
    pub estate: String,
    /// The building.
    pub building: String,
    /// The unit.
    pub unit: String,
    /// The flat.
    pub flat: String,
}

impl DoorKey {
    /// The key of an address written as its four parts.
    pub fn new(estate: &str, building: &str, unit: &str, flat: &str) -> Self {
        DoorKey {
            estate: normalize_width(estate),
            building: building_label(building),
            unit: unit_label(unit),
            flat: flat_key(flat),
        }
    }
}

/// A flat as flats are compared: its widths normalised and its letters in capitals, so that
/// "7a" and "7A" are one door (a ledger typed in lower case added a second household beside the
/// first instead of updating it). The flat is kept as written; only the comparison folds case.
pub fn flat_key(flat: &str) -> String {
    normalize_width(flat).to_ascii_uppercase()
}

impl Address {
    /// The key two addresses of one door share ([`DoorKey`]).
    pub fn door_key(&self) -> DoorKey {
        DoorKey::new(&self.estate, &self.building, &self.unit, &self.flat)
    }

    /// The address as the roster keeps it, and so as its export reads back in: as a roster
    /// import reads it, with the estate's widths normalised and its spaces out, the building and
    /// unit as their labels ("1号楼" → "1", "3单元" → "3") and the flat without its suffix
    /// ("702室" → "702", leading zeros kept), and no invisible characters anywhere.
    pub fn as_kept(&self) -> Address {
        Address {
            estate: normalize_width(&self.estate),
            building: building_label(&self.building),
            unit: unit_label(&self.unit),
            floor: self.floor,
            flat: strip_label(&self.flat, FLAT_SUFFIXES),
        }
    }

    /// What a roster import would not read back of this address, as kept ([`Address::as_kept`]):
    /// `(field, reason)` for a building or unit that is not a label ([`is_label`]) and a flat
    /// that is not letters and digits ([`is_plain_flat`]; anything else in 房号 is read as a
    /// whole address).
    pub fn unreadable(&self) -> Vec<(&'static str, &'static str)> {
        let mut problems = Vec::new();
        if let Some(reason) = unreadable_building(&self.building) {
            problems.push(("building", reason));
        }
        if !self.unit.is_empty() && !is_label(&self.unit) {
            problems
                .push(("unit", "is not a unit number: write it like 3, without - or 号楼/栋/单元/室 inside"));
        }
        if !is_plain_flat(&self.flat) {
            problems.push(("flat", "is not a flat number: write letters and digits only, like 702 or 7A; the building and unit go in their own fields"));
        }
        problems
    }
}

/// A building's label as it is kept and compared, however a ledger spells it: "1号楼", "1#楼",
/// "1#", "１栋", "01", "一号楼" and "1\u{200b}" are all "1", "十二号楼" is "12"
/// ([`canonical_number`]); a name ("A座" → "A") stays a name, its letters in capitals: "b座",
/// "B座" and "Ｂ座" are all "B" (a ledger typed in lower case added a second household beside
/// the one at "B座" instead of updating it).
pub fn building_label(text: &str) -> String {
    canonical_number(strip_label(text, BUILDING_SUFFIXES)).to_ascii_uppercase()
}

/// A unit's label as it is kept and compared: "3单元", "03", "三单元" and "3" are "3"; its
/// letters in capitals, as a building's ("a单元" is "A").
pub fn unit_label(text: &str) -> String {
    canonical_number(strip_label(text, UNIT_SUFFIXES)).to_ascii_uppercase()
}

/// A building or unit number written in digits without its leading zeros ("01" → "1", "00" →
/// "0"), and one written in Chinese numerals from 一 to 九十九 in digits ("十二" → "12"); any
/// other label as it is. Not for flats: 房号 "0101" and "101" may be two doors.
pub fn canonical_number(label: String) -> String {
    if !label.is_empty() && label.bytes().all(|b| b.is_ascii_digit()) {
        let trimmed = label.trim_start_matches('0');
        return if trimmed.is_empty() { "0".to_owned() } else { trimmed.to_owned() };
    }
    match chinese_number(&label) {
        Some(n) => n.to_string(),
        None => label,
    }
}

/// 一 … 九十九 as a number.
fn chinese_number(text: &str) -> Option<u32> {
    let digit = |c: char| "一二三四五六七八九".chars().position(|d| d == c).map(|at| at as u32 + 1);
    let chars: Vec<char> = text.chars().collect();
    match chars.as_slice() {
        ['十'] => Some(10),
        [d] => digit(*d),
        ['十', d] => Some(10 + digit(*d)?),
        [tens, '十'] => Some(digit(*tens)? * 10),
        [tens, '十', d] => Some(digit(*tens)? * 10 + digit(*d)?),
        _ => None,
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

/// Characters that show as nothing and that Excel, WPS and chat apps leave in pasted text:
/// zero-width space, non-joiner and joiner (U+200B–U+200D), word joiner (U+2060), a byte-order
/// mark inside the text (U+FEFF) and the soft hyphen (U+00AD). In an address they would make
/// `1\u{200b}号楼` a building beside 1号楼 that nobody can tell apart, so addresses drop them.
pub fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}')
}

/// Full-width digits, letters and dashes to ASCII; spaces and invisible characters
/// ([`is_invisible`]) removed.
pub fn normalize_width(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace() && !is_invisible(*c))
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            // Every dash a keyboard or a spreadsheet writes reads as the hyphen it stands for.
            '—' | '–' | '‐' | '\u{2011}' | '\u{2012}' | '\u{2212}' | '\u{FE58}' | '\u{FE63}' => '-',
            _ => c,
        })
        .collect()
}

/// Why a roster import would not read `label` back as a building's, if it would not.
pub fn unreadable_building(label: &str) -> Option<&'static str> {
    (!label.is_empty() && !is_label(label)).then_some(
        "is not a building number or name: write it like 17 or A, without - or 号楼/栋/单元/室 inside",
    )
}

/// A building or unit label: a number or a short name, but not a whole address.
pub fn is_label(label: &str) -> bool {
    // As the import reads it: a full-width or typographic dash is a hyphen there.
    let label = normalize_width(label);
    !label.contains('-') && !["号楼", "栋", "单元", "室"].iter().any(|s| label.contains(s))
}

/// A flat label a roster import reads as a flat: ASCII letters and digits ("702", "7A"); other
/// text in 房号 is read as a whole address ("17-3-702").
pub fn is_plain_flat(label: &str) -> bool {
    !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric())
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

/// Building label suffixes, longest first ("1#楼" and "1#" are ledgers' 1号楼).
pub const BUILDING_SUFFIXES: &[&str] = &["号楼", "#楼", "栋", "幢", "座", "楼", "号", "#"];
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
                building: canonical_number((*b).to_owned()),
                unit: Some(canonical_number((*u).to_owned())),
                flat: strip_label(f, FLAT_SUFFIXES),
            }),
            [b, f] if ok(b) && ok(f) => Ok(AddressQuery {
                estate: non_empty(estate),
                building: canonical_number((*b).to_owned()),
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
    Ok(AddressQuery {
        estate: non_empty(estate),
        building: canonical_number(building.to_owned()),
        unit: unit.map(canonical_number),
        flat,
    })
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

    /// A unit written with a full-width, typographic or minus-sign dash is a unit the import
    /// reads as an address, as one written with a hyphen is.
    #[test]
    fn every_dash_is_a_hyphen_to_a_label() {
        for dash in ['-', '－', '–', '—', '‐', '\u{2011}', '\u{2012}', '\u{2212}', '\u{FE58}', '\u{FE63}']
        {
            assert!(!is_label(&format!("3{dash}1")), "{dash:?}");
        }
        assert!(is_label("3") && is_label("A"));
        check("17\u{2212}3\u{2212}702", Some(("", "17", Some("3"), "702")));
    }

    /// A zero-width space pasted into 楼号 made building "1\u{200b}" beside building "1".
    #[test]
    fn invisible_characters_are_no_part_of_an_address() {
        check("1\u{200b}号楼1单元\u{feff}10\u{ad}1", Some(("", "1", Some("1"), "101")));
        check("香樟苑\u{2060}1-1-101", Some(("香樟苑", "1", Some("1"), "101")));
        assert_eq!(building_label("1\u{200b}号楼"), "1");
        assert_eq!(unit_label("1单元\u{200d}"), "1");
        let a = Address {
            estate: "香樟苑\u{200b}".into(),
            building: "1\u{200c}".into(),
            unit: "1".into(),
            floor: 1,
            flat: "101".into(),
        };
        let b = Address { estate: "香樟苑".into(), building: "1".into(), ..a.clone() };
        assert_eq!(a.door_key(), b.door_key());
        assert_eq!(a.as_kept(), b);
    }

    /// "1#楼", "1#", "1栋", "01" and "一号楼" in one ledger and "1号楼" in another doubled the
    /// roster; they are one building 1. A flat keeps its zeros: "0101" and "101" may be two.
    #[test]
    fn a_building_or_unit_is_one_number_however_it_is_spelled() {
        for spelled in ["1", "1号楼", "1#楼", "1#", "１＃", "1栋", "01", "001号楼", "一号楼", "一"]
        {
            assert_eq!(building_label(spelled), "1", "{spelled:?}");
        }
        for (spelled, label) in [
            ("十二号楼", "12"),
            ("十", "10"),
            ("二十", "20"),
            ("九十九栋", "99"),
            ("0", "0"),
            ("A座", "A"),
            ("a座", "A"),
            ("Ｂ座", "B"),
            ("b", "B"),
        ] {
            assert_eq!(building_label(spelled), label, "{spelled:?}");
        }
        assert_eq!(building_label("一百号楼"), "一百", "past 九十九 it stays as written");
        for spelled in ["3", "3单元", "03", "三单元", "三"] {
            assert_eq!(unit_label(spelled), "3", "{spelled:?}");
        }
        check("1#楼3单元702", Some(("", "1", Some("3"), "702")));
        check("01-03-0702", Some(("", "1", Some("3"), "0702")));
        check("01号楼702", Some(("", "1", None, "702")));
        let key = |b: &str, u: &str, f: &str| DoorKey::new("", b, u, f);
        assert_eq!(key("1#楼", "一单元", "101"), key("1", "1", "101"));
        assert_ne!(key("1", "1", "0101"), key("1", "1", "101"));
        assert_eq!(key("b座", "a单元", "101"), key("B", "A", "101"));
    }

    #[test]
    fn floors_follow_flat_numbers() {
        assert_eq!(floor_of_flat("702"), Some(7));
        assert_eq!(floor_of_flat("1102"), Some(11));
        assert_eq!(floor_of_flat("02"), None);
        assert_eq!(floor_of_flat("A1"), None);
    }
}
