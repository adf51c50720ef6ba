//! Applying a batch of incoming changes to a copy of the relay's document, checking the batch's
//! combined effect, and keeping the copy only if every rule holds. The relay's document is never
//! touched by a rejected batch, so there is nothing to undo.
//!
//! Why a copy and not apply-then-restore: Automerge cannot remove a change once applied, so a
//! restore means either cloning before applying (the same cost as the copy) or rebuilding the
//! document from its history. Measured on the 1,040-household sample roster in release
//! (`validate_cost` in `core/tests/validate.rs`): cloning it takes about 0.1 ms and checking a
//! volunteer's note edit end to end about 0.75 ms, while restoring by `fork_at(before_heads)`
//! takes 50–100 ms and by reloading the saved bytes about 15 ms. The copy also lets the rules
//! read both versions side by side, and it is what a panic inside Automerge is contained on.

use std::collections::{HashMap, HashSet, VecDeque};

use automerge::{Automerge, Change, ChangeHash, PatchLog, ReadDoc};

use super::batch_ops::BatchOps;
use super::contain::contained;
use super::element_deletes::check_element_deletes;
use super::first_change::check_first_change;
use super::op_shapes::{Deferred, check_op_shapes, check_overwrites};
use super::removed;
use super::roster_at_hand::RosterAtHand;
use super::rules::{self, Effect};
use super::touched::Touched;
use super::violation::Problem;
pub use super::violation::{Violation, ViolationKind};
use crate::document::Header;
use crate::limits;
use crate::role::Actor;
use crate::time::Timestamp;

/// Applies `changes` to `doc` on behalf of `author`, checking their combined effect against the
/// author's role, the schema of the document kind in `header` and the state rules (see
/// [`rulebook`](crate::rulebook)); `now` is the relay's clock, which recorded times must follow.
///
/// Changes `doc` already holds are skipped, so a retried request is harmless; on `Ok`, `doc`
/// holds the batch and the returned hashes are the changes newly applied, in the order applied.
/// On `Err`, `doc` is exactly as before. A document new to the relay arrives as an empty `doc`:
/// its first change must write a header equal to `header`; only coordinators and admins create
/// rounds, and only admins create a compound's roster, requests and care documents. A change
/// whose dependencies neither `doc` nor the batch holds gives [`ViolationKind::MissingDeps`].
pub fn check_and_apply(
    doc: &mut Automerge,
    header: &Header,
    author: &Actor,
    changes: Vec<Change>,
    now: Timestamp,
) -> Result<Vec<ChangeHash>, Violation> {
    check_and_apply_within(doc, header, author, changes, now, &|| true)
}

/// [`check_and_apply`], asking `go_on` before each further application of the batch that
/// finding the change to blame takes: when it says no, the violation names no change (and the
/// batch is refused whole). A refused batch of 20,000 changes was applied fifteen more times
/// to name the one, 37 s of a core with the document locked, past the request's deadline.
pub fn check_and_apply_within(
    doc: &mut Automerge,
    header: &Header,
    author: &Actor,
    changes: Vec<Change>,
    now: Timestamp,
    go_on: &dyn Fn() -> bool,
) -> Result<Vec<ChangeHash>, Violation> {
    check_and_apply_against(doc, header, author, changes, now, &RosterAtHand::NotConsulted, go_on)
}

