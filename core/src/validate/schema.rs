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
use crate::rulebook::{Entity, Kind, state, table};
use crate::time::Timestamp;

/// The header fields every document root holds.
pub(super) const HEADER_FIELDS: &[&str] = table::HEADER;

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

/// Checks the fields of `obj` against the table's `entity`: no unknown field (a document root
/// may also hold the header fields), strings and texts within their kind's limit, counts within
/// [`limits::PEOPLE`]. `label` names the entity in reasons.
pub(super) fn check_fields(
    doc: &Automerge,
    obj: &ObjId,
    entity: &Entity,
    label: &str,
) -> Result<(), Problem> {
    let root = *obj == ROOT;
    for key in doc.keys(obj) {
        let header = root && HEADER_FIELDS.contains(&key.as_str());
        if !(entity.knows(&key) || header) {
            return Err(Problem::schema(format!("{label}: field {key:?} is not part of a {}", entity.noun)));
        }
    }
    for field in entity.fields {
        match field.kind {
            Kind::Short | Kind::Long => {
                let max = field.max_chars().unwrap_or(limits::LONG_TEXT);
                check_string_length(doc, obj, field.name, max, label)?;
            }
            Kind::Text => match doc.get(obj, field.name) {
                Ok(None) => {}
                Ok(Some((Value::Object(ObjType::Text), text))) => {
                    let len = doc.text(&text).map(|t| t.chars().count()).unwrap_or(0);
                    check_length(len, field.name, limits::LONG_TEXT, label)?;
                }
                Ok(Some(_)) | Err(_) => {
                    return Err(Problem::schema(format!(
                        "{label}: field {:?} is not an Automerge text",
                        field.name
                    )));
                }
            },
            Kind::Count => {
                if let Ok(n) = read::count(doc, obj, field.name)
                    && n > limits::PEOPLE
                {
                    return Err(Problem::too_large(format!(
                        "{label}: field {:?} is {n}; at most {} is allowed",
                        field.name,
                        limits::PEOPLE
                    )));
                }
            }
            Kind::Time | Kind::Scalar | Kind::Map | Kind::List | Kind::Record => {}
        }
    }
    Ok(())
}

/// Checks every time field of `entity` that `obj` holds against the window of the relay's
/// clock; called for what a batch wrote (a new entity, a cancellation, a round's close).
pub(super) fn check_times(
    doc: &Automerge,
    obj: &ObjId,
    entity: &Entity,
    label: &str,
    now: Timestamp,
    who: &str,
) -> Result<(), Problem> {
    for field in entity.fields.iter().filter(|f| f.kind == Kind::Time) {
        if let Ok(at) = read::int(doc, obj, field.name) {
            state::require_time_near(Timestamp::from_millis(at), now).map_err(|rule| {
                Problem::forbidden(
                    rule,
                    format!(
                        "{who} may not write {label}'s {:?} as {at} (Unix ms), which is not near the relay's clock ({})",
                        field.name,
                        now.as_millis()
                    ),
                )
            })?;
        }
    }
    Ok(())
}

/// Whether `parent.key` still holds exactly the object `before` held there: one value, the
/// same object. A created object is edited in place, never replaced (even by a concurrent
/// write that loses) or deleted.
pub(super) fn kept(after: &Automerge, parent: &ObjId, key: &str, before: &ObjId) -> bool {
    let values = after.get_all(parent, key).unwrap_or_default();
    matches!(values.as_slice(), [(Value::Object(_), id)] if id == before)
}

/// The object at `parent.key` in `doc`, if it holds one.
pub(super) fn object_at(doc: &Automerge, parent: &ObjId, key: &str) -> Option<ObjId> {
    match doc.get(parent, key) {
        Ok(Some((Value::Object(_), id))) => Some(id),
        _ => None,
    }
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
