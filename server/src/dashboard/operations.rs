//! `POST …/operations`: a coordinator's action, as a core [`Operation`] in JSON (`{"op":
//! "create_round", …}`), applied through [`Relay::write`](crate::relay::Relay::write) as the
//! signed-in person in their role, under that person's own Automerge actor. Core's permission
//! rules judge it exactly as they judge the same operation made on a phone, and the document
//! records who made it.

use axum::Json;
use axum::extract::State;
use doorstep_core::id::DocumentId;
use doorstep_core::{Operation, OperationError};
use serde::Serialize;

use super::DashState;
use super::error::DashError;
use super::signed_in::{Scope, SignedIn};
use crate::http::json::{JsonBody, PathParams};
use crate::storage::Deciding;

/// What the operation changed.
#[derive(Debug, Clone, Serialize)]
pub struct OperationDone {
    /// Documents that got a new change.
    pub changed: Vec<DocumentId>,
    /// Documents created (a new round).
    pub created: Vec<DocumentId>,
    /// The ID of the entity created, if any (household, task, request, care entry).
    pub new_entity: Option<String>,
}

/// Applies one operation.
pub async fn apply(
    State(state): State<DashState>,
    signed: SignedIn,
    PathParams(compound): PathParams<String>,
    JsonBody(op): JsonBody<Operation>,
) -> Result<Json<OperationDone>, DashError> {
    let scope = signed.scope(&state, &compound).await?;
    super::assignees::require_live_assignee(&state, scope.compound.id, &op).await?;
    Ok(Json(run(&state, &scope, op).await?))
}

/// Applies `op` as the scope's person in their role, as every dashboard edit is applied.
pub(super) async fn run(state: &DashState, scope: &Scope, op: Operation) -> Result<OperationDone, DashError> {
    Ok(run_deciding(state, scope, op, None).await?.0)
}

/// [`run`], storing `deciding` with the operation's first change
/// ([`Relay::write_deciding_as`](crate::relay::Relay::write_deciding_as)); it comes back when
/// the operation stored no change.
pub(super) async fn run_deciding(
    state: &DashState,
    scope: &Scope,
    op: Operation,
    deciding: Option<Deciding>,
) -> Result<(OperationDone, Option<Deciding>), DashError> {
    let actor = scope.actor;
    let kind = op_name(&op);
    let relay = &state.app.relay;
    // A closed round is not among the documents the relay writes to, except to reopen it or to
    // review its conflicts (core's rules take nothing else there).
    let reopened = match &op {
        Operation::ReopenRound { round } => Some(*round),
        Operation::ReviewConflict { conflict, .. } => conflict.round(),
        _ => None,
    };
    let (result, deciding) = relay
        .write_deciding_as(
            actor.person,
            scope.compound.id,
            reopened,
            deciding,
            move |compound, env, _relay_admin| compound.apply(env, &actor, &op),
        )
        .await?;
    let applied = match result {
        Ok(applied) => applied,
        // The relay writes to open documents only, so a closed round looks unknown; say why.
        Err(OperationError::UnknownRound(id)) => {
            let closed = relay
                .storage()
                .document(id)
                .await?
                .is_some_and(|r| r.header.compound == scope.compound.id && !r.open);
            return Err(if closed {
                OperationError::RoundClosed(id).into()
            } else {
                DashError::unprocessable("refused", format!("no round {id} in this compound"))
            });
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(compound = %scope.compound.id, person = %actor.person, op = kind, "dashboard operation");
    let done =
        OperationDone { changed: applied.changed, created: applied.created, new_entity: applied.new_entity };
    Ok((done, deciding))
}

/// The operation's tag, for the log.
fn op_name(op: &Operation) -> String {
    serde_json::to_value(op)
        .ok()
        .and_then(|v| v.get("op").and_then(|o| o.as_str()).map(str::to_owned))
        .unwrap_or_default()
}
