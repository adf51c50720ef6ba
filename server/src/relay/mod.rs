//! The relay without HTTP: storage, the document cache and the relay's own identity. The HTTP
//! layer and the `doorstep admin` commands both work through a [`Relay`], so a roster imported
//! on the command line goes through exactly the code a coordinator's upload does.
//!
//! The relay writes to documents itself (a compound's first documents, an imported roster, the
//! demo's round) as an admin of its own: a fresh Automerge actor for each process, bound to the
//! district admin person. One actor per process, not one per database, because an admin command
//! may run beside a serving relay on the same file, and two processes writing concurrently under
//! one actor would give two different changes the same sequence number.
//!
//! A write made for a person (a coordinator's dashboard edit or upload) goes under that person's
//! own actor instead: one fresh actor per person per process, bound to the person in storage the
//! same way a phone's actor is bound at its first sync, so the document itself says who made
//! every change (`doorstep_core::query::history`).

mod error;
mod follow;
mod write;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use automerge::ActorId;
use doorstep_core::id::PersonId;

pub use error::RelayError;

use crate::cache::DocCache;
use crate::clock;
use crate::events::Events;
use crate::refetch_guard::RefetchGuard;
use crate::secret;
use crate::storage::{ActorBinding, NewPerson, Storage, StorageError};
use crate::throttle::{MemoryThrottles, Throttles};

/// The relay's state, shared by every request.
#[derive(Debug)]
pub struct Relay {
    storage: Arc<dyn Storage>,
    cache: Arc<DocCache>,
    events: Events,
    actor: ActorId,
    admin: PersonId,
    // Actor → person. Bindings never change once made, so remembering them is always right.
    // A std mutex: held for one map operation, never across an `.await`.
    owners: Mutex<HashMap<String, PersonId>>,
    // Person → the actor this process writes under for them (see the module docs). A std mutex:
    // held for one map operation, never across an `.await`.
    actors: Mutex<HashMap<PersonId, ActorId>>,
    // Join and whole-fetch allowances: in the database when relays share one, else in memory.
    throttles: Arc<dyn Throttles>,
    // Whether `throttles` is the database's, shared by every relay on it.
    throttles_shared: bool,
    refetch: RefetchGuard,
    queues: crate::sync::queue::WorkQueues,
    syncs_in_hand: crate::sync::syncs_in_hand::SyncsInHand,
    devices_seen: crate::devices_seen::DevicesSeen,
    // Other relays' commits, folded in as they happen; `None` on a store of our own (SQLite).
    _following: Option<follow::Following>,
}

/// A relay just opened, and the admin token if this start created the admin.
#[derive(Debug)]
pub struct Opened {
    /// The relay.
    pub relay: Relay,
    /// The first admin's token, shown once: only its hash is stored.
    pub admin_token: Option<String>,
}

impl Relay {
    /// Opens the relay on `storage`. On an empty store this creates the district admin and
    /// returns its token.
    pub async fn open(storage: Arc<dyn Storage>) -> Result<Opened, RelayError> {
        // Every commit through the relay's store is announced to the live streams.
        let events = Events::default();
        let remote = storage.remote_changes();
        let shared = storage.shared_throttles();
        let throttles_shared = shared.is_some();
        let throttles = shared.unwrap_or_else(|| Arc::new(MemoryThrottles::new()));
        let storage = events.announcing(storage);
        let now = clock::now();
        // One step in storage: relays starting at once on one empty database make one admin.
        let id = clock::with_env(PersonId::generate);
        let token = secret::new_token();
        let first = NewPerson { id, name: "admin".into(), district_admin: true };
        let (admin, made) = storage
            .first_district_admin(first, secret::hash_token(&token), now)
            .await
            .map_err(StorageError::said_at_start)?;
        let admin_token = made.then_some(token);
        let actor = ActorId::from(clock::entropy().to_le_bytes().as_slice());
        storage
            .bind_actor(ActorBinding { actor: actor.to_hex_string(), person: admin }, now)
            .await
            .map_err(StorageError::said_at_start)?;
        let cache = Arc::new(DocCache::new(actor.clone()));
        let following = remote
            .map(|changes| follow::start(changes, Arc::clone(&storage), Arc::clone(&cache), events.clone()));
        let relay = Relay {
            cache,
            storage,
            events,
            actors: Mutex::new(HashMap::from([(admin, actor.clone())])),
            actor,
            admin,
            owners: Mutex::new(HashMap::new()),
            refetch: RefetchGuard::new(Arc::clone(&throttles)),
            throttles,
            throttles_shared,
            queues: crate::sync::queue::WorkQueues::default(),
            syncs_in_hand: crate::sync::syncs_in_hand::SyncsInHand::default(),
            devices_seen: crate::devices_seen::DevicesSeen::default(),
            _following: following,
        };
        Ok(Opened { relay, admin_token })
    }

    /// The store.
    pub fn storage(&self) -> &dyn Storage {
        self.storage.as_ref()
    }

    /// The store, for a part of the relay that keeps it (the dashboard's sessions).
    pub fn shared_storage(&self) -> Arc<dyn Storage> {
        Arc::clone(&self.storage)
    }

    /// The documents in memory.
    pub fn cache(&self) -> &DocCache {
        &self.cache
    }

    /// The announcements of committed changes, for the live streams.
    pub fn events(&self) -> &Events {
        &self.events
    }

