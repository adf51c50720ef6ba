//! The default backend: one SQLite file, so `doorstep serve` needs nothing else.
//!
//! Every rusqlite call runs on tokio's blocking pool (`spawn_blocking`), never on the async
//! worker threads: a checkpoint or an fsync can take tens of milliseconds, and two cores cannot
//! afford to stall a worker for that.
//!
//! Durability: the file is in WAL mode with `synchronous=FULL`, so every commit fsyncs the WAL
//! before the relay answers. `synchronous=NORMAL` would already survive `kill -9` (the WAL is in
//! the OS page cache), but on power loss it may roll back the last transactions, and those are
//! syncs the relay has acknowledged to phones, which then consider their changes delivered. An
//! acknowledged sync must outlive the machine, so we pay one fsync per commit; on this machine's
//! disk (November 2026) that keeps a whole sync request in the low milliseconds.
//!
//! Connections: one writer behind a mutex (SQLite allows one writer at a time anyway, and a
//! queue in our process is cheaper than `SQLITE_BUSY` retries) and a small pool of readers, which
//! WAL lets run beside the writer.

mod documents;
mod file_checks;
mod held_requests;
pub mod integrity;
pub(crate) mod people;
pub mod place;
pub mod schema;
mod serving_lock;
mod sessions;
pub(crate) mod set_aside;
pub(crate) mod share_refusals;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use doorstep_core::id::{CompoundId, DocumentId, PersonId};
use doorstep_core::schema::vocabulary::DocKind;
use doorstep_core::{Role, Timestamp};
use rusqlite::{Connection, OpenFlags};

pub use self::serving_lock::ServingLock;
use super::space::{self, OutOfSpace, SpaceWatch};
use super::{
    ActorBinding, Catchup, Committed, CompoundRecord, DashboardSession, DeviceId, DocCommit, DocumentRecord,
    HeldRequest, Joined, Member, MemberDevice, Membership, NewInvite, NewPerson, NewPiece, NewSetAside,
    PieceKept, Redemption, SecretHash, SetAsideDecided, SetAsideRecord, ShareRefused, Storage, StorageError,
    StoreFuture, StoredDocument, SyncStateWrite, TokenStatus, WipeHeard, Wiped, WriteTurn,
};
use crate::devices_seen::Seen;

/// Readers kept open between calls.
const IDLE_READERS: usize = 4;

/// The SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStorage {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    // A std mutex, not tokio's: it is only ever locked inside `spawn_blocking`, where blocking
    // is the point, and never held across an `.await`.
    writer: Mutex<Connection>,
    // Idle read connections; the same reasoning applies.
    readers: Mutex<Vec<Connection>>,
    // Whether the last write found the disk full.
    space: SpaceWatch,
    // The file opened, as (device, inode), to tell it was moved or replaced under the relay.
    identity: Option<(u64, u64)>,
}

impl SqliteStorage {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StorageError> {
        let path = path.as_ref().to_path_buf();
        tokio::task::spawn_blocking(move || Self::open_blocking(path))
            .await
            .map_err(|e| StorageError::Task(e.to_string()))?
    }

