//! Round rules. Coordinators plan: they create, assign, cancel and close. Volunteers and medics
//! may set a task's assignee from nobody to themselves or from themselves to nobody, and append
//! attempts in their own name; nothing else. Attempts are append-only for everyone, and a closed
//! round takes no changes except a coordinator reopening it.
//!
//! Claims are judged by what the author overwrote, not by who wins afterwards: two volunteers
//! who both claim a free task offline both made a legitimate claim, and Automerge keeps both
//! values for the coordinator to settle (DESIGN §2). Overwriting someone else's assignment is
//! what the rule forbids.

use automerge::{Automerge, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value, ValueRef};

use super::Effect;
use crate::document::{read, round};
use crate::id::{PersonId, TaskId};
use crate::limits;
use crate::permission::Rule;
use crate::schema::task::{Attempt, Task};
use crate::schema::vocabulary::RoundStatus;
use crate::validate::schema::{self, ATTEMPT, CANCELLATION, Slot, TASK};
use crate::validate::violation::Problem;

/// Root fields of a round besides the header and the tasks.
const INFO_FIELDS: &[&str] = &["title", "round_kind", "date", "status"];
/// Every root field of a round besides the header.
const ROOT_FIELDS: &[&str] = &["title", "round_kind", "date", "status", round::TASKS];
/// The task fields a volunteer or medic may write.
const CLAIMABLE_FIELDS: &[&str] = &["assignee", "attempts"];

pub(super) fn check(e: &Effect<'_>) -> Result<(), Problem> {
    check_closed(e)?;
    if !e.coordinating()
        && let Some(what) = e.root_write()
    {
        return Err(Problem::forbidden(Rule::RoundsArePlannedByCoordinators, what));
    }
    schema::check_root_keys(e.touched.root.iter(), ROOT_FIELDS, "round")?;
    if e.creates() || INFO_FIELDS.iter().any(|f| e.touched.root.contains(*f)) {
        round::info(e.header.id, e.after)
            .map_err(|err| Problem::schema(format!("the round's header fields: {err}")))?;
        schema::check_fields(e.after, &ROOT, &ROUND_ROOT, "the round")?;
    }
    schema::check_collection(e.after, round::TASKS)?;
    let mut added = false;
    for (key, touch) in e.touched.in_collection(round::TASKS) {
        let label = format!("task {key}");
        let before = schema::slot(e.before, round::TASKS, key);
        let after = schema::slot(e.after, round::TASKS, key);
        added |= !before.is_present() && after.is_present();
        if !e.coordinating() {
            let verb = match (before.is_present(), after.is_present()) {
                (false, _) => Some("add"),
                (true, false) => Some("remove"),
                (true, true) if touch.whole => Some("replace"),
                (true, true) => None,
            };
            if let Some(verb) = verb {
                return Err(Problem::forbidden(
                    Rule::RoundsArePlannedByCoordinators,
                    format!("{} may not {verb} {label}", e.who()),
                ));
            }
            if let Some(field) = touch.fields.iter().find(|f| !CLAIMABLE_FIELDS.contains(&f.as_str())) {
                return Err(Problem::forbidden(
                    Rule::RoundsArePlannedByCoordinators,
                    format!("{} may not change {label}'s {field:?}", e.who()),
                ));
            }
        }
        check_attempts(e, &before, &after, &label)?;
        let id: TaskId = schema::parse_key(key, "task")?;
        let Some(obj) = schema::map_after(&after, &label)? else {
            continue;
        };
        let task = round::read_task(e.after, e.header.id, id, &obj)
            .map_err(|err| Problem::schema(format!("{label}: {err}")))?;
        schema::check_fields(e.after, &obj, &TASK, &label)?;
        match e.after.get(&obj, "cancelled") {
            Ok(None) => {}
            Ok(Some((Value::Object(ObjType::Map), cancelled))) => {
                schema::check_fields(e.after, &cancelled, &CANCELLATION, &format!("{label}'s cancellation"))?;
            }
            // The task reader treats anything but a map as "not cancelled"; the relay refuses it.
            Ok(Some(_)) | Err(_) => {
                return Err(Problem::schema(format!("{label}: field \"cancelled\" is not a map")));
            }
        }
        if !e.coordinating() {
            check_claim_only(e, &before, &obj, task, &label)?;
        }
    }
    if added {
        let count =
            read::object(e.after, &ROOT, round::TASKS, ObjType::Map).map_or(0, |m| e.after.length(&m));
        if count > limits::TASKS_PER_ROUND {
            return Err(Problem::too_large(format!(
                "the round holds {count} tasks; at most {} are allowed",
                limits::TASKS_PER_ROUND
            )));
        }
    }
    Ok(())
}

/// The round's root: header, round fields and tasks, with the limits of its texts.
const ROUND_ROOT: schema::Spec = schema::Spec {
    noun: "round",
    known: &["schema", "id", "kind", "compound", "title", "round_kind", "date", "status", round::TASKS],
    short: &["title", "date"],
    long: &[],
    text: &[],
    counts: &[],
};