    /// The actor the relay writes under.
    pub fn actor(&self) -> &ActorId {
        &self.actor
    }

    /// Whole-document fetches by device, to refuse a client that asks for everything in a loop.
    pub fn refetch_guard(&self) -> &RefetchGuard {
        &self.refetch
    }

    /// The allowances every relay on the store shares (join attempts, whole fetches).
    pub fn throttles(&self) -> &dyn Throttles {
        self.throttles.as_ref()
    }

    /// The same allowances, held: for what outlives a request (a charge travelling with its
    /// message through a document's work queue).
    pub fn throttles_held(&self) -> Arc<dyn Throttles> {
        Arc::clone(&self.throttles)
    }

    /// The store's allowances when several relays share it (PostgreSQL); `None` when they live
    /// in this relay's memory (SQLite).
    pub fn shared_throttles(&self) -> Option<Arc<dyn Throttles>> {
        self.throttles_shared.then(|| Arc::clone(&self.throttles))
    }

    /// Each document's queue of sync messages waiting for their batch.
    pub fn queues(&self) -> &crate::sync::queue::WorkQueues {
        &self.queues
    }

    /// The sync requests each device and person has in hand.
    pub fn syncs_in_hand(&self) -> &crate::sync::syncs_in_hand::SyncsInHand {
        &self.syncs_in_hand
    }

    /// When each device last asked to sync, not yet written (`devices_seen.rs`).
    pub fn devices_seen(&self) -> &crate::devices_seen::DevicesSeen {
        &self.devices_seen
    }

    /// Writes when the devices seen since the last call last asked to sync; what a failed write
    /// did not store waits for the next.
    pub async fn record_devices_seen(&self) {
        let seen = self.devices_seen.take();
        if seen.is_empty() {
            return;
        }
        let devices = seen.len();
        match self.storage.record_devices_seen(seen.clone()).await {
            Err(e) if self.devices_seen.put_back(seen) => tracing::warn!(
                error = %e,
                devices,
                "when devices last synced was not written; trying again at every sweep, said again once it is written"
            ),
            Err(e) => tracing::debug!(error = %e, devices, "when devices last synced was still not written"),
            Ok(()) if self.devices_seen.written() => {
                tracing::info!(devices, "when devices last synced was written again");
            }
            Ok(()) => {}
        }
    }

    /// The district admin the relay's own writes are attributed to.
    pub fn admin(&self) -> PersonId {
        self.admin
    }

    /// Who an actor (hex) is bound to, remembering the answer.
    pub async fn actor_owner(&self, actor: &str) -> Result<Option<PersonId>, StorageError> {
        if let Some(owner) = self.owners.lock().unwrap_or_else(PoisonError::into_inner).get(actor) {
            return Ok(Some(*owner));
        }
        let owner = self.storage.actor_owner(actor.to_owned()).await?;
        if let Some(owner) = owner {
            self.remember_owner(actor, owner);
        }
        Ok(owner)
    }

    /// The actor this process writes under for `person`: made and bound to them on first use.
    pub async fn actor_for(&self, person: PersonId) -> Result<ActorId, StorageError> {
        if let Some(actor) = self.actors.lock().unwrap_or_else(PoisonError::into_inner).get(&person) {
            return Ok(actor.clone());
        }
        // Two first writes for one person at once make two actors, both bound to the person:
        // harmless, and the later one is kept for the rest of the process.
        let actor = ActorId::from(clock::entropy().to_le_bytes().as_slice());
        let hex = actor.to_hex_string();
        self.storage.bind_actor(ActorBinding { actor: hex.clone(), person }, clock::now()).await?;
        self.remember_owner(&hex, person);
        self.actors.lock().unwrap_or_else(PoisonError::into_inner).insert(person, actor.clone());
        Ok(actor)
    }

    /// Records a binding that was just committed.
    pub fn remember_owner(&self, actor: &str, person: PersonId) {
        self.owners.lock().unwrap_or_else(PoisonError::into_inner).insert(actor.to_owned(), person);
    }

    /// Compacts documents the cache let go of: their snapshot becomes the whole document and
    /// their chunks are dropped.
    pub async fn compact_evicted(&self, docs: Vec<crate::cache::CachedDoc>) {
        for cached in docs {
            let id = cached.record.header.id;
            let through = cached.known_seq;
            let snapshot = match tokio::task::spawn_blocking(move || {
                doorstep_core::sync::loadable_snapshot(&cached.doc)
            })
            .await
            {
                Ok(Ok(snapshot)) => snapshot,
                Ok(Err(e)) => {
                    tracing::error!(doc = %id, error = %e, "not compacted: the document's saved copy would not load; its stored changes stay");
                    continue;
                }
                Err(e) => {
                    tracing::error!(doc = %id, error = %e, "compaction task failed");
                    continue;
                }
            };
            // Without the document's lock: a sync may have loaded it again meanwhile and compacted
            // it further, in which case storage keeps its newer snapshot (see `Storage::compact`).
            match self.storage.compact(id, snapshot, through).await {
                Ok(true) => tracing::debug!(doc = %id, through, "compacted"),
                Ok(false) => tracing::debug!(doc = %id, through, "already compacted further; kept"),
                Err(e) => tracing::warn!(doc = %id, error = %e, "compaction failed; the chunks stay"),
            }
        }
    }
}
