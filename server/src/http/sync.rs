//! `POST /v1/sync`: a phone's document messages in, replies and its document list out (CBOR).

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};

use super::auth::Authenticated;
use super::cbor::{CBOR, CborSync};
use crate::error::AppError;
use crate::state::AppState;
use crate::sync::{Caller, sync_batch};

/// Syncs a batch.
pub async fn sync(
    State(state): State<AppState>,
    Authenticated(session): Authenticated,
    body: CborSync,
) -> Result<Response, AppError> {
    let caller = Caller { person: session.person, device: session.device };
    let docs_in = body.request.messages.len();
    let mut response = sync_batch(&state, caller, body.request).await?;
    // A phone that sent the plain form learns that this relay reads the compact one.
    response.reads_compact = !body.compact;
    let bytes = response.encode();
    state.metrics.sync(docs_in, response.messages.len(), body.size, bytes.len());
    tracing::debug!(
        docs_in,
        docs_out = response.messages.len(),
        rejected = response.rejected.len(),
        granted = response.documents.as_ref().map(Vec::len),
        documents_unchanged = response.documents.is_none(),
        "synced"
    );
    Ok(([(CONTENT_TYPE, CBOR)], bytes).into_response())
}
