//! Following the other relays on a shared database: each change another relay (or an admin
//! command) commits is announced to this relay's live streams, and folded into this relay's copy
//! of the document if it holds one, so that the next phone to sync here finds it current.
//!
//! Correctness does not hang on this: before every use, a cached document asks storage for newer
//! chunks anyway. What this adds is time: a coordinator's dashboard on one relay sees a knock
//! recorded through another within the notice's delivery (milliseconds), not at the next reload.

use std::sync::Arc;

use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

use crate::cache::DocCache;
use crate::events::{DocChanged, Events};
use crate::storage::{RemoteChange, Storage};

/// The task that follows; it stops when dropped (with its relay).
#[derive(Debug)]
pub struct Following(tokio::task::JoinHandle<()>);

impl Drop for Following {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts following `changes`.
pub fn start(
    mut changes: broadcast::Receiver<RemoteChange>,
    storage: Arc<dyn Storage>,
    cache: Arc<DocCache>,
    events: Events,
) -> Following {
    Following(tokio::spawn(async move {
        loop {
            let change = match changes.recv().await {
                Ok(change) => change,
                Err(RecvError::Lagged(missed)) => {
                    // The documents will catch up when next used; only the announcements are lost.
                    tracing::warn!(missed, "fell behind other relays' notices");
                    continue;
                }
                Err(RecvError::Closed) => return,
            };
            let header = change.header;
            events.publish(DocChanged { compound: header.compound, doc: header.id, kind: header.kind });
            if let Some(mut slot) = cache.lock_held(header.id).await
                && let Err(e) = slot.fresh(storage.as_ref()).await
            {
                tracing::warn!(doc = %header.id, error = %e, "could not fold in another relay's change");
                slot.invalidate();
            }
        }
    }))
}