/// A round closed before the batch takes nothing, unless a coordinator reopens it.
fn check_closed(e: &Effect<'_>) -> Result<(), Problem> {
    if e.creates() {
        return Ok(());
    }
    let Ok(info) = round::info(e.header.id, e.before) else {
        return Ok(());
    };
    if info.status != RoundStatus::Closed {
        return Ok(());
    }
    let reopened = round::info(e.header.id, e.after).is_ok_and(|i| i.status == RoundStatus::Open);
    if e.coordinating() && reopened {
        return Ok(());
    }
    let hint = if e.coordinating() { "; reopen it first" } else { "" };
    Err(Problem::forbidden(
        Rule::ClosedRoundsAreFinal,
        format!("round {:?} is closed; {} may not change it{hint}", info.title, e.who()),
    ))
}

/// One element of a task's attempts list: its object and what it reads as.
type Element = (ObjId, Result<Attempt, String>);

/// The elements of the attempts list of the task in `slot` (none if there is no task or list).
fn attempt_elements(doc: &Automerge, slot: &Slot, label: &str) -> Result<Vec<Element>, Problem> {
    let Slot::Map(task) = slot else {
        return Ok(Vec::new());
    };
    let list = match doc.get(task, "attempts") {
        Ok(None) => return Ok(Vec::new()),
        Ok(Some((Value::Object(ObjType::List), list))) => list,
        Ok(Some(_)) | Err(_) => {
            return Err(Problem::schema(format!("{label}: field \"attempts\" is not a list")));
        }
    };
    Ok(doc
        .list_range(&list, ..)
        .map(|item| {
            let read = match item.value {
                ValueRef::Object(ObjType::Map) => {
                    round::read_attempt(doc, &item.id()).map_err(|err| err.to_string())
                }
                _ => Err("is not a map".to_owned()),
            };
            (item.id(), read)
        })
        .collect())
}

/// Attempts are only ever appended, and only in the author's own name.
fn check_attempts(e: &Effect<'_>, before: &Slot, after: &Slot, label: &str) -> Result<(), Problem> {
    let forbid = |what: String| Problem::forbidden(Rule::AttemptsAreAppendOnly, what);
    // A list that was already malformed before the batch is reported only if touched again.
    let old = attempt_elements(e.before, before, label).unwrap_or_default();
    let new = attempt_elements(e.after, after, label)?;
    for (id, attempt) in &old {
        match new.iter().find(|(n, _)| n == id) {
            None => {
                let what =
                    if after.is_present() { "remove an attempt from" } else { "remove, with its attempts," };
                return Err(forbid(format!("{} may not {what} {label}", e.who())));
            }
            Some((_, now)) if now != attempt => {
                return Err(forbid(format!("{} may not edit an attempt of {label}", e.who())));
            }
            Some(_) => {}
        }
    }
    for (index, (id, attempt)) in new.iter().enumerate() {
        let attempt_label = format!("{label}'s attempt {index}");
        let attempt = attempt.as_ref().map_err(|err| Problem::schema(format!("{attempt_label}: {err}")))?;
        schema::check_fields(e.after, id, &ATTEMPT, &attempt_label)?;
        let appended = !old.iter().any(|(o, _)| o == id);
        if appended && attempt.by != e.author.person {
            return Err(forbid(format!(
                "{} may not record an attempt on {label} in the name of {}",
                e.who(),
                attempt.by
            )));
        }
    }
    Ok(())
}

/// A volunteer's or medic's batch may change a task's assignee and attempts only, and the
/// assignee only from nobody to themselves or from themselves to nobody.
fn check_claim_only(
    e: &Effect<'_>,
    before: &Slot,
    obj: &ObjId,
    mut after: Task,
    label: &str,
) -> Result<(), Problem> {
    let Slot::Map(before_obj) = before else {
        return Ok(());
    };
    let unchanged = round::read_task(e.before, e.header.id, after.id, before_obj).is_ok_and(|before| {
        after.assignee = before.assignee;
        after.attempts.clone_from(&before.attempts);
        before == after
    });
    if !unchanged {
        return Err(Problem::forbidden(
            Rule::RoundsArePlannedByCoordinators,
            format!("{} may change only {label}'s assignee and attempts", e.who()),
        ));
    }
    // Compare the assignee values written (Automerge keeps every concurrent one) before and
    // after: the values the batch added and the ones it overwrote must each be nobody or the
    // author.
    let old = assignee_values(e.before, before_obj);
    let new = assignee_values(e.after, obj);
    let me = e.author.person;
    let mine_or_nobody = |v: &Option<Option<PersonId>>| matches!(v, Some(None)) || *v == Some(Some(me));
    for (id, value) in &new {
        if !old.iter().any(|(o, _)| o == id) && !mine_or_nobody(value) {
            return Err(Problem::forbidden(
                Rule::VolunteersClaimOnlyFreeTasks,
                format!("{} may not assign {label} to {}", e.who(), describe(value)),
            ));
        }
    }
    for (id, value) in &old {
        if !new.iter().any(|(n, _)| n == id) && !mine_or_nobody(value) {
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
