//! The coordinators' and admins' JSON API: compounds, invites, members, roster import and export.
//! Every route takes a device token; what the person may do is decided in [`crate::admin`].

use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use doorstep_core::Role;
use doorstep_core::id::{CompoundId, PersonId};
use serde::{Deserialize, Serialize};

use super::auth::Authenticated;
use super::body_in_hand;
use super::json::{JsonBody, PathParams, QueryParams, id};
use crate::admin::{self, ImportReport, Invite, Principal};
use crate::error::AppError;
use crate::state::AppState;
use crate::storage::{CompoundRecord, Member, Membership};

async fn principal(state: &AppState, auth: &Authenticated) -> Result<Principal, AppError> {
    Ok(Principal::load(&state.relay, &auth.0).await?)
}

/// `GET /v1/me`.
#[derive(Debug, Serialize)]
pub struct Me {
    person: PersonId,
    /// Their name as their compound's members list has it (absent for a person in none), so a
    /// phone that signs in with a token can greet them by name.
    name: Option<String>,
    district_admin: bool,
    memberships: Vec<MembershipView>,
    /// The coordinators and admins of the caller's compounds, by name (removed ones too: their
    /// past reviews and cancellations still name them), so a phone can say who reviewed a
    /// conflict or cancelled a task instead of showing an ID. Volunteers are not listed.
    coordinators: Vec<NamedPerson>,
}

/// A person and their name in the compound's members list.
#[derive(Debug, Serialize)]
struct NamedPerson {
    person: PersonId,
    name: String,
}

#[derive(Debug, Serialize)]
struct MembershipView {
    compound: CompoundId,
    role: Role,
}

impl From<&Membership> for MembershipView {
    fn from(m: &Membership) -> Self {
        Self { compound: m.compound, role: m.role }
    }
}

/// Who the token belongs to.
pub async fn me(State(state): State<AppState>, auth: Authenticated) -> Result<Json<Me>, AppError> {
    let p = principal(&state, &auth).await?;
    let mut name = None;
    let mut coordinators: Vec<NamedPerson> = Vec::new();
    for m in &p.memberships {
        for member in state.relay.storage().members(m.compound).await? {
            if member.person == p.person && name.is_none() {
                name = Some(member.name.clone());
            }
            if member.role.is_coordinating() && !coordinators.iter().any(|c| c.person == member.person) {
                coordinators.push(NamedPerson { person: member.person, name: member.name });
            }
        }
    }
    Ok(Json(Me {
        person: p.person,
        name,
        coordinators,
        district_admin: p.district_admin,
        memberships: p.memberships.iter().map(MembershipView::from).collect(),
    }))
}

/// `POST /v1/compounds` body.
#[derive(Debug, Deserialize)]
pub struct NewCompound {
    name: String,
    /// A name another compound has already is refused (409) unless this says another is meant.
    #[serde(default)]
    again: bool,
}

/// Creates a compound (district admins).
pub async fn create_compound(
    State(state): State<AppState>,
    auth: Authenticated,
    JsonBody(body): JsonBody<NewCompound>,
) -> Result<(StatusCode, Json<CompoundRecord>), AppError> {
    let p = principal(&state, &auth).await?;
    let record = admin::create_compound(&state.relay, &p, &body.name, body.again).await?;
    Ok((StatusCode::CREATED, Json(record)))
}

