//! Round rules. Coordinators plan: they create, assign, cancel and close. Volunteers and medics
//! may set a task's assignee from nobody to themselves or from themselves to nobody, and append
//! attempts in their own name; nothing else (the table in [`rulebook`](crate::rulebook) says who
//! writes which field). Attempts are append-only for everyone. A closed round takes a coordinator
//! reopening it, a coordinator's review of its conflicts, and late field facts: changes from an
//! author who had not seen the close, with attempts made no later than the close. Each change is judged by what its author knew — the
//! document as of the change's dependencies — exactly as the phone judged it before writing.
//!
//! Claims are judged by what the author overwrote, not by who wins afterwards: two volunteers
//! who both claim a free task offline both made a legitimate claim, and Automerge keeps both
//! values for the coordinator to settle (DESIGN §2). Overwriting someone else's assignment is
//! what the rule forbids.

use std::collections::HashSet;

use automerge::legacy::{Key, ObjectId, OpId, OpType};
use automerge::{Automerge, Change, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value, ValueRef};

use super::{Effect, entities, in_roster, reviews};
use crate::document::{self, read, round};
use crate::id::{PersonId, TaskId};
use crate::limits;
use crate::permission::Rule;
use crate::query::change_ops;
use crate::rulebook::state::{self, RoundWrite};
use crate::rulebook::table::{ATTEMPT, CANCELLATION, ROUND, TASK};
use crate::schema::task::Attempt;
use crate::schema::vocabulary::RoundStatus;
use crate::time::Timestamp;
use crate::validate::schema::{self, Slot};
use crate::validate::violation::Problem;

/// Root fields of a round that make up its header.
const INFO_FIELDS: &[&str] = &["title", "round_kind", "date", "status"];

pub(super) fn check(e: &Effect<'_>) -> Result<(), Problem> {
    let closed = closed_before(e)?;
    if !e.coordinating()
        && let Some(what) = e.root_write()
    {
        return Err(Problem::forbidden(Rule::RoundsArePlannedByCoordinators, what));
    }
    entities::check_root(e, &ROUND, "round")?;
    if e.creates() || INFO_FIELDS.iter().any(|f| e.touched.root.contains(*f)) {
        round::info(e.header.id, e.after)
            .map_err(|err| Problem::schema(format!("the round's header fields: {err}")))?;
    }
    schema::check_collection(e.after, round::TASKS)?;
    let mut added = false;
    for present in entities::check(e, round::TASKS, &TASK, |_| false)? {
        added |= present.added;
        let label = &present.label;
        check_attempts(e, &present.before, &present.obj, label, closed)?;
        let id: TaskId = schema::parse_key(&present.key, "task")?;
        let task = round::read_task_but_attempts(e.after, e.header.id, id, &present.obj)
            .map_err(|err| Problem::schema(format!("{label}: {err}")))?;
        if in_roster::names_anew(e, round::TASKS, &present) {
            in_roster::check(e, task.household, label)?;
        }
        // Every value the assignee holds, the losing concurrent ones too, is a person or nobody:
        // the claim rules judge each one, so a text or a stray string, even from a coordinator,
        // would make the task unclaimable for good.
        if assignee_values(e.after, &present.obj).iter().any(|(_, value)| value.is_none()) {
            return Err(Problem::schema(format!(
                "{label}: field \"assignee\" holds something that is neither a person ID nor null"
            )));
        }
        match e.after.get(&present.obj, "cancelled") {
            Ok(None) => {}
            Ok(Some((Value::Object(ObjType::Map), cancelled))) => {
                let what = format!("{label}'s cancellation");
                schema::check_fields(e.after, &cancelled, &CANCELLATION, &what, e.changes, e.ops)?;
                let touched = e
                    .touched
                    .in_collection(round::TASKS)
                    .any(|(k, t)| *k == present.key && (t.whole || t.fields.contains("cancelled")));
                if touched {
                    schema::check_times(e.after, &cancelled, &CANCELLATION, &what, e.now, &e.who())?;
                }
            }
            // The task reader treats anything but a map as "not cancelled"; the relay refuses it.
            Ok(Some(_)) | Err(_) => {
                return Err(Problem::schema(format!("{label}: field \"cancelled\" is not a map")));
            }
        }
        if !e.coordinating()
            && let Slot::Map(before) = &present.before
        {
            check_claims(e, before, &present.obj, label)?;
        }
    }
    check_removed_tasks(e)?;
    reviews::check(e)?;
    if added && let Some(tasks) = read::object(e.after, &ROOT, round::TASKS, ObjType::Map) {
        // Judged as each change's author saw the round, as merged texts are: coordinators
        // adding tasks offline to a nearly full round merge past the limit each kept within.
        let count = e.after.length(&tasks);
        let count_at = |heads: &[automerge::ChangeHash]| e.after.length_at(&tasks, heads);
        let each_kept_within = || {
            e.changes.iter().all(|c| {
                state::keeps_within(limits::TASKS_PER_ROUND, count_at(c.deps()), count_at(&[c.hash()]))
            })
        };
        if count > limits::TASKS_PER_ROUND && (count > limits::MERGED_TASKS_PER_ROUND || !each_kept_within())
        {
            return Err(Problem::too_large(format!(
                "the round holds {count} tasks; at most {} are allowed",
                limits::TASKS_PER_ROUND
            )));
        }
    }
    Ok(())
}

