//! Around every request: a tracing span, a time limit, a refusal of transfer codings other than
//! `chunked`, `Strict-Transport-Security` over HTTPS, `Cache-Control: no-store` and `nosniff`
//! unless the handler said otherwise, the request's id named in the answer (core's
//! `sync/answer_to.rs`), the log line (with the `AppError` the handler put on the response, if
//! any) and the request metrics.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::{
    CACHE_CONTROL, STRICT_TRANSPORT_SECURITY, TRANSFER_ENCODING, X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use doorstep_core::sync::answer_to::{ANSWER_TO_HEADER, REQUEST_HEADER, is_request_id};
use tracing::Instrument;

use crate::client::Client;
use crate::error::AppError;
use crate::requests_in_hand::Slot;
use crate::state::AppState;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The `Strict-Transport-Security` value sent over HTTPS.
pub const HSTS: &str = "max-age=31536000";

/// Observes one request.
pub async fn observe(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str).to_owned();
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let span = tracing::info_span!(
        "request",
        id,
        method = %req.method(),
        route = %route,
        person = tracing::field::Empty,
    );
    let started = Instant::now();
    let limit = state.config.limits.request_timeout;
    let https = Client::of(req.extensions()).https;
    let imports_a_roster = req.method() == axum::http::Method::POST && is_roster_import(&route);
    let request_id = req.headers().get(REQUEST_HEADER).filter(|id| is_request_id(id.as_bytes())).cloned();
    // The person's place among their requests in hand, taken when they are known and given back
    // when the answer is made (`requests_in_hand.rs`).
    let in_hand = Slot::default();
    req.extensions_mut().insert(in_hand.clone());
    let answered = match codings_not_undone(req.headers()) {
        Some(refused) => Ok(refused.into_response()),
        None => tokio::time::timeout(limit, next.run(req).instrument(span.clone())).await,
    };
    let mut response = match answered {
        Ok(response) => response,
        Err(_) if imports_a_roster => AppError::ImportTimeout(limit).into_response(),
        Err(_) => AppError::Timeout(limit).into_response(),
    };
    in_hand.release();
    if let Some(id) = request_id {
        // The phone applies a sync answer only when it names the request it sent.
        response.headers_mut().insert(ANSWER_TO_HEADER, id);
    }
    not_kept_by_browsers(response.headers_mut());
    if https {
        // Over HTTPS, tell browsers to use nothing else for this host for a year.
        response.headers_mut().insert(STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS));
    }
    let took = started.elapsed();
    let status = response.status();
    let _entered = span.enter();
    let millis = took.as_secs_f64() * 1000.0;
    match response.extensions().get::<AppError>() {
        // Shedding load is the relay working as meant, and comes by the thousand in a burst.
        Some(error @ AppError::Busy { .. }) => {
            tracing::info!(status = status.as_u16(), reason = %error.reason(), millis, "request shed");
        }
        Some(error) if status.is_server_error() => {
            tracing::error!(status = status.as_u16(), error = error.code(), reason = %error.reason(), millis, "request failed");
        }
        Some(error) => {
            tracing::warn!(status = status.as_u16(), error = error.code(), reason = %error.reason(), millis, "request refused");
        }
        None => tracing::info!(status = status.as_u16(), millis, "request done"),
    }
    state.metrics.request(&route, status.as_u16(), took);
    response
}

/// An answer is kept by no browser or proxy cache unless its handler said how to cache it (the
/// dashboard's own script and styles: `no-cache` with an `ETag`): a household list holds phone
/// numbers and health tags (dialysis, pregnant), and the disk cache of a shared office computer
/// kept them after the coordinator signed out. No answer is read as another type than it says.
fn not_kept_by_browsers(headers: &mut HeaderMap) {
    if !headers.contains_key(CACHE_CONTROL) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
}

/// A refusal of a body sent in a transfer coding other than `chunked` (hyper takes the chunks
/// off and leaves the rest): `Transfer-Encoding: gzip, chunked` would be read as plain, its
/// compressed bytes taken for the message. Compression goes in `Content-Encoding`, which the
/// routes that take it undo.
fn codings_not_undone(headers: &HeaderMap) -> Option<AppError> {
    let other: Vec<String> = headers
        .get_all(TRANSFER_ENCODING)
        .iter()
        .flat_map(|value| value.to_str().unwrap_or("?").split(','))
        .map(|coding| coding.trim().to_ascii_lowercase())
        .filter(|coding| !coding.is_empty() && coding != "chunked")
        .collect();
    (!other.is_empty()).then(|| {
        AppError::TransferCoding(format!(
            "the body came in the transfer coding {}, which the relay does not undo; send it plain or chunked, and compressed, if at all, with Content-Encoding: deflate (which /v1/sync takes)",
            crate::error::excerpt(&other.join(", "))
        ))
    })
}

/// Whether `route` imports a roster spreadsheet (the dashboard's upload, or the API's): a 408
/// there says that nothing was imported and what to do instead of trying again.
fn is_roster_import(route: &str) -> bool {
    route.ends_with("/compounds/{compound}/import") || route == "/v1/compounds/{id}/roster"
}
