//! Who changed a household or a task, what and when, read from the documents themselves:
//! `GET …/households/{household}/history` and `GET …/rounds/{round}/tasks/{task}/history`.
//! Core's [`query::history`] lists the changes that touched the entity with their Automerge
//! actors; the relay's actor bindings say whose each actor is. Every change is under its
//! author's actor (phones bind theirs at first sync, dashboard edits go through
//! [`Relay::write_as`](crate::relay::Relay::write_as)), so the answer names the person.

use axum::Json;
use axum::extract::State;
use doorstep_core::document::Document;
use doorstep_core::id::{DocumentId, HouseholdId, PersonId, TaskId};
use doorstep_core::query::{self, HistoryEntry};
use doorstep_core::schema::vocabulary::DocKind;
use doorstep_core::{Compound, Timestamp};
use serde::Serialize;

use super::error::DashError;
use super::signed_in::SignedIn;
use super::snapshot::{self, Rounds};
use super::{DashState, blocking, names, path_id};
use crate::error::AppError;
use crate::http::json::PathParams;

/// One change to the entity, with its author.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryItem {
    /// When, by the author's device clock (Unix ms).
    pub at: Timestamp,
    /// The person whose actor wrote the change, if the relay knows it.
    pub person: Option<PersonId>,
    /// Their name as a member of the compound (or "relay" for the relay's own writes).
    pub name: Option<String>,
    /// The fields it set (`status`, `notes`, `attempts`, …), or `created`.
    pub fields: Vec<String>,
    /// The Automerge actor, hex.
    pub actor: String,
    /// The change hash, hex.
    pub change: String,
}

/// `GET /dashboard/api/compounds/{compound}/households/{household}/history`.
pub async fn household(
    State(state): State<DashState>,
    signed: SignedIn,
    PathParams((compound, household)): PathParams<(String, String)>,
) -> Result<Json<Vec<HistoryItem>>, DashError> {
    let scope = signed.scope(&state, &compound).await?;
    let household: HouseholdId = path_id(&household)?;
    let compound = snapshot::load(&state, &scope, Rounds::Open).await?;
    // A household removed since has its history too: what was done to it, and its removal.
    let entries = blocking(move || {
        let roster = compound.single(DocKind::Roster)?;
        Some(query::history(roster, &household.to_string())).filter(|entries| !entries.is_empty())
    })
    .await?
    .ok_or_else(|| AppError::NotFound(format!("no household {household} in this roster, now or before")))?;
    Ok(Json(authors(&state, scope.compound.id, entries).await?))
}

/// `GET /dashboard/api/compounds/{compound}/rounds/{round}/tasks/{task}/history`.
pub async fn task(
    State(state): State<DashState>,
    signed: SignedIn,
    PathParams((compound, round, task)): PathParams<(String, String, String)>,
) -> Result<Json<Vec<HistoryItem>>, DashError> {
    let scope = signed.scope(&state, &compound).await?;
    let round: DocumentId = path_id(&round)?;
    let task: TaskId = path_id(&task)?;
    let compound = snapshot::load(&state, &scope, Rounds::All).await?;
    let entries = blocking(move || task_history(&compound, round, task))
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no task {task} in round {round}")))?;
    Ok(Json(authors(&state, scope.compound.id, entries).await?))
}

/// The changes of a task in a round, if the round holds it.
fn task_history(compound: &Compound, round: DocumentId, task: TaskId) -> Option<Vec<HistoryEntry>> {
    let document: &Document = compound.rounds().find(|d| d.id() == round)?;
    compound
        .tasks()
        .iter()
        .any(|t| t.round == round && t.id == task)
        .then(|| query::history(document, &task.to_string()))
}

/// Names the person behind each entry's actor.
async fn authors(
    state: &DashState,
    compound: doorstep_core::id::CompoundId,
    entries: Vec<HistoryEntry>,
) -> Result<Vec<HistoryItem>, DashError> {
    let relay = &state.app.relay;
    let names = names(state, compound).await?;
    let mut items = Vec::with_capacity(entries.len());
    for entry in entries {
        let person = relay.actor_owner(&entry.actor).await?;
        let name = person.and_then(|p| {
            names.get(&p).cloned().or_else(|| (p == relay.admin()).then(|| "relay".to_owned()))
        });
        items.push(HistoryItem {
            at: entry.at,
            person,
            name,
            fields: entry.fields,
            actor: entry.actor,
            change: entry.change,
        });
    }
    Ok(items)
}
