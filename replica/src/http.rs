//! The HTTP transport to the relay: `POST /v1/join` to turn an invite code into a device token,
//! and `POST /v1/sync` carrying the CBOR batches a [`SyncRun`](crate::SyncRun) builds. The
//! replica is locked only between network calls, never across one.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use doorstep_core::id::{CompoundId, DocumentId, PersonId};
use doorstep_core::sync::body_deflate::{self, DEFLATE, Effort};
use doorstep_core::sync::document_copy::{
    COPY_ADVISED_HEADER, COPY_BYTES_HEADER, COPY_DIGEST_HEADER, COPY_FROM_HEADER, COPY_HEADS_HEADER,
    parse_advised,
};
use doorstep_core::sync::reply_budget::REPLY_BUDGET_HEADER;
use doorstep_core::sync::request_pieces::{DEFLATED, PIECES_PATH, PiecesHeld};
use doorstep_core::sync::{SetAsideAnswer, SetAsideExchange, WipeReport};
use doorstep_core::sync::{answer_to, clock_header, writer_header};
use doorstep_core::{Role, Timestamp, limits};
use serde::{Deserialize, Serialize};

use crate::copy_fetch::PartialCopy;
use crate::request_in_pieces::RequestInPieces;
use crate::{Replica, ReplicaError, RetryPolicy, SyncReport, SyncRun};

/// What can go wrong talking to the relay. Each variant is something a caller acts on
/// differently: retry later, sign in again, tell the user, update the app.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// No connection, timeout, DNS: retry when back in signal.
    #[error("cannot reach the relay: {0}")]
    Network(String),
    /// The token is missing or unknown to the relay (401 `unauthorized`): join again. After a
    /// sync so answered, the replica lets a join with a new invite code go ahead although work
    /// is unsynced, and sets that work aside for the coordinators' review (`lost_sign_in.rs`).
    #[error(
        "中继不认识这台手机的登录（中继可能从备份恢复过，或换了新的）；请向协调员要一个新的邀请码重新加入，本机未同步的工作不会丢失，会交给协调员处理 / the relay does not know this phone's sign-in (restored from a backup, or replaced?): join again with a new invite code from your coordinator; the work not yet synced is not lost, it goes to the coordinators for review (relay: {0})"
    )]
    Unauthorized(String),
    /// The relay says this device's token was revoked (401 `token_revoked`): a coordinator
    /// removed the phone. [`sync`] wipes every compound from the replica before returning it.
    #[error("{}", removed_message(compounds))]
    Removed {
        /// The compounds' names, as the replica knew them.
        compounds: Vec<String>,
    },
    /// A token typed at sign-in that is not this phone's own sign-in, and that the relay says was
    /// revoked (401 `token_revoked`): it was another phone's, reported lost, or its person's,
    /// removed. The phone is left as it was: the work of whoever is signed in on it is theirs,
    /// and only the phone's own revoked token wipes it.
    #[error(
        "这个登录令牌已被停用（它所在的手机已报失，或它的主人已被移出）；本机上的数据没有改动，请用协调员现在给你的令牌登录 / this token was revoked (the phone it was on was reported lost, or its person was removed); nothing on this phone was changed: sign in with a token your coordinator gives you now"
    )]
    RevokedTokenTyped,
    /// The caller may not do this (403).
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The relay asks us to slow down (429).
    #[error("{}", busy_message(*retry_after_secs))]
    RateLimited {
        /// Seconds to wait, when the relay said a wait it could mean (at most
        /// [`LONGEST_RETRY_AFTER_SECS`]); else the usual backoff.
        retry_after_secs: Option<u64>,
    },
    /// The relay refused the request (other 4xx) with a reason.
    #[error("the relay refused the request ({status}): {reason}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The relay's reason.
        reason: String,
    },
    /// The relay failed or is overloaded (5xx; 503 with `Retry-After` when it sheds load).
    #[error("{}", server_message(*status, reason, *retry_after_secs))]
    Server {
        /// HTTP status.
        status: u16,
        /// The relay's reason.
        reason: String,
        /// How long the relay asked to wait, when it did.
        retry_after_secs: Option<u64>,
    },
    /// The relay's answer could not be read.
    #[error("unreadable answer from the relay: {0}")]
    BadResponse(String),
    /// An answer that does not read as the relay's (an empty or cut body, garbage, a sign-in page
    /// not labelled as one): from something on the way as often as from the relay. The detail
    /// (the decoder's) is for the log; the volunteer is told the work is kept.
    #[error("{}", crate::NOT_FROM_THE_RELAY)]
    NotTheRelay(String),
    /// The request was redirected to another host: a Wi-Fi network's sign-in page (a captive
    /// portal), not a relay that moved. Names the host it leads to.
    #[error(
        "这个网络要求先登录（Wi-Fi 登录页面，{0}）才能连接中继；请先登录网络，再同步，工作已保存在手机上 / the network wants you to sign in to it first (it sent the phone to {0}, a Wi-Fi sign-in page?); sign in to the network, then sync again; your work is kept on this phone"
    )]
    SignInToNetwork(String),
    /// The relay's HTTPS certificate is not signed by a CA this device trusts (a relay with its
    /// own CA needs that CA given to the phone), or has expired or names another host. Not
    /// transient: retrying changes nothing until the phone is told the relay's CA.
    #[error(
        "中继的证书不受信任 / the relay's certificate is not trusted ({0}): if the relay uses its own CA, give that CA's certificate to the phone (command-line phone: --ca-cert FILE); your work is kept on this phone"
    )]
    Untrusted(String),
    /// The CA certificate given for the relay is not a PEM certificate.
    #[error(
        "根证书无法读取 / the relay's CA certificate is unusable: {0}; give a PEM file that starts with -----BEGIN CERTIFICATE-----"
    )]
    BadCaCertificate(String),
    /// The invite code typed is the one this phone joined with, and the relay says it was used
    /// (by this phone): nothing to join, and no new code to ask for; sync. Names the person.
    #[error(
        "这台手机已经用这个邀请码加入了（{name}），不需要新的邀请码，同步即可 / this phone already joined with this code, as {name}: no new code is needed, just sync"
    )]
    AlreadyJoined {
        /// The person's name, as this phone knows it (empty if it does not).
        name: String,
    },
    /// The local replica failed.
    #[error(transparent)]
    Replica(ReplicaError),
}

impl From<ReplicaError> for TransportError {
    fn from(error: ReplicaError) -> Self {
        match error {
            // A sync answer that did not decode is the transport's, as an unreadable join's is.
            ReplicaError::NotTheRelaysAnswer(detail) => TransportError::NotTheRelay(detail),
            other => TransportError::Replica(other),
        }
    }
}

/// The longest wait a relay's `Retry-After` is taken for (and shown as): a relay (or a box on
/// the way) asking for days does not keep a phone from syncing for days.
pub const LONGEST_RETRY_AFTER_SECS: u64 = 60 * 60;

/// "约 3 分钟后 / in about 3 minutes": when to sync again, bounded by
/// [`LONGEST_RETRY_AFTER_SECS`], or "later" when the relay said no time.
fn when_again(retry_after_secs: Option<u64>) -> (String, String) {
    match retry_after_secs.map(|s| s.min(LONGEST_RETRY_AFTER_SECS)) {
        None => ("稍后".to_owned(), "later".to_owned()),
        Some(s) if s < 90 => (format!("约 {s} 秒后"), format!("in about {s} s")),
        Some(s) => {
            let minutes = s.div_ceil(60);
            (format!("约 {minutes} 分钟后"), format!("in about {minutes} minutes"))
        }
    }
}

/// What a 429 says: the relay is busy, the work is kept, when to try again.
fn busy_message(retry_after_secs: Option<u64>) -> String {
    let (zh, en) = when_again(retry_after_secs);
    format!(
        "中继正忙，工作已保存在手机上，请{zh}再同步 / the relay is busy: your work is kept on this phone; sync again {en}"
    )
}

/// What a 5xx says: the relay has trouble (with its own reason, when it gave one in words),
/// the work is kept, when to try again.
fn server_message(status: u16, reason: &str, retry_after_secs: Option<u64>) -> String {
    let (zh, en) = when_again(retry_after_secs);
    let reason = if reason.is_empty() { String::new() } else { format!(": {reason}") };
    format!(
        "中继暂时出了问题（{status}），工作已保存在手机上，请{zh}再同步 / the relay is having trouble ({status}{reason}); your work is kept on this phone; sync again {en}"
    )
}

/// `POST /v1/join` body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JoinRequest {
    /// The code a coordinator gave.
    pub invite_code: String,
    /// A name for this device ("王芳's phone").
    pub device_name: String,
    /// The person's name, as coordinators will see it; the relay uses the device name if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The device's join key ([`Replica::join_key`]): a join sent again after its answer was lost
    /// gets the same person and device, with a new token, instead of "used already".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub join_key: Option<String>,
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
    /// Their name in their compound (absent from a relay that does not say it).
    #[serde(default)]
    pub name: Option<String>,
    /// The coordinators and admins of their compounds, by name: the people whose reviews and
    /// cancellations the phone shows (empty from a relay that does not say them).
    #[serde(default)]
    pub coordinators: Vec<NamedPerson>,
}

