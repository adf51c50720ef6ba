//! Every operation of a batch has a shape Automerge writes, checked before Automerge applies it.
//! Automerge 0.12 applies some shapes it never writes, and cannot then save the document in a
//! form it loads again: the next compaction would store a snapshot no phone and no relay can
//! read, and a whole compound would be lost to one volunteer's crafted change. And it applies a
//! chain of nested objects at a cost the square of its depth (each patch carries its path), so a
//! 32 KB change held a relay for minutes and took gigabytes. So a change is refused here when:
//!
//! - its first operation is not numbered above every operation of its dependencies (Automerge
//!   numbers an author's operations above everything the author had seen);
//! - it is not made on its author's previous change, or an operation names an object, an
//!   element or a value it overwrites that its author had not seen ([`super::history`]);
//! - an operation writes by key into a list or text, or by position into a map;
//! - an operation deletes without naming what it deletes;
//! - it writes what no Doorstep document holds: a counter or an increment, a table, a mark, an
//!   object or anything but one character inside a text, or a put over a text's character;
//! - it makes an object deeper than [`limits::OBJECT_DEPTH`] below the root;
//! - it writes into an object neither the document nor the batch made.

use std::collections::HashMap;

use automerge::legacy::{ElementId, Key, ObjectId, OpId, OpType};
use automerge::{ActorId, Automerge, Change, ChangeHash, ObjType, ReadDoc, ScalarValue};

use super::element_deletes::ElementDelete;
use super::history::{History, OpRef};
use super::violation::Problem;
use crate::limits;

/// The longest actor ID taken: Automerge makes 16-byte ones, and every phone downloads every
/// actor of a document.
const MAX_ACTOR_BYTES: usize = 32;

