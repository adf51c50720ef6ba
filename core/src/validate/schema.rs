//! Schema checks the typed readers do not make. The readers in [`document`](crate::document) are
//! lenient on purpose, so that a phone keeps working with a document an old or modified app
//! wrote: they skip unknown keys, read a missing text as empty and skip unreadable need tags,
//! attempts and task links. The relay is where such values are stopped before they spread, so
//! for every entity a batch touched it also checks that there are no unknown fields, that text
//! fields are Automerge text, that collections hold only well-formed entries, and that texts and
//! counts stay within [`limits`](crate::limits).

use std::str::FromStr;

use automerge::{Automerge, Change, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value};

use super::batch_ops::BatchOps;
use super::violation::Problem;
use crate::document::read;
use crate::limits;
use crate::rulebook::{Entity, Field, Kind, characters, day, state, table};
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
/// may also hold the header fields), every value the batch's `changes` wrote of the shape its
/// field's kind has (see [`check_shape`]), strings and texts within their kind's limit, counts
/// within [`limits::PEOPLE`]. `label` names the entity in reasons.
///
/// One walk over the object's keys (`map_range`): a lookup per field of the table instead was a
/// tenth of the relay's time in a team's return (BENCHMARKS.md §4). The values that lost a
/// conflict are read only for a key that has one.
pub(super) fn check_fields(
    doc: &Automerge,
    obj: &ObjId,
    entity: &Entity,
    label: &str,
    changes: &[Change],
    ops: &BatchOps,
) -> Result<(), Problem> {
    let root = *obj == ROOT;
    for item in doc.map_range(obj, ..) {
        let key = item.key.as_ref();
        let Some(field) = entity.field(key) else {
            if root && HEADER_FIELDS.contains(&key) {
                continue;
            }
            return Err(Problem::schema(format!("{label}: field {key:?} is not part of a {}", entity.noun)));
        };
        let id = item.id();
        let winner = Value::from(item.value);
        if item.conflict {
            for (value, id) in doc.get_all(obj, key).unwrap_or_default() {
                check_written(field, &value, &id, label, ops)?;
            }
        } else {
            check_written(field, &winner, &id, label, ops)?;
        }
        check_size(doc, field, &winner, &id, label, changes)?;
    }
    Ok(())
}

/// A value `changes` wrote to a field: of its kind's shape ([`check_shape`]) and, a string,
/// without a character no text holds ([`characters`]), a day one that exists ([`day`]). Only the
/// batch's own values are judged: a round dated before days were checked can still be closed.
fn check_written(
    field: &Field,
    value: &Value<'_>,
    id: &ObjId,
    label: &str,
    ops: &BatchOps,
) -> Result<(), Problem> {
    if !ops.made(id) {
        return Ok(());
    }
    check_shape(field, value, label)?;
    if let Value::Scalar(s) = value
        && let ScalarValue::Str(text) = s.as_ref()
    {
        if let Err(bad) = field.check_characters(text) {
            return Err(Problem::schema(format!("{label}: field {:?} {}", field.name, bad.reason)));
        }
        if field.kind == Kind::Day && !text.is_empty() && !day::is_day(text) {
            return Err(Problem::schema(format!(
                "{label}: field {:?} {} (not {:?})",
                field.name,
                day::NOT_A_DAY,
                text.chars().take(40).collect::<String>()
            )));
        }
    }
    Ok(())
}

/// A value `changes` wrote to a field must have the shape the table gives the field's kind (the
/// concurrent values that lost included): a string (or null) for short and long
/// strings, an integer (or null) for counts and times, any scalar for IDs and vocabulary values,
/// an Automerge text, map or list for the containers. The typed readers skip a value of the wrong
/// shape, so one that got in would make the entity unreadable to the rules that guard honest
/// work (an assignee held as a text made the task unclaimable for good). Only the batch's own
/// values are asked ([`check_written`]): a value stored before this check existed never blocks
/// someone else's edit.
fn check_shape(field: &Field, value: &Value<'_>, label: &str) -> Result<(), Problem> {
    if !fits(field.kind, value) {
        return Err(Problem::schema(format!(
            "{label}: field {:?} holds {}; it must hold {}",
            field.name,
            shape(value),
            expected(field.kind)
        )));
    }
    Ok(())
}

