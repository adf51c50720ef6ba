//! Typed reads of Automerge values. A document that arrived from elsewhere may not follow the
//! schema (an old app, a modified phone); every read says which field is wrong instead of
//! panicking, and collection readers skip (and log) an entity they cannot read.

use std::str::FromStr;

use automerge::{ObjId, ObjType, ReadDoc, ScalarValue, Value};

/// A document value that does not follow the schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field {field:?} {problem}")]
pub struct SchemaError {
    /// The field's key.
    pub field: String,
    /// What is wrong ("is missing", "is not a string", ...).
    pub problem: String,
}

impl SchemaError {
    pub(crate) fn new(field: &str, problem: impl Into<String>) -> Self {
        Self { field: field.to_owned(), problem: problem.into() }
    }
}

/// The scalar at `obj.key`, if any.
pub(crate) fn scalar(doc: &impl ReadDoc, obj: &ObjId, key: &str) -> Option<ScalarValue> {
    match doc.get(obj, key) {
        Ok(Some((Value::Scalar(s), _))) => Some(s.into_owned()),
        _ => None,
    }
}

/// The child object at `obj.key` if it is of type `kind`.
pub(crate) fn object(doc: &impl ReadDoc, obj: &ObjId, key: &str, kind: ObjType) -> Option<ObjId> {
    match doc.get(obj, key) {
        Ok(Some((Value::Object(t), id))) if t == kind => Some(id),
        _ => None,
    }
}

/// A required string.
pub(crate) fn string(doc: &impl ReadDoc, obj: &ObjId, key: &str) -> Result<String, SchemaError> {
    match scalar(doc, obj, key) {
        Some(ScalarValue::Str(s)) => Ok(s.to_string()),
        Some(_) => Err(SchemaError::new(key, "is not a string")),
        None => Err(SchemaError::new(key, "is missing")),
    }
}

/// An optional string (missing or null is `None`).
pub(crate) fn opt_string(doc: &impl ReadDoc, obj: &ObjId, key: &str) -> Result<Option<String>, SchemaError> {
    match scalar(doc, obj, key) {
        Some(ScalarValue::Str(s)) => Ok(Some(s.to_string())),
        Some(ScalarValue::Null) | None => Ok(None),
        Some(_) => Err(SchemaError::new(key, "is not a string")),
    }
}

/// A required integer.
pub(crate) fn int(doc: &impl ReadDoc, obj: &ObjId, key: &str) -> Result<i64, SchemaError> {
    match scalar(doc, obj, key) {
        Some(ScalarValue::Int(i)) => Ok(i),
        Some(ScalarValue::Uint(u)) => i64::try_from(u).map_err(|_| SchemaError::new(key, "is too large")),
        Some(ScalarValue::Timestamp(t)) => Ok(t),
        Some(_) => Err(SchemaError::new(key, "is not an integer")),
        None => Err(SchemaError::new(key, "is missing")),
    }
}

/// A required count (non-negative integer that fits `u32`).
pub(crate) fn count(doc: &impl ReadDoc, obj: &ObjId, key: &str) -> Result<u32, SchemaError> {
    u32::try_from(int(doc, obj, key)?).map_err(|_| SchemaError::new(key, "is not a count"))
}

/// A required boolean.
pub(crate) fn boolean(doc: &impl ReadDoc, obj: &ObjId, key: &str) -> Result<bool, SchemaError> {
    match scalar(doc, obj, key) {
        Some(ScalarValue::Boolean(b)) => Ok(b),
        Some(_) => Err(SchemaError::new(key, "is not a boolean")),
        None => Err(SchemaError::new(key, "is missing")),
    }
}

/// A required value of a closed vocabulary or an ID.
pub(crate) fn parsed<T: FromStr>(doc: &impl ReadDoc, obj: &ObjId, key: &str) -> Result<T, SchemaError>
where
    T::Err: std::fmt::Display,
{
    let s = string(doc, obj, key)?;
    s.parse().map_err(|e: T::Err| SchemaError::new(key, e.to_string()))
}

/// An optional ID or vocabulary value (missing or null is `None`).
pub(crate) fn opt_parsed<T: FromStr>(
    doc: &impl ReadDoc,
    obj: &ObjId,
    key: &str,
) -> Result<Option<T>, SchemaError>
where
    T::Err: std::fmt::Display,
{
    match opt_string(doc, obj, key)? {
        Some(s) => s.parse().map(Some).map_err(|e: T::Err| SchemaError::new(key, e.to_string())),
        None => Ok(None),
    }
}

/// The text of an Automerge text object at `obj.key` (empty if missing).
pub(crate) fn text(doc: &impl ReadDoc, obj: &ObjId, key: &str) -> String {
    object(doc, obj, key, ObjType::Text).and_then(|t| doc.text(&t).ok()).unwrap_or_default()
}

/// Reads every entry of the map at `parent.key` with `read`, skipping (and logging) entries
/// that do not follow the schema.
pub(crate) fn entries<K: FromStr, T>(
    doc: &impl ReadDoc,
    parent: &ObjId,
    key: &str,
    mut read: impl FnMut(K, &ObjId) -> Result<T, SchemaError>,
) -> Vec<T> {
    let Some(map) = object(doc, parent, key, ObjType::Map) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in doc.map_range(&map, ..) {
        let Ok(id) = item.key.parse::<K>() else {
            tracing::warn!(collection = key, key = %item.key, "skipping entry with a malformed id");
            continue;
        };
        let automerge::ValueRef::Object(ObjType::Map) = item.value else {
            tracing::warn!(collection = key, key = %item.key, "skipping entry that is not a map");
            continue;
        };
        match read(id, &item.id()) {
            Ok(v) => out.push(v),
            Err(e) => {
                tracing::warn!(collection = key, key = %item.key, error = %e, "skipping entry that does not follow the schema")
            }
        }
    }
    out
}
