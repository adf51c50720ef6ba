//! The exported replica: a phone's offline copy of its compounds, plus the relay it syncs
//! with. It holds the `doorstep-replica` replica as `inner` and forwards every call to it; the
//! queries and operations are in `queries.rs` and `operations.rs`.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use doorstep_core::id::{CompoundId, PersonId, TaskId};
use doorstep_core::{Applied, Compound, Operation, Role, Timestamp};
use doorstep_replica::http::{self, RelayClient};
use doorstep_replica::{QuarantinedChange, ReplicaKey};

use crate::error::{DoorstepError, Error};
use crate::key_provider::ReplicaKeyProvider;
use crate::listener::{ChangeOrigin, ListenerRegistration, Listeners, ReplicaListener, SyncStatus};
use crate::records::CompoundInfo;
use crate::runtime;
use crate::sync_report::{SyncReport, SyncState};

/// A device's replica: open it once per database file and keep it for the life of the app.
/// Every call that reads or writes the database blocks for as long as SQLite takes (run it off
/// the UI thread); `join` and `sync` are `async`.
#[derive(Debug, uniffi::Object)]
pub struct Replica {
    // A std Mutex: replica calls are short and synchronous, and the sync transport locks it
    // only between network calls, never across an await.
    inner: Arc<Mutex<doorstep_replica::Replica>>,
    relay: RwLock<RelayClient>,
    listeners: Arc<Listeners>,
    // One sync at a time: a second `sync()` waits for the first to finish, then runs.
    syncing: Arc<tokio::sync::Mutex<()>>,
}

/// The result of joining with an invite code.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Joined {
    /// The device token. Keep it in the platform's secure storage (Android Keystore-backed
    /// preferences, the iOS Keychain) and pass it to `Replica.open` next time.
    pub token: String,
    /// Who joined.
    pub person: PersonId,
    /// Into which compound.
    pub compound: CompoundId,
    /// In which role.
    pub role: Role,
}

#[uniffi::export]
impl Replica {
    /// Opens (or creates) the replica in the SQLite file at `database_path`, encrypted at rest
    /// with the 32-byte key that `keys` gives (the Android Keystore, the iOS Keychain), syncing
    /// with the relay at `relay_url` ("https://relay.example.org") using `device_token` if this
    /// device has joined already. There is no way to open a replica without a key: a plain file
    /// (from an app version before encryption) is encrypted in place the first time; a file
    /// encrypted with another key throws `Locked`.
    ///
    /// `relay_ca_pem`: for a relay whose certificate is signed by its own CA (a small
    /// deployment's), that CA's certificate in PEM, trusted besides the system's roots. Needs a
    /// library built with the `tls` feature; a CA that is not PEM throws `InvalidInput`.
    #[uniffi::constructor(default(relay_ca_pem = None))]
    pub fn open(
        database_path: String,
        relay_url: String,
        device_token: Option<String>,
        keys: Arc<dyn ReplicaKeyProvider>,
        relay_ca_pem: Option<String>,
    ) -> Result<Arc<Self>, DoorstepError> {
        let relay = relay_client(&relay_url, device_token, relay_ca_pem.as_deref())?;
        if database_path.trim().is_empty() {
            return Err(Error::Invalid("the database path is empty".to_owned()).into());
        }
        let key = keys.replica_key().map_err(Error::from)?;
        let key = ReplicaKey::from_bytes(&key)?;
        let replica = doorstep_replica::Replica::open_with(&database_path, Some(&key))?;
        Ok(Arc::new(Self {
            inner: Arc::new(Mutex::new(replica)),
            relay: RwLock::new(relay),
            listeners: Arc::default(),
            syncing: Arc::default(),
        }))
    }

