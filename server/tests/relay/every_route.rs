//! Every route of the relay, tried with hostile requests drawn at random: each route's path
//! parameters, query, headers and body from lists of what a stranger, a modified phone or a
//! careless script sends (IDs that are not IDs, bytes that are not UTF-8, huge numbers, bodies
//! of the wrong kind, bad codings, forged sessions), as each kind of caller. Where
//! `catalogue_edges.rs` names one case and its answer, this draws thousands and holds every
//! answer to what any bad input must get: an answer (never a dropped connection or a hang), never
//! a 5xx but a 503 that says when to come back, an honest volunteer's syncs all taken meanwhile, every refusal that says something said in the
//! relay's JSON error format (a code and a reason) and quoting at most an excerpt of what was
//! sent, and afterwards a relay that still serves and
//! has changed nothing stored.
//!
//! `DOORSTEP_EVERY_ROUTE_CASES` (default 2,500) and `DOORSTEP_EVERY_ROUTE_SEED` set the draw.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use doorstep_server::Config;
use doorstep_server::config::{JoinLimits, Limits};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, RngCore, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use doorstep_core::Operation;
use doorstep_core::id::DocumentId;
use doorstep_core::schema::vocabulary::Outcome;

use crate::harness::{Fixture, Phone, TestRelay};

/// The longest a refusal may be: a reason, quoting at most excerpts of what was sent (an
/// import's missing-column message names up to 20 headers of 40 characters).
const REFUSAL_BYTES: usize = 4096;

/// Clients sending at once.
const LANES: u64 = 4;

/// A route: its method and its path, with `{name}` for each parameter.
const ROUTES: &[(&str, &str)] = &[
    ("POST", "/v1/sync"),
    ("GET", "/v1/sync/pieces"),
    ("POST", "/v1/sync/pieces"),
    ("GET", "/v1/documents/{document}/copy"),
    ("POST", "/v1/set-aside"),
    ("POST", "/v1/join"),
    ("GET", "/v1/me"),
    ("GET", "/v1/compounds"),
    ("POST", "/v1/compounds"),
    ("POST", "/v1/compounds/{compound}/invites"),
    ("GET", "/v1/compounds/{compound}/members"),
    ("POST", "/v1/compounds/{compound}/members/{person}/revoke"),
    ("POST", "/v1/compounds/{compound}/roster"),
    ("GET", "/v1/compounds/{compound}/roster.csv"),
    ("POST", "/v1/persons/{person}/revoke-devices"),
    ("GET", "/v1/events"),
    ("GET", "/healthz"),
    ("GET", "/metrics"),
    ("GET", "/dashboard"),
    ("GET", "/dashboard/"),
    ("GET", "/dashboard/assets/{file}"),
    ("POST", "/dashboard/login"),
    ("POST", "/dashboard/logout"),
    ("GET", "/dashboard/api/me"),
    ("GET", "/dashboard/api/events"),
    ("GET", "/dashboard/api/legend"),
    ("GET", "/dashboard/api/compounds/{compound}/overview"),
    ("GET", "/dashboard/api/compounds/{compound}/households"),
    ("GET", "/dashboard/api/compounds/{compound}/households/{household}"),
    ("GET", "/dashboard/api/compounds/{compound}/households/{household}/history"),
    ("GET", "/dashboard/api/compounds/{compound}/rounds/{round}/tasks/{task}/history"),
    ("GET", "/dashboard/api/compounds/{compound}/map"),
    ("GET", "/dashboard/api/compounds/{compound}/rounds"),
    ("GET", "/dashboard/api/compounds/{compound}/rounds/{round}"),
    ("GET", "/dashboard/api/compounds/{compound}/requests"),
    ("GET", "/dashboard/api/compounds/{compound}/conflicts"),
    ("GET", "/dashboard/api/compounds/{compound}/members"),
    ("GET", "/dashboard/api/compounds/{compound}/set-aside"),
    ("POST", "/dashboard/api/compounds/{compound}/set-aside/{item}/apply"),
    ("POST", "/dashboard/api/compounds/{compound}/set-aside/{item}/dismiss"),
    ("POST", "/dashboard/api/compounds/{compound}/members/invites"),
    ("POST", "/dashboard/api/compounds/{compound}/members/{person}/revoke"),
    ("POST", "/dashboard/api/compounds/{compound}/members/{person}/tokens"),
    ("GET", "/dashboard/api/compounds/{compound}/time-zone"),
    ("POST", "/dashboard/api/compounds/{compound}/operations"),
    ("POST", "/dashboard/api/compounds/{compound}/import"),
    ("GET", "/dashboard/api/compounds/{compound}/export/{file}"),
    ("GET", "/dashboard/api/compounds/{compound}/export/rounds/{file}"),
    ("GET", "/dashboard/api/compounds/{compound}/print/rounds/{round}"),
];

