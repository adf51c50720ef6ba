//! What the relay is known to read besides plain sync requests, learned from its answers, kept
//! across app restarts, and forgotten when another relay is remembered:
//! - requests in the compact form (core's `sync/compact_request.rs`): learned from the answer's
//!   `reads_compact`; forgotten when the relay refuses a compact request (an older relay, or one
//!   rolled back), which is then sent again in the plain form;
//! - compressed bodies (core's `sync/body_deflate.rs`): learned from `Accept-Encoding: deflate`
//!   on its answers, forgotten by an answer without it.

use crate::error::ReplicaError;
use crate::store::{Store, Write};

/// A form of request the relay may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RelayReads {
    /// Requests in the compact form.
    CompactRequests,
    /// Bodies sent with `Content-Encoding: deflate`.
    DeflatedBodies,
}

impl RelayReads {
    /// The meta key, present (as `1`) while the relay is known to read this form.
    fn key(self) -> &'static str {
        match self {
            RelayReads::CompactRequests => "relay_reads_compact",
            RelayReads::DeflatedBodies => "relay_reads_deflate",
        }
    }
}

/// Whether the relay is known to read `form`.
pub(crate) fn load(store: &Store, form: RelayReads) -> Result<bool, ReplicaError> {
    Ok(store.meta(form.key())?.is_some())
}

/// The write that keeps "the relay reads `form`".
pub(crate) fn remember(form: RelayReads) -> Write<'static> {
    Write::Meta { key: form.key(), value: b"1" }
}

/// The write that forgets it: requests go without `form` until the relay says again.
pub(crate) fn forget(form: RelayReads) -> Write<'static> {
    Write::DeleteMeta { key: form.key() }
}
