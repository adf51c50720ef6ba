//! `GET /v1/documents/{id}/copy?heads=&from=&digest=&since=`: a document the caller may sync,
//! saved whole, from byte `from` on when `heads` and `digest` name the copy it serves, else from
//! byte 0 (`x-doorstep-copy-from: 0`). A phone whose link drops requests fetches the documents it
//! lacks this way and keeps every byte as it arrives; see core's `sync/document_copy.rs`. A phone
//! that holds the document names its heads (`since`): a new copy is served only when it is not
//! much bigger than the changes the phone lacks, else `204 No Content` (the sync carries them).

use std::sync::Arc;

use automerge::ChangeHash;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use doorstep_core::id::DocumentId;
use doorstep_core::sync::document_copy::{
    COPY_BYTES_HEADER, COPY_DIGEST_HEADER, COPY_FROM_HEADER, COPY_HEADS_HEADER, SavedCopy, copy_serves,
    heads_text, parse_heads,
};
use serde::Deserialize;

use super::auth::Authenticated;
use super::json::{PathParams, QueryParams, id};
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
    /// The heads the phone holds, hex, comma-separated, when it holds the document.
    since: Option<String>,
}

fn heads_param(text: Option<&str>, name: &str) -> Result<Option<Vec<ChangeHash>>, AppError> {
    text.map(|text| {
        parse_heads(text).ok_or_else(|| {
            AppError::malformed(format!(
                "{name} must be up to {} change hashes in hex, separated by commas",
                doorstep_core::sync::document_copy::MAX_COPY_HEADS
            ))
        })
    })
    .transpose()
}

/// Answers a copy, or the part of it from `from` on.
pub async fn copy(
    State(state): State<AppState>,
    Authenticated(session): Authenticated,
    PathParams(doc): PathParams<String>,
    QueryParams(query): QueryParams<CopyQuery>,
) -> Result<Response, AppError> {
    let doc: DocumentId = id(&doc)?;
    let heads = heads_param(query.heads.as_deref(), "heads")?;
    let since = heads_param(query.since.as_deref(), "since")?;
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
    // The copy served last, when it is the one asked for (a phone completing it) or the
    // document as it is now (the rest of a team): no save. Otherwise the document as it is now,
    // saved once per state of it; never rebuilt at older heads, which would cost a replay of the
    // document per request: a phone whose copy is gone starts over on the new one.
    let kept = slot.held().and_then(|cached| {
        let copy = cached.copy.as_ref()?;
        let mut now = cached.doc.get_heads();
        now.sort_unstable();
        (heads.as_ref() == Some(&copy.heads) || copy.heads == now).then(|| Arc::clone(copy))
    });
    let completing = kept.as_ref().is_some_and(|copy| query.digest.as_deref() == Some(copy.digest.as_str()));
    // A phone holding the document is weighed first (its changes counted) unless it is
    // completing a copy already begun.
    let weighed = since.filter(|_| !completing);
    // Counting changes and saving a document take milliseconds per hundred kilobytes: off the
    // async workers, under the document's lock.
    let heavy = weighed.is_some() || kept.is_none();
    let served = off_the_workers::run(heavy, "saving the document's copy", move || {
        let cached = slot.held()?;
        let mut copy = kept;
        let mut saved_once = || {
            Arc::clone(copy.get_or_insert_with(|| {
                let saved = Arc::new(SavedCopy::of(&cached.doc));
                cached.copy = Some(Arc::clone(&saved));
                saved
            }))
        };
        let serves = copy_serves(&cached.doc, weighed.as_deref(), || saved_once().bytes.len());
        Some(serves.then(saved_once))
    })
    .await?
    .ok_or_else(|| AppError::NotFound(format!("document {doc} was removed")))?;
    let Some(copy) = served else {
        tracing::debug!(doc = %doc, "no copy: the changes the phone lacks are fewer");
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let bytes = &copy.bytes;
    let from = match (query.from, query.digest.as_deref()) {
        (Some(from), Some(asked)) if asked == copy.digest && from <= bytes.len() => from,
        _ => 0,
    };
    tracing::debug!(doc = %doc, bytes = bytes.len(), from, "document copy");
    let header =
        |value: String| HeaderValue::from_str(&value).map_err(|e| AppError::Unavailable(e.to_string()));
    let mut response = bytes[from..].to_vec().into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    headers.insert(COPY_HEADS_HEADER, header(heads_text(&copy.heads))?);
    headers.insert(COPY_DIGEST_HEADER, header(copy.digest.clone())?);
    headers.insert(COPY_BYTES_HEADER, header(bytes.len().to_string())?);
    headers.insert(COPY_FROM_HEADER, header(from.to_string())?);
    Ok(response)
}
