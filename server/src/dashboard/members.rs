//! The members page's API: the compound's people and their devices, inviting a new person
//! (a single-use code, and a QR code of the [`JoinLink`] a phone scans), revoking a person, and
//! minting a new device token for an existing person. Every rule is [`admin`]'s, the same the
//! `doorstep admin` command line and `/v1/compounds/{id}/…` obey: coordinators invite and revoke
//! volunteers and medics, coordinators and admins take an admin, a new token takes a district
//! admin, and a volunteer or medic gets 403 from all of it.
//!
//! Revoking goes through [`admin::revoke_membership`], the path the command line uses: at its
//! next sync the person's phone is told the compound is gone and wipes its documents (the
//! replica's wipe-on-revoke), and the relay refuses anything more from them for it.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use doorstep_core::id::PersonId;
use doorstep_core::time::clock_is_off;
use doorstep_core::{Role, Timestamp};
use serde::{Deserialize, Serialize};

use super::error::DashError;
use super::signed_in::SignedIn;
use super::{DashState, path_id, qr};
use crate::admin;
use crate::client::Client;
use crate::error::AppError;
use crate::http::json::{JsonBody, PathParams};
use crate::join_link::JoinLink;
use crate::storage::{Member, MemberDevice, ShareRefused};

/// Longest device name accepted for a minted token, in characters.
const MAX_DEVICE_NAME: usize = admin::MAX_NAME;

/// A member and the devices they joined with.
#[derive(Debug, Clone, Serialize)]
pub struct MemberView {
    /// Who they are, their role, when they joined, whether they were revoked.
    #[serde(flatten)]
    pub member: Member,
    /// Their devices, oldest first, with when each last synced and how far off its clock was
    /// then, when by more than [`doorstep_core::time::CLOCK_OFF_BY_MS`].
    pub devices: Vec<DeviceView>,
    /// They are a district admin: their phone and membership take a district admin to revoke.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub district_admin: bool,
    /// Messages of theirs the relay refused because they had used up their day's share of the
    /// growth of the compound's documents (`growth_share.rs`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share_refused: Option<ShareRefused>,
}

/// A member's device as the page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceView {
    /// The device.
    #[serde(flatten)]
    pub device: MemberDevice,
    /// Its clock is off by what most phones' are, so the relay's own clock is in doubt
    /// (`relay_clock.rs`), not this phone's; said only when so.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub relay_clock_in_doubt: bool,
}

/// Lists the members, revoked ones included (with `revoked: true`), each with their devices.
pub async fn list(
    State(state): State<DashState>,
    signed: SignedIn,
    PathParams(compound): PathParams<String>,
) -> Result<Json<Vec<MemberView>>, DashError> {
    let scope = signed.scope(&state, &compound).await?;
    let relay = &state.app.relay;
    let members = admin::members(relay, &signed.principal, scope.compound.id).await?;
    let noted = relay.devices_seen();
    let doubt = state.app.relay_clock.doubt();
    let mut devices: Vec<DeviceView> = (relay.storage().member_devices(scope.compound.id).await?)
        .into_iter()
        .map(|device| {
            let seen = noted.noted(device.device);
            let mut device = device.with_noted(seen);
            // Seconds of drift are no one's concern; a wrong date is.
            device.clock_off_by_ms = device.clock_off_by_ms.filter(|off| clock_is_off(*off));
            let relay_clock_in_doubt =
                device.clock_off_by_ms.zip(doubt).is_some_and(|(off, doubt)| doubt.explains(off));
            DeviceView { device, relay_clock_in_doubt }
        })
        .collect();
    let mut share_refusals: HashMap<PersonId, ShareRefused> =
        relay.storage().share_refusals(scope.compound.id).await?.into_iter().collect();
    let district_admins = relay.storage().district_admins().await?;
    Ok(Json(
        members
            .into_iter()
            .map(|member| {
                let (theirs, rest) = devices.drain(..).partition(|d| d.device.person == member.person);
                devices = rest;
                let share_refused = share_refusals.remove(&member.person);
                let district_admin = district_admins.contains(&member.person);
                MemberView { member, devices: theirs, district_admin, share_refused }
            })
            .collect(),
    ))
}

/// `POST …/members/invites`'s body.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InviteRequest {
    /// The role the invite grants.
    pub role: Role,
}

/// A new invite, shown once: the code to type, the link to scan and its QR code.
#[derive(Debug, Clone, Serialize)]
pub struct InviteShown {
    /// The single-use code.
    pub code: String,
    /// The role it grants.
    pub role: Role,
    /// Until when it can be used (Unix milliseconds).
    pub expires_at: Timestamp,
    /// `doorstep://join?relay=…&code=…`.
    pub link: String,
    /// The link as a QR code, an inline SVG drawn by the relay.
    pub qr_svg: String,
}