/// Path segments that are not what a route takes, already percent-encoded where they must be.
const HOSTILE_SEGMENTS: &[&str] = &[
    "x",
    "0",
    "-1",
    "99999999999999999999999999",
    "00000000-0000-0000-0000-000000000000",
    "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF",
    "%FF%FE%FD",
    "%00",
    "%C0%AF",
    "..",
    "%2e%2e",
    "%2F%2E%2E%2Fetc%2Fpasswd",
    "%E9%A6%99%E6%A8%9F%E8%8B%91",
    "%27%20OR%201%3D1%20--",
    "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    "roster.csv",
    "households.xlsx",
    "rounds.csv",
    "index.html",
    "app.js",
    "round.csv",
    "%20",
    "a.b.c.d.e.f",
];

/// Query keys the relay's routes read, and some they do not.
const QUERY_KEYS: &[&str] = &[
    "since", "compound", "digest", "total", "from", "encoding", "round", "building", "status", "q", "page",
    "limit", "format", "heads", "kind", "to", "lang", "%FF", "",
];

/// Query values.
const QUERY_VALUES: &[&str] = &[
    "",
    "x",
    "-1",
    "0",
    "18446744073709551616",
    "1e308",
    "NaN",
    "%FF%FE",
    "%00",
    "deflate",
    "gzip",
    "identity",
    "true",
    "%E9%A6%99",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
    "a,b,c",
    "%zz",
];

/// Content types a body is sent as.
const CONTENT_TYPES: &[&str] = &[
    "application/json",
    "application/cbor",
    "text/csv",
    "text/csv; charset=gb18030",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/octet-stream",
    "multipart/form-data; boundary=x",
    "application/x-www-form-urlencoded",
    "text/plain",
    "application/json; charset=utf-16",
    ";;;",
];

/// Bodies, none of them what any route takes.
fn hostile_body(rng: &mut StdRng) -> Vec<u8> {
    let nested =
        |open: &str, close: &str, depth: usize| format!("{}{}", open.repeat(depth), close.repeat(depth));
    match rng.random_range(0..26) {
        0 => Vec::new(),
        1 => b"{}".to_vec(),
        2 => b"[]".to_vec(),
        3 => b"null".to_vec(),
        4 => b"{\"".to_vec(),
        5 => nested("[", "]", 100_000).into_bytes(),
        6 => nested("{\"a\":", "}", 20_000).into_bytes(),
        7 => b"{\"role\":\"emperor\",\"name\":1e999,\"token\":[],\"invite_code\":{}}".to_vec(),
        8 => format!("{{\"name\":\"{}\"}}", "\\ud800".repeat(200)).into_bytes(),
        9 => b"{\"op\":\"cancel_task\",\"round\":\"x\",\"task\":-1}".to_vec(),
        // Known fields holding NUL, which PostgreSQL does not store in a text.
        22 | 23 => "{\"name\":\"a\\u0000b\",\"device_name\":\"\\u0000\",\"invite_code\":\"ABCD-\\u0000\",\"token\":\"dst_\\u0000\",\"role\":\"\\u0000\",\"reason\":\"\\u0000\",\"items\":[{\"id\":\"\\u0000\"}],\"awaiting\":[\"\\u0000\"]}"
            .as_bytes()
            .to_vec(),
        // Known fields with values 5,000 characters long, where an enum or an ID is expected.
        20 | 21 => {
            let long = "a".repeat(5_000);
            format!(
                "{{\"op\":\"{long}\",\"role\":\"{long}\",\"invite_code\":\"{long}\",\"token\":\"{long}\",\"name\":\"{long}\",\"device_name\":\"{long}\"}}"
            )
            .into_bytes()
        }
        10 => b"{\"items\":[{\"id\":\"x\",\"bytes\":\"!!\"}]}".to_vec(),
        11 => b"\xef\xbb\xbf\xff\xfe\x00\x00invalid utf-8 \xc0\xaf".to_vec(),
        // CBOR: a map claiming 2^32 entries, an indefinite array never closed, a tag loop.
        12 => vec![0xbb, 0, 0, 0, 1, 0, 0, 0, 0],
        13 => vec![0x9f; 4096],
        14 => [0xd8, 0x18].repeat(2048),
        // A spreadsheet that is a zip of nothing; a CSV of one enormous field.
        15 => b"PK\x05\x06\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00".to_vec(),
        16 => format!("\u{feff}\"{}", "a\"\"".repeat(50_000)).into_bytes(),
        17 => "小区,楼号\n,,,,,,,,,,,,,,,,,,,,,\n\r\n\"".as_bytes().to_vec(),
        18 => b"--x\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n\r\n--x".to_vec(),
        19 => b"token=dst_00&invite_code=AAAA".to_vec(),
        _ => {
            let mut bytes = vec![0; rng.random_range(1..20_000)];
            rng.fill_bytes(&mut bytes);
            bytes
        }
    }
}

