//! A sync request sent in pieces: every byte a window of signal carried up is kept by the relay.
//!
//! A request goes whole or not at all over `POST /v1/sync`, and a change is the smallest piece a
//! request carries: in windows of signal of a few seconds on a landing's 64 kbit/s, a long day
//! went up one or two notes a window, the rest of each window lost with the request it cut.
//!
//! So a phone sends a long request (at least [`PIECES_FROM_BYTES`] on the wire) to
//! `POST /v1/sync/pieces?digest=&total=&from=&encoding=`, the bytes of the request from `from`
//! on. The relay keeps every byte that arrives, as it arrives, even when the link drops the rest,
//! and once it holds all `total` bytes whose SHA-256 is `digest` it syncs them as it would the
//! same body sent to `/v1/sync`, and answers the same. The phone keeps the request it is sending
//! in its file; in its next window it asks how much the relay holds
//! (`GET /v1/sync/pieces?digest=&total=`: [`PiecesHeld`]) and sends the rest.
//!
//! The relay holds one request in pieces per device, in memory, for an hour after its last piece;
//! a relay restarted, or another relay behind the same address, holds none, and the phone starts
//! again from the first byte. Once the relay has answered a request it remembers, for that hour,
//! that it took it: a phone whose link cut that answer learns so from the status and does not
//! send it again.

use serde::{Deserialize, Serialize};

/// The route.
pub const PIECES_PATH: &str = "/v1/sync/pieces";

/// Requests at least this long on the wire go in pieces, when the relay takes them so: about
/// two seconds of a landing's link, a request a short window of signal may cut.
pub const PIECES_FROM_BYTES: usize = 16 * 1024;

/// The `encoding` query value of a request whose bytes are compressed (as `Content-Encoding:
/// deflate` says of a whole body sent to `/v1/sync`). The pieces are slices of those bytes, not
/// each compressed, so it is not said in a `Content-Encoding` header.
pub const DEFLATED: &str = "deflate";

/// The status of a request in pieces, answered by `GET /v1/sync/pieces` and by a piece that did
/// not complete the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PiecesHeld {
    /// Bytes of the request the relay holds, from the first: send from this byte.
    pub held: usize,
    /// The relay took this very request and answered it: do not send it again.
    pub taken: bool,
}

/// The digest that names a request in pieces: SHA-256, hex (as a copy's).
pub fn digest(bytes: &[u8]) -> String {
    super::document_copy::digest(bytes)
}

/// Whether `text` reads as a [`digest`]: 64 lowercase hex digits.
pub fn is_digest(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digest_reads_as_one_and_nothing_else_does() {
        let named = digest(b"a long day of notes");
        assert!(is_digest(&named));
        assert!(!is_digest(&named.to_uppercase()));
        assert!(!is_digest(&named[1..]));
        assert!(!is_digest("../../etc/passwd"));
    }
}
