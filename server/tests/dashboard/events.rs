//! The live change stream: a phone's sync reaches open streams within a second; a volunteer's
//! stream never mentions the care ledger; a client that goes away leaves nothing behind; and
//! shutdown does not wait for open streams.

use std::time::{Duration, Instant};

use doorstep_core::Operation;
use doorstep_core::Role;
use doorstep_core::schema::vocabulary::Outcome;
use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{Dash, EventReader};
use crate::operations::round_for_building_1;

/// Opens `GET /v1/events` with a device token.
async fn phone_stream(dash: &Dash, token: &str) -> EventReader {
    let res = dash.http.get(format!("{}/v1/events", dash.url())).bearer_auth(token).send().await.unwrap();
    EventReader::new(res)
}

/// Waits until the relay holds `n` subscriptions.
async fn subscribers(dash: &Dash, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(3);
    while dash.state.relay.events().subscribers() != n {
        assert!(
            Instant::now() < deadline,
            "subscribers: {} not {n}",
            dash.state.relay.events().subscribers()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phones_sync_reaches_the_dashboard_and_other_phones_within_a_second() {
    let mut dash = Dash::start().await;
    let (compound, coordinator) = dash.small_compound().await;
    let session = dash.login(&coordinator.token).await;
    let round = round_for_building_1(&session, compound).await;
    let mut volunteer = dash.relay.phone(compound, Role::Volunteer, "李强").await;
    let other = dash.relay.phone(compound, Role::Volunteer, "赵敏").await;
    volunteer.sync(&dash.relay).await;

    let mut board =
        EventReader::new(session.open(&format!("/dashboard/api/events?compound={compound}")).await);
    let mut phone = phone_stream(&dash, &other.token).await;
    subscribers(&dash, 2).await;

    let task = volunteer.compound().open_tasks()[0].id;
    volunteer
        .apply(&Operation::RecordAttempt { round, task, outcome: Outcome::Delivered, note: String::new() })
        .unwrap();
    let synced_at = Instant::now();
    volunteer.sync(&dash.relay).await;
    let expected = json!({"compound": compound.to_string(), "doc": round.to_string(), "kind": "round"});
    let seen = board.next_change(Duration::from_secs(1)).await;
    let latency = synced_at.elapsed();
    assert_eq!(seen, Some(expected.clone()), "the dashboard heard of the attempt");
    assert_eq!(phone.next_change(Duration::from_secs(1)).await, Some(expected), "so did the other phone");
    println!("sync to dashboard event: {latency:?} (includes the sync request itself)");
    assert!(latency < Duration::from_secs(1));

    // A stream is for the compound on screen: another compound's changes are not sent.
    let elsewhere = dash.relay.create_compound("北林").await;
    let admin = dash.login(&dash.relay.admin_token).await;
    let added = admin
        .operate(elsewhere, &json!({"op": "add_building", "estate": "", "label": "9", "lift": true}))
        .await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.text());
    assert_eq!(board.next_change(Duration::from_millis(300)).await, None);

    // Shutdown closes open streams instead of waiting for them.
    dash.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_volunteers_stream_never_mentions_the_care_ledger() {
    let dash = Dash::start().await;
    let (compound, coordinator) = dash.small_compound().await;
    let volunteer = dash.relay.phone(compound, Role::Volunteer, "李强").await;
    let medic = dash.relay.phone(compound, Role::Medic, "周医生").await;
    let session = dash.login(&coordinator.token).await;
    let households = session.get_json(&format!("/dashboard/api/compounds/{compound}/households")).await;
    let household = households[4]["id"].as_str().unwrap().to_owned();

    let mut theirs = phone_stream(&dash, &volunteer.token).await;
    let mut medics = phone_stream(&dash, &medic.token).await;
    subscribers(&dash, 2).await;
    let care = session
        .operate(
            compound,
            &json!({"op": "add_care_entry", "draft": {
                "household": household, "person_name": "李四", "condition": "dialysis",
                "schedule": "每周二、四、六上午血透", "medicines": "", "insurance_card_held_by": null, "notes": ""
            }}),
        )
        .await;
    assert_eq!(care.status, StatusCode::OK, "{}", care.text());
    let notes = session
        .operate(
            compound,
            &json!({"op": "edit_notes", "household": household, "notes": "周二血透，上午不在家"}),
        )
        .await;
    assert_eq!(notes.status, StatusCode::OK, "{}", notes.text());

    let medic_saw = medics.next_change(Duration::from_secs(2)).await.unwrap();
    assert_eq!(medic_saw["kind"], "care", "a medic's stream carries the care ledger");
    let volunteer_saw = theirs.next_change(Duration::from_secs(2)).await.unwrap();
    assert_eq!(volunteer_saw["kind"], "roster", "the care change was skipped: {volunteer_saw}");

    // No token, no stream.
    let res = dash.http.get(format!("{}/v1/events", dash.url())).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = session.open("/dashboard/api/events").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "the dashboard stream names its compound");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_goes_away_leaves_no_subscription_behind() {
    let dash = Dash::start().await;
    let (compound, coordinator) = dash.small_compound().await;
    let session = dash.login(&coordinator.token).await;
    assert_eq!(dash.state.relay.events().subscribers(), 0);
    for _ in 0..5 {
        let stream = session.open(&format!("/dashboard/api/events?compound={compound}")).await;
        assert_eq!(stream.status(), StatusCode::OK);
        drop(stream);
    }
    let kept = phone_stream(&dash, &coordinator.token).await;
    // A change makes every stream write, which is the latest a dropped connection is noticed.
    let added = session
        .operate(compound, &json!({"op": "add_building", "estate": "", "label": "9", "lift": true}))
        .await;
    assert_eq!(added.status, StatusCode::OK);
    subscribers(&dash, 1).await;
    drop(kept);
    let added = session
        .operate(compound, &json!({"op": "add_building", "estate": "", "label": "10", "lift": true}))
        .await;
    assert_eq!(added.status, StatusCode::OK);
    subscribers(&dash, 0).await;
}
