//! Documents held in memory, one lock per document.
//!
//! Loading a roster from its snapshot and chunks costs milliseconds; a sync of it should not pay
//! that every time. So documents stay in memory, each behind its own `tokio::sync::Mutex`: two
//! phones syncing the same roster take turns (Automerge documents are not shared-write), while
//! different documents sync in parallel. A document nobody has used for the idle time is
//! evicted; it stays on disk and is loaded again on demand.
//!
//! Before each use the slot catches up with storage ([`Slot::fresh`]): it asks for chunks with a
//! higher `seq` than it has folded in, so writes by another process (an admin command on the
//! same file, or another relay on the same PostgreSQL) are seen without locking across
//! processes. On PostgreSQL, another relay's commit also reaches the cache at once through
//! LISTEN/NOTIFY (`relay/follow.rs`), so the document is current before the next request.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use automerge::{ActorId, Automerge};
use doorstep_core::document::Header;
use doorstep_core::id::DocumentId;
use doorstep_core::schema::vocabulary::{DocKind, RoundStatus};
use doorstep_core::sync::KeptChanges;
use doorstep_core::sync::document_copy::SavedCopy;
use tokio::sync::OwnedMutexGuard;

use crate::storage::{DocumentRecord, Storage, StorageError, StoredDocument};

/// Why a cached document could not be brought up to date.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The stored bytes are not an Automerge document.
    #[error("stored document {id} does not load: {reason}")]
    Corrupt {
        /// The document.
        id: DocumentId,
        /// Automerge's complaint.
        reason: String,
    },
}

/// A document in memory.
#[derive(Debug)]
pub struct CachedDoc {
    /// What it is, and whether it is open.
    pub record: DocumentRecord,
    /// The document, written under the relay's actor.
    pub doc: Automerge,
    /// The highest stored chunk folded in.
    pub known_seq: i64,
    /// Roughly its stored size: snapshot plus chunks.
    pub stored_bytes: usize,
    /// Chunks stored since the last compaction.
    pub chunks_since_compaction: usize,
    /// The bytes of the changes its sync batches took since it was loaded, for replies
    /// (`doorstep_core::sync::KeptChanges`).
    pub kept: KeptChanges,
    /// The last copy of it served (`GET /v1/documents/{id}/copy`): the phones completing it
    /// window after window, and the others of a team fetching it, are served these bytes, not a
    /// save each.
    pub copy: Option<Arc<SavedCopy>>,
}

impl CachedDoc {
    /// A document the relay has just created and stored whole.
    pub fn created(header: Header, doc: Automerge, stored_bytes: usize) -> Self {
        let open = is_open(&header, &doc);
        Self {
            record: DocumentRecord { header, open },
            doc,
            known_seq: 0,
            stored_bytes,
            chunks_since_compaction: 0,
            kept: KeptChanges::default(),
            copy: None,
        }
    }
}

/// Whether a document is open: everything but a closed round is.
pub fn is_open(header: &Header, doc: &Automerge) -> bool {
    header.kind != DocKind::Round
        || doorstep_core::document::round::info(header.id, doc)
            .map_or(true, |i| i.status == RoundStatus::Open)
}

/// One document's place in the cache; `loaded` is `None` until first use, after an eviction
/// was raced, or after [`Slot::invalidate`].
#[derive(Debug)]
pub struct Slot {
    id: DocumentId,
    actor: ActorId,
    loaded: Option<CachedDoc>,
    last_used: Instant,
}

