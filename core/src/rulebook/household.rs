//! What no household may be, whoever writes it: every household has a head, no more people over
//! 60 or under 6 than live in it (when how many do is known), and an address a roster import
//! reads back. Written once: the phone asks it before adding or editing a household, a roster
//! import of every row, and the relay of every change that writes one of these fields, as that
//! change's author saw the household (`validate::rules::household_fields`), so concurrent edits
//! that merge into a household none of their authors wrote are kept, not refused.

use crate::rulebook::BadValue;
use crate::schema::address::Address;
use crate::schema::household::{Household, HouseholdDraft};

/// The household's fields these rules read; "building" stands for its building's label.
pub const FIELDS: &[&str] =
    &["head", "unit", "flat", "people", "aged_60_plus", "children_under_6", "building"];

/// The fields of a household the rules judge together.
#[derive(Debug, Clone, Copy)]
pub struct Together<'a> {
    /// Where it is.
    pub address: &'a Address,
    /// 户主.
    pub head: &'a str,
    /// 户内人数, `None` when unknown.
    pub people: Option<u32>,
    /// 60岁以上人数.
    pub aged_60_plus: u32,
    /// 6岁以下儿童.
    pub children_under_6: u32,
}

impl<'a> From<&'a Household> for Together<'a> {
    fn from(h: &'a Household) -> Self {
        Together {
            address: &h.address,
            head: &h.head,
            people: h.people,
            aged_60_plus: h.aged_60_plus,
            children_under_6: h.children_under_6,
        }
    }
}

impl<'a> From<&'a HouseholdDraft> for Together<'a> {
    fn from(h: &'a HouseholdDraft) -> Self {
        Together {
            address: &h.address,
            head: &h.head,
            people: h.people,
            aged_60_plus: h.aged_60_plus,
            children_under_6: h.children_under_6,
        }
    }
}

/// Every rule the household breaks, in the order of its fields.
pub fn problems(household: Together<'_>) -> Vec<BadValue> {
    let mut problems: Vec<BadValue> = household
        .address
        .unreadable()
        .into_iter()
        .map(|(field, reason)| BadValue { field, reason: reason.into() })
        .collect();
    problems.extend(head_problem(household.head));
    problems.extend(counts_problems(household.people, household.aged_60_plus, household.children_under_6));
    problems
}

/// A head of household that is blank: every household has one (an import's row must name it).
pub fn head_problem(head: &str) -> Option<BadValue> {
    head.trim().is_empty().then(|| BadValue { field: "head", reason: "must not be empty".into() })
}

/// More people over 60 or under 6 than live in the household, when how many do is known: one
/// problem for each of the two counts past 户内人数.
pub fn counts_problems(people: Option<u32>, aged_60_plus: u32, children_under_6: u32) -> Vec<BadValue> {
    let Some(people) = people else { return Vec::new() };
    [("aged_60_plus", aged_60_plus), ("children_under_6", children_under_6)]
        .into_iter()
        .filter(|&(_, n)| n > people)
        .map(|(field, n)| BadValue {
            field,
            reason: format!("is {n}, more than the {people} people of the household"),
        })
        .collect()
}

/// The first of `after`'s problems that `before` did not have (by field): what a change added,
/// as its author saw the household before (`before`) and after it (`after`). A problem the
/// household already had (written before the rule, or merged from concurrent edits) is not one
/// an edit adds, so editing such a household stays possible.
pub fn added_problem(before: &[BadValue], after: Vec<BadValue>) -> Option<BadValue> {
    after.into_iter().find(|bad| !before.iter().any(|had| had.field == bad.field))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(building: &str, unit: &str, flat: &str) -> Address {
        Address {
            estate: "香樟苑".into(),
            building: building.into(),
            unit: unit.into(),
            floor: 7,
            flat: flat.into(),
        }
    }

    fn fields(problems: &[BadValue]) -> Vec<&'static str> {
        problems.iter().map(|p| p.field).collect()
    }

    #[test]
    fn a_household_breaks_each_rule_by_its_field() {
        let fine = address("17", "3", "702");
        let ok =
            Together {
                address: &fine, head: "张伟", people: Some(3), aged_60_plus: 3, children_under_6: 0
            };
        assert!(problems(ok).is_empty());
        assert!(problems(Together { people: None, aged_60_plus: 9, ..ok }).is_empty(), "unknown people");
        let bad = address("A-1", "3-1", "17-3-702");
        let all =
            Together { address: &bad, head: " ", people: Some(1), aged_60_plus: 2, children_under_6: 0 };
        assert_eq!(fields(&problems(all)), ["building", "unit", "flat", "head", "aged_60_plus"]);
    }

    #[test]
    fn only_a_problem_the_household_did_not_have_is_added() {
        let fine = address("17", "3", "702");
        let before = problems(Together {
            address: &fine,
            head: "",
            people: Some(2),
            aged_60_plus: 0,
            children_under_6: 0,
        });
        let head_still_blank = problems(Together {
            address: &fine,
            head: "",
            people: Some(2),
            aged_60_plus: 1,
            children_under_6: 0,
        });
        assert!(added_problem(&before, head_still_blank).is_none());
        let more_aged = problems(Together {
            address: &fine,
            head: "",
            people: Some(2),
            aged_60_plus: 3,
            children_under_6: 0,
        });
        assert_eq!(added_problem(&before, more_aged).map(|p| p.field), Some("aged_60_plus"));
    }
}
