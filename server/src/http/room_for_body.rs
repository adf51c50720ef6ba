//! Room among the relay's bodies in hand (`bodies_in_hand.rs`) for a JSON body, taken before a
//! byte of it is read: its declared length (the body limit when it declares none) twice, as read
//! and as parsed. For the routes a member's token reaches with a body of more than a few
//! kilobytes besides `/v1/sync` (which holds its own, `cbor.rs`, from the same declared length):
//! the set-aside exchange.

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::header::CONTENT_LENGTH;
use axum::http::request::Parts;

use crate::bodies_in_hand::HeldBytes;
use crate::error::AppError;
use crate::state::AppState;

/// The room held for the request's body until the handler ends.
#[derive(Debug)]
pub struct RoomForBody(pub HeldBytes);

impl FromRequestParts<AppState> for RoomForBody {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let limit = state.config.limits.max_body_bytes;
        let declared = declared_length(&parts.headers)
            .and_then(|length| usize::try_from(length).ok())
            .map_or(limit, |length| length.min(limit));
        Ok(RoomForBody(state.bodies_in_hand.hold(declared.saturating_mul(2))?))
    }
}

/// The body length a request declares (`Content-Length`), if it declares one that reads.
pub(super) fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
}
