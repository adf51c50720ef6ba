//! The actors this device wrote under before its current one: a new person signed in on a shared
//! phone, or a new actor after its file turned out to be an older copy of itself
//! (`actor_rotation.rs`). A phone names them after its current actor in every sync request (core
//! `sync/writer_header.rs`), so that a relay restored from a backup older than one of them binds it
//! to this phone's person when this phone offers its earlier work, and never to another phone that
//! held that work and synced first. Kept in the meta table, newest first, at most
//! [`MOST_WRITERS`] less one; a wipe forgets them with everything else.

use automerge::ActorId;
use doorstep_core::sync::writer_header::MOST_WRITERS;

use crate::error::ReplicaError;
use crate::replica::Replica;
use crate::store::Store;

/// The meta key.
pub(crate) const PAST_ACTORS: &str = "past_actors";

/// Bytes of each actor kept.
const ACTOR_BYTES: usize = 16;

/// The past actors kept in `store`, newest first.
pub(crate) fn load(store: &Store) -> Result<Vec<ActorId>, ReplicaError> {
    Ok(store
        .meta(PAST_ACTORS)?
        .map(|bytes| bytes.chunks_exact(ACTOR_BYTES).map(ActorId::from).collect())
        .unwrap_or_default())
}

/// The past actors once the device stops writing under `current`: it first, then `past`.
pub(crate) fn after(current: &ActorId, past: &[ActorId]) -> Vec<ActorId> {
    std::iter::once(current)
        .chain(past)
        .filter(|a| a.to_bytes().len() == ACTOR_BYTES)
        .take(MOST_WRITERS - 1)
        .cloned()
        .collect()
}

/// The meta value of `past`.
pub(crate) fn encode(past: &[ActorId]) -> Vec<u8> {
    past.iter().flat_map(|a| a.to_bytes().to_vec()).collect()
}

impl Replica {
    /// The actors this device writes and wrote under: its current one first, then the earlier
    /// ones it keeps.
    pub fn own_actors(&self) -> impl Iterator<Item = &ActorId> {
        std::iter::once(self.device_actor()).chain(self.past_actors.iter())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn past_actors_keep_the_newest_and_read_back() {
        let actor = |n: u8| ActorId::from([n; 16].as_slice());
        let mut past = Vec::new();
        for n in 0..40 {
            past = after(&actor(n), &past);
        }
        assert_eq!(past.len(), MOST_WRITERS - 1);
        assert_eq!(past[0], actor(39), "newest first");
        let bytes = encode(&past);
        let read: Vec<ActorId> = bytes.chunks_exact(ACTOR_BYTES).map(ActorId::from).collect();
        assert_eq!(read, past);
    }
}
