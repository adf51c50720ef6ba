//! Who holds the live-stream slots: caps per device and per person, and slots only
//! coordinators and admins may take, so volunteers' phones can never crowd out the dashboards
//! (SECURITY.md, "Live streams").
//!
//! Before these caps two volunteer tokens could open all 1,024 streams in under a minute,
//! after which every coordinator's dashboard got 503. Now one device holds at most
//! [`StreamLimits::per_device`] streams and one person [`StreamLimits::per_person`]; and of
//! [`StreamLimits::total`], the last [`StreamLimits::reserved_for_coordinators`] are for
//! callers who coordinate. Reaching a personal cap is a 429 (`too_many_streams`): the caller
//! has streams open already; a full relay is a 503.

use std::sync::{Arc, Mutex, PoisonError};

use doorstep_core::id::{CompoundId, PersonId};

use crate::config::StreamLimits;
use crate::counts_by_key::CountsByKey;
use crate::error::AppError;
use crate::storage::SecretHash;

/// Who wants a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// The person.
    pub person: PersonId,
    /// The device token (by hash) it uses, for phones; a dashboard session has none of its own.
    pub device: Option<SecretHash>,
    /// Whether the person coordinates (or administers) a compound the stream is about; only
    /// they may take the reserved slots.
    pub coordinating: bool,
    /// The compounds the stream is about, whose members' share of the slots it takes when it
    /// is not a coordinator's ([`StreamLimits::per_compound`]).
    pub compounds: Vec<CompoundId>,
}

#[derive(Debug, Default)]
struct Held {
    total: usize,
    members: usize,
    per_person: CountsByKey<PersonId>,
    per_device: CountsByKey<SecretHash>,
    per_compound: CountsByKey<CompoundId>,
}

/// The relay's stream slots.
#[derive(Debug)]
pub struct StreamSlots {
    limits: StreamLimits,
    // A std mutex: held for a few counter updates, never across an `.await`.
    held: Mutex<Held>,
}

/// One held slot; dropping it (when the stream ends) frees it.
#[derive(Debug)]
pub struct StreamPermit {
    slots: Arc<StreamSlots>,
    listener: Listener,
}