/// A round closed before the batch takes a change only from an author who had not seen it
/// closed (a late field fact), or one that only adds reviews of its conflicts
/// ([`round_write`]), unless a coordinator reopens it. Returns the close's time when
/// the round stays closed, so that late attempts can be held to it.
fn closed_before(e: &Effect<'_>) -> Result<Option<Option<Timestamp>>, Problem> {
    if e.creates() {
        return Ok(None);
    }
    let Ok(info) = round::info(e.header.id, e.before) else {
        return Ok(None);
    };
    if info.status != RoundStatus::Closed {
        return Ok(None);
    }
    let reopened = round::info(e.header.id, e.after).is_ok_and(|i| i.status == RoundStatus::Open);
    if e.coordinating() && reopened {
        return Ok(None);
    }
    for change in e.changes {
        let closed = closed_as_seen_by(e.after, change);
        let writes = if closed { round_write(e.after, change) } else { RoundWrite::Facts };
        state::require_open_round(closed, writes).map_err(|rule| {
            let hint = if e.coordinating() { "; reopen it first" } else { "" };
            Problem::forbidden(
                rule,
                format!(
                    "round {:?} is closed and the change was made after its author saw it closed; {} may not change it{hint}",
                    info.title,
                    e.who()
                ),
            )
        })?;
    }
    Ok(Some(round::closed_at(e.before)))
}

/// Whether the round read as closed to the author of `change`: its status as of the change's
/// dependencies.
fn closed_as_seen_by(doc: &Automerge, change: &Change) -> bool {
    match doc.get_at(ROOT, "status", change.deps()) {
        Ok(Some((Value::Scalar(s), _))) => s.as_str() == Some(RoundStatus::Closed.as_str()),
        _ => false,
    }
}

