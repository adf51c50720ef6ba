//! Two relays on one PostgreSQL database share their allowances: a guesser throttled by relay A
//! is throttled by relay B, a phone asking for a whole document in a loop is refused by whichever
//! relay the balancer hands it to, and restarting a relay hands out no fresh allowance.
//!
//! Needs `DOORSTEP_TEST_POSTGRES` (run under `scripts/with-postgres`); without it the tests say
//! they were skipped.

use std::net::IpAddr;

use doorstep_core::Role;
use doorstep_core::schema::vocabulary::DocKind;
use doorstep_core::sync::{DocMessage, SyncRequest, WIRE_VERSION};
use doorstep_server::config::{Config, JoinLimits};
use doorstep_server::refetch_guard::FULL_FETCHES;
use doorstep_server::storage::postgres::scratch::ScratchDatabase;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{ROSTER_CSV, TestRelay};

fn tight_join() -> Config {
    Config { join: JoinLimits { per_second: 0.001, burst: 3.0 }, ..Config::default() }
}

/// A join attempt with a code that does not exist, from 127.0.0.20 (not the relay's own host,
/// so it is throttled); returns the status and the error code.
async fn guess(relay: &TestRelay) -> (StatusCode, String) {
    let client = reqwest::Client::builder().local_address(IpAddr::from([127, 0, 0, 20])).build().unwrap();
    let res = client
        .post(format!("{}/v1/join", relay.url))
        .header("content-type", "application/json")
        .body(json!({"invite_code": "AAAA-BBBB-CCCC", "device_name": "guess", "name": "guess"}).to_string())
        .send()
        .await
        .unwrap();
    let status = res.status();
    let body: Value = serde_json::from_slice(&res.bytes().await.unwrap()).unwrap_or(Value::Null);
    (status, body["error"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guesser_throttled_on_one_relay_is_throttled_on_the_other_and_after_a_restart() {
    let Some(db) = ScratchDatabase::from_env().await else { return };
    let a = TestRelay::start_on(db.url(), tight_join()).await;
    let mut b = TestRelay::start_on(db.url(), tight_join()).await;
    for _ in 0..3 {
        let (status, code) = guess(&a).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{code}");
    }
    assert_eq!(guess(&a).await, (StatusCode::TOO_MANY_REQUESTS, "join_throttled".to_owned()));
    // The other relay has never seen this address, and still refuses it.
    assert_eq!(guess(&b).await, (StatusCode::TOO_MANY_REQUESTS, "join_throttled".to_owned()));
    // A restarted relay starts with empty memory and the same refusal.
    b.stop().await;
    let b = TestRelay::start_on(db.url(), tight_join()).await;
    assert_eq!(guess(&b).await, (StatusCode::TOO_MANY_REQUESTS, "join_throttled".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refetch_loop_spread_over_two_relays_is_refused_and_a_restart_does_not_forgive_it() {
    let Some(db) = ScratchDatabase::from_env().await else { return };
    let a = TestRelay::start_on(db.url(), Config::default()).await;
    let mut b = TestRelay::start_on(db.url(), Config::default()).await;
    b.admin_token = a.admin_token.clone();
    let compound = a.create_compound("共享苑").await;
    a.import_roster(compound, ROSTER_CSV).await;
    let mut phone = a.phone(compound, Role::Volunteer, "王芳").await;
    // The phone's first sync fetches each document whole: one of the roster's allowance.
    phone.sync(&a).await;
    let roster = phone.doc_of(DocKind::Roster).id();
    let empty = doorstep_core::sync::generate(
        &automerge::Automerge::new(),
        &mut doorstep_core::sync::PeerState::new(),
    )
    .expect("a first message");
    let everything = SyncRequest {
        version: WIRE_VERSION,
        documents_digest: None,
        messages: vec![DocMessage { doc: roster, message: empty }],
    };
    // The rest of the allowance, alternating between the relays as a balancer would.
    for i in 1..FULL_FETCHES {
        let relay = if i % 2 == 0 { &a } else { &b };
        let response = relay.sync(&phone.token, &everything).await;
        assert!(response.rejected.is_empty(), "fetch {i}: {:?}", response.rejected);
        assert_eq!(response.messages.len(), 1, "a phone that lost its copy gets the document");
    }
    for relay in [&a, &b] {
        let response = relay.sync(&phone.token, &everything).await;
        assert_eq!(response.rejected.len(), 1, "{:?}", response.rejected);
        assert_eq!(response.rejected[0].rule, "refetch_loop");
        assert!(response.messages.is_empty(), "nothing of the roster is sent");
    }
    b.stop().await;
    let b = TestRelay::start_on(db.url(), Config::default()).await;
    let response = b.sync(&phone.token, &everything).await;
    assert_eq!(
        response.rejected.iter().map(|r| r.rule.as_str()).collect::<Vec<_>>(),
        ["refetch_loop"],
        "a restarted relay remembers the loop"
    );
}

/// `GET /v1/me` with `token` on `relay`: the status.
async fn me(relay: &TestRelay, token: &str) -> StatusCode {
    relay.http.get(format!("{}/v1/me", relay.url)).bearer_auth(token).send().await.unwrap().status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tokens_request_rate_is_one_allowance_across_relays_and_restarts() {
    let Some(db) = ScratchDatabase::from_env().await else { return };
    let tight = || {
        let mut config = Config::default();
        config.limits.rate_per_second = 0.001;
        config.limits.rate_burst = 3.0;
        config
    };
    let a = TestRelay::start_on(db.url(), tight()).await;
    let token = a.admin_token.clone();
    let mut b = TestRelay::start_on(db.url(), tight()).await;
    for _ in 0..3 {
        assert_eq!(me(&a, &token).await, StatusCode::OK);
    }
    assert_eq!(me(&a, &token).await, StatusCode::TOO_MANY_REQUESTS);
    // Relay B has never served this token, and its own memory would let it through: the shared
    // bucket does not.
    assert_eq!(me(&b, &token).await, StatusCode::TOO_MANY_REQUESTS);
    b.stop().await;
    let b = TestRelay::start_on(db.url(), tight()).await;
    assert_eq!(me(&b, &token).await, StatusCode::TOO_MANY_REQUESTS, "a restart gives no fresh allowance");
}
