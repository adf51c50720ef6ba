//! `POST /v1/join` throttled per client address, and forwarded headers believed only from a
//! trusted proxy: the join throttle, the dashboard's Origin check, `Secure` cookies and HSTS.

use std::net::IpAddr;

use doorstep_core::Role;
use doorstep_server::Config;
use doorstep_server::config::{Connections, JoinLimits};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::TestRelay;

/// A client whose connections leave from the loopback address `from`.
fn client_from(from: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder().local_address(IpAddr::from(from)).build().unwrap()
}

/// A join attempt with a wrong code and optional extra headers; returns status, code and
/// `Retry-After`.
async fn guess(
    relay: &TestRelay,
    client: &reqwest::Client,
    headers: &[(&str, &str)],
) -> (StatusCode, String, String) {
    let mut req = client
        .post(format!("{}/v1/join", relay.url))
        .header("content-type", "application/json")
        .body(json!({"invite_code": "AAAA-BBBB-CCCC", "device_name": "guess"}).to_string());
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let retry = res.headers().get("retry-after").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let body: Value = serde_json::from_slice(&res.bytes().await.unwrap()).unwrap_or(Value::Null);
    (status, body["error"].as_str().unwrap_or_default().to_owned(), retry)
}

fn tight_join(trusted: &[&str]) -> Config {
    Config {
        join: JoinLimits { per_second: 0.001, burst: 3.0 },
        connections: Connections {
            trusted_proxies: trusted.iter().map(|t| t.parse().unwrap()).collect(),
            ..Connections::default()
        },
        ..Config::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_is_throttled_per_address_and_forged_forwarding_buys_nothing() {
    let relay = TestRelay::start_with(tight_join(&[])).await;
    let guesser = client_from([127, 0, 0, 20]);
    for _ in 0..3 {
        let (status, code, _) = guess(&relay, &guesser, &[]).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{code}");
    }
    let (status, code, retry) = guess(&relay, &guesser, &[]).await;
    assert_eq!((status, code.as_str()), (StatusCode::TOO_MANY_REQUESTS, "join_throttled"));
    assert!(retry.parse::<u64>().is_ok_and(|s| s >= 1), "Retry-After: {retry:?}");
    // Claiming to be someone else changes nothing: the relay trusts no proxy here.
    for forged in [
        ("x-forwarded-for", "198.51.100.9"),
        ("forwarded", "for=198.51.100.10"),
        ("x-real-ip", "198.51.100.11"),
    ] {
        let (status, code, _) = guess(&relay, &guesser, &[forged]).await;
        assert_eq!((status, code.as_str()), (StatusCode::TOO_MANY_REQUESTS, "join_throttled"), "{forged:?}");
    }
    // Another address is not affected, and a real invite still works from there.
    let neighbour = client_from([127, 0, 0, 21]);
    assert_eq!(guess(&relay, &neighbour, &[]).await.0, StatusCode::NOT_FOUND);
    let compound = relay.create_compound("节流苑").await;
    let code = relay.invite(&relay.admin_token, compound, Role::Volunteer).await;
    let res = neighbour
        .post(format!("{}/v1/join", relay.url))
        .header("content-type", "application/json")
        .body(json!({"invite_code": code, "device_name": "李强's phone", "name": "李强"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_allowance() {
    let relay = TestRelay::start_with(tight_join(&["127.0.0.30"])).await;
    let proxy = client_from([127, 0, 0, 30]);
    let alice = [("x-forwarded-for", "198.51.100.1")];
    for _ in 0..3 {
        assert_eq!(guess(&relay, &proxy, &alice).await.0, StatusCode::NOT_FOUND);
    }
    assert_eq!(guess(&relay, &proxy, &alice).await.1, "join_throttled");
    // A client that prepends a fake hop is still known by the address the proxy saw.
    assert_eq!(
        guess(&relay, &proxy, &[("x-forwarded-for", "203.0.113.5, 198.51.100.1")]).await.1,
        "join_throttled"
    );
    let bob = [("x-forwarded-for", "198.51.100.2")];
    assert_eq!(guess(&relay, &proxy, &bob).await.0, StatusCode::NOT_FOUND, "another client behind the proxy");
}

/// Signs in to the dashboard through `client` with `headers`; returns status, `Set-Cookie` and
/// `Strict-Transport-Security`.
async fn sign_in(
    relay: &TestRelay,
    client: &reqwest::Client,
    token: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, String, String) {
    let mut req = client
        .post(format!("{}/dashboard/login", relay.url))
        .header("content-type", "application/json")
        .body(json!({ "token": token }).to_string());
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let res = req.send().await.unwrap();
    let header =
        |name: &str| res.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    (res.status(), header("set-cookie"), header("strict-transport-security"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_believes_forwarded_host_and_proto_only_from_a_trusted_proxy() {
    let relay = TestRelay::start_with(tight_join(&["127.0.0.40"])).await;
    let compound = relay.create_compound("代理苑").await;
    let coordinator = relay.phone(compound, Role::Coordinator, "王芳").await;
    let public = [
        ("origin", "https://doorstep.example.org"),
        ("x-forwarded-host", "doorstep.example.org"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-for", "198.51.100.7"),
    ];

    // From any other peer, X-Forwarded-Host cannot make a foreign origin look like ours.
    let stranger = client_from([127, 0, 0, 41]);
    let (status, cookie, _) = sign_in(&relay, &stranger, &coordinator.token, &public).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(cookie.is_empty());
    // Plain sign-in from there works, without Secure or HSTS: it was plain HTTP.
    let (status, cookie, hsts) =
        sign_in(&relay, &stranger, &coordinator.token, &[("x-forwarded-proto", "https")]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!cookie.contains("Secure") && hsts.is_empty(), "{cookie} / {hsts}");

    // Through the trusted proxy, the forwarded host and scheme are believed.
    let proxy = client_from([127, 0, 0, 40]);
    let (status, cookie, hsts) = sign_in(&relay, &proxy, &coordinator.token, &public).await;
    assert_eq!(status, StatusCode::OK);
    assert!(cookie.ends_with("; Secure"), "{cookie}");
    assert_eq!(hsts, "max-age=31536000");
    let evil = [("origin", "https://evil.example"), ("x-forwarded-host", "doorstep.example.org")];
    assert_eq!(sign_in(&relay, &proxy, &coordinator.token, &evil).await.0, StatusCode::FORBIDDEN);
}
