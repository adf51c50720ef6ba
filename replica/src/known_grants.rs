//! The list of documents this device last applied, kept beside the sync states so that the relay
//! need not send it again while it is unchanged (see core's `sync::GrantsDigest`).
//!
//! The list itself is kept, not only its digest: when the relay answers "unchanged", the phone
//! applies the kept list again exactly as if it had come (documents granted but not held are
//! fetched, held ones not granted are dropped). A kept list can never be applied to the wrong
//! situation: the relay says "unchanged" only when the caller's current list has the same
//! digest. It is forgotten anyway whenever the device's situation is reset — another sign-in
//! (`Replica::set_identity`), another relay or token (`Replica::remember_relay`), a wipe, and an
//! older copy of the file detected (`actor_rotation.rs`) — so the next sync brings the list.

use doorstep_core::sync::DocumentGrant;

use crate::error::ReplicaError;
use crate::store::{Store, Write};

/// The meta key holding the list, as JSON.
pub(crate) const KNOWN_GRANTS: &str = "known_grants";

/// The kept list, if any. A value that does not read is reported and treated as none: the relay
/// then sends the list.
pub(crate) fn load(store: &Store) -> Result<Option<Vec<DocumentGrant>>, ReplicaError> {
    let Some(bytes) = store.meta(KNOWN_GRANTS)? else { return Ok(None) };
    match serde_json::from_slice(&bytes) {
        Ok(grants) => Ok(Some(grants)),
        Err(e) => {
            tracing::warn!(error = %e, "the kept document list does not read; the next sync asks for it");
            Ok(None)
        }
    }
}

/// The list as stored. Grants are IDs and names, which always serialize; were one not to, the
/// empty value stored would read as no list, and the next sync would ask for it.
pub(crate) fn encode(grants: &[DocumentGrant]) -> Vec<u8> {
    serde_json::to_vec(grants).unwrap_or_default()
}

/// The write that forgets the list.
pub(crate) fn forget() -> Write<'static> {
    Write::DeleteMeta { key: KNOWN_GRANTS }
}
