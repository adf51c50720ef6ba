//! The sync body: `Content-Type: application/cbor`, size-limited, inflated when it came with
//! `Content-Encoding: deflate` (core's `sync/body_deflate.rs`), decoded into a core wire type.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::{CONTENT_ENCODING, CONTENT_TYPE};
use doorstep_core::sync::body_deflate::{self, DEFLATE, InflateError};
use doorstep_core::sync::{SyncError, SyncRequest};

use super::body_in_hand::{self, declared_length};
use super::off_the_workers;
use crate::bodies_in_hand::{BodiesInHand, HeldBytes};
use crate::error::AppError;
use crate::state::AppState;

/// The media type of sync bodies.
pub const CBOR: &str = "application/cbor";

/// A decoded sync request and its size on the wire.
#[derive(Debug)]
pub struct CborSync {
    /// The request.
    pub request: SyncRequest,
    /// Its body size in bytes, as it came (compressed, when it was).
    pub size: usize,
    /// Whether it came compressed.
    pub deflated: bool,
    /// Whether it came in the compact form (core's `sync/compact_request.rs`).
    pub compact: bool,
    /// The room the body takes among the relay's bodies in hand (`bodies_in_hand.rs`), given
    /// back when the request is answered and this is dropped.
    pub held: HeldBytes,
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
        let deflated = match req.headers().get(CONTENT_ENCODING).map(|v| v.to_str().unwrap_or("?").trim()) {
            None | Some("") => false,
            Some(coding) if coding.eq_ignore_ascii_case("identity") => false,
            Some(coding) if coding.eq_ignore_ascii_case(DEFLATE) => true,
            Some(other) => {
                return Err(AppError::UnsupportedMediaType(format!(
                    "a sync body may be sent as Content-Encoding: {DEFLATE} or uncompressed, not {other}"
                )));
            }
        };
        let too_large =
            format!("the request body is larger than {limit} bytes; sync fewer documents per request");
        let declared = declared_length(req.headers());
        // Its bytes held as they arrive, charged to the caller's person; one declared longer than
        // the limit is refused before a byte of it is read.
        let mut held = body_in_hand::held_for(state, req.extensions());
        let bytes = body_in_hand::read(req.into_body(), declared, limit, &mut held, &too_large).await?;
        Self::decode(bytes, deflated, limit, held, &state.bodies_in_hand).await
    }
}

impl CborSync {
    /// `bytes` (compressed when `deflated`) read as a sync request of at most `limit` bytes:
    /// a body sent whole, or one held in pieces (`sync_pieces.rs`). `held` is the room the bytes
    /// already take; what they inflate to and the decoded copy are held in it too.
    pub async fn decode(
        bytes: Bytes,
        deflated: bool,
        limit: usize,
        mut held: HeldBytes,
        in_hand: &BodiesInHand,
    ) -> Result<Self, AppError> {
        let size = bytes.len();
        let bytes = if deflated {
            let inflated = inflated(bytes, limit, in_hand).await?;
            held.hold(inflated.len())?;
            inflated
        } else {
            bytes
        };
        // The decoded request copies the messages out of the bytes.
        held.hold(bytes.len())?;
        let request = SyncRequest::decode(&bytes).map_err(|e| match e {
            SyncError::WireVersion { .. } => {
                AppError::BadRequest { error: "wire_version", reason: e.to_string() }
            }
            other => AppError::malformed(format!("the body is not a sync request: {other}")),
        })?;
        Ok(CborSync { request, size, deflated, compact: SyncRequest::is_compact(&bytes), held })
    }
}

/// Compressed bodies at least this long are inflated on the blocking pool, not on the async
/// workers: a few kilobytes of DEFLATE may inflate to the whole body limit, milliseconds of CPU.
const INFLATE_ON_THE_BLOCKING_POOL: usize = 1024;

/// A compressed body inflated into at most `limit` bytes. A long one waits for its turn among
/// the bodies inflating at once (one per core), so the buffers being inflated stay bounded.
async fn inflated(bytes: Bytes, limit: usize, in_hand: &BodiesInHand) -> Result<Bytes, AppError> {
    let heavy = bytes.len() >= INFLATE_ON_THE_BLOCKING_POOL;
    let _turn = if heavy { Some(in_hand.inflating().await?) } else { None };
    let result =
        off_the_workers::run(heavy, "inflating the request", move || body_deflate::inflate(&bytes, limit))
            .await?;
    result.map(Bytes::from).map_err(|e| match e {
        InflateError::TooLarge { .. } => AppError::TooLarge(format!(
            "the request body inflates to more than {limit} bytes; sync fewer documents per request"
        )),
        InflateError::Malformed(_) => AppError::malformed(e.to_string()),
    })
}
