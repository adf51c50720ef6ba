//! `GET, POST /v1/sync/pieces?digest=&total=&from=&encoding=`: a sync request sent in pieces,
//! every byte that arrives kept (core's `sync/request_pieces.rs`, the relay's
//! `held_requests.rs`). Once all its bytes are held and match their digest, the request is
//! synced as if its body had come whole to `POST /v1/sync`, and the piece that completed it gets
//! that answer; a piece that leaves it incomplete gets `202` and [`PiecesHeld`].

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use doorstep_core::sync::request_pieces::{DEFLATED, PiecesHeld, digest, is_digest};
use futures_util::StreamExt;
use serde::Deserialize;

use super::auth::Authenticated;
use super::cbor::CborSync;
use super::json::QueryParams;
use super::off_the_workers;
use super::sync::synced;
use crate::error::AppError;
use crate::held_requests::{Named, PieceRefused};
use crate::state::AppState;

/// Requests at least this long have their digest checked on the blocking pool.
const DIGEST_ON_THE_BLOCKING_POOL: usize = 64 * 1024;

/// The query.
#[derive(Debug, Deserialize)]
pub struct PiecesQuery {
    /// SHA-256 of the request's bytes, hex.
    digest: String,
    /// The request's length in bytes.
    total: usize,
    /// The first byte this piece carries (a `POST`'s; 0 when left out).
    from: Option<usize>,
    /// `deflate` when the request's bytes are compressed.
    encoding: Option<String>,
}

impl PiecesQuery {
    fn named(&self, limit: usize) -> Result<Named<'_>, AppError> {
        if !is_digest(&self.digest) {
            return Err(AppError::malformed(
                "digest must be the SHA-256 of the request's bytes, 64 lowercase hex digits",
            ));
        }
        if self.total == 0 || self.total > limit {
            return Err(AppError::TooLarge(format!(
                "a request in pieces is 1 to {limit} bytes long (total={}); sync fewer documents per request",
                self.total
            )));
        }
        let deflated = match self.encoding.as_deref() {
            None | Some("" | "identity") => false,
            Some(DEFLATED) => true,
            Some(other) => {
                return Err(AppError::UnsupportedMediaType(format!(
                    "a request in pieces may be compressed with encoding={DEFLATED}, or not at all; not {other}"
                )));
            }
        };
        Ok(Named { digest: &self.digest, total: self.total, deflated })
    }
}

/// How much of a request this device's relay holds, or that it took it.
pub async fn held(
    State(state): State<AppState>,
    Authenticated(session): Authenticated,
    QueryParams(query): QueryParams<PiecesQuery>,
) -> Result<Json<PiecesHeld>, AppError> {
    let request = query.named(state.config.limits.max_body_bytes)?;
    Ok(Json(state.held_requests.status(session.device, request)))
}

/// Keeps a piece, and syncs the request once it is whole.
pub async fn send(
    State(state): State<AppState>,
    headers: HeaderMap,
    Authenticated(session): Authenticated,
    QueryParams(query): QueryParams<PiecesQuery>,
    body: Body,
) -> Response {
    match keep(&state, &headers, session, &query, body).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn keep(
    state: &AppState,
    headers: &HeaderMap,
    session: crate::storage::Session,
    query: &PiecesQuery,
    body: Body,
) -> Result<Response, AppError> {
    let limit = state.config.limits.max_body_bytes;
    let request = query.named(limit)?;
    let held = &state.held_requests;
    let device = session.device;
    if held.status(device, request).taken {
        return Err(AppError::Conflict(
            "the relay already took this request and answered it; sync again for what changed since".into(),
        ));
    }
    let mut at = query.from.unwrap_or(0);
    // Each piece is kept as it arrives: if the link drops the rest (the connection closes, or
    // the relay stops waiting), what came is held for the next window.
    let mut stream = body.into_data_stream();
    while let Some(piece) = stream.next().await {
        let Ok(piece) = piece else {
            // The link dropped the rest: what came is held, and said so in case the phone still
            // hears (a link closed only the phone's way).
            tracing::info!(%device, held = at, total = request.total, "request in pieces cut off; kept what arrived");
            let status = held.status(device, request);
            return Ok((StatusCode::ACCEPTED, Json(status)).into_response());
        };
        at = held.append(device, request, at, &piece).map_err(refused)?;
    }
    let Some(bytes) = held.whole(device, request) else {
        // What is held, whatever this piece said it started from (an empty piece asks too).
        let status = held.status(device, request);
        return Ok((StatusCode::ACCEPTED, Json(status)).into_response());
    };
    // SHA-256 of up to the body limit: milliseconds, off the async workers when long.
    let heavy = bytes.len() >= DIGEST_ON_THE_BLOCKING_POOL;
    let (bytes, named) = off_the_workers::run(heavy, "checking the request's digest", move || {
        let named = digest(&bytes);
        (bytes, named)
    })
    .await?;
    if named != request.digest {
        held.discard(device, request.digest);
        return Err(AppError::malformed(
            "the request's bytes do not match its digest; send it again from byte 0",
        ));
    }
    let body = CborSync::decode(Bytes::from(bytes), request.deflated, limit).await;
    let response = synced(state, headers, session, body).await;
    if response.status().is_success() {
        held.taken(device, request.digest);
    } else if response.status().is_client_error() {
        // Refused as a request (unreadable, too large): it would be refused again.
        held.discard(device, request.digest);
    }
    Ok(response)
}

fn refused(e: PieceRefused) -> AppError {
    match e {
        PieceRefused::NotNext { .. } | PieceRefused::Renamed { .. } => AppError::Conflict(e.to_string()),
        PieceRefused::PastTheEnd { .. } => AppError::TooLarge(e.to_string()),
        PieceRefused::Full { .. } => AppError::Unavailable(e.to_string()),
    }
}