/// A person and their name, as the compound's members list has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedPerson {
    /// The person.
    pub person: PersonId,
    /// Their name ("王芳").
    pub name: String,
}

/// The relay's JSON error body.
#[derive(Debug, Clone, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    error: String,
    #[serde(default)]
    reason: String,
}

/// The relay's code for a 401 whose token was revoked (rather than unknown or malformed).
pub const TOKEN_REVOKED: &str = "token_revoked";

/// What to tell the user when this device was removed: "你已被移出 香樟苑 / removed from 香樟苑",
/// or its token revoked. The phone cannot tell a removal from a phone reported lost (a token
/// revoked while the person stays a member), so it names both.
pub fn removed_message(compounds: &[String]) -> String {
    if compounds.is_empty() {
        return "你已被移出小区，或这台手机已报失，本机上的小区数据已清除 / you were removed from your compound, or this phone was reported lost; its data was wiped from this device".to_owned();
    }
    let zh = compounds.join("、");
    let en = compounds.join(", ");
    format!(
        "你已被移出 {zh}，或这台手机已报失，本机上的数据已清除 / removed from {en}, or this phone was reported lost; its data was wiped from this device"
    )
}

/// A relay at a base URL, with this device's token.
#[derive(Debug, Clone)]
pub struct RelayClient {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    /// What the head of the last sync answer advised copies of (core `sync/document_copy.rs`,
    /// `COPY_ADVISED_HEADER`): read even when the body that follows is cut.
    copies_advised: Arc<Mutex<Vec<DocumentId>>>,
}

impl RelayClient {
    /// A client for the relay at `base` ("http://127.0.0.1:7700").
    pub fn new(base: &str, token: Option<String>) -> Result<Self, TransportError> {
        Self::build(base, token, reqwest::Client::builder(), Duration::from_secs(STALL_SECS))
    }

    /// [`RelayClient::new`] giving up on an answer after `stall` without a byte from the relay
    /// instead of [`STALL_SECS`] (a caller with a deadline of its own).
    pub fn with_stall_timeout(
        base: &str,
        token: Option<String>,
        stall: Duration,
    ) -> Result<Self, TransportError> {
        Self::build(base, token, reqwest::Client::builder(), stall)
    }

    /// A client for a relay at an `https://` `base` whose certificate is signed by the private
    /// CA in `ca_pem` (PEM), trusted besides the system's roots: a small deployment's own CA.
    #[cfg(feature = "tls")]
    pub fn with_root_certificate(
        base: &str,
        token: Option<String>,
        ca_pem: &[u8],
    ) -> Result<Self, TransportError> {
        let cas = reqwest::Certificate::from_pem_bundle(ca_pem)
            .map_err(|e| TransportError::BadCaCertificate(e.to_string()))?;
        if cas.is_empty() {
            return Err(TransportError::BadCaCertificate("no certificate in it".to_owned()));
        }
        Self::build(
            base,
            token,
            reqwest::Client::builder().tls_certs_merge(cas),
            Duration::from_secs(STALL_SECS),
        )
    }

    fn build(
        base: &str,
        token: Option<String>,
        builder: reqwest::ClientBuilder,
        stall: Duration,
    ) -> Result<Self, TransportError> {
        // rustls with the ring provider, the one the relay uses too; installing it twice is harmless.
        #[cfg(feature = "tls")]
        let _ = rustls::crypto::ring::default_provider().install_default();
        // No deadline for a whole answer shorter than a backstop: on a landing's 64 kbit/s a new
        // volunteer's first answer may take minutes, and is worth waiting for while it comes.
        let http = builder
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(stall)
            .timeout(Duration::from_secs(WHOLE_ANSWER_SECS))
            .build()
            .map_err(|e| TransportError::Network(e.to_string()))?;
        Ok(Self { http, base: base.trim_end_matches('/').to_owned(), token, copies_advised: Arc::default() })
    }

    /// The same relay with another token.
    pub fn with_token(&self, token: String) -> Self {
        Self { token: Some(token), ..self.clone() }
    }

    /// Turns an invite code into a device token.
    pub async fn join(
        &self,
        invite_code: &str,
        device_name: &str,
        name: Option<&str>,
        join_key: Option<&str>,
    ) -> Result<JoinResponse, TransportError> {
        let body = JoinRequest {
            invite_code: invite_code.to_owned(),
            device_name: device_name.to_owned(),
            name: name.map(str::to_owned),
            join_key: join_key.map(str::to_owned),
        };
        let request_id = answer_to::request_id(rand::random());
        let response = self
            .http
            .post(format!("{}/v1/join", self.base))
            .header("content-type", "application/json")
            .header(answer_to::REQUEST_HEADER, &request_id)
            .body(serde_json::to_vec(&body).map_err(|e| TransportError::BadResponse(e.to_string()))?)
            .send()
            .await
            .map_err(network)?;
        // A join answered for another request (another phone's, replayed) would sign this phone
        // in as that person; a relay older than request ids names none, which is taken.
        answer_to::judge(&request_id, named_request(response.headers()).as_deref())
            .map_err(|e| TransportError::NotTheRelay(e.to_string()))?;
        let bytes = checked(response).await?;
        serde_json::from_slice(&bytes).map_err(not_the_relay)
    }

    /// Who the token belongs to (`GET /v1/me`).
    pub async fn me(&self) -> Result<Me, TransportError> {
        let url = format!("{}/v1/me", self.base);
        let response = once_more_if_closed(|| self.get(&url)).await.map_err(network)?;
        let bytes = checked(response).await?;
        serde_json::from_slice(&bytes).map_err(not_the_relay)
    }

    /// Sends one sync request (compressed, when `body` is) and returns the answer.
    pub async fn exchange(&self, body: &SyncBody) -> Result<Exchanged, TransportError> {
        let (bytes, deflated) = match &body.deflated {
            Some(compressed) => (compressed, true),
            None => (&body.plain, false),
        };
        let sent = bytes.len();
        let (reply_budget, phone_clock, writer) =
            (body.reply_budget, body.phone_clock, body.writer.as_deref());
        // One copy of the body per attempt: reqwest takes it by value.
        // A sync request may be sent twice: the relay takes a change it already holds as a no-op.
        let mut started = std::time::Instant::now();
        let mut request_id = String::new();
        let response = once_more_if_closed(|| {
            started = std::time::Instant::now();
            request_id = answer_to::request_id(rand::random());
            self.post_sync(bytes.clone(), deflated, reply_budget, (phone_clock, writer), request_id.clone())
        })
        .await
        .map_err(network)?;
        self.answered(response, sent, started, request_id).await
    }

