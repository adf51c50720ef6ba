//! Live-stream caps over real HTTP: one device and one person hold a bounded number of
//! streams, volunteers cannot take the slots kept for coordinators, and a closed stream gives
//! its slot back.

use std::time::{Duration, Instant};

use doorstep_core::Role;
use doorstep_server::Config;
use doorstep_server::config::StreamLimits;
use reqwest::StatusCode;
use serde_json::Value;

use crate::harness::Dash;

/// Opens `GET /v1/events` with a device token; the response is kept open by the caller.
async fn open(dash: &Dash, token: &str) -> reqwest::Response {
    dash.http.get(format!("{}/v1/events", dash.url())).bearer_auth(token).send().await.unwrap()
}

async fn refused(res: reqwest::Response) -> (StatusCode, String) {
    let status = res.status();
    let body: Value = serde_json::from_slice(&res.bytes().await.unwrap()).unwrap();
    (status, body["error"].as_str().unwrap_or_default().to_owned())
}

/// Waits until the relay holds `n` stream slots.
async fn open_streams(dash: &Dash, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while dash.state.streams.open() != n {
        assert!(Instant::now() < deadline, "streams open: {} not {n}", dash.state.streams.open());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn volunteers_are_capped_and_never_starve_the_coordinators() {
    let limits = StreamLimits {
        total: 7,
        reserved_for_coordinators: 3,
        per_person: 3,
        per_device: 2,
        per_compound: 7,
    };
    let dash = Dash::start_with(Config { streams: limits, ..Config::default() }).await;
    let (compound, coordinator) = dash.small_compound().await;
    let a = dash.relay.phone(compound, Role::Volunteer, "李强").await;
    let b = dash.relay.phone(compound, Role::Volunteer, "赵敏").await;
    let c = dash.relay.phone(compound, Role::Volunteer, "孙丽").await;

    // One device holds two streams; a third is refused with a reason, not a 503.
    let a1 = open(&dash, &a.token).await;
    let a2 = open(&dash, &a.token).await;
    assert_eq!((a1.status(), a2.status()), (StatusCode::OK, StatusCode::OK));
    assert_eq!(
        refused(open(&dash, &a.token).await).await,
        (StatusCode::TOO_MANY_REQUESTS, "too_many_streams".into())
    );

    // Volunteers may hold 7 - 3 = 4 slots between them.
    let b1 = open(&dash, &b.token).await;
    let b2 = open(&dash, &b.token).await;
    assert_eq!((b1.status(), b2.status()), (StatusCode::OK, StatusCode::OK));
    assert_eq!(
        refused(open(&dash, &c.token).await).await,
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable".into())
    );

    // The coordinator still gets their phone's stream and the dashboard's.
    let phone = open(&dash, &coordinator.token).await;
    assert_eq!(phone.status(), StatusCode::OK);
    let session = dash.login(&coordinator.token).await;
    let board = session.open(&format!("/dashboard/api/events?compound={compound}")).await;
    assert_eq!(board.status(), StatusCode::OK);
    let board2 = session.open(&format!("/dashboard/api/events?compound={compound}")).await;
    assert_eq!(board2.status(), StatusCode::OK);
    open_streams(&dash, 7).await;
    // Now the relay is full, and the coordinator's per-person cap (3) is reached too.
    let (status, code) =
        refused(session.open(&format!("/dashboard/api/events?compound={compound}")).await).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{code}");

    // A volunteer who closes a stream gives its slot back.
    drop(a1);
    open_streams(&dash, 6).await;
    let c1 = open(&dash, &c.token).await;
    assert_eq!(c1.status(), StatusCode::OK);
    drop((a2, b1, b2, c1, phone, board, board2));
    open_streams(&dash, 0).await;
}