    /// Turns an invite code from a coordinator into a device token, and records who this device
    /// acts for. The token is used from now on and returned for the app to store. Sync next to
    /// receive the compound's documents.
    pub async fn join(&self, invite_code: String, device_name: String) -> Result<Joined, DoorstepError> {
        let inner = Arc::clone(&self.inner);
        let relay = self.relay();
        let joined = runtime::run(async move {
            http::join(&inner, &relay, &invite_code, &device_name).await.map_err(DoorstepError::from)
        })
        .await?;
        self.set_device_token(joined.token.clone());
        Ok(Joined {
            token: joined.token,
            person: joined.person,
            compound: joined.compound,
            role: joined.role,
        })
    }

    /// Replaces the device token (after the app restored it from secure storage).
    pub fn set_device_token(&self, token: String) {
        let mut relay = self.relay.write().unwrap_or_else(PoisonError::into_inner);
        *relay = relay.with_token(token);
    }

    /// Syncs every document with the relay until neither side has anything to say, on the
    /// library's own runtime. Listeners hear `Started`, then the changed documents and
    /// `Finished`, or `Failed`. Changes the relay refuses are reported in the result and kept in
    /// `quarantine()`; they do not throw. Cancelling the caller's task stops the sync; what
    /// arrived before is kept.
    pub async fn sync(&self) -> Result<SyncReport, DoorstepError> {
        let inner = Arc::clone(&self.inner);
        let relay = self.relay();
        let listeners = Arc::clone(&self.listeners);
        let syncing = Arc::clone(&self.syncing);
        runtime::run(async move {
            let _one_at_a_time = syncing.lock_owned().await;
            listeners.sync_status(&SyncStatus::Started);
            let outcome =
                http::sync(&inner, &relay, now).await.map(SyncReport::from).map_err(DoorstepError::from);
            match &outcome {
                Ok(report) => {
                    listeners.changed(report.touched(), ChangeOrigin::Sync);
                    let state = sync_state(&lock(&inner));
                    listeners.sync_status(&SyncStatus::Finished { report: report.clone(), state });
                }
                Err(e) => listeners.sync_status(&SyncStatus::Failed { message: e.to_string() }),
            }
            outcome
        })
        .await
    }

    /// Registers a listener for document changes and sync progress. Keep the subscription;
    /// dropping it unregisters the listener.
    pub fn subscribe(&self, listener: Arc<dyn ReplicaListener>) -> Arc<ListenerRegistration> {
        Arc::new(self.listeners.add(listener))
    }

    /// The person signed in on this device, once it has joined.
    pub fn person(&self) -> Option<PersonId> {
        self.lock().identity().map(|i| i.person)
    }

    /// The compounds on this device, with this device's role in each.
    pub fn compounds(&self) -> Vec<CompoundInfo> {
        let replica = self.lock();
        replica
            .compounds()
            .map(|c| CompoundInfo { id: c.id(), name: c.name(), role: replica.role(c.id()) })
            .collect()
    }

    /// This device's role in `compound`, once a sync has granted one.
    pub fn role(&self, compound: CompoundId) -> Option<Role> {
        self.lock().role(compound)
    }

    /// "N changes not yet synced" and the last sync time.
    pub fn sync_state(&self) -> SyncState {
        sync_state(&self.lock())
    }

    /// The compounds a coordinator removed this device from (its compound data wiped), by name,
    /// so the app can keep saying "你已被移出 香樟苑 / removed from 香樟苑" offline. Joining again
    /// clears it.
    pub fn removed_from(&self) -> Result<Vec<String>, DoorstepError> {
        Ok(self.lock().removed_from()?)
    }

    /// Local changes set aside (refused for good by the relay), under review, each with the
    /// operation behind it, for the user to see and export.
    pub fn quarantine(&self) -> Result<Vec<QuarantinedChange>, DoorstepError> {
        Ok(self.lock().quarantine()?)
    }

    /// Documents that could not be loaded when the replica opened (they are fetched again at
    /// the next sync).
    pub fn load_problems(&self) -> Vec<String> {
        self.lock().load_problems().to_vec()
    }
}

