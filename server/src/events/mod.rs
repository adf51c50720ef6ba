//! The live change stream: every committed change to a document is announced on a broadcast
//! channel, and Server-Sent Events streams (`GET /v1/events` for phones, the dashboard's
//! `GET /dashboard/api/events`) pass on the announcements their caller may see.
//!
//! Why announcements are made by storage and not by the handlers: every write that reaches a
//! document, from a phone's sync, the relay's own writes or a dashboard operation, ends in
//! exactly one [`Storage::commit`](crate::storage::Storage::commit). Wrapping the store
//! ([`Events::announcing`]) catches all of them, including write paths added later, and announces
//! only what is durable. Writes made by another process on the same database (another relay, an
//! admin command) are announced too on PostgreSQL, which tells every relay through LISTEN/NOTIFY
//! (`relay/follow.rs`). On SQLite they are not; the relay folds them in lazily the next time the
//! document is used, and subscribers see them with the next change.
//!
//! An announcement carries only which document changed (`compound`, `doc`, `kind`), never its
//! content: a subscriber fetches what it needs through the API that checks its access. The
//! streams still filter announcements by the caller's roles, so a volunteer does not even learn
//! when the care ledger changes.

mod announce;
mod slots;
mod stream;

use doorstep_core::id::{CompoundId, DocumentId};
use doorstep_core::schema::vocabulary::DocKind;
use serde::Serialize;
use tokio::sync::{broadcast, watch};

pub use slots::{Listener, StreamPermit, StreamSlots};
pub use stream::{Audience, Gate, keep_alive_every, sse};

/// Announcements buffered per subscriber. A subscriber that falls this far behind (a stalled
/// connection) is told to resync instead of being sent the backlog.
const CAPACITY: usize = 1024;

/// One committed change to one document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DocChanged {
    /// The compound the document belongs to.
    pub compound: CompoundId,
    /// The document.
    pub doc: DocumentId,
    /// What kind of document it is.
    pub kind: DocKind,
}

/// The relay's announcements, cheap to clone.
#[derive(Debug, Clone)]
pub struct Events {
    changes: broadcast::Sender<DocChanged>,
    // Flips to true once when the relay shuts down, so that open streams end and graceful
    // shutdown does not wait for them for ever.
    closing: watch::Sender<bool>,
}

impl Default for Events {
    fn default() -> Self {
        let (changes, _) = broadcast::channel(CAPACITY);
        let (closing, _) = watch::channel(false);
        Self { changes, closing }
    }
}

impl Events {
    /// Announces a change to whoever listens (nobody, often).
    pub fn publish(&self, change: DocChanged) {
        // An error only means that nobody subscribes just now.
        let _ = self.changes.send(change);
    }

    /// A new subscription to every announcement from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<DocChanged> {
        self.changes.subscribe()
    }

    /// How many subscriptions are open (one per open stream).
    pub fn subscribers(&self) -> usize {
        self.changes.receiver_count()
    }

    /// Ends every stream: called when the relay begins to shut down.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Whether [`Events::close`] was called.
    pub fn is_closed(&self) -> bool {
        *self.closing.borrow()
    }

    /// A receiver that sees [`Events::close`].
    pub(crate) fn closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }
}
