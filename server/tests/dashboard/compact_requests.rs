//! A real phone replica (a SQLite file) against the real relay: once the relay has said it reads
//! the compact form of a sync request, the phone sends every request that way (IDs as bytes, an
//! untouched document as its heads), across restarts; the relay's news for an untouched document
//! still arrive in one request; and a relay that cannot read the compact form (an older one,
//! here a loopback proxy answering compact requests as an older relay's decoder does) gets the
//! request again in the plain form, and the phone stops sending compact ones.

use std::sync::Mutex;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use doorstep_core::Operation;
use doorstep_core::id::CompoundId;
use doorstep_core::sync::{SyncRequest, SyncResponse};
use doorstep_replica::Replica;
use doorstep_replica::http::{self, RelayClient};
use serde_json::json;

use crate::harness::{Dash, now};

/// A phone that has joined `compound` through `url` and synced once.
async fn joined_phone(
    dash: &Dash,
    compound: CompoundId,
    url: &str,
    path: &std::path::Path,
) -> (Mutex<Replica>, RelayClient, String) {
    let replica = Mutex::new(Replica::open(path).unwrap());
    let client = RelayClient::new(url, None).unwrap();
    let joined =
        http::join_as(&replica, &client, &dash.volunteer_invite(compound).await, "李强的手机", Some("李强"))
            .await
            .unwrap();
    (replica, client.with_token(joined.token.clone()), joined.token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_the_relay_says_it_reads_them_requests_go_compact_and_news_still_arrive() {
    let dash = Dash::start().await;
    let (compound, mut coordinator) = dash.small_compound().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("phone.db");
    let (replica, client, _) = joined_phone(&dash, compound, dash.url(), &path).await;
    assert!(!replica.lock().unwrap().sends_compact_requests(), "nothing is known of the relay yet");

    let first = http::sync(&replica, &client, now).await.unwrap();
    assert!(replica.lock().unwrap().sends_compact_requests(), "the relay's answer said it reads them");
    // The first sync's second request already went compact, so measure a reconnect both ways:
    // the plain one by a second phone file that has not learned it yet.
    let again = http::sync(&replica, &client, now).await.unwrap();
    assert_eq!(again.requests, 1);
    assert!(first.requests >= 1);
    // Two documents held (roster, requests), both untouched: each goes as its ID (17 bytes) and
    // its one head (34 bytes) and a little framing, where the plain form sends about 130 bytes.
    assert!(again.bytes_up < 160, "a compact reconnect with two untouched documents: {} B", again.bytes_up);

    // Kept in the file: after a restart, still compact.
    crate::relay_harness::reopen(&replica, &path);
    assert!(replica.lock().unwrap().sends_compact_requests());

    // The coordinator edits a household: the roster is untouched on the phone, so it goes as its
    // heads, and the edit comes back in the answer to that one request.
    coordinator.sync(&dash.relay).await;
    let household = coordinator.compound().households()[0].id;
    coordinator.apply(&Operation::EditNotes { household, notes: "腿脚不便".into() }).unwrap();
    assert!(coordinator.sync(&dash.relay).await.rejected.is_empty());
    let news = http::sync(&replica, &client, now).await.unwrap();
    assert_eq!(news.requests, 1, "news for an untouched document in one request: {news:?}");
    assert!(news.bytes_up < 160, "{} B", news.bytes_up);
    let notes = replica.lock().unwrap().compounds().next().unwrap().households()[0].notes.clone();
    assert_eq!(notes, "腿脚不便", "the relay's change reached the phone");

    // The phone's own work goes compact too, and the relay takes it.
    replica
        .lock()
        .unwrap()
        .apply(now(), compound, &Operation::EditNotes { household, notes: "腿脚不便，住6楼".into() })
        .unwrap();
    let up = http::sync(&replica, &client, now).await.unwrap();
    assert!(up.rejected.is_empty() && up.failed.is_empty(), "{up:?}");
    assert_eq!(up.requests, 1);
    coordinator.sync(&dash.relay).await;
    assert_eq!(coordinator.compound().households()[0].notes, "腿脚不便，住6楼");
}

/// What the proxy forwards to.
#[derive(Clone)]
struct Upstream {
    url: String,
    http: reqwest::Client,
}

/// An older relay as its phones see it: a compact request is refused as its decoder refuses an
/// array (400, `malformed`), and so is a compressed one; no answer says `reads_compact` or
/// `Accept-Encoding`, and none comes compressed. Everything else goes to the real relay
/// unchanged.
async fn older_relay(
    State(upstream): State<Upstream>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let is_sync = uri.path() == "/v1/sync";
    // Nor compressed bodies: it reads the compressed bytes as CBOR, and they are not.
    if is_sync && (SyncRequest::is_compact(&body) || headers.contains_key("content-encoding")) {
        let refusal = json!({ "error": "malformed", "reason": "the body is not a sync request: invalid type: sequence, expected struct SyncRequest" });
        return (StatusCode::BAD_REQUEST, axum::Json(refusal)).into_response();
    }
    let mut forwarded = upstream.http.request(method, format!("{}{}", upstream.url, uri));
    for (name, value) in &headers {
        if name != "host" && name != "content-length" && name != "accept-encoding" {
            forwarded = forwarded.header(name, value);
        }
    }
    let answer = forwarded.body(body.to_vec()).send().await.unwrap();
    let status = answer.status();
    let content_type = answer.headers().get("content-type").cloned();
    let mut bytes = answer.bytes().await.unwrap().to_vec();
    if is_sync && status.is_success() {
        let mut response = SyncResponse::decode(&bytes).unwrap();
        response.reads_compact = false;
        bytes = response.encode();
    }
    let mut out = (status, bytes).into_response();
    if let Some(content_type) = content_type {
        out.headers_mut().insert("content-type", content_type);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_that_cannot_read_the_compact_form_gets_the_plain_one_and_the_phone_stops() {
    let dash = Dash::start().await;
    let (compound, _coordinator) = dash.small_compound().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("phone.db");

    // The phone learns from the current relay that it reads the compact form ...
    let (replica, client, token) = joined_phone(&dash, compound, dash.url(), &path).await;
    http::sync(&replica, &client, now).await.unwrap();
    assert!(replica.lock().unwrap().sends_compact_requests());

    // ... then the relay is rolled back to a version that cannot (the proxy), at the same URL as
    // far as the phone knows: its next request is refused and sent again plain, in the same sync.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_url = format!("http://{}", listener.local_addr().unwrap());
    let upstream = Upstream { url: dash.url().to_owned(), http: reqwest::Client::new() };
    let app = axum::Router::new().fallback(older_relay).with_state(upstream);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let older = RelayClient::new(&proxy_url, Some(token)).unwrap();

    let household = replica.lock().unwrap().compounds().next().unwrap().households()[0].id;
    replica
        .lock()
        .unwrap()
        .apply(now(), compound, &Operation::EditNotes { household, notes: "独居".into() })
        .unwrap();
    let synced = http::sync(&replica, &older, now).await.unwrap();
    assert!(synced.rejected.is_empty() && synced.failed.is_empty(), "{synced:?}");
    assert_eq!(
        synced.requests, 3,
        "the compact request compressed, then uncompressed, then the same one plain: {synced:?}"
    );
    assert_eq!(replica.lock().unwrap().unsynced_changes(), 0, "the edit went up");
    assert!(!replica.lock().unwrap().sends_compact_requests(), "the phone stopped sending compact requests");
    assert!(!replica.lock().unwrap().sends_compressed_requests(), "and compressed ones");
    crate::relay_harness::reopen(&replica, &path);
    assert!(!replica.lock().unwrap().sends_compact_requests(), "and it is kept in the file");
    let plain = http::sync(&replica, &older, now).await.unwrap();
    assert_eq!(plain.requests, 1, "plain from the start now: {plain:?}");

    // Back on a relay that reads them, the phone learns it again.
    http::sync(&replica, &client, now).await.unwrap();
    assert!(replica.lock().unwrap().sends_compact_requests());
}
