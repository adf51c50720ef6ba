//! `GET /v1/events`: a phone's live stream of changes to the documents it may hold (see
//! [`crate::events`]). A phone that keeps it open while in the foreground can sync as soon as a
//! coordinator assigns it a task, instead of on its next timer.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::response::Response;
use doorstep_core::id::PersonId;

use super::auth::Authenticated;
use crate::error::AppError;
use crate::events::{self, Audience, Gate, Listener};
use crate::secret;
use crate::state::AppState;
use crate::storage::{SecretHash, TokenStatus};

/// Opens the stream.
pub async fn events(
    State(state): State<AppState>,
    Authenticated(session): Authenticated,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    // The extractor checked the token; its hash is kept to check it again at each keep-alive.
    let token = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.get(7..))
        .map(str::trim)
        .unwrap_or_default();
    let mut gate =
        PhoneGate { state: state.clone(), token: secret::hash_token(token), person: session.person };
    let audience = gate.recheck().await.map_err(AppError::Unauthorized)?;
    let listener = Listener {
        person: session.person,
        device: Some(gate.token),
        coordinating: audience.roles.values().any(|role| role.is_coordinating()) || session.district_admin,
        compounds: audience.roles.keys().copied().collect(),
    };
    let permit = state.streams.acquire(listener)?;
    Ok(events::sse(state.relay.events(), permit, gate, audience))
}

/// A phone may hear of changes in the compounds it is a member of, as long as its token lives.
/// As with sync ([`crate::access::Access`]), membership decides, not district-admin status.
struct PhoneGate {
    state: AppState,
    token: SecretHash,
    person: PersonId,
}

impl Gate for PhoneGate {
    async fn recheck(&mut self) -> Result<Audience, String> {
        let storage = self.state.relay.storage();
        match storage.authenticate(self.token).await {
            Ok(TokenStatus::Valid(session)) if session.person == self.person => {}
            Ok(TokenStatus::Revoked) => return Err("this device's token was revoked".into()),
            Ok(_) => return Err("this token is no longer known to the relay".into()),
            Err(e) => {
                tracing::warn!(error = %e, "event stream check failed");
                return Err("the relay's storage failed; reconnect shortly".into());
            }
        }
        let memberships = storage.memberships(self.person).await.map_err(|e| {
            tracing::warn!(error = %e, "event stream check failed");
            "the relay's storage failed; reconnect shortly".to_owned()
        })?;
        Ok(Audience { roles: memberships.iter().map(|m| (m.compound, m.role)).collect(), only: None })
    }
}