    /// [`SqliteStorage::open`] for callers outside an async runtime.
    pub fn open_blocking(path: PathBuf) -> Result<Self, StorageError> {
        file_checks::before_open(&path)?;
        private_file(&path);
        let opened = open_connection(&path, true).and_then(|mut writer| {
            schema::init(&mut writer)?;
            Ok(writer)
        });
        // SQLite's own words for a missing directory or a read-only place say nothing of which.
        let writer = match opened {
            Ok(writer) => writer,
            // SQLite's "database or disk is full" said nothing of what to do.
            Err(e) if e.is_out_of_space() => {
                return Err(StorageError::Place(format!(
                    "the disk holding {} is full, so the relay cannot open its database (SQLite needs room for its -wal and -shm files beside it): free space on that disk and start the relay again",
                    path.display()
                )));
            }
            Err(e @ StorageError::Sqlite(_)) => return Err(place::problem(&path).unwrap_or(e)),
            Err(e) => return Err(e),
        };
        let identity = file_identity(&path);
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                writer: Mutex::new(writer),
                readers: Mutex::new(Vec::new()),
                space: SpaceWatch::default(),
                identity,
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StorageError> + Send + 'static,
    ) -> StoreFuture<'static, T> {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let idle = lock(&inner.readers).pop();
                let conn = match idle {
                    Some(conn) => conn,
                    None => open_connection(&inner.path, false)?,
                };
                let out = f(&conn);
                let mut readers = lock(&inner.readers);
                if readers.len() < IDLE_READERS {
                    readers.push(conn);
                }
                out
            })
            .await
            .map_err(|e| StorageError::Task(e.to_string()))?
        })
    }

    fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StorageError> + Send + 'static,
    ) -> StoreFuture<'static, T> {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let outcome = f(&mut lock(&inner.writer));
                inner.space.note(&outcome, || space::room(&inner.path));
                outcome
            })
            .await
            .map_err(|e| StorageError::Task(e.to_string()))?
        })
    }

    fn transact<T: Send + 'static>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, StorageError> + Send + 'static,
    ) -> StoreFuture<'static, T> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })
    }
}

