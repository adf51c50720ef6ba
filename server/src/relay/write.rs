//! The relay's writes: typed operations ([`Compound::apply`]) on a compound's documents as
//! they are in memory, then every changed document stored as one chunk. [`Relay::write_as`]
//! writes under the actor of the person who asked (a coordinator on the dashboard), so every
//! change in a stored document is under its author's actor; [`Relay::write`] is the relay's own
//! (a compound's first documents, the command-line import, the demo).

use automerge::{Automerge, ChangeHash};
use doorstep_core::document::{Document, Header};
use doorstep_core::id::{CompoundId, DocumentId, PersonId};
use doorstep_core::{Actor, Compound, Env, Role};
use tokio::sync::OwnedMutexGuard;

use super::{Relay, RelayError};
use crate::cache::{CachedDoc, Slot};
use crate::clock;
use crate::storage::{Deciding, DocCommit, DocumentRecord, StorageError, WriteTurn};

/// How many times a write takes its documents' locks when a writer before it made another
/// document of the compound (a round) meanwhile; past that it goes on with what it holds.
const WRITE_LOCK_TRIES: usize = 4;

/// What the work on a blocking thread hands back.
struct Worked<T> {
    /// The documents that were there before, in the order they were taken out.
    before: Vec<(CachedDoc, Vec<u8>)>,
    /// Documents the operation created, with their whole bytes.
    created: Vec<(Header, Automerge, Vec<u8>)>,
    out: T,
}

impl Relay {
    /// Runs `f` on the open documents of `compound` as the relay's admin and stores every change
    /// it made, whether `f` reports success or not (what is in memory must be what is stored).
    pub async fn write<T: Send + 'static>(
        &self,
        compound: CompoundId,
        f: impl FnOnce(&mut Compound, &mut Env<'_>, &Actor) -> T + Send + 'static,
    ) -> Result<T, RelayError> {
        self.write_including_as(self.admin, compound, None, f).await
    }

    /// [`Relay::write`], with the closed round `closed` among the documents too (to reopen it).
    pub async fn write_including<T: Send + 'static>(
        &self,
        compound: CompoundId,
        closed: Option<DocumentId>,
        f: impl FnOnce(&mut Compound, &mut Env<'_>, &Actor) -> T + Send + 'static,
    ) -> Result<T, RelayError> {
        self.write_including_as(self.admin, compound, closed, f).await
    }

    /// Like [`Relay::write`], but every change is written under `author`'s own actor (bound to
    /// them, see [`Relay::actor_for`]). `f` still gets the relay's admin role; callers pass the
    /// author's own [`Actor`] to the operation, so core judges it by the author's role.
    pub async fn write_as<T: Send + 'static>(
        &self,
        author: PersonId,
        compound: CompoundId,
        f: impl FnOnce(&mut Compound, &mut Env<'_>, &Actor) -> T + Send + 'static,
    ) -> Result<T, RelayError> {
        self.write_including_as(author, compound, None, f).await
    }

    /// [`Relay::write_as`] with the closed round `closed` among the documents too.
    pub async fn write_including_as<T: Send + 'static>(
        &self,
        author: PersonId,
        compound: CompoundId,
        closed: Option<DocumentId>,
        f: impl FnOnce(&mut Compound, &mut Env<'_>, &Actor) -> T + Send + 'static,
    ) -> Result<T, RelayError> {
        let (out, _) = self.write_deciding_as(author, compound, closed, None, f).await?;
        Ok(out)
    }