/// What `change` writes into the round: [`RoundWrite::Reviews`] when each of its operations
/// writes into the `reviews` map as its author saw it (or makes that map, where its author saw
/// none), or into an object the change made there; anything else is the round's facts. What a
/// review may hold, and who adds one, is the reviews rule's ([`reviews::check`]).
fn round_write(doc: &Automerge, change: &Change) -> RoundWrite {
    let mut reviews_map = match doc.get_at(ROOT, document::reviews::REVIEWS, change.deps()) {
        Ok(None) => None,
        Ok(Some((Value::Object(ObjType::Map), ObjId::Id(counter, actor, _)))) => {
            Some(ObjectId::Id(OpId(counter, actor)))
        }
        _ => return RoundWrite::Facts,
    };
    let mut made: HashSet<ObjectId> = HashSet::new();
    for (id, op) in change_ops::operations(change) {
        let makes = matches!(op.action, OpType::Make(_));
        match &op.obj {
            ObjectId::Root => {
                let makes_reviews = reviews_map.is_none()
                    && matches!(op.action, OpType::Make(ObjType::Map))
                    && matches!(&op.key, Key::Map(key) if key.as_str() == document::reviews::REVIEWS);
                if !makes_reviews {
                    return RoundWrite::Facts;
                }
                reviews_map = Some(ObjectId::Id(id));
            }
            obj if reviews_map.as_ref() == Some(obj) || made.contains(obj) => {
                if makes {
                    made.insert(ObjectId::Id(id));
                }
            }
            _ => return RoundWrite::Facts,
        }
    }
    RoundWrite::Reviews
}

/// A coordinator may remove a task, but not one with attempts: attempts are never removed.
fn check_removed_tasks(e: &Effect<'_>) -> Result<(), Problem> {
    for (key, _) in e.touched.in_collection(round::TASKS) {
        let before = schema::slot(e.before, round::TASKS, key);
        if before.is_present() && !schema::slot(e.after, round::TASKS, key).is_present() {
            let attempts = attempt_elements(e.before, &before, "").map(|a| a.len()).unwrap_or(0);
            if attempts > 0 {
                return Err(Problem::forbidden(
                    Rule::AttemptsAreAppendOnly,
                    format!("{} may not remove, with its attempts, task {key}", e.who()),
                ));
            }
        }
    }
    Ok(())
}

/// One element of a task's attempts list: its object, and whether that is a map.
type Element = (ObjId, bool);

/// The attempts list of the task in `slot` and its elements (none if there is no task or list),
/// without reading them: a task's attempts are read only where a batch added or wrote into one.
fn attempt_list(doc: &Automerge, slot: &Slot, label: &str) -> Result<Option<(ObjId, Vec<Element>)>, Problem> {
    let Slot::Map(task) = slot else {
        return Ok(None);
    };
    let list = match doc.get(task, "attempts") {
        Ok(None) => return Ok(None),
        Ok(Some((Value::Object(ObjType::List), list))) => list,
        Ok(Some(_)) | Err(_) => {
            return Err(Problem::schema(format!("{label}: field \"attempts\" is not a list")));
        }
    };
    let elements = doc
        .list_range(&list, ..)
        .map(|item| (item.id(), matches!(item.value, ValueRef::Object(ObjType::Map))))
        .collect();
    Ok(Some((list, elements)))
}

/// What the element `(id, is_map)` of an attempts list reads as in `doc`.
fn read_element(doc: &Automerge, (id, is_map): &Element) -> Result<Attempt, String> {
    if *is_map {
        round::read_attempt(doc, id).map_err(|err| err.to_string())
    } else {
        Err("is not a map".to_owned())
    }
}

fn attempt_elements(doc: &Automerge, slot: &Slot, label: &str) -> Result<Vec<Element>, Problem> {
    Ok(attempt_list(doc, slot, label)?.map(|(_, e)| e).unwrap_or_default())
}

