//! Sync bodies compressed on the wire: HTTP `Content-Encoding: deflate` (the zlib format, RFC
//! 9110 §8.4.1.2), both ways. A volunteer's changes are small columnar Automerge changes whose
//! actor ids, keys and repeated values DEFLATE packs to about a third (twenty "delivered"
//! attempts: 4,507 bytes, 1,484 compressed); on a landing's 64 kbit/s every byte is felt.
//! A body is compressed only when that makes it smaller: a whole document Automerge saved is
//! compressed already and goes as it is.
//!
//! The relay says it reads compressed requests with `Accept-Encoding: deflate` on its answers
//! (RFC 7694); a phone compresses only after it has seen that, so an older relay is never sent
//! a body it cannot read. A phone says it reads compressed answers with the same header on its
//! requests. Both sides inflate with a limit: a few kilobytes of DEFLATE can hold gigabytes.

use std::io::{Read, Write};

/// The content coding both sides use.
pub const DEFLATE: &str = "deflate";

/// Bodies shorter than this go as they are: the few bytes saved are not worth the CPU.
pub const SMALLEST_WORTH_COMPRESSING: usize = 256;

/// Why a compressed body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InflateError {
    /// It inflates to more than the reader takes.
    #[error("the compressed body inflates to more than {limit} bytes, the most taken")]
    TooLarge {
        /// The most taken, in bytes.
        limit: usize,
    },
    /// It is not zlib-wrapped DEFLATE data.
    #[error("the body is not DEFLATE data in the zlib format (Content-Encoding: deflate): {0}")]
    Malformed(String),
}

/// How hard to work at compressing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effort {
    /// zlib's default level: a phone's request, where the link, not the CPU, is what is short.
    Smallest,
    /// zlib's level 2: the relay's answers, where one CPU answers a whole district. About half
    /// the default's time, for the same bytes within 1 %. Not level 1, which miniz runs as a
    /// different, greedy search: two-thirds of level 2's time, but 9 % more bytes on a team's
    /// edits and 38 % more on free text (a long day's notes), felt on a landing's link.
    Light,
}

/// `body` compressed, or `None` when it is too short to bother or compressing does not make it
/// smaller.
pub fn compress(body: &[u8], effort: Effort) -> Option<Vec<u8>> {
    if body.len() < SMALLEST_WORTH_COMPRESSING {
        return None;
    }
    let level = match effort {
        Effort::Smallest => flate2::Compression::default(),
        Effort::Light => flate2::Compression::new(2),
    };
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::with_capacity(body.len() / 2), level);
    encoder.write_all(body).ok()?;
    let compressed = encoder.finish().ok()?;
    (compressed.len() < body.len()).then_some(compressed)
}

/// `body` inflated, if it inflates to at most `limit` bytes.
pub fn inflate(body: &[u8], limit: usize) -> Result<Vec<u8>, InflateError> {
    let budget = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    let mut inflated = Vec::with_capacity(body.len().saturating_mul(3).min(limit));
    // Read from the slice itself, so that what follows the stream's end is left there to see.
    let mut decoder = flate2::bufread::ZlibDecoder::new(body);
    (&mut decoder)
        .take(budget)
        .read_to_end(&mut inflated)
        .map_err(|e| InflateError::Malformed(e.to_string()))?;
    if inflated.len() > limit {
        return Err(InflateError::TooLarge { limit });
    }
    // Bytes after the stream are refused, not ignored: nothing rides past the checks unread.
    let after = decoder.into_inner().len();
    if after > 0 {
        return Err(InflateError::Malformed(format!(
            "{after} bytes follow the end of the compressed stream; send exactly one stream"
        )));
    }
    Ok(inflated)
}

/// Whether an `Accept-Encoding` header value takes `deflate` ("gzip, deflate", "deflate;q=0.5"
/// yes; "deflate;q=0", "gzip", "identity" no).
pub fn accepts_deflate(accept_encoding: &str) -> bool {
    accept_encoding.split(',').any(|item| {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim();
        let refused = parts.any(|p| {
            let p = p.trim();
            p.strip_prefix("q=")
                .or_else(|| p.strip_prefix("Q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        (coding.eq_ignore_ascii_case(DEFLATE) || coding == "*") && !refused
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_body_of_repeated_changes_goes_smaller_and_comes_back_whole() {
        let body: Vec<u8> = (0..40)
            .flat_map(|i| format!("attempt {i} delivered by 李强 at 1-1-{i:03}").into_bytes())
            .collect();
        let compressed = compress(&body, Effort::Smallest).expect("repetitive text compresses");
        let fast = compress(&body, Effort::Light).expect("and fast");
        assert_eq!(inflate(&fast, body.len()).unwrap(), body);
        assert!(compressed.len() * 2 < body.len(), "{} of {}", compressed.len(), body.len());
        assert_eq!(inflate(&compressed, body.len()).unwrap(), body);
    }

    #[test]
    fn short_or_incompressible_bodies_go_as_they_are() {
        assert_eq!(compress(b"tiny", Effort::Smallest), None);
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state.to_le_bytes()[0]
            })
            .collect();
        assert_eq!(compress(&noise, Effort::Light), None);
    }

    #[test]
    fn a_bomb_stops_at_the_limit_and_garbage_is_named() {
        let bomb = compress(&vec![0_u8; 10 * 1024 * 1024], Effort::Smallest).unwrap();
        assert!(bomb.len() < 20 * 1024, "{}", bomb.len());
        assert_eq!(inflate(&bomb, 1024 * 1024), Err(InflateError::TooLarge { limit: 1024 * 1024 }));
        assert!(matches!(inflate(b"not deflate at all", 1024), Err(InflateError::Malformed(_))));
        let cut = &compress(&[7_u8; 5000], Effort::Smallest).unwrap()[..6];
        assert!(matches!(inflate(cut, 1 << 20), Err(InflateError::Malformed(_))));
    }

    #[test]
    fn bytes_after_the_compressed_stream_are_refused() {
        let whole = compress(&[7_u8; 5000], Effort::Smallest).unwrap();
        assert_eq!(inflate(&whole, 1 << 20).unwrap(), vec![7_u8; 5000]);
        let mut junk = whole.clone();
        junk.extend_from_slice(b"junk");
        match inflate(&junk, 1 << 20) {
            Err(InflateError::Malformed(why)) => assert!(why.contains("4 bytes follow"), "{why}"),
            other => panic!("trailing bytes must be refused: {other:?}"),
        }
        let mut twice = whole.clone();
        twice.extend_from_slice(&whole);
        assert!(matches!(inflate(&twice, 1 << 20), Err(InflateError::Malformed(_))));
    }

    #[test]
    fn accept_encoding_is_read_with_its_weights() {
        assert!(accepts_deflate("deflate"));
        assert!(accepts_deflate("gzip, Deflate"));
        assert!(accepts_deflate("deflate;q=0.5"));
        assert!(accepts_deflate("*"));
        assert!(!accepts_deflate("deflate;q=0"));
        assert!(!accepts_deflate("gzip, br"));
        assert!(!accepts_deflate("identity"));
        assert!(!accepts_deflate(""));
    }
}
