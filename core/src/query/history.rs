//! Who changed an entity, what and when, read from the document's own history: every Automerge
//! change that touched a household (in the roster), a task (in a round), a request or a care
//! entry, with the actor that wrote it. Which person an actor is, only the relay knows (its
//! actor bindings); this query names actors and the caller names people.

use std::collections::BTreeSet;

use automerge::{ChangeHash, PatchAction, Prop};
use serde::Serialize;

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
pub fn history(document: &Document, key: &str) -> Vec<HistoryEntry> {
    let doc = document.automerge();
    let collection = collection(document.kind());
    let mut entries = Vec::new();
    for change in doc.get_changes(&[]) {
        let deps: Vec<ChangeHash> = change.deps().to_vec();
        let mut fields = BTreeSet::new();
        for patch in doc.diff(&deps, &[change.hash()]) {
            let path: Vec<&Prop> = patch.path.iter().map(|(_, prop)| prop).collect();
            match path.as_slice() {
                // The entity itself was added or removed from its collection.
                [Prop::Map(c)] if c == collection => match &patch.action {
                    PatchAction::PutMap { key: k, .. } if k == key => {
                        fields.insert("created".to_owned());
                    }
                    PatchAction::DeleteMap { key: k } if k == key => {
                        fields.insert("deleted".to_owned());
                    }
                    _ => {}
                },
                // A field of the entity (`[tasks, T]` + key) or something inside one
                // (`[tasks, T, attempts]`, `[households, H, notes]`).
                [Prop::Map(c), Prop::Map(k), rest @ ..] if c == collection && k == key => {
                    let field = match (rest.first(), &patch.action) {
                        (Some(Prop::Map(f)), _) => Some(f.clone()),
                        (Some(Prop::Seq(_)), _) => None,
                        (None, PatchAction::PutMap { key: f, .. } | PatchAction::DeleteMap { key: f }) => {
                            Some(f.clone())
                        }
                        (None, _) => None,
                    };
                    fields.extend(field);
                }
                _ => {}
            }
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
