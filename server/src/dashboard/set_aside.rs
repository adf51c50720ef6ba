//! The review inbox on the dashboard: what volunteers' phones set aside (the relay refused it for
//! good), with who, which door, what, when and why; a coordinator applies an item as their own
//! operation (through [`operations::run`](super::operations), so core's rules judge it exactly as
//! any dashboard edit) or dismisses it with a reason. The phone that sent it learns the outcome on
//! its next sync (see [`crate::set_aside`]).
//!
//! An item is decided once. "Apply" stores the decision in the same transaction as the
//! operation's change ([`DocCommit::decides`](crate::storage::DocCommit)): two coordinators
//! pressing "apply" together apply it once (the second commit finds it decided and stores
//! nothing), a crash stores both or neither, and an operation refused by the rules decides
//! nothing, so the item waits again with the refusal shown to the coordinator.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use doorstep_core::Compound;
use doorstep_core::id::{DocumentId, HouseholdId, PersonId, TaskId};
use doorstep_core::query::HouseholdBook;
use doorstep_core::schema::utc_offset::UtcOffset;
use doorstep_core::sync::SetAsideDecision;
use doorstep_core::{Actor, Operation, OperationError, Role, Timestamp, limits};
use serde::{Deserialize, Serialize};

use super::error::DashError;
use super::operations::{OperationDone, run_deciding};
use super::signed_in::{Scope, SignedIn};
use super::snapshot::{self, Rounds};
use super::{DashState, blocking, names};
use crate::error::{AppError, excerpt};
use crate::http::json::{JsonBody, PathParams};
use crate::storage::{Deciding, NewSetAside, SetAsideDecided, SetAsideRecord, StorageError};

/// Most items the inbox lists: those waiting for a decision first, then decided ones, each newest
/// first; past it, chosen by turns between the devices that sent them (`Storage::set_aside_of`).
pub(super) const LIST_LIMIT: usize = 500;

/// The knocks (recorded attempts) waiting in `compound`'s inbox for a decision, as (round,
/// task): the round page marks those tasks, and the overview counts every waiting item.
pub(super) async fn waiting(
    state: &DashState,
    compound: doorstep_core::id::CompoundId,
) -> Result<Vec<SetAsideRecord>, DashError> {
    let mut records = state.app.relay.storage().set_aside_of(compound, LIST_LIMIT).await?;
    records.retain(|r| r.decided.is_none());
    Ok(records)
}

/// The task a waiting item knocks at, if it is a recorded attempt.
pub(super) fn knock_at(record: &SetAsideRecord) -> Option<(DocumentId, TaskId)> {
    let op: Operation = serde_json::from_str(record.received.item.operation.as_deref()?).ok()?;
    match op {
        Operation::RecordAttempt { round, task, .. } | Operation::RecordAttemptFor { round, task, .. } => {
            Some((round, task))
        }
        _ => None,
    }
}
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
    /// The door it concerns, when the operation names a household or a task (its last, if the
    /// household was removed from the roster since).
    pub address: Option<String>,
    /// Whether that household has been removed from the roster since.
    pub household_removed: bool,
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
    /// The rule in Chinese and in English (`["已结束的配送轮次不再接受修改", "a closed round
    /// takes no more changes"]`), as the sender's phone says it: what the card says.
    pub rule_words: [&'static str; 2],
    /// And the relay's sentence, its Unix-millisecond times written as the compound's local time.
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
    /// The sender's role in the compound (their last one, if a coordinator removed them).
    pub sender_role: Option<Role>,
    /// For a waiting item with an operation: whether the sender's role lets them make it
    /// themselves. `false` means the item asks a coordinator to make, as their own, a change its
    /// sender could not make (a phone whose file was edited, or a forged item); the page warns.
    pub sender_may: Option<bool>,
    /// When the sender was removed from the compound, if they were (Unix ms): an item made after
    /// it (`made_at`, by the phone's clock) came from a phone that was no longer theirs to use
    /// for this compound, perhaps a lost one still in someone's hands; the page warns.
    pub sender_removed_at: Option<i64>,
}

