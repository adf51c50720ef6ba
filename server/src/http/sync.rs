//! `POST /v1/sync`: a phone's document messages in, replies and its document list out (CBOR).

use axum::extract::State;
use axum::http::header::{ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE, DATE, VARY};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use doorstep_core::Timestamp;
use doorstep_core::sync::SyncResponse;
use doorstep_core::sync::body_deflate::{self, DEFLATE, Effort};
use doorstep_core::sync::document_copy::{COPY_ADVISED_HEADER, advised_text};
use doorstep_core::sync::reply_budget::{REPLY_BUDGET_HEADER, ReplyBudget, parse_reply_budget};
use doorstep_core::sync::{clock_header, writer_header};

use super::auth::Authenticated;
use super::cbor::{CBOR, CborSync};
use super::off_the_workers;
use crate::error::AppError;
use crate::state::AppState;
use crate::sync::{Answered, Caller, sync_batch};

/// Syncs a batch. Every answer from here, a refused body's too, says the relay reads
/// compressed requests (`Accept-Encoding: deflate`, RFC 7694); the answer is compressed when
/// the phone reads that and it is smaller so.
pub async fn sync(
    State(state): State<AppState>,
    headers: HeaderMap,
    Authenticated(session): Authenticated,
    body: Result<CborSync, AppError>,
) -> Response {
    synced(&state, &headers, session, body).await
}

/// The answer to a sync request whose body is `body`: sent whole, or held in pieces
/// (`sync_pieces.rs`); `headers` are those of the request that brought its last byte.
pub(super) async fn synced(
    state: &AppState,
    headers: &HeaderMap,
    session: crate::storage::Session,
    body: Result<CborSync, AppError>,
) -> Response {
    let reads_deflate =
        headers.get(ACCEPT_ENCODING).and_then(|v| v.to_str().ok()).is_some_and(body_deflate::accepts_deflate);
    let mut response = match (body, reply_budget(headers)) {
        (Ok(body), Ok(budget)) => {
            let writers =
                match headers.get(writer_header::WRITER_HEADER).map(|v| writer_header::read(v.as_bytes())) {
                    Some(Err(why)) => return AppError::malformed(why).into_response(),
                    said => said.and_then(Result::ok),
                };
            let link =
                Link { reads_deflate, reply_budget: budget, phone_clock: phone_clock(headers), writers };
            answer(state, session, body, link).await.unwrap_or_else(IntoResponse::into_response)
        }
        (Err(refused), _) | (_, Err(refused)) => refused.into_response(),
    };
    response.headers_mut().insert(ACCEPT_ENCODING, HeaderValue::from_static(DEFLATE));
    response.headers_mut().insert(VARY, HeaderValue::from_static("accept-encoding"));
    response
}

/// How the answer reaches the phone, as its request's headers say.
#[derive(Debug, Clone, Copy)]
struct Link {
    /// It reads compressed answers.
    reads_deflate: bool,
    /// It asked for replies of at most so many bytes.
    reply_budget: Option<usize>,
    /// Its clock, as its `Date` header says.
    phone_clock: Option<Timestamp>,
    /// The actors it writes and wrote under, as its `x-doorstep-writer` header says.
    writers: Option<writer_header::Writers>,
}

/// What the phone's clock read when it sent the request: its `Date` header (RFC 9110 §6.6.1,
/// which a client may send), to the second. One that does not parse is ignored: it only
/// informs the members page, and the phone's work is checked against the relay's own clock.
fn phone_clock(headers: &HeaderMap) -> Option<Timestamp> {
    clock_header::read(headers.get(DATE)?.to_str().ok()?)
}

/// The reply budget the request asks for, if any; a value that is not a number of bytes is
/// refused by name.
fn reply_budget(headers: &HeaderMap) -> Result<Option<usize>, AppError> {
    let Some(value) = headers.get(REPLY_BUDGET_HEADER) else { return Ok(None) };
    parse_reply_budget(value.as_bytes()).map(Some).ok_or_else(|| {
        AppError::malformed(format!(
            "the {REPLY_BUDGET_HEADER} header must be a whole number of bytes (the most a reply may carry); leave it out for no bound"
        ))
    })
}

async fn answer(
    state: &AppState,
    session: crate::storage::Session,
    body: CborSync,
    link: Link,
) -> Result<Response, AppError> {
    let reads_deflate = link.reads_deflate;
    let caller = Caller {
        person: session.person,
        device: session.device,
        replies_deflated: reads_deflate,
        reply_budget: link.reply_budget.map(ReplyBudget::asked),
        phone_clock: link.phone_clock,
        writers: link.writers,
    };
    let docs_in = body.request.messages.len();
    let Answered { mut response, copies_advised } = sync_batch(state, caller, body.request).await?;
    // A phone that sent the plain form learns that this relay reads the compact one.
    response.reads_compact = !body.compact;
    let (plain, deflated) = encode(&response, reads_deflate).await?;
    // The request's bytes are gone (its messages were taken or refused): its room among the
    // relay's bodies in hand goes back.
    drop(body.held);
    let bytes_out = deflated.as_ref().map_or(plain.len(), Vec::len);
    state.metrics.sync(docs_in, response.messages.len(), body.size, bytes_out);
    tracing::debug!(
        docs_in,
        docs_out = response.messages.len(),
        rejected = response.rejected.len(),
        granted = response.documents.as_ref().map(Vec::len),
        documents_unchanged = response.documents.is_none(),
        deflated_in = body.deflated,
        bytes_in = body.size,
        bytes_out,
        "synced"
    );
    let mut answer = match deflated {
        Some(bytes) => ([(CONTENT_TYPE, CBOR), (CONTENT_ENCODING, DEFLATE)], bytes).into_response(),
        None => ([(CONTENT_TYPE, CBOR)], plain).into_response(),
    };
    if !copies_advised.is_empty()
        && let Ok(value) = HeaderValue::from_str(&advised_text(&copies_advised))
    {
        answer.headers_mut().insert(COPY_ADVISED_HEADER, value);
    }
    Ok(answer)
}

/// Answers past this many bytes are compressed on the blocking pool, not on the async workers
/// (about a millisecond for a team's 300 KiB at zlib's level 2).
const COMPRESS_ON_THE_BLOCKING_POOL: usize = 64 * 1024;

/// The answer's bytes, and the same compressed when the phone reads that and it is smaller.
async fn encode(
    response: &SyncResponse,
    reads_deflate: bool,
) -> Result<(Vec<u8>, Option<Vec<u8>>), AppError> {
    let plain = response.encode();
    if !reads_deflate {
        return Ok((plain, None));
    }
    let heavy = plain.len() >= COMPRESS_ON_THE_BLOCKING_POOL;
    off_the_workers::run(heavy, "compressing the answer", move || {
        let deflated = body_deflate::compress(&plain, Effort::Light);
        (plain, deflated)
    })
    .await
}