impl Slot {
    /// The document brought up to date with storage, or `None` if it is not stored.
    pub async fn fresh(&mut self, storage: &dyn Storage) -> Result<Option<&mut CachedDoc>, CacheError> {
        self.last_used = Instant::now();
        match self.loaded.take() {
            None => {
                let Some(stored) = storage.load_document(self.id).await? else { return Ok(None) };
                self.loaded = Some(load(self.id, self.actor.clone(), stored).await?);
            }
            Some(mut cached) => {
                let catchup = storage.changes_since(self.id, cached.known_seq).await?;
                if catchup.compacted_seq > cached.known_seq {
                    // Chunks we never saw may have been folded into a new snapshot: reload.
                    let Some(stored) = storage.load_document(self.id).await? else { return Ok(None) };
                    cached = load(self.id, self.actor.clone(), stored).await?;
                } else if let Some(last) = catchup.chunks.last() {
                    let seq = last.seq;
                    for chunk in &catchup.chunks {
                        load_chunk(&mut cached.doc, &chunk.bytes)
                            .map_err(|reason| CacheError::Corrupt { id: self.id, reason })?;
                        cached.stored_bytes += chunk.bytes.len();
                        cached.chunks_since_compaction += 1;
                    }
                    cached.known_seq = seq;
                    cached.record.open = is_open(&cached.record.header, &cached.doc);
                }
                self.loaded = Some(cached);
            }
        }
        Ok(self.loaded.as_mut())
    }

    /// After a commit that found another writer's chunks ([`Committed::others`]): brings the
    /// document up to date and stores its open flag as worked out from every chunk, again while
    /// yet another writer commits in between. A failure is logged: the flag is then settled by
    /// the next commit that finds others, and the document itself is whole either way.
    ///
    /// [`Committed::others`]: crate::storage::Committed::others
    pub async fn settle_open(&mut self, storage: &dyn Storage) {
        const TRIES: usize = 8;
        for _ in 0..TRIES {
            let seen = match self.fresh(storage).await {
                Ok(Some(cached)) => (cached.record.open, cached.known_seq),
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(doc = %self.id, error = %e, "a document's open flag not settled");
                    return;
                }
            };
            match storage.settle_open(self.id, seen.0, seen.1).await {
                Ok(true) => return,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(doc = %self.id, error = %e, "a document's open flag not settled");
                    return;
                }
            }
        }
        tracing::warn!(doc = %self.id, tries = TRIES, "a document's open flag not settled: written to on every try");
    }

    /// The document as held, without asking storage.
    pub fn held(&mut self) -> Option<&mut CachedDoc> {
        self.loaded.as_mut()
    }

    /// Puts a document (new, or taken out for work) into the slot.
    pub fn put(&mut self, doc: CachedDoc) {
        self.last_used = Instant::now();
        self.loaded = Some(doc);
    }

    /// Takes the document out, for work on a blocking thread; [`Slot::put`] returns it.
    pub fn take(&mut self) -> Option<CachedDoc> {
        self.loaded.take()
    }

    /// Forgets the in-memory copy, so the next use reloads what is stored. Used when the memory
    /// copy may hold something storage does not (a failed commit).
    pub fn invalidate(&mut self) {
        self.loaded = None;
    }
}

/// Loads one stored chunk into `doc`, whole or not at all: Automerge's `load_incremental` stops
/// at a chunk whose checksum fails and reports success for what it loaded before, which would
/// leave the document silently shorter than what was acknowledged (and the next compaction would
/// make that for good). A chunk that does not load whole is storage damage, reported like a
/// snapshot that does not load.
fn load_chunk(doc: &mut Automerge, bytes: &[u8]) -> Result<(), String> {
    let changes = doorstep_core::validate::stored_chunk_changes(bytes)
        .map_err(|problem| format!("a stored chunk of changes: {problem}"))?;
    doc.load_incremental(bytes).map_err(|e| e.to_string())?;
    match changes.iter().find(|hash| doc.get_change_meta_by_hash(hash).is_none()) {
        Some(missing) => Err(format!("change {missing} of a stored chunk did not load")),
        None => Ok(()),
    }
}

