//! Whether the relay reads sync requests in the compact form (core's
//! `sync/compact_request.rs`): learned from its answer to a plain request, kept across app
//! restarts, and forgotten when another relay is remembered or when the relay refuses a compact
//! request (an older relay, or one rolled back), which is then sent again in the plain form.

use crate::error::ReplicaError;
use crate::store::{Store, Write};

/// The meta key, present (as `1`) while the relay is known to read the compact form.
const RELAY_READS_COMPACT: &str = "relay_reads_compact";

/// Whether the relay is known to read the compact form.
pub(crate) fn load(store: &Store) -> Result<bool, ReplicaError> {
    Ok(store.meta(RELAY_READS_COMPACT)?.is_some())
}

/// The write that keeps "the relay reads the compact form".
pub(crate) fn remember() -> Write<'static> {
    Write::Meta { key: RELAY_READS_COMPACT, value: b"1" }
}

/// The write that forgets it: requests go in the plain form until the relay says again.
pub(crate) fn forget() -> Write<'static> {
    Write::DeleteMeta { key: RELAY_READS_COMPACT }
}
