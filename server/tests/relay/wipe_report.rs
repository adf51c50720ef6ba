//! A revoked phone's report of the work its wipe took, when the link cuts the report off: the
//! phone keeps it (with the revoked token) and the next sync sends it, so the coordinator still
//! learns what to ask the volunteer to redo.

use doorstep_core::operation::Operation;
use doorstep_replica::http::{self, RelayClient, TransportError};
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{Fixture, device_now};
use crate::landing::joined_volunteer;
use crate::link_proxy::{Joined, proxy};

/// Carries `link` until the phone sends its wipe's report, then drops it both ways, as a window
/// of signal that closes right after the sync's answer.
async fn until_the_wipe_report(mut link: Joined) {
    let (mut from_relay, mut to_phone) = (link.from_relay, link.to_phone);
    let down = tokio::spawn(async move { tokio::io::copy(&mut from_relay, &mut to_phone).await });
    let mut buf = vec![0_u8; 4096];
    while let Ok(n @ 1..) = link.from_phone.read(&mut buf).await {
        let read = buf.get(..n).unwrap_or_default();
        if read.windows(9).any(|w| w == b"/v1/wiped") || link.to_relay.write_all(read).await.is_err() {
            break;
        }
    }
    down.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wipe_report_the_link_cut_off_is_kept_and_sent_by_the_next_sync() {
    let fx = Fixture::new().await;
    let (_dir, replica, direct, token) = joined_volunteer(&fx.relay, fx.compound, "李强").await;
    http::sync(&replica, &direct, device_now).await.unwrap();
    let person = replica.lock().unwrap().identity().unwrap().person;
    // Work offline, then the phone is reported lost.
    let household = replica.lock().unwrap().compounds().next().unwrap().households()[0].id;
    for n in 0..3 {
        let edit = Operation::EditNotes { household, notes: format!("门口第{n}次") };
        replica.lock().unwrap().apply(device_now(), fx.compound, &edit).unwrap();
    }
    let (status, body) = fx
        .relay
        .json("POST", &format!("/v1/persons/{person}/revoke-devices"), &fx.relay.admin_token, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The sync learns the token was revoked and wipes; the link drops the report.
    let cut =
        RelayClient::new(&proxy(&fx.relay.url, until_the_wipe_report).await, Some(token.clone())).unwrap();
    let wiped = http::sync(&replica, &cut, device_now).await.unwrap_err();
    assert!(matches!(wiped, TransportError::Removed { .. }), "{wiped}");
    assert!(replica.lock().unwrap().compounds().next().is_none(), "wiped");
    let pending = replica.lock().unwrap().pending_wipe_report().unwrap().expect("the report is kept");
    assert_eq!((pending.unsent, pending.token.as_str()), (3, token.as_str()));
    let cookie = fx.relay.dashboard_cookie(&fx.relay.admin_token).await;
    let wipe_shown = |members: serde_json::Value| {
        members
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["person"] == person.to_string())
            .flat_map(|m| m["devices"].as_array().unwrap().clone())
            .map(|d| d["wiped"]["unsent"].clone())
            .collect::<Vec<_>>()
    };
    let members_path = format!("/dashboard/api/compounds/{}/members", fx.compound);
    let shown = wipe_shown(fx.relay.dashboard_get(&cookie, &members_path).await);
    assert_eq!(shown, vec![serde_json::Value::Null], "the relay has not heard it yet");

    // The next sync in signal sends it first, and forgets it once heard.
    assert!(http::send_pending_wipe_report(&replica, &direct).await.unwrap());
    assert!(replica.lock().unwrap().pending_wipe_report().unwrap().is_none());
    let shown = wipe_shown(fx.relay.dashboard_get(&cookie, &members_path).await);
    assert_eq!(shown, vec![serde_json::json!(3)], "the coordinator sees the three changes that went");
    assert!(!http::send_pending_wipe_report(&replica, &direct).await.unwrap(), "nothing left to send");
}
