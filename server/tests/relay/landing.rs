//! A volunteer's backlog on a landing's link: a few seconds of 64 kbit/s at a time. A request
//! carries at most `REQUEST_BYTES` (64 KiB, eight seconds of that link) of a document's changes
//! and the next request the rest, each taken and committed by the relay as it comes; so what one
//! window of signal sent stays sent when the link drops, and the next window sends only the rest.
//! The phone is a real replica file, the relay real, over real HTTP.

use std::sync::Mutex;

use doorstep_core::sync::{REQUEST_BYTES, SyncResponse};
use doorstep_core::{Operation, Role};
use doorstep_replica::Replica;
use doorstep_replica::http::{self, RelayClient};
use reqwest::StatusCode;

use crate::harness::{Fixture, device_now, first_request};

/// Notes of `chars` characters drawn at random from common ones, which compress little, as a
/// household's long notes in a real hand do.
pub(crate) fn notes(seed: &mut u64, chars: usize) -> String {
    const COMMON: &[char] = &[
        '门', '口', '放', '老', '人', '独', '居', '药', '品', '蔬', '菜', '米', '面', '油', '奶', '粉', '透',
        '析', '孕', '妇', '隔', '离', '电', '话', '楼', '梯', '上', '下', '左', '右', '东', '西', '南', '北',
        '早', '晚', '周',
    ];
    (0..chars)
        .map(|_| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            if seed.is_multiple_of(4) {
                COMMON[usize::try_from(*seed % COMMON.len() as u64).unwrap()]
            } else {
                char::from_u32(0x4e00 + u32::try_from(*seed % 2000).unwrap()).unwrap()
            }
        })
        .collect()
}

/// The roster `replica` holds.
pub(crate) fn roster_of(replica: &Mutex<Replica>) -> doorstep_core::id::DocumentId {
    let held = replica.lock().unwrap();
    let compound = held.compounds().next().unwrap();
    compound
        .documents()
        .find(|d| d.kind() == doorstep_core::schema::vocabulary::DocKind::Roster)
        .unwrap()
        .id()
}

