//! Whether a document's work queue can take another sync message, and when a phone that is
//! refused should come back.
//!
//! A message that would wait longer than the relay is willing to make a phone wait is refused at
//! once with 503 and `Retry-After`, before anything of it is read or checked, rather than queued
//! until its work budget (`Limits::document_work`) or the request's timeout runs out and its
//! finished work is thrown away: the congestion collapse measured in BENCHMARKS.md §4.
//!
//! The wait is estimated with Little's law: a queue holding `L` messages, drained at `λ`
//! messages a second, empties in `L / λ` seconds. `λ` is measured, not configured: every batch
//! the queue runs reports how many messages it answered and how long it held the document.
//! Until a queue's first batch has been measured, `λ` is guessed on the fast side
//! (`unmeasured_rate`).
//!
//! `Retry-After` is a slot, not a constant. Telling a thousand refused phones "come back in 3 s"
//! only moves the stampede 3 s later; so each refused phone is given the next free slot after
//! the queue has drained, one slot per `1 / λ` seconds, and the phones come back spread at the
//! rate the document can take them (the phone adds its own jitter on top).

use std::time::{Duration, Instant};

/// How far a document's queue may grow, and how long a refused phone may be asked to wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLimits {
    /// Messages waiting, being worked on or promised a place, at most; the next one is refused.
    pub max_queued: usize,
    /// The longest a message may be expected to wait for its batch; beyond it, it is refused.
    pub max_wait: Duration,
    /// Messages taken from the queue for one turn of the document's lock, at most.
    pub max_batch: usize,
    /// Messages a batch takes, at least, when that many wait, whatever the measured rate (see
    /// [`batch_size`]).
    pub min_batch: usize,
    /// How long one batch should hold the document: once the rate is measured, a batch takes
    /// no more messages than drain in this time, so that on a slow or loaded machine a message
    /// taken at the back of a batch is still answered within its budget.
    pub batch_time: Duration,
    /// The longest `Retry-After` the relay gives. The phone's replica gives up a sync run when
    /// asked to wait longer than its own longest wait (30 s), keeping its changes for the next
    /// run, so this matches it.
    pub longest_retry_after: Duration,
    /// Messages admitted across all documents (waiting, being worked on or promised a place),
    /// at most; a request that would pass it is refused (see [`super::relay_load`]).
    pub max_queued_relay_wide: usize,
    /// Sync requests one device may have in hand at once; the next is refused with 429 (see
    /// [`super::syncs_in_hand`]).
    pub syncs_per_device: usize,
    /// Sync requests one person may have in hand at once, over all their devices.
    pub syncs_per_person: usize,
}

impl Default for QueueLimits {
    fn default() -> Self {
        // Half of a document's work budget (5 s): a message admitted has waited at most this long
        // when its batch starts, and has the other half for its own work and the network.
        Self {
            max_queued: 1024,
            max_wait: Duration::from_millis(2500),
            max_batch: 64,
            min_batch: 16,
            batch_time: Duration::from_millis(500),
            longest_retry_after: Duration::from_secs(30),
            max_queued_relay_wide: 2048,
            syncs_per_device: 2,
            syncs_per_person: 4,
        }
    }
}

/// A document's measured drain rate: messages answered per second of batch work, smoothed.
#[derive(Debug, Clone, Copy, Default)]
pub struct DrainRate {
    per_second: Option<f64>,
}

/// How much a new batch's rate counts against the history (an exponential moving average).
const WEIGHT_OF_NEW: f64 = 0.3;

impl DrainRate {
    /// Records a batch of `messages` answered in `took`.
    pub fn record(&mut self, messages: usize, took: Duration) {
        if messages == 0 {
            return;
        }
        let rate = messages as f64 / took.as_secs_f64().max(1e-4);
        self.per_second = Some(match self.per_second {
            None => rate,
            Some(old) => old * (1.0 - WEIGHT_OF_NEW) + rate * WEIGHT_OF_NEW,
        });
    }

    /// Messages a second, once a batch has been measured.
    pub fn per_second(&self) -> Option<f64> {
        self.per_second
    }

    /// Messages a second: as measured, or until a batch has been measured, the guess
    /// `unmeasured_rate`.
    pub fn or_guess(&self, limits: &QueueLimits) -> f64 {
        self.per_second.unwrap_or_else(|| unmeasured_rate(limits)).max(1e-3)
    }

