//! The PostgreSQL backend: several relays on one database (DESIGN §8).
//!
//! Driver: tokio-postgres with a deadpool-postgres pool. It is async all the way down (no
//! blocking pool, unlike SQLite), it exposes LISTEN/NOTIFY as plain `AsyncMessage`s on the
//! connection, and it builds in a fraction of sqlx's time on two cores: no proc-macros, no
//! compile-time query checking against a live database.
//!
//! What several relays on one database need from the store, and where it is done:
//! - A commit (the document's chunk, the actor bindings it introduces, the device's sync state)
//!   is one transaction ([`Storage::commit`]).
//! - Chunk numbers are allocated under a per-document row lock, so a relay catching up by `seq`
//!   never skips a chunk committed late (`documents.rs`).
//! - A relay hears of other relays' commits through LISTEN/NOTIFY (`notify.rs`) and passes
//!   them to its cache and live streams ([`Storage::remote_changes`]).
//! - Invite redemption locks the invite row; actor binding waits for a concurrent binder.
//! - A transaction that loses a deadlock or a serialization race is retried.
//! - A commit that finds another relay's chunks since its writer looked says so
//!   ([`Committed::others`](crate::storage::Committed)), and the writer, caught up, settles the
//!   document's open flag ([`Storage::settle_open`]); writes worked out from what documents hold
//!   (imports, dashboard operations) take turns per compound (`write_turn.rs`).
//! - Join and whole-fetch allowances are token buckets in a table (`throttles.rs`), so every
//!   relay, and a restarted one, sees the same buckets.

mod connect_error;
mod documents;
mod fitness;
pub mod from_sqlite;
mod held_requests;
mod liveness;
mod notify;
mod people;
pub mod schema;
pub mod scratch;
mod session_bounds;

pub use session_bounds::{IDLE_IN_TRANSACTION, LOCK_WAIT, STATEMENT_LIMIT};
mod sessions;
mod set_aside;
mod share_refusals;
#[cfg(test)]
mod tests;
mod throttles;
mod tls;
pub(super) mod write_turn;

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use doorstep_core::id::{CompoundId, DocumentId, PersonId};
use doorstep_core::schema::vocabulary::DocKind;
use doorstep_core::{Role, Timestamp};
use tokio::sync::broadcast;
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;

use super::{
    ActorBinding, Catchup, Committed, CompoundRecord, DashboardSession, DeviceId, DocCommit, DocumentRecord,
    HeldRequest, Joined, Member, MemberDevice, Membership, NewInvite, NewPerson, NewPiece, NewSetAside,
    PieceKept, Redemption, RemoteChange, SecretHash, SetAsideDecided, SetAsideRecord, ShareRefused, Storage,
    StorageError, StoreFuture, StoredDocument, SyncStateWrite, TokenStatus, WipeHeard, Wiped, WriteTurn,
};
use crate::devices_seen::Seen;

/// Connections each relay keeps at most. Two cores serve a few syncs at a time; eight leaves
/// room for the dashboard and admin calls beside them, and eight relays stay under PostgreSQL's
/// default of 100 connections.
const POOL_SIZE: usize = 8;

/// How long a call waits for a connection, and for a new one to open, before it fails (a 503
/// that a retry may cure) rather than hang.
const POOL_WAIT: Duration = Duration::from_secs(10);

/// How often a commit that lost a deadlock or serialization race is tried in all.
const COMMIT_ATTEMPTS: usize = 3;

/// The PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PostgresStorage {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pool: Pool,
    /// Where the database is, for `/healthz`'s words on it (its password is never said).
    config: tokio_postgres::Config,
    /// This store's mark on its own notices, so it does not hear itself.
    origin: u64,
    listener: notify::Listener,
    throttles: Arc<throttles::PostgresThrottles>,
    /// Write turns held or awaited at once ([`write_turn::TURNS`]): each holds a connection, and
    /// its writer needs another to commit, so turns never take the whole pool.
    turns: Arc<tokio::sync::Semaphore>,
    /// Whether the server's disk refused the last writes (`disk_full`), for `/healthz`.
    space: crate::storage::space::SpaceWatch,
}

