//! `Authorization: Bearer <token>` on every API request, and the token's rate limit.

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use crate::error::AppError;
use crate::secret;
use crate::state::AppState;
use crate::storage::{Session, TokenStatus};

/// The device token a request carries as `Authorization: Bearer <token>`.
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, AppError> {
    let header = headers.get(AUTHORIZATION).ok_or_else(|| {
        AppError::Unauthorized("no Authorization header; send `Authorization: Bearer <device token>`".into())
    })?;
    let value = header
        .to_str()
        .map_err(|_| AppError::Unauthorized("the Authorization header is not readable text".into()))?;
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            AppError::Unauthorized("the Authorization header must be `Bearer <device token>`".into())
        })
}

/// The device behind the request's token, checked against storage and the rate limit.
#[derive(Debug, Clone, Copy)]
pub struct Authenticated(pub Session);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let token = bearer_token(&parts.headers)?;
        let hash = secret::hash_token(token);
        match state.relay.storage().authenticate(hash).await? {
            TokenStatus::Valid(session) => {
                state
                    .limiter
                    .check(hash)
                    .await
                    .map_err(|retry_after| AppError::RateLimited { retry_after })?;
                tracing::Span::current().record("person", tracing::field::display(session.person));
                state.requests_in_hand.take_for(parts, session.person)?;
                // The body readers charge the bytes they hold to this person (`body_in_hand.rs`).
                parts.extensions.insert(session);
                // A member's request: its connection is not closed to make room for a stranger's.
                crate::connections::table::CredentialAccepted::say_for(&parts.extensions);
                Ok(Authenticated(session))
            }
            TokenStatus::Revoked => Err(AppError::TokenRevoked(
                "this device's token was revoked; ask your coordinator for a new invite".into(),
            )),
            TokenStatus::Unknown => Err(AppError::Unauthorized(
                "this token is not known to the relay; join again with an invite code".into(),
            )),
        }
    }
}
