//! Every operation of a change refers only to operations made before it. Automerge numbers
//! operations with a Lamport counter: an operation's counter is above every counter its author
//! had seen, so the object it writes into, the list element it inserts after or writes at, and
//! the operations it overwrites all have smaller counters. A change written by Automerge keeps
//! this without exception; a crafted one need not.
//!
//! Automerge 0.12 does not check it, and trusts it: an operation that makes an object inside
//! itself (`obj` = its own ID), or inside an object made after it, turns the object tree into a
//! cycle, and walking an object's path to the root (`PatchBuilder::get_path`, which the relay's
//! check runs for every object a batch touches) then never ends, growing a vector until the
//! process runs out of memory. The fuzzer found a 483-byte message that did this
//! (`fuzz/artifacts/relay_document/oom-31d7…`). So each change is checked here before Automerge
//! applies it: with every reference strictly earlier, the path from any object to the root is
//! finite.

use automerge::legacy::{ElementId, Key, ObjectId, OpId};
use automerge::{Change, ExpandedChange};

/// Refuses `change` (`expanded` is its operations, decoded once for every check) if one of its
/// operations refers to itself or to an operation with a counter at or above its own; says which
/// operation and which reference.
pub(super) fn check_op_order(change: &Change, expanded: &ExpandedChange) -> Result<(), String> {
    let start = change.start_op().get();
    for (index, op) in expanded.operations.iter().enumerate() {
        let counter = start.saturating_add(u64::try_from(index).unwrap_or(u64::MAX));
        let later = |id: &OpId| id.counter() >= counter;
        let refers = |what: &str, id: &OpId| {
            format!(
                "operation {counter} of the change refers to {what} {id}, which is not earlier than \
                 itself; Automerge never writes that, so the change was crafted"
            )
        };
        if let ObjectId::Id(obj) = &op.obj
            && later(obj)
        {
            return Err(refers("the object", obj));
        }
        if let Key::Seq(ElementId::Id(element)) = &op.key
            && later(element)
        {
            return Err(refers("the list element", element));
        }
        if let Some(pred) = op.pred.iter().find(|p| later(p)) {
            return Err(refers("the operation it overwrites", pred));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use automerge::transaction::Transactable;
    use automerge::{ActorId, Automerge, ObjType, ROOT};

    use super::*;

    #[test]
    fn changes_automerge_writes_keep_the_order() {
        let mut doc = Automerge::new().with_actor(ActorId::from([1; 16]));
        let mut tx = doc.transaction();
        let list = tx.put_object(ROOT, "tasks", ObjType::List).unwrap();
        let task = tx.insert_object(&list, 0, ObjType::Map).unwrap();
        tx.put(&task, "status", "open").unwrap();
        let notes = tx.put_object(&task, "notes", ObjType::Text).unwrap();
        tx.splice_text(&notes, 0, 0, "门口").unwrap();
        tx.commit();
        let mut other = doc.fork().with_actor(ActorId::from([2; 16]));
        let mut tx = other.transaction();
        tx.put(&task, "status", "delivered").unwrap();
        tx.splice_text(&notes, 1, 1, "外").unwrap();
        tx.insert(&list, 1, "x").unwrap();
        tx.delete(&list, 0).unwrap();
        tx.commit();
        for change in other.get_changes(&[]) {
            check_op_order(&change, &change.decode()).unwrap();
        }
    }
}
