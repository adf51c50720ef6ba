//! A relay on 127.0.0.1:0 with a tempfile SQLite database, and phones that sync with it over
//! real HTTP using core's `ClientSession`, exactly as an app would.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use automerge::ActorId;
use doorstep_core::document::{Document, Header};
use doorstep_core::id::{CompoundId, DocumentId, PersonId};
use doorstep_core::sync::{
    ClientSession, DocMessage, DocumentGrant, PeerState, Rejection, SyncRequest, SyncResponse, WIRE_VERSION,
};
use doorstep_core::{Actor, Applied, Compound, Env, Operation, OperationError, Role, Timestamp};
use doorstep_server::relay::Relay;
use doorstep_server::storage::sqlite::SqliteStorage;
use doorstep_server::{AppState, Config};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Six households in two buildings, as a coordinator's spreadsheet exports them.
pub const ROSTER_CSV: &str = "\u{feff}小区,楼号,单元,楼层,房号,户主,联系电话,户内人数,60岁以上人数,6岁以下儿童,重点人群,管控状态,有无电梯,备注
香樟苑,1号楼,1单元,1,101,管建强,19901919478,2,1,0,,正常,无,
香樟苑,1号楼,1单元,2,201,任强,19911257346,2,0,0,独居老人,正常,无,
香樟苑,1号楼,1单元,3,301,温秀红,19983483719,2,1,0,,居家隔离,无,
香樟苑,2号楼,1单元,1,101,柴菊凤,19914546421,3,1,0,,正常,无,
香樟苑,2号楼,1单元,2,201,李四,19914546422,1,1,0,透析,正常,无,
香樟苑,2号楼,2单元,1,101,张三,19914546423,4,0,1,,正常,无,
";

/// [`ROSTER_CSV`] as a coordinator's workbook holds it: a 填表说明 sheet first, then the roster
/// on sheet 名册 under a title row, so that its header is sheet row 2 and the CSV's line N is
/// sheet row N + 1; `extra` rows (CSV lines without the line break) follow the households.
pub fn roster_workbook(extra: &[&str]) -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let help = book.add_worksheet().set_name("填表说明").unwrap();
    help.write_string(0, 0, "每户一行；楼号、房号、户主必填").unwrap();
    let roster = book.add_worksheet().set_name("名册").unwrap();
    roster.write_string(0, 0, "香樟苑住户台账").unwrap();
    let lines = ROSTER_CSV.trim_start_matches('\u{feff}').lines().chain(extra.iter().copied());
    for (i, line) in lines.enumerate() {
        let row = u32::try_from(i + 1).unwrap();
        for (c, cell) in line.split(',').enumerate() {
            if !cell.is_empty() {
                roster.write_string(row, u16::try_from(c).unwrap(), cell).unwrap();
            }
        }
    }
    book.save_to_buffer().unwrap()
}

