//! Conflicts to review: what Automerge merged without loss but a coordinator should look at.
//! Double deliveries (two volunteers delivered one task offline), competing assignments (two
//! coordinators assigned one task to different volunteers), deliveries to a task a coordinator
//! cancelled meanwhile (the volunteer, offline, had not learnt of it), concurrent
//! control-status edits, concurrent edits of a household's ledger fields (two phone numbers
//! typed at once) and concurrent triage of a request (done by one coordinator, rejected by
//! another).
//! In each case every value survived the merge; the winner Automerge shows is deterministic and
//! named, and writing a value settles the conflict. A coordinator may also mark a conflict
//! reviewed (see [`reviews`](super::reviews)); it is listed here either way.

use std::collections::BTreeSet;

use automerge::{ObjType, ReadDoc, ScalarValue, Value};
use serde::Serialize;

use crate::Compound;
use crate::document::{read, requests, roster, round};
use crate::id::{DocumentId, HouseholdId, PersonId, RequestId, TaskId};
use crate::schema::control_status::ControlStatus;
use crate::schema::ledger_field::LedgerField;
use crate::schema::review::ConflictSubject;
use crate::schema::task::{Attempt, Cancellation};
use crate::schema::vocabulary::DocKind;
use crate::schema::vocabulary::{RequestStatus, Urgency};

/// One thing to review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Conflict {
    /// A task delivered more than once.
    DoubleDelivery {
        /// The round.
        round: DocumentId,
        /// The task.
        task: TaskId,
        /// The door.
        household: HouseholdId,
        /// The delivered attempts, with who and when.
        deliveries: Vec<Attempt>,
        /// The delivered attempts' Automerge element IDs, in the same order: they name each
        /// attempt exactly, on every replica, so a review can say which ones it saw.
        attempt_ids: Vec<String>,
    },
    /// A task assigned concurrently to different people.
    CompetingAssignment {
        /// The round.
        round: DocumentId,
        /// The task.
        task: TaskId,
        /// The door.
        household: HouseholdId,
        /// The assignee everyone sees now.
        winner: Option<PersonId>,
        /// Every distinct concurrent value, winner first.
        candidates: Vec<Option<PersonId>>,
    },
    /// A task delivered by a volunteer who had not learnt that a coordinator cancelled it
    /// meanwhile (goods left at a door the coordinator called off). The task reads delivered —
    /// the goods are there — and still carries its cancellation; both sides are here.
    CancelledButDelivered {
        /// The round.
        round: DocumentId,
        /// The task.
        task: TaskId,
        /// The door.
        household: HouseholdId,
        /// Who cancelled it, when and why.
        cancellation: Cancellation,
        /// The delivered attempts the canceller had not seen, with who and when.
        deliveries: Vec<Attempt>,
        /// Those attempts' Automerge element IDs, in the same order.
        attempt_ids: Vec<String>,
        /// The Automerge ID of the cancellation: a coordinator who cancels again (another
        /// reason) makes a new one, which a review has not seen.
        cancellation_id: String,
    },
    /// A household's control status set concurrently to different values.
    ConcurrentStatus {
        /// The household.
        household: HouseholdId,
        /// The status everyone sees now.
        winner: ControlStatus,
        /// Every distinct concurrent value, winner first.
        candidates: Vec<ControlStatus>,
    },
    /// A household's ledger field set concurrently to different values (a phone number, the
    /// number of people): Automerge keeps one, and the other would be lost without a word.
    ConcurrentLedgerEdit {
        /// The household.
        household: HouseholdId,
        /// The field.
        field: LedgerField,
        /// Every distinct concurrent value as written (a count as digits, the lift as
        /// `true`/`false`), the one everyone sees now first.
        candidates: Vec<String>,
    },
    /// A request triaged concurrently to different decisions.
    ConcurrentTriage {
        /// The request.
        request: RequestId,
        /// Its door.
        household: HouseholdId,
        /// Every distinct concurrent status, the one everyone sees now first.
        statuses: Vec<RequestStatus>,
        /// Every distinct concurrent urgency, the one everyone sees now first.
        urgencies: Vec<Urgency>,
    },
}

impl Conflict {
    /// The household the conflict is at.
    pub fn household(&self) -> HouseholdId {
        match self {
            Conflict::DoubleDelivery { household, .. }
            | Conflict::CompetingAssignment { household, .. }
            | Conflict::CancelledButDelivered { household, .. }
            | Conflict::ConcurrentStatus { household, .. }
            | Conflict::ConcurrentLedgerEdit { household, .. }
            | Conflict::ConcurrentTriage { household, .. } => *household,
        }
    }

