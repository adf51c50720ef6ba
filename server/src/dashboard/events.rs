//! `GET /dashboard/api/events?compound=ID`: the live stream of the compound on screen (see
//! [`crate::events`]). The dashboard refetches what it shows when a `changed` event arrives.

use axum::extract::State;
use axum::response::Response;
use doorstep_core::id::CompoundId;
use serde::Deserialize;

use super::error::DashError;
use super::signed_in::SignedIn;
use super::{DashState, Params};
use crate::admin::Principal;
use crate::error::AppError;
use crate::events::{self, Audience, Gate, Listener};
use crate::storage::{SecretHash, TokenStatus};

/// The query string.
#[derive(Debug, Clone, Deserialize)]
pub struct EventParams {
    compound: Option<String>,
}

/// Opens the stream.
pub async fn stream(
    State(state): State<DashState>,
    signed: SignedIn,
    Params(params): Params<EventParams>,
) -> Result<Response, DashError> {
    let compound = params
        .compound
        .ok_or_else(|| AppError::invalid("say which compound to follow: ?compound=<compound id>"))?;
    let scope = signed.scope(&state, &compound).await?;
    let mut gate = SessionGate { state: state.clone(), session: signed.session, compound: scope.compound.id };
    let audience = gate.recheck().await.map_err(AppError::Unauthorized)?;
    // Only coordinators and admins sign in to the dashboard; a dashboard tab has no device
    // token of its own, so only the per-person cap applies.
    let listener =
        Listener { person: signed.principal.person, device: None, coordinating: true, compounds: Vec::new() };
    let permit = state.app.streams.acquire(listener)?;
    Ok(events::sse(state.app.relay.events(), permit, gate, audience))
}

/// The stream lives as long as the session, its device token and the person's coordinating
/// role in the compound.
struct SessionGate {
    state: DashState,
    session: SecretHash,
    compound: CompoundId,
}

impl Gate for SessionGate {
    async fn recheck(&mut self) -> Result<Audience, String> {
        let storage = self.state.app.relay.storage();
        let failed = |e: crate::storage::StorageError| {
            tracing::warn!(error = %e, "event stream check failed");
            "the relay's storage failed; reconnect shortly".to_owned()
        };
        let record = self
            .state
            .sessions
            .get(self.session)
            .await
            .map_err(failed)?
            .ok_or("the session expired or was ended")?;
        let device = match storage.authenticate(record.token).await.map_err(failed)? {
            TokenStatus::Valid(device) if device.person == record.person => device,
            _ => return Err("the device token of this session was revoked".into()),
        };
        let principal = Principal::load(&self.state.app.relay, &device).await.map_err(|e| e.to_string())?;
        let role = principal.require_running(self.compound, "follow it").map_err(|e| e.to_string())?;
        Ok(Audience { roles: [(self.compound, role)].into_iter().collect(), only: Some(self.compound) })
    }
}