impl Replica {
    fn lock(&self) -> MutexGuard<'_, doorstep_replica::Replica> {
        lock(&self.inner)
    }

    fn relay(&self) -> RelayClient {
        self.relay.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Reads one compound.
    pub(crate) fn read<T>(
        &self,
        compound: CompoundId,
        read: impl FnOnce(&Compound) -> T,
    ) -> Result<T, DoorstepError> {
        Ok(read(self.lock().compound(compound)?))
    }

    /// Reads one compound's tasks, with the tasks a knock recorded on this phone is set aside
    /// for (waiting for a coordinator), so that a list can say so beside the task.
    pub(crate) fn read_tasks<T>(
        &self,
        compound: CompoundId,
        read: impl FnOnce(&Compound, &HashSet<TaskId>) -> T,
    ) -> Result<T, DoorstepError> {
        let replica = self.lock();
        let set_aside = replica.tasks_with_knocks_set_aside()?;
        Ok(read(replica.compound(compound)?, &set_aside))
    }

    /// The signed-in person, or `Unauthorized` before joining.
    pub(crate) fn me(&self) -> Result<PersonId, DoorstepError> {
        self.person().ok_or_else(|| doorstep_replica::ReplicaError::NotJoined.into())
    }

    /// Carries out `operation` durably, then tells the listeners (outside the lock).
    pub(crate) fn apply(
        &self,
        compound: CompoundId,
        operation: &Operation,
    ) -> Result<Applied, DoorstepError> {
        let applied = self.lock().apply(now(), compound, operation)?;
        let mut documents = applied.changed.clone();
        documents.extend(&applied.created);
        self.listeners.changed(documents, ChangeOrigin::Local);
        Ok(applied)
    }
}

/// The transport to the relay at `relay_url`, trusting `ca_pem` besides the system's roots.
fn relay_client(
    relay_url: &str,
    device_token: Option<String>,
    ca_pem: Option<&str>,
) -> Result<RelayClient, DoorstepError> {
    if !(relay_url.starts_with("http://") || relay_url.starts_with("https://")) {
        return Err(
            Error::Invalid(format!("relay URL {relay_url:?} must start with http:// or https://")).into()
        );
    }
    match ca_pem {
        None => Ok(RelayClient::new(relay_url, device_token)?),
        #[cfg(feature = "tls")]
        Some(ca_pem) => Ok(RelayClient::with_root_certificate(relay_url, device_token, ca_pem.as_bytes())?),
        #[cfg(not(feature = "tls"))]
        Some(_) => Err(Error::Invalid(
            "this library was built without HTTPS (the `tls` feature), so it cannot use a relay CA"
                .to_owned(),
        )
        .into()),
    }
}

fn lock(replica: &Mutex<doorstep_replica::Replica>) -> MutexGuard<'_, doorstep_replica::Replica> {
    // Every replica write is one SQLite transaction, so a panic under the lock cannot leave the
    // data half-written; the poisoned guard's contents are still consistent.
    replica.lock().unwrap_or_else(PoisonError::into_inner)
}

fn sync_state(replica: &doorstep_replica::Replica) -> SyncState {
    SyncState {
        unsynced_changes: u32::try_from(replica.unsynced_changes()).unwrap_or(u32::MAX),
        // A file that cannot be counted is reported by `quarantine()`; the count then reads 0.
        set_aside: replica.set_aside_count().map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX)),
        last_sync: replica.last_sync(),
        clock_off_by_ms: replica.clock_off_by_ms(),
        // A file that cannot be read here fails the next write, which says why.
        sync_unfinished: replica.sync_unfinished().unwrap_or(false),
    }
}

/// The device clock. Operations and sync records carry device time (DESIGN §4); a clock before
/// 1970 reads as 0.
fn now() -> Timestamp {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    Timestamp::from_millis(millis)
}
