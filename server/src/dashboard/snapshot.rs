//! A compound as the dashboard reads it: every document, closed rounds included, copied out of
//! the relay's cache into a core [`Compound`], so that every view is a core query (or a small
//! function over core's types) and reads exactly what phones sync.
//!
//! Each document is locked only while it is brought up to date and copied; the copy and the
//! query run on the blocking pool. Copying costs less than holding the documents locked while a
//! view is built: phones syncing the roster wait for the copy, not for the view.
//!
//! A few copies are made at once, one per core, and one per person ([`Snapshots`]); each is
//! held with its permits until the view built from it is done. Sixteen household lists of a
//! 100,000-household roster asked at once made sixteen copies: 1.98 GB, still 1.39 GB twelve
//! minutes after their 408s. One person's views wait behind each other, not other people's:
//! a coordinator opening many tabs of a large compound leaves the other permits to the rest.
//! A request waiting for a permit past its time limit is answered 408 and copies nothing.

use automerge::Automerge;
use doorstep_core::Compound;
use doorstep_core::document::{Document, Header};
use doorstep_core::id::PersonId;
use doorstep_core::schema::vocabulary::DocKind;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::error::DashError;
use super::signed_in::Scope;
use super::{DashState, blocking};
use crate::relay::RelayError;

/// The permits for copies of compounds made at once: one per core (at least two) in all, and
/// one per person.
#[derive(Debug, Clone)]
pub struct Snapshots {
    all: Arc<Semaphore>,
    /// Each person's permit, while anyone holds or waits for it.
    each: Arc<Mutex<HashMap<PersonId, Arc<Semaphore>>>>,
}

impl Default for Snapshots {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        Self { all: Arc::new(Semaphore::new(cores.max(2))), each: Arc::default() }
    }
}

/// A person's permit and one of all, held together.
#[derive(Debug)]
struct Permits {
    _all: OwnedSemaphorePermit,
    _own: OwnedSemaphorePermit,
}

impl Snapshots {
    /// Waits for the person's own permit, then for one of all; dropped (a request past its time
    /// limit), it waits no more.
    async fn permits(&self, person: PersonId) -> Result<Permits, RelayError> {
        let own = {
            let mut each = self.each.lock().unwrap_or_else(PoisonError::into_inner);
            // People no request holds or waits for are forgotten.
            each.retain(|_, permit| Arc::strong_count(permit) > 1);
            Arc::clone(each.entry(person).or_insert_with(|| Arc::new(Semaphore::new(1))))
        };
        let closed = |e: tokio::sync::AcquireError| RelayError::Task(e.to_string());
        let own = own.acquire_owned().await.map_err(closed)?;
        let all = Arc::clone(&self.all).acquire_owned().await.map_err(closed)?;
        Ok(Permits { _all: all, _own: own })
    }
}

/// A compound copied for a view, and its permit, given back when the view is done with it.
#[derive(Debug)]
pub struct Snapshot {
    compound: Compound,
    _permits: Permits,
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

/// The compound's documents, as stored now, once the person's permits are free ([`Snapshots`]).
pub async fn load(state: &DashState, scope: &Scope, rounds: Rounds) -> Result<Snapshot, DashError> {
    let permits = state.snapshots.permits(scope.actor.person).await?;
    let compound = scope.compound.id;
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
    Ok(Snapshot { compound, _permits: permits })
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;

    #[tokio::test]
    async fn copies_wait_for_one_per_person_and_one_per_core_and_a_finished_view_frees_them() {
        let snapshots = Snapshots::default();
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get).max(2);
        let people: Vec<PersonId> =
            (0..=cores).map(|i| PersonId::from_uuid(uuid::Uuid::from_u128(i as u128 + 1))).collect();
        let first = snapshots.permits(people[0]).now_or_never().expect("free").expect("open");
        assert!(
            snapshots.permits(people[0]).now_or_never().is_none(),
            "a person's second view waits for their first"
        );
        let mut held = vec![first];
        for person in &people[1..cores] {
            held.push(
                snapshots.permits(*person).now_or_never().expect("another person's is free").expect("open"),
            );
        }
        assert!(
            snapshots.permits(people[cores]).now_or_never().is_none(),
            "one copy more than the cores waits"
        );
        drop(held.pop());
        assert!(
            snapshots.permits(people[cores]).now_or_never().is_some(),
            "a view done frees a permit for the next"
        );
        drop(held);
        assert!(snapshots.permits(people[0]).now_or_never().is_some());
        assert!(
            snapshots.each.lock().unwrap_or_else(PoisonError::into_inner).len() <= 1,
            "people no request holds are forgotten"
        );
    }
}