/// The relay and the callers' credentials the sweep draws from.
#[derive(Clone)]
struct Callers {
    admin: String,
    coordinator: String,
    volunteer: String,
    session: String,
    host: String,
}

/// One drawn request, as bytes on the wire, and a line naming it.
fn draw(rng: &mut StdRng, callers: &Callers, ids: &Ids) -> (String, Vec<u8>) {
    let (method, template) = *ROUTES.choose(rng).expect("routes");
    let mut path = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let end = rest[start..].find('}').expect("closing brace") + start;
        path.push_str(&rest[..start]);
        let name = &rest[start + 1..end];
        path.push_str(&segment(rng, name, ids, template));
        rest = &rest[end + 1..];
    }
    path.push_str(rest);
    if rng.random_bool(0.6) {
        path.push('?');
        for i in 0..rng.random_range(1..4) {
            if i > 0 {
                path.push('&');
            }
            let key = QUERY_KEYS.choose(rng).expect("keys");
            let value = if rng.random_bool(0.1) {
                "a".repeat(5_000)
            } else {
                (*QUERY_VALUES.choose(rng).expect("values")).to_owned()
            };
            let _ = write!(path, "{key}={value}");
        }
    }

    let mut head = format!("{method} {path} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\n", callers.host);
    // Who calls: mostly a real member, by dashboard session on the dashboard's routes and by
    // token on the others (so that the request reaches the handler); else nobody or a forgery.
    let dashboard = template.starts_with("/dashboard/api");
    let member =
        [&callers.volunteer, &callers.coordinator, &callers.admin].choose(rng).expect("members").as_str();
    match rng.random_range(0..16) {
        0 => {}
        1 => head.push_str("authorization: Bearer dst_0000000000000000000000000000000000000000\r\n"),
        2 => head.push_str("authorization: Basic YWRtaW46YWRtaW4=\r\n"),
        3 => {
            let _ = write!(head, "authorization: Bearer {}\r\n", "A".repeat(9_000));
        }
        4 => head.push_str("cookie: doorstep_session=dss_forged; doorstep_session=\u{7f}\r\n"),
        // Logging the sweep's own session out would leave the rest of it signed out.
        _ if template == "/dashboard/logout" => {}
        5 | 6 if dashboard => {
            let _ = write!(head, "authorization: Bearer {member}\r\n");
        }
        5 | 6 => {
            let _ = write!(head, "cookie: doorstep_session={}\r\n", callers.session);
        }
        _ if dashboard => {
            let _ = write!(head, "cookie: doorstep_session={}\r\n", callers.session);
            if rng.random_bool(0.5) {
                let _ = write!(head, "origin: http://{}\r\n", callers.host);
            }
        }
        _ => {
            let _ = write!(head, "authorization: Bearer {member}\r\n");
        }
    }
    if rng.random_bool(0.2) {
        head.push_str("origin: https://evil.example\r\n");
    }
    if rng.random_bool(0.15) {
        let coding = ["deflate", "gzip", "deflate, deflate", "br", "x"].choose(rng).expect("codings");
        let _ = write!(head, "content-encoding: {coding}\r\n");
    }
    if rng.random_bool(0.15) {
        let budget = ["-1", "abc", "0", "99999999999999999999", "1e9"].choose(rng).expect("budgets");
        let _ = write!(head, "x-doorstep-reply-bytes: {budget}\r\n");
    }
    if rng.random_bool(0.1) {
        head.push_str("x-doorstep-copy-heads: zz,00,%FF\r\nx-doorstep-copy-from: -1\r\n");
    }
    if rng.random_bool(0.1) {
        head.push_str("accept-encoding: deflate;q=nan, *;q=-1\r\n");
    }
    if rng.random_bool(0.1) {
        head.push_str("range: bytes=99999999999-1\r\nif-none-match: \"\u{1}\"\r\n");
    }
    let body = if method == "POST" || rng.random_bool(0.05) { hostile_body(rng) } else { Vec::new() };
    if !body.is_empty() || method == "POST" {
        // Half the time the type the route takes, so that the body reaches what reads it.
        let content_type: &str = match template {
            _ if rng.random_bool(0.5) => CONTENT_TYPES.choose(rng).expect("types"),
            "/v1/sync" | "/v1/sync/pieces" => "application/cbor",
            "/v1/compounds/{compound}/roster" => "text/csv",
            "/dashboard/api/compounds/{compound}/import" if rng.random_bool(0.5) => "text/csv",
            "/dashboard/api/compounds/{compound}/import" => CONTENT_TYPES[4],
            _ => "application/json",
        };
        let _ = write!(head, "content-type: {content_type}\r\ncontent-length: {}\r\n", body.len());
    }
    head.push_str("\r\n");
    let name = format!("{method} {} ({} body bytes)", path.chars().take(160).collect::<String>(), body.len());
    let mut request = head.into_bytes();
    request.extend_from_slice(&body);
    (name, request)
}