/// Checks every operation of `changes` (ordered so that each follows its dependencies) against
/// `doc`, the document they are about to be applied to; the change at fault, if any.
pub(super) fn check_op_shapes(
    doc: &Automerge,
    changes: &[Change],
) -> Result<Deferred, (Problem, ChangeHash)> {
    let mut objects = Objects { doc, known: HashMap::new() };
    let mut history = History::new(doc);
    let mut max_ops: HashMap<ChangeHash, u64> = HashMap::new();
    let mut overwrites = Vec::new();
    let mut deletes = Vec::new();
    let mut inserted = std::collections::HashSet::new();
    for change in changes {
        let at_fault = |reason: String| (Problem::malformed(reason), change.hash());
        let start = change.start_op().get();
        // Automerge numbers a change's operations from one above every operation its author
        // held, which is the highest of its dependencies': exactly, so a change can neither
        // reuse numbers (the document would not load again) nor inflate them (to win every
        // concurrent write, or to reach the end of the 32-bit numbers a saved document holds).
        let mut seen_deps = std::collections::HashSet::new();
        let mut highest = 0;
        for dep in change.deps() {
            if !seen_deps.insert(dep) {
                return Err(at_fault(format!(
                    "it names dependency {dep} twice; Automerge never writes that, so the change was crafted"
                )));
            }
            let max_op = max_ops
                .get(dep)
                .copied()
                .or_else(|| doc.get_change_meta_by_hash(dep).map(|meta| meta.max_op))
                .unwrap_or(0);
            highest = highest.max(max_op);
        }
        if start != highest.saturating_add(1) {
            return Err(at_fault(format!(
                "its first operation is numbered {start}, where the operations it depends on end at {highest}; Automerge numbers a change's operations from the next, so the change was crafted"
            )));
        }
        history.follows_its_authors_last(change).map_err(at_fault)?;
        // Doorstep writes every change with operations and without a message: an empty change
        // with a megabyte of message grew the roster every phone downloads by as much.
        if change.message().is_some_and(|m| !m.is_empty()) {
            return Err(at_fault(
                "it carries a commit message; Doorstep writes none, so the change was crafted".into(),
            ));
        }
        // The one change Doorstep writes without operations merges branches: it depends on
        // every head of a document that has too many (`relay_engine/heads_mend.rs`, and a phone's
        // `sync/heads_merge.rs`), so that a sync message carries one head again.
        if change.is_empty() && change.deps().len() < 2 {
            return Err(at_fault(
                "it holds no operation and merges no branches; Doorstep writes none such, so the change was crafted"
                    .into(),
            ));
        }
        let actor_bytes = change.actor_id().to_bytes().len();
        if actor_bytes > MAX_ACTOR_BYTES {
            return Err(at_fault(format!(
                "its actor is {actor_bytes} bytes; a phone's is 16, and at most {MAX_ACTOR_BYTES} are accepted"
            )));
        }
        let decoded = change.decode();
        // What each map key this change wrote holds after it, and the objects it made: a write
        // names exactly what the key held when it was made (Automerge's `pred`).
        let mut written: HashMap<(Option<OpRef>, String), Vec<OpRef>> = HashMap::new();
        let mut made_here: std::collections::HashSet<OpRef> = std::collections::HashSet::new();
        // The elements this change inserted, and into which list or text.
        let mut inserted_here: HashMap<OpRef, Option<OpRef>> = HashMap::new();
        for (index, op) in decoded.operations.iter().enumerate() {
            let counter = start.saturating_add(u64::try_from(index).unwrap_or(u64::MAX));
            let here = |what: String| {
                at_fault(format!(
                    "operation {counter} of the change {what}; Automerge never writes that for Doorstep, so the change was crafted"
                ))
            };
            // What it names, its author had seen (a change inserting after an attempt it did not
            // depend on could reach a phone before that attempt, which could not then apply it).
            let element = match &op.key {
                Key::Seq(ElementId::Id(OpId(c, a))) => Some((*c, a.clone())),
                _ => None,
            };
            let object = match &op.obj {
                ObjectId::Id(OpId(c, a)) => Some((*c, a.clone())),
                ObjectId::Root => None,
            };
            let preds = op.pred.iter().map(|OpId(c, a)| (*c, a.clone()));
            for named in object.into_iter().chain(element).chain(preds) {
                history.has_seen(change, counter, &named).map_err(|why| {
                    at_fault(format!(
                        "operation {counter} of the change {why}; Automerge never writes that, so the change was crafted"
                    ))
                })?;
            }
            let (kind, depth) = objects
                .of(&op.obj)
                .ok_or_else(|| here("writes into an object the document does not hold".into()))?;
            match (&op.key, kind) {
                (Key::Map(_), ObjType::Map) | (Key::Seq(_), ObjType::List | ObjType::Text) => {}
                (Key::Map(key), _) => return Err(here(format!("writes by key {key:?} into a {kind:?}"))),
                (Key::Seq(_), _) => return Err(here(format!("writes by position into a {kind:?}"))),
            }
            // In a list or a text, an insertion overwrites nothing, and anything else is the
            // deletion of the element its key names (Doorstep never writes over an element).
            if let Key::Seq(element) = &op.key {
                if op.insert && !op.pred.is_empty() {
                    return Err(here("inserts an element and names something it overwrites".into()));
                }
                let sequence = match &op.obj {
                    ObjectId::Id(OpId(c, a)) => Some((*c, a.clone())),
                    ObjectId::Root => None,
                };
                if op.insert {
                    inserted_here.insert((counter, change.actor_id().clone()), sequence.clone());
                    if let Some(sequence) = &sequence {
                        inserted.insert((sequence.clone(), (counter, change.actor_id().clone())));
                    }
                } else {
                    let names_its_element = match element {
                        ElementId::Id(id) => op.pred.len() == 1 && op.pred.iter().all(|p| p == id),
                        ElementId::Head => false,
                    };
                    if !matches!(op.action, OpType::Delete) || !names_its_element {
                        return Err(here(
                            "writes over a list or text element other than by deleting it".into(),
                        ));
                    }
                    // The element deleted is one of this sequence's ([`ElementDelete`]).
                    if let (ElementId::Id(OpId(c, a)), Some(sequence)) = (element, sequence) {
                        let named = (*c, a.clone());
                        match inserted_here.get(&named) {
                            Some(into) if into.as_ref() == Some(&sequence) => {}
                            Some(_) => {
                                return Err(here(
                                    "deletes an element it inserted into another list or text".into(),
                                ));
                            }
                            None => deletes.push(ElementDelete {
                                change: change.hash(),
                                sequence,
                                element: named,
                                counter,
                            }),
                        }
                    }
                }
            }
            if let Key::Map(key) = &op.key {
                let obj = match &op.obj {
                    ObjectId::Root => None,
                    ObjectId::Id(OpId(c, a)) => Some((*c, a.clone())),
                };
                let mut named: Vec<OpRef> = op.pred.iter().map(|OpId(c, a)| (*c, a.clone())).collect();
                named.sort();
                let slot = (obj.clone(), key.to_string());
                let held = match written.get(&slot) {
                    Some(held) => Some(held.clone()),
                    None if obj.as_ref().is_some_and(|o| made_here.contains(o)) => Some(Vec::new()),
                    None => None,
                };
                match held {
                    Some(held) if held != named => {
                        return Err(here(format!(
                            "writes {key:?} naming other operations than the ones it held"
                        )));
                    }
                    Some(_) => {}
                    None => overwrites.push(Overwrite {
                        change: change.hash(),
                        obj,
                        key: key.to_string(),
                        named,
                        counter,
                    }),
                }
                let now = if matches!(op.action, OpType::Delete) {
                    Vec::new()
                } else {
                    vec![(counter, change.actor_id().clone())]
                };
                written.insert(slot, now);
            }
            if matches!(op.action, OpType::Make(_)) {
                made_here.insert((counter, change.actor_id().clone()));
            }
            match &op.action {
                OpType::Delete if op.pred.is_empty() => {
                    return Err(here("deletes without naming what it deletes".into()));
                }
                OpType::Delete => {}
                OpType::Increment(_) | OpType::Put(ScalarValue::Counter(_)) => {
                    return Err(here("writes a counter, which no Doorstep document holds".into()));
                }
                OpType::MarkBegin(_) | OpType::MarkEnd(_) => {
                    return Err(here("writes a mark, which no Doorstep text holds".into()));
                }
                OpType::Make(ObjType::Table) => {
                    return Err(here("makes a table, which no Doorstep document holds".into()));
                }
                OpType::Make(_) if kind == ObjType::Text => {
                    return Err(here("makes an object inside a text".into()));
                }
                OpType::Make(made) => {
                    if depth + 1 > limits::OBJECT_DEPTH {
                        return Err(here(format!(
                            "makes an object {} levels below the document's root; at most {} are allowed",
                            depth + 1,
                            limits::OBJECT_DEPTH
                        )));
                    }
                    objects.known.insert((counter, change.actor_id().clone()), (*made, depth + 1));
                }
                OpType::Put(value) if kind == ObjType::Text => {
                    let one_character = matches!(value, ScalarValue::Str(s) if s.chars().count() == 1);
                    if !op.insert || !one_character {
                        return Err(here("writes into a text what is not one new character".into()));
                    }
                }
                OpType::Put(_) => {}
            }
        }
        max_ops.insert(change.hash(), change.max_op());
        history.record(change);
    }
    Ok(Deferred { overwrites, deletes, inserted })
}

