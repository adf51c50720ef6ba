//! The memory sync request bodies take, bounded across the relay.
//!
//! Each request is bounded ([`Limits::max_body_bytes`](crate::config::Limits), 8 MiB, as sent and
//! as inflated), but not how many are held at once, and a compressed body costs its sender far
//! less than it costs the relay: 8 KB of DEFLATE inflate to 8 MiB, which the relay then decodes
//! into a second copy. Measured on a demo relay before this bound: 160 such requests sent at once
//! with the demo's four tokens (1.3 MB on the wire) took the relay from 37 MiB to a peak of 850
//! MiB. Any member can do that; a few more tokens, or repeating it within the rate limit, and a
//! small relay machine kills the relay for its memory.
//!
//! So the relay holds at most [`Limits::bodies_in_hand`](crate::config::Limits) bytes of
//! request bodies at once (256 MiB by default; a district's return of a thousand phones holds a
//! few tens of megabytes):
//! - a body's bytes are held as they arrive, and only those: a client that declares 8 MiB and
//!   then goes quiet holds what it sent, not what it declared (holding the declared length let
//!   one member's forty stalled requests, within their token's burst, take all the room for the
//!   request timeout, and everyone else was refused);
//! - what it inflates to and the decoded request's copy of it are held once they are known, until
//!   the request is answered;
//! - one person's requests hold at most a share of the room ([`BodiesInHand::person_share`]: an
//!   eighth, and at least one request at the body limit at its most), so no member, with bytes
//!   real or compressed, takes the room of everyone; past it, 429 `bodies_in_hand` and
//!   `Retry-After`;
//! - a request that finds no room is refused with 503 and `Retry-After`, as a shed request is,
//!   before it takes more memory; the phone comes back after the wait;
//! - a JSON body of a member's request (the set-aside exchange) and a roster upload are held as
//!   they arrive and once more as parsed (`http/body_in_hand.rs`); the bytes of a request in
//!   pieces as they arrive, until they are written to the store (`http/sync_pieces.rs`).
//!
//! Inflating is CPU work and needs its output buffer whole before its size is known, so at most
//! one compressed body per core inflates at once ([`BodiesInHand::inflating`]): what inflation
//! takes beyond what is held is then at most a body limit per core, and a burst of compressed
//! bodies waits its turn for the cores it would have shared anyway.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use doorstep_core::id::PersonId;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, SemaphorePermit};

use crate::counts_by_key::CountsByKey;
use crate::error::AppError;

/// Bytes are held in units of this many: a semaphore counts in `u32`.
const UNIT: usize = 1024;

/// How long a refused request is told to wait: bodies are answered in milliseconds to seconds.
pub const RETRY_AFTER: Duration = Duration::from_secs(2);

/// The code of a request refused because its person holds their share already.
pub const PERSON_SHARE_CODE: &str = "bodies_in_hand";

/// Room for request bodies, shared by all requests.
#[derive(Debug, Clone)]
pub struct BodiesInHand {
    room: Arc<Semaphore>,
    units: u32,
    /// The most one person's requests may hold at once, in units.
    person_units: usize,
    // A std mutex: held for a few counter updates, never across an `.await`.
    per_person: Arc<Mutex<CountsByKey<PersonId>>>,
    inflating: Arc<Semaphore>,
}

/// Bytes held for one request, grown as its bytes arrive ([`HeldBytes::hold`]); given back when
/// dropped.
#[derive(Debug)]
pub struct HeldBytes {
    in_hand: BodiesInHand,
    person: Option<PersonId>,
    /// Bytes held, as asked.
    bytes: usize,
    /// Units held for them (and taken from the person's share).
    units: usize,
    permit: Option<OwnedSemaphorePermit>,
}