/// A volunteer's phone joined to `compound` over a good link: its file's folder, the replica,
/// its transport (with its token) and the token.
pub(crate) async fn joined_volunteer(
    relay: &crate::harness::TestRelay,
    compound: doorstep_core::id::CompoundId,
    name: &str,
) -> (tempfile::TempDir, Mutex<Replica>, RelayClient, String) {
    let dir = tempfile::tempdir().unwrap();
    let replica = Mutex::new(Replica::open(dir.path().join("phone.sqlite")).unwrap());
    let transport = RelayClient::new(&relay.url, None).unwrap();
    let code = relay.invite(&relay.admin_token, compound, Role::Volunteer).await;
    let joined = http::join(&replica, &transport, &code, name).await.unwrap();
    (dir, replica, transport.with_token(joined.token.clone()), joined.token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_past_one_requests_budget_goes_up_in_pieces_and_a_dropped_link_keeps_what_went() {
    let mut fx = Fixture::new().await;
    let dir = tempfile::tempdir().unwrap();
    let replica = Mutex::new(Replica::open(dir.path().join("phone.sqlite")).unwrap());
    let transport = RelayClient::new(&fx.relay.url, None).unwrap();
    let code = fx.relay.invite(&fx.relay.admin_token, fx.compound, Role::Volunteer).await;
    let joined = http::join(&replica, &transport, &code, "李强的手机").await.unwrap();
    let token = joined.token.clone();
    let transport = transport.with_token(joined.token);
    http::sync(&replica, &transport, device_now).await.unwrap();

    // A long day offline: households' long notes rewritten twelve times, 4,000 characters each
    // (about 24 KB a change, 290 KB in all: a minute at 64 kbit/s).
    let households = replica.lock().unwrap().compounds().next().unwrap().households();
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut written = std::collections::BTreeMap::new();
    for household in households.iter().cycle().take(12) {
        let text = notes(&mut seed, 4000);
        let edit = Operation::EditNotes { household: household.id, notes: text.clone() };
        replica.lock().unwrap().apply(device_now(), fx.compound, &edit).unwrap();
        written.insert(household.id, text);
    }
    let backlog = replica.lock().unwrap().unsynced_changes();
    assert_eq!(backlog, 12);

    // The first window of signal: one request, then the link drops.
    let (mut run, body) = first_request(&replica);
    let first = body.len();
    let res = fx.relay.sync_raw(Some(&token), Some("application/cbor"), body).await;
    assert_eq!(res.status(), StatusCode::OK);
    let answer = res.bytes().await.unwrap();
    assert!(SyncResponse::decode(&answer).unwrap().rejected.is_empty());
    run.handle_response(&mut replica.lock().unwrap(), &answer, device_now()).unwrap();
    assert!(
        first <= 10 * 8000,
        "one request carries at most the budget ({REQUEST_BYTES} B) and the messages' own bytes, ten seconds of 64 kbit/s: {first} B"
    );
    let left = replica.lock().unwrap().unsynced_changes();
    assert!(left > 0 && left < backlog, "what went in the first window was taken: {left} of {backlog} left");

    // The next window: the rest, and only the rest, in requests of the same size.
    let report = http::sync(&replica, &transport, device_now).await.unwrap();
    assert!(report.rejected.is_empty() && report.set_aside == 0, "{report:?}");
    assert!(report.requests >= 2, "{report:?}");
    assert!(
        report.bytes_up <= report.requests as usize * (REQUEST_BYTES + 4096),
        "no request past the budget: {report:?}"
    );
    assert_eq!(replica.lock().unwrap().unsynced_changes(), 0, "the relay has the whole day");

    // And the coordinator sees every household's new notes.
    fx.coordinator.sync(&fx.relay).await;
    let seen = fx.coordinator.compound().households();
    for (id, text) in &written {
        let household = seen.iter().find(|h| h.id == *id).unwrap();
        assert_eq!(&household.notes, text);
    }
}

/// A request the link dropped halves the budget, kept in the phone's file for the next sync;
/// an answered request of about the budget's size doubles it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_request_makes_the_next_ones_smaller_and_answered_ones_grow_them_back() {
    let fx = Fixture::new().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("phone.sqlite");
    let replica = Mutex::new(Replica::open(&path).unwrap());
    let transport = RelayClient::new(&fx.relay.url, None).unwrap();
    let code = fx.relay.invite(&fx.relay.admin_token, fx.compound, Role::Volunteer).await;
    let joined = http::join(&replica, &transport, &code, "李强的手机").await.unwrap();
    let transport = transport.with_token(joined.token);
    http::sync(&replica, &transport, device_now).await.unwrap();
    assert_eq!(replica.lock().unwrap().request_budget(), 64 * 1024);

    let households = replica.lock().unwrap().compounds().next().unwrap().households();
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    for household in households.iter().cycle().take(40) {
        let edit = Operation::EditNotes { household: household.id, notes: notes(&mut seed, 1000) };
        replica.lock().unwrap().apply(device_now(), fx.compound, &edit).unwrap();
    }

    // The first request goes out and the link drops before an answer.
    {
        let mut guard = replica.lock().unwrap();
        let mut run = guard.start_sync();
        let body = run.next_request(&guard).unwrap();
        assert!(body.len() > 48 * 1024, "a full request: {} B", body.len());
        run.request_failed(&mut guard).unwrap();
    }
    // The next sync, after the app restarted: half as much a request.
    drop(replica);
    let replica = Mutex::new(Replica::open(&path).unwrap());
    assert_eq!(replica.lock().unwrap().request_budget(), 32 * 1024, "kept in the phone's file");
    let body = {
        let guard = replica.lock().unwrap();
        guard.start_sync().next_request(&guard).unwrap()
    };
    assert!(body.len() <= 34 * 1024, "half the budget and the messages' own bytes: {} B", body.len());

    // Answered requests grow it back, and the whole backlog arrives.
    let report = http::sync(&replica, &transport, device_now).await.unwrap();
    assert!(report.rejected.is_empty() && report.set_aside == 0, "{report:?}");
    assert_eq!(replica.lock().unwrap().unsynced_changes(), 0);
    assert_eq!(replica.lock().unwrap().request_budget(), 64 * 1024, "{report:?}");
}

/// A new volunteer's first sync on a link that has dropped a request asks for one document at a
/// time: each comes back whole, and three in one answer (75 KiB for the sample compound) take
/// longer to cross a landing's link than a short window of signal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_link_that_dropped_a_request_a_new_phone_fetches_one_document_a_request() {
    let fx = Fixture::new().await;
    let dir = tempfile::tempdir().unwrap();
    let replica = Mutex::new(Replica::open(dir.path().join("phone.sqlite")).unwrap());
    let transport = RelayClient::new(&fx.relay.url, None).unwrap();
    let code = fx.relay.invite(&fx.relay.admin_token, fx.compound, Role::Volunteer).await;
    let joined = http::join(&replica, &transport, &code, "李强的手机").await.unwrap();
    let transport = transport.with_token(joined.token);
    {
        // Its first request was lost on the way.
        let mut guard = replica.lock().unwrap();
        let mut run = guard.start_sync();
        run.next_request(&guard).unwrap();
        run.request_failed(&mut guard).unwrap();
    }
    let report = http::sync(&replica, &transport, device_now).await.unwrap();
    assert!(report.rejected.is_empty(), "{report:?}");
    let held: Vec<_> = replica
        .lock()
        .unwrap()
        .compounds()
        .flat_map(|c| c.documents().map(|d| d.id()).collect::<Vec<_>>())
        .collect();
    assert_eq!(report.fetched.len(), held.len(), "every document it may hold arrived: {report:?}");
    assert!(held.len() >= 3, "{held:?}");
    assert!(
        report.requests as usize > held.len(),
        "the list, then one document a request: {} requests for {} documents",
        report.requests,
        held.len()
    );
    let placeholders = replica
        .lock()
        .unwrap()
        .compounds()
        .flat_map(|c| c.documents().filter(|d| d.is_placeholder()).map(|d| d.id()).collect::<Vec<_>>())
        .count();
    assert_eq!(placeholders, 0);
}

