//! Who changed an entity, what and when, read from the document's own history: every Automerge
//! change that touched a household (in the roster), a task (in a round), a request or a care
//! entry, with the actor that wrote it. Which person an actor is, only the relay knows (its
//! actor bindings); this query names actors and the caller names people.

use std::collections::{BTreeSet, HashMap};

use automerge::legacy::{Key, ObjectId, OpType};
use serde::Serialize;

use super::change_ops;
use crate::Timestamp;
use crate::document::Document;
use crate::schema::vocabulary::DocKind;

/// One change to an entity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryEntry {
    /// The change hash, hex.
    pub change: String,
    /// The Automerge actor that wrote it, hex.
    pub actor: String,
    /// When, as the writing device's clock said.
    pub at: Timestamp,
    /// The entity's fields it set (`status`, `notes`, `attempts`, …), or `created` / `deleted`
    /// when it added or removed the entity itself.
    pub fields: Vec<String>,
}

/// The map of entities each kind of document keeps, by entity ID.
fn collection(kind: DocKind) -> &'static str {
    match kind {
        DocKind::Roster => "households",
        DocKind::Round => "tasks",
        DocKind::Requests => "requests",
        DocKind::Care => "entries",
    }
}

/// Every change of `document` that touched the entity `key` (a household ID in the roster, a
/// task ID in a round, …), oldest first (in causal order).
///
/// Each change is read by its own operations ([`super::change_ops`]): an operation on the
/// collection at `key` creates or deletes the entity, one on the entity's object sets the field
/// it names, and one on an object made inside the entity (its `notes` text, its `attempts` list
/// and the attempts in it) touches the field that object lies under.
pub fn history(document: &Document, key: &str) -> Vec<HistoryEntry> {
    let doc = document.automerge();
    let Some(collection) = change_ops::root_map(doc, collection(document.kind())) else {
        return Vec::new();
    };
    // The objects of the entity, each with the field it lies under (`None`: the entity itself).
    let mut inside: HashMap<ObjectId, Option<String>> = HashMap::new();
    let mut entries = Vec::new();
    for change in doc.get_changes(&[]) {
        let mut fields = BTreeSet::new();
        for (id, op) in change_ops::operations(&change) {
            let field = if op.obj == collection {
                match &op.key {
                    Key::Map(k) if k.as_str() == key => match op.action {
                        OpType::Delete => Some("deleted".to_owned()),
                        _ => Some("created".to_owned()),
                    },
                    _ => continue,
                }
            } else if let Some(under) = inside.get(&op.obj) {
                let named = match &op.key {
                    Key::Map(f) => Some(f.to_string()),
                    Key::Seq(_) => None,
                };
                under.clone().or(named)
            } else {
                continue;
            };
            if matches!(op.action, OpType::Make(_)) {
                // The entity itself, or an object inside it under `field`.
                let under = if op.obj == collection { None } else { field.clone() };
                inside.insert(ObjectId::Id(id), under);
            }
            fields.extend(field);
        }
        // A change that adds the entity also sets all its fields: it is its creation.
        if fields.contains("created") {
            fields.retain(|f| f == "created");
        }
        if !fields.is_empty() {
            entries.push(HistoryEntry {
                change: change.hash().to_string(),
                actor: change.actor_id().to_hex_string(),
                at: Timestamp::from_millis(change.timestamp()),
                fields: fields.into_iter().collect(),
            });
        }
    }
    entries
}