/// A stored document loaded whole (snapshot and chunks, each chunk whole or reported damaged),
/// as the cache loads one; the dashboard also reads a closed round this way without caching it.
pub async fn load(id: DocumentId, actor: ActorId, stored: StoredDocument) -> Result<CachedDoc, CacheError> {
    // Loading a large roster is CPU work; keep it off the async workers.
    tokio::task::spawn_blocking(move || {
        let corrupt = |e: automerge::AutomergeError| CacheError::Corrupt { id, reason: e.to_string() };
        let mut doc = Automerge::load(&stored.snapshot).map_err(corrupt)?.with_actor(actor);
        let mut stored_bytes = stored.snapshot.len();
        for chunk in &stored.chunks {
            load_chunk(&mut doc, &chunk.bytes).map_err(|reason| CacheError::Corrupt { id, reason })?;
            stored_bytes += chunk.bytes.len();
        }
        let known_seq = stored.chunks.last().map_or(stored.compacted_seq, |c| c.seq);
        let mut record = stored.record;
        record.open = is_open(&record.header, &doc);
        Ok(CachedDoc {
            record,
            doc,
            known_seq,
            stored_bytes,
            chunks_since_compaction: stored.chunks.len(),
            kept: KeptChanges::default(),
            copy: None,
        })
    })
    .await
    .map_err(|e| CacheError::Storage(StorageError::Task(e.to_string())))?
}

/// The documents in memory.
#[derive(Debug)]
pub struct DocCache {
    actor: ActorId,
    // A std mutex: it guards only the map, is held for a lookup or an insert, and never across an
    // `.await`. The per-document locks inside are tokio's, because those are held while storage
    // is awaited.
    slots: Mutex<HashMap<DocumentId, Arc<tokio::sync::Mutex<Slot>>>>,
    /// Documents that have left memory through [`DocCache::evict_idle`] since start.
    evicted: AtomicU64,
}

impl DocCache {
    /// An empty cache whose documents write under `actor`.
    pub fn new(actor: ActorId) -> Self {
        Self { actor, slots: Mutex::new(HashMap::new()), evicted: AtomicU64::new(0) }
    }

    /// Locks a document's slot, creating it if needed. Callers that lock several documents must
    /// lock them in ascending ID order.
    pub async fn lock(&self, id: DocumentId) -> OwnedMutexGuard<Slot> {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(slots.entry(id).or_insert_with(|| {
                Arc::new(tokio::sync::Mutex::new(Slot {
                    id,
                    actor: self.actor.clone(),
                    loaded: None,
                    last_used: Instant::now(),
                }))
            }))
        };
        slot.lock_owned().await
    }

    /// Locks a document's slot if the document is in memory; `None` (creating nothing) if not.
    pub async fn lock_held(&self, id: DocumentId) -> Option<OwnedMutexGuard<Slot>> {
        let slot = {
            let slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(slots.get(&id)?)
        };
        let guard = slot.lock_owned().await;
        guard.loaded.is_some().then_some(guard)
    }

    /// Whether the cache has a slot for the document: it is in memory, being loaded, or
    /// locked by someone.
    pub fn has_slot(&self, id: DocumentId) -> bool {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner).contains_key(&id)
    }

    /// How many documents are in memory.
    pub fn len(&self) -> usize {
        let slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        slots.values().filter(|s| s.try_lock().map_or(true, |s| s.loaded.is_some())).count()
    }

    /// Whether no document is in memory.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many documents have left memory through [`DocCache::evict_idle`] since start. A sweep
    /// that raised it freed memory worth giving back to the system (`crate::memory`).
    pub fn evicted(&self) -> u64 {
        self.evicted.load(Ordering::Relaxed)
    }

    /// Removes documents unused for `idle` that nobody holds, and returns those with chunks not
    /// yet compacted, so the caller can compact them on the way out.
    pub fn evict_idle(&self, idle: Duration) -> Vec<CachedDoc> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out = Vec::new();
        let mut evicted = 0;
        slots.retain(|_, slot| {
            // Someone else holds the Arc (waiting for or holding the lock): keep it.
            if Arc::strong_count(slot) > 1 {
                return true;
            }
            let Ok(mut guard) = slot.try_lock() else { return true };
            if guard.last_used.elapsed() < idle {
                return true;
            }
            if let Some(doc) = guard.loaded.take() {
                evicted += 1;
                if doc.chunks_since_compaction > 0 {
                    out.push(doc);
                }
            }
            false
        });
        if evicted > 0 {
            slots.shrink_to_fit();
        }
        self.evicted.fetch_add(evicted, Ordering::Relaxed);
        out
    }
}
