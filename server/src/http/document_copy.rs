//! `GET /v1/documents/{id}/copy?heads=&from=&digest=`: a document the caller may sync, saved
//! whole at given heads (its own when none are given), from byte `from` on. A phone whose link
//! drops requests fetches the documents it lacks this way and keeps every byte as it arrives;
//! see core's `sync/document_copy.rs`. When the copy at those heads is not the one `digest`
//! names, the answer starts at byte 0 (`x-doorstep-copy-from: 0`).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::HeaderValue;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use doorstep_core::id::DocumentId;
use doorstep_core::sync::document_copy::{
    COPY_BYTES_HEADER, COPY_DIGEST_HEADER, COPY_FROM_HEADER, COPY_HEADS_HEADER, copy_at, digest, heads_text,
    parse_heads,
};
use serde::Deserialize;

use super::auth::Authenticated;
use super::json::id;
use super::off_the_workers;
use crate::access::{Access, Decision};
use crate::error::AppError;
use crate::state::AppState;

/// The query.
#[derive(Debug, Deserialize)]
pub struct CopyQuery {
    /// The heads to save the document at, hex, comma-separated.
    heads: Option<String>,
    /// The first byte wanted.
    from: Option<usize>,
    /// The digest of the copy the phone is completing.
    digest: Option<String>,
}

/// Answers a copy, or the part of it from `from` on.
pub async fn copy(
    State(state): State<AppState>,
    Authenticated(session): Authenticated,
    Path(doc): Path<String>,
    Query(query): Query<CopyQuery>,
) -> Result<Response, AppError> {
    let doc: DocumentId = id(&doc)?;
    let heads = match query.heads.as_deref() {
        None => None,
        Some(text) => Some(parse_heads(text).ok_or_else(|| {
            AppError::malformed(format!(
                "heads must be up to {} change hashes in hex, separated by commas",
                doorstep_core::sync::document_copy::MAX_COPY_HEADS
            ))
        })?),
    };
    let relay = &state.relay;
    let access = Access::load(relay.storage(), session.person).await?;
    match access.decide(doc) {
        Some(Decision::Allowed { .. }) => {}
        Some(Decision::Forbidden { reason, .. }) => return Err(AppError::Forbidden(reason)),
        Some(Decision::Unknown) | None => {
            return Err(AppError::NotFound(format!(
                "no document {doc} in your compounds; sync to learn the documents you may hold"
            )));
        }
    }
    let mut slot = relay.cache().lock(doc).await;
    if slot
        .fresh(relay.storage())
        .await
        .map_err(|e| AppError::Unavailable(format!("{e}; try again")))?
        .is_none()
    {
        return Err(AppError::NotFound(format!("document {doc} was removed")));
    }
    // The copy served last, when it is the one asked for (a phone completing it, or a team
    // fetching it): no save.
    let served = slot.held().and_then(|cached| {
        let (at, bytes) = cached.copy.as_ref()?;
        let asked = heads.clone().unwrap_or_else(|| cached.doc.get_heads());
        (*at == asked).then(|| (at.clone(), Arc::clone(bytes)))
    });
    let saved = match served {
        Some(served) => Some(served),
        // Saving a document takes milliseconds per hundred kilobytes: off the async workers,
        // under the document's lock.
        None => {
            off_the_workers::run(true, "saving the document's copy", move || {
                let cached = slot.held()?;
                let (at, bytes) = copy_at(&cached.doc, heads.as_deref())?;
                let bytes = Arc::new(bytes);
                cached.copy = Some((at.clone(), Arc::clone(&bytes)));
                Some((at, bytes))
            })
            .await?
        }
    };
    let Some((heads, bytes)) = saved else {
        return Err(AppError::Conflict(format!(
            "document {doc} holds no such heads; fetch its copy afresh, without heads"
        )));
    };
    let named = digest(&bytes);
    let from = match (query.from, query.digest.as_deref()) {
        (Some(from), Some(asked)) if asked == named && from <= bytes.len() => from,
        _ => 0,
    };
    tracing::debug!(doc = %doc, bytes = bytes.len(), from, "document copy");
    let header =
        |value: String| HeaderValue::from_str(&value).map_err(|e| AppError::Unavailable(e.to_string()));
    let mut response = bytes[from..].to_vec().into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    headers.insert(COPY_HEADS_HEADER, header(heads_text(&heads))?);
    headers.insert(COPY_DIGEST_HEADER, header(named)?);
    headers.insert(COPY_BYTES_HEADER, header(bytes.len().to_string())?);
    headers.insert(COPY_FROM_HEADER, header(from.to_string())?);
    Ok(response)
}
