//! When to try a sync again after the relay could not take it: exponential backoff with jitter,
//! never sooner than the relay's `Retry-After`.
//!
//! Jitter matters more than it looks: after an outage a whole team's phones come back at once,
//! and without it they would all knock again in the same instant.

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

    /// The wait before retry number `attempt` (0 for the first), given what the relay asked
    /// for, with up to half as much again of random jitter; `None` when the relay asked for
    /// longer than `longest_wait`.
    pub fn delay(&self, attempt: u32, asked: Option<Duration>) -> Option<Duration> {
        if asked.is_some_and(|a| a > self.longest_wait) {
            return None;
        }
        let backoff = self.first_wait.saturating_mul(1u32 << attempt.min(16)).min(self.longest_wait);
        let base = asked.map_or(backoff, |a| a.max(backoff));
        let jitter = base.mul_f64(rand::random::<f64>() * 0.5);
        Some(base + jitter)
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
        assert!(d >= asked && d <= asked.mul_f64(1.5), "never sooner than Retry-After: {d:?}");
        assert_eq!(policy.delay(0, Some(Duration::from_secs(600))), None, "a ten-minute ask ends the sync");
        let waits: std::collections::BTreeSet<Duration> =
            (0..20).filter_map(|_| policy.delay(2, None)).collect();
        assert!(waits.len() > 1, "phones do not all come back at the same instant");
    }
}