    /// A sync answer (to `POST /v1/sync`, or to the piece that completed a request in pieces):
    /// its head's advice kept, its body read.
    async fn answered(
        &self,
        response: reqwest::Response,
        sent: usize,
        started: std::time::Instant,
        request_id: String,
    ) -> Result<Exchanged, TransportError> {
        let answer_to = named_request(response.headers());
        *self.copies_advised.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = response
            .headers()
            .get(COPY_ADVISED_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(parse_advised)
            .unwrap_or_default();
        let relay_reads_deflate = response
            .headers()
            .get("accept-encoding")
            .and_then(|v| v.to_str().ok())
            .is_some_and(body_deflate::accepts_deflate);
        let relay_time = response
            .headers()
            .get(reqwest::header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(clock_header::read);
        let (answer, received) = read_answer(response).await?;
        Ok(Exchanged {
            answer,
            sent,
            received,
            relay_reads_deflate,
            took: started.elapsed(),
            relay_time,
            request_id,
            answer_to,
        })
    }

    /// How much of `request` the relay holds, or that it took it (`GET /v1/sync/pieces`).
    pub async fn pieces_held(&self, request: &RequestInPieces) -> Result<PiecesHeld, TransportError> {
        // Asked right after a cut piece, it may go out on a pooled connection the relay had just
        // closed.
        let response = once_more_if_closed(|| self.ask_held(request)).await.map_err(network)?;
        let bytes = checked(response).await?;
        plausible(&bytes, request)
    }

    async fn ask_held(&self, request: &RequestInPieces) -> Result<reqwest::Response, reqwest::Error> {
        let mut call = self.http.get(self.pieces_url(request, None));
        if let Some(token) = &self.token {
            call = call.bearer_auth(token);
        }
        call.send().await
    }

    /// `POST /v1/sync/pieces`: `request`'s bytes from byte `from` on, saying the phone's clock
    /// reads `phone_clock` and it writes under `writer` (when given). The relay keeps what arrives even when the link drops
    /// the rest.
    pub async fn send_pieces(
        &self,
        request: &RequestInPieces,
        from: usize,
        phone_clock: Option<Timestamp>,
        writer: Option<&str>,
    ) -> Result<PiecesSent, TransportError> {
        let piece = request.bytes.get(from..).unwrap_or_default().to_vec();
        let sent = piece.len();
        let mut call = self
            .http
            .post(self.pieces_url(request, Some(from)))
            .header("content-type", "application/octet-stream")
            .header("accept-encoding", DEFLATE)
            .body(piece);
        if let Some(budget) = request.reply_budget {
            call = call.header(REPLY_BUDGET_HEADER, budget.to_string());
        }
        if let Some(date) = phone_clock.and_then(clock_header::written) {
            call = call.header(reqwest::header::DATE, date);
        }
        if let Some(writer) = writer {
            call = call.header(writer_header::WRITER_HEADER, writer);
        }
        if let Some(token) = &self.token {
            call = call.bearer_auth(token);
        }
        let request_id = answer_to::request_id(rand::random());
        call = call.header(answer_to::REQUEST_HEADER, &request_id);
        let started = std::time::Instant::now();
        let response = match call.send().await {
            Err(e) if closed_before_answer(&e) => return Ok(PiecesSent::Cut(network(e).to_string())),
            sent => sent.map_err(network)?,
        };
        if response.status() == reqwest::StatusCode::ACCEPTED {
            let bytes = checked(response).await?;
            return Ok(PiecesSent::Held(plausible(&bytes, request)?));
        }
        Ok(PiecesSent::Answered(self.answered(response, sent, started, request_id).await?))
    }

    fn pieces_url(&self, request: &RequestInPieces, from: Option<usize>) -> String {
        // Hex digits and numbers: nothing to escape.
        let mut url =
            format!("{}{PIECES_PATH}?digest={}&total={}", self.base, request.digest, request.bytes.len());
        if request.deflated {
            url.push_str("&encoding=");
            url.push_str(DEFLATED);
        }
        if let Some(from) = from {
            url.push_str(&format!("&from={from}"));
        }
        url
    }

    /// The documents the head of the last sync answer advised copies of: the relay is ahead of
    /// this device on them by a change longer than the replies it asked for. Taken once.
    pub fn take_copies_advised(&self) -> Vec<DocumentId> {
        std::mem::take(&mut *self.copies_advised.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// `GET /v1/documents/{doc}/copy`, from the byte after what `so_far` holds when it is part
    /// of a copy (core's `sync/document_copy.rs`), up to the answer's head: its body is read as
    /// it comes, by [`fetch_copies`].
    ///
    /// `since`: the heads this device holds of the document, when it holds it; the relay then
    /// answers `204 No Content` (`Ok(None)`) when the changes lacked are fewer than a copy is
    /// worth.
    async fn copy(
        &self,
        doc: DocumentId,
        so_far: &PartialCopy,
        since: Option<&str>,
    ) -> Result<Option<reqwest::Response>, TransportError> {
        // Hex hashes, commas and numbers: nothing to escape.
        let mut query = Vec::new();
        if !so_far.heads.is_empty() {
            query.push(format!(
                "heads={}&from={}&digest={}",
                so_far.heads,
                so_far.bytes.len(),
                so_far.digest
            ));
        }
        if let Some(since) = since {
            query.push(format!("since={since}"));
        }
        let mut url = format!("{}/v1/documents/{doc}/copy", self.base);
        if !query.is_empty() {
            url.push('?');
            url.push_str(&query.join("&"));
        }
        // Sent once more on a new connection when a kept-alive one closed under it, as a sync is:
        // a box on the path that closes connections after an answer cut every copy off, and a
        // new volunteer whose first download was cut never got their tasks.
        let response = once_more_if_closed(|| self.get(&url)).await.map_err(network)?;
        if response.status() == reqwest::StatusCode::NO_CONTENT {
            return Ok(None);
        }
        if response.status().is_success() {
            return Ok(Some(response));
        }
        Err(read_answer(response)
            .await
            .err()
            .unwrap_or_else(|| TransportError::BadResponse("a refused copy read as an answer".into())))
    }

    /// `POST /v1/sync` with `body`, up to the answer's head.
    async fn post_sync(
        &self,
        body: Vec<u8>,
        deflated: bool,
        reply_budget: Option<usize>,
        (phone_clock, writer): (Option<Timestamp>, Option<&str>),
        request_id: String,
    ) -> Result<reqwest::Response, reqwest::Error> {
        let mut request = self
            .http
            .post(format!("{}/v1/sync", self.base))
            .header("content-type", "application/cbor")
            .header("accept-encoding", DEFLATE)
            .header(answer_to::REQUEST_HEADER, request_id)
            .body(body);
        if deflated {
            request = request.header("content-encoding", DEFLATE);
        }
        if let Some(budget) = reply_budget {
            request = request.header(REPLY_BUDGET_HEADER, budget.to_string());
        }
        if let Some(date) = phone_clock.and_then(clock_header::written) {
            request = request.header(reqwest::header::DATE, date);
        }
        if let Some(writer) = writer {
            request = request.header(writer_header::WRITER_HEADER, writer);
        }
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        request.send().await
    }

    /// Sends set-aside operations to the review inbox and asks after earlier ones
    /// (`POST /v1/set-aside`); returns the answer and the bytes sent and received.
    pub async fn set_aside(
        &self,
        exchange: &SetAsideExchange,
    ) -> Result<(SetAsideAnswer, usize, usize), TransportError> {
        let body = serde_json::to_vec(exchange).map_err(|e| TransportError::BadResponse(e.to_string()))?;
        let up = body.len();
        // Sent again is harmless: the inbox keeps one item per change (hash) and answers as before.
        let response =
            once_more_if_closed(|| self.post_json("set-aside", body.clone())).await.map_err(network)?;
        let bytes = checked(response).await?;
        let answer = serde_json::from_slice(&bytes).map_err(not_the_relay)?;
        Ok((answer, up, bytes.len()))
    }

    /// Says, with the revoked token, how much of this phone's work the relay never got as the
    /// phone wiped itself (`POST /v1/wiped`).
    pub async fn report_wipe(&self, report: WipeReport) -> Result<(), TransportError> {
        let body = serde_json::to_vec(&report).map_err(|e| TransportError::BadResponse(e.to_string()))?;
        let response =
            once_more_if_closed(|| self.post_json("wiped", body.clone())).await.map_err(network)?;
        checked(response).await?;
        Ok(())
    }

    /// `GET url` with this phone's token, up to the answer's head.
    fn get(&self, url: &str) -> impl Future<Output = Result<reqwest::Response, reqwest::Error>> + use<> {
        let mut request = self.http.get(url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        request.send()
    }

    /// `POST /v1/{path}` with a JSON `body` and this phone's token, up to the answer's head.
    fn post_json(
        &self,
        path: &str,
        body: Vec<u8>,
    ) -> impl Future<Output = Result<reqwest::Response, reqwest::Error>> + use<> {
        let mut request = self
            .http
            .post(format!("{}/v1/{path}", self.base))
            .header("content-type", "application/json")
            .body(body);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        request.send()
    }
}

/// Wipes this phone after the relay said its token was revoked, then tells the relay how much of
/// its work went with the wipe (the wipe stands whatever the answer; a report the link cut off is
/// kept and sent again by the next sync, [`send_pending_wipe_report`]), and returns the error to
/// give the caller.
async fn wipe_revoked(
    replica: &Mutex<Replica>,
    relay: &RelayClient,
) -> Result<TransportError, TransportError> {
    let compounds = {
        let mut replica = lock(replica);
        let unsent = u32::try_from(replica.work_the_relay_lacks()?).unwrap_or(u32::MAX);
        // Named by hash, so the relay leaves out what it holds after all (it took a sync whose
        // answer the link lost): counted, the volunteer was asked to record it again.
        let changes = replica.unsynced_change_hashes(doorstep_core::sync::MAX_WIPE_REPORT_CHANGES);
        if let Some(token) = &relay.token {
            let pending =
                crate::PendingWipeReport { relay: relay.base.clone(), token: token.clone(), unsent, changes };
            replica.keep_wipe_report(&pending)?;
        }
        replica.wipe_after_token_revoked()?
    };
    send_pending_wipe_report(replica, relay).await?;
    Ok(TransportError::Removed { compounds })
}

/// Sends the wipe's report this phone keeps, if any, through `relay` (a client with the revoked
/// token: [`PendingWipeReport`](crate::PendingWipeReport)), and forgets it once the relay has
/// answered, or has said it no longer knows the token. Whether it was heard.
pub async fn send_pending_wipe_report(
    replica: &Mutex<Replica>,
    relay: &RelayClient,
) -> Result<bool, TransportError> {
    let Some(pending) = lock(replica).pending_wipe_report()? else { return Ok(false) };
    let report = WipeReport { unsent: pending.unsent, changes: pending.changes.clone() };
    let mut heard = relay.report_wipe(report.clone()).await;
    // A relay older than the hashes refuses the field (4xx): it hears the bare count.
    if matches!(heard, Err(TransportError::Refused { .. })) && !report.changes.is_empty() {
        tracing::info!("the relay does not read the wiped changes' hashes; saying the bare count");
        heard = relay.report_wipe(report.bare()).await;
    }
    match heard {
        Ok(()) => {
            lock(replica).wipe_report_heard()?;
            Ok(true)
        }
        Err(
            e @ (TransportError::Network(_)
            | TransportError::RateLimited { .. }
            | TransportError::Server { .. }),
        ) => {
            tracing::warn!(error = %e, unsent = pending.unsent, "the relay was not told how much work went with the wipe; it is told at the next sync");
            Ok(false)
        }
        Err(e) => {
            tracing::warn!(error = %e, unsent = pending.unsent, "the relay refused the report of the work that went with the wipe; it is not sent again");
            lock(replica).wipe_report_heard()?;
            Ok(false)
        }
    }
}

/// A sync request's bytes as they go on the wire: compressed when the relay said it reads that
/// and compressing makes them smaller (core's `sync/body_deflate.rs`).
#[derive(Debug, Clone)]
pub struct SyncBody {
    plain: Vec<u8>,
    deflated: Option<Vec<u8>>,
    /// The most bytes each reply should carry (core `sync/reply_budget.rs`), if bounded.
    reply_budget: Option<usize>,
    /// What the phone's clock read when the request was made, said in its `Date` header.
    phone_clock: Option<Timestamp>,
    /// The actor the phone writes under, said in its `x-doorstep-writer` header (core
    /// `sync/writer_header.rs`).
    writer: Option<String>,
}

impl SyncBody {
    /// `plain`, compressed if `deflate` and that makes it smaller.
    pub fn new(plain: Vec<u8>, deflate: bool) -> Self {
        let deflated = if deflate { body_deflate::compress(&plain, Effort::Smallest) } else { None };
        Self { plain, deflated, reply_budget: None, phone_clock: None, writer: None }
    }

    /// The same request, asking for replies of at most `budget` bytes each (`None`: no bound).
    pub fn with_reply_budget(self, budget: Option<usize>) -> Self {
        Self { reply_budget: budget, ..self }
    }

    /// The same request saying the phone's clock reads `now` (its `Date` header), which the
    /// relay shows the coordinators beside the device when it is wrong.
    pub fn with_phone_clock(self, now: Timestamp) -> Self {
        Self { phone_clock: Some(now), ..self }
    }

    /// The same request saying the phone writes and wrote under `actors` (its current one
    /// first): the only actors the relay has not seen that it binds to this phone's person (a
    /// relay restored from an older backup must not bind another phone's new actor to whoever
    /// offers its work first).
    pub fn with_writers<'a>(self, actors: impl IntoIterator<Item = &'a automerge::ActorId>) -> Self {
        Self { writer: writer_header::written(actors), ..self }
    }

    /// Its bytes as they go on the wire.
    pub fn wire(&self) -> &[u8] {
        self.deflated.as_deref().unwrap_or(&self.plain)
    }

    /// Whether it goes compressed.
    pub fn is_deflated(&self) -> bool {
        self.deflated.is_some()
    }

    /// The same request uncompressed.
    pub fn uncompressed(self) -> Self {
        Self { deflated: None, ..self }
    }

    /// The request's own size, uncompressed.
    pub fn plain_len(&self) -> usize {
        self.plain.len()
    }
}

/// One sync request answered.
#[derive(Debug, Clone)]
pub struct Exchanged {
    /// The answer's bytes (inflated, when it came compressed).
    pub answer: Vec<u8>,
    /// The bytes the link carried up (compressed, when the request went so).
    pub sent: usize,
    /// The bytes the link carried down.
    pub received: usize,
    /// Whether the relay says it reads compressed requests (`Accept-Encoding: deflate`).
    pub relay_reads_deflate: bool,
    /// From the request's start to the answer's last byte.
    pub took: Duration,
    /// The relay's clock when it answered (its `Date` header, to the second), if it said.
    pub relay_time: Option<Timestamp>,
    /// The id the request went with (core's `sync/answer_to.rs`).
    pub request_id: String,
    /// The request the answer says it answers, if it names one.
    pub answer_to: Option<String>,
}

/// What a piece of a request in pieces brought back.
#[derive(Debug, Clone)]
pub enum PiecesSent {
    /// The request is not whole yet: the relay holds so much of it (or took it earlier).
    Held(PiecesHeld),
    /// The piece completed the request, and this is the sync's answer.
    Answered(Exchanged),
    /// The connection closed (or was reset) with the piece on its way and no answer: the link
    /// dropped it, or the relay's early answer (its 408 at its body deadline) reached the phone
    /// as a reset while the piece was still being written. The relay kept what came.
    Cut(String),
}

/// The most an answer may be, as it comes or inflated: more than any answer of the relay's, far
/// less than would take the phone's memory.
const ANSWER_INFLATED_BYTES: usize = 256 * 1024 * 1024;

/// Seconds without a byte from the relay after which a request is given up: until the answer
/// starts (the relay gives up on its own work at 30 s, with 408), then between its reads.
pub const STALL_SECS: u64 = 60;

/// Seconds a whole exchange may take, however steadily its answer comes: a backstop against a
/// relay that trickles forever. A new volunteer's first answer of a few megabytes takes minutes
/// on a landing's 64 kbit/s.
const WHOLE_ANSWER_SECS: u64 = 15 * 60;

/// The request an answer says it answers (core's `sync/answer_to.rs`), if it names one.
fn named_request(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers.get(answer_to::ANSWER_TO_HEADER).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// Says what went wrong on the way and, since every caller keeps its work, that nothing is lost.
fn network(e: reqwest::Error) -> TransportError {
    if let Some(reason) = untrusted_certificate(&e) {
        return TransportError::Untrusted(reason);
    }
    let kept = "your work is kept on this phone and syncs next time / 工作已保存在手机上，下次同步";
    TransportError::Network(if e.is_timeout() {
        format!(
            "the relay stopped answering: nothing came for {STALL_SECS} s, or the answer took over {} minutes (timed out; 中继无响应，已超时) — {kept}",
            WHOLE_ANSWER_SECS / 60
        )
    } else if e.is_connect() {
        format!("no connection ({e}; 无法连接) — {kept}")
    } else if e.is_body() || e.is_decode() {
        // The relay was reached and began its answer; the signal went before the end of it
        // (was "error decoding response body", which read as the relay's fault).
        format!("the signal dropped while the relay's answer was coming ({e}; 信号中断，答复未收完) — {kept}")
    } else {
        format!("{e} — {kept}")
    })
}

/// Sends with `send`, and once more when a kept-alive connection closed as the request went out,
/// before any answer: by the relay (an older one counted its idle timeout from its last write,
/// while a long answer was still crossing a landing's link; or it had just closed the connection
/// under a cut piece) or by a box on the way. The link itself is up, so the same request goes
/// again, once, on a new connection.
async fn once_more_if_closed<F, Fut>(mut send: F) -> Result<reqwest::Response, reqwest::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<reqwest::Response, reqwest::Error>>,
{
    match send().await {
        Err(e) if closed_before_answer(&e) => {
            tracing::info!(error = %e, "the connection closed before the relay answered; sending the request again");
            send().await
        }
        sent => sent,
    }
}

/// Whether `e` says an open connection closed (or was reset) after the request went out and
/// before any answer came: not a connection that could not be made, nor a timeout.
fn closed_before_answer(e: &reqwest::Error) -> bool {
    if e.is_timeout() || e.is_connect() || e.is_status() || e.is_body() || e.is_decode() {
        return false;
    }
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(error) = current {
        if error.downcast_ref::<hyper::Error>().is_some_and(hyper::Error::is_incomplete_message) {
            return true;
        }
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset};
            return matches!(io.kind(), ConnectionReset | ConnectionAborted | BrokenPipe);
        }
        current = error.source();
    }
    false
}

/// The certificate problem behind `e`, when the TLS handshake refused the relay's certificate.
#[cfg(feature = "tls")]
fn untrusted_certificate(e: &reqwest::Error) -> Option<String> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(error) = current {
        if let Some(tls @ rustls::Error::InvalidCertificate(_)) = error.downcast_ref::<rustls::Error>() {
            return Some(tls.to_string());
        }
        // An `io::Error` hides the error it wraps from `source()` (here an `io::Error` around an
        // `io::Error` around rustls' error): step into it instead.
        current = match error.downcast_ref::<std::io::Error>().and_then(std::io::Error::get_ref) {
            Some(wrapped) => Some(wrapped),
            None => error.source(),
        };
    }
    None
}

/// Without TLS there is no certificate to refuse.
#[cfg(not(feature = "tls"))]
fn untrusted_certificate(_: &reqwest::Error) -> Option<String> {
    None
}

/// A JSON answer that did not decode: not the relay's (see [`TransportError::NotTheRelay`]).
fn not_the_relay(e: serde_json::Error) -> TransportError {
    tracing::info!(error = %e, "an answer did not decode as the relay's");
    TransportError::NotTheRelay(e.to_string())
}

async fn checked(response: reqwest::Response) -> Result<Vec<u8>, TransportError> {
    Ok(read_answer(response).await?.0)
}

/// The answer's bytes (inflated when it came with `Content-Encoding: deflate`) and how many
/// the link carried, or the relay's refusal.
async fn read_answer(response: reqwest::Response) -> Result<(Vec<u8>, usize), TransportError> {
    let status = response.status().as_u16();
    let deflated = response
        .headers()
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(DEFLATE));
    let retry_after = retry_after_secs(response.headers());
    // Where a redirect leads, resolved against the address asked (a `Location` may be relative).
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(|to| response.url().join(to).map_or_else(|_| to.to_owned(), String::from));
    // The host a redirect leads to, when it is not the relay's.
    let other_host = location
        .as_deref()
        .and_then(|to| reqwest::Url::parse(to).ok())
        .and_then(|to| to.host_str().map(str::to_owned))
        .filter(|to| Some(to.as_str()) != response.url().host_str());
    // The relay answers CBOR or JSON, never a web page: a page is from something on the way (a
    // Wi-Fi sign-in page that took the request), and reading it as an answer would say "malformed".
    let web_page = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/html"));
    if web_page && status < 300 {
        return Err(TransportError::BadResponse(
            "the answer is a web page, not the relay's: the network may want you to sign in first (a Wi-Fi login page); sign in, then sync again — your work is kept on this phone / 收到的是网页而不是中继的回应，可能需要先登录网络；工作已保存在手机上".to_owned(),
        ));
    }
    let bytes = body_within(response, ANSWER_INFLATED_BYTES).await?;
    let received = bytes.len();
    let bytes = if deflated {
        body_deflate::inflate(&bytes, ANSWER_INFLATED_BYTES)
            .map_err(|e| TransportError::BadResponse(format!("a compressed answer: {e}")))?
    } else {
        bytes
    };
    if status < 300 {
        return Ok((bytes, received));
    }
    let (code, reason) = serde_json::from_slice::<ErrorBody>(&bytes)
        .map(|b| (b.error, b.reason))
        .unwrap_or_else(|_| (String::new(), words_of(&bytes)));
    // A redirect to another host is a network's sign-in page (a captive portal), not a relay
    // that moved: the relay's address must not be set to it.
    if let (300..=399, Some(host)) = (status, other_host) {
        return Err(TransportError::SignInToNetwork(host));
    }
    Err(match status {
        // Redirects are not followed (the token would not go with them across origins, and a
        // POST would turn into a GET): the phone says where the address leads instead, on the
        // same host (an http:// address of an https:// relay).
        300..=399 => TransportError::Refused {
            status,
            reason: format!(
                "the relay's address redirects to {}; set the relay address to where it leads (an http:// address of an https:// relay?) / 中继地址被重定向，请改用新地址",
                location.as_deref().unwrap_or("another address")
            ),
        },
        401 if code == TOKEN_REVOKED => TransportError::Removed { compounds: Vec::new() },
        401 => TransportError::Unauthorized(reason),
        403 => TransportError::Forbidden(reason),
        429 => TransportError::RateLimited { retry_after_secs: retry_after },
        400..=499 => TransportError::Refused { status, reason },
        _ => TransportError::Server { status, reason, retry_after_secs: retry_after },
    })
}

/// The wait a `Retry-After` asks for, in seconds (given as seconds, or as an HTTP date read
/// against the answer's own `Date`), at most [`LONGEST_RETRY_AFTER_SECS`]; `None` for one that
/// is negative or not a time, which gets the usual backoff.
fn retry_after_secs(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    let text = |name| headers.get(name).and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok());
    let asked = text(reqwest::header::RETRY_AFTER)?.trim();
    let secs = asked.parse::<u64>().ok().or_else(|| {
        let until = clock_header::read(asked)?;
        let now = clock_header::read(text(reqwest::header::DATE)?)?;
        u64::try_from(until.as_millis().saturating_sub(now.as_millis()) / 1000).ok()
    })?;
    Some(secs.min(LONGEST_RETRY_AFTER_SECS))
}

