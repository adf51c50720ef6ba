//! What one person may add to one document in a day (`growth_share.rs`): one member's phone
//! cannot fill a document for everyone, and nothing it made is lost or set aside for it. The
//! PostgreSQL test needs `DOORSTEP_TEST_POSTGRES` (run under `scripts/with-postgres`); without it
//! it says it was skipped.

use automerge::ReadDoc;
use doorstep_core::schema::household::HouseholdEdit;
use doorstep_core::schema::vocabulary::{DocKind, Outcome};
use doorstep_core::{Operation, Role};
use doorstep_replica::http;
use doorstep_server::storage::postgres::scratch::ScratchDatabase;
use doorstep_server::{Config, Limits};

use crate::harness::{Fixture, Phone, ROSTER_CSV, Synced, TestRelay, device_now, noise};
use crate::landing::joined_volunteer;

/// A share small enough to reach with a few notes.
const SHARE: usize = 64 * 1024;

/// Rewrites the notes of every household `rounds` times, 3,000 characters each.
fn rewrite_notes(phone: &mut Phone, rounds: usize) {
    let households = phone.compound().households();
    for _ in 0..rounds {
        for household in &households {
            phone.apply(&Operation::EditNotes { household: household.id, notes: noise(3000) }).unwrap();
        }
    }
}