impl PostgresStorage {
    /// Connects to `url` (`postgres://user:password@host:port/database`), brings the schema up
    /// to date and starts listening for other relays' changes.
    pub async fn open(url: &str) -> Result<Self, StorageError> {
        let tls_choice = tls::choice(url)?;
        let mut config: tokio_postgres::Config = tls_choice.url.parse().map_err(|e| {
            StorageError::BadAddress(format!(
                "{:?} is not a PostgreSQL address ({e}); write postgres://user:password@host:port/database",
                super::without_password(url)
            ))
        })?;
        config.ssl_mode(tls_choice.mode);
        let connector = tls::connector(&tls_choice)?;
        config.application_name("doorstep");
        config.connect_timeout(POOL_WAIT);
        liveness::notice_dead_links(&mut config);
        session_bounds::bound_sessions(&mut config);
        let manager = Manager::from_config(
            config.clone(),
            connector.clone(),
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(POOL_WAIT))
            .recycle_timeout(Some(POOL_WAIT))
            .pre_recycle(liveness::idle_connections_answer())
            .build()
            .map_err(|e| StorageError::Pool(e.to_string()))?;
        let mut client = pool.get().await.map_err(|e| connect_error::first_connection(&config, e))?;
        schema::init(&mut client).await.map_err(StorageError::said_at_start)?;
        drop(client);
        let origin: u64 = rand::random();
        let listener = notify::Listener::start(config.clone(), connector, origin).await?;
        let throttles = Arc::new(throttles::PostgresThrottles::new(pool.clone()));
        let turns = Arc::new(tokio::sync::Semaphore::new(write_turn::TURNS));
        let space = crate::storage::space::SpaceWatch::default();
        Ok(Self { inner: Arc::new(Inner { pool, config, origin, listener, throttles, turns, space }) })
    }

    async fn client(&self) -> Result<deadpool_postgres::Client, StorageError> {
        self.inner.pool.get().await.map_err(pool_error)
    }

    async fn commit_once(&self, commit: &DocCommit) -> Result<Committed, StorageError> {
        let mut db = self.client().await?;
        let tx = db.transaction().await?;
        let (committed, notice) = documents::commit(&tx, commit).await?;
        if let Some(deciding) = &commit.decides
            && !set_aside::decide(&tx, deciding.item, &deciding.decided).await?
        {
            return Err(StorageError::AlreadyDecided(deciding.item));
        }
        // Bindings after the document's row lock, in one order, so that two commits binding the
        // same actors cannot deadlock each other.
        let mut bindings: Vec<&ActorBinding> = commit.bindings.iter().collect();
        bindings.sort_by(|a, b| a.actor.cmp(&b.actor));
        for binding in bindings {
            people::bind_actor(&tx, binding, commit.at).await?;
        }
        if let Some(notice) = notice {
            execute(&tx, "SELECT pg_notify($1, $2)", &[&notify::CHANNEL, &notice.payload(self.inner.origin)])
                .await?;
        }
        tx.commit().await?;
        Ok(committed)
    }
}

/// A pooled connection that could not be had, with PostgreSQL's own words when it answered
/// ("sorry, too many clients already"): the pool's error alone says "db error".
fn pool_error(e: deadpool_postgres::PoolError) -> StorageError {
    let said = match &e {
        deadpool_postgres::PoolError::Backend(backend) => {
            backend.as_db_error().map(|db| db.message().to_owned())
        }
        _ => None,
    };
    match said {
        Some(said) => StorageError::Pool(format!("{e}: {said}")),
        None => StorageError::Pool(e.to_string()),
    }
}