/// A TCP proxy to the relay at `relay` (an `http://` URL) that hands the relay's bytes to the
/// phone `bytes_per_second` at a time, a tenth of a second apart, or none at all when
/// `stalled`; the phone's bytes go through at once.
async fn trickle(relay: &str, bytes_per_second: usize, stalled: bool) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    crate::link_proxy::proxy(relay, move |mut link: crate::link_proxy::Joined| async move {
        let (mut from_phone, mut to_relay) = (link.from_phone, link.to_relay);
        tokio::spawn(async move { tokio::io::copy(&mut from_phone, &mut to_relay).await });
        let mut step = vec![0_u8; bytes_per_second / 10];
        loop {
            if stalled {
                tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
            }
            let Ok(n @ 1..) = link.from_relay.read(&mut step).await else { break };
            if link.to_phone.write_all(&step[..n]).await.is_err() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    })
    .await
}

/// A new volunteer's first answer (every document whole) on a slow link takes as long as it
/// takes while it keeps coming; what gives up is a relay that sends nothing at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_that_keeps_coming_is_waited_for_however_long_and_a_stalled_one_is_not() {
    let fx = Fixture::new().await;
    let dir = tempfile::tempdir().unwrap();
    let replica = Mutex::new(Replica::open(dir.path().join("phone.sqlite")).unwrap());
    let code = fx.relay.invite(&fx.relay.admin_token, fx.compound, Role::Volunteer).await;
    let joined = http::join(&replica, &RelayClient::new(&fx.relay.url, None).unwrap(), &code, "新志愿者")
        .await
        .unwrap();
    let stall = std::time::Duration::from_secs(1);

    // 400 bytes a second: the first answer (about 2 KB here) takes several times the stall
    // timeout.
    let slow = trickle(&fx.relay.url, 400, false).await;
    let transport = RelayClient::with_stall_timeout(&slow, Some(joined.token.clone()), stall).unwrap();
    let started = std::time::Instant::now();
    let report = http::sync(&replica, &transport, device_now).await.unwrap();
    let took = started.elapsed();
    assert!(took > stall * 3, "the answer took {took:?}: {report:?}");
    assert!(report.bytes_down > 1500, "{report:?}");
    assert_eq!(report.fetched.len(), 3, "every document arrived: {report:?}");
    assert_eq!(replica.lock().unwrap().compounds().next().unwrap().households().len(), 6);

    // A relay that sends nothing: given up after the stall timeout, with the work kept.
    let household = replica.lock().unwrap().compounds().next().unwrap().households()[0].id;
    let edit = Operation::EditNotes { household, notes: "门口放".into() };
    replica.lock().unwrap().apply(device_now(), fx.compound, &edit).unwrap();
    let stalled = trickle(&fx.relay.url, 2000, true).await;
    let transport = RelayClient::with_stall_timeout(&stalled, Some(joined.token), stall).unwrap();
    let started = std::time::Instant::now();
    let error = http::sync(&replica, &transport, device_now).await.unwrap_err();
    assert!(started.elapsed() < stall * 5, "{:?}", started.elapsed());
    assert!(error.to_string().contains("stopped answering"), "{error}");
    assert_eq!(replica.lock().unwrap().unsynced_changes(), 1, "the note is kept for the next sync");
}

