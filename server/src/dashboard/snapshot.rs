//! A compound as the dashboard reads it: every document, closed rounds included, copied out of
//! the relay's cache into a core [`Compound`], so that every view is a core query (or a small
//! function over core's types) and reads exactly what phones sync.
//!
//! Each document is locked only while it is brought up to date and copied; the copy and the
//! query run on the blocking pool. Copying costs less than holding the documents locked while a
//! view is built: phones syncing the roster wait for the copy, not for the view.
//!
//! A few copies are made at once, one per core ([`Snapshots`]), and each is held with its permit
//! until the view built from it is done. Sixteen household lists of a 100,000-household roster
//! asked at once made sixteen copies: 1.98 GB, still 1.39 GB twelve minutes after their 408s.
//! A request waiting for a permit past its time limit is answered 408 and copies nothing.

use automerge::Automerge;
use doorstep_core::Compound;
use doorstep_core::document::{Document, Header};
use doorstep_core::id::CompoundId;
use doorstep_core::schema::vocabulary::DocKind;

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::error::DashError;
use super::{DashState, blocking};
use crate::relay::RelayError;

/// The permits for copies of compounds made at once, one per core (at least two).
#[derive(Debug, Clone)]
pub struct Snapshots(Arc<Semaphore>);

impl Default for Snapshots {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        Self(Arc::new(Semaphore::new(cores.max(2))))
    }
}

impl Snapshots {
    /// Waits for a free permit; dropped (a request past its time limit), it waits no more.
    async fn permit(&self) -> Result<OwnedSemaphorePermit, RelayError> {
        Arc::clone(&self.0).acquire_owned().await.map_err(|e| RelayError::Task(e.to_string()))
    }
}

/// A compound copied for a view, and its permit, given back when the view is done with it.
#[derive(Debug)]
pub struct Snapshot {
    compound: Compound,
    _permit: OwnedSemaphorePermit,
}

impl std::ops::Deref for Snapshot {
    type Target = Compound;
    fn deref(&self) -> &Compound {
        &self.compound
    }
}

impl std::ops::DerefMut for Snapshot {
    fn deref_mut(&mut self) -> &mut Compound {
        &mut self.compound
    }
}

/// Which rounds to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rounds {
    /// Only open rounds: what the overview, the map and the roster need.
    Open,
    /// Closed rounds too: history, exports, the rounds list.
    All,
}

/// The compound's documents, as stored now, once a permit is free ([`Snapshots`]).
pub async fn load(state: &DashState, compound: CompoundId, rounds: Rounds) -> Result<Snapshot, DashError> {
    let permit = state.snapshots.permit().await?;
    let relay = &state.app.relay;
    let mut records = relay.storage().documents_of(vec![compound]).await?;
    records.retain(|r| r.open || rounds == Rounds::All);
    records.sort_by_key(|r| r.header.id);
    let mut copies: Vec<(Header, Automerge)> = Vec::with_capacity(records.len());
    for record in records {
        let mut slot = relay.cache().lock(record.header.id).await;
        if slot.fresh(relay.storage()).await?.is_none() {
            continue;
        }
        let header = record.header;
        let copy = blocking(move || slot.held().map(|cached| cached.doc.clone())).await?;
        if let Some(doc) = copy {
            copies.push((header, doc));
        }
    }
    let actor = relay.actor().clone();
    let compound = blocking(move || {
        let mut out = Compound::new(compound, actor);
        for (header, doc) in copies {
            // A copy: migrating it on load (an older schema version) changes nothing stored.
            match Document::from_automerge(header, doc) {
                Ok(document) => out.insert(document),
                Err(e) if header.kind == DocKind::Round => {
                    // One unreadable round should not take the whole dashboard down.
                    tracing::error!(doc = %header.id, error = %e, "round does not load; left out");
                }
                Err(e) => {
                    return Err(RelayError::Inconsistent { id: header.id, reason: e.to_string() }.into());
                }
            }
        }
        Ok::<_, DashError>(out)
    })
    .await??;
    Ok(Snapshot { compound, _permit: permit })
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;

    #[tokio::test]
    async fn no_more_copies_are_made_at_once_than_there_are_permits_and_a_finished_view_frees_one() {
        let snapshots = Snapshots::default();
        let permits = std::thread::available_parallelism().map_or(2, std::num::NonZero::get).max(2);
        let mut held = Vec::new();
        for _ in 0..permits {
            held.push(
                snapshots.permit().now_or_never().expect("a permit is free").expect("the permits are open"),
            );
        }
        assert!(snapshots.permit().now_or_never().is_none(), "one copy more than the permits waits");
        drop(held.pop());
        assert!(snapshots.permit().now_or_never().is_some(), "a view done gives its permit to the next");
    }
}
