//! The roster document: buildings and households.

use std::collections::{BTreeMap, BTreeSet};

use automerge::transaction::Transactable;
use automerge::{Automerge, AutomergeError, ChangeHash, ObjId, ObjType, ROOT, ReadDoc};

use super::read::{self, SchemaError};
use crate::id::{BuildingId, HouseholdId};
use crate::schema::address::Address;
use crate::schema::household::{Building, Household, HouseholdDraft, HouseholdEdit};
use crate::schema::need_tag::NeedTag;

/// Key of the buildings map.
pub const BUILDINGS: &str = "buildings";
/// Key of the households map.
pub const HOUSEHOLDS: &str = "households";
/// The roster root's key for the compound's time zone, minutes east of UTC (absent: UTC+8).
pub const UTC_OFFSET: &str = "utc_offset_minutes";

/// The object of the entity `id` in the map `collection` at the root.
pub(crate) fn entity(doc: &impl ReadDoc, collection: &str, id: &str) -> Option<ObjId> {
    let map = read::object(doc, &ROOT, collection, ObjType::Map)?;
    read::object(doc, &map, id, ObjType::Map)
}

/// The map `collection` at the root, created if missing.
pub(crate) fn collection(tx: &mut impl Transactable, key: &str) -> Result<ObjId, AutomergeError> {
    match tx.get(ROOT, key)? {
        Some((automerge::Value::Object(ObjType::Map), id)) => Ok(id),
        _ => tx.put_object(ROOT, key, ObjType::Map),
    }
}

/// Every building, keyed by ID.
pub fn buildings(doc: &Automerge) -> BTreeMap<BuildingId, Building> {
    read::entries(doc, &ROOT, BUILDINGS, |id, obj| read_building(doc, id, obj))
        .into_iter()
        .map(|b| (b.id, b))
        .collect()
}

pub(crate) fn read_building(doc: &Automerge, id: BuildingId, obj: &ObjId) -> Result<Building, SchemaError> {
    building_of(&read::Fields::of(doc, obj), id)
}

fn building_of(f: &read::Fields, id: BuildingId) -> Result<Building, SchemaError> {
    Ok(Building { id, estate: f.string("estate")?, label: f.string("label")?, lift: f.boolean("lift")? })
}

/// Every household whose building is known.
pub fn households(doc: &Automerge) -> Vec<Household> {
    let buildings = buildings(doc);
    read::entries(doc, &ROOT, HOUSEHOLDS, |id, obj| read_household(doc, &buildings, id, obj))
}

/// One household.
pub fn household(doc: &Automerge, id: HouseholdId) -> Option<Household> {
    let obj = entity(doc, HOUSEHOLDS, &id.to_string())?;
    read_household(doc, &buildings(doc), id, &obj).ok()
}

/// The IDs of every household, cheaply (no field reads).
pub fn household_ids(doc: &Automerge) -> BTreeSet<HouseholdId> {
    let Some(map) = read::object(doc, &ROOT, HOUSEHOLDS, ObjType::Map) else {
        return BTreeSet::new();
    };
    doc.keys(&map).filter_map(|k| k.parse().ok()).collect()
}

pub(crate) fn read_household(
    doc: &Automerge,
    buildings: &BTreeMap<BuildingId, Building>,
    id: HouseholdId,
    obj: &ObjId,
) -> Result<Household, SchemaError> {
    household_of(doc, &read::Fields::of(doc, obj), buildings, id)
}

/// The household at `obj` as it was at `heads`, in its building as it was then: what the author
/// of a change whose dependencies are `heads` saw. `None` if it did not exist yet, or could not
/// be read then. Its notes are read as they are now.
pub(crate) fn household_at(
    doc: &Automerge,
    id: HouseholdId,
    obj: &ObjId,
    heads: &[ChangeHash],
) -> Option<Household> {
    let f = read::Fields::at(doc, obj, heads);
    let building_id: BuildingId = f.parsed("building").ok()?;
    let building_obj = entity(doc, BUILDINGS, &building_id.to_string())?;
    let building = building_of(&read::Fields::at(doc, &building_obj, heads), building_id).ok()?;
    household_of(doc, &f, &BTreeMap::from([(building_id, building)]), id).ok()
}

