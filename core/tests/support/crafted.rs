//! Changes Automerge never writes, made from honest ones: for the checks that refuse them on
//! both sides (the relay's `validate::changes_in`, the phone's `validate::check_received`).

use automerge::ExpandedChange;
use automerge::legacy::{Key, ObjectId, OpId, OpType};

/// Turns `change`'s last operation into one that makes a map inside itself (its object is its
/// own ID): the shape the relay's fuzzer found, which makes the object tree a cycle.
pub fn make_object_inside_itself(change: &mut ExpandedChange) {
    let last = change.operations.len() - 1;
    let own = OpId(counter_of(change, last), change.actor_id.clone());
    let op = &mut change.operations[last];
    op.action = OpType::Make(automerge::ObjType::Map);
    op.obj = ObjectId::Id(own);
    op.key = Key::Map("loop".into());
    op.insert = false;
    op.pred = Vec::new().into();
}

/// The counter the change's `index`th operation has.
pub fn counter_of(change: &ExpandedChange, index: usize) -> u64 {
    change.start_op.get() + u64::try_from(index).expect("an index fits")
}
