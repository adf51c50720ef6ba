//! Rounds and their progress: `GET …/rounds` (open and closed) and `GET …/rounds/{round}` (its
//! tasks door by door, in climbing order).

use std::collections::{HashMap, HashSet};

use axum::Json;
use axum::extract::State;
use doorstep_core::Compound;
use doorstep_core::document::round;
use doorstep_core::id::{DocumentId, PersonId, TaskId};
use doorstep_core::query::{self, HouseholdBook, LateAttempt, late_in_round};
use doorstep_core::schema::household::Household;
use doorstep_core::schema::task::{RoundInfo, Task};
use doorstep_core::schema::vocabulary::{RoundStatus, TaskStatus};
use serde::Serialize;

use super::assignees;
use super::error::DashError;
use super::set_aside;
use super::signed_in::SignedIn;
use super::snapshot::{self, Rounds};
use super::{DashState, blocking, path_id};
use crate::error::AppError;
use crate::http::json::PathParams;

/// A round and how far it got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoundProgress {
    /// The round's header.
    pub round: RoundInfo,
    /// Tasks in all.
    pub total: u32,
    /// Delivered.
    pub delivered: u32,
    /// Knocked on, not delivered yet.
    pub attempted: u32,
    /// Not attempted yet, assigned or not.
    pub open: u32,
    /// Of `open`, those assigned to a member of the compound.
    pub assigned: u32,
    /// Of `open`, those assigned to someone no longer a member (待改派): nobody holds them and no
    /// volunteer may claim them until a coordinator reassigns them; not counted in `assigned`.
    pub to_reassign: u32,
    /// Cancelled by a coordinator.
    pub cancelled: u32,
    /// Tasks delivered more than once (to review).
    pub double_deliveries: u32,
    /// Of `delivered`, tasks a coordinator cancelled meanwhile (the volunteer, offline, had not
    /// learnt of it): delivered, since the goods are at the door, and counted here so the clash
    /// shows beside `cancelled`; each is a conflict to review.
    pub cancelled_but_delivered: u32,
    /// Attempts that reached the round after it was closed (made before the close, offline):
    /// late field facts, shown as 迟到 / late.
    pub late: u32,
}

impl RoundProgress {
    fn of(
        round: RoundInfo,
        tasks: &[Task],
        late: &[LateAttempt],
        cancelled_but_delivered: u32,
        live: &HashSet<PersonId>,
    ) -> Self {
        let mut p = RoundProgress {
            late: u32::try_from(late.len()).unwrap_or(u32::MAX),
            round,
            total: 0,
            delivered: 0,
            attempted: 0,
            open: 0,
            assigned: 0,
            to_reassign: 0,
            cancelled: 0,
            double_deliveries: 0,
            cancelled_but_delivered,
        };
        for task in tasks {
            p.total += 1;
            match task.status() {
                TaskStatus::Delivered => p.delivered += 1,
                TaskStatus::Attempted => p.attempted += 1,
                TaskStatus::Cancelled => p.cancelled += 1,
                TaskStatus::Assigned if query::needs_reassigning(task, |who| live.contains(&who)) => {
                    p.open += 1;
                    p.to_reassign += 1;
                }
                TaskStatus::Assigned => {
                    p.open += 1;
                    p.assigned += 1;
                }
                TaskStatus::Open => p.open += 1,
            }
            if task.deliveries() > 1 {
                p.double_deliveries += 1;
            }
        }
        p
    }
}

/// The progress of every round held, with the compound's `live` members: open rounds first,
/// then newest date first.
pub fn progress(compound: &Compound, live: &HashSet<PersonId>) -> Vec<RoundProgress> {
    let mut out: Vec<RoundProgress> = compound
        .rounds()
        .filter_map(|doc| {
            let info = round::info(doc.id(), doc.automerge()).ok()?;
            let late = late_in_round(doc.id(), doc.automerge());
            let clashes = query::cancelled_but_delivered(doc.id(), doc.automerge());
            Some(RoundProgress::of(info, &round::tasks(doc.id(), doc.automerge()), &late, clashes, live))
        })
        .collect();
    out.sort_by(|a, b| {
        (a.round.status != RoundStatus::Open)
            .cmp(&(b.round.status != RoundStatus::Open))
            .then_with(|| b.round.date.cmp(&a.round.date))
            .then_with(|| a.round.title.cmp(&b.round.title))
    });
    out
}