impl BodiesInHand {
    /// Room for `bytes` of bodies, and `cores` inflating at once. The room is at least what
    /// one request at the body limit `max_body` holds at its most (the body, what it inflates
    /// to, and the decoded copy), so the largest request is served when it is alone; one
    /// person's share is an eighth of the room, and at least that.
    pub fn new(bytes: usize, max_body: usize, cores: usize) -> Self {
        let one_request = max_body.saturating_mul(3);
        let bytes = bytes.max(one_request);
        let units = u32::try_from(bytes.div_ceil(UNIT)).unwrap_or(u32::MAX).max(1);
        let person_units = (bytes / 8).max(one_request).div_ceil(UNIT).clamp(1, units as usize);
        Self {
            room: Arc::new(Semaphore::new(units as usize)),
            units,
            person_units,
            per_person: Arc::default(),
            inflating: Arc::new(Semaphore::new(cores.max(1))),
        }
    }

    /// Nothing held yet for a request of `person` (or of no one known, for a route without a
    /// token: then only the relay's room bounds it).
    pub fn for_request(&self, person: Option<PersonId>) -> HeldBytes {
        HeldBytes { in_hand: self.clone(), person, bytes: 0, units: 0, permit: None }
    }

    /// Bytes of bodies held now.
    pub fn held(&self) -> usize {
        (self.units as usize - self.room.available_permits()) * UNIT
    }

    /// Bytes of bodies `person`'s requests hold now.
    pub fn held_by(&self, person: PersonId) -> usize {
        self.people().of(&person) * UNIT
    }

    /// The most one person's requests may hold at once, in bytes.
    pub fn person_share(&self) -> usize {
        self.person_units * UNIT
    }

    /// A turn at inflating a compressed body: one per core at once.
    pub async fn inflating(&self) -> Result<SemaphorePermit<'_>, AppError> {
        self.inflating
            .acquire()
            .await
            .map_err(|_| AppError::Unavailable("the relay is stopping; sync again shortly".into()))
    }

    fn people(&self) -> MutexGuard<'_, CountsByKey<PersonId>> {
        self.per_person.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn mib(units: usize) -> usize {
        units * UNIT / (1024 * 1024)
    }
}

