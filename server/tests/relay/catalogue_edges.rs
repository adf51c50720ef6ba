//! The bad-input catalogue, edges of the relay: connections, the dashboard, join, forwarded
//! headers and exports. Each case is raw bytes on a fresh TCP connection, with the status it
//! must get (0: the relay closes the connection without an answer) and, for JSON refusals, the
//! error code. After every case the relay must still answer `/healthz`, and nothing stored may
//! have changed (the roster export and the member list are compared byte for byte). The
//! sync-message cases are in `catalogue.rs`.

use std::time::Duration;

use doorstep_core::Role;
use doorstep_server::Config;
use doorstep_server::config::JoinLimits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{ROSTER_CSV, TestRelay};

/// One bad input.
struct Case {
    name: &'static str,
    /// The request; `{compound}`, `{admin}`, `{volunteer}`, `{coordinator}`, `{session}`,
    /// `{host}` are filled in.
    request: String,
    /// The status, or 0 for a closed connection.
    status: u16,
    /// The JSON error code, if the answer is a JSON refusal.
    code: Option<&'static str>,
    /// A header the answer must not carry.
    absent: Option<&'static str>,
}

fn case(name: &'static str, request: impl Into<String>, status: u16, code: Option<&'static str>) -> Case {
    Case { name, request: request.into(), status, code, absent: None }
}

/// A GET with optional extra header lines.
fn get(path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nhost: {{host}}\r\n{extra}connection: close\r\n\r\n")
}

/// A POST with a body; its length is filled in once the placeholders are.
fn post(path: &str, extra: &str, content_type: &str, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nhost: {{host}}\r\ncontent-type: {content_type}\r\ncontent-length: {{len}}\r\n{extra}connection: close\r\n\r\n{body}"
    )
}

