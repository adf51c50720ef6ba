//! Reading a change by its own operations, which costs the change's size, instead of diffing
//! the document before and after it, which walks the whole document: a roster's history is
//! long (a notes edit is one change), so the queries that look through it ([`super::history`],
//! [`super::removed_households`]) read operations.

use automerge::legacy::{ObjectId, Op, OpId};
use automerge::{ROOT, ReadDoc};

/// The map at `key` of the document's root, named as operations name the object they write in.
pub(crate) fn root_map(doc: &automerge::Automerge, key: &str) -> Option<ObjectId> {
    match doc.get(ROOT, key).ok()?? {
        (_, automerge::ObjId::Id(counter, actor, _)) => Some(ObjectId::Id(OpId(counter, actor))),
        (_, automerge::ObjId::Root) => None,
    }
}

/// The operations of `change`, each with its own ID (which names the object it makes, if any).
pub(crate) fn operations(change: &automerge::Change) -> Vec<(OpId, Op)> {
    let expanded = change.decode();
    let start = expanded.start_op.get();
    expanded
        .operations
        .into_iter()
        .zip(start..)
        .map(|(op, counter)| (OpId(counter, expanded.actor_id.clone()), op))
        .collect()
}