fn household_of(
    doc: &Automerge,
    f: &read::Fields,
    buildings: &BTreeMap<BuildingId, Building>,
    id: HouseholdId,
) -> Result<Household, SchemaError> {
    let building_id: BuildingId = f.parsed("building")?;
    let building = buildings
        .get(&building_id)
        .ok_or_else(|| SchemaError::new("building", format!("names unknown building {building_id}")))?;
    let floor = i32::try_from(f.int("floor")?).map_err(|_| SchemaError::new("floor", "is out of range"))?;
    Ok(Household {
        id,
        building: building_id,
        address: Address {
            estate: building.estate.clone(),
            building: building.label.clone(),
            unit: f.string("unit")?,
            floor,
            flat: f.string("flat")?,
        },
        head: f.string("head")?,
        phone: f.string("phone")?,
        people: f.opt_count("people")?,
        aged_60_plus: f.count("aged_60_plus")?,
        children_under_6: f.count("children_under_6")?,
        needs: f.object("needs", ObjType::Map).map(|m| needs(doc, &m)).unwrap_or_default(),
        status: f.parsed("status")?,
        lift: f.boolean("lift")?,
        notes: f.text(doc, "notes"),
    })
}

fn needs(doc: &Automerge, map: &ObjId) -> BTreeSet<NeedTag> {
    doc.keys(map).filter_map(|k| k.parse().ok()).collect()
}

/// Writes a new building.
pub(crate) fn put_building(tx: &mut impl Transactable, building: &Building) -> Result<(), AutomergeError> {
    let map = collection(tx, BUILDINGS)?;
    let obj = tx.put_object(&map, building.id.to_string(), ObjType::Map)?;
    tx.put(&obj, "estate", building.estate.as_str())?;
    tx.put(&obj, "label", building.label.as_str())?;
    tx.put(&obj, "lift", building.lift)?;
    Ok(())
}

/// Writes a new household in `building`.
pub(crate) fn put_household(
    tx: &mut impl Transactable,
    id: HouseholdId,
    building: BuildingId,
    draft: &HouseholdDraft,
) -> Result<(), AutomergeError> {
    let map = collection(tx, HOUSEHOLDS)?;
    let obj = tx.put_object(&map, id.to_string(), ObjType::Map)?;
    tx.put(&obj, "building", building.to_string())?;
    tx.put(&obj, "unit", draft.address.unit.as_str())?;
    tx.put(&obj, "floor", i64::from(draft.address.floor))?;
    tx.put(&obj, "flat", draft.address.flat.as_str())?;
    tx.put(&obj, "head", draft.head.as_str())?;
    tx.put(&obj, "phone", draft.phone.as_str())?;
    // An unknown count is left out: documents written before the count could be unknown
    // always hold it, and readers take a missing (or null) count as unknown.
    if let Some(people) = draft.people {
        tx.put(&obj, "people", i64::from(people))?;
    }
    tx.put(&obj, "aged_60_plus", i64::from(draft.aged_60_plus))?;
    tx.put(&obj, "children_under_6", i64::from(draft.children_under_6))?;
    let needs = tx.put_object(&obj, "needs", ObjType::Map)?;
    for tag in &draft.needs {
        tx.put(&needs, tag.as_str(), true)?;
    }
    tx.put(&obj, "status", draft.status.as_str())?;
    tx.put(&obj, "lift", draft.lift)?;
    let notes = tx.put_object(&obj, "notes", ObjType::Text)?;
    tx.splice_text(&notes, 0, 0, &draft.notes)?;
    Ok(())
}

/// Applies the fields of `edit` that are set.
pub(crate) fn edit_household(
    tx: &mut impl Transactable,
    obj: &ObjId,
    edit: &HouseholdEdit,
) -> Result<(), AutomergeError> {
    if let Some(head) = &edit.head {
        tx.put(obj, "head", head.as_str())?;
    }
    if let Some(phone) = &edit.phone {
        tx.put(obj, "phone", phone.as_str())?;
    }
    for (key, value) in [
        ("people", edit.people),
        ("aged_60_plus", edit.aged_60_plus),
        ("children_under_6", edit.children_under_6),
    ] {
        if let Some(v) = value {
            tx.put(obj, key, i64::from(v))?;
        }
    }
    if let Some(lift) = edit.lift {
        tx.put(obj, "lift", lift)?;
    }
    Ok(())
}

/// Makes the household's need tags exactly `wanted`, touching only the tags that change.
pub(crate) fn set_needs(
    tx: &mut impl Transactable,
    obj: &ObjId,
    wanted: &BTreeSet<NeedTag>,
) -> Result<(), AutomergeError> {
    let map = match tx.get(obj, "needs")? {
        Some((automerge::Value::Object(ObjType::Map), id)) => id,
        _ => tx.put_object(obj, "needs", ObjType::Map)?,
    };
    let current: BTreeSet<String> = tx.keys(&map).collect();
    for key in &current {
        if !wanted.iter().any(|t| t.as_str() == key) {
            tx.delete(&map, key.as_str())?;
        }
    }
    for tag in wanted {
        if !current.contains(tag.as_str()) {
            tx.put(&map, tag.as_str(), true)?;
        }
    }
    Ok(())
}
