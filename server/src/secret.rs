//! Device tokens and invite codes: how they are made, and the hashes they are stored as.
//!
//! A token is 256 random bits, written `dst_` + 64 hex digits; it is typed by no one, so it can
//! be long. An invite code is read out over the phone or copied from a WeChat message, so it is
//! 60 random bits in Crockford base32 (no I, L, O or U), grouped `K7QM-3XPD-9TRW`; it is
//! single-use and expires, which is what makes 60 bits enough. Only SHA-256 hashes are stored.

use sha2::{Digest, Sha256};

use crate::storage::SecretHash;

const TOKEN_PREFIX: &str = "dst_";
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const CODE_CHARS: usize = 12;

/// A new device token.
pub fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    let mut out = String::with_capacity(TOKEN_PREFIX.len() + 64);
    out.push_str(TOKEN_PREFIX);
    for b in bytes {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// The stored form of a token.
pub fn hash_token(token: &str) -> SecretHash {
    SecretHash(Sha256::digest(token.trim().as_bytes()).into())
}

/// A new invite code, `XXXX-XXXX-XXXX`.
pub fn new_invite_code() -> String {
    let mut bits: u64 = rand::random();
    let mut code = String::with_capacity(CODE_CHARS + 2);
    for i in 0..CODE_CHARS {
        if i > 0 && i % 4 == 0 {
            code.push('-');
        }
        code.push(char::from(CROCKFORD[usize::try_from(bits & 31).unwrap_or(0)]));
        bits >>= 5;
    }
    code
}

/// The stored form of an invite code, as typed: case, dashes and spaces do not matter, and the
/// look-alikes I, L (for 1) and O (for 0) are read as Crockford base32 reads them.
pub fn hash_invite_code(code: &str) -> SecretHash {
    let normal: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| match c.to_ascii_uppercase() {
            'I' | 'L' => '1',
            'O' => '0',
            c => c,
        })
        .collect();
    SecretHash(Sha256::digest(normal.as_bytes()).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_distinct_and_hash_stably() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert!(a.starts_with("dst_") && a.len() == 68);
        assert_eq!(hash_token(&a), hash_token(&format!(" {a}\n")));
        assert_ne!(hash_token(&a), hash_token(&b));
    }

    #[test]
    fn invite_codes_forgive_case_dashes_and_look_alikes() {
        let code = new_invite_code();
        assert_eq!(code.len(), 14);
        assert_eq!(code.matches('-').count(), 2);
        assert_eq!(hash_invite_code(&code), hash_invite_code(&code.to_lowercase().replace('-', " ")));
        assert_eq!(hash_invite_code("1O0L-AAAA-BBBB"), hash_invite_code("i00l aaaa bbbb"));
        assert_ne!(hash_invite_code("AAAA-AAAA-AAAA"), hash_invite_code("AAAA-AAAA-AAAB"));
    }
}