/// What only the document with the batch applied can check: the writes to map keys
/// ([`Overwrite`]) and the deletes in lists and texts ([`ElementDelete`]).
#[derive(Debug, Clone, Default)]
pub(super) struct Deferred {
    pub(super) overwrites: Vec<Overwrite>,
    pub(super) deletes: Vec<ElementDelete>,
    /// The elements the batch inserted, with the list or text each went into.
    pub(super) inserted: std::collections::HashSet<(OpRef, OpRef)>,
}

/// A write to a map key the document held before the change: what it names as overwritten must
/// be what the key held at the change's dependencies (some of it, for a key in conflict), which
/// only the document with the batch applied can say ([`check_overwrites`]). A write that names nothing though the key held a value
/// its author had seen (a "concurrent" claim of a task they had seen assigned), or that names an
/// operation of another key or object (which left whole-document copies that did not load), was
/// made by hand.
#[derive(Debug, Clone)]
pub(super) struct Overwrite {
    change: ChangeHash,
    obj: Option<OpRef>,
    key: String,
    named: Vec<OpRef>,
    counter: u64,
}

/// Checks the [`Overwrite`]s of the batch's `changes` against `after`, the document with the
/// batch applied.
pub(super) fn check_overwrites(
    after: &Automerge,
    changes: &[Change],
    overwrites: &[Overwrite],
) -> Result<(), Problem> {
    for overwrite in overwrites {
        let Some(change) = changes.iter().find(|c| c.hash() == overwrite.change) else { continue };
        let obj = match &overwrite.obj {
            None => automerge::ROOT,
            Some((c, a)) => automerge::ObjId::Id(*c, a.clone(), 0),
        };
        let held = after.get_all_at(&obj, overwrite.key.as_str(), change.deps()).map(|values| {
            let mut held: Vec<OpRef> = values
                .into_iter()
                .filter_map(|(_, id)| match id {
                    automerge::ObjId::Id(c, a, _) => Some((c, a)),
                    automerge::ObjId::Root => None,
                })
                .collect();
            held.sort();
            held
        });
        if !names_what_it_held(held.as_ref().ok(), &overwrite.named) {
            return Err(Problem::malformed(format!(
                "operation {} of change {} writes {:?} naming other operations than the ones it held when its author wrote it; Automerge never writes that, so the change was crafted",
                overwrite.counter, overwrite.change, overwrite.key
            )));
        }
    }
    Ok(())
}

