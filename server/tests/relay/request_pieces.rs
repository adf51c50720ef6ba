//! A volunteer's long day goes up in windows of signal shorter than one request: the request
//! goes in pieces (`/v1/sync/pieces`, core's `sync/request_pieces.rs`), the relay keeps every
//! byte that arrives, and the next window sends the rest. Real relay, real replica file, real
//! HTTP through a proxy that cuts every connection after so many bytes up.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use doorstep_core::Operation;
use doorstep_core::id::CompoundId;
use doorstep_core::sync::request_pieces::{PiecesHeld, digest};
use doorstep_replica::Replica;
use doorstep_replica::http::{self, RelayClient};
use doorstep_replica::request_in_pieces::RequestInPieces;
use reqwest::StatusCode;

use crate::harness::{Fixture, device_now};
use crate::landing::{joined_volunteer, notes};
use crate::link_proxy::{Joined, carry_up_as_allowed, proxy};

/// A TCP proxy to `relay` whose link carries up to the phone's bytes that `window` holds: the
/// test opens a window of signal by setting it, and every byte the phone sends takes from it;
/// once it is spent, the connection is dropped both ways, whatever was on its way. Returns its
/// URL and the bytes it carried up in all.
async fn windows_up(relay: &str, window: Arc<AtomicUsize>) -> (String, Arc<AtomicUsize>) {
    let carried = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&carried);
    let url = proxy(relay, move |link: Joined| {
        let (counted, window) = (Arc::clone(&counted), Arc::clone(&window));
        carry_up_as_allowed(link, move |n| {
            let taken = window
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| Some(left.saturating_sub(n)))
                .unwrap()
                .min(n);
            counted.fetch_add(taken, Ordering::SeqCst);
            taken
        })
    })
    .await;
    (url, carried)
}

/// Bytes up one window of signal carries: shorter than one long note, compressed.
const WINDOW: usize = 4 * 1024;

/// A long day (six households' notes rewritten, 4,000 characters each, the most a note holds:
/// about 12 KB a change, 11 KB of it compressed) through windows of 4 KiB up, the app killed
/// between them. Before requests in pieces, a change was the smallest piece a request carried,
/// none fitted a window, and the day never went up (checked: not in 40 windows; with pieces,
/// about 20).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_day_goes_up_in_windows_shorter_than_a_request_each_byte_kept() {
    let mut fx = Fixture::new().await;
    let (dir, replica, good_link, token) = joined_volunteer(&fx.relay, fx.compound, "李强的手机").await;
    http::sync(&replica, &good_link, device_now).await.unwrap();
    let written = a_long_day(&replica, fx.compound);
    let (windows, left_after, up) = up_in_windows(&fx.relay.url, &replica, dir.path(), &token).await;
    assert!(windows >= 4, "the day took several windows: {windows}, {left_after:?}");
    // Each byte a window carried was kept: the day crossed once, each window but the last full.
    assert!(up > (windows - 1) * WINDOW, "{up} B up in {windows} windows");
    assert!(
        replica.lock().unwrap().request_in_pieces().is_none(),
        "the request in pieces is forgotten once answered"
    );
    the_coordinator_sees(&mut fx, &written).await;
}

/// Six households' notes rewritten offline, 4,000 characters each; what each now says.
fn a_long_day(
    replica: &Mutex<Replica>,
    compound: CompoundId,
) -> std::collections::BTreeMap<doorstep_core::id::HouseholdId, String> {
    let households = replica.lock().unwrap().compounds().next().unwrap().households();
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut written = std::collections::BTreeMap::new();
    for household in households.iter().cycle().take(6) {
        let text = notes(&mut seed, 4000);
        let edit = Operation::EditNotes { household: household.id, notes: text.clone() };
        replica.lock().unwrap().apply(device_now(), compound, &edit).unwrap();
        written.insert(household.id, text);
    }
    assert_eq!(replica.lock().unwrap().unsynced_changes(), 6);
    written
}

