//! The sync body: `Content-Type: application/cbor`, size-limited, decoded into a core wire type.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use doorstep_core::sync::{SyncError, SyncRequest};

use crate::error::AppError;
use crate::state::AppState;

/// The media type of sync bodies.
pub const CBOR: &str = "application/cbor";

/// A decoded sync request and its size on the wire.
#[derive(Debug)]
pub struct CborSync {
    /// The request.
    pub request: SyncRequest,
    /// Its body size in bytes.
    pub size: usize,
    /// Whether it came in the compact form (core's `sync/compact_request.rs`).
    pub compact: bool,
}

impl FromRequest<AppState> for CborSync {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, AppError> {
        let content_type = req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let media = content_type.split(';').next().unwrap_or("").trim();
        if !media.eq_ignore_ascii_case(CBOR) {
            let shown = if content_type.is_empty() { "none" } else { content_type };
            return Err(AppError::UnsupportedMediaType(format!(
                "a sync body must be sent as Content-Type: {CBOR} (got {shown})"
            )));
        }
        let limit = state.config.limits.max_body_bytes;
        let bytes = Bytes::from_request(req, state).await.map_err(|e: BytesRejection| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                AppError::TooLarge(format!(
                    "the request body is larger than {limit} bytes; sync fewer documents per request"
                ))
            } else {
                AppError::malformed(format!("the request body could not be read: {}", e.body_text()))
            }
        })?;
        let request = SyncRequest::decode(&bytes).map_err(|e| match e {
            SyncError::WireVersion { .. } => {
                AppError::BadRequest { error: "wire_version", reason: e.to_string() }
            }
            other => AppError::malformed(format!("the body is not a sync request: {other}")),
        })?;
        Ok(CborSync { request, size: bytes.len(), compact: SyncRequest::is_compact(&bytes) })
    }
}
