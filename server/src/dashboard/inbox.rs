//! What waits for a coordinator's attention: the requests inbox (`GET …/requests`, newest first)
//! and the conflicts to review (`GET …/conflicts`). Both carry the household's address and head
//! and the names of the people involved, so the list reads without a second look-up.
//!
//! A conflict is settled by writing through `POST …/operations`: `assign_task` for a competing
//! assignment, `set_control_status` for a concurrent status. Any conflict, a double delivery
//! included, can be marked reviewed with `review_conflict` and a note; each conflict carries
//! the latest review that covers it (`review`, with the reviewer's name), and a value that
//! arrives after the review shows it as unreviewed again. A closed round's conflicts are listed
//! too, marked `round_closed` (closing a round settles none of them, and a double delivery
//! arriving late makes one after the close), read without holding the round (`closed_rounds.rs`);
//! a review is taken on a closed round.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use doorstep_core::Compound;
use doorstep_core::id::{DocumentId, HouseholdId, PersonId};
use doorstep_core::query::{self, Conflict, ConflictReview, HouseholdBook};
use doorstep_core::schema::request::Request;
use doorstep_core::schema::review::Review;
use serde::Serialize;

use super::closed_rounds::{self, ClosedRound};
use super::error::DashError;
use super::signed_in::SignedIn;
use super::snapshot::{self, Rounds};
use super::{DashState, blocking, names};
use crate::http::json::PathParams;

/// A request with where it came from.
#[derive(Debug, Clone, Serialize)]
pub struct InboxRequest {
    /// The request, as core holds it.
    #[serde(flatten)]
    pub request: Request,
    /// The household's address ("北林小区 1号楼1单元102"), as it stood when removed if it was
    /// removed from the roster since (`household_removed`).
    pub address: Option<String>,
    /// The head of the household.
    pub head: Option<String>,
    /// Whether the household has been removed from the roster since (the request still stands:
    /// the address is its last).
    pub household_removed: bool,
    /// Who took the request down, if known.
    pub by_name: Option<String>,
}

/// A conflict with names.
#[derive(Debug, Clone, Serialize)]
pub struct ReviewConflict {
    /// The conflict, as core reports it (`kind` says which).
    #[serde(flatten)]
    pub conflict: Conflict,
    /// The household's address (its last, if removed from the roster since).
    pub address: Option<String>,
    /// The head of the household.
    pub head: Option<String>,
    /// Whether the household has been removed from the roster since.
    pub household_removed: bool,
    /// Names of the people the conflict and its review mention, by person ID.
    pub names: BTreeMap<PersonId, String>,
    /// The latest review covering the conflict as it stands, if a coordinator reviewed it.
    pub review: Option<Review>,
    /// While it waits for a review, the review it had before a new value reopened it.
    pub earlier_review: Option<Review>,
    /// Whether its round is closed (still reviewable: a review is taken on a closed round).
    pub round_closed: bool,
}

/// The requests, newest first.
pub fn requests(compound: &Compound, names: &HashMap<PersonId, String>) -> Vec<InboxRequest> {
    let requests = compound.requests();
    let households = HouseholdBook::of(compound, requests.iter().map(|r| r.household));
    let mut out: Vec<InboxRequest> = requests
        .into_iter()
        .map(|request| {
            let household = households.get(request.household);
            InboxRequest {
                address: household.map(|h| h.address.to_string()),
                head: household.map(|h| h.head.clone()),
                household_removed: households.removal(request.household).is_some(),
                by_name: names.get(&request.by).cloned(),
                request,
            }
        })
        .collect();
    out.sort_by(|a, b| b.request.at.cmp(&a.request.at).then_with(|| b.request.id.cmp(&a.request.id)));
    out
}

/// The conflicts of `compound` (its roster and the rounds it holds) and of its `closed` rounds
/// not held, with addresses and names.
pub fn conflicts(
    compound: &Compound,
    closed: &[Arc<ClosedRound>],
    names: &HashMap<PersonId, String>,
) -> Vec<ReviewConflict> {
    let mut reviews: Vec<(ConflictReview, bool)> =
        query::conflict_reviews(compound).into_iter().map(|c| (c, false)).collect();
    // A round closed between the copy and the notes is in both: the copy's stands.
    let held = |round: DocumentId| compound.rounds().any(|d| d.id() == round);
    for note in closed.iter().filter(|n| !held(n.round)) {
        reviews.extend(note.conflicts.iter().map(|c| (c.clone(), true)));
    }
    let households = HouseholdBook::of(compound, reviews.iter().map(|(r, _)| r.conflict.household()));
    reviews
        .into_iter()
        .map(|(ConflictReview { conflict, review, earlier_review }, round_closed)| {
            let (household, mut people): (HouseholdId, Vec<PersonId>) = match &conflict {
                Conflict::DoubleDelivery { household, deliveries, .. } => {
                    (*household, deliveries.iter().map(|a| a.knocker()).collect())
                }
                Conflict::CompetingAssignment { household, candidates, .. } => {
                    (*household, candidates.iter().flatten().copied().collect())
                }
                Conflict::CancelledButDelivered { household, cancellation, deliveries, .. } => (
                    *household,
                    [cancellation.by].into_iter().chain(deliveries.iter().map(|a| a.knocker())).collect(),
                ),
                Conflict::ConcurrentStatus { household, .. }
                | Conflict::ConcurrentLedgerEdit { household, .. }
                | Conflict::ConcurrentTriage { household, .. } => (*household, Vec::new()),
            };
            people.extend(review.iter().chain(&earlier_review).map(|r| r.by));
            let h = households.get(household);
            ReviewConflict {
                review,
                earlier_review,
                round_closed,
                address: h.map(|h| h.address.to_string()),
                head: h.map(|h| h.head.clone()),
                household_removed: households.removal(household).is_some(),
                names: people.into_iter().filter_map(|p| Some((p, names.get(&p)?.clone()))).collect(),
                conflict,
            }
        })
        .collect()
}

/// `GET /dashboard/api/compounds/{compound}/requests`.
pub async fn list_requests(
    State(state): State<DashState>,
    signed: SignedIn,
    PathParams(compound): PathParams<String>,
) -> Result<Json<Vec<InboxRequest>>, DashError> {
    let scope = signed.scope(&state, &compound).await?;
    let names = names(&state, scope.compound.id).await?;
    let compound = snapshot::load(&state, &scope, Rounds::Open).await?;
    Ok(Json(blocking(move || requests(&compound, &names)).await?))
}

/// `GET /dashboard/api/compounds/{compound}/conflicts`.
pub async fn list_conflicts(
    State(state): State<DashState>,
    signed: SignedIn,
    PathParams(compound): PathParams<String>,
) -> Result<Json<Vec<ReviewConflict>>, DashError> {
    let scope = signed.scope(&state, &compound).await?;
    let names = names(&state, scope.compound.id).await?;
    let compound = snapshot::load(&state, &scope, Rounds::Open).await?;
    let closed = closed_rounds::of(&state, scope.compound.id).await?;
    Ok(Json(blocking(move || conflicts(&compound, &closed, &names)).await?))
}