    /// [`Relay::write_including_as`] that stores `deciding` (a set-aside item applied) in the
    /// same transaction as the first change it stores: both or neither, so a crash between them
    /// cannot mark an item applied whose change was never stored. If the item was decided
    /// meanwhile, that commit fails with [`StorageError::AlreadyDecided`](crate::storage::StorageError)
    /// and its change is dropped from memory too. `deciding` comes back when no change was
    /// stored (`f` refused, or changed nothing), for the caller to decide on its own.
    pub async fn write_deciding_as<T: Send + 'static>(
        &self,
        author: PersonId,
        compound: CompoundId,
        closed: Option<DocumentId>,
        deciding: Option<Deciding>,
        f: impl FnOnce(&mut Compound, &mut Env<'_>, &Actor) -> T + Send + 'static,
    ) -> Result<(T, Option<Deciding>), RelayError> {
        let device = self.actor_for(author).await?;
        let documents = || async {
            let mut ids: Vec<DocumentId> = self
                .storage
                .documents_of(vec![compound])
                .await?
                .into_iter()
                .filter(|r| r.open || Some(r.header.id) == closed)
                .map(|r| r.header.id)
                .collect::<Vec<_>>();
            ids.sort();
            Ok::<_, StorageError>(ids)
        };
        let mut ids = documents().await?;
        let mut tries = 0;
        let (locked, turn) = loop {
            // Lock in ascending ID order (see `DocCache::lock`), then wait for the compound's
            // turn among relays on one database (one waiter per relay: the others wait on the
            // slots), and only then read the documents as stored.
            let mut locked: Vec<OwnedMutexGuard<Slot>> = Vec::with_capacity(ids.len());
            for id in &ids {
                locked.push(self.cache.lock(*id).await);
            }
            let turn = self.storage.write_turn(compound).await?;
            // A writer that went before may have made a document (a round) this one must see
            // too: two coordinators creating one round at once made two, neither seeing the
            // other's. Then the locks go and are taken again over every document.
            let now_ids = documents().await?;
            tries += 1;
            if now_ids == ids || tries >= WRITE_LOCK_TRIES {
                break (locked, turn);
            }
            drop(locked);
            if let Some(turn) = turn
                && let Err(e) = turn.release().await
            {
                tracing::warn!(%compound, error = %e, "a compound's write turn ended with its connection");
            }
            ids = now_ids;
        };
        let out = self.write_in_turn(device, compound, locked, turn.as_deref(), deciding, f).await;
        if let Some(turn) = turn
            && let Err(e) = turn.release().await
        {
            tracing::warn!(%compound, error = %e, "a compound's write turn ended with its connection");
        }
        out
    }

    /// [`Relay::write_deciding_as`] once the documents' slots are `locked` and the compound's
    /// `turn` is held (where there are turns): a turn lost before a commit stores nothing more.
    async fn write_in_turn<T: Send + 'static>(
        &self,
        device: automerge::ActorId,
        compound: CompoundId,
        locked: Vec<OwnedMutexGuard<Slot>>,
        turn: Option<&dyn WriteTurn>,
        mut deciding: Option<Deciding>,
        f: impl FnOnce(&mut Compound, &mut Env<'_>, &Actor) -> T + Send + 'static,
    ) -> Result<(T, Option<Deciding>), RelayError> {
        let mut guards: Vec<OwnedMutexGuard<Slot>> = Vec::with_capacity(locked.len());
        let mut taken = Vec::with_capacity(locked.len());
        for mut guard in locked {
            let fresh = guard.fresh(self.storage()).await;
            match fresh {
                Ok(Some(_)) => {}
                Ok(None) => continue,
                Err(e) => {
                    restore(&mut guards, taken);
                    return Err(e.into());
                }
            }
            if let Some(doc) = guard.take() {
                taken.push(doc);
                guards.push(guard);
            }
        }

        let actor = Actor { person: self.admin, role: Role::Admin };
        let worked = tokio::task::spawn_blocking(move || work(compound, device, taken, &actor, f))
            .await
            .map_err(|e| RelayError::Task(e.to_string()))?;
        let worked = match worked {
            Ok(worked) => worked,
            Err(e) => {
                // Some documents were moved out and dropped: reload them all from storage.
                for guard in &mut guards {
                    guard.invalidate();
                }
                return Err(e);
            }
        };

        let now = clock::now();
        let mut failure: Option<RelayError> = None;
        for ((mut cached, chunk), guard) in worked.before.into_iter().zip(guards.iter_mut()) {
            if chunk.is_empty() {
                guard.put(cached);
                continue;
            }
            if failure.as_ref().is_some_and(RelayError::already_decided) {
                // The item was applied already: none of this operation's changes may be stored.
                guard.invalidate();
                continue;
            }
            if let Some(lost) = turn_lost(turn).await {
                // Another relay may be writing from copies without this change: not stored.
                guard.invalidate();
                failure.get_or_insert(lost);
                continue;
            }
            cached.record.open = crate::cache::is_open(&cached.record.header, &cached.doc);
            let commit = DocCommit {
                record: cached.record,
                create: None,
                chunk: chunk.clone(),
                known_seq: cached.known_seq,
                bindings: Vec::new(),
                sync_state: None,
                decides: deciding.take(),
                at: now,
            };
            match self.storage.commit(commit).await {
                Ok(done) => {
                    cached.known_seq = done.known_seq;
                    cached.stored_bytes += chunk.len();
                    cached.chunks_since_compaction += 1;
                    guard.put(cached);
                    if done.others {
                        guard.settle_open(self.storage()).await;
                    }
                }
                Err(e) => {
                    if !matches!(e, StorageError::AlreadyDecided(_)) {
                        tracing::error!(doc = %cached.record.header.id, error = %e, "relay write not stored");
                    }
                    guard.invalidate();
                    failure.get_or_insert(RelayError::from(e));
                }
            }
        }
        // The compound's documents stay locked until a document this write made (a round) is
        // stored too, so the next writer finds it (two rounds were made for one).
        for (header, doc, bytes) in worked.created {
            if failure.as_ref().is_some_and(RelayError::already_decided) {
                continue;
            }
            if let Some(lost) = turn_lost(turn).await {
                failure.get_or_insert(lost);
                continue;
            }
            let record = DocumentRecord { header, open: crate::cache::is_open(&header, &doc) };
            let commit = DocCommit {
                record,
                create: Some(bytes.clone()),
                chunk: Vec::new(),
                known_seq: 0,
                bindings: Vec::new(),
                sync_state: None,
                decides: deciding.take(),
                at: now,
            };
            match self.storage.commit(commit).await {
                Ok(_) => self.cache.lock(header.id).await.put(CachedDoc::created(header, doc, bytes.len())),
                Err(e) => {
                    tracing::error!(doc = %header.id, error = %e, "new document not stored");
                    failure.get_or_insert(RelayError::from(e));
                }
            }
        }
        drop(guards);
        match failure {
            Some(e) => Err(e),
            None => Ok((worked.out, deciding)),
        }
    }
}