/// Real IDs of the fixture's compound, used only where reading them changes nothing.
#[derive(Clone)]
struct Ids {
    compound: String,
    round: String,
    household: String,
    task: String,
}

fn segment(rng: &mut StdRng, name: &str, ids: &Ids, template: &str) -> String {
    let read_only =
        !template.contains("revoke") && !template.contains("tokens") && !template.contains("set-aside/");
    let real = match name {
        "compound" => Some(&ids.compound),
        "round" | "document" if read_only => Some(&ids.round),
        "household" => Some(&ids.household),
        "task" => Some(&ids.task),
        _ => None,
    };
    match (real, rng.random_range(0..4)) {
        (Some(id), 0 | 1) => id.clone(),
        (_, 2) => uuid_like(rng),
        (_, _) if rng.random_bool(0.05) => "a".repeat(5_000),
        _ => (*HOSTILE_SEGMENTS.choose(rng).expect("segments")).to_owned(),
    }
}

fn uuid_like(rng: &mut StdRng) -> String {
    let n: u128 = rng.random();
    let hex = format!("{n:032x}");
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

/// An answer: the status (0 when the connection closed without one), its headers, its body.
struct Answer {
    status: u16,
    head: String,
    body: Vec<u8>,
}

/// Sends the request on a connection of its own and reads the answer. A live stream's answer
/// is read to the end of its head: it does not end.
async fn exchange(addr: std::net::SocketAddr, request: &[u8]) -> Answer {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    // The relay may answer and close before reading all of a body it refuses.
    let _ = stream.write_all(request).await;
    let mut bytes = Vec::new();
    let mut buf = vec![0; 64 * 1024];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => bytes.extend_from_slice(&buf[..n]),
            _ => break,
        }
        if let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&bytes[..end]).to_lowercase();
            if head.contains("content-type: text/event-stream") {
                break;
            }
        }
    }
    let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Answer { status: 0, head: String::from_utf8_lossy(&bytes).into_owned(), body: Vec::new() };
    };
    let head = String::from_utf8_lossy(&bytes[..end]).to_lowercase();
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    Answer { status, head, body: bytes[end + 4..].to_vec() }
}