/// [`check_and_apply_within`], with the households that new tasks, requests and care entries
/// name looked up in `roster`, the compound's roster as the relay holds it (the relay's sync;
/// [`check_and_apply`] checks one document alone).
pub fn check_and_apply_against(
    doc: &mut Automerge,
    header: &Header,
    author: &Actor,
    changes: Vec<Change>,
    now: Timestamp,
    roster: &RosterAtHand,
    go_on: &dyn Fn() -> bool,
) -> Result<Vec<ChangeHash>, Violation> {
    let document = header.id;
    let batch = unseen(doc, changes);
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    for change in &batch {
        let size = change.raw_bytes().len();
        if size > limits::CHANGE_BYTES {
            return Err(Problem::too_large(format!(
                "the change is {size} bytes; at most {} are accepted",
                limits::CHANGE_BYTES
            ))
            .place(document, Some(change.hash())));
        }
    }
    let ordered = order(doc, batch).map_err(|(problem, change)| problem.place(document, change))?;
    let deferred = contained("a change's operations", || check_op_shapes(doc, &ordered))
        .map_err(|reason| Problem::malformed(reason).place(document, None))?
        .map_err(|(problem, change)| problem.place(document, Some(change)))?;
    let context = Context { header, author, now, deferred: &deferred, roster };
    let after = evaluate(doc, &context, &ordered)
        .map_err(|problem| blame(doc, &context, &ordered, problem, go_on))?;
    if doc.get_heads().is_empty() {
        check_first_change(header, &ordered)?;
    }
    *doc = after;
    Ok(ordered.iter().map(Change::hash).collect())
}

/// The changes of `changes` that `doc` lacks, each once.
fn unseen(doc: &Automerge, changes: Vec<Change>) -> Vec<Change> {
    let mut seen = HashSet::new();
    let candidates: Vec<Change> = changes.into_iter().filter(|c| seen.insert(c.hash())).collect();
    let hashes: Vec<ChangeHash> = candidates.iter().map(Change::hash).collect();
    let lacking: HashSet<ChangeHash> = doc.get_missing_deps(&hashes).into_iter().collect();
    candidates.into_iter().filter(|c| lacking.contains(&c.hash())).collect()
}

/// Orders the batch so that every change follows its dependencies (stable otherwise), after
/// checking that every dependency is in `doc` or in the batch.
fn order(doc: &Automerge, batch: Vec<Change>) -> Result<Vec<Change>, (Problem, Option<ChangeHash>)> {
    let index: HashMap<ChangeHash, usize> = batch.iter().enumerate().map(|(i, c)| (c.hash(), i)).collect();
    let outside: Vec<ChangeHash> = batch
        .iter()
        .flat_map(|c| c.deps().iter().copied())
        .filter(|d| !index.contains_key(d))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let lacking: HashSet<ChangeHash> = doc.get_missing_deps(&outside).into_iter().collect();
    for change in &batch {
        if let Some(dep) = change.deps().iter().find(|d| !index.contains_key(*d) && lacking.contains(*d)) {
            return Err((
                Problem {
                    kind: ViolationKind::MissingDeps,
                    reason: format!(
                        "the change depends on change {dep}, which neither the relay nor this batch holds; it is kept on the phone and sent again once its dependencies have arrived"
                    ),
                },
                Some(change.hash()),
            ));
        }
    }
    let mut waiting: Vec<usize> =
        batch.iter().map(|c| c.deps().iter().filter(|d| index.contains_key(*d)).count()).collect();
    let mut dependents: HashMap<usize, Vec<usize>> = HashMap::new();
    for (i, change) in batch.iter().enumerate() {
        for dep in change.deps() {
            if let Some(&d) = index.get(dep) {
                dependents.entry(d).or_default().push(i);
            }
        }
    }
    let mut ready: VecDeque<usize> = (0..batch.len()).filter(|&i| waiting[i] == 0).collect();
    let mut sequence = Vec::with_capacity(batch.len());
    while let Some(i) = ready.pop_front() {
        sequence.push(i);
        for &next in dependents.get(&i).map(Vec::as_slice).unwrap_or_default() {
            waiting[next] -= 1;
            if waiting[next] == 0 {
                ready.push_back(next);
            }
        }
    }
    if sequence.len() != batch.len() {
        // Hashes make a cycle impossible to build; this is a corrupt batch.
        return Err((
            Problem {
                kind: ViolationKind::Malformed,
                reason: "the changes' dependencies form a cycle".into(),
            },
            None,
        ));
    }
    let mut slots: Vec<Option<Change>> = batch.into_iter().map(Some).collect();
    Ok(sequence.into_iter().filter_map(|i| slots[i].take()).collect())
}

