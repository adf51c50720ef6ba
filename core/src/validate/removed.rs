//! Edits into an entity removed before the batch. Automerge applies them without complaint, but
//! into an object no longer reachable from the document: the edit vanishes from every view, and
//! the phone that made it believes it arrived. The relay refuses such a batch instead, naming the
//! removed entity, so the phone keeps the edit aside for a coordinator to review (DESIGN §9: a
//! knock always reaches a coordinator). Automerge reports no patch for such writes, so they are
//! found from the changes' operations: every object written that existed before the batch must
//! still be reachable.
//!
//! Walking an object's path up to the root costs a search of the whole op set per level, which
//! made this check a tenth of the relay's work when a thousand phones came back at once (perf,
//! BENCHMARKS.md §4). An object the batch's patches name is reachable after the batch, and so was
//! before it: no change can bring back an object whose key was deleted or overwritten, since a
//! new value is a new object. Only the objects written without a patch are walked.

use std::collections::{BTreeSet, HashSet};

use automerge::legacy::ObjectId;
use automerge::{Automerge, Change, ObjId, Parent, Prop, ReadDoc};

use super::batch_ops::BatchOps;
use super::contain::contained;
use super::violation::Problem;
use crate::permission::Rule;
use crate::rulebook::table;
use crate::schema::vocabulary::DocKind;

/// Refuses `changes` if any writes into an object of `before` that is no longer reachable there.
/// `patched` holds the objects the batch's patches name (reachable after it, so before it too).
pub(super) fn check(
    before: &Automerge,
    kind: DocKind,
    changes: &[Change],
    ops: &BatchOps,
    patched: &HashSet<ObjId>,
    who: &str,
) -> Result<(), Problem> {
    let mut targets = BTreeSet::new();
    for change in changes {
        let expanded = contained("a change's operations", || change.decode()).map_err(Problem::malformed)?;
        for op in expanded.operations {
            if let ObjectId::Id(id) = &op.obj
                && !ops.hold(id.counter(), id.actor())
            {
                targets.insert(op.obj.to_string());
            }
        }
    }
    for target in targets {
        let path = contained("an object's path", || {
            let obj = before.import_obj(&target).ok()?;
            if patched.contains(&obj) {
                return None;
            }
            let parents = before.parents(&obj).ok()?;
            Some(parents.collect::<Vec<Parent>>())
        })
        .map_err(Problem::malformed)?;
        let Some(path) = path else { continue };
        if path.iter().all(|p| p.visible) {
            continue;
        }
        return Err(Problem::forbidden(
            Rule::RemovalsDoNotHideEdits,
            format!(
                "{who} edited {}, which was removed before the edit arrived; the edit is kept on the phone for a coordinator to review",
                describe(kind, &path)
            ),
        ));
    }
    Ok(())
}

/// The entity a path from an object up to the root leads through ("household 0190…").
fn describe(kind: DocKind, path: &[Parent]) -> String {
    let props: Vec<&Prop> = path.iter().rev().map(|p| &p.prop).collect();
    if let [Prop::Map(collection), Prop::Map(key), ..] = props.as_slice()
        && let Some((_, entity)) = table::layout(kind).1.iter().find(|(c, _)| c == collection)
    {
        return format!("{} {key}", entity.noun);
    }
    "an object".to_owned()
}
