//! The round document: a delivery round's header and its tasks.

use automerge::transaction::Transactable;
use automerge::{Automerge, AutomergeError, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value};

use super::read::{self, SchemaError};
use super::roster::{collection, entity};
use crate::id::{DocumentId, HouseholdId, PersonId, RequestId, TaskId};
use crate::schema::task::{Attempt, Cancellation, RoundInfo, Task};
use crate::schema::vocabulary::{Priority, RoundStatus, TaskKind};
use crate::time::Timestamp;

/// Key of the tasks map.
pub const TASKS: &str = "tasks";
/// Key of the time a coordinator closed the round (absent while it is open).
pub const CLOSED_AT: &str = "closed_at";
/// Key of an attempt's knocker, when a coordinator recorded the knock for them.
pub const KNOCKED_BY: &str = "knocked_by";
/// Key of the time they knocked, when a coordinator recorded the knock for them.
pub const KNOCKED_AT: &str = "knocked_at";

/// The round's header, if the document has one.
pub fn info(document: DocumentId, doc: &Automerge) -> Result<RoundInfo, SchemaError> {
    Ok(RoundInfo {
        document,
        title: read::string(doc, &ROOT, "title")?,
        kind: read::parsed(doc, &ROOT, "round_kind")?,
        date: read::string(doc, &ROOT, "date")?,
        status: read::parsed(doc, &ROOT, "status")?,
    })
}

/// When the round was closed, if it is closed and the close recorded its time (rounds closed
/// before the time was recorded have none).
pub fn closed_at(doc: &Automerge) -> Option<Timestamp> {
    read::int(doc, &ROOT, CLOSED_AT).ok().map(Timestamp::from_millis)
}

/// Closes the round at `at`.
pub(crate) fn put_closed(tx: &mut impl Transactable, at: Timestamp) -> Result<(), AutomergeError> {
    tx.put(ROOT, "status", RoundStatus::Closed.as_str())?;
    tx.put(ROOT, CLOSED_AT, at.as_millis())
}

/// Reopens the round.
pub(crate) fn put_reopened(tx: &mut impl Transactable) -> Result<(), AutomergeError> {
    tx.put(ROOT, "status", RoundStatus::Open.as_str())?;
    if tx.get(ROOT, CLOSED_AT)?.is_some() {
        tx.delete(ROOT, CLOSED_AT)?;
    }
    Ok(())
}

/// Every readable task.
pub fn tasks(document: DocumentId, doc: &Automerge) -> Vec<Task> {
    read::entries(doc, &ROOT, TASKS, |id, obj| read_task(doc, document, id, obj))
}

/// The object of task `id`, if the round holds it.
pub(crate) fn task_object(doc: &Automerge, id: TaskId) -> Option<ObjId> {
    entity(doc, TASKS, &id.to_string())
}

/// One task.
pub fn task(document: DocumentId, doc: &Automerge, id: TaskId) -> Option<Task> {
    let obj = entity(doc, TASKS, &id.to_string())?;
    read_task(doc, document, id, &obj).ok()
}

pub(crate) fn read_task(
    doc: &Automerge,
    round: DocumentId,
    id: TaskId,
    obj: &ObjId,
) -> Result<Task, SchemaError> {
    let mut task = read_task_but_attempts(doc, round, id, obj)?;
    if let Some(list) = read::object(doc, obj, "attempts", ObjType::List) {
        task.attempts = attempts(doc, &list);
    }
    Ok(task)
}

/// A task with its attempts left unread (empty): what the relay's rules read to check that a
/// task is readable, since the task reader skips unreadable attempts anyway and the rules read
/// the attempts a batch added one by one.
pub(crate) fn read_task_but_attempts(
    doc: &Automerge,
    round: DocumentId,
    id: TaskId,
    obj: &ObjId,
) -> Result<Task, SchemaError> {
    let f = read::Fields::of(doc, obj);
    let cancelled = match f.object("cancelled", ObjType::Map) {
        Some(c) => Some(Cancellation {
            by: read::parsed(doc, &c, "by")?,
            at: Timestamp::from_millis(read::int(doc, &c, "at")?),
            reason: read::string(doc, &c, "reason")?,
        }),
        None => None,
    };
    Ok(Task {
        id,
        round,
        household: f.parsed("household")?,
        kind: f.parsed("kind")?,
        items: f.string("items")?,
        priority: f.parsed("priority")?,
        assignee: f.opt_parsed("assignee")?,
        request: f.opt_parsed("request")?,
        cancelled,
        attempts: Vec::new(),
    })
}

