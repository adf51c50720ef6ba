//! The relay's work in hand across all its documents: how many sync messages are admitted, how
//! fast the relay answers them while it is busy, and when a phone refused because the relay as a
//! whole is full should come back.
//!
//! Each document's queue bounds its own crowd by its own measured rate (see
//! [`admission`](super::admission)). That bound alone let a district's return through whole:
//! eight compounds' documents, each queue short and its rate not yet measured, together held
//! every volunteer's messages at once. This bound is on their sum
//! ([`QueueLimits::max_queued_relay_wide`]).
//!
//! The relay-wide rate is what the relay answered per second of wall time while it had work in
//! hand, measured over windows of about a second, and only windows in which it was full (it
//! refused a request for its bound) and answered enough messages to say something. A relay with
//! room answers as fast as phones come, so a window without a refusal measures the phones: a
//! team synced one at a time would otherwise set the rate its next burst is slotted by.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::admission::{DrainRate, QueueLimits, RetrySlots};

/// How long a measuring window runs, at least, unless the relay runs out of work first.
const WINDOW: Duration = Duration::from_secs(1);

/// Messages a window must have answered to be measured.
const MEASURED_FROM: usize = 64;

/// Admitted messages across all documents, the rate they are answered at, and the retry slots
/// of requests the relay as a whole refused.
#[derive(Debug, Default)]
pub struct RelayLoad {
    queued: AtomicUsize,
    meter: Mutex<Meter>,
}

#[derive(Debug, Default)]
struct Meter {
    drain: DrainRate,
    retry: RetrySlots,
    window: Option<Window>,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    since: Instant,
    answered: usize,
    /// Whether the relay refused a request for being full during the window: only then does
    /// what it answered say how fast it can go, not how fast phones came.
    full: bool,
}

impl Window {
    fn new(since: Instant) -> Self {
        Self { since, answered: 0, full: false }
    }
}

/// A request the relay as a whole refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayFull {
    /// Messages admitted across all documents when it was refused.
    pub queued: usize,
    /// When to come back.
    pub retry_after: Duration,
}

impl RelayLoad {
    /// Messages admitted across all documents.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    /// Notes that a document's queue went from holding `before` messages to `after`.
    pub fn moved(&self, before: usize, after: usize) {
        if after > before {
            self.queued.fetch_add(after - before, Ordering::AcqRel);
        } else if before > after {
            self.queued.fetch_sub(before - after, Ordering::AcqRel);
        }
    }

    /// Whether a request of `messages` may be admitted now. The caller then promises its places
    /// in each document's queue, which counts them here; requests admitted in the same instant
    /// may together pass the bound by what they carry, never by more.
    pub fn admit(&self, messages: usize, limits: &QueueLimits, now: Instant) -> Result<(), RelayFull> {
        let queued = self.queued();
        let mut meter = self.meter.lock().unwrap_or_else(PoisonError::into_inner);
        if admits_relay_wide(queued, messages, limits) {
            meter.window.get_or_insert(Window::new(now));
            return Ok(());
        }
        if let Some(window) = meter.window.as_mut() {
            window.full = true;
        }
        let per_second = meter.drain.per_second().unwrap_or_else(|| unmeasured_rate(limits));
        let retry_after = meter.retry.assign_at(now, queued, per_second, limits);
        Err(RelayFull { queued, retry_after })
    }

    /// Notes that a batch answered `messages` at `now`, after the document's queue has counted
    /// them out.
    pub fn answered(&self, messages: usize, now: Instant) {
        let queued = self.queued();
        let mut meter = self.meter.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(window) = meter.window.as_mut() else {
            // Admitted before the relay was last idle and answered after: the next window starts.
            meter.window = (queued > 0).then_some(Window::new(now));
            return;
        };
        window.answered += messages;
        let window = *window;
        let elapsed = now.saturating_duration_since(window.since);
        if queued > 0 && elapsed < WINDOW {
            return;
        }
        if window.full && window.answered >= MEASURED_FROM {
            meter.drain.record(window.answered, elapsed);
        }
        meter.window = (queued > 0).then_some(Window::new(now));
    }

    /// Messages a second the relay answers while busy, once measured.
    pub fn per_second(&self) -> Option<f64> {
        self.meter.lock().unwrap_or_else(PoisonError::into_inner).drain.per_second()
    }
}

