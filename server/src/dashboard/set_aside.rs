//! The review inbox on the dashboard: what volunteers' phones set aside (the relay refused it for
//! good), with who, which door, what, when and why; a coordinator applies an item as their own
//! operation (through [`operations::run`](super::operations), so core's rules judge it exactly as
//! any dashboard edit) or dismisses it with a reason. The phone that sent it learns the outcome on
//! its next sync (see [`crate::set_aside`]).
//!
//! An item is decided once: the decision is recorded before the operation is applied, so two
//! coordinators pressing "apply" together apply it once; if the operation is then refused, the
//! decision is taken back and the item waits again, with the refusal shown to the coordinator.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use doorstep_core::Compound;
use doorstep_core::id::{HouseholdId, PersonId, TaskId};
use doorstep_core::sync::SetAsideDecision;
use doorstep_core::{Operation, Timestamp};
use serde::{Deserialize, Serialize};

use super::error::DashError;
use super::operations::{OperationDone, run};
use super::signed_in::{Scope, SignedIn};
use super::snapshot::{self, Rounds};
use super::{DashState, blocking, names};
use crate::error::{AppError, excerpt};
use crate::http::json::{JsonBody, PathParams};
use crate::storage::{SetAsideDecided, SetAsideRecord};

/// Most items the inbox lists (newest first).
const LIST_LIMIT: usize = 500;
/// Most characters of a dismissal's reason.
const MAX_REASON_CHARS: usize = 500;

/// A set-aside item as the inbox shows it.
#[derive(Debug, Clone, Serialize)]
pub struct SetAsideItem {
    /// Its number in the inbox.
    pub id: i64,
    /// Who made it.
    pub person: PersonId,
    /// Their name.
    pub person_name: Option<String>,
    /// The device that sent it.
    pub device: i64,
    /// The door it concerns, when the operation names a household or a task.
    pub address: Option<String>,
    /// The phone's one-line summary.
    pub summary: String,
    /// The operation's tag (`set_control_status`), if it was sent.
    pub op: Option<String>,
    /// The operation as core's JSON, if it was sent.
    pub operation: Option<serde_json::Value>,
    /// The document it was made in.
    pub document: String,
    /// When it was made (device time), if known.
    pub made_at: Option<i64>,
    /// When the phone set it aside (device time).
    pub set_aside_at: i64,
    /// When the relay received it.
    pub received_at: i64,
    /// Why the relay refused it: the rule's code.
    pub rule: String,
    /// And its sentence.
    pub reason: String,
    /// `pending`, `applied` or `dismissed`.
    pub state: &'static str,
    /// Who decided.
    pub decided_by: Option<PersonId>,
    /// Their name.
    pub decided_by_name: Option<String>,
    /// When.
    pub decided_at: Option<i64>,
    /// The dismissal's reason.
    pub note: Option<String>,
}

/// The door an operation names, from the compound's roster and rounds.
fn door(compound: &Compound, operation: Option<&serde_json::Value>) -> Option<String> {
    let op = operation?;
    let household: Option<HouseholdId> = match op.get("household").and_then(|h| h.as_str()) {
        Some(h) => h.parse().ok(),
        None => {
            let task: TaskId = op.get("task")?.as_str()?.parse().ok()?;
            compound.tasks().into_iter().find(|t| t.id == task).map(|t| t.household)
        }
    };
    let household = household?;
    compound.households().into_iter().find(|h| h.id == household).map(|h| h.address.to_string())
}

fn view(record: SetAsideRecord, compound: &Compound, names: &HashMap<PersonId, String>) -> SetAsideItem {
    let item = &record.received.item;
    let operation: Option<serde_json::Value> =
        item.operation.as_deref().and_then(|o| serde_json::from_str(o).ok());
    let op = operation.as_ref().and_then(|o| o.get("op")).and_then(|t| t.as_str()).map(str::to_owned);
    let (state, decided_by, decided_at, note) = match &record.decided {
        None => ("pending", None, None, None),
        Some(d) => match &d.decision {
            SetAsideDecision::Applied => ("applied", Some(d.by), Some(d.at.as_millis()), None),
            SetAsideDecision::Dismissed { reason } => {
                ("dismissed", Some(d.by), Some(d.at.as_millis()), Some(reason.clone()))
            }
        },
    };
    SetAsideItem {
        id: record.id,
        person: record.received.person,
        person_name: names.get(&record.received.person).cloned(),
        device: record.received.device.0,
        address: door(compound, operation.as_ref()),
        summary: item.summary.clone(),
        op,
        document: item.doc.to_string(),
        made_at: item.made_at,
        set_aside_at: item.set_aside_at,
        received_at: record.received.received_at.as_millis(),
        rule: item.rule.clone(),
        reason: item.reason.clone(),
        state,
        decided_by,
        decided_by_name: decided_by.and_then(|p| names.get(&p).cloned()),
        decided_at,
        note,
        operation,
    }
}

