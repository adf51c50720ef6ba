//! `GET, POST /v1/sync/pieces?digest=&total=&from=&encoding=`: a sync request sent in pieces,
//! every byte that arrives kept (core's `sync/request_pieces.rs`, the relay's
//! `held_requests.rs`). Once all its bytes are held and match their digest, the request is
//! synced as if its body had come whole to `POST /v1/sync`, and the piece that completed it gets
//! that answer; a piece that leaves it incomplete gets `202` and [`PiecesHeld`].

use std::time::{Duration, Instant};

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
use crate::bodies_in_hand::HeldBytes;
use crate::error::AppError;
use crate::held_requests::{Named, PieceRefused};
use crate::state::AppState;
use crate::storage::DeviceId;

/// Requests at least this long have their digest checked on the blocking pool.
const DIGEST_ON_THE_BLOCKING_POOL: usize = 64 * 1024;

/// Bytes arriving are written to the store at least every `limits.keep_pieces_every` while they
/// come, or as soon as this many wait.
const KEEP_BYTES: usize = 1024 * 1024;

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
    Ok(Json(state.held_requests.status(state.relay.storage(), session.device, request).await?))
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

/// How a piece's body ended.
enum Ended {
    /// All of it came.
    Whole,
    /// The link dropped the rest.
    Cut,
    /// It came slower than the relay waits for one request.
    OutOfTime,
}

/// Bytes of a piece that arrived and are not yet in the store.
struct Arriving {
    /// Where they start in the request.
    at: usize,
    bytes: Vec<u8>,
    /// Their room among the relay's bodies in hand, charged to the caller's person.
    held: HeldBytes,
    /// When the first of them came.
    since: Option<Instant>,
}

