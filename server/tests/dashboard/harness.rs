//! A relay in this process on 127.0.0.1:0 with a tempfile SQLite database, whose state the test
//! keeps (to look at its live streams), and a browser-like client: a session cookie taken from
//! `Set-Cookie` and sent back, real HTTP.

use std::sync::Arc;
use std::time::Duration;

use doorstep_core::Role;
use doorstep_core::id::CompoundId;
use doorstep_server::relay::Relay;
use doorstep_server::storage::sqlite::SqliteStorage;
use doorstep_server::{AppState, Config, Limits};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::relay_harness::{Phone, TestRelay};

/// The 857-household sample ledger of 北林 (UTF-8 with BOM, Chinese headers).
pub const BEILIN: &[u8] = include_bytes!("../../../data/beilin-roster.csv");

/// The relay's six-household roster from the relay tests.
pub use crate::relay_harness::ROSTER_CSV;

/// A relay whose state the test holds.
#[derive(Debug)]
pub struct Dash {
    /// The relay's state, shared with the server.
    pub state: AppState,
    /// The relay seen as the relay tests see one (admin token, invites, phones).
    pub relay: TestRelay,
    /// A client.
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
    _dir: TempDir,
}

/// A response, read.
#[derive(Debug)]
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: reqwest::header::HeaderMap,
    /// The body, as bytes.
    pub bytes: Vec<u8>,
}

impl Answer {
    /// The body as JSON (a string value if it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&self.bytes).into_owned()))
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> String {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
    }
}

async fn read(res: reqwest::Response) -> Answer {
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.bytes().await.unwrap().to_vec();
    Answer { status, headers, bytes }
}

impl Dash {
    /// A relay on a new database; a generous rate limit, since one test makes many requests.
    pub async fn start() -> Self {
        Self::start_with(Config::default()).await
    }

