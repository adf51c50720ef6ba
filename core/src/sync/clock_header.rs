//! The `Date` header each side of a sync says its clock in (RFC 9110 §6.6.1), to the second: the
//! relay's in every answer (the phone says how far off its own clock is and carries refused work
//! out again at the relay's time, `replica/src/set_aside.rs`), the phone's in every request (the
//! members page names a phone whose clock is wrong, `server/src/devices_seen.rs`).

use crate::Timestamp;

/// The time a `Date` header names (`Sun, 06 Nov 1994 08:49:37 GMT`, or one of the obsolete
/// forms RFC 9110 still reads), if it names one.
pub fn read(date: &str) -> Option<Timestamp> {
    let since_epoch = httpdate::parse_http_date(date).ok()?.duration_since(std::time::UNIX_EPOCH).ok()?;
    i64::try_from(since_epoch.as_millis()).ok().map(Timestamp::from_millis)
}

/// `at` as a `Date` header, to the second; none for a time the format cannot hold (before 1970,
/// after 9999: a clock that wrong says nothing rather than fail the request).
pub fn written(at: Timestamp) -> Option<String> {
    /// 9999-12-31T23:59:59Z, the last time the format holds.
    const LAST_MS: i64 = 253_402_300_799_000;
    let millis = u64::try_from(at.as_millis()).ok().filter(|ms| *ms <= LAST_MS.unsigned_abs())?;
    Some(httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_millis(millis)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_date_header_reads_back_to_the_second_and_junk_or_the_unwritable_says_nothing() {
        let at = Timestamp::from_millis(1_796_515_543_999);
        let header = written(at).unwrap();
        assert_eq!(header, "Sun, 06 Dec 2026 00:05:43 GMT");
        assert_eq!(read(&header), Some(Timestamp::from_millis(1_796_515_543_000)), "to the second");
        for junk in ["", "yesterday", "Sun, 06 Dec 2026 25:05:43 GMT", "Sun, 06 Dec 2026 00:05:43", "\u{0}"] {
            assert_eq!(read(junk), None, "{junk:?}");
        }
        // A clock before 1970 or past 9999 sends no header rather than fail (httpdate panics).
        assert_eq!(written(Timestamp::from_millis(-1)), None);
        assert_eq!(written(Timestamp::from_millis(i64::MAX)), None);
        assert_eq!(
            written(Timestamp::from_millis(253_402_300_799_000)).unwrap(),
            "Fri, 31 Dec 9999 23:59:59 GMT"
        );
        assert_eq!(written(Timestamp::from_millis(253_402_300_800_000)), None);
    }
}
