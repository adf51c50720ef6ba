//! `GET …/overview`: the numbers a coordinator opens the dashboard for. Core's
//! [`counts`](doorstep_core::query::counts), the open rounds' progress and the requests
//! waiting for triage; the conflicts waiting for review and the late attempts count closed
//! rounds' too (`closed_rounds.rs`), where late attempts are.

use std::collections::HashSet;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use doorstep_core::Compound;
use doorstep_core::id::PersonId;
use doorstep_core::query::{self, Counts};
use doorstep_core::schema::vocabulary::{RequestStatus, RoundStatus};
use serde::Serialize;

use super::assignees;
use super::closed_rounds::{self, ClosedRound};
use super::error::DashError;
use super::rounds::{self, RoundProgress};
use super::set_aside;
use super::signed_in::SignedIn;
use super::snapshot::{self, Rounds};
use super::{DashState, blocking};
use crate::http::json::PathParams;

/// The overview.
#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    /// The compound's name.
    pub name: String,
    /// Households, people, statuses, needs, open tasks.
    pub counts: Counts,
    /// The open rounds' progress.
    pub rounds: Vec<RoundProgress>,
    /// Requests not triaged yet (status `new`).
    pub requests_waiting: usize,
    /// Items waiting in the set-aside inbox for a coordinator's decision (待处理搁置).
    pub set_aside_waiting: usize,
    /// Conflicts waiting for review, closed rounds' too (a reviewed one counts again once a new
    /// value arrives).
    pub conflicts: usize,
}

/// The overview of `compound`, named `name`, whose `live` members are given, with its `closed`
/// rounds not held.
pub fn overview(
    name: String,
    compound: &Compound,
    live: &HashSet<PersonId>,
    closed: &[Arc<ClosedRound>],
    set_aside_waiting: usize,
) -> Overview {
    let mut open = rounds::progress(compound, live);
    open.retain(|p| p.round.status == RoundStatus::Open);
    let mut counts = query::counts_among(compound, |who| live.contains(&who));
    let mut conflicts = query::unreviewed_conflicts(compound).len();
    // A round closed between the copy and the notes is in both: the copy's stands.
    for note in closed.iter().filter(|n| !compound.rounds().any(|d| d.id() == n.round)) {
        conflicts += note.unreviewed();
        counts.late_attempts =
            counts.late_attempts.saturating_add(u32::try_from(note.late.len()).unwrap_or(u32::MAX));
    }
    Overview {
        name,
        counts,
        rounds: open,
        requests_waiting: compound.requests().iter().filter(|r| r.status == RequestStatus::New).count(),
        conflicts,
        set_aside_waiting,
    }
}

/// `GET /dashboard/api/compounds/{compound}/overview`.
pub async fn get(
    State(state): State<DashState>,
    signed: SignedIn,
    PathParams(compound): PathParams<String>,
) -> Result<Json<Overview>, DashError> {
    let scope = signed.scope(&state, &compound).await?;
    let live = assignees::live_members(&state, scope.compound.id).await?;
    let compound = snapshot::load(&state, &scope, Rounds::Open).await?;
    let closed = closed_rounds::of(&state, scope.compound.id).await?;
    let waiting = set_aside::waiting(&state, scope.compound.id).await?.len();
    let name = scope.compound.name;
    Ok(Json(blocking(move || overview(name, &compound, &live, &closed, waiting)).await?))
}