/// The words of an error body that is not the relay's JSON, to show: plain text, one line, at
/// most 200 characters; nothing of a web page or of bytes that are not text.
fn words_of(body: &[u8]) -> String {
    let Ok(text) = std::str::from_utf8(body) else { return String::new() };
    if text.contains('<') || text.chars().any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t') {
        return String::new();
    }
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() > 200 { line.chars().take(200).chain("…".chars()).collect() } else { line }
}

/// What the relay says it holds of `request`, if that can be so: never more than its length.
fn plausible(answer: &[u8], request: &RequestInPieces) -> Result<PiecesHeld, TransportError> {
    let held: PiecesHeld = serde_json::from_slice(answer).map_err(not_the_relay)?;
    if held.held > request.bytes.len() {
        return Err(TransportError::BadResponse(format!(
            "the relay says it holds {} bytes of a request of {}; your work is kept on this phone",
            held.held,
            request.bytes.len()
        )));
    }
    Ok(held)
}

/// The answer's body, if it is at most `limit` bytes: refused from its declared length, or as
/// soon as more than that arrives, so a broken or hostile relay cannot take the phone's memory.
async fn body_within(mut response: reqwest::Response, limit: usize) -> Result<Vec<u8>, TransportError> {
    let too_large = || {
        TransportError::BadResponse(format!(
            "the relay's answer is longer than the {limit} bytes a phone reads; your work is kept on this phone"
        ))
    };
    let declared = response.content_length().map(|n| usize::try_from(n).unwrap_or(usize::MAX));
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(declared.unwrap_or(0));
    while let Some(chunk) = response.chunk().await.map_err(network)? {
        if bytes.len() + chunk.len() > limit {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// Syncs `replica` with the relay until neither side has anything to say, retrying what is
/// transient with the default [`RetryPolicy`]. `clock` gives the device time for the sync record.
/// On a network failure part-way, whatever arrived is kept and the next call carries on from
/// there. When the relay says this device's token was revoked, every compound is wiped from the
/// replica first and [`TransportError::Removed`] names them.
pub async fn sync(
    replica: &Mutex<Replica>,
    relay: &RelayClient,
    clock: impl Fn() -> Timestamp,
) -> Result<SyncReport, TransportError> {
    sync_with(replica, relay, clock, &RetryPolicy::default()).await
}

/// [`sync`] with a chosen retry policy, then the exchange with the review inbox
/// ([`exchange_set_aside`]) when something is set aside. A busy relay (503 or 429, honouring `Retry-After`; 408),
/// or a document refused transiently (storage busy, a document at its size
/// limit) is tried again after a backoff with jitter, up to `policy.attempts` more times.
/// Nothing transient is ever set aside: what did not go up stays unsynced on the phone, and the
/// report's `retrying` says why.
pub async fn sync_with(
    replica: &Mutex<Replica>,
    relay: &RelayClient,
    clock: impl Fn() -> Timestamp,
    policy: &RetryPolicy,
) -> Result<SyncReport, TransportError> {
    // Marked under way in the file until it returns: one the app does not live to end is taken
    // by the next as a request the link dropped (`sync_unfinished.rs`).
    lock(replica).sync_begins()?;
    let synced = sync_and_exchange(replica, relay, &clock, policy).await;
    lock(replica).sync_returned()?;
    synced
}

/// [`sync_with`]'s work, between its marks.
async fn sync_and_exchange(
    replica: &Mutex<Replica>,
    relay: &RelayClient,
    clock: &impl Fn() -> Timestamp,
    policy: &RetryPolicy,
) -> Result<SyncReport, TransportError> {
    let mut report = sync_documents(replica, relay, clock, policy).await.map_err(|e| unknown(replica, e))?;
    exchange_set_aside(replica, relay, clock(), &mut report).await?;
    Ok(report)
}

/// `error`, after remembering a 401 `unauthorized` (the relay does not know this token) on the
/// replica: the next join may then go ahead with unsynced work, which it sets aside for review.
fn unknown(replica: &Mutex<Replica>, error: TransportError) -> TransportError {
    match &error {
        TransportError::Unauthorized(_) => match lock(replica).note_sign_in_unknown() {
            Ok(()) => error,
            Err(e) => e.into(),
        },
        _ => error,
    }
}

/// How a failure of the review-inbox exchange starts in [`SyncReport::failed`](crate::SyncReport).
pub const REVIEW_INBOX: &str = "review inbox";

/// Sends what is set aside and not sent yet to the relay's review inbox, and learns what
/// coordinators decided about what was sent before: one request, made only when something is
/// set aside (a phone with nothing set aside makes none). A failure of this exchange leaves the
/// items as they were for the next sync and is reported in `failed`; only a revoked token is an
/// error, as for the sync itself.
pub async fn exchange_set_aside(
    replica: &Mutex<Replica>,
    relay: &RelayClient,
    now: Timestamp,
    report: &mut SyncReport,
) -> Result<(), TransportError> {
    let exchange = lock(replica).set_aside_exchange()?;
    if exchange.is_empty() {
        lock(replica).let_go_of_left_compounds(now)?;
        return Ok(());
    }
    let sent = exchange.items.len();
    report.requests += 1;
    match relay.set_aside(&exchange).await {
        Ok((answer, up, down)) => {
            report.bytes_up += up;
            report.bytes_down += down;
            report.set_aside_sent +=
                answer.received.iter().filter(|id| exchange.items.iter().any(|i| &i.id == *id)).count();
            let mut replica = lock(replica);
            let learned = replica.record_set_aside_answer(&answer)?;
            report.set_aside_decided += learned.decided;
            report.set_aside_synced += learned.synced;
            replica.let_go_of_left_compounds(now)?;
            Ok(())
        }
        Err(TransportError::Removed { .. }) => Err(wipe_revoked(replica, relay).await?),
        Err(e) => {
            tracing::warn!(error = %e, items = sent, "set-aside items not sent to the review inbox; kept for the next sync");
            if matches!(e, TransportError::Network(_)) {
                lock(replica).link_dropped()?;
            }
            report.failed.push(format!("{REVIEW_INBOX}: {e}"));
            Ok(())
        }
    }
}

/// Syncs the documents, retrying what is transient.
async fn sync_documents(
    replica: &Mutex<Replica>,
    relay: &RelayClient,
    clock: &impl Fn() -> Timestamp,
    policy: &RetryPolicy,
) -> Result<SyncReport, TransportError> {
    let mut total = SyncReport::default();
    let mut attempt = 0;
    loop {
        let (wait, error) = match sync_once(replica, relay, clock).await {
            Ok((report, deferred)) => {
                total.add(report);
                if !deferred {
                    return Ok(total);
                }
                (None, None)
            }
            Err(e) => match retry_after(&e) {
                Some(asked) => (asked, Some(e)),
                None => return Err(e),
            },
        };
        if attempt >= policy.attempts {
            return match error {
                Some(e) => Err(e),
                None => Ok(total),
            };
        }
        let Some(delay) = policy.delay(attempt, wait) else {
            // The relay asked for a longer wait than this sync may take: stop now; the changes
            // stay unsynced on the phone for the next sync.
            return match error {
                Some(e) => Err(e),
                None => Ok(total),
            };
        };
        tracing::info!(
            attempt,
            delay_ms = delay.as_millis() as u64,
            "relay busy; syncing again after a wait"
        );
        tokio::time::sleep(delay).await;
        attempt += 1;
        total.retries += 1;
    }
}

/// What [`fetch_copies`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopiesFetched {
    /// Requests made.
    pub requests: u32,
    /// Bytes of copies received.
    pub bytes_down: usize,
    /// Documents taken whole from their copy.
    pub adopted: Vec<DocumentId>,
    /// Documents held whose copy was merged into them.
    pub merged: Vec<DocumentId>,
    /// Documents the relay gave no copy of: left to the sync.
    pub refused: Vec<DocumentId>,
    /// Documents held whose copy the relay declined, the changes lacked being fewer: left to
    /// the sync.
    pub declined: Vec<DocumentId>,
}

impl CopiesFetched {
    /// Counts the copies in a sync's report: their requests and bytes, the documents taken
    /// among those fetched, the ones merged among those changed.
    pub fn count_in(&self, report: &mut SyncReport) {
        report.requests += self.requests;
        report.bytes_down += self.bytes_down;
        for doc in &self.adopted {
            if !report.fetched.contains(doc) {
                report.fetched.push(*doc);
            }
        }
        report.changed.extend(&self.merged);
    }

    /// Whether a sync run should follow: a document taken or merged has changes since, or
    /// some document is left to the sync.
    pub fn sync_follows(&self) -> bool {
        !(self.adopted.is_empty()
            && self.merged.is_empty()
            && self.refused.is_empty()
            && self.declined.is_empty())
    }
}

/// New bytes of a copy kept in the replica's file at least this often as they arrive (and
/// whatever arrived when the link drops): a kill loses no more.
const COPY_KEPT_EVERY: usize = 4 * 1024;

/// Fetches the documents this device holds nothing of, or is far behind on, as copies, each
/// from where the last window of signal left it (core's `sync/document_copy.rs`); a phone whose
/// link drops requests calls it. Every byte that arrives is kept, and a complete copy is taken as
/// the document or merged into it. A document the relay will not give (no longer the caller's,
/// removed) or declines (the changes lacked are fewer) is left to the sync. Stops at the first
/// error of the link, with what arrived kept and the next requests carrying less, as after a
/// sync request the link dropped. An answer from byte 0 (the relay serves another copy now)
/// starts the copy over.
pub async fn fetch_copies(
    replica: &Mutex<Replica>,
    relay: &RelayClient,
) -> Result<CopiesFetched, TransportError> {
    let fetched = fetch_each_copy(replica, relay).await;
    if let Err(TransportError::Network(_)) = &fetched {
        let mut held = lock(replica);
        let mut run = held.start_sync();
        run.request_failed(&mut held)?;
    }
    fetched
}

/// [`fetch_copies`], up to the first error.
async fn fetch_each_copy(
    replica: &Mutex<Replica>,
    relay: &RelayClient,
) -> Result<CopiesFetched, TransportError> {
    let mut done = CopiesFetched::default();
    let wanted = {
        let held = lock(replica);
        let mut wanted = held.documents_lacking();
        wanted.extend(held.documents_behind());
        wanted
    };
    for doc in wanted {
        let (mut copy, since) = {
            let held = lock(replica);
            (held.copy_so_far(doc)?.unwrap_or_default(), held.held_heads(doc))
        };
        done.requests += 1;
        let mut response = match relay.copy(doc, &copy, since.as_deref()).await {
            Ok(Some(response)) => response,
            Ok(None) => {
                tracing::debug!(doc = %doc, "the relay declined a copy: the changes lacked are fewer");
                lock(replica).copy_declined(doc)?;
                done.declined.push(doc);
                continue;
            }
            Err(e @ (TransportError::Refused { .. } | TransportError::Forbidden(_))) => {
                // A relay older than copies, or a document no longer the caller's: the sync
                // takes it as before, and says why.
                tracing::info!(doc = %doc, error = %e, "no copy of the document; the sync fetches it");
                lock(replica).copy_refused(doc);
                done.refused.push(doc);
                continue;
            }
            Err(e) => return Err(e),
        };
        let header = |name: &str| {
            response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned).unwrap_or_default()
        };
        let (heads, digest) = (header(COPY_HEADS_HEADER), header(COPY_DIGEST_HEADER));
        let (total, from) =
            (header(COPY_BYTES_HEADER).parse::<usize>(), header(COPY_FROM_HEADER).parse::<usize>());
        let (Ok(total), Ok(from)) = (total, from) else {
            return Err(TransportError::BadResponse(format!("the copy of {doc} came without its length")));
        };
        // No document the relay holds saves to more: a larger claim is not taken onto the disk.
        if total > limits::DOCUMENT_INFLATED_BYTES {
            return Err(TransportError::BadResponse(format!(
                "the copy of {doc} says it is {total} bytes, more than any document ({} at most)",
                limits::DOCUMENT_INFLATED_BYTES
            )));
        }
        if from == 0 || from != copy.bytes.len() || digest != copy.digest {
            copy = PartialCopy { heads, digest, total, bytes: Vec::new() };
            lock(replica).start_copy(doc, &copy)?;
        }
        let mut kept = copy.bytes.len();
        let read = loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    done.bytes_down += chunk.len();
                    copy.bytes.extend_from_slice(&chunk);
                    if copy.bytes.len() > copy.total {
                        break Err(TransportError::BadResponse(format!(
                            "the copy of {doc} is longer than it said"
                        )));
                    }
                    if copy.bytes.len() - kept >= COPY_KEPT_EVERY && !copy.is_complete() {
                        lock(replica).keep_copy_from(doc, &copy, kept)?;
                        kept = copy.bytes.len();
                    }
                }
                Ok(None) => break Ok(()),
                Err(e) => break Err(network(e)),
            }
        };
        if let Err(e) = read {
            lock(replica).keep_copy_from(doc, &copy, kept)?;
            return Err(e);
        }
        if !copy.is_complete() {
            lock(replica).keep_copy_from(doc, &copy, kept)?;
            return Err(TransportError::Network(format!("the copy of {doc} ended early")));
        }
        if lock(replica).adopt_copy(doc, &copy)? {
            if since.is_some() { done.merged.push(doc) } else { done.adopted.push(doc) }
        }
    }
    Ok(done)
}