/// Makes a single-use invite for the compound, valid for the relay's invite lifetime.
pub async fn invite(
    State(state): State<DashState>,
    signed: SignedIn,
    client: Client,
    headers: HeaderMap,
    PathParams(compound): PathParams<String>,
    JsonBody(body): JsonBody<InviteRequest>,
) -> Result<(StatusCode, Json<InviteShown>), DashError> {
    let scope = signed.scope(&state, &compound).await?;
    let lifetime = state.app.config.invite_lifetime;
    let invite =
        admin::create_invite(&state.app.relay, &signed.principal, scope.compound.id, body.role, lifetime)
            .await?;
    let link = JoinLink::Join { relay: relay_url(&client, &headers)?, code: invite.code.clone() }.to_uri();
    let qr_svg = qr::svg(&link)?;
    Ok((
        StatusCode::CREATED,
        Json(InviteShown {
            code: invite.code,
            role: invite.role,
            expires_at: invite.expires_at,
            link,
            qr_svg,
        }),
    ))
}

/// What revoking answered.
#[derive(Debug, Clone, Serialize)]
pub struct Revoked {
    /// The person whose membership ended.
    pub revoked: PersonId,
}

/// Revokes a person's membership of the compound; their phones wipe it at their next sync.
pub async fn revoke(
    State(state): State<DashState>,
    signed: SignedIn,
    PathParams((compound, person)): PathParams<(String, String)>,
) -> Result<Json<Revoked>, DashError> {
    let scope = signed.scope(&state, &compound).await?;
    let person: PersonId = path_id(&person)?;
    admin::revoke_membership(&state.app.relay, &signed.principal, person, scope.compound.id).await?;
    Ok(Json(Revoked { revoked: person }))
}

/// What revoking one device did.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceRevoked {
    /// The device's number.
    pub revoked: i64,
}

/// Revokes one of a member's devices (a lost phone; their other phones keep working), as
/// [`admin::revoke_member_device`] rules: a district admin anyone's, a coordinator a volunteer's
/// or a medic's; the phone wipes everything at its next sync.
pub async fn revoke_device(
    State(state): State<DashState>,
    signed: SignedIn,
    PathParams((compound, person, device)): PathParams<(String, String, String)>,
) -> Result<Json<DeviceRevoked>, DashError> {
    let scope = signed.scope(&state, &compound).await?;
    let person: PersonId = path_id(&person)?;
    let device: i64 = device.parse().map_err(|_| {
        AppError::invalid(format!("device {:?} is not a device number", crate::error::excerpt(&device)))
    })?;
    let relay = &state.app.relay;
    admin::revoke_member_device(
        relay,
        &signed.principal,
        scope.compound.id,
        person,
        crate::storage::DeviceId(device),
    )
    .await?;
    Ok(Json(DeviceRevoked { revoked: device }))
}

/// `POST …/members/{person}/tokens`'s body.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// A name for the new device ("李强的新手机").
    pub device_name: String,
}

/// A new device token, shown once: the token, the link to scan and its QR code.
#[derive(Debug, Clone, Serialize)]
pub struct TokenShown {
    /// The device token.
    pub token: String,
    /// `doorstep://login?relay=…&token=…`.
    pub link: String,
    /// The link as a QR code, an inline SVG drawn by the relay.
    pub qr_svg: String,
}

/// Mints a new device token for a live member of the compound (a reset phone, a lost token).
/// District admins only, as [`admin::issue_token`] rules.
pub async fn new_token(
    State(state): State<DashState>,
    signed: SignedIn,
    client: Client,
    headers: HeaderMap,
    PathParams((compound, person)): PathParams<(String, String)>,
    JsonBody(body): JsonBody<TokenRequest>,
) -> Result<(StatusCode, Json<TokenShown>), DashError> {
    let scope = signed.scope(&state, &compound).await?;
    let person: PersonId = path_id(&person)?;
    let device_name = body.device_name.trim();
    if device_name.is_empty() || device_name.chars().count() > MAX_DEVICE_NAME {
        return Err(AppError::invalid(format!(
            "device_name must be 1 to {MAX_DEVICE_NAME} characters (设备名称须为 1 至 {MAX_DEVICE_NAME} 个字)"
        ))
        .into());
    }
    let relay = &state.app.relay;
    let live = admin::members(relay, &signed.principal, scope.compound.id)
        .await?
        .into_iter()
        .any(|m| m.person == person && !m.revoked);
    if !live {
        return Err(AppError::NotFound(format!(
            "此人已不在本小区，请重新邀请 / this person is no longer a member of this compound; invite them instead ({person})"
        ))
        .into());
    }
    let token = admin::issue_token(relay, &signed.principal, person, device_name).await?;
    let link = JoinLink::Login { relay: relay_url(&client, &headers)?, token: token.clone() }.to_uri();
    let qr_svg = qr::svg(&link)?;
    Ok((StatusCode::CREATED, Json(TokenShown { token, link, qr_svg })))
}

/// The relay's address as the coordinator's browser reached it: the scheme the request came
/// over and the host it was sent to (behind a trusted proxy, the host the proxy forwarded). A
/// phone on the same network reaches the relay the same way.
fn relay_url(client: &Client, headers: &HeaderMap) -> Result<String, DashError> {
    let host = client
        .forwarded_host
        .clone()
        .or_else(|| headers.get(header::HOST).and_then(|v| v.to_str().ok()).map(str::to_owned))
        .filter(|h| !h.is_empty())
        .ok_or_else(|| {
            AppError::invalid("the request names no Host, so the invite link cannot name this relay")
        })?;
    let scheme = if client.https { "https" } else { "http" };
    Ok(format!("{scheme}://{host}"))
}