fn notes_of(phone: &Phone) -> Vec<String> {
    phone.compound().households().into_iter().map(|h| h.notes).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_members_phone_cannot_fill_a_document_for_everyone_and_keeps_what_it_made() {
    let config = Config { limits: Limits { growth_share: SHARE, ..Limits::default() }, ..Config::default() };
    let mut fx = Fixture::with_config(config).await;
    let roster = fx.volunteers[0].doc_of(DocKind::Roster).id();

    // Most of a day's share (six notes of 3,000 characters: about 55 KB) is taken.
    rewrite_notes(&mut fx.volunteers[0], 1);
    let first = fx.volunteers[0].sync(&fx.relay).await;
    assert!(first.rejected.is_empty(), "{:?}", first.rejected);

    // Then the roster takes nothing more from this person today; their round does.
    rewrite_notes(&mut fx.volunteers[0], 1);
    let task = fx.volunteers[0].compound().open_tasks()[0].id;
    fx.volunteers[0]
        .apply(&Operation::RecordAttempt {
            round: fx.round,
            task,
            outcome: Outcome::Delivered,
            note: "放门口".into(),
        })
        .unwrap();
    let refused_notes = notes_of(&fx.volunteers[0]);
    let refused_heads = fx.volunteers[0].doc_of(DocKind::Roster).automerge().get_heads();
    let second = fx.volunteers[0].sync_up_to(&fx.relay, 4).await;
    assert!(refused_for_a_share(&second), "{:?}", second.rejected);
    let rejection = &second.rejected[0];
    assert!(
        second.rejected.iter().all(|r| r.doc == roster),
        "only the roster refused: {:?}",
        second.rejected
    );
    assert!(rejection.is_transient(), "the phone keeps the notes and sends them later");
    for words in [format!("more than is left of the {SHARE} bytes one volunteer may add"), "in about".into()]
    {
        assert!(rejection.reason.contains(&words), "{words:?} in {}", rejection.reason);
    }

    // Everyone else's work goes on: the other volunteer's note and the coordinator's edit are
    // taken, and the refused person's delivery in the round reached the coordinator.
    let household = fx.volunteers[1].compound().households()[0].id;
    fx.volunteers[1]
        .apply(&Operation::EditNotes { household, notes: "独居老人，敲门要大声".into() })
        .unwrap();
    let other = fx.volunteers[1].sync(&fx.relay).await;
    assert!(other.rejected.is_empty(), "{:?}", other.rejected);
    rewrite_notes(&mut fx.coordinator, 1);
    let coordinator = fx.coordinator.sync(&fx.relay).await;
    assert!(coordinator.rejected.is_empty(), "a coordinator has four shares: {:?}", coordinator.rejected);
    let delivered = fx.coordinator.compound().tasks().into_iter().find(|t| t.id == task).unwrap();
    assert_eq!(delivered.attempts.len(), 1, "the delivery went up beside the refused notes");
    let reached = |n: &String| refused_notes.iter().any(|refused| n.contains(refused.as_str()));
    assert!(!notes_of(&fx.coordinator).iter().any(reached), "none of the refused notes reached the relay");

    // The refused notes are still on the phone, offered again and refused again, not dropped.
    let again = fx.volunteers[0].sync_up_to(&fx.relay, 4).await;
    assert!(
        again.rejected.iter().any(|r| r.doc == roster && r.rule == "document_full"),
        "{:?}",
        again.rejected
    );
    let phone = fx.volunteers[0].doc_of(DocKind::Roster).automerge();
    let relay = fx.coordinator.doc_of(DocKind::Roster).automerge();
    for head in &refused_heads {
        assert!(phone.get_change_by_hash(head).is_some(), "the phone still holds the notes it wrote");
        assert!(relay.get_change_by_hash(head).is_none(), "and the relay does not");
    }
    // And, refused, it still hears everyone else's work on the roster: the other volunteer's
    // note came down with the refusal (before, a refusal for a used-up share came alone).
    let notes = notes_of(&fx.volunteers[0]);
    assert!(
        notes.iter().any(|n| n.contains("独居老人，敲门要大声")),
        "the refused phone hears the roster's news"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_share_is_one_across_relays_on_one_postgresql_and_a_restart_does_not_refill_it() {
    let Some(db) = ScratchDatabase::from_env().await else { return };
    let config =
        || Config { limits: Limits { growth_share: SHARE, ..Limits::default() }, ..Config::default() };
    let a = TestRelay::start_on(db.url(), config()).await;
    let mut b = TestRelay::start_on(db.url(), config()).await;
    let compound = a.create_compound("共享苑").await;
    a.import_roster(compound, ROSTER_CSV).await;
    let mut phone = a.phone(compound, Role::Volunteer, "王芳").await;
    phone.sync(&a).await;
    rewrite_notes(&mut phone, 1);
    let taken = phone.sync(&a).await;
    assert!(taken.rejected.is_empty(), "{:?}", taken.rejected);
    // The next notes go to the other relay, as a balancer would send them: the same share.
    rewrite_notes(&mut phone, 1);
    let refused = phone.sync_up_to(&b, 4).await;
    assert!(refused_for_a_share(&refused), "{:?}", refused.rejected);
    b.stop().await;
    let b = TestRelay::start_on(db.url(), config()).await;
    let again = phone.sync_up_to(&b, 4).await;
    assert!(refused_for_a_share(&again), "a restarted relay remembers the share: {:?}", again.rejected);
}

/// Whether a sync was refused, and only for a used-up share. (This tests' phone keeps offering
/// what the news that comes with a refusal says the relay lacks, so one sync may be refused more
/// than once; the real replica lets the document sit out the rest of its sync.)
fn refused_for_a_share(synced: &Synced) -> bool {
    !synced.rejected.is_empty() && synced.rejected.iter().all(|r| r.rule == "document_full")
}

/// A measurement, not a check (`DOORSTEP_GROWTH_ATTACK_SECONDS=60`): one volunteer's phone
/// rewrites every household's notes at 4,000 characters and syncs, again and again, on a relay
/// with the default limits, and prints what the roster took and when it stopped taking it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn how_fast_one_phone_grows_a_document() {
    let Some(seconds) =
        std::env::var("DOORSTEP_GROWTH_ATTACK_SECONDS").ok().and_then(|s| s.parse::<u64>().ok())
    else {
        eprintln!("skipped: set DOORSTEP_GROWTH_ATTACK_SECONDS to measure");
        return;
    };
    let mut fx = Fixture::with_config(Config::default()).await;
    let started = std::time::Instant::now();
    let (mut syncs, mut refused, mut writing) = (0, None, std::time::Duration::ZERO);
    while started.elapsed().as_secs() < seconds && refused.is_none() {
        let households = fx.volunteers[0].compound().households();
        let write = std::time::Instant::now();
        for household in &households {
            let notes = noise(4000);
            fx.volunteers[0].apply(&Operation::EditNotes { household: household.id, notes }).unwrap();
        }
        writing += write.elapsed();
        let synced = fx.volunteers[0].sync_up_to(&fx.relay, 4).await;
        syncs += 1;
        refused = synced.rejected.first().map(|r| (started.elapsed(), r.rule.clone()));
    }
    let file = |name: &str| std::fs::metadata(fx.relay.dir.path().join(name)).map_or(0, |m| m.len());
    eprintln!(
        "{syncs} syncs of six 4,000-character notes in {:.1} s ({:.1} s writing them); first refusal: {refused:?}; the relay's \
         database {:.1} MiB (and {:.1} MiB of write-ahead log)",
        started.elapsed().as_secs_f64(),
        writing.as_secs_f64(),
        file("relay.db") as f64 / 1048576.0,
        file("relay.db-wal") as f64 / 1048576.0,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_past_its_share_keeps_its_work_and_does_not_send_it_again_within_the_sync() {
    let config = Config { limits: Limits { growth_share: SHARE, ..Limits::default() }, ..Config::default() };
    let fx = Fixture::with_config(config).await;
    // The phone: a real replica file and the real HTTP transport, with its default retries.
    let (_dir, replica, transport, _) = joined_volunteer(&fx.relay, fx.compound, "李强的手机").await;
    http::sync(&replica, &transport, device_now).await.unwrap();
    let household = replica.lock().unwrap().compounds().next().unwrap().households()[0].id;
    let write = |n: usize| {
        for _ in 0..n {
            let notes = Operation::EditNotes { household, notes: noise(3000) };
            replica.lock().unwrap().apply(device_now(), fx.compound, &notes).unwrap();
        }
    };
    // Four notes, about 48 KB: most of the share.
    write(4);
    let taken = http::sync(&replica, &transport, device_now).await.unwrap();
    assert!(taken.retrying.is_empty() && taken.rejected.is_empty(), "{taken:?}");
    // Meanwhile a coordinator corrects another household's head.
    let mut coordinator = fx.coordinator;
    let corrected = coordinator.compound().households()[1].id;
    let edit = HouseholdEdit { head: Some("陈桂英（更正）".into()), ..HouseholdEdit::default() };
    coordinator.apply(&Operation::EditHousehold { household: corrected, edit }).unwrap();
    assert!(coordinator.sync(&fx.relay).await.rejected.is_empty());
    write(6);
    let report = http::sync(&replica, &transport, device_now).await.unwrap();
    assert!(report.retrying.iter().any(|r| r.rule == "document_full"), "{report:?}");
    // Refused, the phone still hears everyone else's work on the roster (before, a refusal for
    // a used-up share came with no news: the correction waited for the share to come back).
    let households = replica.lock().unwrap().compounds().next().unwrap().households();
    let head = households.iter().find(|h| h.id == corrected).map(|h| h.head.as_str());
    assert_eq!(head, Some("陈桂英（更正）"), "the correction reached the refused phone: {report:?}");
    assert!(report.rejected.is_empty() && report.set_aside == 0, "nothing set aside: {report:?}");
    assert!(replica.lock().unwrap().unsynced_changes() > 0, "the notes stay on the phone");
    // Refused for hours, not seconds: the sync does not wait and send the notes again (before,
    // its six retries sent them again: 13 requests, 0.5 MB up, about a minute of a 64 kbit/s link).
    assert_eq!(report.retries, 0, "{report:?}");
    assert!(report.bytes_up < 3 * SHARE / 2, "{} bytes up", report.bytes_up);
    // The next sync offers the same request (nothing moved) and is refused the same way, in one
    // request: before, the relay refused its bytes as a request already taken, and the phone
    // asked what it held, asked the relay's heads and sent the notes a third time (3 requests,
    // 2.3 times the bytes; on a landing's 64 kbit/s, seconds of every sync for the whole day).
    // (The first of these two differs from the refused one by the correction's head; the second
    // is the first's very bytes.)
    for _ in 0..2 {
        let again = http::sync(&replica, &transport, device_now).await.unwrap();
        assert!(again.retrying.iter().any(|r| r.rule == "document_full"), "{again:?}");
        assert_eq!(again.requests, 1, "{again:?}");
        let (before, now) = (report.bytes_up, again.bytes_up);
        assert!(now < before * 11 / 10, "{before} then {now} bytes up");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rounds_created_offline_count_against_a_share_of_the_whole_compound() {
    // A share of 512 bytes: 2 KiB a document for a coordinator, 8 KiB for the whole compound,
    // where a round of six households takes about 900 bytes.
    let config = Config { limits: Limits { growth_share: 512, ..Limits::default() }, ..Config::default() };
    let relay = TestRelay::start_with(config).await;
    let compound = relay.create_compound("香樟苑").await;
    relay.import_roster(compound, ROSTER_CSV).await;
    let mut coordinator = relay.phone(compound, Role::Coordinator, "王芳").await;
    coordinator.sync(&relay).await;
    // A modified phone could make rounds without end, each a new document with a share of its
    // own; rounds made one after another are taken until the compound's share is used up.
    let (mut taken, mut refusal) = (0, None);
    while refusal.is_none() && taken < 16 {
        let round = coordinator.apply(&create_round(taken)).unwrap().created[0];
        let synced = coordinator.sync_up_to(&relay, 4).await;
        match synced.rejected.as_slice() {
            [] => taken += 1,
            [rejection] => refusal = Some((round, rejection.clone())),
            more => panic!("one refusal expected: {more:?}"),
        }
    }
    let Some((round, rejection)) = refusal else { panic!("{taken} rounds taken, none refused") };
    assert!(taken >= 2, "several rounds fit in the share: {taken}");
    assert_eq!((rejection.doc, rejection.rule.as_str()), (round, "document_full"));
    assert!(rejection.is_transient(), "the phone keeps the round and sends it later");
    for words in
        ["8192 bytes one coordinator may add to all of a compound's documents together", "new rounds"]
    {
        assert!(rejection.reason.contains(words), "{words:?} in {}", rejection.reason);
    }
    assert!(coordinator.unacknowledged.contains(&round), "the refused round stays on the phone");
    let others = relay.phone(compound, Role::Coordinator, "刘洋").await;
    let mut others = others;
    let seen = others.sync(&relay).await;
    assert_eq!(
        seen.granted.iter().filter(|h| h.kind == DocKind::Round).count(),
        taken,
        "the relay holds only those taken"
    );
}

fn create_round(n: usize) -> Operation {
    use doorstep_core::schema::vocabulary::{Priority, TaskKind};
    Operation::CreateRound {
        title: format!("蔬菜包 第{n}轮"),
        kind: TaskKind::Groceries,
        date: "2026-11-23".into(),
        selection: doorstep_core::Selection::Building { estate: String::new(), building: "1".into() },
        items: "蔬菜包".into(),
        priority: Priority::Normal,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_sent_again_after_a_lost_answer_is_charged_once() {
    let config = Config { limits: Limits { growth_share: SHARE, ..Limits::default() }, ..Config::default() };
    charged_once(TestRelay::start_with(config).await).await;
}

/// The same on PostgreSQL, whose buckets give back in SQL of their own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_sent_again_after_a_lost_answer_is_charged_once_on_postgresql() {
    let Some(db) = ScratchDatabase::from_env().await else { return };
    let config = Config { limits: Limits { growth_share: SHARE, ..Limits::default() }, ..Config::default() };
    charged_once(TestRelay::start_on(db.url(), config).await).await;
}

async fn charged_once(relay: TestRelay) {
    let mut fx = Fixture::around(relay).await;
    let notes = |phone: &mut Phone, households: std::ops::Range<usize>| {
        for household in &phone.compound().households()[households] {
            phone.apply(&Operation::EditNotes { household: household.id, notes: noise(3000) }).unwrap();
        }
    };
    // Two notes, about 18 KB.
    notes(&mut fx.volunteers[0], 0..2);
    let phone = &fx.volunteers[0];
    let mut session = phone.session();
    let request = session.request(&phone.compounds).expect("a request");
    assert!(request.encode().len() > SHARE / 4, "the first request carries the notes");
    // The link drops the first two answers; the phone sends the same request again each time.
    for attempt in 1..=3 {
        let response = fx.relay.sync(&phone.token, &request).await;
        assert!(response.rejected.is_empty(), "attempt {attempt}: {:?}", response.rejected);
    }
    // Its next sync, knowing nothing of those answers, offers the notes a fourth time.
    let next = fx.volunteers[0].sync(&fx.relay).await;
    assert!(next.rejected.is_empty(), "{:?}", next.rejected);
    // Each copy is charged when it arrives, and what the roster held already is given back once
    // it is answered: only the 18 KB the roster took count. So four more notes (about 37 KB)
    // still fit in the share; charged four times, the first notes would have used it all.
    notes(&mut fx.volunteers[0], 2..6);
    let synced = fx.volunteers[0].sync(&fx.relay).await;
    assert!(synced.rejected.is_empty(), "{:?}", synced.rejected);
}

/// A phone whose link gives out while its message waits for a busy document is charged nothing
/// for it: the message is dropped unread when its turn comes, and its bytes go back. (They stayed
/// taken: a volunteer on a landing paid for each request the link dropped, and a few dropped
/// uploads of long notes used up a day's share with nothing added.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_dropped_before_its_batch_takes_nothing_from_the_share() {
    let config = Config { limits: Limits { growth_share: SHARE, ..Limits::default() }, ..Config::default() };
    let mut fx = Fixture::with_config(config).await;
    let state = fx.relay.state.clone().unwrap();
    let roster = fx.volunteers[0].doc_of(DocKind::Roster).id();
    let notes = |phone: &mut Phone, households: std::ops::Range<usize>| {
        for household in &phone.compound().households()[households] {
            phone.apply(&Operation::EditNotes { household: household.id, notes: noise(3000) }).unwrap();
        }
    };
    // Two notes, about 18 KB, in one request.
    notes(&mut fx.volunteers[0], 0..2);
    let phone = &fx.volunteers[0];
    let request = phone.session().request(&phone.compounds).expect("a request");
    assert!(request.encode().len() > SHARE / 4, "the request carries the notes");
    // The roster is busy (held here, as a long batch would); three times the request waits for
    // it and the link gives out (the request is dropped) before its turn.
    let held = state.relay.cache().lock(roster).await;
    for attempt in 1..=3 {
        let waiting = async {
            while state.relay.queues().waiting(roster) < attempt {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        };
        tokio::select! {
            _ = fx.relay.sync(&phone.token, &request) => panic!("attempt {attempt} answered while the roster was held"),
            () = waiting => {}
        }
    }
    drop(held);
    // Their turn comes: they are dropped unread.
    while state.relay.queues().waiting(roster) > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    // Charged three times (54 KB of a 64 KiB share) and never given back, the phone could not
    // now send these notes and four more (about 55 KB); given back, all of it fits. The bytes go
    // back from a task of their own as each dropped message leaves the queue, so the phone may
    // be refused for a moment first (a refusal takes nothing); within seconds it is not.
    notes(&mut fx.volunteers[0], 2..6);
    let mut synced = fx.volunteers[0].sync_up_to(&fx.relay, 4).await;
    for _ in 0..8 {
        if synced.rejected.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        synced = fx.volunteers[0].sync_up_to(&fx.relay, 4).await;
    }
    assert!(synced.rejected.is_empty(), "the dropped requests' bytes stayed taken: {:?}", synced.rejected);
    assert!(fx.coordinator.sync(&fx.relay).await.rejected.is_empty());
    assert_eq!(
        notes_of(&fx.coordinator)[..6],
        notes_of(&fx.volunteers[0])[..6],
        "the six notes reached the relay"
    );
}

/// A phone on a link that dropped requests asks for small replies; refused for its share, it
/// still hears the news, and within that budget. (The answer to a refused message started from a
/// state that knew nothing of how replies reach the phone: a volunteer far behind got everything
/// at once, longer than the window of signal its link had lately carried.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_phone_hears_the_news_within_the_reply_budget_its_link_asked_for() {
    let config = Config { limits: Limits { growth_share: 1024, ..Limits::default() }, ..Config::default() };
    let fx = Fixture::with_config(config).await;
    let (_dir, phone, link, token) = joined_volunteer(&fx.relay, fx.compound, "李强的手机").await;
    http::sync(&phone, &link, device_now).await.unwrap();
    // A first note takes the phone's whole share of 1 KiB (one larger than a share is taken from
    // a full one).
    let households = fx.coordinator.compound().households();
    let note = |household| Operation::EditNotes { household, notes: noise(800) };
    phone.lock().unwrap().apply(device_now(), fx.compound, &note(households[0].id)).unwrap();
    let first = http::sync(&phone, &link, device_now).await.unwrap();
    assert!(first.retrying.is_empty() && first.rejected.is_empty(), "{first:?}");

    // A coordinator's long notes from the dashboard (the relay's own edits, not a phone's share):
    // about 70 KB the phone lacks.
    let cookie = fx.relay.dashboard_cookie(&fx.coordinator.token).await;
    for household in households.iter().cycle().take(16) {
        let op = serde_json::to_value(Operation::EditNotes { household: household.id, notes: noise(1500) })
            .unwrap();
        let res = reqwest::Client::new()
            .post(format!("{}/dashboard/api/compounds/{}/operations", fx.relay.url, fx.compound))
            .header("cookie", &cookie)
            .header("content-type", "application/json")
            .body(op.to_string())
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{}", res.text().await.unwrap());
    }

    // The phone writes another note, past its share, offline, and its link dropped three
    // requests: it asks for 8 KiB replies.
    let mut guard = phone.into_inner().unwrap();
    guard.apply(device_now(), fx.compound, &note(households[1].id)).unwrap();
    let mut run = guard.start_sync();
    for _ in 0..3 {
        run.request_failed(&mut guard).unwrap();
    }
    let body = run.next_request(&guard).unwrap();
    let budget = run.reply_budget().expect("the run asks small replies");
    let answer = fx.relay.sync_with_reply_budget(&token, body, budget).await;
    let response = doorstep_core::sync::SyncResponse::decode(&answer.bytes().await.unwrap()).unwrap();
    let roster = fx.coordinator.doc_of(DocKind::Roster).id();
    assert!(
        response.rejected.iter().any(|r| r.doc == roster && r.rule == "document_full"),
        "{:?}",
        response.rejected
    );
    let news: usize = response.messages.iter().filter(|m| m.doc == roster).map(|m| m.message.len()).sum();
    assert!(news > 1024, "the refused phone hears the news: {news} B");
    assert!(news <= budget + 1024, "within the {budget} B it asked for: {news} B");
}

/// Each actor the relay has never seen costs part of its sender's share of a document
/// (`growth_share::new_actor_cost`): a modified phone that writes each change under a new actor
/// (4,100 of them in 100 s, each change built on the same old heads, left the roster 4,100
/// heads that every phone's messages carry, and honest phones were refused past 4,096: helper
/// finding) is stopped after a day's share of them, kept its work as for any share, while the
/// coordinator and another volunteer sync as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_bringing_actor_after_actor_is_stopped_at_its_share_of_new_actors() {
    let limits = Limits { rate_per_second: 1000.0, rate_burst: 1000.0, ..Limits::default() };
    let mut fx = Fixture::with_config(Config { limits, ..Config::default() }).await;
    let phone = &mut fx.volunteers[0];
    let household = phone.compound().households()[0].id;
    let compound = phone.compound().id();
    let mut refused_at = None;
    for i in 0..40 {
        phone.compounds.get_mut(&compound).unwrap().set_device(automerge::ActorId::random());
        phone.apply(&Operation::EditNotes { household, notes: format!("第{i}次") }).unwrap();
        let synced = phone.sync_up_to(&fx.relay, 3).await;
        if refused_for_a_share(&synced) {
            assert!(synced.rejected[0].reason.contains("more than is left"), "{:?}", synced.rejected);
            refused_at = Some(i);
            break;
        }
        assert!(synced.rejected.is_empty(), "try {i}: {:?}", synced.rejected);
    }
    // The phone's own first actor, then about 31 more: a day's share pays for 32.
    let refused_at = refused_at.expect("stopped within 40 new actors");
    assert!((28..=31).contains(&refused_at), "stopped after {refused_at} more new actors");

    // Everyone else syncs: the coordinator edits the household, the other volunteer hears it.
    assert!(fx.coordinator.sync(&fx.relay).await.rejected.is_empty());
    let edit = Operation::EditNotes { household, notes: "协调员核实".into() };
    fx.coordinator.apply(&edit).unwrap();
    assert!(fx.coordinator.sync(&fx.relay).await.rejected.is_empty());
    let other = &mut fx.volunteers[1];
    assert!(other.sync(&fx.relay).await.rejected.is_empty());
    let notes = other.compound().households().into_iter().find(|h| h.id == household).unwrap().notes;
    assert_eq!(notes, "协调员核实");
}