/// A refusal of an item's operation, with what the coordinator can do about it where the rule
/// alone does not say: a knock on a round closed meanwhile is brought back by reopening the round;
/// a task given to someone no longer a member is assigned on the round's page instead.
fn with_what_to_do(refusal: DashError) -> DashError {
    let closed = doorstep_core::permission::Rule::ClosedRoundsAreFinal.explain();
    match refusal {
        DashError::Unprocessable { error, reason, errors } if reason.contains(closed) => {
            DashError::Unprocessable {
                error,
                reason: format!(
                    "{reason}. To bring this back: reopen the round, apply it, then close the round again \
                     (reopening shows the round's open tasks on the volunteers' phones until it is closed) \
                     / 如需补录：先重新开放该轮次，应用后再关闭（开放期间志愿者手机上会重新出现该轮次未完成的任务）"
                ),
                errors,
            }
        }
        // An edit of a household removed since: nothing to apply it to.
        DashError::Unprocessable { error: error @ "unknown_household", reason, errors } => {
            DashError::Unprocessable {
                error,
                reason: format!(
                    "{reason}; nothing to apply it to: dismiss this item with a reason for the volunteer (the card names the door) / 此项无法采用，请驳回并向志愿者说明原因（卡片上有门牌）"
                ),
                errors,
            }
        }
        // The round page's "choose a current member" is no choice here.
        DashError::Unprocessable { error: error @ "not_a_member", reason, errors } => {
            DashError::Unprocessable {
                error,
                reason: format!(
                    "{reason}; dismiss this item, and assign the task on the round's page / 请驳回此项，并在轮次页面改派"
                ),
                errors,
            }
        }
        other => other,
    }
}

/// What the inbox knows of the people who sent items: names, roles, and removals.
struct Senders {
    names: HashMap<PersonId, String>,
    roles: HashMap<PersonId, Role>,
    removed_at: HashMap<PersonId, Timestamp>,
}

/// Every household's door and every task's household, read once for a listing: each item names
/// a household or a task, and reading the roster once per item cost a listing of 500 items
/// seconds.
struct Doors {
    households: HouseholdBook,
    tasks: HashMap<TaskId, HouseholdId>,
}

impl Doors {
    /// The doors of `compound`, and of the households `records` name that were removed from the
    /// roster since (as they last stood: a knock or a note made offline at a door removed
    /// meanwhile still says where it was).
    fn of<'a>(compound: &Compound, records: impl IntoIterator<Item = &'a SetAsideRecord>) -> Self {
        let tasks: HashMap<TaskId, HouseholdId> =
            compound.tasks().into_iter().map(|t| (t.id, t.household)).collect();
        let named: Vec<HouseholdId> = records
            .into_iter()
            .filter_map(|r| household_named(&tasks, r.received.item.operation.as_deref()?))
            .collect();
        Doors { households: HouseholdBook::of(compound, named), tasks }
    }

    /// The door an operation names, and whether its household was removed from the roster since.
    fn named_by(&self, operation: Option<&str>) -> (Option<String>, bool) {
        let Some(household) = operation.and_then(|op| household_named(&self.tasks, op)) else {
            return (None, false);
        };
        let address = self.households.get(household).map(|h| h.address.to_string());
        (address, self.households.removal(household).is_some())
    }
}

/// The household an operation is about, directly or through its task: as the operation applied
/// would touch it, so a field the operation does not have (a `"household"` beside a task, from a
/// modified phone) cannot put another door on the card than the one Apply changes.
fn household_named(tasks: &HashMap<TaskId, HouseholdId>, operation: &str) -> Option<HouseholdId> {
    let op: Operation = serde_json::from_str(operation).ok()?;
    op.household().or_else(|| tasks.get(&op.task()?).copied())
}

/// Whether `person`, in `role`, may make `operation` themselves: it is rehearsed on `compound`
/// (`Compound::rehearse`: every rule asked, nothing written, so an item costs its checks, not
/// its writes). A permission refusal is all that is asked.
fn sender_may(compound: &mut Compound, person: PersonId, role: Role, operation: &str) -> Option<bool> {
    let op: Operation = serde_json::from_str(operation).ok()?;
    let actor = Actor { person, role };
    let tried = crate::clock::with_env(|env| compound.rehearse(env, &actor, &op));
    Some(!matches!(tried, Err(OperationError::Forbidden { .. })))
}

