//! Roster rules: coordinators and admins keep the ledger; volunteers and medics may change a
//! household's notes and nothing else — not another field, not a building, not the compound's
//! name, and they may not add or remove households.

use std::collections::BTreeMap;

use automerge::{Automerge, ObjId, ObjType, ROOT, ReadDoc};

use super::Effect;
use crate::document::{read, roster};
use crate::id::{BuildingId, HouseholdId};
use crate::permission::Rule;
use crate::schema::household::{Building, Household};
use crate::validate::schema::{self, HOUSEHOLD, Slot};
use crate::validate::violation::Problem;

/// Root fields of a roster besides the header.
const ROOT_FIELDS: &[&str] = &["name", roster::BUILDINGS, roster::HOUSEHOLDS];

/// The roster's root: header, the compound's name and the collections.
const ROSTER_ROOT: schema::Spec = schema::Spec {
    noun: "roster",
    known: &["schema", "id", "kind", "compound", "name", roster::BUILDINGS, roster::HOUSEHOLDS],
    short: &["name"],
    long: &[],
    text: &[],
    counts: &[],
};

pub(super) fn check(e: &Effect<'_>) -> Result<(), Problem> {
    let forbid = |what: String| Problem::forbidden(Rule::RosterIsEditedByCoordinators, what);
    if !e.coordinating() {
        if let Some(what) = e.root_write() {
            return Err(forbid(what));
        }
        if let Some((key, _)) = e.touched.in_collection(roster::BUILDINGS).next() {
            return Err(forbid(format!("{} may not change building {key}", e.who())));
        }
    }
    schema::check_root_keys(e.touched.root.iter(), ROOT_FIELDS, "roster")?;
    if e.touched.root.contains("name") {
        read::string(e.after, &ROOT, "name")
            .map_err(|err| Problem::schema(format!("the compound's name: {err}")))?;
        schema::check_fields(e.after, &ROOT, &ROSTER_ROOT, "the roster")?;
    }
    for collection in [roster::BUILDINGS, roster::HOUSEHOLDS] {
        schema::check_collection(e.after, collection)?;
    }
    check_buildings(e)?;
    check_households(e)
}

fn check_buildings(e: &Effect<'_>) -> Result<(), Problem> {
    let mut removed = Vec::new();
    for (key, _) in e.touched.in_collection(roster::BUILDINGS) {
        let label = format!("building {key}");
        let id: BuildingId = schema::parse_key(key, "building")?;
        let after = schema::slot(e.after, roster::BUILDINGS, key);
        match schema::map_after(&after, &label)? {
            Some(obj) => {
                roster::read_building(e.after, id, &obj)
                    .map_err(|err| Problem::schema(format!("{label}: {err}")))?;
                schema::check_fields(e.after, &obj, &schema::BUILDING, &label)?;
            }
            None => removed.push(key.clone()),
        }
    }
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
    for (key, touch) in e.touched.in_collection(roster::HOUSEHOLDS) {
        let label = format!("household {key}");
        let before = schema::slot(e.before, roster::HOUSEHOLDS, key);
        let after = schema::slot(e.after, roster::HOUSEHOLDS, key);
        if !e.coordinating() {
            let verb = match (before.is_present(), after.is_present()) {
                (false, _) => Some("add"),
                (true, false) => Some("remove"),
                (true, true) if touch.whole => Some("replace"),
                (true, true) => None,
            };
            if let Some(verb) = verb {
                return Err(Problem::forbidden(
                    Rule::RosterIsEditedByCoordinators,
                    format!("{} may not {verb} {label}", e.who()),
                ));
            }
            if let Some(field) = touch.fields.iter().find(|f| f.as_str() != "notes") {
                return Err(Problem::forbidden(
                    Rule::RosterIsEditedByCoordinators,
                    format!("{} may not change {label}'s {field:?}, only its notes", e.who()),
                ));
            }
        }
        let id: HouseholdId = schema::parse_key(key, "household")?;
        let Some(obj) = schema::map_after(&after, &label)? else {
            continue;
        };
        let household = roster::read_household(e.after, &own_building(e.after, &obj), id, &obj)
            .map_err(|err| Problem::schema(format!("{label}: {err}")))?;
        schema::check_fields(e.after, &obj, &HOUSEHOLD, &label)?;
        check_needs(e.after, &obj, &label)?;
        if !e.coordinating() {
            check_only_notes_changed(e, &before, household, &label)?;
        }
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

/// The typed household after a non-coordinator's batch must equal the one before, notes aside.
fn check_only_notes_changed(
    e: &Effect<'_>,
    before: &Slot,
    mut after: Household,
    label: &str,
) -> Result<(), Problem> {
    let Slot::Map(obj) = before else {
        return Ok(());
    };
    // A household that was unreadable before and is readable now was repaired, which is a
    // coordinator's job.
    let unchanged =
        roster::read_household(e.before, &own_building(e.before, obj), after.id, obj).is_ok_and(|before| {
            after.notes.clone_from(&before.notes);
            before == after
        });
    if unchanged {
        Ok(())
    } else {
        Err(Problem::forbidden(
            Rule::RosterIsEditedByCoordinators,
            format!("{} may change only {label}'s notes", e.who()),
        ))
    }
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
