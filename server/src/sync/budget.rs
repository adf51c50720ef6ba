//! A work budget for one document's sync: a deadline and a cancellation flag, checked between
//! the steps of the blocking work (decode, read the changes, check and apply them, answer).
//!
//! Two things it stops. A message whose work runs past the deadline is refused before its next
//! step, so one document's lock is never held much longer than the budget and other phones on
//! that document wait at most about that long. And work whose request is gone (the client hung
//! up, or the relay answered 408) is cancelled: the request's future owns a [`CancelOnDrop`],
//! whose drop sets the flag the blocking thread checks, instead of the work running on for
//! nobody on tokio's blocking pool.
//!
//! The steps themselves are bounded by the message limits (`MessageLimits`): a step that has
//! started runs to its end, so the worst overrun is one step of a message at the caps. Core's
//! relay engine keeps no clock: it asks this budget, through its `Budget` trait, before each step.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use doorstep_core::relay_engine::{Budget, OverBudget};

/// The deadline and cancellation flag of one document's sync work.
#[derive(Debug, Clone)]
pub struct WorkBudget {
    deadline: Option<Instant>,
    limit: Duration,
    cancelled: Arc<AtomicBool>,
}

/// Sets its budget's cancellation flag when dropped; held by the request's future.
#[derive(Debug)]
pub struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

impl WorkBudget {
    /// A budget of `limit` from now, and the guard whose drop cancels it.
    pub fn start(limit: Duration) -> (Self, CancelOnDrop) {
        let cancelled = Arc::new(AtomicBool::new(false));
        let budget =
            Self { deadline: Instant::now().checked_add(limit), limit, cancelled: Arc::clone(&cancelled) };
        (budget, CancelOnDrop(cancelled))
    }

    /// No deadline and no cancellation (tests, fuzzing, tools).
    pub fn unlimited() -> Self {
        Self { deadline: None, limit: Duration::MAX, cancelled: Arc::new(AtomicBool::new(false)) }
    }

    /// Whether `step` may start.
    pub fn check(&self, step: &'static str) -> Result<(), OverBudget> {
        if self.cancelled.load(Ordering::Relaxed) {
            return Err(OverBudget::Cancelled { step });
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(OverBudget::Deadline { step, limit_ms: self.limit.as_millis() });
        }
        Ok(())
    }

    /// The same cancellation flag without the deadline: for work that must run to its end once
    /// started (a message its document's batch has taken), but not for nobody.
    pub fn without_deadline(&self) -> Self {
        Self { deadline: None, limit: Duration::MAX, cancelled: Arc::clone(&self.cancelled) }
    }

    /// The time left, for waits (a lock, a blocking task).
    pub fn remaining(&self) -> Duration {
        self.deadline.map_or(Duration::MAX, |d| d.saturating_duration_since(Instant::now()))
    }
}

impl Budget for WorkBudget {
    fn check(&self, step: &'static str) -> Result<(), OverBudget> {
        WorkBudget::check(self, step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_refuses_after_its_deadline_and_once_its_guard_is_dropped() {
        let (budget, guard) = WorkBudget::start(Duration::from_secs(3600));
        assert!(budget.check("reading").is_ok());
        drop(guard);
        assert_eq!(budget.check("reading"), Err(OverBudget::Cancelled { step: "reading" }));
        let (spent, _guard) = WorkBudget::start(Duration::ZERO);
        let refused = spent.check("applying").expect_err("past the deadline");
        assert!(refused.to_string().contains("0 ms"), "{refused}");
        assert!(WorkBudget::unlimited().check("anything").is_ok());
        let (budget, guard) = WorkBudget::start(Duration::ZERO);
        let started = budget.without_deadline();
        assert!(started.check("applying").is_ok(), "no deadline once started");
        drop(guard);
        assert_eq!(started.check("applying"), Err(OverBudget::Cancelled { step: "applying" }));
        assert_eq!(WorkBudget::unlimited().remaining(), Duration::MAX);
    }
}
