//! When each device last asked to sync, for the members page's "last sync".
//!
//! A device's stored sync states only change when something does: a phone whose syncs bring and
//! take nothing, or whose work is refused (its states forgotten), kept the time of its last
//! change, so the coordinators saw a phone that syncs every minute as silent since the morning,
//! which is what they look at to tell a lost phone. Writing the time at every sync would cost the
//! relay's one SQLite writer a transaction per request, in the burst of a team's return most of
//! all; so the relay notes it in memory here and the eviction sweep writes what it noted in one
//! transaction (`Storage::record_devices_seen`), keeping the later time when several relays
//! share a database. What a relay noted since its last sweep is lost if it is killed: at most
//! one sweep's interval of "last sync" (half of `--idle-seconds`, five minutes by default).
//!
//! The members page reads what is noted here too (`MemberDevice::with_noted`), so a sync shows
//! the moment it happens on the relay it reached.
//!
//! With the time, how far the phone's clock was from the relay's then, when its request said
//! (its `Date` header): a phone whose date, time or time zone is wrong records every knock at a
//! wrong time, and the coordinators are the ones who can tell its volunteer to set it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use doorstep_core::Timestamp;

use crate::storage::DeviceId;

/// A device's request to sync, as the relay saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Seen {
    /// When it came, by the relay's clock.
    pub at: Timestamp,
    /// The phone's clock then minus the relay's (milliseconds; positive: the phone's is ahead),
    /// when the request said what its clock read.
    pub clock_off_by_ms: Option<i64>,
}

impl Seen {
    /// A request at `at` whose `Date` said `phone_clock`, if it said one.
    pub fn at(at: Timestamp, phone_clock: Option<Timestamp>) -> Self {
        Seen {
            at,
            clock_off_by_ms: phone_clock.map(|phone| phone.as_millis().saturating_sub(at.as_millis())),
        }
    }
}

/// Devices seen since the last write, each with its last request.
#[derive(Debug, Default)]
pub struct DevicesSeen {
    // A std mutex: held for one map operation, never across an `.await`.
    seen: Mutex<HashMap<DeviceId, Seen>>,
    /// Whether the last write failed: a full disk failed every sweep's, and the log said so at
    /// every sweep (1,147 lines on a relay swept every half second), burying what else it said.
    failing: AtomicBool,
}

impl DevicesSeen {
    /// Notes that `device` asked to sync as `seen` says, unless a later request is noted.
    pub fn saw(&self, device: DeviceId, seen: Seen) {
        let mut all = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        all.entry(device).and_modify(|last| *last = (*last).max(seen)).or_insert(seen);
    }

    /// What was noted of `device` since the last write, if anything.
    pub fn noted(&self, device: DeviceId) -> Option<Seen> {
        self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&device).copied()
    }

    /// Everything noted since the last call, emptied.
    pub fn take(&self) -> Vec<(DeviceId, Seen)> {
        let mut seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        std::mem::take(&mut *seen).into_iter().collect()
    }

    /// Puts back what a failed write did not store, keeping any later request noted meanwhile;
    /// true when the write before it did not fail (the failure is news to the log).
    pub fn put_back(&self, unwritten: Vec<(DeviceId, Seen)>) -> bool {
        for (device, seen) in unwritten {
            self.saw(device, seen);
        }
        !self.failing.swap(true, Ordering::Relaxed)
    }

    /// A write stored what was noted; true when the write before it failed (the log said so).
    pub fn written(&self) -> bool {
        self.failing.swap(false, Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn at(ms: i64, phone_ms: Option<i64>) -> Seen {
        Seen::at(Timestamp::from_millis(ms), phone_ms.map(Timestamp::from_millis))
    }

    #[test]
    fn the_last_request_is_kept_and_taking_empties() {
        let seen = DevicesSeen::default();
        let (a, b) = (DeviceId(1), DeviceId(2));
        seen.saw(a, at(20, Some(25)));
        seen.saw(a, at(10, Some(100)));
        seen.saw(b, at(5, None));
        let mut taken = seen.take();
        taken.sort();
        assert_eq!(taken, vec![(a, at(20, Some(25))), (b, at(5, None))]);
        assert_eq!(taken[0].1.clock_off_by_ms, Some(5), "the later request's clock, ahead by 5 ms");
        assert!(seen.take().is_empty());
        seen.saw(a, at(30, Some(10)));
        let _ = seen.put_back(vec![(a, at(20, Some(25)))]);
        assert_eq!(seen.take(), vec![(a, at(30, Some(10)))], "a later request noted meanwhile stays");
        assert_eq!(at(30, Some(10)).clock_off_by_ms, Some(-20), "a clock behind is negative");
        assert_eq!(at(i64::MAX, Some(i64::MIN)).clock_off_by_ms, Some(i64::MIN), "saturates");
    }

    /// A write failing at every sweep (a full disk) is news once, and its end is news once.
    #[test]
    fn a_failing_write_is_news_once_and_its_end_once() {
        let seen = DevicesSeen::default();
        let noted = || vec![(DeviceId(1), at(10, None))];
        assert!(!seen.written(), "nothing failed");
        assert!(seen.put_back(noted()), "the first failure");
        assert!(!seen.put_back(noted()), "the same failure again");
        assert!(!seen.put_back(noted()));
        assert!(seen.written(), "written again");
        assert!(!seen.written());
        assert!(seen.put_back(noted()), "a new failure");
    }

    #[test]
    fn a_device_shows_the_last_request_noted_of_it() {
        let seen = DevicesSeen::default();
        let device = |last_seen: Option<i64>, off: Option<i64>| crate::storage::MemberDevice {
            device: DeviceId(7),
            person: "00000000-0000-7000-8000-000000000001".parse().unwrap(),
            name: "赵敏".into(),
            created_at: Timestamp::from_millis(1),
            revoked: false,
            last_seen: last_seen.map(Timestamp::from_millis),
            clock_off_by_ms: off,
            wiped: None,
        };
        assert_eq!(seen.noted(DeviceId(7)), None);
        assert_eq!(device(Some(50), Some(9)).with_noted(seen.noted(DeviceId(7))), device(Some(50), Some(9)));
        seen.saw(DeviceId(7), at(60, None));
        assert_eq!(seen.noted(DeviceId(8)), None, "another device");
        let noted = seen.noted(DeviceId(7));
        assert_eq!(
            device(Some(50), Some(9)).with_noted(noted),
            device(Some(60), None),
            "a later sync, clock unsaid"
        );
        assert_eq!(device(None, None).with_noted(noted), device(Some(60), None), "a first sync");
        assert_eq!(
            device(Some(70), Some(9)).with_noted(noted),
            device(Some(70), None),
            "a sync state written later in the same request keeps its time; the clock is the request's"
        );
        seen.take();
        assert_eq!(seen.noted(DeviceId(7)), None, "written, so read from storage");
    }
}
