//! What no household may be ([`rulebook::household`]: a head named, no more over-60s or under-6s
//! than people, an address a roster import reads back), judged as each change's author saw the
//! household: a change is refused when the household it left breaks a rule the household it
//! found did not. Concurrent edits can merge into a household none of their authors wrote (one
//! coordinator lowers 户内人数 while another raises 60岁以上人数); that household is kept, as the
//! phones that made the edits keep it, and an edit of it stays possible. A building's label is
//! judged the same way, since every household in the building reads it as its address.

use automerge::ObjId;

use super::Effect;
use super::entities::Present;
use crate::document::{read, roster};
use crate::id::HouseholdId;
use crate::rulebook::household::{self, Together};
use crate::schema::address::unreadable_building;
use crate::schema::household::Household;
use crate::validate::violation::Problem;

/// Checks a household the batch added, or whose judged fields it wrote, now `merged`.
pub(super) fn check_household(
    e: &Effect<'_>,
    id: HouseholdId,
    present: &Present,
    merged: &Household,
) -> Result<(), Problem> {
    if !present.added && !wrote_any(e, roster::HOUSEHOLDS, &present.key, household::FIELDS) {
        return Ok(());
    }
    // Read only for a household found breaking a rule, as merged limits are.
    if household::problems(Together::from(merged)).is_empty() {
        return Ok(());
    }
    for change in e.changes {
        let Some(left) = roster::household_at(e.after, id, &present.obj, &[change.hash()]) else {
            continue;
        };
        let found = roster::household_at(e.after, id, &present.obj, change.deps())
            .map(|h| household::problems(Together::from(&h)))
            .unwrap_or_default();
        if let Some(bad) = household::added_problem(&found, household::problems(Together::from(&left))) {
            return Err(Problem::schema(format!("{}: field {:?} {}", present.label, bad.field, bad.reason)));
        }
    }
    Ok(())
}

/// Checks a building whose label the batch wrote.
pub(super) fn check_building(e: &Effect<'_>, present: &Present) -> Result<(), Problem> {
    if !present.added && !wrote_any(e, roster::BUILDINGS, &present.key, &["label"]) {
        return Ok(());
    }
    let label_at =
        |obj: &ObjId, heads: &[automerge::ChangeHash]| read::Fields::at(e.after, obj, heads).string("label");
    let merged = read::Fields::of(e.after, &present.obj).string("label").unwrap_or_default();
    if unreadable_building(&merged).is_none() {
        return Ok(());
    }
    for change in e.changes {
        let Ok(left) = label_at(&present.obj, &[change.hash()]) else { continue };
        // A building the author had not seen (or could not read) had no label to break.
        let found_unreadable =
            label_at(&present.obj, change.deps()).is_ok_and(|l| unreadable_building(&l).is_some());
        if let Some(reason) = unreadable_building(&left)
            && !found_unreadable
        {
            return Err(Problem::schema(format!("{}: field \"label\" {reason}", present.label)));
        }
    }
    Ok(())
}

/// Whether the batch wrote one of `fields` of `collection[key]`, or the entity whole.
fn wrote_any(e: &Effect<'_>, collection: &str, key: &str, fields: &[&str]) -> bool {
    e.touched.in_collection(collection).any(|(k, touch)| {
        k == key && (touch.whole || touch.fields.iter().any(|f| fields.contains(&f.as_str())))
    })
}