/// What a batch is checked against besides the document: its identity, its author and the
/// relay's clock.
struct Context<'a> {
    header: &'a Header,
    author: &'a Actor,
    now: Timestamp,
    /// What only the applied batch can check: the writes to map keys and the deletes in lists
    /// and texts.
    deferred: &'a Deferred,
    /// The compound's roster, for the households new work names.
    roster: &'a RosterAtHand,
}

/// Applies `changes` (in order) to a copy of `doc`, finds what they touched and checks the
/// effect; the copy, if every rule holds.
fn evaluate(doc: &Automerge, context: &Context<'_>, changes: &[Change]) -> Result<Automerge, Problem> {
    let Context { header, author, now, deferred, roster } = *context;
    let malformed = |reason: String| Problem { kind: ViolationKind::Malformed, reason };
    let mut after = doc.clone();
    let mut log = PatchLog::active();
    let patches = contained("the changes", || {
        after.apply_changes_log_patches(changes.to_vec(), &mut log)?;
        Ok::<_, automerge::AutomergeError>(after.make_patches(&mut log))
    })
    .map_err(malformed)?
    .map_err(|e| match e {
        automerge::AutomergeError::DuplicateSeqNumber(seq, actor) => Problem {
            kind: ViolationKind::ActorReused,
            reason: format!(
                "change {seq} of actor {actor} is already held with other content: this phone writes \
                 from an older copy of its data (restored from a backup?) and must write under a new actor"
            ),
        },
        e => malformed(format!("the changes cannot be applied: {e}")),
    })?;
    contained("what the changes overwrite", || check_overwrites(&after, changes, &deferred.overwrites))
        .map_err(malformed)??;
    contained("what the changes delete", || {
        check_element_deletes(doc, &after, changes, &deferred.deletes, &deferred.inserted)
    })
    .map_err(malformed)??;
    let hashes: Vec<ChangeHash> = changes.iter().map(Change::hash).collect();
    if let Some(&missing) = after.get_missing_deps(&hashes).first() {
        return Err(Problem {
            kind: ViolationKind::MissingDeps,
            reason: format!("change {missing} could not be applied: its dependencies are missing"),
        });
    }
    let collections = rules::collections(header.kind);
    let mut touched = Touched::from_patches(&patches, &collections);
    touched.expand_replaced_collections(&collections, doc, &after);
    let ops = BatchOps::of(changes);
    let effect = Effect {
        header,
        author,
        before: doc,
        after: &after,
        touched: &touched,
        changes,
        ops: &ops,
        now,
        roster,
    };
    rules::check(&effect)?;
    let patched: HashSet<automerge::ObjId> = patches.iter().map(|p| p.obj.clone()).collect();
    removed::check(doc, header.kind, changes, &ops, &patched, &effect.who())?;
    Ok(after)
}

/// Names the change that introduced `problem` (a broken rule, or changes Automerge cannot
/// apply): the first change whose prefix of the batch already fails with the same problem. Runs on the error path only, by bisection, so a long
/// batch costs a few re-applications rather than one per change; none when it is alone, and no
/// more once `go_on` says no (then no change is named).
fn blame(
    doc: &Automerge,
    context: &Context<'_>,
    ordered: &[Change],
    problem: Problem,
    go_on: &dyn Fn() -> bool,
) -> Violation {
    let fails_the_same = |n: usize| evaluate(doc, context, &ordered[..n]).err().as_ref() == Some(&problem);
    // Invariant: the first `lo` changes do not fail this way; the first `hi` do.
    let (mut lo, mut hi) = (0, ordered.len());
    while hi - lo > 1 {
        if !go_on() {
            return problem.place(context.header.id, None);
        }
        let mid = lo + (hi - lo) / 2;
        if fails_the_same(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    let change = ordered.get(hi - 1).map(Change::hash);
    problem.place(context.header.id, change)
}
