//! When to try a sync again after the relay could not take it: exponential backoff with jitter,
//! never sooner than the relay's `Retry-After`.
//!
//! Jitter matters more than it looks: after an outage a whole team's phones come back at once,
//! and without it they would all knock again in the same instant.
//!
//! A wait the relay asked for is different: the relay hands each phone it sheds a slot of its
//! own, spread at the rate the document drains (`server/src/sync/admission.rs`), so the phones
//! are already apart. Their jitter only spreads the phones whose slots round to the same whole
//! second of `Retry-After`, by up to a second and a tenth of the wait. Half the wait again, as
//! for a backoff, sent the last of a thousand phones shed with 20 s slots back up to 10 s after
//! the document had drained (BENCHMARKS.md §4).

use std::time::Duration;

/// How many times, and how long apart, a sync tries again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries after the first one.
    pub attempts: u32,
    /// The wait before the first retry; it doubles with each further one.
    pub first_wait: Duration,
    /// The longest wait between two tries. A `Retry-After` longer than this ends the sync
    /// instead (the changes stay unsynced for the next one).
    pub longest_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { attempts: 6, first_wait: Duration::from_millis(500), longest_wait: Duration::from_secs(30) }
    }
}

impl RetryPolicy {
    /// No retries: one try, as before retries existed.
    pub fn none() -> Self {
        Self { attempts: 0, ..Self::default() }
    }

    /// The wait before retry number `attempt` (0 for the first): what the relay asked for, with
    /// [`RetryPolicy::after_asked`]'s jitter, or else the backoff with up to half as much again
    /// of random jitter; `None` when the relay asked for longer than `longest_wait`.
    pub fn delay(&self, attempt: u32, asked: Option<Duration>) -> Option<Duration> {
        match asked {
            Some(asked) if asked > self.longest_wait => None,
            Some(asked) => Some(Self::after_asked(asked)),
            None => {
                let backoff = self.first_wait.saturating_mul(1u32 << attempt.min(16)).min(self.longest_wait);
                Some(backoff + backoff.mul_f64(rand::random::<f64>() * 0.5))
            }
        }
    }

    /// The wait for a phone the relay asked to come back after `asked` (its `Retry-After`): no
    /// sooner, and later by up to a second and a tenth of `asked` at random.
    pub fn after_asked(asked: Duration) -> Duration {
        let spread = Duration::from_secs(1) + asked / 10;
        asked + spread.mul_f64(rand::random::<f64>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_honour_retry_after_are_jittered_and_give_up_on_long_asks() {
        let policy = RetryPolicy::default();
        for attempt in 0..8 {
            let backoff = policy.first_wait.saturating_mul(1 << attempt).min(policy.longest_wait);
            let d = policy.delay(attempt, None).expect("a wait");
            assert!(d >= backoff && d <= backoff.mul_f64(1.5), "attempt {attempt}: {d:?}");
        }
        let asked = Duration::from_secs(3);
        let d = policy.delay(0, Some(asked)).expect("a wait");
        assert!(
            d >= asked && d <= asked + Duration::from_millis(1300),
            "never sooner than Retry-After: {d:?}"
        );
        let slot = Duration::from_secs(20);
        let d = policy.delay(5, Some(slot)).expect("a wait");
        assert!(d >= slot && d <= slot + Duration::from_secs(3), "the relay's slot, not the backoff: {d:?}");
        let spread: std::collections::BTreeSet<Duration> =
            (0..20).filter_map(|_| policy.delay(0, Some(asked))).collect();
        assert!(spread.len() > 1, "phones given the same whole second do not all come back together");
        assert_eq!(policy.delay(0, Some(Duration::from_secs(600))), None, "a ten-minute ask ends the sync");
        let waits: std::collections::BTreeSet<Duration> =
            (0..20).filter_map(|_| policy.delay(2, None)).collect();
        assert!(waits.len() > 1, "phones do not all come back at the same instant");
    }
}
