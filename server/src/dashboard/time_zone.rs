//! `GET …/time-zone`: the compound's time zone, which the page shows every time in (printed
//! sheets and exports use the same, from the same roster field). A coordinator changes it with
//! the core operation `set_utc_offset` through `POST …/operations`, like any other edit.

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use super::DashState;
use super::error::DashError;
use super::signed_in::SignedIn;
use super::snapshot::{self, Rounds};
use crate::http::json::PathParams;

/// The compound's time zone.
#[derive(Debug, Clone, Serialize)]
pub struct TimeZone {
    /// Minutes east of UTC (480 for China Standard Time).
    pub minutes: i64,
    /// `UTC+8`.
    pub label: String,
}

/// `GET /dashboard/api/compounds/{compound}/time-zone`.
pub async fn get(
    State(state): State<DashState>,
    signed: SignedIn,
    PathParams(compound): PathParams<String>,
) -> Result<Json<TimeZone>, DashError> {
    let scope = signed.scope(&state, &compound).await?;
    let compound = snapshot::load(&state, &scope, Rounds::Open).await?;
    let offset = compound.utc_offset();
    Ok(Json(TimeZone { minutes: offset.minutes(), label: offset.label() }))
}