/// Attempts are only ever appended (at the end of the list as the author saw it), only in the
/// author's own name, only to a task the author did not know was cancelled, and with a time
/// near the relay's clock; on a round closed meanwhile, only if made before the close.
fn check_attempts(
    e: &Effect<'_>,
    before: &Slot,
    task: &ObjId,
    label: &str,
    closed: Option<Option<Timestamp>>,
) -> Result<(), Problem> {
    let forbid = |rule: Rule, what: String| Problem::forbidden(rule, what);
    // A list that was already malformed before the batch is reported only if touched again.
    let old = attempt_elements(e.before, before, label).unwrap_or_default();
    let Some((list, new)) = attempt_list(e.after, &Slot::Map(task.clone()), label)? else {
        if !old.is_empty() {
            return Err(forbid(
                Rule::AttemptsAreAppendOnly,
                format!("{} may not remove an attempt from {label}", e.who()),
            ));
        }
        return Ok(());
    };
    if new.len() > old.len() {
        if new.len() > limits::ATTEMPTS_PER_TASK {
            return Err(Problem::too_large(format!(
                "{label} would hold {} attempts; at most {} are accepted on one task",
                new.len(),
                limits::ATTEMPTS_PER_TASK
            )));
        }
        let by_author = |list: &[Element], doc: &Automerge| {
            list.iter()
                .filter(|element| read_element(doc, element).is_ok_and(|a| a.by == e.author.person))
                .count()
        };
        // Counted only when the list could hold too many of one person's: each attempt is read.
        let mine = if new.len() > limits::ATTEMPTS_BY_ONE_PERSON { by_author(&new, e.after) } else { 0 };
        if mine > limits::ATTEMPTS_BY_ONE_PERSON && mine > by_author(&old, e.before) {
            return Err(Problem::too_large(format!(
                "{label} would hold {mine} attempts by {}; at most {} by one person are accepted on one task",
                e.who(),
                limits::ATTEMPTS_BY_ONE_PERSON
            )));
        }
    }
    let kept: HashSet<&ObjId> = new.iter().map(|(id, _)| id).collect();
    for element in &old {
        if !kept.contains(&element.0) {
            return Err(forbid(
                Rule::AttemptsAreAppendOnly,
                format!("{} may not remove an attempt from {label}", e.who()),
            ));
        }
        // A recorded attempt is never written again, whatever the write reads as (a field no
        // reader knows, a value that loses to the one there).
        if e.touched.wrote_into(&element.0) {
            return Err(forbid(
                Rule::AttemptsAreAppendOnly,
                format!("{} may not edit an attempt of {label}", e.who()),
            ));
        }
    }
    let seen: HashSet<&ObjId> = old.iter().map(|(id, _)| id).collect();
    for (index, element) in new.iter().enumerate() {
        if seen.contains(&element.0) {
            continue;
        }
        let id = &element.0;
        let attempt = read_element(e.after, element);
        let attempt_label = format!("{label}'s attempt {index}");
        let attempt = attempt.as_ref().map_err(|err| Problem::schema(format!("{attempt_label}: {err}")))?;
        schema::check_fields(e.after, id, &ATTEMPT, &attempt_label, e.changes, e.ops)?;
        state::require_own_attempt(e.author, attempt).map_err(|rule| {
            let (what, whose) = if attempt.by == e.author.person {
                ("for", attempt.knocker())
            } else {
                ("in the name of", attempt.by)
            };
            forbid(rule, format!("{} may not record an attempt on {label} {what} {whose}", e.who()))
        })?;
        schema::check_times(e.after, id, &ATTEMPT, &attempt_label, e.now, &e.who())?;
        if let Some(change) = e.after.hash_for_opid(id).and_then(|h| e.change(&h)) {
            let cancelled = matches!(e.after.get_at(task, "cancelled", change.deps()), Ok(Some(_)));
            state::require_live_task(cancelled).map_err(|rule| {
                forbid(
                    rule,
                    format!(
                        "{} may not record an attempt on {label}, which they knew was cancelled",
                        e.who()
                    ),
                )
            })?;
            if !appended_at_the_end(e.after, &list, id, change) {
                return Err(forbid(
                    Rule::AttemptsAreAppendOnly,
                    format!(
                        "{} may only append an attempt to {label}, not insert it before the attempts they had seen",
                        e.who()
                    ),
                ));
            }
        }
        if let Some(closed_at) = closed {
            state::require_made_before_close(attempt.at, closed_at).map_err(|rule| {
                forbid(
                    rule,
                    format!(
                        "the round is closed and {label}'s new attempt was made at {} (Unix ms), after the close at {} by more than two clocks can disagree ({} minutes); {} may not add it",
                        attempt.at.as_millis(),
                        closed_at.map_or_else(|| "an unrecorded time".to_owned(), |c| format!("{} (Unix ms)", c.as_millis())),
                        state::LATE_ATTEMPT_GRACE_MS / 60_000,
                        e.who()
                    ),
                )
            })?;
        }
    }
    Ok(())
}

