//! The HTTP transport to the relay: `POST /v1/join` to turn an invite code into a device token,
//! and `POST /v1/sync` carrying the CBOR batches a [`SyncRun`](crate::SyncRun) builds. The
//! replica is locked only between network calls, never across one.

use std::sync::Mutex;
use std::time::Duration;

use doorstep_core::id::{CompoundId, PersonId};
use doorstep_core::{Role, Timestamp};
use serde::{Deserialize, Serialize};

use crate::{Replica, ReplicaError, SyncReport};

/// What can go wrong talking to the relay. Each variant is something a caller acts on
/// differently: retry later, sign in again, tell the user, update the app.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// No connection, timeout, DNS: retry when back in signal.
    #[error("cannot reach the relay: {0}")]
    Network(String),
    /// The token is missing, wrong or revoked (401): join again.
    #[error("the relay did not accept this device's token: {0}")]
    Unauthorized(String),
    /// The caller may not do this (403).
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The relay asks us to slow down (429).
    #[error("the relay is busy; retry in {retry_after_secs} s")]
    RateLimited {
        /// Seconds to wait.
        retry_after_secs: u64,
    },
    /// The relay refused the request (other 4xx) with a reason.
    #[error("the relay refused the request ({status}): {reason}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The relay's reason.
        reason: String,
    },
    /// The relay failed (5xx).
    #[error("the relay failed ({status}): {reason}")]
    Server {
        /// HTTP status.
        status: u16,
        /// The relay's reason.
        reason: String,
    },
    /// The relay's answer could not be read.
    #[error("unreadable answer from the relay: {0}")]
    BadResponse(String),
    /// The local replica failed.
    #[error(transparent)]
    Replica(#[from] ReplicaError),
}

/// `POST /v1/join` body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JoinRequest {
    /// The code a coordinator gave.
    pub invite_code: String,
    /// A name for this device ("王芳's phone").
    pub device_name: String,
}

/// `POST /v1/join` answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JoinResponse {
    /// The device token: keep it secret, send it as `Authorization: Bearer`.
    pub token: String,
    /// Who joined.
    pub person: PersonId,
    /// Into which compound.
    pub compound: CompoundId,
    /// In which role.
    pub role: Role,
}

/// `GET /v1/me` answer: the person a token belongs to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Me {
    /// The person.
    pub person: PersonId,
}

/// The relay's JSON error body.
#[derive(Debug, Clone, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    reason: String,
}

/// A relay at a base URL, with this device's token.
#[derive(Debug, Clone)]
pub struct RelayClient {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl RelayClient {
    /// A client for the relay at `base` ("http://127.0.0.1:7700").
    pub fn new(base: &str, token: Option<String>) -> Result<Self, TransportError> {
        Self::build(base, token, reqwest::Client::builder())
    }

    /// A client for a relay at an `https://` `base` whose certificate is signed by the private
    /// CA in `ca_pem` (PEM), trusted besides the system's roots: a small deployment's own CA.
    #[cfg(feature = "tls")]
    pub fn with_root_certificate(
        base: &str,
        token: Option<String>,
        ca_pem: &[u8],
    ) -> Result<Self, TransportError> {
        let ca = reqwest::Certificate::from_pem(ca_pem)
            .map_err(|e| TransportError::Network(format!("the CA certificate is not PEM: {e}")))?;
        Self::build(base, token, reqwest::Client::builder().tls_certs_merge([ca]))
    }

    fn build(
        base: &str,
        token: Option<String>,
        builder: reqwest::ClientBuilder,
    ) -> Result<Self, TransportError> {
        // rustls with the ring provider, the one the relay uses too; installing it twice is harmless.
        #[cfg(feature = "tls")]
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = builder
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| TransportError::Network(e.to_string()))?;
        Ok(Self { http, base: base.trim_end_matches('/').to_owned(), token })
    }

    /// The same relay with another token.
    pub fn with_token(&self, token: String) -> Self {
        Self { token: Some(token), ..self.clone() }
    }