/// One sync: a run of requests until quiescent, and on a link that drops requests, the copies
/// of the documents held nothing of yet or far behind the relay (the run leaves them out), then
/// another run for the changes since those copies and for the documents the relay gave no copy
/// of. Returns the report and whether some document was refused
/// transiently and waits for another sync.
async fn sync_once(
    replica: &Mutex<Replica>,
    relay: &RelayClient,
    clock: &impl Fn() -> Timestamp,
) -> Result<(SyncReport, bool), TransportError> {
    let (report, deferred) = sync_run(replica, relay, clock).await?;
    let (report, deferred) = recover_damaged_copies(replica, relay, clock, report, deferred).await?;
    let mut report = report;
    if !lock(replica).wants_copies() {
        return completed(replica, clock, report, deferred);
    }
    let fetched = match fetch_copies(replica, relay).await {
        Ok(fetched) => fetched,
        Err(TransportError::Removed { .. }) => return Err(wipe_revoked(replica, relay).await?),
        Err(e) => return Err(e),
    };
    fetched.count_in(&mut report);
    if !fetched.sync_follows() {
        return completed(replica, clock, report, deferred);
    }
    let (since, deferred_since) = sync_run(replica, relay, clock).await?;
    report.add(since);
    completed(replica, clock, report, deferred || deferred_since)
}