/// Syncs the phone whose file is `phone.sqlite` in `dir` through windows of [`WINDOW`] bytes up,
/// the app killed between them, until nothing is left to sync (at most 40 windows); the windows
/// it took, the changes left after each, and the bytes carried up.
async fn up_in_windows(
    relay: &str,
    replica: &Mutex<Replica>,
    dir: &std::path::Path,
    token: &str,
) -> (usize, Vec<usize>, usize) {
    let window = Arc::new(AtomicUsize::new(0));
    let (url, carried) = windows_up(relay, Arc::clone(&window)).await;
    let path = dir.join("phone.sqlite");
    let mut windows = 0;
    let mut left_after = Vec::new();
    loop {
        windows += 1;
        assert!(windows <= 40, "up within 40 windows; left after each: {left_after:?}");
        // The app killed between windows: only what the file kept counts. A new transport
        // too: no connection outlives its window.
        crate::harness::reopen(replica, &path);
        let transport = RelayClient::new(&url, Some(token.to_owned())).unwrap();
        window.store(WINDOW, Ordering::SeqCst);
        let synced = http::sync(replica, &transport, device_now).await;
        let left = replica.lock().unwrap().unsynced_changes();
        left_after.push(left);
        if synced.is_ok() && left == 0 {
            return (windows, left_after, carried.load(Ordering::SeqCst));
        }
    }
}

/// The coordinator sees every household's new notes.
async fn the_coordinator_sees(
    fx: &mut Fixture,
    written: &std::collections::BTreeMap<doorstep_core::id::HouseholdId, String>,
) {
    fx.coordinator.sync(&fx.relay).await;
    let seen = fx.coordinator.compound().households();
    for (id, text) in written {
        assert_eq!(&seen.iter().find(|h| h.id == *id).unwrap().notes, text);
    }
}

/// Members who fill the requests held in part with requests they never finish no longer keep
/// everyone else's long requests out for the hour. Four members each hold 128 KiB of a request
/// named 1 MiB long, filling a bound of 512 KiB; a fifth is refused (nobody holds more than it
/// would). A volunteer's long day through windows of 4 KiB then lets go of one of them and goes
/// up in pieces. Before: every piece of it was refused, the phone sent the day whole, no window
/// carried it, and it was not up in 40 windows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_who_fill_the_requests_held_in_part_cannot_keep_a_long_day_out() {
    const HOARD: usize = 128 * 1024;
    let mut config = doorstep_server::config::Config::default();
    config.limits.pieces_held = 4 * HOARD;
    let mut fx = Fixture::with_config(config).await;
    let mut hoarders = Vec::new();
    for n in 0..5 {
        let (_dir, _replica, _, token) =
            joined_volunteer(&fx.relay, fx.compound, &format!("囤积者{n}")).await;
        let name = digest(format!("never finished {n}").as_bytes());
        let (status, body) = piece(&fx.relay.url, &token, &name, 1024 * 1024, 0, &[n; HOARD]).await;
        hoarders.push((token, name));
        if n < 4 {
            assert_eq!(status, StatusCode::ACCEPTED, "{}", String::from_utf8_lossy(&body));
        } else {
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "the bound is full");
            assert!(
                String::from_utf8_lossy(&body).contains("requests in part"),
                "{}",
                String::from_utf8_lossy(&body)
            );
        }
    }
    assert!(fx.relay.metrics().await.contains(&format!("doorstep_sync_pieces_held_bytes {}", 4 * HOARD)));

    let (dir, replica, good_link, token) = joined_volunteer(&fx.relay, fx.compound, "李强的手机").await;
    http::sync(&replica, &good_link, device_now).await.unwrap();
    let written = a_long_day(&replica, fx.compound);
    let (windows, left_after, _) = up_in_windows(&fx.relay.url, &replica, dir.path(), &token).await;
    assert!(windows >= 4, "the day went up in pieces: {windows} windows, {left_after:?}");
    the_coordinator_sees(&mut fx, &written).await;
    assert!(fx.relay.metrics().await.contains("doorstep_sync_pieces_let_go_total 1"));
    // One hoarder was let go of (its next piece is told to start again); the others still hold.
    let mut let_go = 0;
    for (token, name) in &hoarders[..4] {
        let held = holds(&fx.relay.url, token, name, 1024 * 1024).await;
        match held.held {
            0 => let_go += 1,
            HOARD => {}
            other => panic!("a hoarder holds {other} bytes"),
        }
    }
    assert_eq!(let_go, 1);
}

