//! Schema checks the typed readers do not make. The readers in [`document`](crate::document) are
//! lenient on purpose, so that a phone keeps working with a document an old or modified app
//! wrote: they skip unknown keys, read a missing text as empty and skip unreadable need tags,
//! attempts and task links. The relay is where such values are stopped before they spread, so
//! for every entity a batch touched it also checks that there are no unknown fields, that text
//! fields are Automerge text, that collections hold only well-formed entries, and that texts and
//! counts stay within [`limits`](crate::limits).

use std::str::FromStr;

use automerge::{Automerge, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value};

use super::violation::Problem;
use crate::document::read;
use crate::limits;

/// The fields one kind of entity (or document root) may hold.
#[derive(Debug)]
pub(super) struct Spec {
    /// What to call it in a reason ("household").
    pub noun: &'static str,
    /// Every field it may hold.
    pub known: &'static [&'static str],
    /// String fields of at most [`limits::SHORT_TEXT`] characters.
    pub short: &'static [&'static str],
    /// String fields of at most [`limits::LONG_TEXT`] characters.
    pub long: &'static [&'static str],
    /// Automerge text fields of at most [`limits::LONG_TEXT`] characters.
    pub text: &'static [&'static str],
    /// Count fields of at most [`limits::PEOPLE`].
    pub counts: &'static [&'static str],
}

/// The header fields every document root holds.
pub(super) const HEADER_FIELDS: &[&str] = &["schema", "id", "kind", "compound"];

pub(super) const BUILDING: Spec = Spec {
    noun: "building",
    known: &["estate", "label", "lift"],
    short: &["estate", "label"],
    long: &[],
    text: &[],
    counts: &[],
};

pub(super) const HOUSEHOLD: Spec = Spec {
    noun: "household",
    known: &[
        "building",
        "unit",
        "floor",
        "flat",
        "head",
        "phone",
        "people",
        "aged_60_plus",
        "children_under_6",
        "needs",
        "status",
        "lift",
        "notes",
    ],
    short: &["unit", "flat", "head", "phone"],
    long: &[],
    text: &["notes"],
    counts: &["people", "aged_60_plus", "children_under_6"],
};

pub(super) const TASK: Spec = Spec {
    noun: "task",
    known: &["household", "kind", "items", "priority", "assignee", "request", "cancelled", "attempts"],
    short: &["items"],
    long: &[],
    text: &[],
    counts: &[],
};

pub(super) const CANCELLATION: Spec = Spec {
    noun: "cancellation",
    known: &["by", "at", "reason"],
    short: &[],
    long: &["reason"],
    text: &[],
    counts: &[],
};

pub(super) const ATTEMPT: Spec = Spec {
    noun: "attempt",
    known: &["by", "at", "outcome", "note"],
    short: &[],
    long: &["note"],
    text: &[],
    counts: &[],
};

pub(super) const REQUEST: Spec = Spec {
    noun: "request",
    known: &["household", "channel", "category", "text", "urgency", "status", "tasks", "by", "at"],
    short: &[],
    long: &[],
    text: &["text"],
    counts: &[],
};

pub(super) const CARE_ENTRY: Spec = Spec {
    noun: "care entry",
    known: &[
        "household",
        "person_name",
        "condition",
        "schedule",
        "medicines",
        "insurance_card_held_by",
        "notes",
    ],
    short: &["person_name"],
    long: &["schedule", "medicines"],
    text: &["notes"],
    counts: &[],
};

/// Where an entity stands in one version of the document.
#[derive(Debug, Clone)]
pub(super) enum Slot {
    /// No such key.
    Absent,
    /// The key holds something other than a map.
    NotMap,
    /// The entity's map.
    Map(ObjId),
}

impl Slot {
    pub(super) fn is_present(&self) -> bool {
        !matches!(self, Slot::Absent)
    }
}

/// The entity `key` of the root map `collection` in `doc`.
pub(super) fn slot(doc: &Automerge, collection: &str, key: &str) -> Slot {
    let Some(map) = read::object(doc, &ROOT, collection, ObjType::Map) else {
        return Slot::Absent;
    };
    match doc.get(&map, key) {
        Ok(Some((Value::Object(ObjType::Map), obj))) => Slot::Map(obj),
        Ok(Some(_)) => Slot::NotMap,
        Ok(None) | Err(_) => Slot::Absent,
    }
}

/// The entity's map in the document after the batch, or a schema problem if the key holds
/// something else. `None` if the entity is absent.
pub(super) fn map_after(slot: &Slot, label: &str) -> Result<Option<ObjId>, Problem> {
    match slot {
        Slot::Absent => Ok(None),
        Slot::NotMap => Err(Problem::schema(format!("{label} is not a map"))),
        Slot::Map(obj) => Ok(Some(obj.clone())),
    }
}