fn attempts(doc: &Automerge, list: &ObjId) -> Vec<Attempt> {
    doc.list_range(list, ..)
        .filter_map(|item| {
            read_attempt(doc, &item.id())
                .map_err(|e| tracing::warn!(error = %e, "skipping unreadable attempt"))
                .ok()
        })
        .collect()
}

/// The readable delivered attempts of task `task`, each with its element ID in the attempts
/// list (which names it exactly on every replica), in merged order.
pub fn delivered_attempts(doc: &Automerge, task: TaskId) -> Vec<(ObjId, Attempt)> {
    let Some(list) = task_object(doc, task).and_then(|t| read::object(doc, &t, "attempts", ObjType::List))
    else {
        return Vec::new();
    };
    doc.list_range(&list, ..)
        .filter_map(|item| Some((item.id(), read_attempt(doc, &item.id()).ok()?)))
        .filter(|(_, a)| a.outcome == crate::schema::vocabulary::Outcome::Delivered)
        .collect()
}

/// The task's cancellation, named by the Automerge ID of its map (which names it exactly on
/// every replica), and the delivered attempts its author had not seen when cancelling: made
/// offline on a phone that did not know of the cancellation. `None` if the task is not cancelled.
/// Deliveries the canceller had seen are left out: they cancelled knowing the goods were there.
pub fn deliveries_unseen_by_cancellation(
    doc: &Automerge,
    task: TaskId,
) -> Option<(String, Vec<(ObjId, Attempt)>)> {
    let obj = task_object(doc, task)?;
    let (_, cancellation) = doc.get(&obj, "cancelled").ok().flatten()?;
    let cancelled_in = doc.hash_for_opid(&cancellation)?;
    let seen: Vec<ObjId> = read::object(doc, &obj, "attempts", ObjType::List)
        .map(|list| doc.list_range_at(&list, .., &[cancelled_in]).map(|item| item.id()).collect())
        .unwrap_or_default();
    let unseen = delivered_attempts(doc, task).into_iter().filter(|(id, _)| !seen.contains(id)).collect();
    Some((cancellation.to_string(), unseen))
}

/// One attempt, from its map object in a task's attempts list.
pub(crate) fn read_attempt(doc: &Automerge, obj: &ObjId) -> Result<Attempt, SchemaError> {
    Ok(Attempt {
        by: read::parsed(doc, obj, "by")?,
        at: Timestamp::from_millis(read::int(doc, obj, "at")?),
        outcome: read::parsed(doc, obj, "outcome")?,
        note: read::string(doc, obj, "note")?,
        knocked_by: read::opt_parsed(doc, obj, KNOCKED_BY)?,
        knocked_at: read::opt_int(doc, obj, KNOCKED_AT)?.map(Timestamp::from_millis),
    })
}

/// Every value concurrently written to the task's assignee (more than one is a competing
/// assignment; the first is the winner Automerge shows everyone).
pub fn assignee_candidates(doc: &Automerge, task: TaskId) -> Vec<Option<PersonId>> {
    let Some(obj) = entity(doc, TASKS, &task.to_string()) else {
        return Vec::new();
    };
    let mut values: Vec<Option<PersonId>> = doc
        .get_all(&obj, "assignee")
        .unwrap_or_default()
        .into_iter()
        .map(|(v, _)| match v {
            Value::Scalar(s) => match s.as_ref() {
                ScalarValue::Str(s) => s.parse().ok(),
                _ => None,
            },
            Value::Object(_) => None,
        })
        .collect();
    // `get` returns the winner; put it first so callers can say who won.
    let winner = read::opt_string(doc, &obj, "assignee").ok().flatten().and_then(|s| s.parse().ok());
    if let Some(pos) = values.iter().position(|v| *v == winner) {
        values.swap(0, pos);
    }
    values
}

