//! The table's rules for every entity a batch touched, whatever the document: who may add,
//! remove and change which field (from [`rulebook::table`](crate::rulebook::table)), that a
//! created entity, collection or container field is kept (never replaced or deleted), that the
//! fields follow the schema, and that new times follow the relay's clock. The document modules
//! add the state rules the table cannot say (claims, attempts, closed rounds, new requests).

use automerge::{Change, ChangeHash, ObjId, PatchAction, Prop, ROOT};

use super::Effect;
use crate::permission::Rule;
use crate::rulebook::{Entity, Kind, Writers};
use crate::validate::schema::{self, Slot};
use crate::validate::violation::Problem;

/// A touched entity that exists after the batch: its key, label and object, and whether it is
/// new.
pub(super) struct Present {
    pub key: String,
    pub label: String,
    pub before: Slot,
    pub obj: ObjId,
    pub added: bool,
}

/// Checks the root collections the batch touched: one that existed is kept, whoever writes.
pub(super) fn check_collections_kept(e: &Effect<'_>) -> Result<(), Problem> {
    let (_, collections) = e.layout();
    for (collection, _) in collections {
        if !e.touched.root.contains(*collection) {
            continue;
        }
        if let Some(before) = schema::object_at(e.before, &ROOT, collection)
            && !schema::kept(e.after, &ROOT, collection, &before)
        {
            return Err(Problem::forbidden(
                Rule::CreatedObjectsAreKept,
                format!("{} may not replace or delete the document's {collection:?} collection", e.who()),
            ));
        }
    }
    Ok(())
}

/// Applies the table's rules of `entity` to every entity of `collection` the batch touched, and
/// returns the ones present afterwards for the document's own state rules. `is_author` says
/// whether the batch's author took the entity down (a request's `by`), for fields their author
/// may write.
pub(super) fn check(
    e: &Effect<'_>,
    collection: &str,
    entity: &Entity,
    is_author: impl Fn(&Slot) -> bool,
) -> Result<Vec<Present>, Problem> {
    let role = e.author.role;
    let forbid = |rule: Rule, what: String| Problem::forbidden(rule, format!("{} may not {what}", e.who()));
    let map = schema::object_at(e.after, &ROOT, collection);
    let mut present = Vec::new();
    for (key, touch) in e.touched.in_collection(collection) {
        let label = format!("{} {key}", entity.noun);
        let before = schema::slot(e.before, collection, key);
        let after = schema::slot(e.after, collection, key);
        match (&before, after.is_present()) {
            (Slot::Absent, true) => {
                entity.require_add(role).map_err(|r| forbid(r, format!("add {label}")))?
            }
            (Slot::Absent, false) => {}
            (_, false) => {
                entity.require_remove(role).map_err(|r| forbid(r, format!("remove {label}")))?;
                if edited_unseen(e, collection, key) {
                    return Err(forbid(
                        Rule::RemovalsDoNotHideEdits,
                        format!(
                            "remove {label}: it was changed after their phone last synced, and the removal would hide that change; sync, review it, then remove it again"
                        ),
                    ));
                }
            }
            (Slot::Map(old), true) => {
                let kept = map.as_ref().is_some_and(|m| schema::kept(e.after, m, key, old));
                if !kept {
                    return Err(forbid(Rule::CreatedObjectsAreKept, format!("replace {label}")));
                }
                let author = is_author(&before);
                for name in &touch.fields {
                    let Some(field) = entity.field(name) else { continue };
                    if !field.writers.admit(role, author) {
                        let mine: Vec<&str> = entity
                            .fields
                            .iter()
                            .filter(|f| f.writers.admit(role, author))
                            .map(|f| f.name)
                            .collect();
                        let hint = if field.writers == Writers::AuthorOrCoordinators {
                            format!(
                                ": they may edit the {name} of their own {}s only, until a coordinator has handled them",
                                entity.noun
                            )
                        } else if mine.is_empty() {
                            String::new()
                        } else {
                            format!(", only its {}", mine.join(" and "))
                        };
                        return Err(forbid(entity.rule, format!("change {label}'s {name:?}{hint}")));
                    }
                    if field.kind.is_container()
                        && let Some(old_field) = schema::object_at(e.before, old, name)
                        && !schema::kept(e.after, old, name, &old_field)
                    {
                        return Err(forbid(
                            Rule::CreatedObjectsAreKept,
                            format!("replace or delete {label}'s {name:?} (edit it in place)"),
                        ));
                    }
                }
            }
            (Slot::NotMap, true) => {
                // Something that was never a readable entity is being repaired: a coordinator's job.
                entity.require_remove(role).map_err(|r| forbid(r, format!("repair {label}")))?;
            }
        }
        let Some(obj) = schema::map_after(&after, &label)? else {
            continue;
        };
        schema::check_fields(e.after, &obj, entity, &label, e.changes, e.ops)?;
        let added = !before.is_present();
        if added {
            schema::check_times(e.after, &obj, entity, &label, e.now, &e.who())?;
        }
        present.push(Present { key: key.clone(), label, before, obj, added });
    }
    Ok(present)
}

/// Checks the root fields the batch touched against the table's root `entity`: role, schema,
/// and the window for a time written.
pub(super) fn check_root(e: &Effect<'_>, root: &Entity, kind: &str) -> Result<(), Problem> {
    let touched: Vec<&String> =
        e.touched.root.iter().filter(|k| !schema::HEADER_FIELDS.contains(&k.as_str())).collect();
    if touched.is_empty() && !e.creates() {
        return Ok(());
    }
    schema::check_root_keys(
        touched.iter().copied(),
        &root.fields.iter().map(|f| f.name).collect::<Vec<_>>(),
        kind,
    )?;
    schema::check_fields(e.after, &ROOT, root, &format!("the {kind}"), e.changes, e.ops)?;
    for name in &touched {
        if root.field(name).is_some_and(|f| f.kind == Kind::Time) {
            schema::check_times(e.after, &ROOT, root, &format!("the {kind}"), e.now, &e.who())?;
        }
    }
    Ok(())
}

/// Whether the relay holds changes to `collection[key]` that the batch's author had not seen:
/// the document as of the batch's dependencies differs there from the document before the batch.
fn edited_unseen(e: &Effect<'_>, collection: &str, key: &str) -> bool {
    let inside: std::collections::HashSet<ChangeHash> = e.changes.iter().map(Change::hash).collect();
    let mut seen: Vec<ChangeHash> =
        e.changes.iter().flat_map(|c| c.deps().iter().copied()).filter(|d| !inside.contains(d)).collect();
    seen.sort();
    seen.dedup();
    let mut current = e.before.get_heads();
    current.sort();
    if seen == current {
        return false;
    }
    let patches =
        crate::validate::contain::contained("a removal's history", || e.before.diff(&seen, &current));
    let Ok(patches) = patches else { return true };
    patches.iter().any(|patch| {
        let mut props = patch.path.iter().map(|(_, prop)| prop);
        let on_entity = matches!(
            (props.next(), props.next()),
            (Some(Prop::Map(c)), Some(Prop::Map(k))) if c == collection && k == key
        );
        let at_key = patch.path.len() == 1
            && matches!(patch.path.first(), Some((_, Prop::Map(c))) if c == collection)
            && matches!(&patch.action, PatchAction::PutMap { key: k, .. } | PatchAction::DeleteMap { key: k } if k == key);
        on_entity || at_key
    })
}