    /// Turns an invite code into a device token.
    pub async fn join(&self, invite_code: &str, device_name: &str) -> Result<JoinResponse, TransportError> {
        let body = JoinRequest { invite_code: invite_code.to_owned(), device_name: device_name.to_owned() };
        let response = self
            .http
            .post(format!("{}/v1/join", self.base))
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&body).map_err(|e| TransportError::BadResponse(e.to_string()))?)
            .send()
            .await
            .map_err(network)?;
        let bytes = checked(response).await?;
        serde_json::from_slice(&bytes).map_err(|e| TransportError::BadResponse(e.to_string()))
    }

    /// Who the token belongs to (`GET /v1/me`).
    pub async fn me(&self) -> Result<Me, TransportError> {
        let mut request = self.http.get(format!("{}/v1/me", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let bytes = checked(request.send().await.map_err(network)?).await?;
        serde_json::from_slice(&bytes).map_err(|e| TransportError::BadResponse(e.to_string()))
    }

    /// Sends one sync request's bytes and returns the response's bytes.
    pub async fn exchange(&self, body: Vec<u8>) -> Result<Vec<u8>, TransportError> {
        let mut request = self
            .http
            .post(format!("{}/v1/sync", self.base))
            .header("content-type", "application/cbor")
            .body(body);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(network)?;
        checked(response).await
    }
}

fn network(e: reqwest::Error) -> TransportError {
    TransportError::Network(e.to_string())
}

async fn checked(response: reqwest::Response) -> Result<Vec<u8>, TransportError> {
    let status = response.status().as_u16();
    let retry_after_secs = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let bytes = response.bytes().await.map_err(network)?.to_vec();
    if status < 300 {
        return Ok(bytes);
    }
    let reason = serde_json::from_slice::<ErrorBody>(&bytes)
        .map(|b| b.reason)
        .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).chars().take(300).collect());
    Err(match status {
        401 => TransportError::Unauthorized(reason),
        403 => TransportError::Forbidden(reason),
        429 => TransportError::RateLimited { retry_after_secs },
        400..=499 => TransportError::Refused { status, reason },
        _ => TransportError::Server { status, reason },
    })
}

/// Syncs `replica` with the relay until neither side has anything to say. `clock` gives the
/// device time for the sync record. On a network failure part-way, whatever arrived is kept
/// and the next call carries on from there.
pub async fn sync(
    replica: &Mutex<Replica>,
    relay: &RelayClient,
    clock: impl Fn() -> Timestamp,
) -> Result<SyncReport, TransportError> {
    let mut run = lock(replica).start_sync();
    loop {
        let Some(body) = run.next_request(&lock(replica)) else { break };
        let answer = relay.exchange(body).await?;
        run.handle_response(&mut lock(replica), &answer, clock())?;
    }
    Ok(run.finish(&mut lock(replica), clock())?)
}

/// Joins with an invite code: gets a token and records the person on the replica. The caller
/// keeps the token (in the platform's secure storage).
pub async fn join(
    replica: &Mutex<Replica>,
    relay: &RelayClient,
    invite_code: &str,
    device_name: &str,
) -> Result<JoinResponse, TransportError> {
    let joined = relay.join(invite_code, device_name).await?;
    lock(replica).set_identity(joined.person)?;
    Ok(joined)
}

/// Signs this device in with a device token it already has (a demo token, or one moved from
/// another device), recording the person on the replica.
pub async fn sign_in(replica: &Mutex<Replica>, relay: &RelayClient) -> Result<Me, TransportError> {
    let me = relay.me().await?;
    lock(replica).set_identity(me.person)?;
    Ok(me)
}

fn lock(replica: &Mutex<Replica>) -> std::sync::MutexGuard<'_, Replica> {
    // A panic while holding the lock cannot leave the replica half-written: every write is one
    // SQLite transaction, so the data behind a poisoned lock is still consistent.
    replica.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
