//! Signing in and out of the dashboard, and `GET …/me`.
//!
//! `POST /dashboard/login` takes a device token (the one a coordinator's invite gave, or the
//! admin's) and answers with a session cookie, if the person runs at least one compound or is a
//! district admin. A volunteer or a medic is told the dashboard is not for them, not given a
//! session that every route would refuse.

use axum::Json;
use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use doorstep_core::Role;
use doorstep_core::id::{CompoundId, PersonId};
use serde::{Deserialize, Serialize};

use super::error::DashError;
use super::session;
use super::signed_in::{SignedIn, same_origin};
use super::{DashState, names};
use crate::admin::Principal;
use crate::client::Client;
use crate::error::AppError;
use crate::http::json::JsonBody;
use crate::secret;
use crate::storage::TokenStatus;

/// `POST /dashboard/login`'s body.
#[derive(Debug, Deserialize)]
pub struct Login {
    token: String,
}

/// Who is signed in and what they run.
#[derive(Debug, Clone, Serialize)]
pub struct Me {
    /// The person.
    pub person: PersonId,
    /// Their name, if a compound they run lists them.
    pub name: Option<String>,
    /// Whether they are a district admin (who runs every compound).
    pub district_admin: bool,
    /// The compounds they run, oldest first.
    pub compounds: Vec<MyCompound>,
    /// The longest roster file the relay takes (its body limit), so that the page refuses a
    /// longer one before sending it: on a slow link the relay stops reading a refused upload
    /// after a while (`connections/unread_body.rs`), and the browser would say only that the server
    /// cannot be reached.
    pub max_upload_bytes: usize,
}

/// A compound the person runs.
#[derive(Debug, Clone, Serialize)]
pub struct MyCompound {
    /// Its ID.
    pub id: CompoundId,
    /// Its name.
    pub name: String,
    /// The person's role there: `coordinator` or `admin`.
    pub role: Role,
}

async fn me_of(state: &DashState, principal: &Principal) -> Result<Me, DashError> {
    let compounds: Vec<MyCompound> = state
        .app
        .relay
        .storage()
        .compounds()
        .await?
        .into_iter()
        .filter_map(|c| {
            let role = principal.role_in(c.id).filter(|r| r.is_coordinating())?;
            Some(MyCompound { id: c.id, name: c.name, role })
        })
        .collect();
    let name = match compounds.first() {
        Some(c) => names(state, c.id).await?.remove(&principal.person),
        None => None,
    };
    Ok(Me {
        person: principal.person,
        name,
        district_admin: principal.district_admin,
        compounds,
        max_upload_bytes: state.app.config.limits.max_body_bytes,
    })
}

/// Signs in with a device token.
pub async fn login(
    State(state): State<DashState>,
    client: Client,
    headers: HeaderMap,
    JsonBody(body): JsonBody<Login>,
) -> Result<Response, DashError> {
    same_origin(&Method::POST, &headers, &client)?;
    let token = secret::hash_token(&body.token);
    // Within the same per-token rate as every API request: 17,000 sign-ins in 20 s wrote as many
    // rows and log lines, and signed the person's own dashboard tab out.
    state.app.limiter.check(token).await.map_err(|retry_after| AppError::RateLimited { retry_after })?;
    let relay = &state.app.relay;
    let device = match relay.storage().authenticate(token).await? {
        TokenStatus::Valid(device) => device,
        TokenStatus::Revoked => {
            return Err(AppError::Unauthorized(
                "this device token was revoked; ask your coordinator or admin for a new invite".into(),
            )
            .into());
        }
        TokenStatus::Unknown => {
            return Err(AppError::Unauthorized(
                "this token is not known to the relay; paste the whole device token (it starts with dst_)"
                    .into(),
            )
            .into());
        }
    };
    let principal = Principal::load(relay, &device).await?;
    let me = me_of(&state, &principal).await?;
    if me.compounds.is_empty() && !principal.district_admin {
        let roles: Vec<&str> = principal.memberships.iter().map(|m| m.role.as_str()).collect();
        let held = if roles.is_empty() {
            "no role in any compound".to_owned()
        } else {
            format!("role {}", roles.join(", "))
        };
        return Err(AppError::Forbidden(format!(
            "the dashboard is for coordinators and admins, and this person holds {held}; volunteers and medics use the phone app"
        ))
        .into());
    }
    let secret = state.sessions.open(device.person, token).await.map_err(AppError::from)?;
    // `Secure` when the browser reached us over HTTPS: the relay's own TLS, or a trusted
    // proxy's (an untrusted peer's X-Forwarded-Proto is ignored).
    let cookie = session::set_cookie(&secret, client.https)
        .ok_or_else(|| AppError::Unavailable("the session cookie could not be made".into()))?;
    tracing::info!(person = %device.person, "signed in to the dashboard");
    let mut response = Json(me).into_response();
    response.headers_mut().insert(SET_COOKIE, cookie);
    Ok(response)
}

/// Signs out: ends the session (if any) and clears the cookie.
pub async fn logout(
    State(state): State<DashState>,
    client: Client,
    headers: HeaderMap,
) -> Result<Response, DashError> {
    same_origin(&Method::POST, &headers, &client)?;
    if let Some(secret) = session::cookie(&headers) {
        state.sessions.close(secret::hash_token(secret)).await.map_err(AppError::from)?;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(SET_COOKIE, session::clear_cookie(client.https));
    Ok(response)
}

/// `GET /dashboard/api/me`.
pub async fn me(State(state): State<DashState>, signed: SignedIn) -> Result<Json<Me>, DashError> {
    Ok(Json(me_of(&state, &signed.principal).await?))
}