    /// Records a document's batch of `messages` answered in `took`, if it is big enough to say
    /// what the document drains: at least `min_batch` messages.
    ///
    /// A batch has costs that do not grow with its size (the lock, the commit's fsync, the whole
    /// document saved for a phone far behind, a wait for a core). A batch of one or two measures
    /// mostly those: a team's phones synced one at a time before a shift change set their
    /// round's rate at 10–60 messages a second, where it drains 300 in full batches, and when
    /// the team came back at once 1–43 of 130 phones were refused by a queue that would have
    /// drained in a second (BENCHMARKS.md §4). A document whose batches stay small is not busy
    /// enough to need its own bound; the relay-wide one (`max_queued_relay_wide`) holds it.
    pub fn record_batch(&mut self, messages: usize, took: Duration, limits: &QueueLimits) {
        if messages >= limits.min_batch.clamp(1, limits.max_batch.max(1)) {
            self.record(messages, took);
        }
    }
}

/// Whether a queue holding `queued` messages, draining at `rate`, takes one more: whether the
/// messages ahead of it drain within `max_wait`. Until a batch of the document has been
/// measured, at the guessed rate (`unmeasured_rate`: a full batch per `batch_time`).
///
/// An empty queue always takes one. The rate is measured only by batches, so a queue that
/// refused even its first message after one slow batch (a stalled fsync, a starved CPU: one
/// message in 5 s is a rate that "cannot" drain one message in 2.5 s) would never run another
/// batch to measure a better rate, and would refuse the document's every sync until a restart.
pub fn admits(queued: usize, rate: &DrainRate, limits: &QueueLimits) -> bool {
    if queued >= limits.max_queued {
        return false;
    }
    if queued == 0 {
        return true;
    }
    Duration::from_secs_f64(queued as f64 / rate.or_guess(limits)) <= limits.max_wait
}

/// How many of the `waiting` messages the next batch takes: what drains in `batch_time` (all
/// of `max_batch` until the rate is measured) and at most a quarter of those waiting, between
/// `min_batch` and `max_batch`.
///
/// The quarter is for the phones' wait. A queue is answered in arrival order, a batch at a
/// time, and a phone waits for the end of the batch that holds it. In batches of 64, a team of
/// 130 was answered in two big steps, so the median phone waited for the second, at about 0.9
/// of the burst. In quarters (33, 25, 18, 16, …) the first phones are answered after a quarter
/// of the work, and the median phone, in the third batch, after about 0.6 of it. A long queue
/// (a team of 1,000) still runs full batches, whose fixed costs it needs to amortize.
///
/// The floor breaks a loop the rate would otherwise fall into. A batch has costs that do not
/// grow with its size (the lock, the commit's fsync, the whole document saved for phones far
/// behind, a wait for a core), so a batch of one or two measures a rate far below what the
/// document drains in full batches; a lower rate makes smaller batches, which measure lower
/// still. Late in a 1,000-phone burst the round's rate fell that way from 100 to 2 messages a
/// second with 20–60 messages waiting, and the phones shed meanwhile were given slots 10 s
/// out (BENCHMARKS.md §4).
pub fn batch_size(rate: &DrainRate, limits: &QueueLimits, waiting: usize) -> usize {
    let most = limits.max_batch.max(1);
    let least = limits.min_batch.clamp(1, most);
    let drains = rate.per_second().map_or(most, |r| (r * limits.batch_time.as_secs_f64()) as usize);
    drains.min(waiting.div_ceil(4)).clamp(least, most)
}

/// The rate assumed for a queue whose batches have not been measured yet (a burst on a document
/// that has just come into memory): a full batch in its time.
///
/// It errs fast on purpose. Until the first batch is measured, a queue takes what drains in
/// `max_wait` at this rate (320 messages by default): a team of 130 arriving at once is queued
/// whole, where one batch's worth (64) used to be, and the rest shed and came back seconds later.
/// Phones refused before the first batch is measured keep the slot they were given, and later
/// slots follow theirs. A guess too fast brings some back before their turn, to be refused once
/// more with a slot from the measured rate: one round trip more. A guess too slow leaves the
/// relay idle while they wait. The guess was one batch per `max_wait`: 26 messages a second,
/// where a 1,000-phone round drains 100–500 in full batches. A team of 1,000 arriving in the
/// first second of a burst was handed slots up to 30 s out, and the round's queue sat empty for
/// 20 s of a 35 s burst while they waited (BENCHMARKS.md §4).
fn unmeasured_rate(limits: &QueueLimits) -> f64 {
    limits.max_batch.max(1) as f64 / limits.batch_time.as_secs_f64().max(1e-3)
}