/// A poisoned lock only means another query panicked; SQLite rolled its transaction back when
/// the `Transaction` was dropped, so the connection is still good.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The file at `path` as (device, inode), where the platform says.
fn file_identity(path: &Path) -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// The database holds residents' names, phone numbers and care needs: a new file is made
/// readable by its owner only (SQLite gives its `-wal` and `-shm` files the same mode), and an
/// existing one that others may read is named in a warning.
fn private_file(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        match std::fs::metadata(path) {
            Ok(meta) if meta.permissions().mode() & 0o077 != 0 => tracing::warn!(
                path = %path.display(),
                mode = format!("{:o}", meta.permissions().mode() & 0o777),
                "the database file may be read by other users of this machine, and it holds residents' names and phone numbers: chmod 600 it (and its -wal and -shm files)"
            ),
            Ok(_) => {}
            Err(_) => {
                // Made empty here, so SQLite opens it rather than creating it with the umask's mode.
                let made = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path);
                if let Err(e) = made {
                    tracing::debug!(path = %path.display(), error = %e, "could not make the database file beforehand");
                }
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

fn open_connection(path: &Path, create: bool) -> Result<Connection, StorageError> {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = Connection::open_with_flags(path, flags)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}

/// Frees a connection's page cache and other memory SQLite can do without
/// (`sqlite3_db_release_memory`); pages are read from the file again when needed.
fn shrink(conn: &Connection) -> Result<(), StorageError> {
    conn.execute_batch("PRAGMA shrink_memory")?;
    Ok(())
}

impl Storage for SqliteStorage {
    fn out_of_space(&self) -> Option<OutOfSpace> {
        self.inner.space.out_of_space()
    }

    fn file_gone(&self) -> Option<String> {
        let opened = self.inner.identity?;
        let path = self.inner.path.display();
        match file_identity(&self.inner.path) {
            None => Some(format!("no file is at {path} any more (moved or deleted)")),
            Some(now) if now != opened => Some(format!("the file at {path} is another file now (replaced)")),
            Some(_) => None,
        }
    }

    fn room_on_disk(&self) -> Option<u64> {
        space::room(&self.inner.path)
    }

    /// A read of the people table (the file's own damage is found at start, `integrity.rs`).
    fn answers(&self) -> StoreFuture<'_, ()> {
        self.read(|conn| people::district_admins(conn).map(drop))
    }

    fn release_memory(&self) -> StoreFuture<'_, ()> {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                shrink(&lock(&inner.writer))?;
                lock(&inner.readers).iter().try_for_each(shrink)
            })
            .await
            .map_err(|e| StorageError::Task(e.to_string()))?
        })
    }

    fn create_person(&self, person: NewPerson, at: Timestamp) -> StoreFuture<'_, ()> {
        self.write(move |conn| people::create_person(conn, &person, at))
    }

    fn district_admins(&self) -> StoreFuture<'_, Vec<PersonId>> {
        self.read(people::district_admins)
    }

    fn first_district_admin(
        &self,
        first: NewPerson,
        token_hash: SecretHash,
        at: Timestamp,
    ) -> StoreFuture<'_, (PersonId, bool)> {
        self.transact(move |tx| people::first_district_admin(tx, &first, token_hash, at))
    }

    fn create_device(
        &self,
        person: PersonId,
        name: String,
        token_hash: SecretHash,
        at: Timestamp,
    ) -> StoreFuture<'_, DeviceId> {
        self.write(move |conn| people::create_device(conn, person, &name, token_hash, at))
    }

    fn authenticate(&self, token_hash: SecretHash) -> StoreFuture<'_, TokenStatus> {
        self.read(move |conn| people::authenticate(conn, token_hash))
    }

    fn revoke_devices(&self, person: PersonId, at: Timestamp) -> StoreFuture<'_, usize> {
        self.transact(move |tx| {
            let live = people::revoke_devices(tx, person, at)?;
            held_requests::forget_person(tx, &person.to_string())?;
            Ok(live)
        })
    }

    fn revoke_device(&self, person: PersonId, device: DeviceId, at: Timestamp) -> StoreFuture<'_, bool> {
        self.transact(move |tx| {
            let live = people::revoke_device(tx, person, device, at)?;
            if live {
                held_requests::forget_device(tx, device)?;
            }
            Ok(live)
        })
    }

    fn memberships(&self, person: PersonId) -> StoreFuture<'_, Vec<Membership>> {
        self.read(move |conn| people::memberships(conn, person))
    }

    fn members(&self, compound: CompoundId) -> StoreFuture<'_, Vec<Member>> {
        self.read(move |conn| people::members(conn, compound))
    }

    fn record_wipe(&self, token_hash: SecretHash, wiped: Wiped) -> StoreFuture<'_, WipeHeard> {
        self.transact(move |tx| people::record_wipe(tx, token_hash, wiped))
    }

    fn member_devices(&self, compound: CompoundId) -> StoreFuture<'_, Vec<MemberDevice>> {
        self.read(move |conn| people::member_devices(conn, compound))
    }

    fn record_devices_seen(&self, seen: Vec<(DeviceId, Seen)>) -> StoreFuture<'_, ()> {
        self.transact(move |tx| people::record_devices_seen(tx, &seen))
    }

    fn record_share_refusal(
        &self,
        person: PersonId,
        compound: CompoundId,
        document: DocumentId,
        kind: DocKind,
        at: Timestamp,
    ) -> StoreFuture<'_, ()> {
        self.transact(move |tx| share_refusals::record(tx, person, compound, document, kind, at))
    }

    fn share_refusals(&self, compound: CompoundId) -> StoreFuture<'_, Vec<(PersonId, ShareRefused)>> {
        self.read(move |conn| share_refusals::of_compound(conn, compound))
    }

    fn set_membership(
        &self,
        person: PersonId,
        compound: CompoundId,
        role: Role,
        at: Timestamp,
    ) -> StoreFuture<'_, ()> {
        self.write(move |conn| people::set_membership(conn, person, compound, role, at))
    }

    fn revoke_membership(
        &self,
        person: PersonId,
        compound: CompoundId,
        at: Timestamp,
    ) -> StoreFuture<'_, bool> {
        self.write(move |conn| people::revoke_membership(conn, person, compound, at))
    }

    fn create_invite(&self, invite: NewInvite) -> StoreFuture<'_, ()> {
        self.write(move |conn| people::create_invite(conn, &invite))
    }

    fn redeem_invite(&self, redemption: Redemption) -> StoreFuture<'_, Joined> {
        self.transact(move |tx| people::redeem_invite(tx, &redemption))
    }

    fn actor_owner(&self, actor: String) -> StoreFuture<'_, Option<PersonId>> {
        self.read(move |conn| people::actor_owner(conn, &actor))
    }

    fn bind_actor(&self, binding: ActorBinding, at: Timestamp) -> StoreFuture<'_, ()> {
        self.transact(move |tx| people::bind_actor(tx, &binding, at))
    }

    fn create_compound(
        &self,
        compound: CompoundRecord,
        documents: Vec<(DocumentRecord, Vec<u8>)>,
        members: Vec<(PersonId, Role)>,
    ) -> StoreFuture<'_, ()> {
        self.transact(move |tx| {
            documents::create_compound(tx, &compound, &documents)?;
            for (person, role) in members {
                people::set_membership(tx, person, compound.id, role, compound.created_at)?;
            }
            Ok(())
        })
    }

    fn compounds(&self) -> StoreFuture<'_, Vec<CompoundRecord>> {
        self.read(documents::compounds)
    }

    fn compound(&self, id: CompoundId) -> StoreFuture<'_, Option<CompoundRecord>> {
        self.read(move |conn| documents::compound(conn, id))
    }

    fn documents_of(&self, compounds: Vec<CompoundId>) -> StoreFuture<'_, Vec<DocumentRecord>> {
        self.read(move |conn| documents::documents_of(conn, &compounds))
    }

    fn document(&self, id: DocumentId) -> StoreFuture<'_, Option<DocumentRecord>> {
        self.read(move |conn| documents::document(conn, id))
    }

    fn load_document(&self, id: DocumentId) -> StoreFuture<'_, Option<StoredDocument>> {
        self.read(move |conn| documents::load_document(conn, id))
    }

    fn changes_since(&self, id: DocumentId, seq: i64) -> StoreFuture<'_, Catchup> {
        self.read(move |conn| documents::changes_since(conn, id, seq))
    }

    fn commit(&self, commit: DocCommit) -> StoreFuture<'_, Committed> {
        self.transact(move |tx| {
            for binding in &commit.bindings {
                people::bind_actor(tx, binding, commit.at)?;
            }
            let committed = documents::commit(tx, &commit)?;
            if let Some(deciding) = &commit.decides
                && !set_aside::decide(tx, deciding.item, &deciding.decided)?
            {
                return Err(StorageError::AlreadyDecided(deciding.item));
            }
            Ok(committed)
        })
    }

    fn settle_open(&self, id: DocumentId, open: bool, seen_seq: i64) -> StoreFuture<'_, bool> {
        self.transact(move |tx| documents::settle_open(tx, id, open, seen_seq))
    }

    /// One relay serves a file (`serving_lock.rs`); an admin command beside it writes what a
    /// coordinator would not do at the same moment.
    fn write_turn(&self, _compound: CompoundId) -> StoreFuture<'_, Option<Box<dyn WriteTurn>>> {
        Box::pin(async { Ok(None) })
    }

    fn compact(&self, id: DocumentId, snapshot: Vec<u8>, through_seq: i64) -> StoreFuture<'_, bool> {
        self.transact(move |tx| documents::compact(tx, id, &snapshot, through_seq))
    }

    fn sync_state(&self, device: DeviceId, doc: DocumentId) -> StoreFuture<'_, Option<Vec<u8>>> {
        self.read(move |conn| documents::sync_state(conn, device, doc))
    }

    fn put_sync_states(&self, states: Vec<SyncStateWrite>, at: Timestamp) -> StoreFuture<'_, ()> {
        self.transact(move |tx| {
            for state in &states {
                documents::put_sync_state(tx, state, at)?;
            }
            Ok(())
        })
    }

    fn open_session(&self, session: DashboardSession, max_per_person: usize) -> StoreFuture<'_, ()> {
        self.transact(move |tx| sessions::open_session(tx, &session, max_per_person))
    }

    fn session(&self, secret_hash: SecretHash, now: Timestamp) -> StoreFuture<'_, Option<DashboardSession>> {
        self.read(move |conn| sessions::session(conn, secret_hash, now))
    }

    fn close_session(&self, secret_hash: SecretHash) -> StoreFuture<'_, ()> {
        self.write(move |conn| sessions::close_session(conn, secret_hash))
    }

    fn held_request(&self, device: DeviceId) -> StoreFuture<'_, Option<HeldRequest>> {
        self.read(move |conn| held_requests::held(conn, device))
    }

    fn hold_piece(
        &self,
        piece: NewPiece,
    ) -> StoreFuture<'_, Result<PieceKept, crate::held_requests::PieceRefused>> {
        self.transact(move |tx| held_requests::hold_piece(tx, &piece))
    }

    fn held_request_bytes(&self, device: DeviceId, digest: String) -> StoreFuture<'_, Option<Vec<u8>>> {
        self.read(move |conn| held_requests::bytes(conn, device, &digest))
    }

    fn settle_held_request(
        &self,
        device: DeviceId,
        digest: String,
        taken: bool,
        at: Timestamp,
    ) -> StoreFuture<'_, u64> {
        self.transact(move |tx| held_requests::settle(tx, device, &digest, taken, at))
    }

    fn put_set_aside(&self, items: Vec<NewSetAside>) -> StoreFuture<'_, ()> {
        self.transact(move |tx| set_aside::put(tx, &items))
    }

    fn set_aside_of(&self, compound: CompoundId, limit: usize) -> StoreFuture<'_, Vec<SetAsideRecord>> {
        self.read(move |conn| set_aside::of_compound(conn, compound, limit))
    }

    fn set_aside_item(&self, id: i64) -> StoreFuture<'_, Option<SetAsideRecord>> {
        self.read(move |conn| set_aside::item(conn, id))
    }

    fn set_aside_waiting(&self, device: DeviceId) -> StoreFuture<'_, usize> {
        self.read(move |conn| set_aside::waiting(conn, device))
    }

    fn decide_set_aside(&self, id: i64, decided: SetAsideDecided) -> StoreFuture<'_, bool> {
        self.write(move |conn| set_aside::decide(conn, id, &decided))
    }

    fn set_aside_outcomes(
        &self,
        person: PersonId,
        hashes: Vec<String>,
    ) -> StoreFuture<'_, Vec<SetAsideRecord>> {
        self.read(move |conn| set_aside::outcomes(conn, person, &hashes))
    }
}

/// Parses a stored ID, role or kind; a failure means the file was damaged or written by
/// something else.
fn parsed<T: std::str::FromStr>(text: &str, what: &str) -> Result<T, StorageError> {
    text.parse().map_err(|_| StorageError::Corrupt(format!("{what} {text:?} does not parse")))
}

#[cfg(all(test, unix))]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_database_file_moved_away_under_the_store_is_told() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("relay.db");
        let storage = SqliteStorage::open_blocking(path.clone()).unwrap();
        assert_eq!(storage.file_gone(), None);
        std::fs::rename(&path, dir.path().join("moved.db")).unwrap();
        assert!(storage.file_gone().unwrap().contains("moved or deleted"), "{:?}", storage.file_gone());
        std::fs::write(&path, b"").unwrap();
        assert!(storage.file_gone().unwrap().contains("another file now"), "{:?}", storage.file_gone());
    }

    #[test]
    fn a_new_database_and_its_wal_are_readable_by_their_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("relay.db");
        let storage = SqliteStorage::open_blocking(path.clone()).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        let wal = dir.path().join("relay.db-wal");
        assert!(wal.exists(), "WAL mode makes the -wal file");
        assert_eq!(mode(&wal), 0o600);
        drop(storage);
    }
}