/// What the answer got wrong, if anything.
fn judge(answer: &Answer) -> Option<String> {
    let json_error = || {
        // A chunked body's first chunk is the JSON (the relay's refusals are one chunk or sized).
        let text = String::from_utf8_lossy(&answer.body);
        let start = text.find('{')?;
        let end = text.rfind('}')?;
        let value: serde_json::Value = serde_json::from_str(&text[start..=end]).ok()?;
        Some((value["error"].as_str()?.to_owned(), value["reason"].as_str().unwrap_or("").to_owned()))
    };
    match answer.status {
        0 => Some("no answer: the connection closed or hung".into()),
        503 if answer.head.contains("\nretry-after:") => None,
        500..=599 => Some(format!("status {}: {}", answer.status, String::from_utf8_lossy(&answer.body))),
        // The HTTP parser's own refusals of what is not HTTP (a control byte in a header) and
        // axum's 405 carry no body; every refusal that says something says it in the relay's
        // format, with an error code and a reason a person can act on.
        400..=499 if answer.body.is_empty() => None,
        // A refusal quotes at most an excerpt of what was sent (a path segment may be 5,000
        // characters): its answer and its log line stay short.
        400..=499 if answer.body.len() > REFUSAL_BYTES => Some(format!(
            "a refusal of {} bytes: {}",
            answer.body.len(),
            String::from_utf8_lossy(&answer.body)
        )),
        400..=499 => match json_error() {
            Some((code, reason))
                if answer.head.contains("content-type: application/json")
                    && !code.is_empty()
                    && !reason.is_empty() =>
            {
                None
            }
            _ => Some(format!(
                "a refusal not in the relay's error format (a JSON error code and reason): {}",
                String::from_utf8_lossy(&answer.body)
            )),
        },
        _ => None,
    }
}

/// What hostile requests must not change: the roster export and the member list.
async fn fingerprint(relay: &TestRelay, ids: &Ids) -> (String, String) {
    let roster = relay
        .http
        .get(format!("{}/v1/compounds/{}/roster.csv", relay.url, ids.compound))
        .bearer_auth(&relay.admin_token)
        .send()
        .await
        .expect("export")
        .text()
        .await
        .expect("export text");
    let (_, members) =
        relay.json("GET", &format!("/v1/compounds/{}/members", ids.compound), &relay.admin_token, None).await;
    (roster, members.to_string())
}

/// Every attempt on the round as a coordinator's phone syncing from nothing sees it.
async fn attempts_on_the_relay(relay: &TestRelay, coordinator: &Phone) -> usize {
    let mut fresh = Phone::new(&coordinator.token, coordinator.person);
    fresh.sync(relay).await;
    fresh.compound().tasks().iter().map(|t| t.attempts.len()).sum()
}

/// Most knocks the honest volunteer records: the harness's phone clock moves a minute a knock,
/// and the relay rightly refuses times more than a day ahead of its own.
const MAX_KNOCKS: usize = 1_000;