    /// Which conflict this is, as a review names it.
    pub fn subject(&self) -> ConflictSubject {
        match self {
            Conflict::DoubleDelivery { round, task, .. } => {
                ConflictSubject::DoubleDelivery { round: *round, task: *task }
            }
            Conflict::CompetingAssignment { round, task, .. } => {
                ConflictSubject::CompetingAssignment { round: *round, task: *task }
            }
            Conflict::CancelledButDelivered { round, task, .. } => {
                ConflictSubject::CancelledButDelivered { round: *round, task: *task }
            }
            Conflict::ConcurrentStatus { household, .. } => {
                ConflictSubject::ConcurrentStatus { household: *household }
            }
            Conflict::ConcurrentLedgerEdit { household, field, .. } => {
                ConflictSubject::ConcurrentLedgerEdit { household: *household, field: *field }
            }
            Conflict::ConcurrentTriage { request, .. } => {
                ConflictSubject::ConcurrentTriage { request: *request }
            }
        }
    }

    /// The conflicting values, as a review records them: each delivered attempt's Automerge
    /// element ID, each concurrent assignee's person ID (or `nobody`), each concurrent status's
    /// wire name, a cancellation's Automerge ID. A value outside a review's set re-opens the
    /// conflict.
    pub fn values(&self) -> BTreeSet<String> {
        match self {
            Conflict::DoubleDelivery { attempt_ids, .. } => attempt_ids.iter().cloned().collect(),
            Conflict::CancelledButDelivered { attempt_ids, cancellation_id, .. } => {
                attempt_ids.iter().chain([cancellation_id]).cloned().collect()
            }
            Conflict::CompetingAssignment { candidates, .. } => {
                candidates.iter().map(|c| c.map_or_else(|| "nobody".to_owned(), |p| p.to_string())).collect()
            }
            Conflict::ConcurrentStatus { candidates, .. } => {
                candidates.iter().map(|s| s.as_str().to_owned()).collect()
            }
            Conflict::ConcurrentLedgerEdit { candidates, .. } => candidates.iter().cloned().collect(),
            Conflict::ConcurrentTriage { statuses, urgencies, .. } => statuses
                .iter()
                .map(|s| format!("status:{}", s.as_str()))
                .chain(urgencies.iter().map(|u| format!("urgency:{}", u.as_str())))
                .collect(),
        }
    }
}

/// Every conflict in the rounds the compound holds (a closed one's too: closing a round settles
/// none of its conflicts, and a late delivery may make one after the close) and in its roster.
pub fn conflicts(compound: &Compound) -> Vec<Conflict> {
    let mut out = Vec::new();
    for doc in compound.rounds() {
        out.extend(round_conflicts(doc.id(), doc.automerge()));
    }
    if let Some(doc) = compound.single(DocKind::Roster) {
        let am = doc.automerge();
        if let Some(map) = read::object(am, &automerge::ROOT, roster::HOUSEHOLDS, ObjType::Map) {
            for item in am.map_range(&map, ..) {
                let (Ok(id), obj) = (item.key.parse::<HouseholdId>(), item.id()) else { continue };
                let fields = read::Fields::of(am, &obj);
                for field in LedgerField::ALL.iter().filter(|f| fields.is_conflicted(f.as_str())) {
                    let candidates = distinct(concurrent_values(am, &obj, field.as_str()));
                    if candidates.len() > 1 {
                        out.push(Conflict::ConcurrentLedgerEdit { household: id, field: *field, candidates });
                    }
                }
                if !fields.is_conflicted("status") {
                    continue;
                }
                let candidates: Vec<ControlStatus> = distinct(parsed_values(am, &obj, "status"));
                if candidates.len() > 1 {
                    let winner = candidates[0];
                    out.push(Conflict::ConcurrentStatus { household: id, winner, candidates });
                }
            }
        }
    }
    if let Some(doc) = compound.single(DocKind::Requests) {
        out.extend(triage_conflicts(doc.automerge()));
    }
    out
}

