//! A phone asks for the whole of a document (empty heads, nothing to compare) when it has no
//! copy: a new phone, a reinstalled app. A client that does it again and again makes the relay
//! send megabytes for a few bytes of request — an amplification attack, or a broken app. This
//! guard lets each device ask for the whole of each document a few times per window and refuses
//! the rest with a reason that says why. Whether a message asks for everything is read from its
//! checked shape (`doorstep_core::sync::MessageShape::asks_for_everything`), never from bytes
//! Automerge decoded unchecked.
//!
//! The allowance is a token bucket in the relay's [`Throttles`]: in the database when several
//! relays share PostgreSQL, so a loop spread over relays by a balancer, or across a restart, is
//! still a loop.

use std::sync::Arc;
use std::time::Duration;

use doorstep_core::id::DocumentId;

use crate::secret;
use crate::storage::{DeviceId, StorageError};
use crate::throttle::{Allowance, Throttles};

/// Whole-document fetches allowed per device and document at once: a new phone needs one, a
/// phone on a flaky line a few more when responses are lost.
pub const FULL_FETCHES: usize = 5;
/// The time over which that many more become allowed.
pub const WINDOW: Duration = Duration::from_secs(600);

/// The allowance per device and document.
fn allowance() -> Allowance {
    Allowance { per_second: FULL_FETCHES as f64 / WINDOW.as_secs_f64(), burst: FULL_FETCHES as f64 }
}

/// Whole-document fetches by device and document, counted in the relay's throttles.
#[derive(Debug, Clone)]
pub struct RefetchGuard {
    throttles: Arc<dyn Throttles>,
}

/// A device that asked for the whole of a document too often.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "this device keeps asking for the whole of document {doc}, which a phone does only when it has lost its copy; it may do so {allowed} times per {window_minutes} minutes, so keep the copy it received (retry in {retry_after_secs} s)"
)]
pub struct RefetchLoop {
    /// The document.
    pub doc: DocumentId,
    /// Whole fetches allowed per window.
    pub allowed: usize,
    /// The window, in minutes.
    pub window_minutes: u64,
    /// When the next whole fetch is allowed.
    pub retry_after_secs: u64,
}

impl RefetchGuard {
    /// A guard counting in `throttles`.
    pub fn new(throttles: Arc<dyn Throttles>) -> Self {
        Self { throttles }
    }

    /// Records a whole-document fetch of `doc` by `device`, or refuses it.
    pub async fn check(
        &self,
        device: DeviceId,
        doc: DocumentId,
    ) -> Result<Result<(), RefetchLoop>, StorageError> {
        let key = secret::hash_token(&format!("refetch {} {doc}", device.0));
        Ok(self.throttles.take(key, allowance()).await?.map_err(|wait| RefetchLoop {
            doc,
            allowed: FULL_FETCHES,
            window_minutes: WINDOW.as_secs() / 60,
            retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::throttle::MemoryThrottles;

    #[tokio::test]
    async fn a_few_whole_fetches_pass_and_a_loop_is_refused_per_device_and_document() {
        let guard = RefetchGuard::new(Arc::new(MemoryThrottles::new()));
        let device = DeviceId(7);
        let doc: DocumentId = "01935f3e-0000-7000-8000-000000000001".parse().expect("uuid");
        for _ in 0..FULL_FETCHES {
            assert!(guard.check(device, doc).await.expect("memory").is_ok());
        }
        let refused = guard.check(device, doc).await.expect("memory").expect_err("a loop");
        assert_eq!(refused.allowed, FULL_FETCHES);
        assert!(refused.retry_after_secs >= 100, "one more fetch per two minutes: {refused:?}");
        assert!(refused.to_string().contains("whole of document"), "{refused}");
        let other: DocumentId = "01935f3e-0000-7000-8000-000000000002".parse().expect("uuid");
        assert!(guard.check(device, other).await.expect("memory").is_ok(), "per document");
        assert!(guard.check(DeviceId(8), doc).await.expect("memory").is_ok(), "per device");
    }
}