/// A sync that got through every step: its time is recorded as the last sync. Only then: a
/// sync cut off while it fetched a new round whole had already recorded its first run, and the
/// phone said "last sync just now" with the round missing.
fn completed(
    replica: &Mutex<Replica>,
    clock: &impl Fn() -> Timestamp,
    report: SyncReport,
    deferred: bool,
) -> Result<(SyncReport, bool), TransportError> {
    lock(replica).record_sync(clock(), &report)?;
    Ok((report, deferred))
}

/// After a run that fetched again a document whose stored copy did not load: its journaled
/// operations carried out again on the relay's copy (`damaged_copy.rs`), and a run that sends them.
async fn recover_damaged_copies(
    replica: &Mutex<Replica>,
    relay: &RelayClient,
    clock: &impl Fn() -> Timestamp,
    mut report: SyncReport,
    deferred: bool,
) -> Result<(SyncReport, bool), TransportError> {
    if lock(replica).damaged_documents().is_empty() {
        return Ok((report, deferred));
    }
    let done = lock(replica).carry_out_damaged_copies_again(clock())?;
    report.recovered += done.reapplied;
    report.set_aside += done.set_aside;
    if done.reapplied == 0 {
        return Ok((report, deferred));
    }
    let (since, deferred_since) = sync_run(replica, relay, clock).await?;
    report.add(since);
    Ok((report, deferred || deferred_since))
}

