//! A session that holds a lock and never lets go (a relay paused mid-commit, an operator's
//! forgotten `LOCK TABLE` in psql) holds no other relay's request past the relay's own bound on
//! a lock wait: the request is answered 503 with `Retry-After` within seconds, not 408 after the
//! request limit, and leaves no session of the relay's waiting in PostgreSQL once answered
//! (they piled up past `max_connections` before). The relay's own sessions sitting idle inside a
//! transaction are ended by PostgreSQL (`storage/postgres/session_bounds.rs`).
//!
//! Needs `DOORSTEP_TEST_POSTGRES` (run under `scripts/with-postgres`); without it the test says
//! it was skipped.

use std::time::{Duration, Instant};

use doorstep_server::config::Config;
use doorstep_server::storage::postgres::scratch::ScratchDatabase;
use reqwest::StatusCode;
use serde_json::json;
use tokio_postgres::NoTls;

use crate::harness::TestRelay;

/// The relay's sessions waiting on a lock now.
async fn relay_sessions_waiting(db: &tokio_postgres::Client) -> i64 {
    db.query_one(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'doorstep' AND wait_event_type = 'Lock'",
        &[],
    )
    .await
    .unwrap()
    .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_held_elsewhere_is_a_503_within_the_lock_wait_and_leaves_no_session_waiting() {
    let Some(db) = ScratchDatabase::from_env().await else { return };
    let relay = TestRelay::start_on(db.url(), Config::default()).await;
    let (mut other, connection) = tokio_postgres::connect(db.url(), NoTls).await.unwrap();
    tokio::spawn(connection);
    // Another session locks the documents table and sits inside its transaction.
    let holder = other.transaction().await.unwrap();
    holder.batch_execute("LOCK TABLE documents IN ACCESS EXCLUSIVE MODE").await.unwrap();

    let started = Instant::now();
    let (status, body) = relay
        .json("POST", "/v1/compounds", &relay.admin_token, Some(json!({"name": "香樟苑", "again": true})))
        .await;
    let took = started.elapsed();
    println!("creating a compound beside a held lock: {status} in {took:?}: {body}");
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let limit = doorstep_server::storage::postgres::LOCK_WAIT;
    assert!(took >= limit && took < limit + Duration::from_secs(8), "answered after the lock wait: {took:?}");
    let (lookout, connection) = tokio_postgres::connect(db.url(), NoTls).await.unwrap();
    tokio::spawn(connection);
    assert_eq!(relay_sessions_waiting(&lookout).await, 0, "nothing of the relay's still waits");

    // Once the lock goes, the same request is taken.
    holder.rollback().await.unwrap();
    let (status, body) = relay
        .json("POST", "/v1/compounds", &relay.admin_token, Some(json!({"name": "香樟苑", "again": true})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}