/// Two relays on one PostgreSQL; two members fill the bound with requests they never finish;
/// then twelve volunteers send pieces at once, alternating relays: the relays make room for
/// their pieces at the same moment (a device another transaction is working on is passed over,
/// never waited for), and no piece fails for it: each is kept (202), told its request was let go
/// of (409, and the phone starts again), or refused for room (503). What all hold never passes
/// the bound (before the advisory lock: 104 KiB of 64 KiB, each of the pieces placed at once
/// having read the sum before the others committed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relays_on_one_postgresql_making_room_at_once_never_fail_a_piece() {
    use doorstep_server::storage::postgres::scratch::ScratchDatabase;
    const PIECE: usize = 8 * 1024;
    const TOTAL: usize = 8 * PIECE;
    let Some(db) = ScratchDatabase::from_env().await else { return };
    let mut config = doorstep_server::Config::default();
    config.limits.pieces_held = TOTAL;
    let a = crate::harness::TestRelay::start_on(db.url(), config.clone()).await;
    let mut b = crate::harness::TestRelay::start_on(db.url(), config).await;
    b.admin_token = a.admin_token.clone();
    let compound = a.create_compound("共享苑").await;
    for n in 0..2 {
        let (_dir, _replica, _, token) = joined_volunteer(&a, compound, &format!("囤积者{n}")).await;
        let name = digest(format!("never finished {n}").as_bytes());
        let (status, _) = piece(&a.url, &token, &name, TOTAL, 0, &[0; TOTAL / 2]).await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    let mut volunteers = Vec::new();
    for n in 0..12 {
        let (_dir, _replica, _, token) = joined_volunteer(&a, compound, &format!("志愿者{n}")).await;
        volunteers.push((token, digest(format!("a request of volunteer {n}").as_bytes())));
    }
    let sends = volunteers.iter().enumerate().map(|(n, (token, name))| {
        let relays = [a.url.clone(), b.url.clone()];
        async move {
            let (mut from, mut statuses) = (0, Vec::new());
            for k in 0..6 {
                let relay = &relays[(n + k) % 2];
                let (status, body) = piece(relay, token, name, TOTAL, from, &[7; PIECE]).await;
                match status {
                    StatusCode::ACCEPTED => from += PIECE,
                    // Let go of to make room: the phone asks, hears nothing is held, starts again.
                    StatusCode::CONFLICT => from = 0,
                    StatusCode::SERVICE_UNAVAILABLE => {}
                    other => panic!("volunteer {n}'s piece {k}: {other} {}", String::from_utf8_lossy(&body)),
                }
                statuses.push(status);
            }
            statuses
        }
    });
    let statuses: Vec<StatusCode> =
        futures_util::future::join_all(sends).await.into_iter().flatten().collect();
    assert!(statuses.contains(&StatusCode::ACCEPTED), "{statuses:?}");
    let mut held = 0;
    for (token, name) in &volunteers {
        held += holds(&a.url, token, name, TOTAL).await.held;
    }
    assert!(held <= TOTAL, "{held} bytes held of a {TOTAL}-byte bound");
    let let_go: u64 = [a.metrics().await, b.metrics().await]
        .iter()
        .filter_map(|m| m.lines().find_map(|l| l.strip_prefix("doorstep_sync_pieces_let_go_total ")))
        .map(|n| n.parse::<u64>().unwrap())
        .sum();
    println!("{} pieces: {statuses:?}; {held} bytes held; {let_go} let go of", statuses.len());
    assert!(let_go >= 2, "both members' requests were let go of: {let_go}");
}