/// A TCP proxy to the relay at `relay` that carries one request and its answer on each
/// connection and closes the connection when the phone sends the next request on it, as a box
/// on the way (or a relay that took an answer still crossing the link for idleness) closes a
/// kept-alive connection just as the phone reuses it. Returns its URL and how many connections
/// it closed that way.
pub(crate) async fn closes_kept_alive(
    relay: &str,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let closed = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&closed);
    let url = crate::link_proxy::proxy(relay, move |mut link: crate::link_proxy::Joined| {
        let counted = Arc::clone(&counted);
        async move {
            let answered = Arc::new(AtomicBool::new(false));
            let answering = Arc::clone(&answered);
            let (mut from_relay, mut to_phone) = (link.from_relay, link.to_phone);
            let back = tokio::spawn(async move {
                let mut buf = vec![0_u8; 16 << 10];
                while let Ok(n @ 1..) = from_relay.read(&mut buf).await {
                    answering.store(true, Ordering::SeqCst);
                    if to_phone.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
            let mut buf = vec![0_u8; 16 << 10];
            while let Ok(n @ 1..) = link.from_phone.read(&mut buf).await {
                if answered.load(Ordering::SeqCst) {
                    // The next request on this connection: close it, forwarding nothing.
                    counted.fetch_add(1, Ordering::SeqCst);
                    back.abort();
                    return;
                }
                if link.to_relay.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    })
    .await;
    (url, closed)
}

/// A kept-alive connection closed as the phone's next request goes out is not a dropped link:
/// the phone sends that request again, once, on a new connection, in the same sync, and the
/// sync completes with the budget of its requests untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_alive_connection_closed_under_the_next_request_is_retried_on_a_new_one() {
    let fx = Fixture::new().await;
    let dir = tempfile::tempdir().unwrap();
    let replica = Mutex::new(Replica::open(dir.path().join("phone.sqlite")).unwrap());
    let code = fx.relay.invite(&fx.relay.admin_token, fx.compound, Role::Volunteer).await;
    let joined = http::join(&replica, &RelayClient::new(&fx.relay.url, None).unwrap(), &code, "王芳的手机")
        .await
        .unwrap();
    let (url, closed) = closes_kept_alive(&fx.relay.url).await;
    let transport = RelayClient::new(&url, Some(joined.token)).unwrap();

    // A first sync takes more than one request, each after the first on the connection the one
    // before it used.
    let report = http::sync(&replica, &transport, device_now).await.unwrap();
    assert!(report.requests >= 2, "{report:?}");
    assert_eq!(report.fetched.len(), 3, "every document arrived: {report:?}");
    let first = closed.load(std::sync::atomic::Ordering::SeqCst);
    assert!(first >= 1, "the proxy closed a kept-alive connection under a request");

    // Work done since goes up through the same kind of link, and the next sync's first request
    // finds the last sync's connection closed under it too.
    let household = replica.lock().unwrap().compounds().next().unwrap().households()[0].id;
    let edit = Operation::EditNotes { household, notes: "三楼东户，敲门两次".into() };
    replica.lock().unwrap().apply(device_now(), fx.compound, &edit).unwrap();
    let budget_before = replica.lock().unwrap().request_budget();
    http::sync(&replica, &transport, device_now).await.unwrap();
    assert!(closed.load(std::sync::atomic::Ordering::SeqCst) > first);
    assert_eq!(replica.lock().unwrap().unsynced_changes(), 0, "the note reached the relay");
    assert_eq!(replica.lock().unwrap().request_budget(), budget_before, "no request was taken for dropped");
}

/// A phone whose link dropped a request asks for small replies: what it lacks comes in pieces
/// of about its budget, each kept as it arrives, instead of one reply longer than a window of
/// signal. A teammate's day of long notes (about 110 KB on the wire) reaches a phone asking for
/// 8 KiB replies in many requests, and a new phone's first sync on such a link gets the roster
/// and its history as a copy. A budget that is not a number is refused by name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_on_a_link_that_dropped_a_request_gets_what_it_lacks_in_pieces_of_its_budget() {
    let fx = Fixture::new().await;
    let (relay, compound) = (&fx.relay, fx.compound);
    let joined_phone = move |name: &'static str| async move {
        let (dir, replica, transport, _) = joined_volunteer(relay, compound, name).await;
        (dir, replica, transport)
    };
    let drop_requests = |replica: &Mutex<Replica>, times: usize| {
        let mut guard = replica.lock().unwrap();
        let mut run = guard.start_sync();
        for _ in 0..times {
            run.request_failed(&mut guard).unwrap();
        }
    };

    let (_writer_dir, writer, writer_link) = joined_phone("王芳的手机").await;
    http::sync(&writer, &writer_link, device_now).await.unwrap();
    let (_dir, phone, link) = joined_phone("李强的手机").await;
    http::sync(&phone, &link, device_now).await.unwrap();

    // The teammate's long day, synced over a good link.
    let households = writer.lock().unwrap().compounds().next().unwrap().households();
    let mut seed = 0x1234_5678_9abc_def1_u64;
    for household in households.iter().cycle().take(16) {
        let edit = Operation::EditNotes { household: household.id, notes: notes(&mut seed, 1500) };
        writer.lock().unwrap().apply(device_now(), fx.compound, &edit).unwrap();
    }
    http::sync(&writer, &writer_link, device_now).await.unwrap();

    // Three requests dropped: the phone's budget is at its least, and it says so. The pieces
    // themselves are tried here: the roster's copy, which a phone this far behind would get
    // instead (`document_copy.rs`), is taken as refused.
    drop_requests(&phone, 3);
    let roster = roster_of(&phone);
    phone.lock().unwrap().copy_refused(roster);
    assert_eq!(phone.lock().unwrap().reply_budget(), Some(8 * 1024));
    assert_eq!(phone.lock().unwrap().start_sync().reply_budget(), Some(8 * 1024), "a run asks it");
    let report = http::sync(&phone, &link, device_now).await.unwrap();
    assert!(report.rejected.is_empty(), "{report:?}");
    let notes_of = |replica: &Mutex<Replica>| -> Vec<String> {
        let held = replica.lock().unwrap().compounds().next().unwrap().households();
        held.into_iter().map(|h| h.notes).collect()
    };
    assert_eq!(notes_of(&phone), notes_of(&writer), "every note arrived");
    assert!(report.requests >= 6, "in pieces: {report:?}");
    assert!(report.bytes_down > 40_000, "{report:?}");
    // Pieces answered at about its budget grew it back; a run on a link that carried them all
    // asks no bound.
    assert!(phone.lock().unwrap().request_budget() > 8 * 1024, "{report:?}");
    let budget = phone.lock().unwrap().request_budget();
    let expected = (budget < 64 * 1024).then_some(budget);
    assert_eq!(phone.lock().unwrap().start_sync().reply_budget(), expected);

    // A new phone on a link that dropped its first requests: the roster, history and all, as a
    // copy kept byte by byte (`document_copy.rs`), each document a request of its own.
    let (_new_dir, new_phone, new_link) = joined_phone("新志愿者").await;
    drop_requests(&new_phone, 3);
    let report = http::sync(&new_phone, &new_link, device_now).await.unwrap();
    assert!(report.rejected.is_empty(), "{report:?}");
    assert_eq!(notes_of(&new_phone), notes_of(&writer), "the roster arrived whole");
    assert_eq!(report.fetched.len(), 3, "{report:?}");
    assert!(report.requests >= 4, "the list, then a copy a document: {report:?}");

    // A budget that is not a number of bytes.
    let refused = reqwest::Client::new()
        .post(format!("{}/v1/sync", fx.relay.url))
        .bearer_auth(&fx.relay.admin_token)
        .header("content-type", "application/cbor")
        .header(doorstep_core::sync::reply_budget::REPLY_BUDGET_HEADER, "a lot")
        .body(first_request(&phone).1)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let reason = refused.text().await.unwrap();
    assert!(reason.contains("x-doorstep-reply-bytes"), "{reason}");
}

/// The budget bounds the whole answer, not each document's reply: a phone lacking a teammate's
/// long notes on the roster and long attempt notes on the round, asking 8 KiB replies, gets
/// answers of at most its budget (and a message's heads), the round's notes coming once the
/// roster's are in. Before, each document replied within the budget, and an answer carried two.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_budget_bounds_the_whole_answer_of_several_documents() {
    let fx = Fixture::new().await;
    let (relay, compound) = (&fx.relay, fx.compound);
    let phone_of = move |name: &'static str| async move {
        let joined = joined_volunteer(relay, compound, name).await;
        http::sync(&joined.1, &joined.2, device_now).await.unwrap();
        joined
    };
    let (_writer_dir, writer, writer_link, _) = phone_of("王芳的手机").await;
    let (_dir, phone, _link, token) = phone_of("李强的手机").await;

    let mut seed = 0x0bad_cafe_1234_5678_u64;
    let households = writer.lock().unwrap().compounds().next().unwrap().households();
    let tasks = writer.lock().unwrap().compounds().next().unwrap().open_tasks();
    assert!(!tasks.is_empty(), "the fixture's round has tasks");
    for n in 0..6 {
        let mut guard = writer.lock().unwrap();
        let household = households[n % households.len()].id;
        guard
            .apply(
                device_now(),
                fx.compound,
                &Operation::EditNotes { household, notes: notes(&mut seed, 1500) },
            )
            .unwrap();
        let task = tasks[n % tasks.len()].id;
        let attempt = Operation::RecordAttempt {
            round: fx.round,
            task,
            outcome: doorstep_core::schema::vocabulary::Outcome::NobodyHome,
            note: notes(&mut seed, 1500),
        };
        guard.apply(device_now(), fx.compound, &attempt).unwrap();
    }
    let report = http::sync(&writer, &writer_link, device_now).await.unwrap();
    assert!(report.rejected.is_empty(), "{report:?}");

    // The phone's link dropped three requests: it asks for 8 KiB replies. Each request is sent
    // by hand, to weigh each answer.
    let mut guard = phone.into_inner().unwrap();
    let mut run = guard.start_sync();
    for _ in 0..3 {
        run.request_failed(&mut guard).unwrap();
    }
    let mut answers = Vec::new();
    while let Some(body) = run.next_request(&guard) {
        let budget = run.reply_budget().expect("the run asks small replies");
        let answer = fx.relay.sync_with_reply_budget(&token, body, budget).await;
        assert_eq!(answer.status(), StatusCode::OK);
        let advised = answer.headers().get(doorstep_core::sync::document_copy::COPY_ADVISED_HEADER).cloned();
        let bytes = answer.bytes().await.unwrap();
        let response = SyncResponse::decode(&bytes).unwrap();
        let changes: usize = response.messages.iter().map(|m| m.message.len()).sum();
        // An answer within the budget advises no copy (`document_copy.rs` has one over it).
        assert!(changes > budget || advised.is_none(), "{changes} B within {budget} B, advised {advised:?}");
        answers.push((budget, changes, response.messages.len()));
        run.handle_response(&mut guard, &bytes, device_now()).unwrap();
        assert!(answers.len() < 40, "the run ends: {answers:?}");
    }
    let notes_of = |replica: &Replica| -> (Vec<String>, Vec<usize>) {
        let compound = replica.compounds().next().unwrap();
        (
            compound.households().into_iter().map(|h| h.notes).collect(),
            compound.tasks().into_iter().map(|t| t.attempts.len()).collect(),
        )
    };
    assert_eq!(notes_of(&guard), notes_of(&writer.lock().unwrap()), "every note arrived: {answers:?}");
    // One note is about 4.6 KB: two documents' pieces would be over the budget together.
    let slack = 1024;
    assert!(
        answers.iter().all(|&(budget, replies, _)| replies <= budget + slack),
        "each answer within its budget: {answers:?}"
    );
    assert!(answers.len() >= 4, "in pieces: {answers:?}");
}

