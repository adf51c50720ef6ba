//! Dashboard sign-in sessions: a coordinator pastes a device token once, and the browser then
//! holds an `HttpOnly; SameSite=Strict` cookie instead, so the token itself never sits in the
//! page's JavaScript or in `localStorage`, where any injected script could read it.
//!
//! A session is a fresh 256-bit secret; only its SHA-256 is kept, as for device tokens, so a
//! memory dump does not let anyone sign in. Each session remembers the hash of the token it
//! was opened with, and every request checks that token again: revoking the device
//! (`revoke-devices`) ends its dashboard sessions too. Sessions last 12 hours, a long shift,
//! and are held in memory: a relay restart signs coordinators out, which costs them one paste.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::http::HeaderValue;
use axum::http::header::{COOKIE, HeaderMap};
use doorstep_core::id::PersonId;

use crate::secret;
use crate::storage::SecretHash;

/// The cookie's name.
pub const COOKIE_NAME: &str = "doorstep_session";

/// How long a session lasts from sign-in.
pub const LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// Sessions one person may hold at once (browsers, tabs signed in separately); signing in once
/// more ends their oldest.
const MAX_PER_PERSON: usize = 16;

/// Sessions in all, as a bound on memory; over it, the oldest ends.
const MAX_SESSIONS: usize = 10_000;

/// What a session stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionRecord {
    /// Who signed in.
    pub person: PersonId,
    /// The hash of the device token they signed in with.
    pub token: SecretHash,
    /// When it was opened.
    pub opened: Instant,
}

impl SessionRecord {
    fn expired(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.opened) >= LIFETIME
    }
}

/// The open sessions, by the hash of their secret.
#[derive(Debug, Default)]
pub struct Sessions {
    // A std mutex: held for one map operation, never across an `.await`.
    open: Mutex<HashMap<SecretHash, SessionRecord>>,
}

impl Sessions {
    /// Opens a session for `person`, signed in with the token whose hash is `token`; returns
    /// the secret for the cookie.
    pub fn open(&self, person: PersonId, token: SecretHash) -> String {
        let secret = new_secret();
        let now = Instant::now();
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.retain(|_, s| !s.expired(now));
        let mut theirs: Vec<(SecretHash, Instant)> =
            open.iter().filter(|(_, s)| s.person == person).map(|(h, s)| (*h, s.opened)).collect();
        if theirs.len() >= MAX_PER_PERSON {
            theirs.sort_by_key(|(_, opened)| *opened);
            for (hash, _) in &theirs[..=theirs.len() - MAX_PER_PERSON] {
                open.remove(hash);
            }
        }
        if open.len() >= MAX_SESSIONS
            && let Some(oldest) = open.iter().min_by_key(|(_, s)| s.opened).map(|(h, _)| *h)
        {
            open.remove(&oldest);
        }
        open.insert(secret::hash_token(&secret), SessionRecord { person, token, opened: now });
        secret
    }

    /// The live session behind a secret's hash; an expired one is forgotten.
    pub fn get(&self, hash: SecretHash) -> Option<SessionRecord> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        match open.get(&hash) {
            Some(s) if s.expired(Instant::now()) => {
                open.remove(&hash);
                None
            }
            found => found.copied(),
        }
    }

    /// Ends a session.
    pub fn close(&self, hash: SecretHash) {
        self.open.lock().unwrap_or_else(PoisonError::into_inner).remove(&hash);
    }

    /// How many sessions are held (expired ones not yet swept included).
    pub fn len(&self) -> usize {
        self.open.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A new session secret: `dss_` and 64 hex digits.
fn new_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    let mut out = String::with_capacity(68);
    out.push_str("dss_");
    for b in bytes {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// The session cookie's value in a request, if it has one.
pub fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.trim_matches('"'))
        .filter(|value| !value.is_empty())
}

/// The `Set-Cookie` value that stores `secret`. `secure` adds `Secure`, for a relay serving TLS
/// itself or behind a trusted TLS proxy; over plain HTTP (a relay on a laptop) a browser would
/// drop a `Secure` cookie.
pub fn set_cookie(secret: &str, secure: bool) -> Option<HeaderValue> {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE_NAME}={secret}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{secure}",
        LIFETIME.as_secs()
    ))
    .ok()
}

/// The `Set-Cookie` value that removes the cookie (with `Secure` as it was set).
pub fn clear_cookie(secure: bool) -> HeaderValue {
    if secure {
        HeaderValue::from_static("doorstep_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0; Secure")
    } else {
        HeaderValue::from_static("doorstep_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn person(n: u8) -> PersonId {
        format!("00000000-0000-7000-8000-0000000000{n:02x}").parse().unwrap()
    }

    #[test]
    fn sessions_are_found_by_the_hash_of_their_secret_and_end_on_close() {
        let sessions = Sessions::default();
        let token = secret::hash_token("dst_x");
        let secret = sessions.open(person(1), token);
        assert!(secret.starts_with("dss_") && secret.len() == 68);
        let hash = secret::hash_token(&secret);
        assert_eq!(sessions.get(hash).map(|s| (s.person, s.token)), Some((person(1), token)));
        assert_eq!(sessions.get(secret::hash_token("dss_other")), None);
        sessions.close(hash);
        assert_eq!(sessions.get(hash), None);
    }

    #[test]
    fn one_person_holds_a_bounded_number_of_sessions() {
        let sessions = Sessions::default();
        let token = secret::hash_token("dst_x");
        let first = sessions.open(person(1), token);
        for _ in 0..MAX_PER_PERSON {
            sessions.open(person(1), token);
        }
        sessions.open(person(2), token);
        assert_eq!(sessions.len(), MAX_PER_PERSON + 1);
        assert_eq!(sessions.get(secret::hash_token(&first)), None, "the oldest made room");
    }

    #[test]
    fn the_cookie_is_read_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, HeaderValue::from_static("a=1; doorstep_session=dss_abc; b=2"));
        assert_eq!(cookie(&headers), Some("dss_abc"));
        headers.insert(COOKIE, HeaderValue::from_static("doorstep_session="));
        assert_eq!(cookie(&headers), None);
        let set = set_cookie("dss_abc", false).unwrap();
        let set = set.to_str().unwrap();
        assert!(set.starts_with("doorstep_session=dss_abc; HttpOnly; SameSite=Strict; Path=/"));
        assert!(!set.contains("Secure"));
        assert!(set_cookie("dss_abc", true).unwrap().to_str().unwrap().ends_with("; Secure"));
    }
}
