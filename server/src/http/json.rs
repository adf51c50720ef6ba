//! JSON bodies, query strings and path IDs whose failures answer in the relay's error format,
//! not axum's plain text.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::AppError;

/// A JSON request body.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        refuse_encoded(req.headers())?;
        axum::Json::<T>::from_request(req, state)
            .await
            .map(|axum::Json(value)| JsonBody(value))
            .map_err(refused)
    }
}

/// A JSON body axum would not read, in the relay's error format (`body_in_hand.rs` reads its long
/// JSON bodies itself and answers the same way).
pub(super) fn refused(e: JsonRejection) -> AppError {
    match e {
        JsonRejection::MissingJsonContentType(_) => not_json(),
        e if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => AppError::TooLarge(
            "the JSON body is longer than this request takes; send only the fields it names".into(),
        ),
        // The body stopped before its end (a link that dropped): the same answer a sync gets,
        // which phones retry; nothing of it was read. A body whose framing does not parse (a bad
        // chunk size) is malformed, as before.
        JsonRejection::BytesRejection(e) if !framing_is_broken(&e) => AppError::BodyCut(format!(
            "the request body did not arrive whole ({}); send it again",
            e.body_text()
        )),
        e => AppError::malformed(format!("the JSON body is not acceptable: {}", e.body_text())),
    }
}

/// Whether reading a body failed because its HTTP framing does not parse (somewhere in the
/// error's chain), not because the link stopped carrying it.
pub(super) fn framing_is_broken(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(error) = next {
        // hyper reads a chunk size that does not parse as an `InvalidInput` (or `InvalidData`) I/O error under its
        // body error; a link that stopped is an unexpected end.
        if error.downcast_ref::<hyper::Error>().is_some_and(hyper::Error::is_parse)
            || error.downcast_ref::<std::io::Error>().is_some_and(|io| {
                matches!(io.kind(), std::io::ErrorKind::InvalidData | std::io::ErrorKind::InvalidInput)
            })
        {
            return true;
        }
        next = error.source();
    }
    false
}

/// Fails with 415 for a body sent with a `Content-Encoding` other than `identity`: only a sync
/// body may come compressed (`cbor.rs`); every other route would read the compressed bytes as
/// the body itself and answer with a misleading refusal.
pub(crate) fn refuse_encoded(headers: &axum::http::HeaderMap) -> Result<(), AppError> {
    match headers.get(axum::http::header::CONTENT_ENCODING).map(|v| v.to_str().unwrap_or("?").trim()) {
        None => Ok(()),
        Some(coding) if coding.eq_ignore_ascii_case("identity") => Ok(()),
        Some(coding) => Err(AppError::UnsupportedMediaType(format!(
            "this route takes its body uncompressed, not as Content-Encoding: {}; send it without one",
            crate::error::excerpt(coding)
        ))),
    }
}

/// A body sent without a JSON content type.
pub(super) fn not_json() -> AppError {
    AppError::UnsupportedMediaType("send the body as Content-Type: application/json".into())
}

/// Whether the request says its body is JSON (`application/json`, or a `+json` type), as axum's
/// `Json` asks.
pub(super) fn is_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(media) = headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let media = media.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    media == "application/json" || (media.starts_with("application/") && media.ends_with("+json"))
}

/// A query string (`?from=…`) read into `T`; one that does not read answers `malformed`, naming
/// the parameter.
#[derive(Debug)]
pub struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(QueryParams(value)),
            Err(e) => {
                Err(AppError::malformed(format!("the query string is not acceptable: {}", e.body_text())))
            }
        }
    }
}

/// A route's path parameters read into `T`. axum answers a segment that is not UTF-8 once
/// percent-decoded (`%FF`) in plain text; this answers `malformed` in the relay's format.
#[derive(Debug)]
pub struct PathParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathParams<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(PathParams(value)),
            Err(e) => Err(AppError::malformed(format!(
                "the path is not acceptable: {}; IDs are UUIDs as the relay gave them",
                e.body_text()
            ))),
        }
    }
}

/// Parses an ID from a path segment.
pub fn id<T>(text: &str) -> Result<T, AppError>
where
    T: std::str::FromStr<Err = doorstep_core::id::BadId>,
{
    text.parse().map_err(|e: doorstep_core::id::BadId| AppError::invalid(e.to_string()))
}