/// Parses an entity key as its ID type.
pub(super) fn parse_key<T: FromStr>(key: &str, noun: &str) -> Result<T, Problem>
where
    T::Err: std::fmt::Display,
{
    key.parse().map_err(|e: T::Err| Problem::schema(format!("{noun} key {key:?}: {e}")))
}

/// Checks the fields of `obj` against `spec`; `label` names the entity in reasons.
pub(super) fn check_fields(doc: &Automerge, obj: &ObjId, spec: &Spec, label: &str) -> Result<(), Problem> {
    for key in doc.keys(obj) {
        if !spec.known.contains(&key.as_str()) {
            return Err(Problem::schema(format!("{label}: field {key:?} is not part of a {}", spec.noun)));
        }
    }
    for field in spec.short {
        check_string_length(doc, obj, field, limits::SHORT_TEXT, label)?;
    }
    for field in spec.long {
        check_string_length(doc, obj, field, limits::LONG_TEXT, label)?;
    }
    for field in spec.text {
        match doc.get(obj, *field) {
            Ok(None) => {}
            Ok(Some((Value::Object(ObjType::Text), text))) => {
                let len = doc.text(&text).map(|t| t.chars().count()).unwrap_or(0);
                check_length(len, field, limits::LONG_TEXT, label)?;
            }
            Ok(Some(_)) | Err(_) => {
                return Err(Problem::schema(format!("{label}: field {field:?} is not an Automerge text")));
            }
        }
    }
    for field in spec.counts {
        if let Ok(n) = read::count(doc, obj, field)
            && n > limits::PEOPLE
        {
            return Err(Problem::too_large(format!(
                "{label}: field {field:?} is {n}; at most {} is allowed",
                limits::PEOPLE
            )));
        }
    }
    Ok(())
}

fn check_string_length(
    doc: &Automerge,
    obj: &ObjId,
    field: &str,
    max: usize,
    label: &str,
) -> Result<(), Problem> {
    if let Some(ScalarValue::Str(s)) = read::scalar(doc, obj, field) {
        check_length(s.chars().count(), field, max, label)?;
    }
    Ok(())
}

fn check_length(len: usize, field: &str, max: usize, label: &str) -> Result<(), Problem> {
    if len > max {
        return Err(Problem::too_large(format!(
            "{label}: field {field:?} is {len} characters; at most {max} are allowed"
        )));
    }
    Ok(())
}

/// Checks that every entry of the map at `obj.field` has a key that parses as `K` and a value
/// that `value` accepts; the readers skip bad entries, the relay refuses them.
pub(super) fn check_map_entries<K: FromStr>(
    doc: &Automerge,
    obj: &ObjId,
    field: &str,
    label: &str,
    value: impl Fn(&Automerge, &ObjId, &str) -> Result<(), String>,
) -> Result<(), Problem>
where
    K::Err: std::fmt::Display,
{
    let map = match doc.get(obj, field) {
        Ok(None) => return Ok(()),
        Ok(Some((Value::Object(ObjType::Map), map))) => map,
        Ok(Some(_)) | Err(_) => {
            return Err(Problem::schema(format!("{label}: field {field:?} is not a map")));
        }
    };
    for key in doc.keys(&map) {
        if let Err(e) = key.parse::<K>() {
            return Err(Problem::schema(format!("{label}: field {field:?} has key {key:?}: {e}")));
        }
        value(doc, &map, &key)
            .map_err(|e| Problem::schema(format!("{label}: field {field:?}.{key}: {e}")))?;
    }
    Ok(())
}

/// Checks root fields a batch touched that no document of this kind has.
pub(super) fn check_root_keys<'a>(
    touched: impl Iterator<Item = &'a String>,
    known: &[&str],
    kind: &str,
) -> Result<(), Problem> {
    for key in touched {
        if !HEADER_FIELDS.contains(&key.as_str()) && !known.contains(&key.as_str()) {
            return Err(Problem::schema(format!("field {key:?} is not part of a {kind} document")));
        }
    }
    Ok(())
}

/// Checks that the root collection `key`, if present, is a map.
pub(super) fn check_collection(doc: &Automerge, key: &str) -> Result<(), Problem> {
    match doc.get(ROOT, key) {
        Ok(None) | Ok(Some((Value::Object(ObjType::Map), _))) => Ok(()),
        Ok(Some(_)) | Err(_) => Err(Problem::schema(format!("field {key:?} is not a map"))),
    }
}
