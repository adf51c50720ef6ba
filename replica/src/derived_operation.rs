//! The operation behind a change this phone made, read back from the document, for a change
//! whose journal entry is gone: an entry leaves the journal once the relay holds its changes, so
//! a relay restored from a backup older than that sync lacks them while the phone no longer
//! knows the operations. Re-sent, such a change is refused when it names a person the relay no
//! longer knows (an attempt of a volunteer who joined after the backup, re-sent under the
//! person they joined again as); set aside with the operation read back from it, a coordinator
//! can apply it from the review inbox, credited to the volunteer, instead of only dismissing it.
//!
//! Read back: an attempt the change appended to a round's task (task, outcome, time, note, who
//! knocked), or the notes it left on a household of the roster. A change that did anything else,
//! or more than one such thing, reads back as nothing, as before.

use automerge::{Automerge, Change, ChangeHash};
use doorstep_core::document::{Document, roster, round};
use doorstep_core::id::{CompoundId, PersonId};
use doorstep_core::schema::vocabulary::DocKind;
use doorstep_core::{Operation, Timestamp};

use crate::journal::JournalEntry;

/// The operation `change` of `doc` (in `compound`) made, as a journal entry numbered `number`
/// (no journal row: items keep their own number apart), if it reads back as one. A notes edit
/// names no person in the document: it is `author`'s, the person signed in.
pub(crate) fn derived_entry(
    doc: &Document,
    change: &Change,
    compound: CompoundId,
    author: Option<PersonId>,
    number: i64,
) -> Option<JournalEntry> {
    let at = |heads: &[ChangeHash]| doc.automerge().fork_at(heads).ok();
    let before = at(change.deps())?;
    let after = at(&[change.hash()])?;
    let (person, operation, made_at) = match doc.header().kind {
        DocKind::Round => appended_attempt(doc, &before, &after)?,
        DocKind::Roster => {
            let (household, notes) = edited_notes(&before, &after)?;
            (author?, Operation::EditNotes { household, notes }, Timestamp::from_millis(change.timestamp()))
        }
        _ => return None,
    };
    Some(JournalEntry { id: number, compound, person, operation, made_at, entropy: Vec::new() })
}

/// The one attempt `after` holds beyond `before`, as the operation that records it.
fn appended_attempt(
    doc: &Document,
    before: &Automerge,
    after: &Automerge,
) -> Option<(PersonId, Operation, Timestamp)> {
    let id = doc.id();
    let mut appended = round::tasks(id, after).into_iter().flat_map(|task| {
        let earlier = round::task(id, before, task.id).map(|t| t.attempts).unwrap_or_default();
        let mut left = earlier;
        task.attempts
            .into_iter()
            .filter(move |a| match left.iter().position(|e| e == a) {
                Some(i) => {
                    left.remove(i);
                    false
                }
                None => true,
            })
            .map(move |a| (task.id, a))
            .collect::<Vec<_>>()
    });
    let (task, attempt) = appended.next()?;
    if appended.next().is_some() {
        return None;
    }
    let operation = match (attempt.knocked_by, attempt.knocked_at) {
        (Some(knocked_by), Some(knocked_at)) => Operation::RecordAttemptFor {
            round: id,
            task,
            outcome: attempt.outcome,
            note: attempt.note,
            knocked_by,
            knocked_at,
        },
        _ => Operation::RecordAttempt { round: id, task, outcome: attempt.outcome, note: attempt.note },
    };
    Some((attempt.by, operation, attempt.at))
}

/// The one household whose notes differ between `before` and `after`, with its notes after.
fn edited_notes(before: &Automerge, after: &Automerge) -> Option<(doorstep_core::id::HouseholdId, String)> {
    let mut edited = roster::households(after)
        .into_iter()
        .filter(|h| roster::household(before, h.id).is_some_and(|earlier| earlier.notes != h.notes));
    let household = edited.next()?;
    if edited.next().is_some() {
        return None;
    }
    Some((household.id, household.notes))
}