/// Whether a failed transaction lost a race that a second try would win.
fn lost_a_race(e: &StorageError) -> bool {
    match e {
        StorageError::Postgres(e) => {
            e.code() == Some(&SqlState::T_R_DEADLOCK_DETECTED)
                || e.code() == Some(&SqlState::T_R_SERIALIZATION_FAILURE)
        }
        _ => false,
    }
}

/// Runs a statement (prepared once per connection) and returns its rows.
async fn query(
    db: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Row>, StorageError> {
    let statement = db.prepare_cached(sql).await?;
    Ok(db.query(&statement, params).await?)
}

/// Runs a statement that returns at most one row.
async fn query_opt(
    db: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Option<Row>, StorageError> {
    let statement = db.prepare_cached(sql).await?;
    Ok(db.query_opt(&statement, params).await?)
}

/// Runs a statement that returns exactly one row.
async fn query_one(
    db: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Row, StorageError> {
    let statement = db.prepare_cached(sql).await?;
    Ok(db.query_one(&statement, params).await?)
}

/// Runs a statement and returns how many rows it touched.
async fn execute(
    db: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64, StorageError> {
    let statement = db.prepare_cached(sql).await?;
    Ok(db.execute(&statement, params).await?)
}

/// Parses a stored ID, role or kind; a failure means the row was damaged or written by
/// something else.
fn parsed<T: std::str::FromStr>(text: &str, what: &str) -> Result<T, StorageError> {
    text.parse().map_err(|_| StorageError::Corrupt(format!("{what} {text:?} does not parse")))
}

/// Runs `$body` with `$tx` bound to a new transaction on a pooled connection, and commits it if
/// the body succeeds (dropping it uncommitted rolls it back).
/// How it ended is noted for `/healthz` (`SpaceWatch`: a full disk).
macro_rules! in_transaction {
    ($self:ident, |$tx:ident| $body:expr) => {
        Box::pin(async move {
            let outcome = async {
                let mut db = $self.client().await?;
                let $tx = db.transaction().await?;
                let out = $body;
                $tx.commit().await?;
                Ok(out)
            }
            .await;
            $self.inner.space.note(&outcome, || None);
            outcome
        })
    };
}

/// Runs `$body` with `$db` bound to a pooled connection, outside any explicit transaction.
macro_rules! on_connection {
    ($self:ident, |$db:ident| $body:expr) => {
        Box::pin(async move {
            let $db = $self.client().await?;
            $body
        })
    };
}

impl Storage for PostgresStorage {
    /// PostgreSQL's disk is its server's: a full one fails writes with `disk_full`, noted at
    /// each commit, until a write succeeds (the relay cannot see how much room the server has).
    /// Before, `/healthz` said "ok" while every write failed.
    fn out_of_space(&self) -> Option<crate::storage::space::OutOfSpace> {
        self.inner.space.out_of_space()
    }

    /// A PostgreSQL database has no file of the relay's to lose.
    fn file_gone(&self) -> Option<String> {
        None
    }

    fn room_on_disk(&self) -> Option<u64> {
        None
    }

    /// One query on a pooled connection, a new one opened if the pooled ones are gone, each
    /// step bounded by [`PROBE_WAIT`](crate::storage::PROBE_WAIT), not the pool's own waits: it
    /// answers, takes writes and holds the relay's tables (`fitness.rs`).
    fn answers(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let wait = crate::storage::PROBE_WAIT;
            let config = &self.inner.config;
            let timeouts =
                deadpool_postgres::Timeouts { wait: Some(wait), create: Some(wait), recycle: Some(wait) };
            let db = self
                .inner
                .pool
                .timeout_get(&timeouts)
                .await
                .map_err(|e| connect_error::connection_failed(config, e, wait))?;
            match tokio::time::timeout(wait, db.simple_query(fitness::PROBE)).await {
                Ok(Ok(rows)) => fitness::judge(config, &rows),
                Ok(Err(e)) => Err(connect_error::query_failed(config, &e)),
                Err(_) => Err(StorageError::Connect(format!(
                    "PostgreSQL at {} did not answer a query within {} s",
                    connect_error::address(config),
                    wait.as_secs()
                ))),
            }
        })
    }

    fn create_person(&self, person: NewPerson, at: Timestamp) -> StoreFuture<'_, ()> {
        on_connection!(self, |db| people::create_person(&db, &person, at).await)
    }

    fn district_admins(&self) -> StoreFuture<'_, Vec<PersonId>> {
        on_connection!(self, |db| people::district_admins(&db).await)
    }

    fn first_district_admin(
        &self,
        first: NewPerson,
        token_hash: SecretHash,
        at: Timestamp,
    ) -> StoreFuture<'_, (PersonId, bool)> {
        in_transaction!(self, |tx| people::first_district_admin(&tx, &first, token_hash, at).await?)
    }

    fn create_device(
        &self,
        person: PersonId,
        name: String,
        token_hash: SecretHash,
        at: Timestamp,
    ) -> StoreFuture<'_, DeviceId> {
        on_connection!(self, |db| people::create_device(&db, person, &name, token_hash, at).await)
    }

    fn authenticate(&self, token_hash: SecretHash) -> StoreFuture<'_, TokenStatus> {
        on_connection!(self, |db| people::authenticate(&db, token_hash).await)
    }

    fn revoke_devices(&self, person: PersonId, at: Timestamp) -> StoreFuture<'_, usize> {
        in_transaction!(self, |tx| {
            let live = people::revoke_devices(&tx, person, at).await?;
            held_requests::forget_person(&tx, &person.to_string()).await?;
            live
        })
    }

    fn revoke_device(&self, person: PersonId, device: DeviceId, at: Timestamp) -> StoreFuture<'_, bool> {
        in_transaction!(self, |tx| {
            let live = people::revoke_device(&tx, person, device, at).await?;
            if live {
                held_requests::forget_device(&tx, device).await?;
            }
            live
        })
    }

    fn memberships(&self, person: PersonId) -> StoreFuture<'_, Vec<Membership>> {
        on_connection!(self, |db| people::memberships(&db, person).await)
    }

    fn members(&self, compound: CompoundId) -> StoreFuture<'_, Vec<Member>> {
        on_connection!(self, |db| people::members(&db, compound).await)
    }

    fn record_wipe(&self, token_hash: SecretHash, wiped: Wiped) -> StoreFuture<'_, WipeHeard> {
        in_transaction!(self, |tx| people::record_wipe(&tx, token_hash, wiped).await?)
    }

    fn member_devices(&self, compound: CompoundId) -> StoreFuture<'_, Vec<MemberDevice>> {
        on_connection!(self, |db| people::member_devices(&db, compound).await)
    }

    fn record_devices_seen(&self, seen: Vec<(DeviceId, Seen)>) -> StoreFuture<'_, ()> {
        in_transaction!(self, |tx| people::record_devices_seen(&tx, &seen).await?)
    }

    fn record_share_refusal(
        &self,
        person: PersonId,
        compound: CompoundId,
        document: DocumentId,
        kind: DocKind,
        at: Timestamp,
    ) -> StoreFuture<'_, ()> {
        on_connection!(self, |db| share_refusals::record(&db, person, compound, document, kind, at).await)
    }

    fn share_refusals(&self, compound: CompoundId) -> StoreFuture<'_, Vec<(PersonId, ShareRefused)>> {
        on_connection!(self, |db| share_refusals::of_compound(&db, compound).await)
    }

    fn set_membership(
        &self,
        person: PersonId,
        compound: CompoundId,
        role: Role,
        at: Timestamp,
    ) -> StoreFuture<'_, ()> {
        on_connection!(self, |db| people::set_membership(&db, person, compound, role, at).await)
    }

    fn revoke_membership(
        &self,
        person: PersonId,
        compound: CompoundId,
        at: Timestamp,
    ) -> StoreFuture<'_, bool> {
        on_connection!(self, |db| people::revoke_membership(&db, person, compound, at).await)
    }

    fn create_invite(&self, invite: NewInvite) -> StoreFuture<'_, ()> {
        on_connection!(self, |db| people::create_invite(&db, &invite).await)
    }

    fn redeem_invite(&self, redemption: Redemption) -> StoreFuture<'_, Joined> {
        in_transaction!(self, |tx| people::redeem_invite(&tx, &redemption).await?)
    }

    fn actor_owner(&self, actor: String) -> StoreFuture<'_, Option<PersonId>> {
        on_connection!(self, |db| people::actor_owner(&db, &actor).await)
    }

    fn bind_actor(&self, binding: ActorBinding, at: Timestamp) -> StoreFuture<'_, ()> {
        on_connection!(self, |db| people::bind_actor(&db, &binding, at).await)
    }

    fn create_compound(
        &self,
        compound: CompoundRecord,
        documents: Vec<(DocumentRecord, Vec<u8>)>,
        members: Vec<(PersonId, Role)>,
    ) -> StoreFuture<'_, ()> {
        in_transaction!(self, |tx| {
            documents::create_compound(&tx, &compound, &documents).await?;
            for (person, role) in members {
                people::set_membership(&tx, person, compound.id, role, compound.created_at).await?;
            }
        })
    }

    fn compounds(&self) -> StoreFuture<'_, Vec<CompoundRecord>> {
        on_connection!(self, |db| documents::compounds(&db).await)
    }

    fn compound(&self, id: CompoundId) -> StoreFuture<'_, Option<CompoundRecord>> {
        on_connection!(self, |db| documents::compound(&db, id).await)
    }

    fn documents_of(&self, compounds: Vec<CompoundId>) -> StoreFuture<'_, Vec<DocumentRecord>> {
        on_connection!(self, |db| documents::documents_of(&db, &compounds).await)
    }

    fn document(&self, id: DocumentId) -> StoreFuture<'_, Option<DocumentRecord>> {
        on_connection!(self, |db| documents::document(&db, id).await)
    }

    fn load_document(&self, id: DocumentId) -> StoreFuture<'_, Option<StoredDocument>> {
        Box::pin(async move {
            let mut db = self.client().await?;
            // Repeatable read: the snapshot and the chunks after it come from one moment.
            let tx = db
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await?;
            let out = documents::load_document(&tx, id).await?;
            tx.commit().await?;
            Ok(out)
        })
    }

    fn changes_since(&self, id: DocumentId, seq: i64) -> StoreFuture<'_, Catchup> {
        on_connection!(self, |db| documents::changes_since(&db, id, seq).await)
    }

    fn commit(&self, commit: DocCommit) -> StoreFuture<'_, Committed> {
        Box::pin(async move {
            let mut attempt = 1;
            loop {
                match self.commit_once(&commit).await {
                    Err(e) if attempt < COMMIT_ATTEMPTS && lost_a_race(&e) => {
                        tracing::debug!(doc = %commit.record.header.id, error = %e, attempt, "retrying a commit");
                        attempt += 1;
                    }
                    out => {
                        self.inner.space.note(&out, || None);
                        return out;
                    }
                }
            }
        })
    }

    fn settle_open(&self, id: DocumentId, open: bool, seen_seq: i64) -> StoreFuture<'_, bool> {
        in_transaction!(self, |tx| documents::settle_open(&tx, id, open, seen_seq).await?)
    }

    fn write_turn(&self, compound: CompoundId) -> StoreFuture<'_, Option<Box<dyn WriteTurn>>> {
        Box::pin(async move {
            // The semaphore is never closed.
            let permit = Arc::clone(&self.inner.turns).acquire_owned().await.ok();
            let turn: Box<dyn WriteTurn> =
                Box::new(write_turn::take(self.client().await?, compound, permit).await?);
            Ok(Some(turn))
        })
    }

    fn compact(&self, id: DocumentId, snapshot: Vec<u8>, through_seq: i64) -> StoreFuture<'_, bool> {
        in_transaction!(self, |tx| documents::compact(&tx, id, &snapshot, through_seq).await?)
    }

    fn sync_state(&self, device: DeviceId, doc: DocumentId) -> StoreFuture<'_, Option<Vec<u8>>> {
        on_connection!(self, |db| documents::sync_state(&db, device, doc).await)
    }

    fn put_sync_states(&self, states: Vec<SyncStateWrite>, at: Timestamp) -> StoreFuture<'_, ()> {
        in_transaction!(self, |tx| {
            for state in &states {
                documents::put_sync_state(&tx, state, at).await?;
            }
        })
    }

    fn open_session(&self, session: DashboardSession, max_per_person: usize) -> StoreFuture<'_, ()> {
        in_transaction!(self, |tx| sessions::open_session(&tx, &session, max_per_person).await?)
    }

    fn session(&self, secret_hash: SecretHash, now: Timestamp) -> StoreFuture<'_, Option<DashboardSession>> {
        on_connection!(self, |db| sessions::session(&db, secret_hash, now).await)
    }

    fn close_session(&self, secret_hash: SecretHash) -> StoreFuture<'_, ()> {
        on_connection!(self, |db| sessions::close_session(&db, secret_hash).await)
    }

    fn held_request(&self, device: DeviceId) -> StoreFuture<'_, Option<HeldRequest>> {
        on_connection!(self, |db| held_requests::held(&db, device).await)
    }

    fn hold_piece(
        &self,
        piece: NewPiece,
    ) -> StoreFuture<'_, Result<PieceKept, crate::held_requests::PieceRefused>> {
        in_transaction!(self, |tx| held_requests::hold_piece(&tx, &piece).await?)
    }

    fn held_request_bytes(&self, device: DeviceId, digest: String) -> StoreFuture<'_, Option<Vec<u8>>> {
        on_connection!(self, |db| held_requests::bytes(&db, device, &digest).await)
    }

    fn settle_held_request(
        &self,
        device: DeviceId,
        digest: String,
        taken: bool,
        at: Timestamp,
    ) -> StoreFuture<'_, u64> {
        in_transaction!(self, |tx| held_requests::settle(&tx, device, &digest, taken, at).await?)
    }

    fn put_set_aside(&self, items: Vec<NewSetAside>) -> StoreFuture<'_, ()> {
        in_transaction!(self, |tx| set_aside::put(&tx, &items).await?)
    }

    fn set_aside_of(&self, compound: CompoundId, limit: usize) -> StoreFuture<'_, Vec<SetAsideRecord>> {
        on_connection!(self, |db| set_aside::of_compound(&db, compound, limit).await)
    }

    fn set_aside_item(&self, id: i64) -> StoreFuture<'_, Option<SetAsideRecord>> {
        on_connection!(self, |db| set_aside::item(&db, id).await)
    }

    fn set_aside_waiting(&self, device: DeviceId) -> StoreFuture<'_, usize> {
        on_connection!(self, |db| set_aside::waiting(&db, device).await)
    }

    fn decide_set_aside(&self, id: i64, decided: SetAsideDecided) -> StoreFuture<'_, bool> {
        on_connection!(self, |db| set_aside::decide(&db, id, &decided).await)
    }

    fn set_aside_outcomes(
        &self,
        person: PersonId,
        hashes: Vec<String>,
    ) -> StoreFuture<'_, Vec<SetAsideRecord>> {
        on_connection!(self, |db| set_aside::outcomes(&db, person, &hashes).await)
    }

    fn remote_changes(&self) -> Option<broadcast::Receiver<RemoteChange>> {
        Some(self.inner.listener.subscribe())
    }

    fn shared_throttles(&self) -> Option<Arc<dyn crate::throttle::Throttles>> {
        Some(Arc::clone(&self.inner.throttles) as Arc<dyn crate::throttle::Throttles>)
    }
}