/// An item as the inbox shows it; `rehearsal` is the compound to ask `sender_may` on, for a
/// listing.
fn view(
    record: SetAsideRecord,
    rehearsal: Option<&mut Compound>,
    senders: &Senders,
    doors: &Doors,
    offset: UtcOffset,
) -> SetAsideItem {
    let names = &senders.names;
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
    let sender_role = senders.roles.get(&record.received.person).copied();
    let sender_may = match (rehearsal, &record.decided, sender_role, item.operation.as_deref()) {
        (Some(compound), None, Some(role), Some(operation)) => {
            sender_may(compound, record.received.person, role, operation)
        }
        _ => None,
    };
    let (address, household_removed) = doors.named_by(item.operation.as_deref());
    SetAsideItem {
        id: record.id,
        person: record.received.person,
        person_name: names.get(&record.received.person).cloned(),
        device: record.received.device.0,
        address,
        household_removed,
        summary: item.summary.clone(),
        op,
        document: item.doc.to_string(),
        made_at: item.made_at,
        set_aside_at: item.set_aside_at,
        received_at: record.received.received_at.as_millis(),
        rule: item.rule.clone(),
        rule_words: <[&str; 2]>::from(doorstep_core::sync::refusal_words(&item.rule)),
        reason: with_local_times(&item.reason, offset),
        state,
        decided_by,
        decided_by_name: decided_by.and_then(|p| names.get(&p).cloned()),
        decided_at,
        note,
        operation,
        sender_role,
        sender_may,
        sender_removed_at: senders.removed_at.get(&record.received.person).map(|at| at.as_millis()),
    }
}

/// `sentence` with each `<n> (Unix ms)` time a relay's refusal writes as `2026-12-08 04:56 (UTC+8)`.
fn with_local_times(sentence: &str, offset: UtcOffset) -> String {
    const MARK: &str = " (Unix ms)";
    let mut out = String::with_capacity(sentence.len());
    let mut rest = sentence;
    while let Some(at) = rest.find(MARK) {
        let before = &rest[..at];
        let digits = before.len() - before.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        match before[before.len() - digits..].parse::<i64>() {
            Ok(millis) if digits > 0 => {
                out.push_str(&before[..before.len() - digits]);
                out.push_str(&format!(
                    "{} ({})",
                    offset.local_time(Timestamp::from_millis(millis)),
                    offset.label()
                ));
            }
            _ => {
                out.push_str(before);
                out.push_str(MARK);
            }
        }
        rest = &rest[at + MARK.len()..];
    }
    out.push_str(rest);
    out
}

/// The compound's members' names and roles, removed members included.
async fn senders(state: &DashState, compound: doorstep_core::id::CompoundId) -> Result<Senders, DashError> {
    let members = state.app.relay.storage().members(compound).await?;
    Ok(Senders {
        names: members.iter().map(|m| (m.person, m.name.clone())).collect(),
        roles: members.iter().map(|m| (m.person, m.role)).collect(),
        removed_at: members.iter().filter_map(|m| Some((m.person, m.revoked_at?))).collect(),
    })
}