/// An honest volunteer at work through the storm until `done`: a knock recorded (up to
/// [`MAX_KNOCKS`]), then synced, again and again. Every sync must be answered 200 (the harness
/// asserts it) and refuse nothing: what others send never turns an honest phone away. Returns
/// the knocks recorded.
async fn honest_volunteer_at_work(
    relay: &TestRelay,
    phone: &mut Phone,
    round: DocumentId,
    done: &AtomicBool,
) -> usize {
    let outcomes = [Outcome::NobodyHome, Outcome::Delivered, Outcome::Refused, Outcome::WrongAddress];
    let mut knocks = 0;
    while !done.load(Ordering::Relaxed) {
        if knocks < MAX_KNOCKS {
            let tasks = phone.compound().tasks();
            let task = tasks[knocks % tasks.len()].id;
            let outcome = outcomes[knocks % outcomes.len()];
            phone
                .apply(&Operation::RecordAttempt { round, task, outcome, note: format!("敲门 {knocks}") })
                .expect("a volunteer records a knock");
            knocks += 1;
        } else {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let synced = phone.sync(relay).await;
        assert!(synced.rejected.is_empty(), "honest work refused during the storm: {:?}", synced.rejected);
    }
    knocks
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_hostile_requests_with_a_refusal_and_changes_nothing() {
    sweep(Fixture::with_config(sweep_config()).await).await;
}

/// The same on the PostgreSQL backend, which refuses what SQLite stores (a NUL in a text).
/// Needs `DOORSTEP_TEST_POSTGRES` (run under `scripts/with-postgres`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_hostile_requests_on_postgresql_too() {
    use doorstep_server::storage::postgres::scratch::ScratchDatabase;
    let Some(db) = ScratchDatabase::from_env().await else { return };
    sweep(Fixture::around(TestRelay::start_on(db.url(), sweep_config()).await).await).await;
}

/// The sweep is one client sending thousands of requests: the throttles have their own tests.
fn sweep_config() -> Config {
    Config {
        join: JoinLimits { per_second: 1e6, burst: 1e6 },
        limits: Limits { rate_per_second: 1e6, rate_burst: 1e6, ..Limits::default() },
        ..Config::default()
    }
}

async fn sweep(fixture: Fixture) {
    let relay = &fixture.relay;
    let cookie = relay.dashboard_cookie(&fixture.coordinator.token).await;
    let session = cookie.trim_start_matches("doorstep_session=").to_owned();
    let compound = fixture.compound.to_string();
    let round = fixture.round.to_string();
    let detail =
        relay.dashboard_get(&cookie, &format!("/dashboard/api/compounds/{compound}/rounds/{round}")).await;
    let task = detail["tasks"][0]["task"]["id"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("a task: {detail}"));
    let households =
        relay.dashboard_get(&cookie, &format!("/dashboard/api/compounds/{compound}/households")).await;
    let household = households[0]["id"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("a household: {households}"));
    let ids = Ids { compound, round, household, task };
    let addr: std::net::SocketAddr = relay.url.trim_start_matches("http://").parse().expect("address");
    let callers = Callers {
        admin: relay.admin_token.clone(),
        coordinator: fixture.coordinator.token.clone(),
        volunteer: fixture.volunteers[0].token.clone(),
        session,
        host: addr.to_string(),
    };
    let before = fingerprint(relay, &ids).await;
    let attempts_before = attempts_on_the_relay(relay, &fixture.coordinator).await;
    let mut honest = Phone::new(&fixture.volunteers[1].token, fixture.volunteers[1].person);
    honest.sync(relay).await;
    let lanes_done = AtomicBool::new(false);

    let seed = env_number("DOORSTEP_EVERY_ROUTE_SEED", 0xd00e_5eed);
    let cases = env_number("DOORSTEP_EVERY_ROUTE_CASES", 2_500).max(LANES);
    // Four lanes at once, each its own draw, so that refusals meet on the relay's shared bounds.
    let lanes: Vec<_> = (0..LANES)
        .map(|lane| {
            let (callers, ids) = (callers.clone(), ids.clone());
            tokio::spawn(async move {
                let mut rng = StdRng::seed_from_u64(seed.wrapping_add(lane << 32));
                let mut failures = Vec::new();
                let mut statuses = BTreeMap::<u16, usize>::new();
                for i in 0..cases / LANES {
                    let (name, request) = draw(&mut rng, &callers, &ids);
                    let answer = exchange(addr, &request).await;
                    *statuses.entry(answer.status).or_default() += 1;
                    if let Some(wrong) = judge(&answer) {
                        failures.push(format!(
                            "lane {lane} #{i} {name}: {}",
                            wrong.chars().take(300).collect::<String>()
                        ));
                    }
                }
                (failures, statuses)
            })
        })
        .collect();
    let collect = async {
        let mut failures = Vec::new();
        let mut statuses = BTreeMap::<u16, usize>::new();
        for lane in lanes {
            let (lane_failures, lane_statuses) = lane.await.expect("a lane");
            failures.extend(lane_failures);
            for (status, n) in lane_statuses {
                *statuses.entry(status).or_default() += n;
            }
        }
        lanes_done.store(true, Ordering::Relaxed);
        (failures, statuses)
    };
    let ((failures, statuses), knocks) =
        tokio::join!(collect, honest_volunteer_at_work(relay, &mut honest, fixture.round, &lanes_done));
    println!("seed {seed}, {cases} requests, answers by status: {statuses:?}; {knocks} honest knocks synced");
    assert!(
        failures.is_empty(),
        "{} of {cases} answers wrong (seed {seed}):\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Every route was reached past the router: not all answers are 404 or 401.
    assert!(statuses.keys().filter(|s| **s != 404 && **s != 401).count() >= 5, "{statuses:?}");

    // No refusal kept what it held: the bytes of bodies in hand and the sync messages queued go
    // back to nothing once the answers are out. One that leaked would, repeated, shut everyone out.
    let state = relay.state.as_ref().expect("an in-process relay");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while state.bodies_in_hand.held() > 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(state.bodies_in_hand.held(), 0, "bytes of bodies still held after every answer");
    let metrics = relay.metrics().await;
    assert!(metrics.lines().any(|l| l == "doorstep_sync_messages_queued 0"), "{metrics}");

    // The relay still serves its members; the honest volunteer's knocks are all on it, and
    // nothing else stored changed.
    let (health, _) = relay.json("GET", "/healthz", "", None).await;
    assert_eq!(health.as_u16(), 200);
    assert!(knocks > 0, "the honest volunteer synced nothing during the storm");
    assert_eq!(attempts_on_the_relay(relay, &fixture.coordinator).await, attempts_before + knocks);
    assert!(fingerprint(relay, &ids).await == before, "a hostile request changed what is stored");
}
