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

use std::collections::HashMap;
use std::sync::Mutex;

use doorstep_core::Timestamp;

use crate::storage::DeviceId;

/// Devices seen since the last write, each with the last time.
#[derive(Debug, Default)]
pub struct DevicesSeen {
    // A std mutex: held for one map operation, never across an `.await`.
    seen: Mutex<HashMap<DeviceId, Timestamp>>,
}

impl DevicesSeen {
    /// Notes that `device` asked to sync at `at`.
    pub fn saw(&self, device: DeviceId, at: Timestamp) {
        let mut seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        seen.entry(device).and_modify(|last| *last = (*last).max(at)).or_insert(at);
    }

    /// Everything noted since the last call, emptied.
    pub fn take(&self) -> Vec<(DeviceId, Timestamp)> {
        let mut seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        std::mem::take(&mut *seen).into_iter().collect()
    }

    /// Puts back what a failed write did not store, keeping any later time noted meanwhile.
    pub fn put_back(&self, unwritten: Vec<(DeviceId, Timestamp)>) {
        for (device, at) in unwritten {
            self.saw(device, at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_time_is_kept_and_taking_empties() {
        let seen = DevicesSeen::default();
        let (a, b) = (DeviceId(1), DeviceId(2));
        seen.saw(a, Timestamp::from_millis(20));
        seen.saw(a, Timestamp::from_millis(10));
        seen.saw(b, Timestamp::from_millis(5));
        let mut taken = seen.take();
        taken.sort();
        assert_eq!(taken, vec![(a, Timestamp::from_millis(20)), (b, Timestamp::from_millis(5))]);
        assert!(seen.take().is_empty());
        seen.saw(a, Timestamp::from_millis(30));
        seen.put_back(vec![(a, Timestamp::from_millis(20))]);
        assert_eq!(seen.take(), vec![(a, Timestamp::from_millis(30))], "a later time noted meanwhile stays");
    }
}