/// The requests triaged concurrently to different statuses or urgencies.
fn triage_conflicts(am: &automerge::Automerge) -> Vec<Conflict> {
    let mut out = Vec::new();
    let Some(map) = read::object(am, &automerge::ROOT, requests::REQUESTS, ObjType::Map) else { return out };
    for item in am.map_range(&map, ..) {
        let (Ok(request), obj) = (item.key.parse::<RequestId>(), item.id()) else { continue };
        let fields = read::Fields::of(am, &obj);
        if !fields.is_conflicted("status") && !fields.is_conflicted("urgency") {
            continue;
        }
        let statuses: Vec<RequestStatus> = distinct(parsed_values(am, &obj, "status"));
        let urgencies: Vec<Urgency> = distinct(parsed_values(am, &obj, "urgency"));
        let Ok(household) = fields.parsed::<HouseholdId>("household") else { continue };
        if statuses.len() > 1 || urgencies.len() > 1 {
            out.push(Conflict::ConcurrentTriage { request, household, statuses, urgencies });
        }
    }
    out
}

/// The concurrent values of `key` that parse as `T`, the one Automerge shows everyone first.
fn parsed_values<T: std::str::FromStr>(
    am: &automerge::Automerge,
    obj: &automerge::ObjId,
    key: &str,
) -> Vec<T> {
    concurrent_values(am, obj, key).into_iter().filter_map(|v| v.parse().ok()).collect()
}

/// Every value concurrently written to `key` of `obj`, as text (a string as it is, a number as
/// digits, a boolean as `true`/`false`, null as empty), the one Automerge shows everyone first.
fn concurrent_values(am: &automerge::Automerge, obj: &automerge::ObjId, key: &str) -> Vec<String> {
    let winner = am.get(obj, key).ok().flatten().map(|(_, id)| id);
    let mut values: Vec<(String, bool)> = am
        .get_all(obj, key)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(v, id)| {
            let text = match v {
                Value::Scalar(s) => match s.as_ref() {
                    ScalarValue::Str(s) => s.to_string(),
                    ScalarValue::Int(n) => n.to_string(),
                    ScalarValue::Uint(n) => n.to_string(),
                    ScalarValue::Boolean(b) => b.to_string(),
                    ScalarValue::Null => String::new(),
                    _ => return None,
                },
                Value::Object(_) => return None,
            };
            Some((text, Some(&id) == winner.as_ref()))
        })
        .collect();
    values.sort_by_key(|(_, won)| !won);
    values.into_iter().map(|(v, _)| v).collect()
}

/// The conflicts of one round's tasks (double deliveries, competing assignments, deliveries to
/// a task cancelled meanwhile), open or
/// closed: what the dashboard reads of a closed round without holding it in a [`Compound`].
pub fn round_conflicts(round: DocumentId, doc: &automerge::Automerge) -> Vec<Conflict> {
    let mut out = Vec::new();
    for task in round::tasks(round, doc) {
        if task.deliveries() > 1 {
            let (deliveries, attempt_ids) = round::delivered_attempts(doc, task.id)
                .into_iter()
                .map(|(id, attempt)| (attempt, id.to_string()))
                .unzip();
            out.push(Conflict::DoubleDelivery {
                round,
                task: task.id,
                household: task.household,
                deliveries,
                attempt_ids,
            });
        }
        if let Some(cancellation) = &task.cancelled {
            let (cancellation_id, unseen) =
                round::deliveries_unseen_by_cancellation(doc, task.id).unwrap_or_default();
            if !unseen.is_empty() {
                let (deliveries, attempt_ids) =
                    unseen.into_iter().map(|(id, attempt)| (attempt, id.to_string())).unzip();
                out.push(Conflict::CancelledButDelivered {
                    round,
                    task: task.id,
                    household: task.household,
                    cancellation: cancellation.clone(),
                    deliveries,
                    attempt_ids,
                    cancellation_id,
                });
            }
        }
        let candidates = distinct(round::assignee_candidates(doc, task.id));
        if candidates.len() > 1 {
            out.push(Conflict::CompetingAssignment {
                round,
                task: task.id,
                household: task.household,
                winner: task.assignee,
                candidates,
            });
        }
    }
    out
}

/// How many of a round's tasks were delivered by a volunteer who had not learnt that a coordinator
/// cancelled them: counted delivered, and shown beside `cancelled` so the clash is not hidden.
pub fn cancelled_but_delivered(round: DocumentId, doc: &automerge::Automerge) -> u32 {
    let clashes = round_conflicts(round, doc)
        .into_iter()
        .filter(|c| matches!(c, Conflict::CancelledButDelivered { .. }))
        .count();
    u32::try_from(clashes).unwrap_or(u32::MAX)
}

/// The distinct values in first-seen order: two people who concurrently wrote the same value
/// agree, and there is nothing to review.
fn distinct<T: PartialEq>(values: Vec<T>) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(values.len());
    for value in values {
        if !out.contains(&value) {
            out.push(value);
        }
    }
    out
}