/// The endpoint by hand: pieces kept in order and counted; a piece not from the byte held is
/// refused with the count to resume from; a request whose bytes do not match its digest is
/// dropped; an unreadable one is refused as `/v1/sync` refuses it; a request taken is said to be
/// taken and not synced again; no token, no pieces.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pieces_endpoint_keeps_counts_and_refuses_by_name() {
    let fx = Fixture::new().await;
    let (_dir, replica, _, token) = joined_volunteer(&fx.relay, fx.compound, "王芳的手机").await;
    let client = reqwest::Client::new();
    let url = |d: &str, total: usize, from: Option<usize>| {
        let mut u = format!("{}/v1/sync/pieces?digest={d}&total={total}", fx.relay.url);
        if let Some(from) = from {
            u.push_str(&format!("&from={from}"));
        }
        u
    };
    let held = |res: reqwest::Response| async move {
        let status = res.status();
        let body = res.bytes().await.unwrap();
        (
            status,
            serde_json::from_slice::<PiecesHeld>(&body).ok(),
            String::from_utf8_lossy(&body).into_owned(),
        )
    };

    // A real first request of this phone, plain CBOR.
    let (_run, body) = crate::harness::first_request(&replica);
    let name = digest(&body);
    let total = body.len();
    let status = client.get(url(&name, total, None)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(held(status).await.1, Some(PiecesHeld { held: 0, taken: false }));

    let half = total / 2;
    let res = client.post(url(&name, total, Some(0))).bearer_auth(&token).body(body[..half].to_vec()).send();
    let (status, counted, text) = held(res.await.unwrap()).await;
    assert_eq!(
        (status, counted),
        (StatusCode::ACCEPTED, Some(PiecesHeld { held: half, taken: false })),
        "{text}"
    );

    // Past the byte held (a gap): 409, naming it. (A piece from before it is taken, the bytes held
    // skipped: the digest names them, so they are the same.)
    let res = client
        .post(url(&name, total, Some(half + 1)))
        .bearer_auth(&token)
        .body(body[half + 1..].to_vec())
        .send();
    let (status, _, text) = held(res.await.unwrap()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{text}");
    assert!(text.contains(&format!("from byte {half}")), "{text}");

    // No token: 401, nothing kept.
    let res = client.post(url(&name, total, Some(half))).body(body[half..].to_vec()).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // The rest: the sync's own answer.
    let res =
        client.post(url(&name, total, Some(half))).bearer_auth(&token).body(body[half..].to_vec()).send();
    let res = res.await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/cbor");
    let answer = doorstep_core::sync::SyncResponse::decode(&res.bytes().await.unwrap()).unwrap();
    assert!(answer.documents.is_some(), "the answer of a first request lists the documents");
    let status = client.get(url(&name, total, None)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(held(status).await.1, Some(PiecesHeld { held: total, taken: true }));
    let res = client.post(url(&name, total, Some(total))).bearer_auth(&token).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::CONFLICT, "a request taken is not synced again");
    // The same bytes from byte 0 are a new request (a phone whose work was refused offers the
    // same request at its next sync): synced again and answered, not refused as taken.
    let res = client.post(url(&name, total, Some(0))).bearer_auth(&token).body(body.clone()).send();
    let res = res.await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "the same bytes anew are answered");
    doorstep_core::sync::SyncResponse::decode(&res.bytes().await.unwrap()).unwrap();

    // Bytes that are not what the digest names: dropped, said so.
    let wrong = digest(b"another request");
    let res =
        client.post(url(&wrong, total, Some(0))).bearer_auth(&token).body(body.clone()).send().await.unwrap();
    let (status, _, text) = held(res).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains("digest"), "{text}");
    let status = client.get(url(&wrong, total, None)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(held(status).await.1, Some(PiecesHeld { held: 0, taken: false }));

    // Bytes that match their digest but are no sync request: refused as /v1/sync refuses them.
    let junk = vec![0xff_u8; 100];
    let res =
        client.post(url(&digest(&junk), 100, Some(0))).bearer_auth(&token).body(junk).send().await.unwrap();
    let (status, _, text) = held(res).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains("not a sync request"), "{text}");

    // A name that is no digest, a length past the body limit, a piece past the named length, an
    // unknown encoding.
    let res = client.get(url("../etc", 10, None)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = client.get(url(&name, 1 << 40, None)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let other = digest(b"short");
    let res =
        client.post(url(&other, 4, Some(0))).bearer_auth(&token).body(vec![1_u8; 8]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let res = client
        .post(url(&other, 4, Some(usize::MAX)))
        .bearer_auth(&token)
        .body(vec![1_u8; 8])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE, "a piece from past any length");
    let res = client
        .get(format!("{}&encoding=gzip", url(&name, total, None)))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

/// Sends `bytes` of the request `name` (`total` long) from byte `from` to `relay`; the status and
/// the body.
async fn piece(
    relay: &str,
    token: &str,
    name: &str,
    total: usize,
    from: usize,
    bytes: &[u8],
) -> (StatusCode, Vec<u8>) {
    let res = reqwest::Client::new()
        .post(format!("{relay}/v1/sync/pieces?digest={name}&total={total}&from={from}"))
        .bearer_auth(token)
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap();
    (res.status(), res.bytes().await.unwrap().to_vec())
}

/// What `relay` says it holds of the request `name`.
async fn holds(relay: &str, token: &str, name: &str, total: usize) -> PiecesHeld {
    let res = reqwest::Client::new()
        .get(format!("{relay}/v1/sync/pieces?digest={name}&total={total}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    serde_json::from_slice(&res.bytes().await.unwrap()).unwrap()
}

/// The bytes a relay holds of a request in pieces are in its store, not its memory: the relay
/// restarted goes on from them (before: the phone started the request again from byte 0).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_in_pieces_outlives_a_restart_of_the_relay() {
    let mut fx = Fixture::new().await;
    let (_dir, replica, _, token) = joined_volunteer(&fx.relay, fx.compound, "王芳的手机").await;
    let (_run, body) = crate::harness::first_request(&replica);
    let (name, total, half) = (digest(&body), body.len(), body.len() / 2);
    let (status, _) = piece(&fx.relay.url, &token, &name, total, 0, &body[..half]).await;
    assert_eq!(status, StatusCode::ACCEPTED);

    let relay = std::mem::replace(&mut fx.relay, crate::harness::TestRelay::external("http://127.0.0.1:9"));
    fx.relay = relay.restart().await;
    assert_eq!(holds(&fx.relay.url, &token, &name, total).await, PiecesHeld { held: half, taken: false });
    let (status, answer) = piece(&fx.relay.url, &token, &name, total, half, &body[half..]).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&answer));
    let answer = doorstep_core::sync::SyncResponse::decode(&answer).unwrap();
    assert!(answer.documents.is_some(), "the first request's own answer");
    assert_eq!(holds(&fx.relay.url, &token, &name, total).await, PiecesHeld { held: total, taken: true });
}

/// Two relays on one PostgreSQL database (a balancer in front): a request begun on one is
/// finished on the other, and the first then knows it was taken. Needs `DOORSTEP_TEST_POSTGRES`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_in_pieces_begun_on_one_relay_is_finished_on_another() {
    use doorstep_server::storage::postgres::scratch::ScratchDatabase;
    let Some(db) = ScratchDatabase::from_env().await else { return };
    let a = crate::harness::TestRelay::start_on(db.url(), doorstep_server::Config::default()).await;
    let mut b = crate::harness::TestRelay::start_on(db.url(), doorstep_server::Config::default()).await;
    b.admin_token = a.admin_token.clone();
    let compound = a.create_compound("共享苑").await;
    a.import_roster(compound, crate::harness::ROSTER_CSV).await;
    let (_dir, replica, _, token) = joined_volunteer(&a, compound, "王芳的手机").await;
    let (_run, body) = crate::harness::first_request(&replica);
    let (name, total, third) = (digest(&body), body.len(), body.len() / 3);
    assert_eq!(piece(&a.url, &token, &name, total, 0, &body[..third]).await.0, StatusCode::ACCEPTED);
    assert_eq!(holds(&b.url, &token, &name, total).await, PiecesHeld { held: third, taken: false });
    // A piece sent again to the other relay, from before the byte held: its new bytes are kept.
    assert_eq!(piece(&b.url, &token, &name, total, 0, &body[..2 * third]).await.0, StatusCode::ACCEPTED);
    let (status, answer) = piece(&b.url, &token, &name, total, 2 * third, &body[2 * third..]).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&answer));
    assert_eq!(holds(&a.url, &token, &name, total).await, PiecesHeld { held: total, taken: true });
}

