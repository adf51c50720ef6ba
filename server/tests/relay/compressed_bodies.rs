//! Sync bodies compressed on the wire (`Content-Encoding: deflate`, core's
//! `sync/body_deflate.rs`): a phone compresses once the relay said it reads that, the relay
//! compresses answers for phones that read them, and a compressed body the relay cannot take
//! is refused by name, with nothing of it kept.

use std::sync::Mutex;

use doorstep_core::sync::SyncResponse;
use doorstep_core::sync::body_deflate::{self, DEFLATE, Effort};
use doorstep_core::{Operation, Role};
use doorstep_replica::Replica;
use doorstep_replica::http::{self, RelayClient, SyncBody};
use doorstep_server::{Config, Limits};
use reqwest::StatusCode;
use serde_json::Value;

use crate::harness::{Fixture, TestRelay, device_now, first_request};

/// A phone on a real replica file, joined and synced once, with its transport and token.
async fn joined_phone(
    fx: &Fixture,
    dir: &tempfile::TempDir,
    name: &str,
) -> (Mutex<Replica>, RelayClient, String) {
    let replica = Mutex::new(Replica::open(dir.path().join(format!("{name}.sqlite"))).unwrap());
    let transport = RelayClient::new(&fx.relay.url, None).unwrap();
    let code = fx.relay.invite(&fx.relay.admin_token, fx.compound, Role::Volunteer).await;
    let joined = http::join(&replica, &transport, &code, name).await.unwrap();
    let transport = transport.with_token(joined.token.clone());
    http::sync(&replica, &transport, device_now).await.unwrap();
    (replica, transport, joined.token)
}