/// `GET …/compounds/{compound}/set-aside`: the inbox, pending items first, then decided ones, each newest first.
pub async fn list(
    State(state): State<DashState>,
    signed: SignedIn,
    PathParams(compound): PathParams<String>,
) -> Result<Json<Vec<SetAsideItem>>, DashError> {
    let scope = signed.scope(&state, &compound).await?;
    let records = state.app.relay.storage().set_aside_of(scope.compound.id, LIST_LIMIT).await?;
    let senders = senders(&state, scope.compound.id).await?;
    let mut compound = snapshot::load(&state, &scope, Rounds::All).await?;
    Ok(Json(
        blocking(move || {
            let doors = Doors::of(&compound, &records);
            let offset = compound.utc_offset();
            records.into_iter().map(|r| view(r, Some(&mut compound), &senders, &doors, offset)).collect()
        })
        .await?,
    ))
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

/// The refusal of a decision on an item decided already, saying who decided it and how.
async fn already_decided(state: &DashState, scope: &Scope, id: i64) -> DashError {
    let decided = match state.app.relay.storage().set_aside_item(id).await {
        Ok(Some(record)) => record.decided,
        _ => None,
    };
    let Some(decided) = decided else {
        return AppError::from(StorageError::AlreadyDecided(id)).into();
    };
    let who = if decided.by == scope.actor.person {
        "you (你本人)".to_owned()
    } else {
        names(state, scope.compound.id)
            .await
            .ok()
            .and_then(|n| n.get(&decided.by).cloned())
            .unwrap_or_else(|| "another coordinator (其他协调员)".to_owned())
    };
    let how = match decided.decision {
        SetAsideDecision::Applied => "applied (已采用)",
        SetAsideDecision::Dismissed { .. } => "dismissed (未采用)",
    };
    AppError::Conflict(format!(
        "set-aside item {id} was already {how} by {who}; reload the inbox (该项已处理，请刷新)"
    ))
    .into()
}

/// A volunteer's knock applied from the inbox is recorded for them: the attempt names them and
/// the time they knocked beside the coordinator who applies it, so the delivery is credited to
/// whoever made it, when they made it (it was credited to the coordinator, at the time of
/// applying). The time is their phone's, unless it lies after the relay received the item (a
/// clock ahead) or before the relay takes times (a clock behind, or an item long in the inbox):
/// then the time the relay received it.
fn credited_to_the_knocker(
    op: Operation,
    received: &NewSetAside,
    applier: PersonId,
    now: Timestamp,
) -> Operation {
    match op {
        Operation::RecordAttempt { round, task, outcome, note } if received.person != applier => {
            let earliest = now.as_millis().saturating_sub(limits::TIME_BEHIND) + HOUR_MS;
            let received_at = received.received_at.as_millis().max(earliest);
            let knocked_at = received
                .item
                .made_at
                .filter(|&made| (earliest..=received_at).contains(&made))
                .unwrap_or(received_at);
            Operation::RecordAttemptFor {
                round,
                task,
                outcome,
                note,
                knocked_by: received.person,
                knocked_at: Timestamp::from_millis(knocked_at),
            }
        }
        other => other,
    }
}

/// An hour in milliseconds: the margin kept from the oldest time the relay takes.
const HOUR_MS: i64 = 60 * 60 * 1000;

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
    if record.decided.is_some() {
        return Err(already_decided(&state, &scope, record.id).await);
    }
    let Some(operation) = record.received.item.operation.as_deref() else {
        return Err(DashError::unprocessable(
            "refused",
            "the phone did not record the operation behind this change, so there is nothing to apply; dismiss it and ask the volunteer (手机未记录该操作，无法应用)",
        ));
    };
    let op: Operation = serde_json::from_str(operation).map_err(|e| {
        DashError::unprocessable("refused", format!("the item's operation does not read: {e}"))
    })?;
    // Applying is the coordinator's own edit: it gives tasks to live members only, as the
    // round page does.
    super::assignees::require_live_assignee(&state, scope.compound.id, &op).await.map_err(with_what_to_do)?;
    let now = crate::clock::now();
    let op = credited_to_the_knocker(op, &record.received, scope.actor.person, now);
    let decided = SetAsideDecided { decision: SetAsideDecision::Applied, by: scope.actor.person, at: now };
    let deciding = Deciding { item: record.id, decided };
    let done = match run_deciding(&state, &scope, op, Some(deciding)).await {
        Ok((done, None)) => done,
        // The operation changed nothing (what it says is so already): the decision alone.
        Ok((done, Some(deciding))) => {
            if !state.app.relay.storage().decide_set_aside(deciding.item, deciding.decided).await? {
                return Err(already_decided(&state, &scope, record.id).await);
            }
            done
        }
        // Decided meanwhile (the commit found it so, and stored nothing), or refused.
        Err(e) => {
            let now = state.app.relay.storage().set_aside_item(record.id).await?;
            if now.is_some_and(|r| r.decided.is_some()) {
                return Err(already_decided(&state, &scope, record.id).await);
            }
            return Err(with_what_to_do(e));
        }
    };
    tracing::info!(item = record.id, person = %scope.actor.person, "set-aside item applied");
    Ok(Json(Applied { id: record.id, done }))
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
            "the reason holds a control character or a text-direction override; type it again without it (原因含有控制字符或文字方向符)",
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
    if record.decided.is_some() || !storage.decide_set_aside(record.id, decided.clone()).await? {
        return Err(already_decided(&state, &scope, record.id).await);
    }
    tracing::info!(item = record.id, person = %scope.actor.person, "set-aside item dismissed");
    let senders = senders(&state, scope.compound.id).await?;
    let compound = snapshot::load(&state, &scope, Rounds::All).await?;
    let record = SetAsideRecord { decided: Some(decided), ..record };
    Ok(Json(
        blocking(move || {
            let doors = Doors::of(&compound, [&record]);
            view(record, None, &senders, &doors, compound.utc_offset())
        })
        .await?,
    ))
}