/// The relay took a request in pieces but the window closed on its answer: the next sync (the
/// app killed in between) hears that it was taken, forgets it, and does not send its changes
/// again; the phone is in sync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_taken_whose_answer_was_lost_is_not_sent_again() {
    let fx = Fixture::new().await;
    let (dir, replica, transport, _) = joined_volunteer(&fx.relay, fx.compound, "赵敏的手机").await;
    http::sync(&replica, &transport, device_now).await.unwrap();
    let household = replica.lock().unwrap().compounds().next().unwrap().households()[0].id;
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let edit = Operation::EditNotes { household, notes: notes(&mut seed, 4000) };
    replica.lock().unwrap().apply(device_now(), fx.compound, &edit).unwrap();

    // The request goes in pieces; the relay takes it and answers, and the answer is lost.
    let (run, body) = crate::harness::first_request(&replica);
    let request = RequestInPieces::new(body, false, None, run.carried_by_last_request());
    replica.lock().unwrap().keep_request_in_pieces(request.clone()).unwrap();
    let sent = transport.send_pieces(&request, 0, None, None).await.unwrap();
    assert!(matches!(sent, http::PiecesSent::Answered(_)), "{sent:?}");

    crate::harness::reopen(&replica, &dir.path().join("phone.sqlite"));
    assert!(replica.lock().unwrap().request_in_pieces().is_some(), "kept across the restart");
    let report = http::sync(&replica, &transport, device_now).await.unwrap();
    assert!(
        report.bytes_up < request.bytes.len() / 2,
        "the note went up once, not again: {} B up now, the request was {} B",
        report.bytes_up,
        request.bytes.len()
    );
    let held = replica.lock().unwrap();
    assert!(held.request_in_pieces().is_none());
    assert_eq!(held.unsynced_changes(), 0);
}

