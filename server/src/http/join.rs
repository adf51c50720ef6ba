//! `POST /v1/join`: an invite code and a device name in, a device token out. The one API route
//! without a token, since this is how a device gets one.

use axum::Json;
use axum::extract::State;

use super::json::JsonBody;
use crate::admin::{self, JoinRequest, Joined};
use crate::error::AppError;
use crate::state::AppState;

/// Redeems an invite.
pub async fn join(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<JoinRequest>,
) -> Result<Json<Joined>, AppError> {
    Ok(Json(admin::join(&state.relay, request).await?))
}
