//! Dashboard sign-in sessions: a coordinator pastes a device token once, and the browser then
//! holds an `HttpOnly; SameSite=Strict` cookie instead, so the token itself never sits in the
//! page's JavaScript or in `localStorage`, where any injected script could read it.
//!
//! A session is a fresh 256-bit secret; only its SHA-256 is kept, as for device tokens, so a copy
//! of the database does not let anyone sign in. Each session remembers the hash of the token it
//! was opened with, and every request checks that token again: revoking the device
//! (`revoke-devices`) ends its dashboard sessions too. Sessions last 12 hours, a long shift.
//!
//! Sessions are kept in the relay's database ([`Storage::open_session`]), not in its memory: a
//! restart signs nobody out, and with several relays on one PostgreSQL database a coordinator
//! whose requests the load balancer sends to another relay stays signed in.

use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderValue;
use axum::http::header::{COOKIE, HeaderMap};
use doorstep_core::Timestamp;
use doorstep_core::id::PersonId;

use crate::clock;
use crate::secret;
use crate::storage::{DashboardSession, SecretHash, Storage, StorageError};

/// The cookie's name.
pub const COOKIE_NAME: &str = "doorstep_session";

/// How long a session lasts from sign-in.
pub const LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// Sessions one person may hold at once (browsers, tabs signed in separately); signing in once
/// more ends their oldest.
const MAX_PER_PERSON: usize = 16;

/// What a session stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionRecord {
    /// Who signed in.
    pub person: PersonId,
    /// The hash of the device token they signed in with.
    pub token: SecretHash,
}

/// The open sessions, in the relay's store.
#[derive(Debug, Clone)]
pub struct Sessions {
    storage: Arc<dyn Storage>,
}

impl Sessions {
    /// Sessions kept in `storage`.
    pub fn new(storage: Arc<dyn Storage>) -> Self {
        Self { storage }
    }

    /// Opens a session for `person`, signed in with the token whose hash is `token`; returns
    /// the secret for the cookie.
    pub async fn open(&self, person: PersonId, token: SecretHash) -> Result<String, StorageError> {
        self.open_at(person, token, clock::now()).await
    }

    async fn open_at(
        &self,
        person: PersonId,
        token: SecretHash,
        now: Timestamp,
    ) -> Result<String, StorageError> {
        let secret = new_secret();
        let lifetime = i64::try_from(LIFETIME.as_millis()).unwrap_or(i64::MAX);
        let session = DashboardSession {
            secret_hash: secret::hash_token(&secret),
            person,
            token,
            opened_at: now,
            expires_at: Timestamp::from_millis(now.as_millis().saturating_add(lifetime)),
        };
        self.storage.open_session(session, MAX_PER_PERSON).await?;
        Ok(secret)
    }

    /// The live session behind a secret's hash.
    pub async fn get(&self, hash: SecretHash) -> Result<Option<SessionRecord>, StorageError> {
        self.get_at(hash, clock::now()).await
    }

    async fn get_at(&self, hash: SecretHash, now: Timestamp) -> Result<Option<SessionRecord>, StorageError> {
        let session = self.storage.session(hash, now).await?;
        Ok(session.map(|s| SessionRecord { person: s.person, token: s.token }))
    }

    /// Ends a session.
    pub async fn close(&self, hash: SecretHash) -> Result<(), StorageError> {
        self.storage.close_session(hash).await
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
    use crate::storage::NewPerson;
    use crate::storage::sqlite::SqliteStorage;

    fn person(n: u8) -> PersonId {
        format!("00000000-0000-7000-8000-0000000000{n:02x}").parse().unwrap()
    }

    async fn sessions(dir: &tempfile::TempDir) -> Sessions {
        let storage = SqliteStorage::open(dir.path().join("relay.db")).await.unwrap();
        for n in 1..=2 {
            let person = NewPerson { id: person(n), name: format!("p{n}"), district_admin: false };
            storage.create_person(person, clock::now()).await.unwrap();
        }
        Sessions::new(Arc::new(storage))
    }

    #[tokio::test]
    async fn sessions_are_found_by_the_hash_of_their_secret_and_end_on_close() {
        let dir = tempfile::tempdir().unwrap();
        let sessions = sessions(&dir).await;
        let token = secret::hash_token("dst_x");
        let secret = sessions.open(person(1), token).await.unwrap();
        assert!(secret.starts_with("dss_") && secret.len() == 68);
        let hash = secret::hash_token(&secret);
        assert_eq!(sessions.get(hash).await.unwrap(), Some(SessionRecord { person: person(1), token }));
        assert_eq!(sessions.get(secret::hash_token("dss_other")).await.unwrap(), None);
        sessions.close(hash).await.unwrap();
        assert_eq!(sessions.get(hash).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_session_survives_the_relay_and_ends_after_its_lifetime() {
        let dir = tempfile::tempdir().unwrap();
        let token = secret::hash_token("dst_x");
        let opened = Timestamp::from_millis(1_700_000_000_000);
        let secret = sessions(&dir).await.open_at(person(1), token, opened).await.unwrap();
        let hash = secret::hash_token(&secret);
        // A new store on the same file: a restarted relay.
        let storage = SqliteStorage::open(dir.path().join("relay.db")).await.unwrap();
        let reopened = Sessions::new(Arc::new(storage));
        let lifetime = i64::try_from(LIFETIME.as_millis()).unwrap();
        let just_before = Timestamp::from_millis(opened.as_millis() + lifetime - 1);
        assert!(reopened.get_at(hash, just_before).await.unwrap().is_some());
        let at_end = Timestamp::from_millis(opened.as_millis() + lifetime);
        assert_eq!(reopened.get_at(hash, at_end).await.unwrap(), None);
    }

    #[tokio::test]
    async fn one_person_holds_a_bounded_number_of_sessions() {
        let dir = tempfile::tempdir().unwrap();
        let sessions = sessions(&dir).await;
        let token = secret::hash_token("dst_x");
        let first = sessions.open(person(1), token).await.unwrap();
        let mut last = String::new();
        for _ in 0..MAX_PER_PERSON {
            last = sessions.open(person(1), token).await.unwrap();
        }
        let other = sessions.open(person(2), token).await.unwrap();
        assert_eq!(sessions.get(secret::hash_token(&first)).await.unwrap(), None, "the oldest made room");
        assert!(sessions.get(secret::hash_token(&last)).await.unwrap().is_some());
        assert!(sessions.get(secret::hash_token(&other)).await.unwrap().is_some());
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