/// `GET …/compounds/{compound}/set-aside`: the inbox, newest first, pending and decided.
pub async fn list(
    State(state): State<DashState>,
    signed: SignedIn,
    PathParams(compound): PathParams<String>,
) -> Result<Json<Vec<SetAsideItem>>, DashError> {
    let scope = signed.scope(&state, &compound).await?;
    let records = state.app.relay.storage().set_aside_of(scope.compound.id, LIST_LIMIT).await?;
    let names = names(&state, scope.compound.id).await?;
    let compound = snapshot::load(&state.app.relay, scope.compound.id, Rounds::All).await?;
    Ok(Json(blocking(move || records.into_iter().map(|r| view(r, &compound, &names)).collect()).await?))
}

/// One item of this compound's inbox, or 404.
async fn item_in(state: &DashState, scope: &Scope, id: &str) -> Result<SetAsideRecord, DashError> {
    let number: i64 = id
        .parse()
        .map_err(|_| AppError::invalid(format!("{:?} is not a set-aside item number", excerpt(id))))?;
    match state.app.relay.storage().set_aside_item(number).await? {
        Some(record) if record.received.compound == scope.compound.id => Ok(record),
        _ => Err(AppError::NotFound(format!("no set-aside item {number} in this compound")).into()),
    }
}

fn already_decided(record: &SetAsideRecord) -> DashError {
    AppError::Conflict(format!(
        "set-aside item {} was already decided by another coordinator; reload the inbox (该项已由其他协调员处理)",
        record.id
    ))
    .into()
}

/// What applying an item did.
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    /// The item's number.
    pub id: i64,
    /// What the operation changed.
    pub done: OperationDone,
}

/// `POST …/compounds/{compound}/set-aside/{id}/apply`: applies the item's operation as the
/// signed-in coordinator's own.
pub async fn apply(
    State(state): State<DashState>,
    signed: SignedIn,
    PathParams((compound, id)): PathParams<(String, String)>,
) -> Result<Json<Applied>, DashError> {
    let scope = signed.scope(&state, &compound).await?;
    let record = item_in(&state, &scope, &id).await?;
    let Some(operation) = record.received.item.operation.as_deref() else {
        return Err(DashError::unprocessable(
            "refused",
            "the phone did not record the operation behind this change, so there is nothing to apply; dismiss it and ask the volunteer (手机未记录该操作，无法应用)",
        ));
    };
    let op: Operation = serde_json::from_str(operation).map_err(|e| {
        DashError::unprocessable("refused", format!("the item's operation does not read: {e}"))
    })?;
    let storage = state.app.relay.storage();
    let decided = SetAsideDecided {
        decision: SetAsideDecision::Applied,
        by: scope.actor.person,
        at: crate::clock::now(),
    };
    if !storage.decide_set_aside(record.id, decided).await? {
        return Err(already_decided(&record));
    }
    match run(&state, &scope, op).await {
        Ok(done) => {
            tracing::info!(item = record.id, person = %scope.actor.person, "set-aside item applied");
            Ok(Json(Applied { id: record.id, done }))
        }
        Err(e) => {
            storage.undecide_set_aside(record.id).await?;
            Err(e)
        }
    }
}

/// A dismissal.
#[derive(Debug, Clone, Deserialize)]
pub struct Dismissal {
    /// Why, for the volunteer.
    pub reason: String,
}

/// `POST …/compounds/{compound}/set-aside/{id}/dismiss` `{"reason"}`.
pub async fn dismiss(
    State(state): State<DashState>,
    signed: SignedIn,
    PathParams((compound, id)): PathParams<(String, String)>,
    JsonBody(body): JsonBody<Dismissal>,
) -> Result<Json<SetAsideItem>, DashError> {
    let scope = signed.scope(&state, &compound).await?;
    let reason = body.reason.trim().to_owned();
    if reason.is_empty() {
        return Err(AppError::invalid(
            "give a reason for dismissing the item; the volunteer sees it (请填写不采用的原因，志愿者会看到)",
        )
        .into());
    }
    if crate::admin::holds_stray_control(&reason) {
        return Err(AppError::invalid(
            "the reason holds a control character; type it again without it (原因含有控制字符)",
        )
        .into());
    }
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(AppError::invalid(format!(
            "the reason is {} characters; at most {MAX_REASON_CHARS} (原因过长)",
            reason.chars().count()
        ))
        .into());
    }
    let record = item_in(&state, &scope, &id).await?;
    let storage = state.app.relay.storage();
    let at: Timestamp = crate::clock::now();
    let decided =
        SetAsideDecided { decision: SetAsideDecision::Dismissed { reason }, by: scope.actor.person, at };
    if !storage.decide_set_aside(record.id, decided.clone()).await? {
        return Err(already_decided(&record));
    }
    tracing::info!(item = record.id, person = %scope.actor.person, "set-aside item dismissed");
    let names = names(&state, scope.compound.id).await?;
    let compound = snapshot::load(&state.app.relay, scope.compound.id, Rounds::All).await?;
    let record = SetAsideRecord { decided: Some(decided), ..record };
    Ok(Json(blocking(move || view(record, &compound, &names)).await?))
}
