//! A delete in a list or a text names an element of that list or text, one its author saw
//! there. Automerge writes a delete of the element at an index of the sequence as its author
//! sees it; a crafted delete can name any operation the author had seen instead: a character of
//! another household's notes, a map value, an attempt of another task. Automerge 0.12 applies
//! it, and the document then no longer saves in a form that loads ("missing ops"): every new
//! phone got no roster, and phones holding it lost it at their next compaction (a helper's
//! finding). Only the document with the batch applied can say what each change's author saw
//! (the sequence at its dependencies), so the deletes are gathered before the batch is applied
//! ([`ElementDelete`]) and checked after, on the scratch copy.

use std::collections::{HashMap, HashSet};

use automerge::{ActorId, Automerge, Change, ChangeHash, ReadDoc};

use super::history::OpRef;
use super::violation::Problem;

/// Most elements one batch's delete checks may read: each change that deletes in a sequence
/// reads that sequence as its author saw it (a merged notes text holds at most 32,000
/// characters, an attempts list 200 attempts).
const READ_BUDGET: usize = 10_000_000;

/// A delete, in a list or a text, of an element no earlier operation of its own change
/// inserted: which sequence, which element, and where.
#[derive(Debug, Clone)]
pub(super) struct ElementDelete {
    pub(super) change: ChangeHash,
    pub(super) sequence: OpRef,
    pub(super) element: OpRef,
    pub(super) counter: u64,
}

/// Checks that each of `deletes` names an element its sequence held, visible, at the
/// dependencies of its change, in `after` (the document with the batch `changes` applied).
/// Most name an element the sequence shows in `before` (the document without the batch) or one
/// the batch inserted into it (`inserted`: sequence and element), which is all they need: read
/// once per sequence, not once per change at its dependencies (a team's return cost a tenth
/// more relay CPU that way). The rest (an element deleted meanwhile by someone else) are
/// judged at their change's dependencies.
pub(super) fn check_element_deletes(
    before: &Automerge,
    after: &Automerge,
    changes: &[Change],
    deletes: &[ElementDelete],
    inserted: &HashSet<(OpRef, OpRef)>,
) -> Result<(), Problem> {
    let mut shown: HashMap<OpRef, HashSet<OpRef>> = HashMap::new();
    let mut seen: HashMap<(ChangeHash, OpRef), HashSet<OpRef>> = HashMap::new();
    let mut read = 0usize;
    if deletes.is_empty() {
        return Ok(());
    }
    let by_hash: HashMap<ChangeHash, &Change> = changes.iter().map(|c| (c.hash(), c)).collect();
    for delete in deletes {
        if inserted.contains(&(delete.sequence.clone(), delete.element.clone())) {
            continue;
        }
        let elements = shown.entry(delete.sequence.clone()).or_insert_with(|| {
            let (counter, actor) = &delete.sequence;
            elements_of(before.list_range(automerge::ObjId::Id(*counter, actor.clone(), 0), ..))
        });
        if elements.contains(&delete.element) {
            continue;
        }
        let Some(change) = by_hash.get(&delete.change) else { continue };
        let key = (delete.change, delete.sequence.clone());
        if !seen.contains_key(&key) {
            let (counter, actor) = &delete.sequence;
            let sequence = automerge::ObjId::Id(*counter, actor.clone(), 0);
            let elements = elements_of(after.list_range_at(&sequence, .., change.deps()));
            read = read.saturating_add(elements.len());
            if read > READ_BUDGET {
                return Err(Problem::malformed(format!(
                    "its deletes would read more than {READ_BUDGET} list and text elements to check; a phone's changes never come near that, so the batch was crafted"
                )));
            }
            seen.insert(key.clone(), elements);
        }
        if !seen.get(&key).is_some_and(|elements| elements.contains(&delete.element)) {
            let (c, a): &(u64, ActorId) = &delete.element;
            return Err(Problem::malformed(format!(
                "operation {} of change {} deletes {c}@{a}, which is not an element its list or text held when its author wrote it; Automerge never writes that, so the change was crafted",
                delete.counter, delete.change
            )));
        }
    }
    Ok(())
}

/// The elements a list range shows, as operations.
fn elements_of(range: automerge::iter::ListRange<'_>) -> HashSet<OpRef> {
    range
        .filter_map(|item| match item.id() {
            automerge::ObjId::Id(c, a, _) => Some((c, a)),
            automerge::ObjId::Root => None,
        })
        .collect()
}