    /// A relay on a new database with `config`, its request rate made generous as in [`Dash::start`].
    pub async fn start_with(config: Config) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let storage = SqliteStorage::open(dir.path().join("relay.db")).await.unwrap();
        Self::start_on(Arc::new(storage), dir, config).await
    }

    /// A relay on a new database with `config` as given, its per-token request rate included.
    pub async fn start_at_its_rate(config: Config) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let storage = SqliteStorage::open(dir.path().join("relay.db")).await.unwrap();
        Self::start_as_given(Arc::new(storage), dir, config).await
    }

    /// A relay on `storage` (a PostgreSQL database, say) with `config`, its request rate made
    /// generous; `dir` lives as long.
    pub async fn start_on(
        storage: Arc<dyn doorstep_server::storage::Storage>,
        dir: TempDir,
        config: Config,
    ) -> Self {
        let config = Config {
            limits: Limits { rate_per_second: 1000.0, rate_burst: 1000.0, ..config.limits },
            ..config
        };
        Self::start_as_given(storage, dir, config).await
    }

    async fn start_as_given(
        storage: Arc<dyn doorstep_server::storage::Storage>,
        dir: TempDir,
        config: Config,
    ) -> Self {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
        let opened = Relay::open(storage).await.unwrap();
        let state = AppState::new(opened.relay, config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(doorstep_server::run(listener, state.clone(), async move {
            let _ = stopped.await;
        }));
        let mut relay = TestRelay::external(&url);
        // None on a database opened before ([`Dash::restart`] keeps the first one's).
        relay.admin_token = opened.admin_token.unwrap_or_default();
        Self { state, relay, http: reqwest::Client::new(), stop: Some(stop), task: Some(task), _dir: dir }
    }

    /// Stops this relay and starts another with `config` on the same database file, keeping the
    /// admin token.
    pub async fn restart(mut self, config: Config) -> Self {
        self.stop().await;
        let dir = std::mem::replace(&mut self._dir, tempfile::tempdir().unwrap());
        let storage = SqliteStorage::open(dir.path().join("relay.db")).await.unwrap();
        let mut restarted = Self::start_on(Arc::new(storage), dir, config).await;
        restarted.relay.admin_token = self.relay.admin_token.clone();
        restarted
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.relay.url
    }

    /// Shuts the relay down gracefully and waits for it; fails if that takes over 5 seconds.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .expect("graceful shutdown finished")
                .unwrap()
                .unwrap();
        }
    }

    /// A new compound with the six-household roster, and a coordinator's phone (not synced).
    pub async fn small_compound(&self) -> (CompoundId, Phone) {
        let compound = self.relay.create_compound("香樟苑").await;
        let report = self.relay.import_roster(compound, ROSTER_CSV).await;
        assert_eq!(report["imported"], 6, "{report}");
        let coordinator = self.relay.phone(compound, Role::Coordinator, "王芳").await;
        (compound, coordinator)
    }

    /// A volunteer's invite code for `compound`, made with the admin token.
    pub async fn volunteer_invite(&self, compound: CompoundId) -> String {
        let (status, invite) = self
            .relay
            .json(
                "POST",
                &format!("/v1/compounds/{compound}/invites"),
                &self.relay.admin_token,
                Some(json!({ "role": "volunteer" })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{invite}");
        invite["code"].as_str().unwrap().to_owned()
    }

    /// `POST /dashboard/login`.
    pub async fn login_raw(&self, token: &str) -> Answer {
        let res = self
            .http
            .post(format!("{}/dashboard/login", self.url()))
            .header(CONTENT_TYPE, "application/json")
            .body(json!({ "token": token }).to_string())
            .send()
            .await
            .unwrap();
        read(res).await
    }

    /// Signs in; fails unless that works.
    pub async fn login(&self, token: &str) -> Session {
        let answer = self.login_raw(token).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
        let set = answer.header(SET_COOKIE.as_str());
        let cookie = set.split(';').next().unwrap().to_owned();
        assert!(cookie.starts_with("doorstep_session=dss_"), "{set}");
        Session { url: self.url().to_owned(), http: self.http.clone(), cookie }
    }

    /// A session with no cookie at all.
    pub fn anonymous(&self) -> Session {
        Session { url: self.url().to_owned(), http: self.http.clone(), cookie: String::new() }
    }
}

/// The wall clock as a phone's replica reads it.
pub fn now() -> doorstep_core::Timestamp {
    let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
    doorstep_core::Timestamp::from_millis(i64::try_from(ms).unwrap())
}

impl Drop for Dash {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A browser signed in to the dashboard.
#[derive(Debug, Clone)]
pub struct Session {
    url: String,
    http: reqwest::Client,
    /// `doorstep_session=…`.
    pub cookie: String,
}

impl Session {
    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let req = self.http.request(method, format!("{}{path}", self.url));
        if self.cookie.is_empty() { req } else { req.header(COOKIE, &self.cookie) }
    }

    /// A GET.
    pub async fn get(&self, path: &str) -> Answer {
        read(self.request(reqwest::Method::GET, path).send().await.unwrap()).await
    }

    /// A GET that must answer 200 with JSON.
    pub async fn get_json(&self, path: &str) -> Value {
        let answer = self.get(path).await;
        assert_eq!(answer.status, StatusCode::OK, "GET {path}: {}", answer.text());
        answer.json()
    }

    /// A POST of JSON.
    pub async fn post_json(&self, path: &str, body: &Value) -> Answer {
        let req = self.request(reqwest::Method::POST, path).header(CONTENT_TYPE, "application/json");
        read(req.body(body.to_string()).send().await.unwrap()).await
    }

    /// A POST of bytes with a content type.
    pub async fn post_bytes(&self, path: &str, content_type: &str, body: Vec<u8>) -> Answer {
        let req = self.request(reqwest::Method::POST, path).header(CONTENT_TYPE, content_type);
        read(req.body(body).send().await.unwrap()).await
    }

    /// `POST …/operations`; returns the answer.
    pub async fn operate(&self, compound: CompoundId, op: &Value) -> Answer {
        self.post_json(&format!("/dashboard/api/compounds/{compound}/operations"), op).await
    }

    /// An open stream request (headers read, body not yet).
    pub async fn open(&self, path: &str) -> reqwest::Response {
        self.request(reqwest::Method::GET, path).send().await.unwrap()
    }
}

/// Reads server-sent events from a streaming response.
#[derive(Debug)]
pub struct EventReader {
    response: reqwest::Response,
    buffer: String,
}

/// One event: its type and data (`comment` for a comment line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sse {
    /// `changed`, `resync`, `ended`, or `comment`.
    pub event: String,
    /// The data line(s).
    pub data: String,
}

impl EventReader {
    /// Reads the stream of `response`, which must be an event stream.
    pub fn new(response: reqwest::Response) -> Self {
        assert_eq!(response.status(), StatusCode::OK);
        let ct = response.headers()[CONTENT_TYPE].to_str().unwrap().to_owned();
        assert!(ct.starts_with("text/event-stream"), "{ct}");
        Self { response, buffer: String::new() }
    }

    /// The next event, or `None` if none arrives within `wait` (or the stream ends).
    pub async fn next(&mut self, wait: Duration) -> Option<Sse> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = Sse { event: "message".into(), data: String::new() };
                for line in block.lines() {
                    if let Some(comment) = line.strip_prefix(':') {
                        event = Sse { event: "comment".into(), data: comment.trim().to_owned() };
                    } else if let Some(name) = line.strip_prefix("event:") {
                        event.event = name.trim().to_owned();
                    } else if let Some(data) = line.strip_prefix("data:") {
                        event.data.push_str(data.trim());
                    }
                }
                return Some(event);
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk()).await.ok()?.ok()??;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// The next `changed` event's data within `wait`, skipping comments.
    pub async fn next_change(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let event = self.next(left).await?;
            if event.event == "changed" {
                return Some(serde_json::from_str(&event.data).unwrap());
            }
        }
    }
}
