//! How many bytes of changes one sync request carries, fitted to the link the phone has had.
//!
//! Core cuts a backlog to a request's budget (`sync/upload_budget.rs`), 64 KiB at most: eight
//! seconds at a landing's 64 kbit/s. A volunteer's window of signal on the stairs may be shorter
//! than that, and a request the link drops half-way sends nothing: measured with
//! `doorstep-bench landing`, windows of 5 s moved none of a long day's backlog at 64 KiB a
//! request. So the budget follows the link: a request the link did not carry (no answer: the
//! connection dropped or timed out, or the relay gave up reading it, 408) halves it, down to
//! 2 KiB, a quarter of a second of that link (a floor of 8 KiB left a landing that carries 6 KB
//! of an answer asking, window after window, for replies it cut: never in sync); two requests in a
//! row of at least half the budget, answered,
//! double it again, up to 64 KiB. It is kept in the replica's file, so the next sync, in the next
//! window, starts from what the last one learned. While the budget is below its most, a request
//! also asks for one document not held yet at a time, since each comes back whole.

use doorstep_core::sync::{ClientSession, REQUEST_BYTES};

use crate::error::ReplicaError;
use crate::store::{Store, Write};

/// The meta key: the budget in bytes, as decimal text; absent while it is the most.
const REQUEST_BUDGET: &str = "request_budget";

/// The smallest budget: about a quarter of a second of a 64 kbit/s link.
pub const LEAST: usize = 2 * 1024;

/// The largest budget: core's `REQUEST_BYTES`.
pub const MOST: usize = REQUEST_BYTES;

/// Requests of at least half the budget answered in a row before it doubles.
pub const CARRIED_TO_GROW: u32 = 2;

/// The kept budget, or the most when none is kept (or the kept one is unreadable).
pub(crate) fn load(store: &Store) -> Result<usize, ReplicaError> {
    let kept = store.meta(REQUEST_BUDGET)?;
    Ok(kept
        .and_then(|bytes| std::str::from_utf8(&bytes).ok().and_then(|s| s.parse::<usize>().ok()))
        .map_or(MOST, |b| b.clamp(LEAST, MOST)))
}

/// Fits `session`'s requests to `budget`: the bytes of changes each carries, and how many
/// documents not held yet each asks for.
pub(crate) fn fit(session: &mut ClientSession, budget: usize) {
    session.set_request_bytes(budget);
    session.set_fetches_per_request(fetches_per_request(budget));
}

/// Documents not held yet one request asks for: all of them on a link that has carried full
/// requests (the budget at its most), one at a time once a request was dropped. A document comes
/// back whole, and a new volunteer's three (75 KiB for the 香樟苑 sample) or a coordinator's
/// many compounds in one answer take longer to cross a landing's link than a window of signal,
/// or than the phone waits for an answer (60 s): 480 KB at 64 kbit/s.
fn fetches_per_request(budget: usize) -> Option<usize> {
    (budget < MOST).then_some(1)
}

/// After a request the link did not carry.
pub(crate) fn halved(budget: usize) -> usize {
    (budget / 2).max(LEAST)
}

/// After a request that was answered.
pub(crate) fn doubled(budget: usize) -> usize {
    budget.saturating_mul(2).min(MOST)
}

impl crate::replica::Replica {
    /// Something the link did not carry outside a sync run (the review inbox's exchange): the
    /// next requests carry half as much, kept for the next sync.
    pub fn link_dropped(&mut self) -> Result<(), ReplicaError> {
        let budget = halved(self.request_budget);
        if budget != self.request_budget {
            self.request_budget = budget;
            keep(self.store_mut(), budget)?;
        }
        Ok(())
    }
}

/// Keeps `budget` in the replica's file for the next sync.
pub(crate) fn keep(store: &mut Store, budget: usize) -> Result<(), ReplicaError> {
    if budget >= MOST {
        return store.commit(&[Write::DeleteMeta { key: REQUEST_BUDGET }]);
    }
    let text = budget.to_string();
    store.commit(&[Write::Meta { key: REQUEST_BUDGET, value: text.as_bytes() }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_halves_to_a_floor_and_doubles_to_a_ceiling() {
        let mut budget = MOST;
        let mut seen = vec![budget];
        for _ in 0..5 {
            budget = halved(budget);
            seen.push(budget);
        }
        assert_eq!(seen, vec![65_536, 32_768, 16_384, 8_192, 4_096, 2_048]);
        assert_eq!(halved(budget), 2_048, "the floor");
        for _ in 0..6 {
            budget = doubled(budget);
        }
        assert_eq!(budget, MOST);
    }
}