/// Whether the element `id`, inserted by `change`, came after every element its author had
/// seen: in the list as of the change, no element that existed at the change's dependencies
/// follows it.
fn appended_at_the_end(doc: &Automerge, list: &ObjId, id: &ObjId, change: &Change) -> bool {
    let seen: Vec<ObjId> = doc.list_range_at(list, .., change.deps()).map(|item| item.id()).collect();
    let view: Vec<ObjId> = doc.list_range_at(list, .., &[change.hash()]).map(|item| item.id()).collect();
    let Some(at) = view.iter().position(|v| v == id) else {
        return true;
    };
    !view[at + 1..].iter().any(|later| seen.contains(later))
}

/// A volunteer's or medic's batch may set a task's assignee only from nobody to themselves or
/// from themselves to nobody (the table already kept them to the assignee and the attempts).
fn check_claims(e: &Effect<'_>, before_obj: &ObjId, obj: &ObjId, label: &str) -> Result<(), Problem> {
    // Compare the assignee values written (Automerge keeps every concurrent one) before and
    // after: the values the batch added and the ones it overwrote must each be nobody or the
    // author.
    let old = assignee_values(e.before, before_obj);
    let new = assignee_values(e.after, obj);
    let me = e.author.person;
    let as_person = |v: &Option<Option<PersonId>>| match v {
        Some(p) => Ok(*p),
        None => Err(()),
    };
    for (id, value) in &new {
        if !old.iter().any(|(o, _)| o == id) {
            let allowed = as_person(value)
                .ok()
                .is_some_and(|p| state::require_claim(e.author.role, me, None, p).is_ok());
            if !allowed {
                return Err(Problem::forbidden(
                    Rule::VolunteersClaimOnlyFreeTasks,
                    format!("{} may not assign {label} to {}", e.who(), describe(value)),
                ));
            }
        }
    }
    for (id, value) in &old {
        if !new.iter().any(|(n, _)| n == id) {
            let allowed = as_person(value)
                .ok()
                .is_some_and(|p| state::require_claim(e.author.role, me, p, None).is_ok());
            if !allowed {
                return Err(Problem::forbidden(
                    Rule::VolunteersClaimOnlyFreeTasks,
                    format!(
                        "{} may not take or release {label}, which is assigned to {}",
                        e.who(),
                        describe(value)
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Every value written to the task's assignee, with the ID of the write: `Some(None)` is
/// nobody, `Some(Some(p))` a person, `None` something that is not an assignee at all.
fn assignee_values(doc: &Automerge, task: &ObjId) -> Vec<(ObjId, Option<Option<PersonId>>)> {
    doc.get_all(task, "assignee")
        .unwrap_or_default()
        .into_iter()
        .map(|(value, id)| {
            let value = match value {
                Value::Scalar(s) => match s.as_ref() {
                    ScalarValue::Null => Some(None),
                    ScalarValue::Str(s) => s.parse().ok().map(Some),
                    _ => None,
                },
                Value::Object(_) => None,
            };
            (id, value)
        })
        .collect()
}

fn describe(value: &Option<Option<PersonId>>) -> String {
    match value {
        Some(Some(p)) => format!("person {p}"),
        Some(None) => "nobody".to_owned(),
        None => "a value that is not a person".to_owned(),
    }
}