/// The refusal to commit when the compound's turn was lost (its session ended), if it was.
async fn turn_lost(turn: Option<&dyn WriteTurn>) -> Option<RelayError> {
    let turn = turn?;
    match turn.still_held().await {
        Ok(true) => None,
        Ok(false) | Err(_) => Some(RelayError::from(StorageError::TurnNotHeld(
            "the compound's write turn ended before the change was stored; nothing more of it was stored, try again"
                .into(),
        ))),
    }
}

fn restore(guards: &mut [OwnedMutexGuard<Slot>], taken: Vec<CachedDoc>) {
    for (guard, doc) in guards.iter_mut().zip(taken) {
        guard.put(doc);
    }
}

fn work<T>(
    compound_id: CompoundId,
    device: automerge::ActorId,
    mut taken: Vec<CachedDoc>,
    actor: &Actor,
    f: impl FnOnce(&mut Compound, &mut Env<'_>, &Actor) -> T,
) -> Result<Worked<T>, RelayError> {
    let mut compound = Compound::new(compound_id, device.clone());
    let mut heads: Vec<(DocumentId, Vec<ChangeHash>)> = Vec::with_capacity(taken.len());
    for cached in &mut taken {
        let header = cached.record.header;
        let mut doc = std::mem::take(&mut cached.doc);
        doc.set_actor(device.clone());
        heads.push((header.id, doc.get_heads()));
        match Document::from_automerge(header, doc) {
            Ok(document) => compound.insert(document),
            Err(e) => return Err(RelayError::Inconsistent { id: header.id, reason: e.to_string() }),
        }
    }
    let out = clock::with_env(|env| f(&mut compound, env, actor));
    let mut before = Vec::with_capacity(taken.len());
    for (mut cached, (id, old_heads)) in taken.into_iter().zip(heads) {
        let chunk = match compound.remove(id) {
            Some(mut document) => {
                let chunk = document.save_after(&old_heads);
                cached.doc = std::mem::take(document.automerge_mut());
                chunk
            }
            None => Vec::new(),
        };
        before.push((cached, chunk));
    }
    let created = compound
        .headers()
        .into_iter()
        .filter_map(|header| {
            let mut document = compound.remove(header.id)?;
            let bytes = document.save();
            Some((header, std::mem::take(document.automerge_mut()), bytes))
        })
        .collect();
    Ok(Worked { before, created, out })
}
