//! Telling the host that documents changed or a sync started or ended, so its UI can refresh.
//! The host implements [`ReplicaListener`] (a uniffi foreign trait) and keeps the
//! [`ListenerRegistration`] it gets back; dropping or cancelling it stops the calls.
//!
//! Listeners are called on the thread that made the change: the caller's thread for a local
//! operation, the library's runtime thread for a sync. They are never called while the replica
//! is locked, so a listener may call back into the replica. A listener that throws is logged
//! and skipped; it cannot break the sync that called it.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use doorstep_core::id::DocumentId;

use crate::sync_report::{SyncReport, SyncState};

/// Implemented by the host to hear about changes.
#[uniffi::export(foreign)]
pub trait ReplicaListener: Send + Sync {
    /// Documents changed on this device: by a local operation or by a sync.
    fn on_change(&self, change: DocumentChange);
    /// A sync started, finished or failed.
    fn on_sync_status(&self, status: SyncStatus);
}

/// Which documents changed, and how.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DocumentChange {
    /// The documents (rounds, roster, requests) that changed, arrived or left.
    pub documents: Vec<DocumentId>,
    /// Whether this device made the change or a sync brought it.
    pub origin: ChangeOrigin,
}

/// Where a change came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ChangeOrigin {
    /// An operation on this device.
    Local,
    /// A sync with the relay.
    Sync,
}

/// The progress of a sync.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum SyncStatus {
    /// A sync began.
    Started,
    /// A sync finished.
    Finished {
        /// What it did.
        report: SyncReport,
        /// Where the device stands now.
        state: SyncState,
    },
    /// A sync stopped early; what arrived before is kept.
    Failed {
        /// Why, as the thrown error says it.
        message: String,
    },
}

/// The listeners of one replica.
#[derive(Default)]
pub(crate) struct Listeners {
    next: AtomicU64,
    // A std Mutex: it is held only to copy or edit the map, never across a call or an await.
    by_id: Mutex<BTreeMap<u64, Arc<dyn ReplicaListener>>>,
}

impl std::fmt::Debug for Listeners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listeners").field("count", &self.snapshot().len()).finish()
    }
}

impl Listeners {
    pub(crate) fn add(self: &Arc<Self>, listener: Arc<dyn ReplicaListener>) -> ListenerRegistration {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.by_id.lock().unwrap_or_else(PoisonError::into_inner).insert(id, listener);
        ListenerRegistration { listeners: Arc::downgrade(self), id }
    }

    fn snapshot(&self) -> Vec<Arc<dyn ReplicaListener>> {
        self.by_id.lock().unwrap_or_else(PoisonError::into_inner).values().cloned().collect()
    }

    pub(crate) fn changed(&self, documents: Vec<DocumentId>, origin: ChangeOrigin) {
        if documents.is_empty() {
            return;
        }
        let change = DocumentChange { documents, origin };
        let listeners = self.snapshot();
        tracing::debug!(
            listeners = listeners.len(),
            documents = change.documents.len(),
            ?origin,
            "documents changed"
        );
        for listener in listeners {
            guarded("on_change", || listener.on_change(change.clone()));
        }
    }

    pub(crate) fn sync_status(&self, status: &SyncStatus) {
        for listener in self.snapshot() {
            guarded("on_sync_status", || listener.on_sync_status(status.clone()));
        }
    }
}

/// Calls into the host, turning a thrown exception (which uniffi raises as a panic) into a log
/// line.
fn guarded(what: &str, call: impl FnOnce()) {
    if std::panic::catch_unwind(AssertUnwindSafe(call)).is_err() {
        tracing::error!(callback = what, "a replica listener threw; it was skipped");
    }
}

/// A registered listener. Dropping it (Kotlin `close()`, Swift deinit) or calling `cancel()`
/// unregisters the listener. (Not `Subscription`: that would clash with Combine's in Swift.)
#[derive(Debug, uniffi::Object)]
pub struct ListenerRegistration {
    listeners: Weak<Listeners>,
    id: u64,
}

#[uniffi::export]
impl ListenerRegistration {
    /// Stops the calls. Safe to call more than once.
    pub fn cancel(&self) {
        if let Some(listeners) = self.listeners.upgrade() {
            listeners.by_id.lock().unwrap_or_else(PoisonError::into_inner).remove(&self.id);
        }
    }
}

impl Drop for ListenerRegistration {
    fn drop(&mut self) {
        self.cancel();
    }
}
