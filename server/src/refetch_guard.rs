//! A phone asks for the whole of a document (empty heads, nothing to compare) when it has no
//! copy: a new phone, a reinstalled app. A client that does it again and again makes the relay
//! send megabytes for a few bytes of request — an amplification attack, or a broken app. This
//! guard lets each device ask for the whole of each document a few times per window and refuses
//! the rest with a 429 that says why. Whether a message asks for everything is read from its
//! checked shape (`doorstep_core::sync::MessageShape::asks_for_everything`), never from bytes
//! Automerge decoded unchecked.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use doorstep_core::id::DocumentId;

use crate::storage::DeviceId;

/// Whole-document fetches allowed per device and document in one window: a new phone needs one,
/// a phone on a flaky line a few more when responses are lost.
pub const FULL_FETCHES: usize = 5;
/// The window.
pub const WINDOW: Duration = Duration::from_secs(600);

/// Recent whole-document fetches by device and document.
#[derive(Debug, Default)]
pub struct RefetchGuard {
    // A std mutex: held for one map update, never across an `.await`.
    seen: Mutex<HashMap<(DeviceId, DocumentId), VecDeque<Instant>>>,
}

/// A device that asked for the whole of a document too often.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "this device asked for the whole of document {doc} {count} times in {window_minutes} minutes; a phone does that only when it has lost its copy, so keep the copy it received (retry in {retry_after_secs} s)"
)]
pub struct RefetchLoop {
    /// The document.
    pub doc: DocumentId,
    /// How many whole fetches in the window, this one included.
    pub count: usize,
    /// The window, in minutes.
    pub window_minutes: u64,
    /// When the oldest fetch leaves the window.
    pub retry_after_secs: u64,
}

impl RefetchGuard {
    /// Records a whole-document fetch of `doc` by `device` at `now`, or refuses it.
    pub fn check(&self, device: DeviceId, doc: DocumentId, now: Instant) -> Result<(), RefetchLoop> {
        let mut seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        seen.retain(|_, times| times.back().is_some_and(|t| now.duration_since(*t) < WINDOW));
        let times = seen.entry((device, doc)).or_default();
        while times.front().is_some_and(|t| now.duration_since(*t) >= WINDOW) {
            times.pop_front();
        }
        if times.len() >= FULL_FETCHES {
            let oldest = times.front().copied().unwrap_or(now);
            return Err(RefetchLoop {
                doc,
                count: times.len() + 1,
                window_minutes: WINDOW.as_secs() / 60,
                retry_after_secs: WINDOW.saturating_sub(now.duration_since(oldest)).as_secs().max(1),
            });
        }
        times.push_back(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_few_whole_fetches_pass_and_a_loop_is_refused_until_the_window_moves_on() {
        let guard = RefetchGuard::default();
        let device = DeviceId(7);
        let doc: DocumentId = "01935f3e-0000-7000-8000-000000000001".parse().expect("uuid");
        let start = Instant::now();
        for i in 0..FULL_FETCHES {
            assert!(guard.check(device, doc, start + Duration::from_secs(i as u64)).is_ok());
        }
        let refused = guard.check(device, doc, start + Duration::from_secs(10)).expect_err("a loop");
        assert_eq!(refused.count, FULL_FETCHES + 1);
        assert!(refused.to_string().contains("whole of document"), "{refused}");
        let other: DocumentId = "01935f3e-0000-7000-8000-000000000002".parse().expect("uuid");
        assert!(guard.check(device, other, start + Duration::from_secs(10)).is_ok(), "per document");
        assert!(
            guard.check(device, doc, start + WINDOW + Duration::from_secs(1)).is_ok(),
            "the window moves on"
        );
    }
}
