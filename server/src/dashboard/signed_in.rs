//! Who is behind a dashboard request: the session cookie, checked against the session store,
//! the token it was opened with and the rate limit; and, for routes about one compound, the
//! person's role there, which must be coordinator or admin.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use doorstep_core::Actor;
use doorstep_core::id::CompoundId;

use super::DashState;
use super::error::DashError;
use crate::admin::Principal;
use crate::client::Client;
use crate::error::AppError;
use crate::secret;
use crate::storage::{CompoundRecord, SecretHash, TokenStatus};

/// A signed-in coordinator (or admin) and what they hold.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The hash of the session's secret.
    pub session: SecretHash,
    /// The person, their district-admin flag and their live memberships.
    pub principal: Principal,
}

/// A compound the signed-in person runs, for one request.
#[derive(Debug, Clone)]
pub struct Scope {
    /// The compound.
    pub compound: CompoundRecord,
    /// The person, acting in their role there: what core's permission rules judge.
    pub actor: Actor,
}

impl SignedIn {
    /// The compound named by a path segment, if the person runs it: 403 for a volunteer, a
    /// medic or a stranger, 404 if no such compound exists.
    pub async fn scope(&self, state: &DashState, compound: &str) -> Result<Scope, DashError> {
        let id: CompoundId =
            compound.parse().map_err(|e: doorstep_core::id::BadId| AppError::invalid(e.to_string()))?;
        let role = self.principal.require_running(id, "use the dashboard for it")?;
        let record = state
            .app
            .relay
            .storage()
            .compound(id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("no compound {id}")))?;
        Ok(Scope { compound: record, actor: Actor { person: self.principal.person, role } })
    }
}

impl FromRequestParts<DashState> for SignedIn {
    type Rejection = DashError;

    async fn from_request_parts(parts: &mut Parts, state: &DashState) -> Result<Self, DashError> {
        same_origin(&parts.method, &parts.headers, &Client::of(&parts.extensions))?;
        let secret = super::session::cookie(&parts.headers).ok_or_else(|| {
            AppError::Unauthorized("not signed in; sign in at /dashboard with your device token".into())
        })?;
        let session = secret::hash_token(secret);
        let record = state.sessions.get(session).await.map_err(AppError::from)?.ok_or_else(|| {
            AppError::Unauthorized("the session expired or was ended; sign in again at /dashboard".into())
        })?;
        let relay = &state.app.relay;
        let device = match relay.storage().authenticate(record.token).await? {
            TokenStatus::Valid(device) if device.person == record.person => device,
            _ => {
                state.sessions.close(session).await.map_err(AppError::from)?;
                return Err(AppError::Unauthorized(
                    "the device token this session was opened with was revoked; sign in with a new one"
                        .into(),
                )
                .into());
            }
        };
        state
            .app
            .limiter
            .check(session)
            .await
            .map_err(|retry_after| AppError::RateLimited { retry_after })?;
        tracing::Span::current().record("person", tracing::field::display(record.person));
        state.app.requests_in_hand.take_for(parts, record.person)?;
        crate::connections::table::CredentialAccepted::say_for(&parts.extensions);
        let principal = Principal::load(relay, &device).await?;
        Ok(SignedIn { session, principal })
    }
}

/// Refuses a state-changing request sent from another site's page. The `SameSite=Strict` cookie
/// already keeps such requests unsigned; this is the second lock on the door.
///
/// The page's origin must name the host the request was sent to: the `Host` header, or behind
/// a trusted proxy (`--trusted-proxy`) the host the proxy forwarded. `X-Forwarded-Host` from
/// any other peer is ignored ([`Client::resolve`]): anyone can write it.
pub fn same_origin(method: &Method, headers: &HeaderMap, client: &Client) -> Result<(), DashError> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else { return Ok(()) };
    let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let matches = [host, client.forwarded_host.as_deref()]
        .into_iter()
        .flatten()
        .any(|host| origin_host.eq_ignore_ascii_case(host));
    if matches {
        Ok(())
    } else {
        Err(AppError::Forbidden(format!(
            "a request from {origin} may not change anything here; use the dashboard served by this relay"
        ))
        .into())
    }
}
