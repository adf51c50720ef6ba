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
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(JsonBody(value)),
            Err(JsonRejection::MissingJsonContentType(_)) => {
                Err(AppError::UnsupportedMediaType("send the body as Content-Type: application/json".into()))
            }
            Err(e) if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => Err(AppError::TooLarge(
                "the JSON body is longer than this request takes; send only the fields it names".into(),
            )),
            Err(e) => Err(AppError::malformed(format!("the JSON body is not acceptable: {}", e.body_text()))),
        }
    }
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

/// Parses an ID from a path segment.
pub fn id<T>(text: &str) -> Result<T, AppError>
where
    T: std::str::FromStr<Err = doorstep_core::id::BadId>,
{
    text.parse().map_err(|e: doorstep_core::id::BadId| AppError::invalid(e.to_string()))
}