/// On a link that dropped a request, the replies asked for follow the link's rate: about two
/// seconds of it, not the request budget, which grows back to pieces a window of signal would
/// cut. Through a proxy handing the phone 6,000 bytes a second, the phone that caught up with a
/// teammate's notes asks afterwards for replies of about 12 KB while its request budget grew to
/// 32 KiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_link_that_dropped_a_request_the_replies_asked_for_follow_its_rate() {
    let fx = Fixture::new().await;
    let (relay, compound) = (&fx.relay, fx.compound);
    let joined_phone = move |name: &'static str| async move {
        let (dir, replica, transport, token) = joined_volunteer(relay, compound, name).await;
        http::sync(&replica, &transport, device_now).await.unwrap();
        (dir, replica, token)
    };
    let (_writer_dir, writer, writer_token) = joined_phone("王芳的手机").await;
    let (_dir, phone, token) = joined_phone("李强的手机").await;
    let households = writer.lock().unwrap().compounds().next().unwrap().households();
    let mut seed = 0x5eed_1234_u64;
    for household in households.iter().cycle().take(10) {
        let edit = Operation::EditNotes { household: household.id, notes: notes(&mut seed, 1500) };
        writer.lock().unwrap().apply(device_now(), fx.compound, &edit).unwrap();
    }
    let writer_link = RelayClient::new(&fx.relay.url, Some(writer_token)).unwrap();
    http::sync(&writer, &writer_link, device_now).await.unwrap();

    {
        let mut guard = phone.lock().unwrap();
        let mut run = guard.start_sync();
        for _ in 0..3 {
            run.request_failed(&mut guard).unwrap();
        }
        assert_eq!(run.reply_budget(), Some(8 * 1024), "no rate known yet: the budget");
    }
    // The pieces and their rate are tried here, not the roster's copy (`document_copy.rs`).
    let roster = roster_of(&phone);
    phone.lock().unwrap().copy_refused(roster);
    let slow = trickle(&fx.relay.url, 6000, false).await;
    let report =
        http::sync(&phone, &RelayClient::new(&slow, Some(token)).unwrap(), device_now).await.unwrap();
    assert!(report.rejected.is_empty(), "{report:?}");
    assert_eq!(phone.lock().unwrap().unsynced_changes(), 0);
    let request_budget = phone.lock().unwrap().request_budget();
    let asked = phone.lock().unwrap().start_sync().reply_budget().unwrap();
    assert!(request_budget >= 32 * 1024, "the request budget grew back: {request_budget} B, {report:?}");
    assert!(
        (doorstep_replica::link_rate::LEAST_PIECE..=16_000).contains(&asked),
        "about two seconds of 6,000 B/s asked, not the {request_budget} B budget: {asked} B"
    );
}

