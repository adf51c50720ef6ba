//! `GET /healthz` and `GET /metrics`, unauthenticated so a load balancer and Prometheus can
//! reach them; neither reveals anything about a compound.

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;

use crate::error::AppError;
use crate::state::AppState;

/// Health: the process answers and its storage reads.
pub async fn healthz(State(state): State<AppState>) -> Result<&'static str, AppError> {
    state.relay.storage().district_admins().await?;
    Ok("ok\n")
}

/// The counters, in the Prometheus text format.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let text = state.metrics.render(state.relay.cache().len());
    ([(CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}
