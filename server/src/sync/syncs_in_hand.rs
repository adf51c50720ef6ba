//! How many sync requests one device, and one person, may have in the relay's hands at once.
//!
//! The relay bounds its work in hand across documents ([`super::relay_load`]), and a refused
//! request is shed whoever sent it. That bound was shared by everyone: a single member's phone,
//! modified or stuck in a loop, could hold its token's whole burst of requests at once (40,
//! each with a message for every document it may sync: 840 messages for a volunteer of a
//! compound with twenty rounds), and two such phones took most of the relay's 2,048 places; the
//! district's honest phones were then shed until they stopped. An honest phone syncs one
//! request at a time. It may have a second in hand when its link dropped mid-answer and it
//! retried before the relay noticed, so a device may hold [`QueueLimits::syncs_per_device`]
//! (2) and a person, over all their devices, [`QueueLimits::syncs_per_person`] (4).
//!
//! A request over either is refused at once with 429 (`sync_in_progress`), before anything of
//! it is read, and `Retry-After` of `max_wait`: the longest an admitted message waits for its
//! batch, so the device's earlier sync has been answered by then. Phones treat 429 as
//! transient and retry after it.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use doorstep_core::id::PersonId;

use super::Caller;
use super::admission::QueueLimits;
use crate::counts_by_key::CountsByKey;
use crate::storage::DeviceId;

/// The sync requests each device and person has in hand.
#[derive(Debug, Default)]
pub struct SyncsInHand {
    // A std mutex: held for a few counter updates, never across an `.await`.
    held: Arc<Mutex<Held>>,
}

#[derive(Debug, Default)]
struct Held {
    per_device: CountsByKey<DeviceId>,
    per_person: CountsByKey<PersonId>,
}

fn lock(held: &Mutex<Held>) -> MutexGuard<'_, Held> {
    held.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A request refused because its device or its person already has as many in hand as allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SyncInProgress {
    /// The device has `held` sync requests in hand already.
    #[error(
        "this phone already has {held} syncs in progress with the relay, the most one phone may \
         have; nothing was accepted, sync again in {} s once they are answered \
         (这台手机已有 {held} 次同步正在进行，本次未接收任何内容，请 {} 秒后再同步)",
        crate::error::whole_seconds(*retry_after),
        crate::error::whole_seconds(*retry_after)
    )]
    Device {
        /// Requests the device has in hand.
        held: usize,
        /// When to come back.
        retry_after: Duration,
    },
    /// The person has `held` sync requests in hand over all their devices.
    #[error(
        "this person already has {held} syncs in progress with the relay over their phones, the \
         most one person may have; nothing was accepted, sync again in {} s once they are \
         answered (此账号已有 {held} 次同步正在进行，本次未接收任何内容，请 {} 秒后再同步)",
        crate::error::whole_seconds(*retry_after),
        crate::error::whole_seconds(*retry_after)
    )]
    Person {
        /// Requests the person has in hand.
        held: usize,
        /// When to come back.
        retry_after: Duration,
    },
}

impl SyncInProgress {
    /// When to come back.
    pub fn retry_after(&self) -> Duration {
        match self {
            SyncInProgress::Device { retry_after, .. } | SyncInProgress::Person { retry_after, .. } => {
                *retry_after
            }
        }
    }
}

/// One request in hand; dropping it (when the request is answered or dropped) frees its place.
#[derive(Debug)]
pub struct SyncPermit {
    held: Arc<Mutex<Held>>,
    caller: Caller,
}

impl SyncsInHand {
    /// Takes a place for one request of `caller`, or says which cap it would pass.
    pub fn acquire(&self, caller: Caller, limits: &QueueLimits) -> Result<SyncPermit, SyncInProgress> {
        let mut held = lock(&self.held);
        let retry_after = limits.max_wait;
        let device = held.per_device.of(&caller.device);
        if device >= limits.syncs_per_device {
            return Err(SyncInProgress::Device { held: device, retry_after });
        }
        let person = held.per_person.of(&caller.person);
        if person >= limits.syncs_per_person {
            return Err(SyncInProgress::Person { held: person, retry_after });
        }
        held.per_device.add(caller.device);
        held.per_person.add(caller.person);
        Ok(SyncPermit { held: Arc::clone(&self.held), caller })
    }

    /// Devices with a sync request in hand.
    pub fn devices(&self) -> usize {
        lock(&self.held).per_device.len()
    }
}

impl Drop for SyncPermit {
    fn drop(&mut self) {
        let mut held = lock(&self.held);
        held.per_device.remove(&self.caller.device);
        held.per_person.remove(&self.caller.person);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn caller(person: u8, device: i64) -> Caller {
        Caller {
            person: format!("00000000-0000-7000-8000-0000000000{person:02x}").parse().unwrap(),
            device: DeviceId(device),
            replies_deflated: true,
            reply_budget: None,
            phone_clock: None,
            writers: None,
        }
    }

    #[test]
    fn a_device_and_a_person_hold_at_most_their_share_and_get_it_back_when_answered() {
        let syncs = SyncsInHand::default();
        let limits = QueueLimits::default();
        assert_eq!((limits.syncs_per_device, limits.syncs_per_person), (2, 4));
        let first = syncs.acquire(caller(1, 1), &limits).unwrap();
        let _retry = syncs.acquire(caller(1, 1), &limits).expect("a retry beside a request not yet answered");
        let third = syncs.acquire(caller(1, 1), &limits).unwrap_err();
        assert_eq!(third, SyncInProgress::Device { held: 2, retry_after: limits.max_wait });
        let reason = third.to_string();
        assert!(reason.contains("nothing was accepted") && reason.contains("请 3 秒后再同步"), "{reason}");
        assert!(syncs.acquire(caller(2, 9), &limits).is_ok(), "another member's phone is not held back");

        let _tablet = syncs.acquire(caller(1, 2), &limits).unwrap();
        let _spare = syncs.acquire(caller(1, 2), &limits).unwrap();
        let fifth = syncs.acquire(caller(1, 3), &limits).unwrap_err();
        assert!(matches!(fifth, SyncInProgress::Person { held: 4, .. }), "{fifth:?}");

        drop(first);
        assert!(syncs.acquire(caller(1, 1), &limits).is_ok(), "an answered request gives its place back");
    }

    #[test]
    fn callers_with_nothing_in_hand_leave_no_entry() {
        let syncs = SyncsInHand::default();
        let limits = QueueLimits::default();
        let permits: Vec<_> =
            (0..50u8).map(|n| syncs.acquire(caller(n, i64::from(n)), &limits).unwrap()).collect();
        assert_eq!(syncs.devices(), 50);
        drop(permits);
        assert_eq!(syncs.devices(), 0);
        assert!(lock(&syncs.held).per_person.is_empty());
    }
}