/// The relay took a request in pieces and its answer was lost, and the phone kept no record of
/// it (a request it was sending when the status question said "taken", or a file restored from
/// before): the next sync builds the very same request, which the relay syncs again and answers:
/// it holds those changes, and says so. (Before stop 52 the relay named it as taken and the
/// phone asked the relay's heads in a second request; before that, its run ended there and every
/// later sync built the same request again: 6 of 5,000 phones in `doorstep-bench district
/// --compounds 40` stayed "20 changes not yet synced" for the whole 20 minutes while the relay
/// held every one.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_the_relay_took_and_the_phone_forgot_is_not_built_again_forever() {
    let fx = Fixture::new().await;
    let (_dir, replica, transport, _) = joined_volunteer(&fx.relay, fx.compound, "吴刚的手机").await;
    http::sync(&replica, &transport, device_now).await.unwrap();
    four_long_notes(&replica, fx.compound, 0x3c6e_f372_fe94_f82b_u64);

    // The sync's own first request, as it goes on the wire: the relay takes it in pieces and
    // answers, and the answer never reaches the phone, which keeps nothing of the request.
    let (run, plain) = crate::harness::first_request(&replica);
    let body = http::SyncBody::new(plain, replica.lock().unwrap().sends_compressed_requests());
    let request =
        RequestInPieces::new(body.wire().to_vec(), body.is_deflated(), None, run.carried_by_last_request());
    let sent = transport.send_pieces(&request, 0, None, None).await.unwrap();
    assert!(matches!(sent, http::PiecesSent::Answered(_)), "{sent:?}");
    assert_eq!(replica.lock().unwrap().unsynced_changes(), 4, "the phone has not heard");

    let report = http::sync(&replica, &transport, device_now).await.unwrap();
    assert!(report.rejected.is_empty() && report.failed.is_empty(), "{report:?}");
    assert_eq!(replica.lock().unwrap().unsynced_changes(), 0, "{report:?}");
    assert_eq!(report.requests, 1, "the same request, answered: {report:?}");
    let again = http::sync(&replica, &transport, device_now).await.unwrap();
    assert!(again.bytes_up < 1024, "in step: nothing goes up again, {again:?}");
}

/// Sends `head` and then `sent` bytes of a body announced longer, closes the phone's way, and
/// returns the relay's answer as text.
pub(crate) async fn cut_off(relay: &str, head: &str, sent: usize) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(relay.trim_start_matches("http://")).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&vec![0xa5_u8; sent]).await.unwrap();
    stream.shutdown().await.unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// A link that closes the phone's way in the middle of a body: a whole sync request is answered
