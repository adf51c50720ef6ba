//! Which request a sync answer answers. A sync answer moves a phone's data: its document list
//! makes the phone drop what is not on it, its refusals set work aside. On plain HTTP a box on
//! the way (a caching or transparent proxy, a misconfigured balancer) can hand a phone an answer
//! meant for another phone, another relay or an earlier request, and the phone would wipe its
//! compound and tell the volunteer they were removed. So each sync request carries a fresh id
//! ([`REQUEST_HEADER`]), the relay names it in its answer ([`ANSWER_TO_HEADER`]), and the phone
//! applies only an answer naming the request it sent ([`judge`]).
//!
//! A relay older than the id names none, and its answers are taken as before: a relay rolled
//! back to such a version must go on syncing its phones. So a box that takes the header out of
//! a replayed answer is not caught; a box that rewrites answers is stopped by TLS only.

/// The request header carrying the request's id: [`ID_LENGTH`] lowercase hex digits.
pub const REQUEST_HEADER: &str = "x-doorstep-request";

/// The answer header naming the request answered.
pub const ANSWER_TO_HEADER: &str = "x-doorstep-answer-to";

/// Hex digits in a request id: 64 random bits, so no two requests of a relay's lifetime share one.
pub const ID_LENGTH: usize = 16;

/// A request id from 64 random bits.
pub fn request_id(random: u64) -> String {
    format!("{random:016x}")
}

/// Whether `header` is a request id a relay names back: exactly [`ID_LENGTH`] hex digits. Anything
/// else is not echoed, so the header cannot carry text of a sender's choosing into an answer.
pub fn is_request_id(header: &[u8]) -> bool {
    header.len() == ID_LENGTH && header.iter().all(u8::is_ascii_hexdigit)
}

/// An answer naming another request than the one sent: replayed, or meant for another phone or
/// relay.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the answer is to request {named}, not to this one ({sent}): replayed or misrouted on the way")]
pub struct AnotherRequests {
    /// The id sent.
    pub sent: String,
    /// The id the answer names.
    pub named: String,
}

/// Whether an answer naming `named` (its [`ANSWER_TO_HEADER`], if any) may be taken as the
/// answer to the request `sent`: when it names that request, or none (a relay older than ids).
pub fn judge(sent: &str, named: Option<&str>) -> Result<(), AnotherRequests> {
    match named {
        Some(named) if !named.eq_ignore_ascii_case(sent) => {
            Err(AnotherRequests { sent: sent.to_owned(), named: named.to_owned() })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_taken_only_for_the_request_it_names() {
        let sent = request_id(0x0123_4567_89ab_cdef);
        assert_eq!(sent, "0123456789abcdef");
        assert!(is_request_id(sent.as_bytes()));
        assert_eq!(judge(&sent, Some(&sent)), Ok(()));
        assert_eq!(judge(&sent, Some("0123456789ABCDEF")), Ok(()));
        let other = request_id(7);
        assert_eq!(judge(&sent, Some(&other)), Err(AnotherRequests { sent: sent.clone(), named: other }));
        // An older relay names none: taken.
        assert_eq!(judge(&sent, None), Ok(()));
    }

    #[test]
    fn only_an_id_of_its_shape_is_named_back() {
        for not_an_id in
            [&b""[..], b"0123456789abcde", b"0123456789abcdef0", b"0123456789abcdeg", b"<script>alert(1)"]
        {
            assert!(!is_request_id(not_an_id), "{not_an_id:?}");
        }
    }
}
