//! The bytes of request bodies the relay holds at once are bounded (`bodies_in_hand.rs`): a
//! body's bytes are held as they arrive (a client that declares a long body and goes quiet holds
//! what it sent), a body that finds no room is refused with 503 and `Retry-After`, one member's
//! requests hold at most their share, the room comes back when a request ends, however it ends,
//! and compressed bodies sent at once by every member cannot make the relay hold more than the
//! room. The two routes anyone may call without a token take bodies of at most 16 KiB.

use std::io::Write;
use std::time::{Duration, Instant};

use doorstep_core::sync::{DocMessage, SyncRequest, WIRE_VERSION};
use doorstep_server::{Config, Limits};
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{Fixture, JsonResponse, TestRelay};

const MIB: usize = 1024 * 1024;

/// A relay whose bodies in hand are `room` bytes, with rate limits out of the way.
async fn fixture(room: usize, max_body: usize) -> Fixture {
    let limits = Limits {
        rate_per_second: 1000.0,
        rate_burst: 1000.0,
        bodies_in_hand: room,
        max_body_bytes: max_body,
        ..Limits::default()
    };
    Fixture::with_config(Config { limits, ..Config::default() }).await
}

/// Waits until the relay holds `test(held)` bytes of bodies, or fails after ten seconds.
async fn until_held(fx: &Fixture, test: impl Fn(usize) -> bool, what: &str) {
    let in_hand = &fx.relay.state.as_ref().unwrap().bodies_in_hand;
    let since = Instant::now();
    while !test(in_hand.held()) {
        assert!(
            since.elapsed() < Duration::from_secs(10),
            "{what}: the relay holds {} bytes",
            in_hand.held()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The headers of a sync request declaring `length` bytes of body.
fn sync_head(address: &str, token: &str, length: usize) -> String {
    format!(
        "POST /v1/sync HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/cbor\r\nContent-Length: {length}\r\n\r\n"
    )
}

/// A client that declares `length` bytes of a sync body and sends `sent` of them, then waits.
async fn slow_client(address: &str, token: &str, length: usize, sent: usize) -> tokio::net::TcpStream {
    let mut slow = tokio::net::TcpStream::connect(address).await.unwrap();
    slow.write_all(sync_head(address, token, length).as_bytes()).await.unwrap();
    slow.write_all(&vec![0u8; sent]).await.unwrap();
    slow
}

/// What the relay answers to a request of `head` and `body` sent on a connection of its own.
async fn answer_to(address: &str, head: &str, body: &[u8]) -> String {
    let mut other = tokio::net::TcpStream::connect(address).await.unwrap();
    other.write_all(head.as_bytes()).await.unwrap();
    // The relay may answer before the body is all sent, and close: the answer is what counts.
    let _ = other.write_all(body).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), other.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).to_lowercase()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_declares_a_long_body_and_goes_quiet_holds_only_what_it_sent() {
    let mut fx = fixture(12 * MIB, 4 * MIB).await;
    let token = fx.volunteers[0].token.clone();
    let address = fx.relay.url.trim_start_matches("http://").to_owned();
    // Three clients declare 4 MiB each, send a kilobyte and go quiet. Holding what they declared
    // took all the room until the request timeout, and every other phone was refused; one member
    // could do that within their token's burst, again and again.
    let mut slow = Vec::new();
    for _ in 0..3 {
        slow.push(slow_client(&address, &token, 4 * MIB, 1024).await);
    }
    until_held(&fx, |held| held == 3 * 1024, "three quiet bodies, a kilobyte each").await;
    let synced = fx.volunteers[1].sync(&fx.relay).await;
    assert!(synced.rejected.is_empty(), "{:?}", synced.rejected);
    drop(slow);
    until_held(&fx, |held| held == 0, "after the quiet clients left").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_finds_no_room_is_refused_with_a_wait_and_the_room_comes_back() {
    // Room for three bodies at the limit (the least the relay allows: one request at its most),
    // which is then also one person's share.
    let mut fx = fixture(12 * MIB, 4 * MIB).await;
    let token = fx.volunteers[0].token.clone();
    let address = fx.relay.url.trim_start_matches("http://").to_owned();
    // Three clients send all but a kilobyte of 4 MiB bodies: the relay holds all its room less
    // three kilobytes.
    let mut slow = Vec::new();
    for _ in 0..3 {
        slow.push(slow_client(&address, &token, 4 * MIB, 4 * MIB - 1024).await);
    }
    until_held(&fx, |held| held == 12 * MIB - 3 * 1024, "three bodies all but sent").await;

    // Another member's body of 64 KiB finds no room: 503, a wait, and a reason.
    let other = fx.volunteers[1].token.clone();
    let answer = answer_to(&address, &sync_head(&address, &other, 64 * 1024), &[0u8; 64 * 1024]).await;
    assert!(answer.starts_with("http/1.1 503"), "{answer}");
    assert!(answer.contains("retry-after: 2"), "{answer}");
    assert!(answer.contains("\"error\":\"unavailable\""), "{answer}");
    assert!(answer.contains("request bodies"), "{answer}");

    // One slow client goes away: its room comes back, and a phone's sync fits in it.
    drop(slow.pop());
    until_held(&fx, |held| held == 8 * MIB - 2 * 1024, "after one slow client left").await;
    let synced = fx.volunteers[1].sync(&fx.relay).await;
    assert!(synced.rejected.is_empty(), "{:?}", synced.rejected);

    // All gone: a body at the limit is read whole (and refused for what it is, not for room).
    drop(slow);
    until_held(&fx, |held| held == 0, "after the slow clients left").await;
    let big = vec![0xA5u8; 4 * MIB];
    let read = fx.relay.sync_raw(Some(&token), Some("application/cbor"), big).await;
    assert_eq!(read.status(), StatusCode::BAD_REQUEST);
    until_held(&fx, |held| held == 0, "after the big body was answered").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_member_holds_at_most_their_share_and_the_others_still_sync() {
    // 64 MiB of room and bodies of at most 2 MiB: a person's share is an eighth, 8 MiB.
    let mut fx = fixture(64 * MIB, 2 * MIB).await;
    let in_hand = fx.relay.state.as_ref().unwrap().bodies_in_hand.clone();
    assert_eq!(in_hand.person_share(), 8 * MIB);
    let (mallory, token) = (fx.volunteers[0].person, fx.volunteers[0].token.clone());
    let address = fx.relay.url.trim_start_matches("http://").to_owned();
    // One member's four requests, all but sent: their share, less four kilobytes.
    let mut hers = Vec::new();
    for _ in 0..4 {
        hers.push(slow_client(&address, &token, 2 * MIB, 2 * MIB - 1024).await);
    }
    until_held(&fx, |held| held == 8 * MIB - 4 * 1024, "one member's four bodies").await;
    assert_eq!(in_hand.held_by(mallory), 8 * MIB - 4 * 1024);
    // Their fifth is refused for their share (the room has 56 MiB left): 429 with its own code.
    let answer = answer_to(&address, &sync_head(&address, &token, 64 * 1024), &[0u8; 64 * 1024]).await;
    assert!(answer.starts_with("http/1.1 429"), "{answer}");
    assert!(answer.contains("retry-after: 2"), "{answer}");
    assert!(answer.contains("\"error\":\"bodies_in_hand\""), "{answer}");
    assert!(answer.contains("one person's may"), "{answer}");
    assert_eq!(in_hand.held_by(mallory), 8 * MIB - 4 * 1024, "the refused request holds nothing");
    // Everyone else syncs.
    let synced = fx.volunteers[1].sync(&fx.relay).await;
    assert!(synced.rejected.is_empty(), "{:?}", synced.rejected);
    drop(hers);
    until_held(&fx, |held| held == 0, "after the member's requests ended").await;
    assert_eq!(in_hand.held_by(mallory), 0);
}

/// A sync request whose one message is 8 MiB less a little of zeros, compressed: about 8 KB that
/// inflate to the body limit.
fn compressed_bomb() -> Vec<u8> {
    let request = SyncRequest {
        version: WIRE_VERSION,
        documents_digest: None,
        messages: vec![DocMessage {
            doc: doorstep_core::id::DocumentId::from_uuid(uuid::Uuid::nil()),
            message: vec![0; 8 * MIB - 256],
        }],
    }
    .encode();
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(&request).unwrap();
    encoder.finish().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_bodies_sent_at_once_are_held_within_the_room_and_the_rest_told_to_wait() {
    let room = 40 * MIB;
    let mut fx = fixture(room, 8 * MIB).await;
    let bomb = compressed_bomb();
    assert!(bomb.len() < 64 * 1024, "{} bytes", bomb.len());
    let tokens: Vec<String> =
        fx.volunteers.iter().map(|p| p.token.clone()).chain([fx.coordinator.token.clone()]).collect();
    let in_hand = fx.relay.state.as_ref().unwrap().bodies_in_hand.clone();
    let most_held = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let watching = {
        let (in_hand, most_held) = (in_hand.clone(), std::sync::Arc::clone(&most_held));
        tokio::spawn(async move {
            loop {
                most_held.fetch_max(in_hand.held(), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
    };
    let mut sent = Vec::new();
    for i in 0..48 {
        let (http, url, token, bomb) =
            (fx.relay.http.clone(), fx.relay.url.clone(), tokens[i % tokens.len()].clone(), bomb.clone());
        sent.push(tokio::spawn(async move {
            let res = http
                .post(format!("{url}/v1/sync"))
                .bearer_auth(token)
                .header("content-type", "application/cbor")
                .header("content-encoding", "deflate")
                .body(bomb)
                .send()
                .await
                .unwrap();
            (res.status(), res.headers().get("retry-after").cloned())
        }));
    }
    let mut waits = 0;
    for answer in sent {
        let (status, retry_after) = answer.await.unwrap();
        match status {
            // Read whole: the nil document is not one the caller may hold, refused as such.
            StatusCode::OK => {}
            // No room, or the member's share of it held by their other requests.
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS => {
                assert!(retry_after.is_some(), "a wait comes with the refusal");
                waits += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    watching.abort();
    let most = most_held.load(std::sync::atomic::Ordering::Relaxed);
    println!(
        "48 bodies of {} bytes inflating to 8 MiB: {waits} told to wait, at most {most} bytes held",
        bomb.len()
    );
    assert!(waits > 0, "48 bodies of 16 MiB each cannot all fit in 40 MiB at once");
    assert!(most <= room, "held {most} bytes, room {room}");
    until_held(&fx, |held| held == 0, "after every answer").await;
    // The relay still serves its phones.
    let synced = fx.volunteers[0].sync(&fx.relay).await;
    assert!(synced.rejected.is_empty(), "{:?}", synced.rejected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_or_a_sign_in_body_past_16_kib_is_refused_with_413_and_a_real_join_still_works() {
    let relay = TestRelay::start().await;
    let compound = relay.create_compound("香樟苑").await;
    // Anyone may call these two without a token: each used to read a body up to the 8 MiB limit.
    let long = serde_json::json!({"invite_code": "x".repeat(100 * 1024), "device_name": "p", "name": "n"})
        .to_string();
    for path in ["/v1/join", "/dashboard/login"] {
        let res = relay
            .http
            .post(format!("{}{path}", relay.url))
            .header("content-type", "application/json")
            .body(long.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE, "{path}");
        // The body was left unread, so the connection closes after the answer, and the answer
        // says so: the client's next request (the invite below, on the same client) goes on a
        // new connection. Without it, it went on the closing one now and then and failed
        // ("IncompleteMessage", seen in CI).
        assert_eq!(res.headers().get("connection").map(|v| v.as_bytes()), Some(&b"close"[..]), "{path}");
        let body = res.json_value().await.unwrap();
        assert_eq!(body["error"], "too_large", "{path}: {body}");
    }
    let code = relay.invite(&relay.admin_token, compound, doorstep_core::Role::Volunteer).await;
    let (status, body) = relay.join(&code, "李强").await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_set_aside_exchange_is_held_as_read_and_as_parsed() {
    let fx = fixture(12 * MIB, 4 * MIB).await;
    let (token, other) = (fx.volunteers[0].token.clone(), fx.volunteers[1].token.clone());
    let address = fx.relay.url.trim_start_matches("http://").to_owned();
    let _slow = [
        slow_client(&address, &other, 4 * MIB, 4 * MIB - 1024).await,
        slow_client(&address, &other, 4 * MIB, 4 * MIB - 1024).await,
    ];
    let two = 8 * MIB - 2 * 1024;
    until_held(&fx, |held| held == two, "two bodies all but sent").await;
    // An exchange of 3 MiB needs 6 (as read and as parsed); 4 are left: 503.
    let body = serde_json::json!({"items": [], "awaiting": [], "padding": "x".repeat(3 * MIB)}).to_string();
    let head = format!(
        "POST /v1/set-aside HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let answer = answer_to(&address, &head, body.as_bytes()).await;
    assert!(answer.starts_with("http/1.1 503"), "{answer}");
    assert!(answer.contains("retry-after: 2"), "{answer}");
    until_held(&fx, |held| held == two, "after the refused exchange").await;
    // A phone's small exchange fits in what is left, and the room it took comes back.
    let (status, body) = fx
        .relay
        .json("POST", "/v1/set-aside", &token, Some(serde_json::json!({"items": [], "awaiting": []})))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    until_held(&fx, |held| held == two, "after the small exchange").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_roster_upload_is_held_as_it_arrives_and_a_json_route_takes_256_kib() {
    let fx = fixture(12 * MIB, 4 * MIB).await;
    let in_hand = fx.relay.state.as_ref().unwrap().bodies_in_hand.clone();
    let (person, token) = (fx.coordinator.person, fx.coordinator.token.clone());
    let address = fx.relay.url.trim_start_matches("http://").to_owned();
    // A roster upload declaring 2 MiB, half sent: the coordinator's share holds the half.
    let mut upload = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /v1/compounds/{}/roster HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: text/csv\r\nContent-Length: {}\r\n\r\n",
        fx.compound,
        2 * MIB
    );
    upload.write_all(head.as_bytes()).await.unwrap();
    upload.write_all(&vec![b'x'; MIB]).await.unwrap();
    until_held(&fx, |held| held == MIB, "half an upload").await;
    assert_eq!(in_hand.held_by(person), MIB);
    drop(upload);
    until_held(&fx, |held| held == 0, "after the upload was cut").await;
    // A JSON route of a few fields takes 256 KiB, not the 8 MiB body limit.
    let (status, body) = fx
        .relay
        .json(
            "POST",
            "/v1/compounds",
            &fx.relay.admin_token,
            Some(serde_json::json!({"name": "x".repeat(300 * 1024)})),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["error"], "too_large", "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_piece_arriving_is_held_until_it_is_in_the_store() {
    let fx = fixture(12 * MIB, 4 * MIB).await;
    let in_hand = fx.relay.state.as_ref().unwrap().bodies_in_hand.clone();
    let (person, token) = (fx.volunteers[0].person, fx.volunteers[0].token.clone());
    let address = fx.relay.url.trim_start_matches("http://").to_owned();
    // A request in pieces of 2 MiB: this piece sends half a mebibyte of it and goes quiet.
    let mut piece = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /v1/sync/pieces?digest={}&total={}&from=0 HTTP/1.1\r\nHost: {address}\r\n\
         Authorization: Bearer {token}\r\nContent-Type: application/octet-stream\r\n\
         Content-Length: {}\r\n\r\n",
        "0".repeat(64),
        2 * MIB,
        2 * MIB
    );
    piece.write_all(head.as_bytes()).await.unwrap();
    piece.write_all(&vec![7u8; MIB / 2]).await.unwrap();
    // Held for the person while it waits in memory, given back once written to the store (at
    // most a second later), while the piece is still open.
    until_held(&fx, |held| held == MIB / 2, "half a mebibyte arriving").await;
    assert_eq!(in_hand.held_by(person), MIB / 2);
    until_held(&fx, |held| held == 0, "once it is in the store").await;
    let status = fx
        .relay
        .http
        .get(format!("{}/v1/sync/pieces?digest={}&total={}", fx.relay.url, "0".repeat(64), 2 * MIB))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let status = status.json_value().await.unwrap();
    assert_eq!(status["held"], MIB / 2, "{status}");
    drop(piece);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_in_pieces_told_to_wait_for_room_keeps_its_bytes() {
    let fx = fixture(12 * MIB, 4 * MIB).await;
    let token = fx.volunteers[0].token.clone();
    let address = fx.relay.url.trim_start_matches("http://").to_owned();
    // The member's share (here the whole room) all but held by three bodies of theirs.
    let slow = [
        slow_client(&address, &token, 4 * MIB, 4 * MIB - 1024).await,
        slow_client(&address, &token, 4 * MIB, 4 * MIB - 1024).await,
        slow_client(&address, &token, 4 * MIB, 4 * MIB - 1024).await,
    ];
    until_held(&fx, |held| held == 12 * MIB - 3 * 1024, "three bodies all but sent").await;
    // A request in pieces of 2 KiB, sent whole in one piece: read back from the store into the
    // 3 KiB left, with no room for its decoded copy.
    let request = vec![0u8; 2 * 1024];
    let digest = doorstep_core::sync::request_pieces::digest(&request);
    let url = |from: usize| {
        format!("{}/v1/sync/pieces?digest={digest}&total={}&from={from}", fx.relay.url, request.len())
    };
    let sent = fx.relay.http.post(url(0)).bearer_auth(&token).body(request.clone()).send().await.unwrap();
    assert_eq!(sent.status(), StatusCode::TOO_MANY_REQUESTS);
    // Its bytes stay held: a wait is not a refusal of the request (they were let go before).
    let status =
        fx.relay.http.get(url(0)).bearer_auth(&token).send().await.unwrap().json_value().await.unwrap();
    assert_eq!(
        (status["held"].as_u64(), status["taken"].as_bool()),
        (Some(2 * 1024), Some(false)),
        "{status}"
    );
    // Once there is room, completing it again sends none of its bytes (it is refused now for
    // what it is, zeros: not a sync request).
    drop(slow);
    until_held(&fx, |held| held == 0, "after the bodies left").await;
    let again = fx.relay.http.post(url(request.len())).bearer_auth(&token).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
}

/// A body refused for its declared length is read on after the 413 and thrown away
/// (`connections/unread_body.rs`), so a client still sending it sees the answer. The relay closed the
/// connection under such a client: its next write failed ("broken pipe"), or the reset threw
/// away the 413 unread, and a coordinator's browser said "cannot reach the server" instead of
/// "split the file". What is read on is bounded: a client that keeps sending is cut off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_refused_for_its_length_is_read_on_so_the_client_sees_the_413() {
    let fx = fixture(12 * MIB, MIB).await;
    let token = fx.volunteers[0].token.clone();
    let address = fx.relay.url.trim_start_matches("http://").to_owned();
    let mut client = tokio::net::TcpStream::connect(&address).await.unwrap();
    client.write_all(sync_head(&address, &token, 3 * MIB).as_bytes()).await.unwrap();
    // Sent in pieces over half a second, as a slower link would: the relay answers on the
    // headers, long before the body is through.
    let piece = vec![0u8; 48 * 1024];
    for n in 0..(3 * MIB / piece.len()) {
        client.write_all(&piece).await.unwrap_or_else(|e| panic!("piece {n} of the body: {e}"));
        tokio::time::sleep(Duration::from_millis(8)).await;
    }
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        while !String::from_utf8_lossy(&answer).contains("too_large") {
            match client.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    });
    read.await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413") && answer.contains("too_large"), "{answer}");

    // A client that declares a gigabyte and keeps sending is cut off once the relay has read
    // on its bound (16 MiB), not read for as long as it sends.
    let mut endless = tokio::net::TcpStream::connect(&address).await.unwrap();
    endless.write_all(sync_head(&address, &token, 1 << 30).as_bytes()).await.unwrap();
    let piece = vec![0u8; MIB];
    let mut sent = 0;
    let cut = tokio::time::timeout(Duration::from_secs(20), async {
        while endless.write_all(&piece).await.is_ok() {
            sent += 1;
        }
    });
    assert!(cut.await.is_ok(), "still sending after 20 s, {sent} MiB in");
    assert!((16..64).contains(&sent), "cut off after {sent} MiB");
}