/// One sync run: requests until quiescent. Returns the report and whether some document was
/// refused transiently and waits for another run.
async fn sync_run(
    replica: &Mutex<Replica>,
    relay: &RelayClient,
    clock: &impl Fn() -> Timestamp,
) -> Result<(SyncReport, bool), TransportError> {
    let mut run = {
        let mut held = lock(replica);
        let mut run = held.start_sync();
        run.merge_many_heads(&mut held)?;
        run
    };
    match finish_earlier_request(replica, relay, &mut run, clock()).await {
        Ok(Some(answer)) => {
            handle_answer(&mut run, &mut lock(replica), &answer, clock())?;
        }
        Ok(None) => {}
        Err(e) => return Err(not_carried(replica, relay, &mut run, e, true).await?),
    }
    loop {
        let Some(body) = run.next_request(&lock(replica)) else { break };
        let reply_budget = run.reply_budget();
        let deflate = lock(replica).sends_compressed_requests();
        let writers: Vec<automerge::ActorId> = lock(replica).own_actors().cloned().collect();
        let body = SyncBody::new(body, deflate)
            .with_reply_budget(reply_budget)
            .with_phone_clock(clock())
            .with_writers(&writers);
        let mut answer = match send_request(replica, relay, &mut run, &body).await {
            Ok(Some(answer)) => Ok(answer),
            Ok(None) => continue,
            Err(Unsent { error, in_pieces: true }) => {
                return Err(not_carried(replica, relay, &mut run, error, true).await?);
            }
            Err(Unsent { error, in_pieces: false }) => Err(error),
        };
        if body.is_deflated() && matches!(&answer, Err(TransportError::Refused { status: 400 | 415, .. })) {
            // A relay rolled back to one that does not read compressed requests: the same
            // request uncompressed, and none compressed until an answer says so again.
            tracing::info!("the relay did not read a compressed request; sending it uncompressed");
            lock(replica).learn_relay_reads_deflate(false)?;
            let body = body.uncompressed();
            run.sent_again(body.plain_len());
            answer = relay.exchange(&body).await;
        }
        if let Err(TransportError::Refused { status: 400, .. }) = &answer {
            let plain = run.plain_again(&mut lock(replica))?;
            if let Some(plain) = plain {
                let deflate = lock(replica).sends_compressed_requests();
                let plain = SyncBody::new(plain, deflate)
                    .with_reply_budget(reply_budget)
                    .with_phone_clock(clock())
                    .with_writers(&writers);
                answer = relay.exchange(&plain).await;
            }
        }
        let answer = match answer {
            Ok(answer) => answer,
            Err(e) => return Err(not_carried(replica, relay, &mut run, e, false).await?),
        };
        handle_answer(&mut run, &mut lock(replica), &answer, clock())?;
    }
    let deferred = run.has_deferred();
    Ok((run.finish(&mut lock(replica))?, deferred))
}

/// A request that was not answered.
#[derive(Debug)]
pub struct Unsent {
    /// Why.
    pub error: TransportError,
    /// It went in pieces: the relay kept what the link carried of it, and the replica keeps it
    /// to send the rest ([`SyncRun::piece_cut`] rather than [`SyncRun::request_failed`]).
    pub in_pieces: bool,
}

/// Sends `body`, the request `run` built last: in pieces when it is long for the link
/// (`request_in_pieces.rs`), kept in the replica's file until the relay took it; else whole.
/// `Ok(None)`: the relay took these very bytes earlier, and there is no answer to handle.
pub async fn send_request(
    replica: &Mutex<Replica>,
    relay: &RelayClient,
    run: &mut SyncRun,
    body: &SyncBody,
) -> Result<Option<Exchanged>, Unsent> {
    let reply_budget = body.reply_budget;
    let in_pieces = lock(replica).sends_in_pieces(body.wire().len(), reply_budget.is_some());
    if in_pieces {
        let request = RequestInPieces::new(
            body.wire().to_vec(),
            body.is_deflated(),
            reply_budget,
            run.carried_by_last_request(),
        );
        let unsent = |error| Unsent { error, in_pieces: true };
        lock(replica).keep_request_in_pieces(request.clone()).map_err(|e| unsent(e.into()))?;
        match send_in_pieces(relay, &request, Some(0), body.phone_clock, body.writer.as_deref()).await {
            Ok(InPieces::Answered(answer)) => {
                lock(replica).forget_request_in_pieces().map_err(|e| unsent(e.into()))?;
                return Ok(Some(answer));
            }
            Ok(InPieces::Taken) => {
                // The same bytes were taken before (a request made again after its answer was
                // lost): nothing of them to send.
                lock(replica).forget_request_in_pieces().map_err(|e| unsent(e.into()))?;
                run.relay_took_earlier_request();
                return Ok(None);
            }
            Ok(InPieces::NotTaken) => lock(replica).let_go_of_pieces(false).map_err(|e| unsent(e.into()))?,
            Ok(InPieces::Unsupported) => {
                lock(replica).let_go_of_pieces(true).map_err(|e| unsent(e.into()))?
            }
            Err(error) => return Err(unsent(error)),
        }
    }
    relay.exchange(body).await.map(Some).map_err(|error| Unsent { error, in_pieces: false })
}

/// Before a run's first request: the rest of the request an earlier run began sending in
/// pieces, if there is one. `Ok(Some(answer))`: its answer, for `run` to handle as its own;
/// `Ok(None)`: nothing to handle (none kept; the relay took it and its answer was lost, so the
/// run's first messages ask before they carry changes; or the relay would not take it in
/// pieces, and its work goes whole in the run's requests). An error leaves it kept.
pub async fn finish_earlier_request(
    replica: &Mutex<Replica>,
    relay: &RelayClient,
    run: &mut SyncRun,
    now: Timestamp,
) -> Result<Option<Exchanged>, TransportError> {
    let Some(request) = lock(replica).request_in_pieces().cloned() else { return Ok(None) };
    let writer = writer_header::written(lock(replica).own_actors());
    match send_in_pieces(relay, &request, None, Some(now), writer.as_deref()).await? {
        InPieces::Answered(answer) => {
            lock(replica).forget_request_in_pieces()?;
            run.sends_earlier_request(&request);
            Ok(Some(answer))
        }
        InPieces::Taken => {
            lock(replica).forget_request_in_pieces()?;
            run.relay_took_earlier_request();
            Ok(None)
        }
        InPieces::NotTaken => {
            lock(replica).let_go_of_pieces(false)?;
            Ok(None)
        }
        InPieces::Unsupported => {
            lock(replica).let_go_of_pieces(true)?;
            Ok(None)
        }
    }
}

/// Applies a sync answer to `run` and the replica: its replies, what the link carried and how
/// fast, and whether the relay reads compressed requests. An answer that names another request
/// than the one sent (core's `sync/answer_to.rs`) is not applied: it is not the relay's answer ([`ReplicaError::NotTheRelaysAnswer`]), and the
/// phone's work stays as it was for the next sync.
pub fn handle_answer(
    run: &mut SyncRun,
    replica: &mut Replica,
    answer: &Exchanged,
    now: Timestamp,
) -> Result<(), ReplicaError> {
    answer_to::judge(&answer.request_id, answer.answer_to.as_deref()).map_err(|e| {
        tracing::warn!(error = %e, "a sync answer for another request; not applied");
        ReplicaError::NotTheRelaysAnswer(e.to_string())
    })?;
    if let Some(relay_time) = answer.relay_time {
        run.heard_relay_clock(relay_time, now);
    }
    run.handle_response(replica, &answer.answer, now)?;
    run.carried_on_the_wire(answer.sent, answer.received, answer.took);
    replica.learn_relay_reads_deflate(answer.relay_reads_deflate)
}

