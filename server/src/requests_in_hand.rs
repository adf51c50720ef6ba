//! How many requests one person may have in the relay's hands at once, over every route but the
//! live streams (which have their own cap) and on top of the sync's own (`syncs_in_hand.rs`).
//!
//! A member's request is never closed to make room for a stranger's (`connections/table.rs`),
//! and a body may arrive slowly for as long as the request limit (30 s). A volunteer's token
//! sending a body a byte every few seconds to `/v1/set-aside`, ten requests a second within its
//! rate limit, so held about 300 connections: three tokens took a relay of 300 connections whole,
//! and `/healthz` and honest phones were refused (the red team's transport finding 2). So a
//! person holds at most [`PER_PERSON`] requests at once; one more is refused at once with 429
//! (`requests_in_progress`) before its body is read. An honest phone has one or two in hand, a
//! coordinator's dashboard a handful per tab.
//!
//! The place is taken by the extractor that finds who is asking ([`crate::http::auth`], the
//! dashboard's session) and held, in a [`Slot`] the request carries, until the answer is made
//! (`http/middleware.rs`).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use doorstep_core::id::PersonId;

use crate::counts_by_key::CountsByKey;
use crate::error::AppError;

/// Requests one person may have in hand at once.
pub const PER_PERSON: usize = 16;

/// When a refused request may come back: one request limit's worth is the longest a held one
/// lasts, but most end within a second or two.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// The requests each person has in hand.
#[derive(Debug, Default, Clone)]
pub struct RequestsInHand {
    // A std mutex: held for a counter update, never across an `.await`.
    held: Arc<Mutex<CountsByKey<PersonId>>>,
}

fn lock(held: &Mutex<CountsByKey<PersonId>>) -> MutexGuard<'_, CountsByKey<PersonId>> {
    held.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One request's place; dropping it frees the place.
#[derive(Debug)]
pub struct Permit {
    held: Arc<Mutex<CountsByKey<PersonId>>>,
    person: PersonId,
}

impl Drop for Permit {
    fn drop(&mut self) {
        lock(&self.held).remove(&self.person);
    }
}

/// Where a request keeps its place until its answer is made: put on the request by the
/// middleware, filled by the extractor that authenticates it.
#[derive(Debug, Clone, Default)]
pub struct Slot(Arc<Mutex<Option<Permit>>>);

impl Slot {
    /// Gives the place back, if one was taken.
    pub fn release(&self) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take();
    }
}

impl RequestsInHand {
    /// Takes a place for the request of `person` whose `parts` these are (once per request; not
    /// for a live stream, which has its own cap), or refuses it.
    pub fn take_for(&self, parts: &axum::http::request::Parts, person: PersonId) -> Result<(), AppError> {
        if parts.uri.path().ends_with("/events") {
            return Ok(());
        }
        self.take(parts.extensions.get::<Slot>(), person)
    }

    /// Takes a place for one request of `person` into `slot` (once per request), or refuses it.
    pub fn take(&self, slot: Option<&Slot>, person: PersonId) -> Result<(), AppError> {
        let Some(Slot(slot)) = slot else { return Ok(()) };
        let mut kept = slot.lock().unwrap_or_else(PoisonError::into_inner);
        if kept.is_some() {
            return Ok(());
        }
        let mut held = lock(&self.held);
        let now = held.of(&person);
        if now >= PER_PERSON {
            return Err(AppError::Throttled {
                error: "requests_in_progress",
                reason: format!(
                    "this account already has {now} requests in progress with the relay, the most one person may have; \
                     nothing of this one was read, try again in {} s (此账号已有 {now} 个请求正在处理，本次未处理，请稍后再试)",
                    RETRY_AFTER.as_secs()
                ),
                retry_after: Some(RETRY_AFTER),
            });
        }
        held.add(person);
        *kept = Some(Permit { held: Arc::clone(&self.held), person });
        Ok(())
    }

    /// People with a request in hand now.
    pub fn people(&self) -> usize {
        lock(&self.held).len()
    }

    /// The requests `person` has in hand now.
    pub fn held_by(&self, person: &PersonId) -> usize {
        lock(&self.held).of(person)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_person_holds_at_most_their_share_and_a_place_comes_back_when_its_request_ends() {
        let hands = RequestsInHand::default();
        let person: PersonId = "01a24e14-88ed-7be2-9550-9f5aaeb30c6e".parse().unwrap();
        let other: PersonId = "01a24e14-88ee-7a73-9c62-677ecde6dd6b".parse().unwrap();
        let slots: Vec<Slot> = (0..PER_PERSON).map(|_| Slot::default()).collect();
        for slot in &slots {
            hands.take(Some(slot), person).unwrap();
            // Asked twice for one request (two extractors), it takes one place.
            hands.take(Some(slot), person).unwrap();
        }
        let one_more = Slot::default();
        let refused = hands.take(Some(&one_more), person).unwrap_err();
        assert_eq!(refused.code(), "requests_in_progress");
        hands.take(Some(&Slot::default()), other).unwrap();
        drop(slots);
        hands.take(Some(&one_more), person).unwrap();
        assert_eq!(hands.people(), 1, "the other's request ended with its slot");
    }
}
