//! `POST /v1/wiped`: the one request a revoked token is still heard on. A phone answered 401
//! `token_revoked` wipes itself, then says how much of its work the relay never got
//! ([`doorstep_core::sync::WipeReport`]); the members page shows it beside the revoked phone. The
//! first word of each device dates the wipe, and the most unsent work any word reports stands (a
//! token copied onto a second phone file wipes twice: a 0 heard first hid the other file's 3); a
//! live token is refused (409), an unknown one 401, and the token's requests count against its
//! rate like any API request's.
//!
//! A phone names its unsynced changes by hash (`changes`, at most
//! [`MAX_WIPE_REPORT_CHANGES`]): those the relay's documents hold are not counted. It took them in
//! a sync whose answer the link lost, or a copy of the phone synced them: they went nowhere with
//! the wipe, and counted, the coordinator asked the volunteer to record them again and every
//! knock was made twice. A phone that sends no hashes (older ones) has its count stand.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use doorstep_core::sync::{MAX_WIPE_REPORT_CHANGES, WipeReport};

use super::auth::bearer_token;
use super::json::JsonBody;
use crate::error::AppError;
use crate::state::AppState;
use crate::storage::{TokenStatus, WipeHeard, Wiped};
use crate::{clock, secret};

/// Records what a revoked phone said as it wiped itself.
pub async fn wiped(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(report): JsonBody<WipeReport>,
) -> Result<StatusCode, AppError> {
    let hash = secret::hash_token(bearer_token(&headers)?);
    // Within the same per-token rate as every API request: each one looks its token up.
    state.limiter.check(hash).await.map_err(|retry_after| AppError::RateLimited { retry_after })?;
    if report.change_count() > MAX_WIPE_REPORT_CHANGES {
        return Err(AppError::TooLarge(format!(
            "a wipe's report names at most {MAX_WIPE_REPORT_CHANGES} changes; it named {} (最多 {MAX_WIPE_REPORT_CHANGES} 项)",
            report.change_count()
        )));
    }
    // Documents are read only for a token the relay revoked: an unknown or live one is answered
    // below without anything loaded.
    let revoked = !report.changes.is_empty()
        && matches!(state.relay.storage().authenticate(hash).await?, TokenStatus::Revoked);
    let mut held = 0_usize;
    for unsent in report.changes.iter().filter(|_| revoked) {
        held += crate::set_aside::held_by_the_relay(&state, unsent.doc, &unsent.hashes).await?.len();
    }
    let unsent = report.unsent.saturating_sub(u32::try_from(held).unwrap_or(u32::MAX));
    if held > 0 {
        tracing::info!(
            held,
            said = report.unsent,
            "a wiped phone took for unsent changes the relay holds; not counted"
        );
    }
    let wiped = Wiped { at: clock::now(), unsent };
    match state.relay.storage().record_wipe(hash, wiped).await? {
        WipeHeard::Recorded { person, device } => {
            if unsent > 0 {
                tracing::warn!(
                    %person,
                    device = device.0,
                    unsent,
                    "a revoked phone wiped itself with work the relay never got"
                );
            } else {
                tracing::info!(%person, device = device.0, "a revoked phone wiped itself");
            }
            Ok(StatusCode::NO_CONTENT)
        }
        WipeHeard::AlreadyHeard => Ok(StatusCode::NO_CONTENT),
        WipeHeard::NotRevoked => Err(AppError::Conflict(
            "this device's token is live: a phone wipes itself only after its token was revoked".into(),
        )),
        WipeHeard::Unknown => Err(AppError::Unauthorized(
            "this token is not known to the relay; join again with an invite code".into(),
        )),
    }
}
