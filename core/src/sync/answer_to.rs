//! Which request a sync answer answers. A sync answer moves a phone's data: its document list
//! makes the phone drop what is not on it, its refusals set work aside. On plain HTTP a box on
//! the way (a caching or transparent proxy, a misconfigured balancer) can hand a phone an answer
//! meant for another phone, another relay or an earlier request, and the phone would wipe its
//! compound and tell the volunteer they were removed. So each sync request carries a fresh id
//! ([`REQUEST_HEADER`]), the relay names it in its answer ([`ANSWER_TO_HEADER`]), and the phone
//! applies only an answer naming the request it sent ([`judge`]).
//!
//! A relay older than the id names none; a phone takes an answer naming none until its relay
//! has named one, and from then on refuses answers that name none (a box could strip the header).

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

/// Why an answer is not the one to the request sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotThisAnswer {
    /// It names another request: an answer replayed, or meant for another phone or relay.
    #[error("the answer is to request {named}, not to this one ({sent}): replayed or misrouted on the way")]
    Another {
        /// The id sent.
        sent: String,
        /// The id the answer names.
        named: String,
    },
    /// It names none, from a relay that names every request.
    #[error("the answer names no request, and this relay names every one: altered or replayed on the way")]
    Unnamed,
}

/// Whether an answer naming `named` (its [`ANSWER_TO_HEADER`], if any) answers the request
/// `sent`, from a relay known to name every request when `relay_names_requests`. `Ok(true)`: it
/// names this request (the relay names requests, if it was not known to); `Ok(false)`: it names
/// none, from a relay not known to name any.
pub fn judge(sent: &str, named: Option<&str>, relay_names_requests: bool) -> Result<bool, NotThisAnswer> {
    match named {
        Some(named) if named.eq_ignore_ascii_case(sent) => Ok(true),
        Some(named) => Err(NotThisAnswer::Another { sent: sent.to_owned(), named: named.to_owned() }),
        None if relay_names_requests => Err(NotThisAnswer::Unnamed),
        None => Ok(false),
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
        assert_eq!(judge(&sent, Some(&sent), false), Ok(true));
        assert_eq!(judge(&sent, Some("0123456789ABCDEF"), true), Ok(true));
        let other = request_id(7);
        assert!(matches!(judge(&sent, Some(&other), false), Err(NotThisAnswer::Another { .. })));
        assert!(matches!(judge(&sent, Some(&other), true), Err(NotThisAnswer::Another { .. })));
        // An older relay names none: taken, until the relay has named one.
        assert_eq!(judge(&sent, None, false), Ok(false));
        assert_eq!(judge(&sent, None, true), Err(NotThisAnswer::Unnamed));
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