/// 408 `body_cut` (before, 400 `malformed`, and the phone took it for a relay that cannot read
/// compressed or compact requests and fell back to the plain form for nothing); a piece is
/// answered with what the relay kept of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_the_link_cut_is_a_dropped_request_and_a_cut_piece_is_kept() {
    let fx = Fixture::new().await;
    let (_dir, _replica, _, token) = joined_volunteer(&fx.relay, fx.compound, "孙丽的手机").await;
    let host = fx.relay.url.trim_start_matches("http://").to_owned();
    let whole = cut_off(
        &fx.relay.url,
        &format!(
            "POST /v1/sync HTTP/1.1\r\nhost: {host}\r\nauthorization: Bearer {token}\r\ncontent-type: application/cbor\r\ncontent-length: 5000\r\n\r\n"
        ),
        1000,
    )
    .await;
    assert!(whole.starts_with("HTTP/1.1 408"), "{whole}");
    assert!(whole.contains("body_cut"), "{whole}");

    let name = digest(b"not read yet");
    let piece = cut_off(
        &fx.relay.url,
        &format!(
            "POST /v1/sync/pieces?digest={name}&total=5000&from=0 HTTP/1.1\r\nhost: {host}\r\nauthorization: Bearer {token}\r\ncontent-length: 5000\r\n\r\n"
        ),
        1000,
    )
    .await;
    assert!(piece.starts_with("HTTP/1.1 202"), "{piece}");
    assert!(piece.contains(r#"{"held":1000,"taken":false}"#), "{piece}");
}

/// Four households' notes rewritten offline, 4,000 random characters each (the most a note
/// holds): about 29 KB of request compressed, more than one piece of the tests' links carries.
fn four_long_notes(replica: &Mutex<Replica>, compound: CompoundId, mut seed: u64) {
    let households = replica.lock().unwrap().compounds().next().unwrap().households();
    for household in households.iter().take(4) {
        let edit = Operation::EditNotes { household: household.id, notes: notes(&mut seed, 4000) };
        replica.lock().unwrap().apply(device_now(), compound, &edit).unwrap();
    }
}

/// A steady link slower than the relay waits for a body: each of four long notes takes longer
/// to cross than the relay's request timeout (here 2 s; 30 s in production, which a long
/// request on a bad landing's link can pass too). Sent whole, every request carrying a note was
/// refused 408, however small the budget (checked: never up); in pieces, each piece the relay
/// stopped waiting for is kept and the rest goes, and one sync gets it all up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_longer_than_the_relay_waits_goes_up_in_pieces_in_one_sync() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut config = doorstep_server::Config::default();
    config.limits.request_timeout = std::time::Duration::from_secs(2);
    let fx = Fixture::with_config(config).await;
    let (_dir, replica, good_link, token) = joined_volunteer(&fx.relay, fx.compound, "周杰的手机").await;
    http::sync(&replica, &good_link, device_now).await.unwrap();
    four_long_notes(&replica, fx.compound, 0x6a09_e667_f3bc_c908_u64);
    // 4 KB a second up (a tenth of it every 100 ms): one note takes longer than the relay waits.
    let url = proxy(&fx.relay.url, |mut link: Joined| async move {
        let (mut from_relay, mut to_phone) = (link.from_relay, link.to_phone);
        let down = tokio::spawn(async move { tokio::io::copy(&mut from_relay, &mut to_phone).await });
        let mut buf = vec![0_u8; 400];
        while let Ok(n @ 1..) = link.from_phone.read(&mut buf).await {
            if link.to_relay.write_all(&buf[..n]).await.is_err() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        down.abort();
    })
    .await;
    let slow = RelayClient::new(&url, Some(token)).unwrap();
    let report = http::sync(&replica, &slow, device_now).await.unwrap();
    assert!(report.rejected.is_empty() && report.failed.is_empty(), "{report:?}");
    assert_eq!(replica.lock().unwrap().unsynced_changes(), 0, "{report:?}");
}

/// A TCP proxy to `relay` that carries each connection's first `most` bytes up and then drops
/// it both ways, unanswered, whatever was on its way; a new connection carries `most` again.
async fn cut_each_connection_after(relay: &str, most: usize) -> String {
    proxy(relay, move |link: Joined| {
        let mut left = most;
        carry_up_as_allowed(link, move |n| {
            let taken = n.min(left);
            left -= taken;
            taken
        })
    })
    .await
}

/// A link that drops a piece on its way with no answer at all (or a relay's early 408 that
/// reaches the phone as a reset connection): the phone asks the relay what it holds, on a new
/// connection, and sends the rest, in the same sync. Before, the sync ended at the first
/// unanswered piece, and a sync whose every connection is cut like this never got a long day
/// up (checked: fails with "error sending request").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_piece_dropped_unanswered_is_asked_about_and_the_rest_goes_in_the_same_sync() {
    let fx = Fixture::new().await;
    let (_dir, replica, good_link, token) = joined_volunteer(&fx.relay, fx.compound, "王芳的手机").await;
    http::sync(&replica, &good_link, device_now).await.unwrap();
    four_long_notes(&replica, fx.compound, 0xbb67_ae85_84ca_a73b_u64);
    let url = cut_each_connection_after(&fx.relay.url, 12 * 1024).await;
    let cut = RelayClient::new(&url, Some(token)).unwrap();
    let report = http::sync(&replica, &cut, device_now).await.unwrap();
    assert!(report.rejected.is_empty() && report.failed.is_empty(), "{report:?}");
    assert_eq!(replica.lock().unwrap().unsynced_changes(), 0, "{report:?}");
}