/// The value a field holds (the winner of any conflict) within its kind's limit: strings and
/// texts in characters, counts in people. A text field must hold an Automerge text.
///
/// A text is judged as each change's author saw it: phones editing notes offline each within
/// the limit merge into notes over it, and neither phone's work may be refused for that. So a
/// text over [`limits::LONG_TEXT`] passes when every change of the batch left it within the
/// limit, or no longer than it found it, at that change (its own heads against its
/// dependencies); and never past [`limits::MERGED_TEXT`], however it came about.
fn check_size(
    doc: &Automerge,
    field: &Field,
    value: &Value<'_>,
    id: &ObjId,
    label: &str,
    changes: &[Change],
) -> Result<(), Problem> {
    match (field.kind, value) {
        (Kind::Short | Kind::Long, Value::Scalar(s)) => {
            if let ScalarValue::Str(text) = s.as_ref() {
                let max = field.max_chars().unwrap_or(limits::LONG_TEXT);
                check_length(text.chars().count(), field.name, max, label)?;
            }
        }
        (Kind::Text, Value::Object(ObjType::Text)) => {
            let text = doc.text(id).unwrap_or_default();
            let len = text.chars().count();
            // Over the limit is rare; only then is each change's view read (`text_at`).
            let over = len > limits::LONG_TEXT
                && (len > limits::MERGED_TEXT || !each_author_kept_it_within_the_limit(doc, id, changes));
            if over {
                check_length(len, field.name, limits::LONG_TEXT, label)?;
            }
            // So is a character no text holds; then each change is asked whether it added one.
            if characters::count_unwelcome(&text, Kind::Text) > 0
                && let Some(added) = character_a_change_added(doc, id, changes)
            {
                return Err(Problem::schema(format!(
                    "{label}: field {:?} gained U+{:04X} ({}); remove it",
                    field.name,
                    added as u32,
                    characters::what_it_is(added)
                )));
            }
        }
        (Kind::Text, _) => {
            return Err(Problem::schema(format!("{label}: field {:?} is not an Automerge text", field.name)));
        }
        (Kind::Floor, Value::Scalar(s)) => {
            let floor = match s.as_ref() {
                ScalarValue::Int(n) => Some(*n),
                ScalarValue::Uint(n) => Some(i64::try_from(*n).unwrap_or(i64::MAX)),
                _ => None,
            };
            if let Some(bad) = floor.and_then(|n| field.check_floor(n).err()) {
                return Err(Problem::schema(format!("{label}: field {:?}: {}", field.name, bad.reason)));
            }
        }
        (Kind::Count, Value::Scalar(s)) => {
            if let Ok(n) = read::as_count(field.name, Some(s.as_ref()))
                && n > limits::PEOPLE
            {
                return Err(Problem::too_large(format!(
                    "{label}: field {:?} is {n}; at most {} is allowed",
                    field.name,
                    limits::PEOPLE
                )));
            }
        }
        _ => {}
    }
    Ok(())
}

/// Whether every one of `changes` left the text `id` within [`limits::LONG_TEXT`], or no longer
/// than it was, as that change's author saw it. Read only for a text found over the limit.
fn each_author_kept_it_within_the_limit(doc: &Automerge, id: &ObjId, changes: &[Change]) -> bool {
    changes.iter().all(|change| {
        let (before, after) = as_its_author_saw_it(doc, id, change);
        state::keeps_within(limits::LONG_TEXT, before.chars().count(), after.chars().count())
    })
}

/// The text `id` at `change`'s dependencies and at the change itself: what its author found and
/// what they left, whatever else was written meanwhile.
fn as_its_author_saw_it(doc: &Automerge, id: &ObjId, change: &Change) -> (String, String) {
    let at = |heads: &[automerge::ChangeHash]| doc.text_at(id, heads).unwrap_or_default();
    (at(change.deps()), at(&[change.hash()]))
}

/// A character no text holds that one of `changes` added to the text `id` (the text holds more
/// such characters at the change than at the change's dependencies, as its author saw it, the
/// phone's rule in `operation`), if any change added one. Read only for a text that holds such a character.
fn character_a_change_added(doc: &Automerge, id: &ObjId, changes: &[Change]) -> Option<char> {
    let unwelcome = |text: String| -> Vec<char> {
        text.chars().filter(|&c| characters::is_unwelcome(c, Kind::Text)).collect()
    };
    changes.iter().find_map(|change| {
        let (before, after) = as_its_author_saw_it(doc, id, change);
        let (before, after) = (unwelcome(before), unwelcome(after));
        if !characters::adds_unwelcome(before.len(), after.len()) {
            return None;
        }
        // More in all, so more of at least one of them: name that one.
        let count = |chars: &[char], c: char| chars.iter().filter(|&&d| d == c).count();
        after.iter().copied().find(|&c| count(&after, c) > count(&before, c))
    })
}

/// Whether `value` has the shape of a field of `kind`.
fn fits(kind: Kind, value: &Value<'_>) -> bool {
    use ScalarValue::{Int, Null, Str, Timestamp as Time, Uint};
    match (kind, value) {
        (Kind::Short | Kind::Long | Kind::Day, Value::Scalar(s)) => matches!(s.as_ref(), Str(_) | Null),
        (Kind::Count, Value::Scalar(s)) => matches!(s.as_ref(), Int(_) | Uint(_) | Null),
        (Kind::Floor, Value::Scalar(s)) => matches!(s.as_ref(), Int(_) | Uint(_)),
        (Kind::Time, Value::Scalar(s)) => matches!(s.as_ref(), Int(_) | Uint(_) | Time(_) | Null),
        (Kind::Scalar, Value::Scalar(_)) => true,
        (Kind::Text, Value::Object(ObjType::Text)) => true,
        (Kind::Map | Kind::Record, Value::Object(ObjType::Map)) => true,
        (Kind::List, Value::Object(ObjType::List)) => true,
        _ => false,
    }
}

/// What `value` is, for a reason.
fn shape(value: &Value<'_>) -> String {
    match value {
        Value::Object(ObjType::Text) => "an Automerge text".into(),
        Value::Object(ObjType::Map | ObjType::Table) => "a map".into(),
        Value::Object(ObjType::List) => "a list".into(),
        Value::Scalar(s) => match s.as_ref() {
            ScalarValue::Str(_) => "a string".into(),
            ScalarValue::Null => "null".into(),
            ScalarValue::Int(_) | ScalarValue::Uint(_) => "an integer".into(),
            other => format!("the scalar {other}"),
        },
    }
}

/// The shape a field of `kind` must have, for a reason.
fn expected(kind: Kind) -> &'static str {
    match kind {
        Kind::Short | Kind::Long => "a string or null",
        Kind::Day => "a day written YYYY-MM-DD, or null",
        Kind::Count => "a whole number or null",
        Kind::Floor => "a whole number (a floor)",
        Kind::Time => "Unix milliseconds or null",
        Kind::Scalar => {
            "a single value (an ID, a word of the vocabulary, a number or a boolean), not an object"
        }
        Kind::Text => "an Automerge text",
        Kind::Map | Kind::Record => "a map",
        Kind::List => "a list",
    }
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