impl HeldBytes {
    /// Holds `more` bytes besides those held, or refuses the request: 503 and `Retry-After`
    /// when the relay holds as many bodies as it may, 429 `bodies_in_hand` when the request's
    /// person holds their share. More than all the room (or the share) takes all of it.
    pub fn hold(&mut self, more: usize) -> Result<(), AppError> {
        let bytes = self.bytes.saturating_add(more);
        let cap = if self.person.is_some() { self.in_hand.person_units } else { self.in_hand.units as usize };
        let units = bytes.div_ceil(UNIT).min(cap);
        let extra = units.saturating_sub(self.units);
        if extra == 0 {
            self.bytes = bytes;
            return Ok(());
        }
        let in_hand = &self.in_hand;
        let mut people = in_hand.people();
        if let Some(person) = self.person {
            let held = people.of(&person);
            if held + extra > in_hand.person_units {
                return Err(AppError::Throttled {
                    error: PERSON_SHARE_CODE,
                    reason: format!(
                        "your requests hold as many bytes of bodies as one person's may at once ({} MiB); \
                         nothing of this one was kept; send it again once they are answered (a phone syncs again by itself)",
                        BodiesInHand::mib(in_hand.person_units)
                    ),
                    retry_after: Some(RETRY_AFTER),
                });
            }
        }
        let taken =
            u32::try_from(extra).ok().and_then(|n| Arc::clone(&in_hand.room).try_acquire_many_owned(n).ok());
        let Some(taken) = taken else {
            return Err(AppError::Busy {
                reason: format!(
                    "the relay holds as many request bodies as it may ({} MiB) and cannot take this one of {bytes} bytes now; sync again after the wait",
                    BodiesInHand::mib(in_hand.units as usize)
                ),
                retry_after: RETRY_AFTER,
            });
        };
        if let Some(person) = self.person {
            people.add_many(person, extra);
        }
        drop(people);
        match &mut self.permit {
            Some(permit) => permit.merge(taken),
            none => *none = Some(taken),
        }
        self.bytes = bytes;
        self.units = units;
        Ok(())
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// What this holds, moved out to be given back when the result is dropped; this holds
    /// nothing after, for the same person.
    #[must_use]
    pub fn take(&mut self) -> HeldBytes {
        let nothing = self.in_hand.for_request(self.person);
        std::mem::replace(self, nothing)
    }
}

impl Drop for HeldBytes {
    fn drop(&mut self) {
        if let Some(person) = self.person {
            self.in_hand.people().remove_many(&person, self.units);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn person(n: u128) -> PersonId {
        PersonId::from_uuid(uuid::Uuid::from_u128(n))
    }

    #[test]
    fn bodies_are_held_until_dropped_and_a_request_past_the_room_is_refused_with_a_wait() {
        let in_hand = BodiesInHand::new(10 * 1024 * 1024, 1024 * 1024, 2);
        let mut first = in_hand.for_request(None);
        first.hold(6 * 1024 * 1024).unwrap();
        assert_eq!(in_hand.held(), 6 * 1024 * 1024);
        let refused = in_hand.for_request(None).hold(6 * 1024 * 1024).unwrap_err();
        assert!(matches!(refused, AppError::Busy { retry_after, .. } if retry_after == RETRY_AFTER));
        // Bytes arriving a few at a time are held exactly, not a unit for each few.
        for _ in 0..100 {
            first.hold(10).unwrap();
        }
        assert_eq!(in_hand.held(), 6 * 1024 * 1024 + UNIT);
        assert_eq!(first.bytes(), 6 * 1024 * 1024 + 1000);
        drop(first);
        assert_eq!(in_hand.held(), 0, "all of it given back");
        let mut nothing = in_hand.for_request(None);
        nothing.hold(0).unwrap();
        assert_eq!(in_hand.held(), 0);
        drop(nothing);
        assert_eq!(
            BodiesInHand::new(1, 8 * 1024 * 1024, 2).units as usize * UNIT,
            24 * 1024 * 1024,
            "room for the largest request"
        );
        // Bigger than all the room: takes all of it, and only when nothing else is held.
        let mut all = in_hand.for_request(None);
        all.hold(64 * 1024 * 1024).unwrap();
        assert_eq!(in_hand.held(), 10 * 1024 * 1024);
        assert!(in_hand.for_request(None).hold(1).is_err());
        drop(all);
        assert!(in_hand.for_request(None).hold(64 * 1024 * 1024).is_ok());
    }

    #[test]
    fn one_persons_requests_hold_at_most_their_share_and_others_still_find_room() {
        // 64 MiB of room, bodies of at most 2 MiB: a person's share is an eighth, 8 MiB.
        let in_hand = BodiesInHand::new(64 * 1024 * 1024, 2 * 1024 * 1024, 2);
        assert_eq!(in_hand.person_share(), 8 * 1024 * 1024);
        let (mallory, alice) = (person(1), person(2));
        let mut hers: Vec<HeldBytes> = Vec::new();
        for _ in 0..4 {
            let mut held = in_hand.for_request(Some(mallory));
            held.hold(2 * 1024 * 1024).unwrap();
            hers.push(held);
        }
        assert_eq!(in_hand.held_by(mallory), 8 * 1024 * 1024);
        let refused = in_hand.for_request(Some(mallory)).hold(1).unwrap_err();
        assert!(
            matches!(&refused, AppError::Throttled { error: PERSON_SHARE_CODE, retry_after: Some(wait), .. } if *wait == RETRY_AFTER),
            "{refused:?}"
        );
        assert_eq!(in_hand.held_by(mallory), 8 * 1024 * 1024, "a refused request holds nothing");
        let mut alices = in_hand.for_request(Some(alice));
        alices.hold(3 * 1024 * 1024).unwrap();
        assert_eq!(in_hand.held(), 11 * 1024 * 1024);
        // A lone request bigger than the share holds the share, not more.
        drop(hers);
        assert_eq!(in_hand.held_by(mallory), 0);
        let mut big = in_hand.for_request(Some(mallory));
        big.hold(40 * 1024 * 1024).unwrap();
        assert_eq!(in_hand.held_by(mallory), 8 * 1024 * 1024);
        drop((big, alices));
        assert_eq!((in_hand.held(), in_hand.held_by(alice)), (0, 0));
        assert!(in_hand.people().is_empty(), "no entry left for a person holding nothing");
        // A room at its least is one request at its most, and so is the share.
        let least = BodiesInHand::new(0, 1024 * 1024, 1);
        assert_eq!(least.person_share(), 3 * 1024 * 1024);
    }

    /// What a request does to the room, in the property test below.
    #[derive(Debug, Clone)]
    enum Step {
        /// A new request, of one of three people or of no one known.
        Begin(Option<u8>),
        /// The `n`th live request holds this many bytes more.
        Hold(usize, usize),
        /// The `n`th live request ends.
        End(usize),
    }

    fn step() -> impl proptest::strategy::Strategy<Value = Step> {
        use proptest::prelude::*;
        prop_oneof![
            proptest::option::of(0u8..3).prop_map(Step::Begin),
            (0usize..8, 0usize..(3 * 1024 * 1024)).prop_map(|(n, bytes)| Step::Hold(n, bytes)),
            (0usize..8, 0usize..2000).prop_map(|(n, bytes)| Step::Hold(n, bytes)),
            (0usize..8).prop_map(Step::End),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(
            std::env::var("DOORSTEP_PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
        ))]
        /// Against a model of the room and the shares: a hold is refused exactly when it would
        /// pass the person's share (429) or the room (503), a refused hold changes nothing, the
        /// counts always equal what the live requests hold, and nothing stays once they end.
        #[test]
        fn the_room_and_the_shares_count_exactly_what_live_requests_hold(steps in proptest::collection::vec(step(), 0..80)) {
            let in_hand = BodiesInHand::new(10 * 1024 * 1024, 1024 * 1024, 2);
            let (room, share) = (in_hand.units as usize, in_hand.person_units);
            // Live requests: what they hold, and the model's view of it (person, bytes, units).
            let mut live: Vec<(HeldBytes, Option<PersonId>, usize, usize)> = Vec::new();
            for step in steps {
                match step {
                    Step::Begin(who) => {
                        let who = who.map(|n| person(u128::from(n) + 1));
                        live.push((in_hand.for_request(who), who, 0, 0));
                    }
                    Step::Hold(n, more) if !live.is_empty() => {
                        let n = n % live.len();
                        let total: usize = live.iter().map(|l| l.3).sum();
                        let theirs: usize = live.iter().filter(|l| l.1.is_some() && l.1 == live[n].1).map(|l| l.3).sum();
                        let (held, who, bytes, units) = &mut live[n];
                        let cap = if who.is_some() { share } else { room };
                        let wanted = (*bytes + more).div_ceil(UNIT).min(cap);
                        let extra = wanted.saturating_sub(*units);
                        let outcome = held.hold(more);
                        if extra > 0 && who.is_some() && theirs + extra > share {
                            proptest::prop_assert!(matches!(outcome, Err(AppError::Throttled { .. })), "{outcome:?}");
                        } else if extra > 0 && total + extra > room {
                            proptest::prop_assert!(matches!(outcome, Err(AppError::Busy { .. })), "{outcome:?}");
                        } else {
                            proptest::prop_assert!(outcome.is_ok(), "{outcome:?}");
                            *bytes += more;
                            *units = (*units).max(wanted);
                        }
                        proptest::prop_assert_eq!(held.bytes(), *bytes);
                    }
                    Step::End(n) if !live.is_empty() => {
                        let n = n % live.len();
                        drop(live.swap_remove(n));
                    }
                    Step::Hold(..) | Step::End(_) => {}
                }
                let total: usize = live.iter().map(|l| l.3).sum();
                proptest::prop_assert_eq!(in_hand.held(), total * UNIT);
                proptest::prop_assert!(total <= room);
                for n in 1..=3u128 {
                    let theirs: usize = live.iter().filter(|l| l.1 == Some(person(n))).map(|l| l.3).sum();
                    proptest::prop_assert_eq!(in_hand.held_by(person(n)), theirs * UNIT);
                    proptest::prop_assert!(theirs <= share);
                }
            }
            drop(live);
            proptest::prop_assert_eq!(in_hand.held(), 0);
            proptest::prop_assert!(in_hand.people().is_empty());
        }
    }
}
