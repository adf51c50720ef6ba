//! Roster rules: coordinators and admins keep the ledger; volunteers and medics may change a
//! household's notes and nothing else — not another field, not a building, not the compound's
//! name, and they may not add or remove households. Who writes what comes from the table
//! ([`HOUSEHOLD`], [`BUILDING`], [`ROSTER`]); this module adds what the table cannot say: need
//! tags are known tags set to `true`, and a building is removed only once no household is in it.

use std::collections::BTreeMap;

use automerge::{Automerge, ObjId, ObjType, ROOT, ReadDoc};

use super::{Effect, entities, household_state, reviews};
use crate::document::{read, roster};
use crate::id::{BuildingId, HouseholdId};
use crate::permission::Rule;
use crate::rulebook::table::{BUILDING, HOUSEHOLD, ROSTER};
use crate::schema::household::Building;
use crate::schema::utc_offset::UtcOffset;
use crate::validate::schema;
use crate::validate::violation::Problem;

pub(super) fn check(e: &Effect<'_>) -> Result<(), Problem> {
    if !e.coordinating()
        && let Some(what) = e.root_write()
    {
        return Err(Problem::forbidden(Rule::RosterIsEditedByCoordinators, what));
    }
    entities::check_root(e, &ROSTER, "roster")?;
    if e.touched.root.contains("name") {
        read::string(e.after, &ROOT, "name")
            .map_err(|err| Problem::schema(format!("the compound's name: {err}")))?;
    }
    if e.touched.root.contains(roster::UTC_OFFSET) {
        read::int(e.after, &ROOT, roster::UTC_OFFSET)
            .map_err(|err| err.to_string())
            .and_then(|minutes| UtcOffset::from_minutes(minutes).map_err(|err| err.to_string()))
            .map_err(|err| Problem::schema(format!("the compound's time zone: {err}")))?;
    }
    for collection in [roster::BUILDINGS, roster::HOUSEHOLDS] {
        schema::check_collection(e.after, collection)?;
    }
    check_buildings(e)?;
    check_households(e)?;
    reviews::check(e)
}

fn check_buildings(e: &Effect<'_>) -> Result<(), Problem> {
    let mut removed: Vec<String> = e
        .touched
        .in_collection(roster::BUILDINGS)
        .filter(|(key, _)| !schema::slot(e.after, roster::BUILDINGS, key).is_present())
        .map(|(key, _)| key.clone())
        .collect();
    for present in entities::check(e, roster::BUILDINGS, &BUILDING, |_| false)? {
        let id: BuildingId = schema::parse_key(&present.key, "building")?;
        roster::read_building(e.after, id, &present.obj)
            .map_err(|err| Problem::schema(format!("{}: {err}", present.label)))?;
        household_state::check_building(e, &present)?;
    }
    removed.sort();
    if removed.is_empty() {
        return Ok(());
    }
    // A household names its building; removing a building some household is in would make
    // that household unreadable, so it is refused like any other unreadable entity.
    let Some(households) = read::object(e.after, &ROOT, roster::HOUSEHOLDS, ObjType::Map) else {
        return Ok(());
    };
    for item in e.after.map_range(&households, ..) {
        if let Ok(building) = read::string(e.after, &item.id(), "building")
            && removed.contains(&building)
        {
            return Err(Problem::schema(format!(
                "building {building} is removed but household {} is still in it",
                item.key
            )));
        }
    }
    Ok(())
}

fn check_households(e: &Effect<'_>) -> Result<(), Problem> {
    for present in entities::check(e, roster::HOUSEHOLDS, &HOUSEHOLD, |_| false)? {
        let id: HouseholdId = schema::parse_key(&present.key, "household")?;
        let household =
            roster::read_household(e.after, &own_building(e.after, &present.obj), id, &present.obj)
                .map_err(|err| Problem::schema(format!("{}: {err}", present.label)))?;
        household_state::check_household(e, id, &present, &household)?;
        check_needs(e.after, &present.obj, &present.label)?;
    }
    Ok(())
}

/// Every need tag must be a known tag set to `true`; the reader skips anything else.
fn check_needs(doc: &Automerge, obj: &ObjId, label: &str) -> Result<(), Problem> {
    schema::check_map_entries::<crate::schema::need_tag::NeedTag>(
        doc,
        obj,
        "needs",
        label,
        |doc, map, key| match read::boolean(doc, map, key) {
            Ok(true) => Ok(()),
            Ok(false) => Err("is false; a tag the household lacks is removed, not set to false".into()),
            Err(err) => Err(err.problem),
        },
    )
}

/// The building the household at `obj` names, as the one-entry map the household reader takes:
/// reading every building costs far more on a large roster than the two lookups this needs.
fn own_building(doc: &Automerge, obj: &ObjId) -> BTreeMap<BuildingId, Building> {
    let Ok(id) = read::parsed::<BuildingId>(doc, obj, "building") else {
        return BTreeMap::new();
    };
    roster::entity(doc, roster::BUILDINGS, &id.to_string())
        .and_then(|b| roster::read_building(doc, id, &b).ok())
        .map(|b| BTreeMap::from([(id, b)]))
        .unwrap_or_default()
}
