//! `POST /v1/set-aside`: a phone's set-aside operations in, for review, and the outcomes of the
//! ones it sent before out (JSON; see [`crate::set_aside`]).

use axum::Json;
use axum::extract::State;
use doorstep_core::sync::{SetAsideAnswer, SetAsideExchange};

use super::auth::Authenticated;
use super::body_in_hand::HeldJson;
use crate::error::AppError;
use crate::state::AppState;

/// Takes set-aside items and answers with what became of earlier ones.
pub async fn exchange(
    State(state): State<AppState>,
    Authenticated(session): Authenticated,
    // Its bytes held among the bodies in hand until the exchange is answered.
    HeldJson(body, _held): HeldJson<SetAsideExchange>,
) -> Result<Json<SetAsideAnswer>, AppError> {
    Ok(Json(crate::set_aside::exchange(&state, session, body, crate::clock::now()).await?))
}
