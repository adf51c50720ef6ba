//! Whether the relay's own clock, rather than the phones', looks wrong. Each sync request says
//! what the phone's clock read (`devices_seen.rs`); one phone far off is a phone whose date, time
//! or time zone is wrong, but most of the phones that synced lately off by the same amount in the
//! same direction is a relay whose clock is wrong, which then tells every honest volunteer to
//! set their phone and re-times their work. The relay says so: a WARN at most once an hour,
//! a line on `/healthz` (still 200: the relay serves), and a gauge on `/metrics`.
//!
//! The rule: among the devices that synced in the last hour with their clock said, at least
//! [`FEW`] and two thirds or more are within [`SPREAD`] of their median offset, and that median is
//! more than [`OFF`] from the relay's clock.

use std::collections::HashMap;
use std::sync::Mutex;

use doorstep_core::Timestamp;

use crate::devices_seen::Seen;
use crate::storage::DeviceId;

/// How far back a device's last request counts.
const WINDOW_MS: i64 = 60 * 60 * 1000;
/// The fewest phones that agree before the relay doubts itself.
const FEW: usize = 3;
/// The median offset past which the relay's clock is in doubt.
const OFF_MS: i64 = 10 * 60 * 1000;
/// How close to the median a phone's offset is to agree with it.
const SPREAD_MS: i64 = 5 * 60 * 1000;
/// How often the devices are looked over at most when none is new (and stale ones forgotten).
const CHECK_EVERY_MS: i64 = 60 * 1000;
/// How often the warning is logged at most.
const WARN_EVERY_MS: i64 = 60 * 60 * 1000;

/// What most recent phones say of the relay's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Doubt {
    /// The phones' median offset (milliseconds; positive: the phones are ahead of the relay,
    /// so the relay's clock is behind).
    pub phones_off_by_ms: i64,
    /// Phones that agree with it.
    pub agreeing: usize,
    /// Phones that synced in the window with their clock said.
    pub of: usize,
}

impl Doubt {
    /// Whether a device whose clock is `off_by_ms` from the relay's (positive: ahead) is off by
    /// what most phones are: then it is the relay's clock that is wrong, not this phone's, and
    /// the members page says so instead of asking the volunteer to set a right phone wrong.
    pub fn explains(&self, off_by_ms: i64) -> bool {
        self.phones_off_by_ms.abs_diff(off_by_ms) <= SPREAD_MS.unsigned_abs()
    }
}

impl std::fmt::Display for Doubt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let way = if self.phones_off_by_ms > 0 { "ahead of" } else { "behind" };
        write!(
            f,
            "the relay's own clock may be wrong: {} of {} phones that synced in the last hour are {} {way} it; \
             check the server's time (timedatectl; NTP)",
            self.agreeing,
            self.of,
            span(self.phones_off_by_ms.unsigned_abs())
        )
    }
}

/// The devices' recent offsets, and when the relay last looked and warned.
#[derive(Debug, Default)]
pub struct RelayClock {
    // A std mutex: held for one map operation or one look over at most an hour's devices,
    // never across an `.await`.
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    recent: HashMap<DeviceId, (Timestamp, i64)>,
    checked_at: Option<Timestamp>,
    warned_at: Option<Timestamp>,
    doubt: Option<Doubt>,
}

impl RelayClock {
    /// Notes a device's request; looks the devices over when one is new or its clock moved,
    /// else at most once a minute, and warns at most once an hour.
    pub fn saw(&self, device: DeviceId, seen: Seen) {
        let Some(off) = seen.clock_off_by_ms else { return };
        let now = seen.at;
        let mut inner = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // A device new here, or whose clock moved (set right, or wrong), is looked at at once.
        let moved = inner
            .recent
            .insert(device, (now, off))
            .is_none_or(|(_, before)| before.abs_diff(off) > SPREAD_MS.unsigned_abs());
        let looked_lately = inner
            .checked_at
            .is_some_and(|at| now.as_millis().saturating_sub(at.as_millis()) < CHECK_EVERY_MS);
        if looked_lately && !moved {
            return;
        }
        inner.checked_at = Some(now);
        inner.recent.retain(|_, (at, _)| now.as_millis().saturating_sub(at.as_millis()) <= WINDOW_MS);
        inner.doubt = doubt(inner.recent.values().map(|(_, off)| *off).collect());
        if let Some(doubt) = inner.doubt
            && inner
                .warned_at
                .is_none_or(|at| now.as_millis().saturating_sub(at.as_millis()) >= WARN_EVERY_MS)
        {
            inner.warned_at = Some(now);
            tracing::warn!(
                phones_off_by_ms = doubt.phones_off_by_ms,
                agreeing = doubt.agreeing,
                of = doubt.of,
                "{doubt}"
            );
        }
    }