impl StreamSlots {
    /// Slots under `limits`.
    pub fn new(limits: StreamLimits) -> Arc<Self> {
        Arc::new(Self { limits, held: Mutex::new(Held::default()) })
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Streams open now.
    pub fn open(&self) -> usize {
        self.held().total
    }

    /// Takes a slot for `listener`, or says why not.
    pub fn acquire(self: &Arc<Self>, listener: Listener) -> Result<StreamPermit, AppError> {
        let l = &self.limits;
        let mut held = self.held();
        if let Some(device) = listener.device
            && held.per_device.of(&device) >= l.per_device
        {
            return Err(too_many(format!(
                "this device already has {} live streams open, the most one device may hold; close one (an old tab or app instance) first",
                l.per_device
            )));
        }
        if held.per_person.of(&listener.person) >= l.per_person {
            return Err(too_many(format!(
                "this person already has {} live streams open, the most one person may hold; close a tab or sign out on another device first",
                l.per_person
            )));
        }
        if held.total >= l.total {
            return Err(AppError::Unavailable(format!(
                "the relay already serves {} live streams; reconnect in a minute",
                l.total
            )));
        }
        let for_members = l.total.saturating_sub(l.reserved_for_coordinators);
        if !listener.coordinating && held.members >= for_members {
            return Err(AppError::Unavailable(format!(
                "the relay's {for_members} live streams for phones are all in use (the rest are kept for coordinators); reconnect in a minute"
            )));
        }
        if !listener.coordinating
            && let Some(full) = listener.compounds.iter().find(|c| held.per_compound.of(c) >= l.per_compound)
        {
            return Err(AppError::Unavailable(format!(
                "the {} live streams one compound's phones may hold are all in use in compound {full}; reconnect in a minute",
                l.per_compound
            )));
        }
        held.total += 1;
        if !listener.coordinating {
            held.members += 1;
            for compound in &listener.compounds {
                held.per_compound.add(*compound);
            }
        }
        held.per_person.add(listener.person);
        if let Some(device) = listener.device {
            held.per_device.add(device);
        }
        Ok(StreamPermit { slots: Arc::clone(self), listener })
    }
}

fn too_many(reason: String) -> AppError {
    AppError::Throttled { error: "too_many_streams", reason, retry_after: None }
}

impl Drop for StreamPermit {
    fn drop(&mut self) {
        let mut held = self.slots.held();
        held.total = held.total.saturating_sub(1);
        if !self.listener.coordinating {
            held.members = held.members.saturating_sub(1);
            for compound in &self.listener.compounds {
                held.per_compound.remove(compound);
            }
        }
        held.per_person.remove(&self.listener.person);
        if let Some(device) = self.listener.device {
            held.per_device.remove(&device);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn person(n: u8) -> PersonId {
        format!("00000000-0000-7000-8000-0000000000{n:02x}").parse().unwrap()
    }

    fn phone(p: u8, d: u8) -> Listener {
        Listener {
            person: person(p),
            device: Some(SecretHash([d; 32])),
            coordinating: false,
            compounds: Vec::new(),
        }
    }

    #[test]
    fn devices_and_people_are_capped_and_slots_come_back() {
        let slots = StreamSlots::new(StreamLimits {
            total: 100,
            reserved_for_coordinators: 10,
            per_person: 3,
            per_device: 2,
            per_compound: 100,
        });
        let a = slots.acquire(phone(1, 1)).unwrap();
        let _b = slots.acquire(phone(1, 1)).unwrap();
        assert_eq!(slots.acquire(phone(1, 1)).unwrap_err().code(), "too_many_streams");
        let _c = slots.acquire(phone(1, 2)).unwrap();
        let e = slots.acquire(phone(1, 3)).unwrap_err();
        assert!(e.reason().contains("this person"), "{e:?}");
        assert!(slots.acquire(phone(2, 9)).is_ok(), "another person is not affected");
        drop(a);
        assert!(slots.acquire(phone(1, 1)).is_ok(), "a closed stream frees its slot");
    }

    #[test]
    fn volunteers_cannot_take_the_coordinators_reserve() {
        let limits = StreamLimits {
            total: 10,
            reserved_for_coordinators: 3,
            per_person: 10,
            per_device: 10,
            per_compound: 10,
        };
        let slots = StreamSlots::new(limits);
        let held: Vec<_> = (0..7).map(|i| slots.acquire(phone(i, i)).unwrap()).collect();
        let refused = slots.acquire(phone(50, 50)).unwrap_err();
        assert_eq!(refused.code(), "unavailable");
        let coordinator =
            Listener { person: person(99), device: None, coordinating: true, compounds: Vec::new() };
        let kept: Vec<_> = (0..3).map(|_| slots.acquire(coordinator.clone()).unwrap()).collect();
        assert_eq!(slots.open(), 10);
        assert_eq!(slots.acquire(coordinator).unwrap_err().code(), "unavailable", "the relay is full");
        drop(held);
        drop(kept);
        assert_eq!(slots.open(), 0);
    }

    /// One compound's phones take at most their share: a compound whose staff invited hundreds
    /// of phones that never read their streams left every other compound's phones with 503.
    #[test]
    fn one_compounds_phones_cannot_take_every_other_compounds_slots() {
        let limits = StreamLimits {
            total: 20,
            reserved_for_coordinators: 2,
            per_person: 10,
            per_device: 10,
            per_compound: 8,
        };
        let slots = StreamSlots::new(limits);
        let (flooding, other): (CompoundId, CompoundId) = (
            "01a25000-0000-7000-8000-000000000001".parse().unwrap(),
            "01a25000-0000-7000-8000-000000000002".parse().unwrap(),
        );
        let in_compound = |p: u8, c: CompoundId| Listener { compounds: vec![c], ..phone(p, p) };
        let held: Vec<_> = (0..8).map(|i| slots.acquire(in_compound(i, flooding)).unwrap()).collect();
        let refused = slots.acquire(in_compound(40, flooding)).unwrap_err();
        assert_eq!(refused.code(), "unavailable");
        assert!(refused.reason().contains("one compound's phones"), "{refused:?}");
        let others: Vec<_> = (50..58).map(|i| slots.acquire(in_compound(i, other)).unwrap()).collect();
        // A phone in both compounds counts in both: the full one refuses it.
        let both = Listener { compounds: vec![other, flooding], ..phone(60, 60) };
        assert!(slots.acquire(both).is_err());
        drop(held);
        assert!(slots.acquire(in_compound(40, flooding)).is_ok(), "slots come back");
        drop(others);
    }
}