/// One task of a round, at its door.
#[derive(Debug, Clone, Serialize)]
pub struct TaskAtDoor {
    /// The task.
    pub task: Task,
    /// Its derived status.
    pub status: TaskStatus,
    /// The household; as it stood when removed if it was removed from the roster since
    /// (`household_removed`); `null` if the roster never held it.
    pub household: Option<Household>,
    /// Whether the household has been removed from the roster since.
    pub household_removed: bool,
    /// The assignee's name, if known.
    pub assignee_name: Option<String>,
    /// Whether the task is assigned to someone who is not a live member of the compound (removed
    /// since, or never one: an offline coordinator's assignment that arrived after the removal):
    /// nobody will deliver it until a coordinator reassigns it.
    pub assignee_removed: bool,
    /// How many of its attempts arrived after the round was closed (迟到 / late).
    pub late_attempts: u32,
    /// How many knocks at it wait in the set-aside inbox for a coordinator (refused by the relay,
    /// so not among its attempts: 有上门记录待处理).
    pub knocks_waiting: u32,
}

/// `GET …/rounds/{round}`.
#[derive(Debug, Clone, Serialize)]
pub struct RoundDetail {
    /// The round's header.
    pub round: RoundInfo,
    /// Its progress.
    pub progress: RoundProgress,
    /// Its tasks in climbing order.
    pub tasks: Vec<TaskAtDoor>,
    /// Knocks at its tasks waiting in the set-aside inbox.
    pub knocks_waiting: u32,
}

/// A round's tasks by door, in climbing order (tasks whose household is gone come last).
pub fn detail(
    compound: &Compound,
    id: DocumentId,
    names: &HashMap<PersonId, String>,
    live: &HashSet<PersonId>,
    knocks_waiting: &HashMap<TaskId, u32>,
) -> Option<RoundDetail> {
    let doc = compound.rounds().find(|d| d.id() == id)?;
    let info = round::info(doc.id(), doc.automerge()).ok()?;
    let tasks = round::tasks(doc.id(), doc.automerge());
    let late = late_in_round(doc.id(), doc.automerge());
    let clashes = query::cancelled_but_delivered(doc.id(), doc.automerge());
    let progress = RoundProgress::of(info.clone(), &tasks, &late, clashes, live);
    let households = HouseholdBook::of(compound, tasks.iter().map(|t| t.household));
    let mut tasks: Vec<TaskAtDoor> = tasks
        .into_iter()
        .map(|task| TaskAtDoor {
            late_attempts: u32::try_from(late.iter().filter(|l| l.task == task.id).count())
                .unwrap_or(u32::MAX),
            status: task.status(),
            household: households.get(task.household).cloned(),
            household_removed: households.removal(task.household).is_some(),
            assignee_name: task.assignee.and_then(|p| names.get(&p).cloned()),
            assignee_removed: task.assignee.is_some_and(|p| !live.contains(&p)),
            knocks_waiting: knocks_waiting.get(&task.id).copied().unwrap_or(0),
            task,
        })
        .collect();
    tasks.sort_by_key(|t| {
        let live = t.household.as_ref().filter(|_| !t.household_removed);
        (live.is_none(), t.household.as_ref().map(|h| h.address.climb_key()), t.task.id)
    });
    let knocks_waiting = tasks.iter().map(|t| t.knocks_waiting).sum();
    Some(RoundDetail { round: info, progress, tasks, knocks_waiting })
}

/// `GET /dashboard/api/compounds/{compound}/rounds`.
pub async fn list(
    State(state): State<DashState>,
    signed: SignedIn,
    PathParams(compound): PathParams<String>,
) -> Result<Json<Vec<RoundProgress>>, DashError> {
    let scope = signed.scope(&state, &compound).await?;
    let live = assignees::live_members(&state, scope.compound.id).await?;
    let compound = snapshot::load(&state, &scope, Rounds::All).await?;
    Ok(Json(blocking(move || progress(&compound, &live)).await?))
}

/// `GET /dashboard/api/compounds/{compound}/rounds/{round}`.
pub async fn one(
    State(state): State<DashState>,
    signed: SignedIn,
    PathParams((compound, round)): PathParams<(String, String)>,
) -> Result<Json<RoundDetail>, DashError> {
    let scope = signed.scope(&state, &compound).await?;
    let round: DocumentId = path_id(&round)?;
    // One read of the members gives both the names (removed people too: their past work keeps
    // its name) and who is still a member (a task given to anyone else is marked).
    let members = state.app.relay.storage().members(scope.compound.id).await?;
    let live: HashSet<PersonId> = members.iter().filter(|m| !m.revoked).map(|m| m.person).collect();
    let names: HashMap<PersonId, String> = members.into_iter().map(|m| (m.person, m.name)).collect();
    let mut knocks: HashMap<TaskId, u32> = HashMap::new();
    for (_, task) in set_aside::waiting(&state, scope.compound.id)
        .await?
        .iter()
        .filter_map(set_aside::knock_at)
        .filter(|(r, _)| *r == round)
    {
        *knocks.entry(task).or_default() += 1;
    }
    let compound = snapshot::load(&state, &scope, Rounds::All).await?;
    let found = blocking(move || detail(&compound, round, &names, &live, &knocks)).await?;
    Ok(Json(found.ok_or_else(|| AppError::NotFound(format!("no round {round} in this compound")))?))
}