    /// What the last look found, if the relay's clock is in doubt.
    pub fn doubt(&self) -> Option<Doubt> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner).doubt
    }
}

/// The rule of the module docs over the recent devices' offsets.
fn doubt(mut offsets: Vec<i64>) -> Option<Doubt> {
    if offsets.len() < FEW {
        return None;
    }
    offsets.sort_unstable();
    let median = offsets[offsets.len() / 2];
    let agreeing = offsets.iter().filter(|off| off.abs_diff(median) <= SPREAD_MS.unsigned_abs()).count();
    let clear = agreeing >= FEW && agreeing * 3 >= offsets.len() * 2;
    (clear && median.unsigned_abs() > OFF_MS.unsigned_abs()).then_some(Doubt {
        phones_off_by_ms: median,
        agreeing,
        of: offsets.len(),
    })
}

/// "40 days", "3 hours", "25 minutes": in the largest unit it holds twice, rounded (a Date
/// header's second and the request's way make forty days read 39 days 23:59:59).
fn span(ms: u64) -> String {
    const MINUTE: u64 = 60_000;
    const HOUR: u64 = 60 * MINUTE;
    const DAY: u64 = 24 * HOUR;
    let (unit, name) = match ms {
        ms if ms >= 2 * DAY => (DAY, "days"),
        ms if ms >= 2 * HOUR => (HOUR, "hours"),
        _ => (MINUTE, "minutes"),
    };
    format!("{} {name}", (ms + unit / 2) / unit)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const MIN: i64 = 60 * 1000;
    const DAY: i64 = 24 * 60 * MIN;

    #[test]
    fn most_phones_off_by_the_same_amount_put_the_relay_in_doubt() {
        assert_eq!(doubt(vec![40 * DAY, 40 * DAY + 2_000]), None, "two phones are not enough");
        let found = doubt(vec![40 * DAY, 40 * DAY + 2_000, 40 * DAY - 900, 3_000]).unwrap();
        assert_eq!((found.agreeing, found.of), (3, 4));
        assert!(
            found.to_string().contains("3 of 4 phones that synced in the last hour are 40 days ahead of it")
        );
        let behind = doubt(vec![-3 * 60 * MIN + 1; 3]).unwrap();
        assert!(behind.to_string().contains("are 3 hours behind it"), "{behind}");
        assert_eq!(
            doubt(vec![40 * DAY, 40 * DAY, 40 * DAY, 0, 0]),
            None,
            "three of five is no clear majority"
        );
        assert_eq!(doubt(vec![6 * MIN; 5]), None, "a few minutes off is the phones' NTP, not the relay");
        assert_eq!(doubt(vec![DAY, 3 * DAY, -20 * DAY, 9 * DAY]), None, "phones wrong each their own way");
    }

    #[test]
    fn devices_older_than_an_hour_no_longer_count() {
        let clock = RelayClock::default();
        let seen = |at: i64, off: i64| Seen { at: Timestamp::from_millis(at), clock_off_by_ms: Some(off) };
        let t0 = 1_000 * DAY;
        clock.saw(DeviceId(1), seen(t0, 40 * DAY));
        clock.saw(DeviceId(2), seen(t0 + 2 * MIN, 40 * DAY));
        assert_eq!(clock.doubt(), None);
        clock.saw(DeviceId(3), seen(t0 + 4 * MIN, 40 * DAY));
        assert_eq!(clock.doubt().map(|d| d.agreeing), Some(3));
        clock.saw(DeviceId(3), seen(t0 + 90 * MIN, 40 * DAY));
        assert_eq!(clock.doubt(), None, "devices 1 and 2 synced more than an hour ago");
    }
}