/// Notes as volunteers write them: the same few phrases, door after door.
fn field_notes(door: usize) -> String {
    format!(
        "{door}号门：老人独居，腿脚不便，请把蔬菜包放门口后敲门三下再离开；药品需当面交给家属，电话联系 138{door:08}。"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_compresses_once_the_relay_says_it_reads_that_and_the_relay_takes_every_change() {
    let mut fx = Fixture::new().await;
    // A roster the size of a real compound's, so that the other phone below, which lacks a day's
    // notes, is answered with those changes and not with the whole document (which a six-household
    // roster would be smaller as).
    let beilin =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../data/beilin-roster.csv")).unwrap();
    let report = fx.relay.import_roster(fx.compound, &beilin).await;
    assert!(report["imported"].as_u64().is_some_and(|n| n > 800), "{report}");
    let dir = tempfile::tempdir().unwrap();
    let (replica, transport, _) = joined_phone(&fx, &dir, "李强的手机").await;
    assert!(
        replica.lock().unwrap().sends_compressed_requests(),
        "the relay's first answer said it reads compressed requests"
    );

    // A day of notes offline, then one request built as the app builds it.
    let households = replica.lock().unwrap().compounds().next().unwrap().households();
    let mut written = std::collections::BTreeMap::new();
    for (door, household) in households.iter().cycle().take(24).enumerate() {
        let edit = Operation::EditNotes { household: household.id, notes: field_notes(door) };
        replica.lock().unwrap().apply(device_now(), fx.compound, &edit).unwrap();
        written.insert(household.id, field_notes(door));
    }
    let (mut run, body) = first_request(&replica);
    let plain = body.len();
    let exchanged = transport.exchange(&SyncBody::new(body, true)).await.unwrap();
    assert!(
        exchanged.sent * 2 < plain,
        "the link carries well under half the request's bytes: {} of {plain}",
        exchanged.sent
    );
    assert!(exchanged.relay_reads_deflate);
    assert!(SyncResponse::decode(&exchanged.answer).unwrap().rejected.is_empty());
    run.handle_response(&mut replica.lock().unwrap(), &exchanged.answer, device_now()).unwrap();
    run.carried_on_the_wire(exchanged.sent, exchanged.received, exchanged.took);
    let report = run.finish(&mut replica.lock().unwrap()).unwrap();
    assert_eq!(report.bytes_up, exchanged.sent, "the report counts what the link carried: {report:?}");
    assert_eq!(replica.lock().unwrap().unsynced_changes(), 0, "the relay has the whole day");
    let metrics = fx.relay.metrics().await;
    assert!(metrics.contains("doorstep_sync_bytes_in_total"), "{metrics}");

    // Another volunteer, already synced, gets a longer day as changes: an answer past 64 KiB,
    // compressed for it off the relay's async workers.
    let (other, other_transport, _) = joined_phone(&fx, &dir, "赵敏的手机").await;
    for (door, household) in households.iter().cycle().take(24).enumerate() {
        let long = field_notes(100 + door).repeat(40);
        let edit = Operation::EditNotes { household: household.id, notes: long.clone() };
        replica.lock().unwrap().apply(device_now(), fx.compound, &edit).unwrap();
        written.insert(household.id, long);
    }
    let up = http::sync(&replica, &transport, device_now).await.unwrap();
    assert!(up.rejected.is_empty() && up.set_aside == 0 && up.requests >= 2, "{up:?}");
    assert_eq!(replica.lock().unwrap().unsynced_changes(), 0);
    let (mut run, body) = first_request(&other);
    let exchanged = other_transport.exchange(&SyncBody::new(body, true)).await.unwrap();
    assert!(exchanged.answer.len() > 64 * 1024, "{} B", exchanged.answer.len());
    assert!(
        exchanged.received * 4 < exchanged.answer.len(),
        "the answer came compressed: {} B for {} B",
        exchanged.received,
        exchanged.answer.len()
    );
    run.handle_response(&mut other.lock().unwrap(), &exchanged.answer, device_now()).unwrap();
    run.carried_on_the_wire(exchanged.sent, exchanged.received, exchanged.took);
    let report = run.finish(&mut other.lock().unwrap()).unwrap();
    assert_eq!(report.bytes_down, exchanged.received, "{report:?}");
    let down = http::sync(&other, &other_transport, device_now).await.unwrap();
    assert!(down.failed.is_empty(), "{down:?}");

    // Both phones and the coordinator hold every note.
    fx.coordinator.sync(&fx.relay).await;
    let by_coordinator = fx.coordinator.compound().households();
    let by_other = other.lock().unwrap().compounds().next().unwrap().households();
    for (id, text) in &written {
        assert_eq!(&by_coordinator.iter().find(|h| h.id == *id).unwrap().notes, text);
        assert_eq!(&by_other.iter().find(|h| h.id == *id).unwrap().notes, text);
    }

    // What the phone learnt is kept in its file, and forgotten with the relay.
    drop(replica);
    let mut reopened = Replica::open(dir.path().join("李强的手机.sqlite")).unwrap();
    assert!(reopened.sends_compressed_requests());
    reopened.remember_relay("http://127.0.0.1:1", "dst_other").unwrap();
    assert!(!reopened.sends_compressed_requests());
}

/// POSTs `body` to `/v1/sync` with this `Content-Encoding`; returns the status, the relay's
/// `Accept-Encoding` and its JSON error.
async fn post_encoded(
    relay: &TestRelay,
    token: &str,
    encoding: &str,
    body: Vec<u8>,
) -> (StatusCode, String, Value) {
    let res = relay
        .http
        .post(format!("{}/v1/sync", relay.url))
        .bearer_auth(token)
        .header("content-type", "application/cbor")
        .header("content-encoding", encoding)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let accepts =
        res.headers().get("accept-encoding").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let bytes = res.bytes().await.unwrap();
    (status, accepts, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// POSTs `body` to `/v1/sync` in one chunk, over a raw connection, with this
/// `Transfer-Encoding`; returns the status and the whole answer as text.
async fn post_transfer_coded(relay: &TestRelay, token: &str, coding: &str, body: &[u8]) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(relay.url.trim_start_matches("http://")).await.unwrap();
    let head = format!(
        "POST /v1/sync HTTP/1.1\r\nhost: relay\r\nauthorization: Bearer {token}\r\ncontent-type: application/cbor\r\ntransfer-encoding: {coding}\r\nconnection: close\r\n\r\n{:x}\r\n",
        body.len()
    );
    let mut request = head.into_bytes();
    request.extend_from_slice(body);
    request.extend_from_slice(b"\r\n0\r\n\r\n");
    stream.write_all(&request).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, answer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compressed_body_the_relay_cannot_take_is_refused_by_name_and_nothing_of_it_is_kept() {
    let limit = 256 * 1024;
    let mut fx = Fixture::with_config(Config {
        limits: Limits { max_body_bytes: limit, ..Limits::default() },
        ..Config::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (replica, _, token) = joined_phone(&fx, &dir, "李强的手机").await;
    let household = replica.lock().unwrap().compounds().next().unwrap().households()[0].clone();
    let before = household.notes.clone();
    let edit = Operation::EditNotes { household: household.id, notes: field_notes(7) };
    replica.lock().unwrap().apply(device_now(), fx.compound, &edit).unwrap();
    let plain = {
        let guard = replica.lock().unwrap();
        guard.start_sync().next_request(&guard).unwrap()
    };

    // A bomb: 4 KiB of DEFLATE that inflates past the body limit.
    let mut bomb_body = plain.clone();
    bomb_body.resize(limit * 4, 0);
    let bomb = body_deflate::compress(&bomb_body, Effort::Smallest).unwrap();
    assert!(bomb.len() < 8 * 1024, "{}", bomb.len());
    let (status, accepts, error) = post_encoded(&fx.relay, &token, DEFLATE, bomb).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{error}");
    assert_eq!(error["error"], "too_large");
    assert!(error["reason"].as_str().unwrap().contains("inflates to more than"), "{error}");
    assert_eq!(accepts, DEFLATE, "a refusal says what the relay reads too");

    // Bytes that are not DEFLATE, and a DEFLATE stream cut short.
    let (status, _, error) = post_encoded(&fx.relay, &token, DEFLATE, plain.clone()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(error["error"], "malformed");
    assert!(error["reason"].as_str().unwrap().contains("not DEFLATE data"), "{error}");
    let compressed = body_deflate::compress(&plain, Effort::Smallest).unwrap();
    let cut = compressed[..compressed.len() / 2].to_vec();
    let (status, _, error) = post_encoded(&fx.relay, &token, DEFLATE, cut).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");

    // A whole stream with bytes after it: nothing rides past the checks unread.
    let mut trailing = compressed.clone();
    trailing.extend_from_slice(&plain);
    let (status, _, error) = post_encoded(&fx.relay, &token, DEFLATE, trailing).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert!(
        error["reason"].as_str().unwrap().contains("bytes follow the end of the compressed stream"),
        "{error}"
    );

    // A transfer coding the relay does not undo: read as plain, its gzip would be taken for CBOR.
    let (status, answer) = post_transfer_coded(&fx.relay, &token, "gzip, chunked", &plain).await;
    assert_eq!(status, 501, "{answer}");
    assert!(answer.contains("unsupported_transfer_coding") && answer.contains("gzip"), "{answer}");

    // A coding the relay does not read.
    let (status, accepts, error) = post_encoded(&fx.relay, &token, "gzip", plain.clone()).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{error}");
    assert!(error["reason"].as_str().unwrap().contains("Content-Encoding: deflate"), "{error}");
    assert_eq!(accepts, DEFLATE);

    // None of it reached the roster: another phone still sees the notes as they were.
    fx.volunteers[1].sync(&fx.relay).await;
    let seen = fx.volunteers[1].compound().households().into_iter().find(|h| h.id == household.id).unwrap();
    assert_eq!(seen.notes, before);

    // The same request compressed whole is taken, and the relay is there to take it.
    let (status, _, error) = post_encoded(&fx.relay, &token, DEFLATE, compressed).await;
    assert_eq!(status, StatusCode::OK, "{error}");
    // As are plain chunks (the same request again: harmless).
    let (status, answer) = post_transfer_coded(&fx.relay, &token, "chunked", &plain).await;
    assert_eq!(status, 200, "{answer}");
    fx.volunteers[1].sync(&fx.relay).await;
    let seen = fx.volunteers[1].compound().households().into_iter().find(|h| h.id == household.id).unwrap();
    assert_eq!(seen.notes, field_notes(7));
}
