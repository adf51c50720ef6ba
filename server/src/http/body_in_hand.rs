//! Reading a request body into the relay's bodies in hand (`bodies_in_hand.rs`): its bytes are
//! held as they arrive, charged to the person whose token sent it, so a client that declares a
//! long body and goes quiet holds only what it sent, and one member cannot take the room of
//! everyone. For `/v1/sync` (`cbor.rs`), the set-aside exchange ([`HeldJson`]) and the roster
//! uploads ([`upload`]): the routes whose bodies may be as long as the body limit. Every other
//! route with a body takes at most [`super::JSON_BODY_BYTES`] or [`super::SIGN_IN_BODY_BYTES`].

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_LENGTH;
use axum::http::{Extensions, HeaderMap};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use super::json;

use doorstep_core::id::PersonId;

use crate::bodies_in_hand::{BodiesInHand, HeldBytes};
use crate::error::AppError;
use crate::state::AppState;
use crate::storage::Session;

/// The most of a body's declared length reserved before its bytes arrive.
const RESERVED_AT_ONCE: usize = 64 * 1024;

/// The body length a request declares (`Content-Length`), if it declares one that reads.
pub(super) fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
}

/// Nothing held yet for a body of the request with these extensions: charged to the person of
/// its token (`auth.rs` leaves the session there), or to no one on a route without one.
pub(super) fn held_for(state: &AppState, extensions: &Extensions) -> HeldBytes {
    state.bodies_in_hand.for_request(extensions.get::<Session>().map(|session| session.person))
}

/// `body` read whole, at most `limit` bytes, each byte held in `held` as it arrives. Declared
/// longer than the limit: 413 with `too_large` as the reason before a byte of it is read (so a
/// client that asked `Expect: 100-continue` is not told to send it), or once more has come. A
/// stream that fails (the link dropped): 408 `body_cut`. No room: what `HeldBytes::hold`
/// answers.
pub(crate) async fn read(
    body: Body,
    declared: Option<u64>,
    limit: usize,
    held: &mut HeldBytes,
    too_large: &str,
) -> Result<Bytes, AppError> {
    if declared.is_some_and(|length| length > u64::try_from(limit).unwrap_or(u64::MAX)) {
        return Err(AppError::TooLarge(too_large.to_owned()));
    }
    // What a phone's request usually is, reserved at once; a longer body grows as it arrives.
    // Not the declared length: a client that declares the limit and goes quiet would have the
    // relay reserve it (address space, which a relay under strict overcommit runs out of).
    let expected = declared.and_then(|length| usize::try_from(length).ok()).unwrap_or(0);
    let mut bytes = Vec::with_capacity(expected.min(RESERVED_AT_ONCE));
    let mut stream = body.into_data_stream();
    while let Some(piece) = stream.next().await {
        let piece = piece.map_err(|e| {
            if json::framing_is_broken(&e) {
                return AppError::malformed(format!("the request body's HTTP framing does not parse ({e})"));
            }
            // Not a malformed body (a phone would take 400 for a relay that cannot read its form,
            // and fall back to the plain one for nothing), but a link that did not carry it.
            AppError::BodyCut(format!("the request body did not arrive whole ({e}); send it again"))
        })?;
        if bytes.len().saturating_add(piece.len()) > limit {
            return Err(AppError::TooLarge(too_large.to_owned()));
        }
        held.hold(piece.len())?;
        bytes.extend_from_slice(&piece);
    }
    Ok(Bytes::from(bytes))
}

/// An upload (a roster file) of at most `limit` bytes read whole, its bytes charged to `person`
/// as they arrive and held once more for what it is read into, until the returned bytes held are
/// dropped. Past the limit: 413 saying to split the file.
pub(crate) async fn upload(
    in_hand: &BodiesInHand,
    person: PersonId,
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<(Bytes, HeldBytes), AppError> {
    json::refuse_encoded(headers)?;
    let too_large = upload_too_large(limit);
    let held = in_hand.for_request(Some(person));
    read_to_parse(body, declared_length(headers), limit, held, &too_large).await
}

/// The 413 of an upload past `limit` bytes, in Chinese, then English, as the dashboard's import
/// shows every refusal of a file, its size in MiB as a coordinator reads a file's size.
fn upload_too_large(limit: usize) -> String {
    const MIB: usize = 1024 * 1024;
    #[allow(clippy::cast_precision_loss, reason = "a size shown to one decimal")]
    let mib = if limit.is_multiple_of(MIB) {
        format!("{} MiB", limit / MIB)
    } else {
        format!("{:.1} MiB", limit as f64 / MIB as f64)
    };
    format!(
        "文件大于中继接受的上限（{mib}）；请按小区拆分后分别导入 / \
         the file is larger than the relay accepts ({mib}); split it by estate (小区)"
    )
}

/// `body` read as [`read`] reads it, then held once more for what it is parsed into, until the
/// returned bytes held are dropped.
async fn read_to_parse(
    body: Body,
    declared: Option<u64>,
    limit: usize,
    mut held: HeldBytes,
    too_large: &str,
) -> Result<(Bytes, HeldBytes), AppError> {
    let bytes = read(body, declared, limit, &mut held, too_large).await?;
    held.hold(bytes.len())?;
    Ok((bytes, held))
}

/// A JSON body read into the bodies in hand, and held once more as parsed, until the handler
/// ends and drops the held bytes.
#[derive(Debug)]
pub struct HeldJson<T>(pub T, pub HeldBytes);

impl<T: DeserializeOwned> FromRequest<AppState> for HeldJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, AppError> {
        if !json::is_json(req.headers()) {
            return Err(json::not_json());
        }
        json::refuse_encoded(req.headers())?;
        let limit = state.config.limits.max_body_bytes;
        let too_large = format!(
            "the JSON body is longer than this request takes ({limit} bytes); send fewer items at once"
        );
        let (held, declared) = (held_for(state, req.extensions()), declared_length(req.headers()));
        let (bytes, held) = read_to_parse(req.into_body(), declared, limit, held, &too_large).await?;
        let axum::Json(value) = axum::Json::from_bytes(&bytes).map_err(json::refused)?;
        Ok(HeldJson(value, held))
    }
}

#[cfg(test)]
mod tests {
    use super::upload_too_large;

    #[test]
    fn an_upload_past_the_limit_is_told_its_limit_in_mib() {
        assert!(upload_too_large(8 * 1024 * 1024).contains("（8 MiB）"));
        assert!(upload_too_large(3 * 1024 * 1024 / 2).contains("(1.5 MiB)"));
    }
}
