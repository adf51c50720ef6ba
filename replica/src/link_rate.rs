//! How fast the link lately carried the phone's exchanges, and so how big a reply it asks for
//! on a link that drops requests: a piece of about two seconds of it.
//!
//! Once its link has dropped a request, the phone asks for replies of at most a budget (core's
//! `sync/reply_budget.rs`). The request budget alone (2–64 KiB, a quarter of a second to eight seconds of a
//! landing's 64 kbit/s) grows back as pieces arrive, to replies of four and eight seconds; the
//! window of signal on the stairs then ends in the middle of one, and that reply brings nothing.
//! Measured with `doorstep-bench landing-late`: 10 s windows kept about 45 of the 80 KB they
//! carried. A reply of about two seconds of the link loses at most that at a window's end, and
//! costs one round trip (0.3 s on a landing) per two seconds while the link holds.

use std::time::Duration;

/// How long one reply should take to cross the link, on a link that drops requests.
pub const PIECE: Duration = Duration::from_secs(2);

/// The smallest reply asked for, whatever the rate: below it a reply is mostly round trip.
pub const LEAST_PIECE: usize = 4 * 1024;

/// Exchanges smaller than this are mostly round trip, and say little of the link's rate.
const LEAST_SAMPLE: usize = 4 * 1024;

/// The rate the link carried the last exchange big enough to tell, if any. Kept in memory for
/// the next syncs, not in the replica's file: a phone started afresh measures again.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LinkRate {
    bytes_per_second: Option<f64>,
}

impl LinkRate {
    /// An exchange carried `bytes` (up and down, on the wire) in `took`, from the request's start
    /// to the answer's last byte.
    pub fn carried(&mut self, bytes: usize, took: Duration) {
        if bytes >= LEAST_SAMPLE && !took.is_zero() {
            self.bytes_per_second = Some(bytes as f64 / took.as_secs_f64());
        }
    }

    /// The reply to ask for within `budget`: about [`PIECE`] of the link, once its rate is
    /// known; `budget` until then.
    pub fn piece_within(self, budget: usize) -> usize {
        let Some(rate) = self.bytes_per_second else { return budget };
        let piece = (rate * PIECE.as_secs_f64()) as usize;
        piece.clamp(LEAST_PIECE.min(budget), budget)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_landings_link_asks_pieces_of_about_two_seconds_of_it() {
        let mut rate = LinkRate::default();
        assert_eq!(rate.piece_within(32 * 1024), 32 * 1024, "unknown: the budget");
        // 64 kbit/s with a 0.3 s round trip: 11.6 KB down and 0.3 KB up in 1.8 s.
        rate.carried(11_900, Duration::from_millis(1800));
        let piece = rate.piece_within(64 * 1024);
        assert!((12_000..=14_000).contains(&piece), "{piece}");
        assert_eq!(rate.piece_within(8 * 1024), 8 * 1024, "never more than the budget");
        // A small exchange is mostly round trip: it does not change what was learned.
        rate.carried(600, Duration::from_millis(400));
        assert_eq!(rate.piece_within(64 * 1024), piece);
        // A fast link: the budget.
        rate.carried(60_000, Duration::from_millis(20));
        assert_eq!(rate.piece_within(64 * 1024), 64 * 1024);
        // A very slow one: the least piece.
        rate.carried(5_000, Duration::from_secs(10));
        assert_eq!(rate.piece_within(64 * 1024), LEAST_PIECE);
    }
}
