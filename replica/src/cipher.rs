//! Encryption at rest. With a [`ReplicaKey`], every stored value that carries compound or
//! personal data (document snapshots and chunks, sync states, set-aside changes and their
//! reasons, every meta value: the device actor, person, relay URL and token, removal list) is
//! sealed with XChaCha20-Poly1305 before it reaches SQLite, and opened after it is read.
//!
//! Why values and not pages (SQLCipher): SQLCipher needs OpenSSL (or CommonCrypto) built into
//! `libsqlite3-sys`, and Cargo's feature unification would force it onto the relay too, which
//! links the command-line phone; the Android and iOS cross-builds would need OpenSSL for every
//! ABI. RustCrypto's `chacha20poly1305` is pure Rust, audited (NCC Group, 2020), a few hundred
//! kilobytes of build, and the same on every target. What it leaves readable is metadata,
//! listed in ARCHITECTURE.md: document and compound IDs, document kinds, roles, the sizes and
//! number of stored chunks, and the rule codes and hashes of set-aside changes.
//!
//! Each sealed value is `1 (format) ‖ 24-byte random nonce ‖ ciphertext ‖ 16-byte tag`, and its
//! associated data names the row it belongs to (`snapshot <document id>`, `meta relay_token`),
//! so a value moved to another row does not open.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use zeroize::Zeroize;

use crate::error::ReplicaError;

/// The key length in bytes.
pub const KEY_LEN: usize = 32;

/// The first byte of every sealed value: this format.
const FORMAT: u8 = 1;

const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// The 32-byte key that opens a replica's file. The host keeps it (Android Keystore, the iOS
/// Keychain, a key file for the command-line phone); the replica never writes it anywhere.
#[derive(Clone)]
pub struct ReplicaKey([u8; KEY_LEN]);

impl ReplicaKey {
    /// A key from exactly 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ReplicaError> {
        let key: [u8; KEY_LEN] = bytes.try_into().map_err(|_| ReplicaError::BadKey {
            reason: format!("a replica key is {KEY_LEN} bytes, this one is {}", bytes.len()),
        })?;
        Ok(Self(key))
    }

    /// A fresh random key.
    pub fn generate() -> Self {
        Self(rand::random())
    }

    /// The key as 64 lowercase hex digits (for a key file).
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// A key from 64 hex digits (surrounding whitespace ignored).
    pub fn from_hex(text: &str) -> Result<Self, ReplicaError> {
        let text = text.trim();
        let bad = || ReplicaError::BadKey {
            reason: format!("a replica key is {} hex digits, this one is not", KEY_LEN * 2),
        };
        if text.len() != KEY_LEN * 2 || !text.is_ascii() {
            return Err(bad());
        }
        let bytes: Vec<u8> = (0..KEY_LEN)
            .map(|i| u8::from_str_radix(&text[i * 2..i * 2 + 2], 16).map_err(|_| bad()))
            .collect::<Result<_, _>>()?;
        Self::from_bytes(&bytes)
    }
}

impl Drop for ReplicaKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl std::fmt::Debug for ReplicaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReplicaKey(…)")
    }
}

/// Seals and opens stored values with one key.
pub(crate) struct Sealer {
    aead: XChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(…)")
    }
}

impl Sealer {
    pub fn new(key: &ReplicaKey) -> Self {
        Self { aead: XChaCha20Poly1305::new(&key.0.into()) }
    }

    /// `plain` sealed for the row named `context`.
    pub fn seal(&self, context: &str, plain: &[u8]) -> Result<Vec<u8>, ReplicaError> {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let sealed = self
            .aead
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plain, aad: context.as_bytes() })
            .map_err(|_| ReplicaError::Undecryptable { what: format!("{context} (too large to seal)") })?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(FORMAT);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// The plain bytes of a value sealed for `context`; an error if the key is not the one it was
    /// sealed with, or the value was damaged or moved from another row.
    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>, ReplicaError> {
        let undecryptable = || ReplicaError::Undecryptable { what: context.to_owned() };
        if sealed.len() < 1 + NONCE_LEN + TAG_LEN || sealed[0] != FORMAT {
            return Err(undecryptable());
        }
        let (nonce, body) = sealed[1..].split_at(NONCE_LEN);
        self.aead
            .decrypt(XNonce::from_slice(nonce), Payload { msg: body, aad: context.as_bytes() })
            .map_err(|_| undecryptable())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_value_opens_with_its_key_and_context_only() {
        let key = ReplicaKey::generate();
        let sealer = Sealer::new(&key);
        let sealed = sealer.seal("meta person", b"secret").unwrap();
        assert_eq!(sealer.open("meta person", &sealed).unwrap(), b"secret");
        assert!(sealer.open("meta relay_token", &sealed).is_err(), "moved to another row");
        assert!(Sealer::new(&ReplicaKey::generate()).open("meta person", &sealed).is_err(), "another key");
        let mut damaged = sealed.clone();
        *damaged.last_mut().unwrap() ^= 1;
        assert!(sealer.open("meta person", &damaged).is_err(), "damaged");
        assert_eq!(ReplicaKey::from_hex(&key.to_hex()).unwrap().0, key.0);
        assert!(ReplicaKey::from_hex("abc").is_err());
        assert!(ReplicaKey::from_bytes(&[0; 16]).is_err());
    }
}