/// A piece whose link went silent without closing (a phone that climbed back into the
/// stairwell): the relay holds what arrived of it in memory until its next write to the store.
/// A status question asks the piece to write it at once, so the phone's next window resumes
/// after every byte the relay has instead of sending them again. Here the relay writes only
/// every minute, so without the question the status would say 0 until then (checked: `held: 0`
/// throughout before `pieces_arriving.rs`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_piece_still_arriving_is_counted_by_a_status_question_at_once() {
    use tokio::io::AsyncWriteExt;
    let mut config = doorstep_server::Config::default();
    config.limits.keep_pieces_every = std::time::Duration::from_secs(60);
    let fx = Fixture::with_config(config).await;
    let (_dir, _replica, _, token) = joined_volunteer(&fx.relay, fx.compound, "刘洋的手机").await;
    let host = fx.relay.url.trim_start_matches("http://").to_owned();
    let name = digest(b"still on its way");
    let mut silent = tokio::net::TcpStream::connect(&host).await.unwrap();
    silent
        .write_all(
            format!(
                "POST /v1/sync/pieces?digest={name}&total=5000&from=0 HTTP/1.1\r\nhost: {host}\r\nauthorization: Bearer {token}\r\ncontent-length: 5000\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    silent.write_all(&[0xa5_u8; 1000]).await.unwrap();
    // The relay reads the bytes when it gets to them; the question is asked until it has.
    let mut held = 0;
    for _ in 0..100 {
        held = holds(&fx.relay.url, &token, &name, 5000).await.held;
        if held == 1000 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(held, 1000, "the status did not count the bytes still arriving");
    // The link stays silent; the piece goes on arriving, and the next bytes count too.
    silent.write_all(&[0xa5_u8; 500]).await.unwrap();
    for _ in 0..100 {
        held = holds(&fx.relay.url, &token, &name, 5000).await.held;
        if held == 1500 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(held, 1500);
    drop(silent);
}

/// A volunteer removed while offline with a long day: the relay refuses the day, and the phone
/// sets it aside for the coordinators' review inbox. Sent as 32 items at once (about 30 KB), no
/// window of 12 KiB up carried the exchange and none reached the coordinators; on a link that
/// drops, the items now go a request budget's worth at a time, and each window brings some.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_volunteers_set_aside_day_reaches_the_inbox_through_short_windows() {
    let fx = Fixture::new().await;
    let (dir, replica, good_link, token) = joined_volunteer(&fx.relay, fx.compound, "李强的手机").await;
    http::sync(&replica, &good_link, device_now).await.unwrap();
    let mut seed = 11_u64;
    let households = replica.lock().unwrap().compounds().next().unwrap().households();
    // The fixture's roster is a few households: their notes rewritten again and again.
    for n in 0..40 {
        let household = &households[n % households.len()];
        let edit = Operation::EditNotes { household: household.id, notes: notes(&mut seed, 300) };
        replica.lock().unwrap().apply(device_now(), fx.compound, &edit).unwrap();
    }
    let person = replica.lock().unwrap().identity().unwrap().person;
    let path = format!("/v1/compounds/{}/members/{person}/revoke", fx.compound);
    assert!(fx.relay.json("POST", &path, &fx.relay.admin_token, None).await.0.is_success());

    let window = Arc::new(AtomicUsize::new(0));
    let (url, _) = windows_up(&fx.relay.url, Arc::clone(&window)).await;
    let file = dir.path().join("phone.sqlite");
    let storage = fx.relay.state.as_ref().unwrap().relay.storage();
    let mut arrived = Vec::new();
    for _ in 0..30 {
        crate::harness::reopen(&replica, &file);
        let transport = RelayClient::new(&url, Some(token.clone())).unwrap();
        window.store(12 * 1024, Ordering::SeqCst);
        let _ = http::sync(&replica, &transport, device_now).await;
        arrived.push(storage.set_aside_of(fx.compound, 1000).await.unwrap().len());
        if arrived.last() == Some(&40) {
            break;
        }
    }
    assert_eq!(arrived.last(), Some(&40), "all 40 reached the inbox; after each window: {arrived:?}");
}