/// The compounds the caller belongs to (all of them for a district admin).
pub async fn compounds(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Json<Vec<CompoundRecord>>, AppError> {
    let p = principal(&state, &auth).await?;
    let all = state.relay.storage().compounds().await?;
    Ok(Json(all.into_iter().filter(|c| p.role_in(c.id).is_some()).collect()))
}

/// `POST /v1/compounds/{id}/invites` body.
#[derive(Debug, Deserialize)]
pub struct NewInvite {
    role: Role,
    #[serde(default)]
    expires_in_hours: Option<u64>,
}

/// Makes an invite code.
pub async fn create_invite(
    State(state): State<AppState>,
    auth: Authenticated,
    PathParams(compound): PathParams<String>,
    JsonBody(body): JsonBody<NewInvite>,
) -> Result<(StatusCode, Json<Invite>), AppError> {
    let compound: CompoundId = id(&compound)?;
    let lifetime = match body.expires_in_hours {
        Some(0) => return Err(AppError::invalid("expires_in_hours must be at least 1")),
        Some(hours) if hours > 24 * 90 => {
            return Err(AppError::invalid("expires_in_hours may be at most 2160 (90 days)"));
        }
        Some(hours) => Duration::from_secs(hours * 3600),
        None => state.config.invite_lifetime,
    };
    let p = principal(&state, &auth).await?;
    let invite = admin::create_invite(&state.relay, &p, compound, body.role, lifetime).await?;
    Ok((StatusCode::CREATED, Json(invite)))
}

/// Lists a compound's members.
pub async fn members(
    State(state): State<AppState>,
    auth: Authenticated,
    PathParams(compound): PathParams<String>,
) -> Result<Json<Vec<Member>>, AppError> {
    let compound: CompoundId = id(&compound)?;
    let p = principal(&state, &auth).await?;
    Ok(Json(admin::members(&state.relay, &p, compound).await?))
}

/// Revokes a member.
pub async fn revoke(
    State(state): State<AppState>,
    auth: Authenticated,
    PathParams((compound, person)): PathParams<(String, String)>,
) -> Result<StatusCode, AppError> {
    let (compound, person): (CompoundId, PersonId) = (id(&compound)?, id(&person)?);
    let p = principal(&state, &auth).await?;
    admin::revoke_membership(&state.relay, &p, person, compound).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/persons/{id}/revoke-devices` answer.
#[derive(Debug, Serialize)]
pub struct Revoked {
    revoked: usize,
}

/// Revokes every token of a person (district admins).
pub async fn revoke_devices(
    State(state): State<AppState>,
    auth: Authenticated,
    PathParams(person): PathParams<String>,
) -> Result<Json<Revoked>, AppError> {
    let person: PersonId = id(&person)?;
    let p = principal(&state, &auth).await?;
    Ok(Json(Revoked { revoked: admin::revoke_devices(&state.relay, &p, person).await? }))
}

/// `?accept_good_rows=true`.
#[derive(Debug, Deserialize)]
pub struct ImportOptions {
    #[serde(default)]
    accept_good_rows: bool,
}

/// Imports a roster file (the body, as uploaded): a CSV or an .xlsx workbook, read within the
/// request's time.
pub async fn import_roster(
    State(state): State<AppState>,
    auth: Authenticated,
    PathParams(compound): PathParams<String>,
    QueryParams(options): QueryParams<ImportOptions>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<ImportReport>, AppError> {
    let compound: CompoundId = id(&compound)?;
    let p = principal(&state, &auth).await?;
    let limit = state.config.limits.max_body_bytes;
    let (body, _held) = body_in_hand::upload(&state.bodies_in_hand, p.person, &headers, body, limit).await?;
    let report = admin::import_roster(
        &state.roster_readers,
        &state.relay,
        &p,
        compound,
        body,
        options.accept_good_rows,
        Instant::now() + state.config.limits.request_timeout,
    )
    .await?;
    Ok(Json(report))
}

/// Exports the roster as CSV.
pub async fn export_roster(
    State(state): State<AppState>,
    auth: Authenticated,
    PathParams(compound): PathParams<String>,
) -> Result<Response, AppError> {
    let compound: CompoundId = id(&compound)?;
    let p = principal(&state, &auth).await?;
    let csv = admin::export_roster(&state.relay, &p, compound).await?;
    let disposition = format!("attachment; filename=\"roster-{compound}.csv\"");
    Ok(([(CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()), (CONTENT_DISPOSITION, disposition)], csv)
        .into_response())
}