impl Arriving {
    /// Writes what arrived to the store, moves `at` past it, and gives back its room.
    async fn keep(&mut self, state: &AppState, device: DeviceId, request: Named<'_>) -> Result<(), AppError> {
        self.since = None;
        if self.bytes.is_empty() {
            return Ok(());
        }
        let bytes = std::mem::take(&mut self.bytes);
        // The bytes are moved into the store's write; their room goes back once it is done.
        let _held = self.held.take();
        let len = bytes.len();
        state
            .held_requests
            .append(state.relay.storage(), device, request, self.at, bytes)
            .await?
            .map_err(refused)?;
        self.at += len;
        Ok(())
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
    let (held, store) = (&state.held_requests, state.relay.storage());
    let device = session.device;
    // A piece past byte 0 of a request taken already is refused here, before its bytes are
    // read; from byte 0 it is a new request with the same bytes (`held_requests::place`).
    let from = query.from.unwrap_or(0);
    if from > 0 && held.status(store, device, request).await?.taken {
        return Err(refused(PieceRefused::Taken));
    }
    // What arrives is kept as it arrives: written to the store at least every second while it
    // comes, so a link that goes silent without closing loses no more than that; and when it
    // ends, is cut, or runs past what the relay waits for one request.
    let timeout = state.config.limits.request_timeout;
    let keep_every = state.config.limits.keep_pieces_every;
    let deadline = Instant::now() + timeout.saturating_sub((timeout / 4).min(Duration::from_secs(5)));
    if from > request.total {
        return Err(refused(PieceRefused::PastTheEnd { total: request.total }));
    }
    let room = state.bodies_in_hand.for_request(Some(session.person));
    let mut arriving = Arriving { at: from, bytes: Vec::new(), held: room, since: None };
    // A status question of this device meanwhile asks for what arrived to be kept at once.
    let arrival = held.arriving.begin(device);
    let mut stream = body.into_data_stream();
    let ended = loop {
        let keep_by = arriving.since.map_or(deadline, |since| (since + keep_every).min(deadline));
        let next = tokio::select! {
            next = tokio::time::timeout_at(keep_by.into(), stream.next()) => next,
            () = arrival.asked_to_keep() => {
                arriving.keep(state, device, request).await?;
                arrival.kept();
                continue;
            }
        };
        match next {
            Ok(Some(Ok(piece))) => {
                arriving.since.get_or_insert_with(Instant::now);
                if arriving.at.saturating_add(arriving.bytes.len()).saturating_add(piece.len())
                    > request.total
                {
                    return Err(refused(PieceRefused::PastTheEnd { total: request.total }));
                }
                if let Err(no_room) = arriving.held.hold(piece.len()) {
                    // What came before this is kept; the phone asks and goes on from there.
                    arriving.keep(state, device, request).await?;
                    return Err(no_room);
                }
                arriving.bytes.extend_from_slice(&piece);
                if arriving.bytes.len() >= KEEP_BYTES {
                    arriving.keep(state, device, request).await?;
                }
            }
            Ok(Some(Err(_))) => break Ended::Cut,
            Ok(None) => break Ended::Whole,
            Err(_) if Instant::now() >= deadline => break Ended::OutOfTime,
            Err(_) => arriving.keep(state, device, request).await?,
        }
    };
    let from_zero = from == 0 && arriving.at == 0;
    if arriving.bytes.is_empty() && from_zero {
        // An empty piece from byte 0 names the request (and starts it if it is new).
        held.append(store, device, request, 0, Vec::new()).await?.map_err(refused)?;
    }
    arriving.keep(state, device, request).await?;
    // Ended: a status question waiting on this piece is let go (what it held is in the store).
    drop(arrival);
    match ended {
        Ended::Whole => {}
        Ended::Cut => {
            // The link dropped the rest: what came is held, and said so in case the phone still
            // hears (a link closed only the phone's way).
            tracing::info!(%device, held = arriving.at, total = request.total, "request in pieces cut off; kept what arrived");
            let status = held.status(store, device, request).await?;
            return Ok((StatusCode::ACCEPTED, Json(status)).into_response());
        }
        Ended::OutOfTime => return Err(AppError::Timeout(timeout)),
    }
    let Some(bytes) = held.whole(store, device, request).await? else {
        // What is held, whatever this piece said it started from (an empty piece asks too).
        let status = held.status(store, device, request).await?;
        return Ok((StatusCode::ACCEPTED, Json(status)).into_response());
    };
    // The whole request, read back from the store (one per device, at most the body limit),
    // takes its room among the bodies in hand; a piece that did not complete it takes none.
    let mut room = state.bodies_in_hand.for_request(Some(session.person));
    room.hold(bytes.len())?;
    // SHA-256 of up to the body limit: milliseconds, off the async workers when long.
    let heavy = bytes.len() >= DIGEST_ON_THE_BLOCKING_POOL;
    let (bytes, named) = off_the_workers::run(heavy, "checking the request's digest", move || {
        let named = digest(&bytes);
        (bytes, named)
    })
    .await?;
    if named != request.digest {
        held.settle(store, device, request.digest, false).await?;
        return Err(AppError::malformed(
            "the request's bytes do not match its digest; send it again from byte 0",
        ));
    }
    let body =
        CborSync::decode(Bytes::from(bytes), request.deflated, limit, room, &state.bodies_in_hand).await;
    let response = synced(state, headers, session, body).await;
    let settled = if response.status().is_success() {
        held.settle(store, device, request.digest, true).await
    } else if refused_as_a_request(response.status()) {
        // Refused as a request (unreadable, too large): it would be refused again.
        held.settle(store, device, request.digest, false).await
    } else {
        Ok(())
    };
    if let Err(e) = settled {
        // The answer stands; the phone asking later finds the request whole and is answered again.
        tracing::warn!(%device, error = %e, "a request in pieces was answered but not settled in the store");
    }
    Ok(response)
}

/// Whether an answer refused the request for what it is (unreadable, too large): sent again, it
/// would be refused again, so its bytes are let go. A wait is not such a refusal: 429 (the
/// person's share of the bodies in hand, or syncs in progress) and 408 leave the bytes held, and
/// the phone completes the request again after the wait without sending a byte of it.
fn refused_as_a_request(status: StatusCode) -> bool {
    status.is_client_error() && !matches!(status, StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS)
}

fn refused(e: PieceRefused) -> AppError {
    match e {
        PieceRefused::NotNext { .. } | PieceRefused::Renamed { .. } | PieceRefused::Taken => {
            AppError::Conflict(e.to_string())
        }
        PieceRefused::PastTheEnd { .. } => AppError::TooLarge(e.to_string()),
        PieceRefused::Full { .. } => AppError::Unavailable(e.to_string()),
    }
}