/// A proxy to the relay at `relay` that carries at most `bytes` of each answer down, then drops
/// the connection both ways: a landing whose windows of signal are that short.
async fn cut_after(relay: &str, bytes: usize) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    crate::link_proxy::proxy(relay, move |link: crate::link_proxy::Joined| async move {
        let (mut from_phone, mut to_relay) = (link.from_phone, link.to_relay);
        let up = tokio::spawn(async move { tokio::io::copy(&mut from_phone, &mut to_relay).await });
        let (mut from_relay, mut to_phone) = (link.from_relay, link.to_phone);
        let mut left = bytes;
        let mut buf = vec![0_u8; 4096];
        while let Ok(n @ 1..) = from_relay.read(&mut buf).await {
            let taken = n.min(left);
            if to_phone.write_all(&buf[..taken]).await.is_err() || taken < n {
                break;
            }
            left -= taken;
        }
        up.abort();
    })
    .await
}

/// A landing that carries 6,000 bytes of an answer, then drops: the phone's budget halved to
/// 8 KiB and stopped there, every reply was cut, and a volunteer behind a teammate's notes never
/// caught up (15 syncs of 15 failed). Its budget now halves on to 2 KiB, and replies of 4 KiB
/// cross: it catches up, and its own notes reach the relay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_landing_that_carries_six_kilobytes_of_an_answer_catches_up() {
    let mut fx = Fixture::new().await;
    let (relay, compound) = (&fx.relay, fx.compound);
    let (_writer_dir, writer, writer_link, _) = joined_volunteer(relay, compound, "王芳的手机").await;
    http::sync(&writer, &writer_link, device_now).await.unwrap();
    let (_dir, phone, good_link, token) = joined_volunteer(relay, compound, "李强的手机").await;
    http::sync(&phone, &good_link, device_now).await.unwrap();
    let households = writer.lock().unwrap().compounds().next().unwrap().households();
    let mut seed = 0x1a2b_3c4d_u64;
    let mut written = std::collections::BTreeMap::new();
    for household in households.iter().skip(1).take(20) {
        // Notes drawn from the whole CJK block, which compress less than a real hand's: an
        // 800-character note is about 2.4 KB on the wire, compressed or not.
        let text: String = (0..800)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                char::from_u32(0x4e00 + u32::try_from(seed % 20_900).unwrap()).unwrap()
            })
            .collect();
        let edit = Operation::EditNotes { household: household.id, notes: text.clone() };
        writer.lock().unwrap().apply(device_now(), fx.compound, &edit).unwrap();
        written.insert(household.id, text);
    }
    http::sync(&writer, &writer_link, device_now).await.unwrap();
    let own =
        Operation::EditNotes { household: households[0].id, notes: "门口放，敲门两下".to_owned() };
    phone.lock().unwrap().apply(device_now(), fx.compound, &own).unwrap();

    let landing = RelayClient::new(&cut_after(&fx.relay.url, 6000).await, Some(token)).unwrap();
    let (mut failed, mut syncs) = (0, 0);
    let caught_up = |phone: &Mutex<Replica>| {
        let seen = phone.lock().unwrap().compounds().next().unwrap().households();
        written.iter().all(|(id, text)| seen.iter().any(|h| h.id == *id && &h.notes == text))
    };
    while syncs < 40 && !(caught_up(&phone) && phone.lock().unwrap().unsynced_changes() == 0) {
        syncs += 1;
        if http::sync(&phone, &landing, device_now).await.is_err() {
            failed += 1;
        }
    }
    assert!(caught_up(&phone), "never caught up in {syncs} syncs, {failed} of them cut");
    assert_eq!(phone.lock().unwrap().unsynced_changes(), 0, "its own notes went up");
    assert!(failed > 0, "the landing cut answers");
    fx.coordinator.sync(&fx.relay).await;
    let seen = fx.coordinator.compound().households();
    assert!(seen.iter().any(|h| h.id == households[0].id && h.notes == "门口放，敲门两下"));
}