/// A plain HTTP client. The `doorstep` binary's tests share this harness, and with its `tls`
/// feature this process's reqwest is built with rustls and no provider of its own (the replica's
/// `rustls-no-provider`), which panics on building a client until a provider is installed: the
/// ring provider, the one the replica and the relay use. Installing it twice is harmless.
pub fn http_client() -> reqwest::Client {
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// A relay running in this process.
#[derive(Debug)]
pub struct TestRelay {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The district admin's token.
    pub admin_token: String,
    /// Keeps the database directory alive.
    pub dir: Arc<TempDir>,
    /// A client.
    pub http: reqwest::Client,
    /// The running relay's state, for tests that drive its internals (eviction, compaction)
    /// beside its HTTP traffic; `None` for an external relay.
    pub state: Option<AppState>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestRelay {
    /// A relay on a new database.
    pub async fn start() -> Self {
        Self::start_with(Config::default()).await
    }

    /// A relay on a new database with this configuration.
    pub async fn start_with(config: Config) -> Self {
        // Logs go to the test's captured output; RUST_LOG=debug shows the relay's view.
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
        let dir = Arc::new(tempfile::tempdir().unwrap());
        let (relay, token) = Self::open(&dir, config).await;
        relay.with_token(token.expect("a new database creates the admin"))
    }

    async fn open(dir: &Arc<TempDir>, config: Config) -> (Self, Option<String>) {
        let db = dir.path().join("relay.db");
        let storage = SqliteStorage::open(&db).await.unwrap();
        Self::serve(Arc::new(storage), dir, config).await
    }

    /// A relay on the PostgreSQL database at `url`, which other relays may share; the admin
    /// token is set only if this relay was the database's first.
    pub async fn start_on(url: &str, config: Config) -> Self {
        let storage = doorstep_server::storage::open(url).await.unwrap();
        let dir = Arc::new(tempfile::tempdir().unwrap());
        let (relay, token) = Self::serve(storage, &dir, config).await;
        relay.with_token(token.unwrap_or_default())
    }

    async fn serve(
        storage: Arc<dyn doorstep_server::storage::Storage>,
        dir: &Arc<TempDir>,
        config: Config,
    ) -> (Self, Option<String>) {
        let opened = Relay::open(storage).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let state = AppState::new(opened.relay, config);
        let task = tokio::spawn(doorstep_server::run(listener, state.clone(), async move {
            let _ = stopped.await;
        }));
        let relay = Self {
            url,
            admin_token: String::new(),
            dir: Arc::clone(dir),
            http: http_client(),
            state: Some(state),
            stop: Some(stop),
            task: Some(task),
        };
        (relay, opened.admin_token)
    }

    /// A handle on a relay running elsewhere (the real binary); `stop` and `restart` do nothing
    /// to it.
    pub fn external(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            admin_token: String::new(),
            dir: Arc::new(tempfile::tempdir().unwrap()),
            http: http_client(),
            state: None,
            stop: None,
            task: None,
        }
    }

    fn with_token(mut self, token: String) -> Self {
        self.admin_token = token;
        self
    }

    /// Shuts the relay down gracefully and starts a new one on the same database.
    pub async fn restart(mut self) -> Self {
        let admin_token = std::mem::take(&mut self.admin_token);
        let dir = Arc::clone(&self.dir);
        self.stop().await;
        let (relay, token) = Self::open(&dir, Config::default()).await;
        assert!(token.is_none(), "a restart must not create a second admin");
        relay.with_token(admin_token)
    }

    /// Shuts the relay down and waits for it.
    pub async fn stop(&mut self) {
        self.state = None;
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }

    /// A JSON request with a token; returns status and body.
    pub async fn json(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req =
            self.http.request(method.parse().unwrap(), format!("{}{path}", self.url)).bearer_auth(token);
        if let Some(body) = body {
            req = req.header("content-type", "application/json").body(body.to_string());
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// Creates a compound as the admin. Tests name compounds freely (several "香樟苑" on one
    /// relay), so it says another is meant (`"again": true`).
    pub async fn create_compound(&self, name: &str) -> CompoundId {
        let (status, body) = self
            .json("POST", "/v1/compounds", &self.admin_token, Some(json!({"name": name, "again": true})))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_str().unwrap().parse().unwrap()
    }

    /// Imports a roster CSV as the admin.
    pub async fn import_roster(&self, compound: CompoundId, csv: &str) -> Value {
        let res = self
            .http
            .post(format!("{}/v1/compounds/{compound}/roster", self.url))
            .bearer_auth(&self.admin_token)
            .header("content-type", "text/csv")
            .body(csv.to_owned())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        res.json_value().await.unwrap()
    }

    /// Makes an invite as `token`'s person.
    pub async fn invite(&self, token: &str, compound: CompoundId, role: Role) -> String {
        let (status, body) = self
            .json(
                "POST",
                &format!("/v1/compounds/{compound}/invites"),
                token,
                Some(json!({"role": role.as_str()})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["code"].as_str().unwrap().to_owned()
    }

    /// Redeems an invite.
    pub async fn join(&self, code: &str, name: &str) -> (StatusCode, Value) {
        let res = self
            .http
            .post(format!("{}/v1/join", self.url))
            .json_body(&json!({"invite_code": code, "device_name": format!("{name}'s phone"), "name": name}))
            .send()
            .await
            .unwrap();
        let status = res.status();
        (status, res.json_value().await.unwrap())
    }

    /// A new member's phone: invited by the admin, joined, not yet synced.
    pub async fn phone(&self, compound: CompoundId, role: Role, name: &str) -> Phone {
        let code = self.invite(&self.admin_token, compound, role).await;
        let (status, joined) = self.join(&code, name).await;
        assert_eq!(status, StatusCode::OK, "{joined}");
        Phone::new(joined["token"].as_str().unwrap(), joined["person"].as_str().unwrap().parse().unwrap())
    }

    /// POSTs raw bytes to `/v1/sync`.
    pub async fn sync_raw(
        &self,
        token: Option<&str>,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> reqwest::Response {
        let mut req = self.http.post(format!("{}/v1/sync", self.url)).body(body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        req.send().await.unwrap()
    }

    /// POSTs a sync request and decodes the response, which must be a 200.
    pub async fn sync(&self, token: &str, request: &SyncRequest) -> SyncResponse {
        let res = self.sync_raw(Some(token), Some("application/cbor"), request.encode()).await;
        let status = res.status();
        let bytes = res.bytes().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&bytes));
        SyncResponse::decode(&bytes).unwrap()
    }

    /// A sync request body sent as a phone whose link dropped requests sends it: asking for
    /// replies of at most `budget` bytes. The response, unread.
    pub async fn sync_with_reply_budget(
        &self,
        token: &str,
        body: Vec<u8>,
        budget: usize,
    ) -> reqwest::Response {
        self.http
            .post(format!("{}/v1/sync", self.url))
            .bearer_auth(token)
            .header("content-type", "application/cbor")
            .header(doorstep_core::sync::reply_budget::REPLY_BUDGET_HEADER, budget.to_string())
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// Signs in to the dashboard with a device token; the `Cookie` header value of the session.
    pub async fn dashboard_cookie(&self, token: &str) -> String {
        let login = self
            .http
            .post(format!("{}/dashboard/login", self.url))
            .header("content-type", "application/json")
            .body(json!({"token": token}).to_string())
            .send()
            .await
            .unwrap();
        let set_cookie = login.headers().get("set-cookie").expect("a session").to_str().unwrap();
        set_cookie.split(';').next().unwrap().to_owned()
    }

    /// A dashboard API GET with a session cookie; the JSON answer, which must be a 200.
    pub async fn dashboard_get(&self, cookie: &str, path: &str) -> Value {
        let res = self.http.get(format!("{}{path}", self.url)).header("cookie", cookie).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        res.json_value().await.unwrap()
    }

    /// The metrics text.
    pub async fn metrics(&self) -> String {
        self.http.get(format!("{}/metrics", self.url)).send().await.unwrap().text().await.unwrap()
    }
}

/// The device clock of a phone in the test: the real time (the relay refuses times far from
/// its own).
/// `n` CJK characters drawn at random, which no compression shrinks: notes that grow a document
/// by what they hold.
pub fn noise(n: usize) -> String {
    (0..n).map(|_| char::from_u32(0x4E00 + rand::random::<u32>() % 20_000).unwrap_or('字')).collect()
}

pub fn device_now() -> Timestamp {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    Timestamp::from_millis(millis)
}

/// A sync run started on a phone's replica and its first request, built as the app builds it
/// (the replica locked only while building).
pub fn first_request(
    replica: &std::sync::Mutex<doorstep_replica::Replica>,
) -> (doorstep_replica::SyncRun, Vec<u8>) {
    let guard = replica.lock().unwrap();
    let mut run = guard.start_sync();
    let body = run.next_request(&guard).unwrap();
    (run, body)
}

/// `RequestBuilder::json` needs reqwest's `json` feature; this sends the same bytes.
pub trait JsonBody {
    /// Sets a JSON body.
    fn json_body(self, value: &Value) -> Self;
}

impl JsonBody for reqwest::RequestBuilder {
    fn json_body(self, value: &Value) -> Self {
        self.header("content-type", "application/json").body(value.to_string())
    }
}

/// Extension: parse a JSON response body without reqwest's `json` feature.
pub trait JsonResponse {
    /// The body as JSON.
    fn json_value(self) -> impl Future<Output = reqwest::Result<Value>>;
}

impl JsonResponse for reqwest::Response {
    async fn json_value(self) -> reqwest::Result<Value> {
        let text = self.text().await?;
        Ok(serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }
}

/// What one full sync (until the session has nothing more to say) did.
#[derive(Debug, Default)]
pub struct Synced {
    /// HTTP requests made.
    pub requests: u32,
    /// Rejections received.
    pub rejected: Vec<Rejection>,
    /// Documents the caller may hold after the last response: its list, or the kept one it
    /// said is unchanged.
    pub granted: Vec<Header>,
    /// Responses that carried the list of documents (the others said it is unchanged).
    pub document_lists: u32,
    /// The slowest request.
    pub slowest: Duration,
    /// Every request's round trip.
    pub durations: Vec<Duration>,
}

/// A phone: its token, its device actor, the compounds it holds and its sync states.
#[derive(Debug)]
pub struct Phone {
    /// Device token.
    pub token: String,
    /// The person.
    pub person: PersonId,
    /// The device's Automerge actor.
    pub device: ActorId,
    /// Compounds held.
    pub compounds: BTreeMap<CompoundId, Compound>,
    /// Roles, from the relay's grants.
    pub roles: BTreeMap<CompoundId, Role>,
    /// Sync states persisted between sessions.
    pub states: BTreeMap<DocumentId, PeerState>,
    /// Rounds made here that the relay has not granted back yet; never dropped.
    pub unacknowledged: BTreeSet<DocumentId>,
    /// The document list last applied, kept between sessions as a replica keeps it.
    pub known_grants: Option<Vec<DocumentGrant>>,
    clock: i64,
}

impl Phone {
    /// A phone with a new device actor.
    pub fn new(token: &str, person: PersonId) -> Self {
        Self {
            token: token.to_owned(),
            person,
            device: ActorId::random(),
            compounds: BTreeMap::new(),
            roles: BTreeMap::new(),
            states: BTreeMap::new(),
            unacknowledged: BTreeSet::new(),
            known_grants: None,
            // The relay refuses times far from its own clock, so the phone's clock starts at the
            // real time and moves a minute per operation.
            clock: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        }
    }

    /// Syncs until the session has nothing more to say (at most 8 requests).
    pub async fn sync(&mut self, relay: &TestRelay) -> Synced {
        let out = self.sync_up_to(relay, 8).await;
        assert!(out.requests < 8, "sync did not settle after 8 requests");
        out
    }

    /// A sync session starting from what this phone persisted between sessions.
    pub fn session(&self) -> ClientSession {
        ClientSession::new(self.states.clone()).with_known_grants(self.known_grants.clone())
    }

    /// Syncs for at most `max` requests (a phone whose change is rejected keeps offering it).
    pub async fn sync_up_to(&mut self, relay: &TestRelay, max: u32) -> Synced {
        let mut session = self.session();
        // As a replica does before its first request (core's `sync/heads_merge.rs`).
        session.merge_many_heads(&mut self.compounds);
        let mut out = Synced::default();
        while let Some(request) = session.request(&self.compounds) {
            if out.requests >= max {
                break;
            }
            let started = Instant::now();
            let response = relay.sync(&self.token, &request).await;
            out.slowest = out.slowest.max(started.elapsed());
            out.durations.push(started.elapsed());
            out.requests += 1;
            let outcome = session.handle(&mut self.compounds, response);
            assert!(outcome.failed.is_empty(), "replies not applied: {:?}", outcome.failed);
            for grant in &outcome.grants {
                self.roles.insert(grant.header.compound, grant.role);
                self.unacknowledged.remove(&grant.header.id);
            }
            for header in &outcome.to_fetch {
                let device = self.device.clone();
                self.compounds
                    .entry(header.compound)
                    .or_insert_with(|| Compound::new(header.compound, device.clone()))
                    .insert(Document::placeholder(*header, device));
            }
            for id in &outcome.to_drop {
                if self.unacknowledged.contains(id) {
                    continue;
                }
                for compound in self.compounds.values_mut() {
                    compound.remove(*id);
                }
            }
            self.compounds.retain(|_, c| c.documents().next().is_some());
            out.granted = outcome.grants.iter().map(|g| g.header).collect();
            out.document_lists += u32::from(outcome.documents_listed);
            out.rejected.extend(outcome.rejected);
        }
        self.known_grants = session.known_grants().map(<[_]>::to_vec);
        // Persisted as a replica persists them: only what `encode` keeps survives.
        self.states = session
            .states()
            .iter()
            .map(|(id, state)| (*id, PeerState::decode(&state.encode()).unwrap()))
            .collect();
        out
    }

    /// The one compound held.
    pub fn compound(&self) -> &Compound {
        assert_eq!(self.compounds.len(), 1, "expected exactly one compound");
        self.compounds.values().next().unwrap()
    }

    /// Makes an operation offline, as this phone's person in their role.
    pub fn apply(&mut self, op: &Operation) -> Result<Applied, OperationError> {
        self.clock += 60_000;
        let compound_id = self.compound().id();
        let role = self.roles[&compound_id];
        let actor = Actor { person: self.person, role };
        let mut entropy = || rand::random::<u128>();
        let mut env = Env::new(Timestamp::from_millis(self.clock), &mut entropy);
        let compound = self.compounds.get_mut(&compound_id).unwrap();
        let applied = compound.apply(&mut env, &actor, op)?;
        self.unacknowledged.extend(applied.created.iter().copied());
        Ok(applied)
    }

    /// A document held, by kind.
    pub fn doc_of(&self, kind: doorstep_core::schema::vocabulary::DocKind) -> &Document {
        self.compound().documents().find(|d| d.kind() == kind).unwrap()
    }

    /// A raw request with one message for `doc`, generated from a fresh state.
    pub fn message_for(&self, doc: &Document) -> SyncRequest {
        let mut state = PeerState::new();
        let message = doorstep_core::sync::generate(doc.automerge(), &mut state).unwrap();
        SyncRequest {
            version: WIRE_VERSION,
            documents_digest: None,
            messages: vec![DocMessage { doc: doc.id(), message }],
        }
    }
}

/// A relay with a compound (the six-household roster), a coordinator, two volunteers and a medic,
/// all synced, and an open round for building 1 that the coordinator created offline.
#[derive(Debug)]
pub struct Fixture {
    /// The relay.
    pub relay: TestRelay,
    /// The compound.
    pub compound: CompoundId,
    /// The coordinator's phone.
    pub coordinator: Phone,
    /// Volunteers' phones.
    pub volunteers: Vec<Phone>,
    /// The round.
    pub round: DocumentId,
}

impl Fixture {
    /// Sets everything up.
    pub async fn new() -> Self {
        Self::with_config(Config::default()).await
    }

    /// Sets everything up on a relay with this configuration.
    pub async fn with_config(config: Config) -> Self {
        Self::around(TestRelay::start_with(config).await).await
    }

    /// Sets everything up on this relay (on a new database).
    pub async fn around(relay: TestRelay) -> Self {
        let compound = relay.create_compound("香樟苑").await;
        let report = relay.import_roster(compound, ROSTER_CSV).await;
        assert_eq!(report["imported"], 6, "{report}");
        let mut coordinator = relay.phone(compound, Role::Coordinator, "王芳").await;
        coordinator.sync(&relay).await;
        let applied = coordinator
            .apply(&Operation::CreateRound {
                title: "蔬菜包 第1轮".into(),
                kind: doorstep_core::schema::vocabulary::TaskKind::Groceries,
                date: "2026-11-23".into(),
                selection: doorstep_core::Selection::Building { estate: String::new(), building: "1".into() },
                items: "蔬菜包".into(),
                priority: doorstep_core::schema::vocabulary::Priority::Normal,
            })
            .unwrap();
        let round = applied.created[0];
        let synced = coordinator.sync(&relay).await;
        assert!(synced.rejected.is_empty(), "{:?}", synced.rejected);
        assert!(synced.granted.iter().any(|h| h.id == round), "the relay took the new round");
        let mut volunteers = Vec::new();
        for name in ["李强", "赵敏"] {
            let mut phone = relay.phone(compound, Role::Volunteer, name).await;
            phone.sync(&relay).await;
            volunteers.push(phone);
        }
        Self { relay, compound, coordinator, volunteers, round }
    }
}

/// Closes the phone's replica and opens its file again, as an app restart does: the file takes
/// one replica at a time, so the old one is closed first (a placeholder holds the slot meanwhile).
pub fn reopen(replica: &std::sync::Mutex<doorstep_replica::Replica>, path: &std::path::Path) {
    let mut held = replica.lock().unwrap();
    let placeholder = tempfile::tempdir().unwrap();
    let closed = std::mem::replace(
        &mut *held,
        doorstep_replica::Replica::open(placeholder.path().join("placeholder.sqlite")).unwrap(),
    );
    drop(closed);
    *held = doorstep_replica::Replica::open(path).unwrap();
}