/// Whether a write naming `named` (sorted) could come from Automerge at a key that held `held`
/// (sorted) at its dependencies: exactly those, or, where the key held a conflict (two or more
/// values), some of them. Automerge 0.12 names only one of two values written with the same
/// counter by different actors (a coordinator assigning a task as a volunteer claimed it, both
/// ops 59): a 10,000-case run of the convergence properties had honest work refused as crafted
/// for it. A write naming nothing where the key held a value, or naming an operation the key
/// did not hold, is still made by hand.
fn names_what_it_held(held: Option<&Vec<OpRef>>, named: &[OpRef]) -> bool {
    match held {
        Some(held) if held.as_slice() == named => true,
        Some(held) => held.len() >= 2 && !named.is_empty() && named.iter().all(|n| held.contains(n)),
        None => false,
    }
}

/// The kind and depth of the objects a batch writes into: made by the batch, or held by the
/// document (looked up once each: a 4,000-character splice writes 4,000 times into one text).
struct Objects<'a> {
    doc: &'a Automerge,
    known: HashMap<(u64, ActorId), (ObjType, usize)>,
}

impl Objects<'_> {
    fn of(&mut self, obj: &ObjectId) -> Option<(ObjType, usize)> {
        let ObjectId::Id(OpId(counter, actor)) = obj else {
            return Some((ObjType::Map, 0));
        };
        if let Some(known) = self.known.get(&(*counter, actor.clone())) {
            return Some(*known);
        }
        let id = automerge::ObjId::Id(*counter, actor.clone(), 0);
        let kind = self.doc.object_type(&id).ok()?;
        let depth = self.doc.parents(&id).ok()?.count();
        self.known.insert((*counter, actor.clone()), (kind, depth));
        Some((kind, depth))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use automerge::transaction::Transactable;
    use automerge::{ExpandedChange, ROOT};

    use super::*;

    /// A document with a map, a list of maps and a text, as one change.
    fn base() -> Automerge {
        let mut doc = Automerge::new().with_actor(ActorId::from([1; 16]));
        let mut tx = doc.transaction();
        let task = tx.put_object(ROOT, "task", ObjType::Map).unwrap();
        let attempts = tx.put_object(&task, "attempts", ObjType::List).unwrap();
        let attempt = tx.insert_object(&attempts, 0, ObjType::Map).unwrap();
        tx.put(&attempt, "outcome", "delivered").unwrap();
        let notes = tx.put_object(&task, "notes", ObjType::Text).unwrap();
        tx.splice_text(&notes, 0, 0, "门口👨‍👩‍👧x").unwrap();
        tx.commit();
        doc
    }

    /// The change an edit makes on a copy of `doc` by another actor, decoded.
    fn edit(doc: &Automerge, f: impl FnOnce(&mut automerge::transaction::Transaction<'_>)) -> ExpandedChange {
        let mut phone = doc.fork().with_actor(ActorId::from([2; 16]));
        let mut tx = phone.transaction();
        f(&mut tx);
        tx.commit();
        phone.get_changes(&doc.get_heads()).pop().unwrap().decode()
    }

    /// The one change without operations Doorstep writes: a merge of branches (the relay's mend
    /// of a many-headed document, a phone's merge of one before it syncs). An empty change on
    /// one head merges nothing, and is refused as before.
    #[test]
    fn an_empty_change_is_taken_only_as_a_merge_of_branches() {
        let doc = base();
        let branch = |byte: u8, key: &str| {
            let mut phone = doc.fork().with_actor(ActorId::from([byte; 16]));
            let mut tx = phone.transaction();
            tx.put(ROOT, key, 1).unwrap();
            tx.commit();
            phone.get_last_local_change().unwrap()
        };
        let mut two = doc.clone();
        two.apply_changes([branch(3, "a"), branch(4, "b")]).unwrap();
        let mut merger = two.fork().with_actor(ActorId::from([5; 16]));
        merger.empty_commit(automerge::transaction::CommitOptions::default());
        let merge = merger.get_last_local_change().unwrap();
        assert_eq!((merge.len(), merge.deps().len()), (0, 2));
        check(&two, merge.decode()).unwrap();

        let mut lone = doc.fork().with_actor(ActorId::from([5; 16]));
        lone.empty_commit(automerge::transaction::CommitOptions::default());
        let lone = lone.get_last_local_change().unwrap();
        let refused = check(&doc, lone.decode()).unwrap_err();
        assert!(refused.contains("holds no operation and merges no branches"), "{refused}");
    }

    /// Both halves: the shapes before the change is applied, what it overwrites after.
    fn check(doc: &Automerge, change: ExpandedChange) -> Result<(), String> {
        let change = Change::from(change);
        let deferred =
            check_op_shapes(doc, std::slice::from_ref(&change)).map_err(|(problem, _)| problem.reason)?;
        let mut after = doc.clone();
        crate::validate::contain::contained("the change", || after.apply_changes([change.clone()]))?
            .map_err(|e| e.to_string())?;
        let changes = [change];
        check_overwrites(&after, &changes, &deferred.overwrites).map_err(|problem| problem.reason)?;
        super::super::element_deletes::check_element_deletes(
            doc,
            &after,
            &changes,
            &deferred.deletes,
            &deferred.inserted,
        )
        .map_err(|problem| problem.reason)
    }

    fn object(doc: &Automerge, path: &[&str]) -> automerge::ObjId {
        path.iter().fold(ROOT, |obj, key| doc.get(&obj, *key).unwrap().unwrap().1)
    }

    #[test]
    fn changes_automerge_writes_for_doorstep_pass() {
        let doc = base();
        let whole = doc.get_changes(&[]);
        check_op_shapes(&Automerge::new(), &whole).unwrap();
        let (task, notes) = (object(&doc, &["task"]), object(&doc, &["task", "notes"]));
        let attempts = object(&doc, &["task", "attempts"]);
        let honest = edit(&doc, |tx| {
            tx.splice_text(&notes, 1, 2, "外🙂").unwrap();
            let attempt = tx.insert_object(&attempts, 1, ObjType::Map).unwrap();
            tx.put(&attempt, "outcome", "refused").unwrap();
            tx.put(&task, "status", "open").unwrap();
            tx.delete(&task, "status").unwrap();
            tx.delete(&attempts, 0).unwrap();
            tx.put_object(&task, "cancelled", ObjType::Map).unwrap();
        });
        check(&doc, honest).unwrap();
    }

    /// Two changes of one author made on the same state number their operations alike, and the
    /// document Automerge saves with both does not load again: the second is refused. An
    /// author's changes made one on another pass, in one batch or across batches, with others'
    /// changes merged between them.
    #[test]
    fn an_authors_change_not_made_on_their_previous_one_is_refused() {
        let doc = base();
        let task = object(&doc, &["task"]);
        let mut phone = doc.fork().with_actor(ActorId::from([2; 16]));
        let mut other = doc.fork().with_actor(ActorId::from([3; 16]));
        let mut honest = Vec::new();
        for n in 0..3 {
            let mut tx = phone.transaction();
            tx.put(&task, "status", format!("s{n}")).unwrap();
            tx.commit();
            honest.push(phone.get_last_local_change().unwrap());
            let mut tx = other.transaction();
            tx.put(&task, format!("k{n}"), n).unwrap();
            tx.commit();
            phone.merge(&mut other.clone()).unwrap();
        }
        let everything: Vec<Change> = phone.get_changes(&doc.get_heads());
        check_op_shapes(&doc, &everything).unwrap();
        let mut after_first = doc.clone();
        after_first.apply_changes(everything.iter().take(2).cloned()).unwrap();
        check_op_shapes(&after_first, &everything[2..]).unwrap();

        // The pair: seq 1 and seq 2 of a new author, both on the document's heads.
        let first = edit(&doc, |tx| tx.put(&task, "status", "open").unwrap());
        let mut second = edit(&doc, |tx| tx.put(&task, "notes", "x").unwrap());
        second.seq = 2;
        let pair = [Change::from(first), Change::from(second)];
        let (problem, at) = check_op_shapes(&doc, &pair).unwrap_err();
        assert_eq!(at, pair[1].hash());
        assert!(problem.reason.contains("not made on their change numbered 1"), "{}", problem.reason);
        // A message, or no operation at all.
        let mut with_message = edit(&doc, |tx| tx.put(&task, "status", "open").unwrap());
        with_message.message = Some("x".repeat(1 << 20));
        assert!(check(&doc, with_message).unwrap_err().contains("commit message"));
        let mut nothing = edit(&doc, |tx| tx.put(&task, "status", "open").unwrap());
        nothing.operations.clear();
        assert!(check(&doc, nothing).unwrap_err().contains("holds no operation"));
        // A first change numbered 2, or 0.
        let mut skipped = edit(&doc, |tx| tx.put(&task, "status", "open").unwrap());
        skipped.seq = 2;
        assert!(check(&doc, skipped).unwrap_err().contains("not made on their change numbered 1"));
        let mut zero = edit(&doc, |tx| tx.put(&task, "status", "open").unwrap());
        zero.seq = 0;
        assert!(check(&doc, zero).unwrap_err().contains("numbered 0"));
    }

    /// A change naming an operation its author had not seen: inserting after, or deleting, an
    /// attempt another volunteer recorded concurrently, writing into an attempt made
    /// concurrently, or naming an operation nobody made. Nothing in the dependencies orders
    /// it after what it names, so a phone could get it first and not apply it. Honest
    /// concurrent edits, and edits on what is in the history, pass; in one batch too.
    #[test]
    fn a_change_naming_what_its_author_had_not_seen_is_refused() {
        let doc = base();
        let attempts = object(&doc, &["task", "attempts"]);
        // Another volunteer records an attempt the forger has not seen.
        let mut other = doc.fork().with_actor(ActorId::from([3; 16]));
        let mut tx = other.transaction();
        let unseen = tx.insert_object(&attempts, 1, ObjType::Map).unwrap();
        tx.put(&unseen, "outcome", "delivered").unwrap();
        tx.commit();
        let unseen_op = match &unseen {
            automerge::ObjId::Id(c, a, _) => OpId(*c, a.clone()),
            automerge::ObjId::Root => unreachable!(),
        };
        let mut relay = doc.clone();
        relay.apply_changes(other.get_changes(&doc.get_heads())).unwrap();

        // Honest edits made on `doc` alone, concurrent with that attempt, pass.
        let honest = edit(&doc, |tx| {
            let attempt = tx.insert_object(&attempts, 1, ObjType::Map).unwrap();
            tx.put(&attempt, "outcome", "refused").unwrap();
        });
        check(&relay, honest.clone()).unwrap();

        let mut after_unseen = honest.clone();
        after_unseen.operations[0].key = Key::Seq(ElementId::Id(unseen_op.clone()));
        let refused = check(&relay, after_unseen).unwrap_err();
        assert!(refused.contains("its author had not seen it"), "{refused}");

        let mut delete_unseen = edit(&doc, |tx| tx.delete(&attempts, 0).unwrap());
        delete_unseen.operations[0].key = Key::Seq(ElementId::Id(unseen_op.clone()));
        delete_unseen.operations[0].pred = vec![unseen_op.clone()].into();
        assert!(check(&relay, delete_unseen).unwrap_err().contains("had not seen it"));

        let mut into_unseen = honest.clone();
        into_unseen.operations.remove(0);
        into_unseen.operations[0].obj = ObjectId::Id(unseen_op.clone());
        assert!(check(&relay, into_unseen).unwrap_err().contains("had not seen it"));

        let mut nobodys = honest.clone();
        nobodys.operations[0].key = Key::Seq(ElementId::Id(OpId(9, ActorId::from([9; 16]))));
        assert!(check(&relay, nobodys).unwrap_err().contains("no change holds"));

        // Once the forger has merged the attempt, naming it is honest, and a batch of the
        // attempt and an edit on it passes as well.
        let mut merged = doc.fork().with_actor(ActorId::from([2; 16]));
        merged.merge(&mut other.clone()).unwrap();
        let mut tx = merged.transaction();
        tx.put(&unseen, "note", "门口").unwrap();
        tx.insert(&attempts, 2, "x").unwrap();
        tx.commit();
        check(&relay, merged.get_last_local_change().unwrap().decode()).unwrap();
        check_op_shapes(&doc, &merged.get_changes(&doc.get_heads())).unwrap();
        // And one after it in a batch that does not depend on it is refused.
        let mut forged = honest;
        forged.operations[0].key = Key::Seq(ElementId::Id(unseen_op));
        let batch = [other.get_last_local_change().unwrap(), Change::from(forged)];
        let (problem, at) = check_op_shapes(&doc, &batch).unwrap_err();
        assert_eq!(at, batch[1].hash());
        assert!(problem.reason.contains("had not seen it"), "{}", problem.reason);
    }

    /// A delete in a list or text naming what is not one of its elements, though its author had
    /// seen it — a character of another text, a map value, a text object, a character this
    /// change inserted into another text, another task's attempt — is refused: Automerge applied
    /// it, and then saved a document that did not load. Honest deletes pass: characters and
    /// attempts, one inserted by the same change, the same element deleted by two authors at once.
    #[test]
    fn a_delete_naming_no_element_of_its_sequence_is_refused() {
        let mut doc = base();
        let mut tx = doc.transaction();
        let other = tx.put_object(ROOT, "other", ObjType::Text).unwrap();
        tx.splice_text(&other, 0, 0, "别家").unwrap();
        let other_attempts = tx.put_object(ROOT, "other_attempts", ObjType::List).unwrap();
        tx.insert_object(&other_attempts, 0, ObjType::Map).unwrap();
        tx.commit();
        let (task, notes) = (object(&doc, &["task"]), object(&doc, &["task", "notes"]));
        let attempts = object(&doc, &["task", "attempts"]);
        let op_of = |id: &automerge::ObjId| match id {
            automerge::ObjId::Id(c, a, _) => OpId(*c, a.clone()),
            automerge::ObjId::Root => unreachable!(),
        };
        let other_char = op_of(&doc.list_range(&other, ..).next().unwrap().id());
        let other_attempt = op_of(&doc.list_range(&other_attempts, ..).next().unwrap().id());
        let a_value = op_of(&doc.get(&task, "attempts").unwrap().unwrap().1);
        let deleting = |named: &OpId| {
            let mut forged = edit(&doc, |tx| tx.splice_text(&notes, 0, 1, "").unwrap());
            forged.operations[0].key = Key::Seq(ElementId::Id(named.clone()));
            forged.operations[0].pred = vec![named.clone()].into();
            forged
        };
        for (what, named) in [
            ("another text's character", &other_char),
            ("a map's value", &a_value),
            ("a text", &op_of(&other)),
        ] {
            let refused = check(&doc, deleting(named)).unwrap_err();
            assert!(refused.contains("not an element its list or text held"), "{what}: {refused}");
        }
        let mut attempt_of_another_task = edit(&doc, |tx| tx.delete(&attempts, 0).unwrap());
        attempt_of_another_task.operations[0].key = Key::Seq(ElementId::Id(other_attempt.clone()));
        attempt_of_another_task.operations[0].pred = vec![other_attempt].into();
        assert!(check(&doc, attempt_of_another_task).unwrap_err().contains("not an element"));
        let mut inserted_elsewhere = edit(&doc, |tx| {
            tx.splice_text(&other, 0, 0, "x").unwrap();
            tx.splice_text(&notes, 0, 1, "").unwrap();
        });
        let inserted = OpId(inserted_elsewhere.start_op.get(), inserted_elsewhere.actor_id.clone());
        inserted_elsewhere.operations[1].key = Key::Seq(ElementId::Id(inserted.clone()));
        inserted_elsewhere.operations[1].pred = vec![inserted].into();
        assert!(check(&doc, inserted_elsewhere).unwrap_err().contains("inserted into another list or text"));

        // Honest deletes.
        check(&doc, edit(&doc, |tx| tx.splice_text(&notes, 1, 3, "").unwrap())).unwrap();
        check(&doc, edit(&doc, |tx| tx.delete(&attempts, 0).unwrap())).unwrap();
        check(
            &doc,
            edit(&doc, |tx| {
                tx.splice_text(&notes, 0, 0, "新").unwrap();
                tx.splice_text(&notes, 0, 2, "").unwrap();
            }),
        )
        .unwrap();
        let first = Change::from(edit(&doc, |tx| tx.splice_text(&notes, 0, 1, "").unwrap()));
        let mut at_once = doc.fork().with_actor(ActorId::from([3; 16]));
        let mut tx = at_once.transaction();
        tx.splice_text(&notes, 0, 1, "").unwrap();
        tx.commit();
        let mut relay = doc.clone();
        relay.apply_changes([first]).unwrap();
        check(&relay, at_once.get_last_local_change().unwrap().decode()).unwrap();
    }

    #[test]
    fn shapes_automerge_never_writes_are_refused() {
        let doc = base();
        let (task, notes) = (object(&doc, &["task"]), object(&doc, &["task", "notes"]));
        let attempts = object(&doc, &["task", "attempts"]);
        let put_status = |doc: &Automerge| edit(doc, |tx| tx.put(&task, "status", "open").unwrap());

        for start in [3, doc.get_changes(&[])[0].max_op() + 2, u64::from(u32::MAX)] {
            let mut numbered = put_status(&doc);
            numbered.start_op = std::num::NonZeroU64::new(start).unwrap();
            let refused = check(&doc, numbered).unwrap_err();
            assert!(refused.contains("numbers a change's operations from the next"), "{start}: {refused}");
        }
        let mut twice = put_status(&doc);
        twice.deps = vec![twice.deps[0], twice.deps[0]];
        assert!(check(&doc, twice).unwrap_err().contains("twice"));
        let mut long_actor = put_status(&doc);
        long_actor.actor_id = ActorId::from(vec![7u8; 1000]);
        assert!(check(&doc, long_actor).unwrap_err().contains("its actor is 1000 bytes"));

        let mut insert_over = edit(&doc, |tx| tx.splice_text(&notes, 0, 0, "a").unwrap());
        insert_over.operations[0].pred = vec![OpId(2, ActorId::from([1; 16]))].into();
        assert!(check(&doc, insert_over).unwrap_err().contains("names something it overwrites"));
        let mut delete_other = edit(&doc, |tx| tx.splice_text(&notes, 0, 1, "").unwrap());
        delete_other.operations[0].pred = vec![OpId(7, ActorId::from([1; 16]))].into();
        assert!(check(&doc, delete_other).unwrap_err().contains("other than by deleting it"));

        let mut key_into_list = edit(&doc, |tx| tx.put(&attempts, 0, "x").unwrap());
        key_into_list.operations[0].key = Key::Map("zzz".into());
        key_into_list.operations[0].insert = false;
        assert!(check(&doc, key_into_list).unwrap_err().contains("by key \"zzz\" into a List"));

        let mut position_into_map = edit(&doc, |tx| tx.insert(&attempts, 0, "x").unwrap());
        position_into_map.operations[0].obj = put_status(&doc).operations[0].obj.clone();
        assert!(check(&doc, position_into_map).unwrap_err().contains("by position into a Map"));

        let mut delete_nothing = edit(&doc, |tx| tx.delete(&task, "notes").unwrap());
        delete_nothing.operations[0].pred = Vec::new().into();
        assert!(check(&doc, delete_nothing).unwrap_err().contains("without naming"));

        // A write naming an operation of another key, and one naming nothing over a value its
        // author had seen (a "concurrent" claim).
        let mut other_key = edit(&doc, |tx| tx.delete(&task, "notes").unwrap());
        let attempts_op = match &attempts {
            automerge::ObjId::Id(c, a, _) => OpId(*c, a.clone()),
            automerge::ObjId::Root => unreachable!(),
        };
        other_key.operations[0].pred = vec![attempts_op].into();
        assert!(check(&doc, other_key).unwrap_err().contains("naming other operations"));
        let mut as_if_concurrent = edit(&doc, |tx| tx.put(&task, "attempts", "x").unwrap());
        as_if_concurrent.operations[0].pred = Vec::new().into();
        assert!(check(&doc, as_if_concurrent).unwrap_err().contains("naming other operations"));
        let mut twice_in_one = edit(&doc, |tx| {
            tx.put(&task, "status", "open").unwrap();
            tx.put(&task, "status", "closed").unwrap();
        });
        twice_in_one.operations[1].pred = Vec::new().into();
        assert!(check(&doc, twice_in_one).unwrap_err().contains("naming other operations"));

        let counter = edit(&doc, |tx| tx.put(&task, "n", ScalarValue::counter(1)).unwrap());
        assert!(check(&doc, counter).unwrap_err().contains("counter"));

        let object_in_text = edit(&doc, |tx| {
            tx.insert_object(&notes, 0, ObjType::Map).unwrap();
        });
        assert!(check(&doc, object_in_text).unwrap_err().contains("inside a text"));

        let mut word_in_text = edit(&doc, |tx| tx.splice_text(&notes, 0, 0, "a").unwrap());
        word_in_text.operations[0].action = OpType::Put(ScalarValue::Str("a whole word".into()));
        assert!(check(&doc, word_in_text).unwrap_err().contains("not one new character"));

        let mark = edit(&doc, |tx| {
            tx.mark(
                &notes,
                automerge::marks::Mark::new("bold".into(), true, 0, 1),
                automerge::marks::ExpandMark::None,
            )
            .unwrap();
        });
        assert!(check(&doc, mark).unwrap_err().contains("mark"));

        let deep = edit(&doc, |tx| {
            let mut obj = task.clone();
            for _ in 0..limits::OBJECT_DEPTH {
                obj = tx.put_object(&obj, "deeper", ObjType::Map).unwrap();
            }
        });
        assert!(check(&doc, deep).unwrap_err().contains("levels below the document's root"));
        let deep_enough = edit(&doc, |tx| {
            let mut obj = task.clone();
            for _ in 1..limits::OBJECT_DEPTH {
                obj = tx.put_object(&obj, "deeper", ObjType::Map).unwrap();
            }
        });
        check(&doc, deep_enough).unwrap();
    }
}