/// Writes the round header.
pub(crate) fn put_info(
    tx: &mut impl Transactable,
    title: &str,
    kind: TaskKind,
    date: &str,
) -> Result<(), AutomergeError> {
    tx.put(ROOT, "title", title)?;
    tx.put(ROOT, "round_kind", kind.as_str())?;
    tx.put(ROOT, "date", date)?;
    tx.put(ROOT, "status", RoundStatus::Open.as_str())?;
    tx.put_object(ROOT, TASKS, ObjType::Map)?;
    // The reviews map exists from the start, so that two coordinators' first reviews land in
    // one map.
    tx.put_object(ROOT, super::reviews::REVIEWS, ObjType::Map)?;
    Ok(())
}

/// The fields of a new task.
#[derive(Debug, Clone)]
pub(crate) struct NewTask<'a> {
    pub household: HouseholdId,
    pub kind: TaskKind,
    pub items: &'a str,
    pub priority: Priority,
    pub request: Option<RequestId>,
}

/// Writes a new task.
pub(crate) fn put_task(
    tx: &mut impl Transactable,
    id: TaskId,
    task: &NewTask<'_>,
) -> Result<(), AutomergeError> {
    let map = collection(tx, TASKS)?;
    let obj = tx.put_object(&map, id.to_string(), ObjType::Map)?;
    tx.put(&obj, "household", task.household.to_string())?;
    tx.put(&obj, "kind", task.kind.as_str())?;
    tx.put(&obj, "items", task.items)?;
    tx.put(&obj, "priority", task.priority.as_str())?;
    tx.put(&obj, "assignee", ScalarValue::Null)?;
    match task.request {
        Some(r) => tx.put(&obj, "request", r.to_string())?,
        None => tx.put(&obj, "request", ScalarValue::Null)?,
    }
    tx.put_object(&obj, "attempts", ObjType::List)?;
    Ok(())
}

/// Appends an attempt to the task's list: concurrent appends from two phones both survive.
pub(crate) fn append_attempt(
    tx: &mut impl Transactable,
    task: &ObjId,
    attempt: &Attempt,
) -> Result<(), AutomergeError> {
    let list = match tx.get(task, "attempts")? {
        Some((Value::Object(ObjType::List), id)) => id,
        _ => tx.put_object(task, "attempts", ObjType::List)?,
    };
    let at = tx.length(&list);
    let obj = tx.insert_object(&list, at, ObjType::Map)?;
    tx.put(&obj, "by", attempt.by.to_string())?;
    tx.put(&obj, "at", attempt.at.as_millis())?;
    tx.put(&obj, "outcome", attempt.outcome.as_str())?;
    tx.put(&obj, "note", attempt.note.as_str())?;
    if let Some(knocker) = attempt.knocked_by {
        tx.put(&obj, KNOCKED_BY, knocker.to_string())?;
    }
    if let Some(at) = attempt.knocked_at {
        tx.put(&obj, KNOCKED_AT, at.as_millis())?;
    }
    Ok(())
}

/// Sets or clears the assignee.
pub(crate) fn put_assignee(
    tx: &mut impl Transactable,
    task: &ObjId,
    who: Option<PersonId>,
) -> Result<(), AutomergeError> {
    match who {
        Some(p) => tx.put(task, "assignee", p.to_string()),
        None => tx.put(task, "assignee", ScalarValue::Null),
    }
}

/// Marks the task cancelled.
pub(crate) fn put_cancellation(
    tx: &mut impl Transactable,
    task: &ObjId,
    c: &Cancellation,
) -> Result<(), AutomergeError> {
    let obj = tx.put_object(task, "cancelled", ObjType::Map)?;
    tx.put(&obj, "by", c.by.to_string())?;
    tx.put(&obj, "at", c.at.as_millis())?;
    tx.put(&obj, "reason", c.reason.as_str())?;
    Ok(())
}