/// The retry slots of one document: when the next refused phone should come back.
#[derive(Debug, Clone, Copy, Default)]
pub struct RetrySlots {
    next: Option<Instant>,
}

impl RetrySlots {
    /// The wait for a phone refused at `now` by a queue holding `queued` messages: the next free
    /// slot once the queue has drained, at least one second and at most
    /// `limits.longest_retry_after`. Each call takes a slot; slots are `1 / rate` apart.
    pub fn assign(
        &mut self,
        now: Instant,
        queued: usize,
        rate: &DrainRate,
        limits: &QueueLimits,
    ) -> Duration {
        self.assign_at(now, queued, rate.or_guess(limits), limits)
    }

    /// As [`RetrySlots::assign`], for a queue draining `per_second` messages a second.
    ///
    /// A slot is one message wide, even for the relay as a whole, whose requests carry a message
    /// per document (about 21 for a volunteer of a compound with twenty rounds open). Slots a
    /// request wide were tried: a district's refused volunteers came back spread at the rate the
    /// relay could take them, were shed 900 times instead of 2,000, and took twice as long
    /// (17.7–22.0 s against 9.1–10.6 s): each document's batches held a few phones instead of
    /// the crowd, so their fixed costs were paid more often (relay CPU 15–16 s against 12 s).
    /// A crowd at the door is what fills a batch (BENCHMARKS.md §4).
    pub fn assign_at(
        &mut self,
        now: Instant,
        queued: usize,
        per_second: f64,
        limits: &QueueLimits,
    ) -> Duration {
        let per_second = per_second.max(1e-3);
        let drained = now + Duration::from_secs_f64(queued as f64 / per_second);
        let slot = self.next.filter(|next| *next > drained).unwrap_or(drained);
        let longest = now + limits.longest_retry_after;
        let slot = slot.min(longest);
        self.next = Some((slot + Duration::from_secs_f64(1.0 / per_second)).min(longest));
        slot.saturating_duration_since(now).clamp(Duration::from_secs(1), limits.longest_retry_after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_queue_is_admitted_and_a_long_one_is_refused() {
        let limits = QueueLimits {
            max_queued: 100,
            max_wait: Duration::from_secs(2),
            max_batch: 10,
            min_batch: 1,
            batch_time: Duration::from_millis(500),
            longest_retry_after: Duration::from_secs(30),
            max_queued_relay_wide: 4096,
            ..QueueLimits::default()
        };
        let mut rate = DrainRate::default();
        assert!(
            admits(39, &rate, &limits),
            "unmeasured, a queue drains a full batch per batch time: 20 a second"
        );
        assert!(!admits(41, &rate, &limits), "41 would wait longer than 2 s at that rate");
        rate.record(40, Duration::from_secs(1));
        assert!(admits(60, &rate, &limits), "60 messages ahead at 40 a second drain in 1.5 s");
        assert!(admits(80, &rate, &limits), "80 ahead drain in 2 s, the longest allowed");
        assert!(!admits(81, &rate, &limits), "81 ahead would wait longer");
        rate.record(1000, Duration::from_secs(1));
        assert!(!admits(100, &rate, &limits), "the bound holds however fast the queue drains");
    }

    #[test]
    fn an_empty_queue_takes_a_message_however_slow_its_last_batch_was() {
        // A 5,000-phone district burst on two starved cores: one batch of a compound's roster
        // took 5 s for one message. Every later sync of that compound was refused with 503 and
        // no batch ran again, so the rate was never measured anew: the document was shut out
        // until the relay restarted (found by `doorstep-bench district --compounds 40`).
        let limits = QueueLimits::default();
        let mut rate = DrainRate::default();
        rate.record(1, Duration::from_secs(5));
        assert!(admits(0, &rate, &limits), "nothing is ahead of the first message");
        assert!(!admits(13, &rate, &limits), "a long queue at that rate is still refused");
        // The message admitted runs a batch, and the rate heals with what it measures.
        for _ in 0..10 {
            rate.record(20, Duration::from_millis(200));
        }
        assert!(admits(100, &rate, &limits), "{:?} a second now", rate.per_second());
    }

    #[test]
    fn a_batch_too_small_to_say_what_a_document_drains_is_not_measured() {
        let limits = QueueLimits::default();
        let mut rate = DrainRate::default();
        // A team synced one phone at a time before the shift change: batches of one, each
        // mostly the lock, the fsync and a wait for a core.
        for _ in 0..130 {
            rate.record_batch(1, Duration::from_millis(60), &limits);
        }
        assert_eq!(rate.per_second(), None, "batches of one say nothing of what the round drains");
        assert!(admits(129, &rate, &limits), "the team coming back at once is queued whole");
        rate.record_batch(16, Duration::from_millis(100), &limits);
        let measured = rate.per_second().expect("a batch of min_batch is measured");
        assert!((measured - 160.0).abs() < 1e-6, "{measured}");
    }

    #[test]
    fn a_batch_takes_what_drains_in_its_time() {
        let limits = QueueLimits::default();
        let mut rate = DrainRate::default();
        assert_eq!(batch_size(&rate, &limits, 1000), 64, "unmeasured: a full batch");
        rate.record(80, Duration::from_secs(1));
        assert_eq!(batch_size(&rate, &limits, 1000), 40, "80 a second: half a second's worth");
        let mut slow = DrainRate::default();
        slow.record(1, Duration::from_secs(4));
        assert_eq!(
            batch_size(&slow, &limits, 1000),
            16,
            "a slow batch of one does not make the next one smaller"
        );
        let few = QueueLimits { max_batch: 8, ..limits };
        assert_eq!(batch_size(&slow, &few, 1000), 8, "the floor never exceeds the ceiling");
        let none = QueueLimits { min_batch: 0, ..limits };
        assert_eq!(batch_size(&slow, &none, 1000), 1, "at least one");
    }

    #[test]
    fn a_team_is_answered_in_quarters_of_what_waits_and_a_long_queue_in_full_batches() {
        let limits = QueueLimits::default();
        let unmeasured = DrainRate::default();
        let mut waiting = 130;
        let mut batches = Vec::new();
        while waiting > 0 {
            let n = waiting.min(batch_size(&unmeasured, &limits, waiting));
            batches.push(n);
            waiting -= n;
        }
        assert_eq!(batches, [33, 25, 18, 16, 16, 16, 6], "a team of 130");
        let first_three: usize = batches.iter().take(3).sum();
        assert!(first_three >= 65, "the median phone is in the third batch: {batches:?}");
        assert_eq!(batch_size(&unmeasured, &limits, 1000), 64, "a long queue runs full batches");
        assert_eq!(batch_size(&unmeasured, &limits, 3), 16, "a short one takes what waits (the floor)");
        let mut measured = DrainRate::default();
        measured.record(40, Duration::from_secs(1));
        assert_eq!(batch_size(&measured, &limits, 1000), 20, "what drains in its time, if fewer");
    }

    #[test]
    fn phones_refused_before_the_rate_is_measured_are_not_sent_far_away() {
        let limits = QueueLimits::default();
        let unmeasured = DrainRate::default();
        let mut slots = RetrySlots::default();
        let now = Instant::now();
        // A thousand phones arrive before the first batch of a round ends; 320 are queued (what
        // drains in `max_wait` at the guessed 128 a second).
        assert!(admits(319, &unmeasured, &limits) && !admits(321, &unmeasured, &limits));
        let waits: Vec<Duration> = (0..680).map(|_| slots.assign(now, 320, &unmeasured, &limits)).collect();
        assert_eq!(waits[0], Duration::from_millis(2500), "the first comes back once the queue has drained");
        assert!(waits.windows(2).all(|w| w[0] <= w[1]), "later refusals wait longer");
        let last = waits[679];
        assert!(
            last > Duration::from_millis(7700) && last < Duration::from_millis(7900),
            "the last comes back once the queue and the 679 before it drained at 128 a second, \
             not 30 s out: {last:?}"
        );
    }

    #[test]
    fn refused_phones_are_given_slots_spread_at_the_drain_rate() {
        let limits = QueueLimits::default();
        let mut rate = DrainRate::default();
        rate.record(10, Duration::from_secs(1));
        let mut slots = RetrySlots::default();
        let now = Instant::now();
        let waits: Vec<Duration> = (0..40).map(|_| slots.assign(now, 20, &rate, &limits)).collect();
        assert_eq!(waits[0], Duration::from_secs(2), "the first comes back when the queue has drained");
        assert!(waits.windows(2).all(|w| w[0] <= w[1]), "later refusals wait longer: {waits:?}");
        assert_eq!(waits[39], Duration::from_millis(5900), "forty phones spread over four seconds");
        let far = (0..1000).map(|_| slots.assign(now, 20, &rate, &limits)).last();
        assert_eq!(far, Some(limits.longest_retry_after), "never longer than the phone waits");
        let later = now + Duration::from_secs(60);
        assert_eq!(
            slots.assign(later, 0, &rate, &limits),
            Duration::from_secs(1),
            "slots in the past are free"
        );
    }
}