/// Whether the relay, holding `queued` admitted messages across all documents, takes a request
/// of `messages` more: within `max_queued_relay_wide`, or when nothing is admitted at all (a
/// request bigger than the bound must still be able to run alone).
///
/// Each document's own bound (`admission::admits`) is set by its measured rate and is what spreads one
/// document's crowd. This one bounds the relay's work in hand, whatever its documents: the
/// messages read and held in memory, and the blocking work queued behind them. Without it, a
/// district's eight compounds of 130 coming back at once, each volunteer with a roster and
/// twenty rounds, were all admitted by queues whose rates were not yet measured: 21,840 messages
/// read at once, the relay's peak at 486–690 MiB in three runs and `/healthz` at 58–392 ms p99,
/// against 335–454 MiB and 52–86 ms with 2,048 (BENCHMARKS.md §4).
fn admits_relay_wide(queued: usize, messages: usize, limits: &QueueLimits) -> bool {
    queued == 0 || queued.saturating_add(messages) <= limits.max_queued_relay_wide
}

/// The rate assumed until the relay has been measured busy: its whole bound in `max_wait`. It
/// errs fast, as a document's guess does (`admission::unmeasured_rate`): a phone brought back
/// too early is refused once more with a slot from the measured rate, one round trip more, where
/// a guess too slow would send the first phones of a burst 30 s away and leave the relay idle.
fn unmeasured_rate(limits: &QueueLimits) -> f64 {
    limits.max_queued_relay_wide.max(1) as f64 / limits.max_wait.as_secs_f64().max(1e-3)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(bound: usize) -> QueueLimits {
        QueueLimits { max_queued_relay_wide: bound, ..QueueLimits::default() }
    }

    #[test]
    fn the_relay_takes_requests_up_to_its_bound_and_an_idle_relay_takes_any() {
        let load = RelayLoad::default();
        let limits = limits(100);
        let now = Instant::now();
        assert!(load.admit(500, &limits, now).is_ok(), "nothing in hand: even a request over the bound runs");
        load.moved(0, 90);
        assert!(load.admit(10, &limits, now).is_ok(), "90 + 10 is within 100");
        let refused = load.admit(11, &limits, now).expect_err("90 + 11 is over");
        assert_eq!(refused.queued, 90);
        assert_eq!(
            refused.retry_after,
            Duration::from_millis(2250),
            "unmeasured, the bound is guessed to drain in max_wait: 90 of 100 in 2.25 s"
        );
        load.moved(90, 0);
        assert_eq!(load.queued(), 0);
    }

    #[test]
    fn a_phone_syncing_alone_measures_nothing_and_a_busy_second_does() {
        let load = RelayLoad::default();
        let limits = limits(1000);
        let start = Instant::now();
        // A team synced one phone at a time: each answered before the next arrives.
        for i in 0..50 {
            let at = start + Duration::from_millis(100 * i);
            load.admit(1, &limits, at).expect("room");
            load.moved(0, 1);
            load.moved(1, 0);
            load.answered(1, at + Duration::from_millis(60));
        }
        assert_eq!(load.per_second(), None, "one message at a time says how fast the phones are");
        // Then a steady stream with room to spare: 200 a second answered, nothing refused.
        let steady = start + Duration::from_secs(10);
        load.admit(1, &limits, steady).expect("room");
        load.moved(0, 100);
        for i in 1..=40u32 {
            load.answered(10, steady + Duration::from_millis(50) * i);
        }
        assert_eq!(load.per_second(), None, "a relay with room answers as fast as phones come");
        load.moved(100, 0);
        load.answered(0, steady + Duration::from_secs(3));
        // Then the relay is full: a request refused, and 400 messages answered over two seconds.
        let busy = start + Duration::from_secs(20);
        load.admit(1, &limits, busy).expect("room");
        load.moved(0, 800);
        let first = load.admit(250, &limits, busy).expect_err("800 + 250 is over 1000");
        assert_eq!(first.retry_after, Duration::from_secs(2), "unmeasured: 800 at the guessed 400 a second");
        for i in 1..=40u32 {
            if i == 21 {
                load.admit(250, &limits, busy + Duration::from_millis(50) * i).expect_err("still full");
            }
            load.answered(10, busy + Duration::from_millis(50) * i);
        }
        let rate = load.per_second().expect("a full second is measured");
        assert!((190.0..=210.0).contains(&rate), "200 a second: {rate}");
        let later = busy + Duration::from_secs(30);
        let refused = load.admit(250, &limits, later).expect_err("800 + 250 is over 1000");
        assert_eq!(refused.retry_after, Duration::from_secs(4), "800 messages at 200 a second");
        let next = load.admit(250, &limits, later).expect_err("still over");
        assert_eq!(next.retry_after, Duration::from_millis(4005), "the next slot, 1/200 s later");
    }
}
