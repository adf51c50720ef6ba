//! How much work one document's sync may still do. Core keeps no clock, so the relay owns the
//! deadline and the cancellation flag (`server/src/sync/budget.rs`, `WorkBudget`) and the engine
//! only asks, between its steps (decode, read the changes, check and apply them), whether the
//! next one may start. A step that has started runs to its end; the message limits
//! ([`MessageLimits`](crate::sync::MessageLimits)) bound each step.

/// Asked before each step of a message's work.
pub trait Budget {
    /// Whether `step` may start; the error says why not.
    fn check(&self, step: &'static str) -> Result<(), OverBudget>;
}

/// Why work stopped early.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OverBudget {
    /// The deadline passed before this step.
    #[error(
        "syncing this document took longer than the {limit_ms} ms one document's sync may take (stopped before {step}); nothing was accepted"
    )]
    Deadline {
        /// The step that was not started.
        step: &'static str,
        /// The budget, in milliseconds.
        limit_ms: u128,
    },
    /// The request is gone.
    #[error("the request was abandoned (stopped before {step})")]
    Cancelled {
        /// The step that was not started.
        step: &'static str,
    },
}

/// No deadline and no cancellation: for tests, the fuzzers and tools.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Unlimited;

impl Budget for Unlimited {
    fn check(&self, _step: &'static str) -> Result<(), OverBudget> {
        Ok(())
    }
}