/// What became of a request sent in pieces.
#[derive(Debug, Clone)]
enum InPieces {
    /// The piece that completed it brought the sync's answer.
    Answered(Exchanged),
    /// The relay took it earlier; its answer was lost.
    Taken,
    /// The relay refused it as a request in pieces: send its work whole.
    NotTaken,
    /// The relay takes no requests in pieces (older than them).
    Unsupported,
}

/// Sends `request` in pieces from byte `from` (when known; else it asks the relay how much it
/// holds), saying the phone's clock reads `phone_clock` and it writes under `writer`. An error is the link's or the relay's,
/// with `request` kept for the next window.
async fn send_in_pieces(
    relay: &RelayClient,
    request: &RequestInPieces,
    from: Option<usize>,
    phone_clock: Option<Timestamp>,
    writer: Option<&str>,
) -> Result<InPieces, TransportError> {
    let mut from = from;
    // After a piece the link or the relay cut (the relay stops waiting for a body at its request
    // timeout, and a slow link may take longer than that for a long request) the rest goes at
    // once, from what the relay holds, for as long as each piece carries more of it; a link
    // that is gone fails that at once.
    let mut last_start = None;
    let mut without_progress = 0;
    loop {
        let start = match from {
            Some(start) => start,
            None => match relay.pieces_held(request).await {
                Ok(held) if held.taken => return Ok(InPieces::Taken),
                Ok(held) => held.held,
                Err(TransportError::Refused { status: 404 | 405, .. }) => return Ok(InPieces::Unsupported),
                Err(e) => return Err(e),
            },
        };
        // A status asked right after a cut can come before the relay has read the cut piece's
        // last bytes (it notices the cut when the phone does): the same bytes then go again,
        // and are skipped. Three such sends in a row end the sync.
        if last_start.is_some_and(|last| start <= last) {
            without_progress += 1;
        } else {
            without_progress = 0;
        }
        if without_progress >= 3 {
            return Err(TransportError::Network(format!(
                "the link cut the request {without_progress} times in a row without carrying more of it; the relay keeps its first {start} bytes for the next sync"
            )));
        }
        last_start = Some(start);
        match relay.send_pieces(request, start, phone_clock, writer).await {
            Ok(PiecesSent::Answered(answer)) => return Ok(InPieces::Answered(answer)),
            Ok(PiecesSent::Held(held)) if held.taken => return Ok(InPieces::Taken),
            Ok(PiecesSent::Held(held)) => from = Some(held.held),
            // 409: the relay holds another count than asked; 408: it stopped waiting for the
            // piece and kept what came. Either way, ask it.
            Err(TransportError::Refused { status: 408 | 409, .. }) => from = None,
            // No answer: the relay kept what came; ask it, on a new connection. A link that is
            // gone fails that ask at once, and the sync ends with its error.
            Ok(PiecesSent::Cut(reason)) => {
                tracing::info!(%reason, "a piece went unanswered; asking the relay what it holds");
                from = None;
            }
            Err(TransportError::Refused { status: 404 | 405, .. }) => return Ok(InPieces::Unsupported),
            Err(TransportError::Server { status: 503, retry_after_secs: None, reason }) => {
                // The relay holds as many requests in part as it keeps (or its storage failed):
                // this one goes whole.
                tracing::info!(%reason, "the relay holds no more requests in pieces; sending it whole");
                return Ok(InPieces::NotTaken);
            }
            Err(TransportError::Refused { status, reason }) => {
                tracing::info!(status, %reason, "the relay did not take the request in pieces; sending it whole");
                return Ok(InPieces::NotTaken);
            }
            Err(e) => return Err(e),
        }
    }
}

/// The error a sync run ends with when a request was not answered, after what it teaches: a
/// revoked token wipes the compounds; a link that did not carry the request (no answer, or the
/// relay gave up reading it, 408) makes the next ones carry less (unless it went in pieces, of
/// which the relay kept what came) and a document whose reply was too long for it come as a
/// copy.
async fn not_carried(
    replica: &Mutex<Replica>,
    relay: &RelayClient,
    run: &mut SyncRun,
    error: TransportError,
    in_pieces: bool,
) -> Result<TransportError, TransportError> {
    match error {
        TransportError::Removed { .. } => wipe_revoked(replica, relay).await,
        e @ (TransportError::Network(_) | TransportError::Refused { status: 408, .. }) => {
            let mut held = lock(replica);
            if in_pieces {
                run.piece_cut(&mut held)?;
            } else {
                run.request_failed(&mut held)?;
            }
            held.copies_advised(&relay.take_copies_advised())?;
            Ok(e)
        }
        other => Ok(other),
    }
}

/// How long a failed exchange asks to wait before trying again, or `None` if trying again now
/// would not help: a refusal, a revoked token, or no connection at all (a phone in a stairwell
/// keeps working offline and syncs when the app next tries; spinning here would only drain the
/// battery).
fn retry_after(error: &TransportError) -> Option<Option<Duration>> {
    match error {
        TransportError::RateLimited { retry_after_secs } => Some(retry_after_secs.map(Duration::from_secs)),
        TransportError::Server { retry_after_secs, .. } => Some(retry_after_secs.map(Duration::from_secs)),
        TransportError::Refused { status: 408, .. } => Some(None),
        _ => None,
    }
}

/// Joins with an invite code: gets a token and records the person on the replica. The caller
/// keeps the token (in the platform's secure storage).
pub async fn join(
    replica: &Mutex<Replica>,
    relay: &RelayClient,
    invite_code: &str,
    device_name: &str,
) -> Result<JoinResponse, TransportError> {
    join_as(replica, relay, invite_code, device_name, None).await
}

/// [`join`], naming the person as coordinators will see them (else the relay uses the device
/// name).
pub async fn join_as(
    replica: &Mutex<Replica>,
    relay: &RelayClient,
    invite_code: &str,
    device_name: &str,
    name: Option<&str>,
) -> Result<JoinResponse, TransportError> {
    // A hand-over that cannot happen yet must not spend the invite. The code this phone joined
    // with, typed again, goes with the key it went with: the relay answers with the same person.
    let (key, joined_before) = {
        let mut replica = lock(replica);
        match replica.joined_with(invite_code)? {
            Some(key) => (key, replica.identity().is_some()),
            None => {
                replica.check_hand_over()?;
                (replica.join_key()?, false)
            }
        }
    };
    let joined = match relay.join(invite_code, device_name, name, Some(&key)).await {
        // "Used already": by this phone, which is joined and only has to sync.
        Err(TransportError::Refused { status: 409, .. }) if joined_before => {
            let name = lock(replica).person_name()?.unwrap_or_default();
            return Err(TransportError::AlreadyJoined { name });
        }
        other => other?,
    };
    let mut replica = lock(replica);
    replica.remember_joined_with(invite_code, &key)?;
    replica.set_identity(joined.person)?;
    replica.forget_join_key()?;
    Ok(joined)
}

/// Signs this device in with a device token it already has (a demo token, or one moved from
/// another device), recording the person on the replica. A token the relay does not know is
/// taken as this phone's sign-in lost ([`Replica::note_sign_in_unknown`]) only when it is the
/// one the phone signed in with ([`Replica::is_own_sign_in`]); any other (mistyped, cut short)
/// is answered [`TransportError::Unauthorized`] with the phone left as it was. Likewise a revoked
/// token wipes the phone only when it is the phone's own; another is
/// [`TransportError::RevokedTokenTyped`], the phone untouched.
pub async fn sign_in(replica: &Mutex<Replica>, relay: &RelayClient) -> Result<Me, TransportError> {
    let own = lock(replica).is_own_sign_in(&relay.base, relay.token.as_deref().unwrap_or_default())?;
    let me = match relay.me().await {
        // This device's own token revoked: it is not to hold the compound, whatever it holds now.
        Err(TransportError::Removed { .. }) if own => return Err(wipe_revoked(replica, relay).await?),
        // Another phone's revoked token, typed here: what this phone holds is not its to wipe.
        Err(TransportError::Removed { .. }) => return Err(TransportError::RevokedTokenTyped),
        Err(e @ TransportError::Unauthorized(_)) if !own => return Err(e),
        other => other.map_err(|e| unknown(replica, e))?,
    };
    lock(replica).set_identity(me.person)?;
    Ok(me)
}

fn lock(replica: &Mutex<Replica>) -> std::sync::MutexGuard<'_, Replica> {
    // A panic while holding the lock cannot leave the replica half-written: every write is one
    // SQLite transaction, so the data behind a poisoned lock is still consistent.
    replica.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