fn cases() -> Vec<Case> {
    let many_headers: String = (0..200).map(|i| format!("x-h{i}: v\r\n")).collect();
    let huge_header = format!("x-big: {}\r\n", "a".repeat(512 * 1024));
    let dash = "/dashboard/api/compounds/{compound}";
    vec![
        // Connections: what hyper's HTTP/1 parser refuses before any handler runs.
        case("garbage request line", "HELLO WORLD\r\n\r\n", 400, None),
        case("binary noise", "\u{1}\u{2}\u{3}\u{4}\r\n\r\n", 400, None),
        case("HTTP/2 preface on HTTP/1", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 0, None),
        case("unknown HTTP version", "GET /healthz HTTP/3.0\r\nhost: x\r\n\r\n", 400, None),
        case("200 header lines", get("/healthz", &many_headers), 431, None),
        case("a 512 KiB header", get("/healthz", &huge_header), 431, None),
        case(
            "content-length not a number",
            "POST /v1/join HTTP/1.1\r\nhost: x\r\ncontent-length: abc\r\n\r\n",
            400,
            None,
        ),
        case(
            "content-length and chunked together",
            // Chunked wins (RFC 9112), so the body is empty: not JSON.
            "POST /v1/join HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n",
            400,
            Some("malformed"),
        ),
        case(
            "two content-lengths",
            "POST /v1/join HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\n{}",
            400,
            None,
        ),
        case(
            "bad chunk size",
            "POST /v1/join HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
            400,
            None,
        ),
        case("absolute URI to another host", get("http://evil.example/v1/me", ""), 401, Some("unauthorized")),
        case("path traversal", get("/dashboard/../../etc/passwd", ""), 404, Some("not_found")),
        case(
            "encoded traversal",
            get("/v1/compounds/%2e%2e%2f%2e%2e/roster.csv", "authorization: Bearer {admin}\r\n"),
            400,
            None,
        ),
        case("unknown route", get("/v2/sync", ""), 404, Some("not_found")),
        case("wrong method", get("/v1/sync", "authorization: Bearer {volunteer}\r\n"), 405, None),
        // Refused from its declared length: no `100 Continue` first, nothing of it read.
        case(
            "a sync body declared at 100 MB, 100-continue",
            "POST /v1/sync HTTP/1.1\r\nhost: {host}\r\nauthorization: Bearer {volunteer}\r\ncontent-type: application/cbor\r\ncontent-length: 100000000\r\nexpect: 100-continue\r\nconnection: close\r\n\r\n",
            413,
            Some("too_large"),
        ),
        case(
            "a set-aside body declared at 100 MB, 100-continue",
            "POST /v1/set-aside HTTP/1.1\r\nhost: {host}\r\nauthorization: Bearer {volunteer}\r\ncontent-type: application/json\r\ncontent-length: 100000000\r\nexpect: 100-continue\r\nconnection: close\r\n\r\n",
            413,
            Some("too_large"),
        ),
        // Bodies read into the bodies in hand as they arrive (`http/body_in_hand.rs`).
        case(
            "a chunked sync body past the body limit",
            format!(
                "POST /v1/sync HTTP/1.1\r\nhost: {{host}}\r\nauthorization: Bearer {{volunteer}}\r\ncontent-type: application/cbor\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n{:x}\r\n{}\r\n0\r\n\r\n",
                8 * 1024 * 1024 + 1,
                "a".repeat(8 * 1024 * 1024 + 1)
            ),
            413,
            Some("too_large"),
        ),
        case(
            "a set-aside exchange that is not JSON",
            post("/v1/set-aside", "authorization: Bearer {volunteer}\r\n", "application/json", "items=1"),
            400,
            Some("malformed"),
        ),
        case(
            "a set-aside exchange sent as a form",
            post("/v1/set-aside", "authorization: Bearer {volunteer}\r\n", "text/plain", "{}"),
            415,
            Some("unsupported_media_type"),
        ),
        case(
            "a roster upload of a volunteer",
            post(
                "/v1/compounds/{compound}/roster",
                "authorization: Bearer {volunteer}\r\n",
                "text/csv",
                "a,b\n",
            ),
            403,
            Some("forbidden"),
        ),
        // Join.
        case(
            "join: unknown code",
            post("/v1/join", "", "application/json", r#"{"invite_code":"AAAA-BBBB-CCCC","device_name":"x"}"#),
            404,
            Some("not_found"),
        ),
        case("join: empty body", post("/v1/join", "", "application/json", ""), 400, None),
        case("join: not JSON", post("/v1/join", "", "application/json", "invite=1"), 400, None),
        case(
            "join: JSON of the wrong shape",
            post("/v1/join", "", "application/json", r#"{"code":1}"#),
            400,
            None,
        ),
        case(
            "join: form content type",
            post("/v1/join", "", "application/x-www-form-urlencoded", "invite_code=A"),
            415,
            None,
        ),
        case(
            "join: code of one letter",
            post("/v1/join", "", "application/json", r#"{"invite_code":"x","device_name":"x"}"#),
            404,
            Some("not_found"),
        ),
        case(
            "join: forged X-Forwarded-For",
            post(
                "/v1/join",
                "x-forwarded-for: 10.9.8.7\r\n",
                "application/json",
                r#"{"invite_code":"AAAA-BBBB-CCCD","device_name":"x"}"#,
            ),
            404,
            Some("not_found"),
        ),
        // Forwarded headers from a peer that is no trusted proxy.
        case(
            "proxy: X-Forwarded-For is no credential",
            get("/v1/me", "x-forwarded-for: 127.0.0.1\r\n"),
            401,
            Some("unauthorized"),
        ),
        case(
            "proxy: garbage Forwarded header",
            get("/healthz", "forwarded: for=\"[zz\";;;proto==\r\n"),
            200,
            None,
        ),
        Case {
            absent: Some("strict-transport-security"),
            ..case(
                "proxy: X-Forwarded-Proto https gets no HSTS",
                get("/healthz", "x-forwarded-proto: https\r\n"),
                200,
                None,
            )
        },
        case(
            "proxy: X-Forwarded-Host cannot pass the Origin check",
            post(
                "/dashboard/login",
                "origin: https://evil.example\r\nx-forwarded-host: evil.example\r\n",
                "application/json",
                r#"{"token":"{coordinator}"}"#,
            ),
            403,
            Some("forbidden"),
        ),
        Case {
            absent: Some("set-cookie"),
            ..case(
                "proxy: Forwarded host cannot pass the Origin check",
                post(
                    "/dashboard/login",
                    "origin: https://evil.example\r\nforwarded: host=evil.example;proto=https\r\n",
                    "application/json",
                    r#"{"token":"{coordinator}"}"#,
                ),
                403,
                Some("forbidden"),
            )
        },
        // Dashboard.
        case(
            "dashboard: unknown token",
            post("/dashboard/login", "", "application/json", r#"{"token":"dst_00"}"#),
            401,
            Some("unauthorized"),
        ),
        case(
            "dashboard: a volunteer signs in",
            post("/dashboard/login", "", "application/json", r#"{"token":"{volunteer}"}"#),
            403,
            Some("forbidden"),
        ),
        case(
            "dashboard: login without a token",
            post("/dashboard/login", "", "application/json", "{}"),
            400,
            None,
        ),
        case("dashboard: no cookie", get("/dashboard/api/me", ""), 401, Some("unauthorized")),
        case(
            "dashboard: forged cookie",
            get("/dashboard/api/me", "cookie: doorstep_session=dss_0000\r\n"),
            401,
            Some("unauthorized"),
        ),
        case(
            "dashboard: an operation from another site",
            post(
                &format!("{dash}/operations"),
                "cookie: doorstep_session={session}\r\norigin: https://evil.example\r\n",
                "application/json",
                "{}",
            ),
            403,
            Some("forbidden"),
        ),
        case(
            "dashboard: malformed compound",
            get("/dashboard/api/compounds/not-an-id/households", "cookie: doorstep_session={session}\r\n"),
            400,
            None,
        ),
        case(
            "dashboard: a compound not theirs",
            get(
                "/dashboard/api/compounds/01900000-0000-7000-8000-000000000000/households",
                "cookie: doorstep_session={session}\r\n",
            ),
            403,
            Some("forbidden"),
        ),
        case(
            "dashboard: events without a compound",
            get("/dashboard/api/events", "cookie: doorstep_session={session}\r\n"),
            400,
            None,
        ),
        case(
            "dashboard: events of a malformed compound",
            get("/dashboard/api/events?compound=x", "cookie: doorstep_session={session}\r\n"),
            400,
            None,
        ),
        case(
            "dashboard: import with no body",
            post(
                &format!("{dash}/import?mode=commit"),
                "cookie: doorstep_session={session}\r\n",
                "text/csv",
                "",
            ),
            400,
            None,
        ),
        case(
            "dashboard: import of a PDF",
            post(
                &format!("{dash}/import?mode=commit"),
                "cookie: doorstep_session={session}\r\n",
                "application/pdf",
                "%PDF-1.4",
            ),
            422,
            Some("unreadable_file"),
        ),
        // Exports.
        case("export: no token", get("/v1/compounds/{compound}/roster.csv", ""), 401, Some("unauthorized")),
        case(
            "export: a volunteer's token",
            get("/v1/compounds/{compound}/roster.csv", "authorization: Bearer {volunteer}\r\n"),
            403,
            Some("forbidden"),
        ),
        case(
            "export: unknown compound",
            get(
                "/v1/compounds/01900000-0000-7000-8000-000000000000/roster.csv",
                "authorization: Bearer {admin}\r\n",
            ),
            404,
            Some("not_found"),
        ),
        case(
            "export: malformed compound",
            get("/v1/compounds/zzz/roster.csv", "authorization: Bearer {admin}\r\n"),
            400,
            None,
        ),
        case(
            "export: unknown format",
            get(&format!("{dash}/export/roster.pdf"), "cookie: doorstep_session={session}\r\n"),
            404,
            Some("not_found"),
        ),
        case(
            "export: unknown ledger",
            get(&format!("{dash}/export/secrets.csv"), "cookie: doorstep_session={session}\r\n"),
            404,
            Some("not_found"),
        ),
        case(
            "export: unknown round",
            get(
                &format!("{dash}/export/rounds/01900000-0000-7000-8000-000000000000.csv"),
                "cookie: doorstep_session={session}\r\n",
            ),
            404,
            Some("not_found"),
        ),
        case(
            "export: malformed round",
            get(&format!("{dash}/export/rounds/nope.csv"), "cookie: doorstep_session={session}\r\n"),
            400,
            None,
        ),
        // Live streams.
        case("events: no token", get("/v1/events", ""), 401, Some("unauthorized")),
        case(
            "events: a revoked-looking token",
            get("/v1/events", "authorization: Bearer dst_ffff\r\n"),
            401,
            Some("unauthorized"),
        ),
    ]
}

/// An answer read off a connection: status (0 if closed), the head, the body.
struct Answer {
    status: u16,
    head: String,
    body: String,
}

async fn exchange(addr: std::net::SocketAddr, request: &str) -> Answer {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // The relay may answer and close before reading everything; that is an answer too.
    let _ = stream.write_all(request.as_bytes()).await;
    let mut bytes = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut bytes)).await;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    Answer { status, head: head.to_lowercase(), body: body.to_owned() }
}

/// What must not change: the roster export and the member list.
async fn fingerprint(relay: &TestRelay, compound: &str) -> (String, String) {
    let roster = relay
        .http
        .get(format!("{}/v1/compounds/{compound}/roster.csv", relay.url))
        .bearer_auth(&relay.admin_token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let (_, members) =
        relay.json("GET", &format!("/v1/compounds/{compound}/members"), &relay.admin_token, None).await;
    (roster, members.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_edge_case_is_refused_and_changes_nothing() {
    // Join attempts are many here; the throttle has its own case below.
    let config = Config { join: JoinLimits { per_second: 1000.0, burst: 1000.0 }, ..Config::default() };
    let relay = TestRelay::start_with(config).await;
    let compound = relay.create_compound("香樟苑").await;
    relay.import_roster(compound, ROSTER_CSV).await;
    let volunteer = relay.phone(compound, Role::Volunteer, "李强").await;
    let coordinator = relay.phone(compound, Role::Coordinator, "王芳").await;
    let login = relay
        .http
        .post(format!("{}/dashboard/login", relay.url))
        .header("content-type", "application/json")
        .body(serde_json::json!({"token": coordinator.token}).to_string())
        .send()
        .await
        .unwrap();
    let set_cookie = login.headers().get("set-cookie").unwrap().to_str().unwrap().to_owned();
    let session = set_cookie.split(';').next().unwrap().trim_start_matches("doorstep_session=").to_owned();
    let addr: std::net::SocketAddr = relay.url.trim_start_matches("http://").parse().unwrap();
    let compound = compound.to_string();
    let before = fingerprint(&relay, &compound).await;

    let cases = cases();
    assert!(cases.len() >= 40, "the catalogue has {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let fill = |text: &str| {
            text.replace("{compound}", &compound)
                .replace("{admin}", &relay.admin_token)
                .replace("{volunteer}", &volunteer.token)
                .replace("{coordinator}", &coordinator.token)
                .replace("{session}", &session)
                .replace("{host}", &addr.to_string())
        };
        let request = match case.request.split_once("\r\n\r\n") {
            Some((head, body)) => {
                let body = fill(body);
                format!("{}\r\n\r\n{body}", fill(head).replace("{len}", &body.len().to_string()))
            }
            None => fill(&case.request),
        };
        let answer = exchange(addr, &request).await;
        let code = serde_json::from_str::<serde_json::Value>(&answer.body)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_owned));
        let mut wrong = Vec::new();
        if answer.status != case.status {
            wrong.push(format!("status {} (wanted {})", answer.status, case.status));
        }
        if let Some(want) = case.code
            && code.as_deref() != Some(want)
        {
            wrong.push(format!("code {code:?} (wanted {want})"));
        }
        if let Some(header) = case.absent
            && answer.head.contains(&format!("\n{header}:"))
        {
            wrong.push(format!("carries {header}"));
        }
        let (health, _) = relay.json("GET", "/healthz", "", None).await;
        if health.as_u16() != 200 {
            wrong.push(format!("/healthz then answered {health}"));
        }
        println!("{:<55} {:>3} {}", case.name, answer.status, code.as_deref().unwrap_or("-"));
        if !wrong.is_empty() {
            failures.push(format!(
                "{}: {} | {}",
                case.name,
                wrong.join(", "),
                answer.body.chars().take(160).collect::<String>()
            ));
        }
    }
    assert!(failures.is_empty(), "{} cases failed:\n{}", failures.len(), failures.join("\n"));
    assert_eq!(fingerprint(&relay, &compound).await, before, "a bad input changed what is stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_guessing_is_cut_off_and_changes_nothing() {
    let config = Config { join: JoinLimits { per_second: 0.01, burst: 5.0 }, ..Config::default() };
    let relay = TestRelay::start_with(config).await;
    let compound = relay.create_compound("香樟苑").await;
    let before = fingerprint(&relay, &compound.to_string()).await;
    // From another address than the relay's own host, which is not throttled.
    let guesser =
        reqwest::Client::builder().local_address(std::net::IpAddr::from([127, 0, 0, 60])).build().unwrap();
    let mut statuses = Vec::new();
    for i in 0..50 {
        let res = guesser
            .post(format!("{}/v1/join", relay.url))
            .header("content-type", "application/json")
            .body(
                serde_json::json!({"invite_code": format!("AAAA-BBBB-{i:04}"), "device_name": "guesser"})
                    .to_string(),
            )
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let body: serde_json::Value = serde_json::from_slice(&res.bytes().await.unwrap()).unwrap();
        statuses.push((status, body["error"].as_str().unwrap_or_default().to_owned()));
    }
    // The relay's own host is not throttled.
    let (status, _) = relay.join("AAAA-BBBB-ZZZZ", "operator").await;
    assert_eq!(status.as_u16(), 404);
    assert!(statuses[..5].iter().all(|(s, _)| *s == 404), "{statuses:?}");
    assert!(statuses[5..].iter().all(|(s, c)| *s == 429 && c == "join_throttled"), "{statuses:?}");
    assert_eq!(fingerprint(&relay, &compound.to_string()).await, before);
}
