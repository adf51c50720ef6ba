//! Documents leave memory when idle and come back from disk; chunks are compacted; documents
//! are bounded in size.

use std::time::Duration;

use doorstep_core::Operation;
use doorstep_core::schema::vocabulary::{Category, Channel, Outcome, Urgency};
use doorstep_server::{Config, Limits};

use crate::harness::{Fixture, noise};

fn cached(metrics: &str) -> usize {
    usize::try_from(metric(metrics, "doorstep_documents_cached").unwrap()).unwrap()
}

/// An unlabelled metric's value, if `/metrics` has it.
fn metric(metrics: &str, name: &str) -> Option<u64> {
    metrics.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_documents_are_evicted_compacted_and_reloaded() {
    let config = Config { idle_eviction: Duration::from_millis(300), compact_every: 2, ..Config::default() };
    let mut fx = Fixture::with_config(config).await;
    let tasks = fx.volunteers[0].compound().open_tasks();
    for task in &tasks {
        fx.volunteers[0]
            .apply(&Operation::RecordAttempt {
                round: fx.round,
                task: task.id,
                outcome: Outcome::Delivered,
                note: String::new(),
            })
            .unwrap();
        assert!(fx.volunteers[0].sync(&fx.relay).await.rejected.is_empty());
    }
    assert!(cached(&fx.relay.metrics().await) >= 3);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(cached(&fx.relay.metrics().await), 0, "idle documents left memory");

    // Everything is still there, from disk, and the change chunks were folded into snapshots.
    let db = fx.relay.dir.path().join("relay.db");
    let chunks: i64 = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("SELECT count(*) FROM changes", [], |r| r.get(0))
        .unwrap();
    assert_eq!(chunks, 0, "evicted documents were compacted");
    fx.coordinator.sync(&fx.relay).await;
    let delivered = fx.coordinator.compound().tasks().iter().filter(|t| !t.attempts.is_empty()).count();
    assert_eq!(delivered, tasks.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_eviction_sweep_gives_the_freed_memory_back() {
    let config = Config {
        idle_eviction: Duration::from_millis(300),
        return_memory_again: Duration::from_millis(600),
        ..Config::default()
    };
    let mut fx = Fixture::with_config(config).await;
    let task = fx.volunteers[0].compound().open_tasks()[0].id;
    fx.volunteers[0]
        .apply(&Operation::RecordAttempt {
            round: fx.round,
            task,
            outcome: Outcome::Delivered,
            note: String::new(),
        })
        .unwrap();
    assert!(fx.volunteers[0].sync(&fx.relay).await.rejected.is_empty());
    let before = fx.relay.metrics().await;
    assert!(metric(&before, "doorstep_process_resident_bytes").is_some_and(|b| b > 0), "{before}");
    assert!(metric(&before, "doorstep_work_queues") >= Some(1), "the sync went through queues: {before}");
    let trims_before = metric(&before, "doorstep_memory_trims_total").unwrap();

    // Wait (generously: the machine may be loaded) for the sweep that evicts the documents, and
    // for the second return of memory that follows it once the threads that did the work left.
    let mut after = before.clone();
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        after = fx.relay.metrics().await;
        if cached(&after) == 0 && metric(&after, "doorstep_memory_trims_total") >= Some(trims_before + 2) {
            break;
        }
    }
    assert_eq!(cached(&after), 0, "idle documents left memory");
    assert_eq!(
        metric(&after, "doorstep_work_queues"),
        Some(0),
        "the evicted documents' queues were forgotten"
    );
    assert!(metric(&after, "doorstep_documents_evicted_total") >= Some(3), "{after}");
    assert!(
        metric(&after, "doorstep_memory_trims_total") >= Some(trims_before + 2),
        "the sweep that evicted documents gave their memory back, and once more later: {after}"
    );

    // Then the relay leaves the allocator alone. A document evicted one sweep later than the
    // others brings its own two trims, so wait until the count has stood still for longer than
    // a sweep and the second return; a relay that kept trimming would never stand still.
    let trims = |m: &str| metric(m, "doorstep_memory_trims_total");
    let mut last = trims(&after);
    let mut still_since = std::time::Instant::now();
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = trims(&fx.relay.metrics().await);
        if now != last {
            (last, still_since) = (now, std::time::Instant::now());
        } else if still_since.elapsed() > Duration::from_millis(1500) {
            break;
        }
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let idle = fx.relay.metrics().await;
    assert_eq!(trims(&idle), last, "an idle relay does not keep trimming: {idle}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_may_not_grow_past_the_limit() {
    let mut fx = Fixture::with_config(Config {
        limits: Limits { max_document_bytes: 64 * 1024, ..Limits::default() },
        ..Config::default()
    })
    .await;
    let household = fx.volunteers[0].compound().households()[0].id;
    let volunteer = &mut fx.volunteers[0];
    for i in 0..40 {
        let text = format!("{i}: {}", noise(1200));
        volunteer
            .apply(&Operation::AddRequest {
                household,
                channel: Channel::Door,
                category: Category::Other,
                text,
                urgency: Urgency::Normal,
            })
            .unwrap();
    }
    let synced = volunteer.sync_up_to(&fx.relay, 4).await;
    let rejection = synced.rejected.first().expect("the requests document would grow too large");
    assert_eq!(rejection.rule, "document_full");
    assert!(rejection.is_transient(), "the phone keeps the requests until the document has room");
    assert!(rejection.reason.contains("65536 bytes"), "{}", rejection.reason);

    // A short request from another volunteer still fits; the refused phone, offering its forty
    // again, is refused again but hears it (before, a message refused for a full document came
    // back with no news of it).
    let other = &mut fx.volunteers[1];
    let short = Operation::AddRequest {
        household,
        channel: Channel::Phone,
        category: Category::Medicine,
        text: "降压药两盒".into(),
        urgency: Urgency::Urgent,
    };
    other.apply(&short).unwrap();
    let taken = other.sync(&fx.relay).await;
    assert!(taken.rejected.is_empty(), "{:?}", taken.rejected);
    let again = fx.volunteers[0].sync_up_to(&fx.relay, 4).await;
    assert!(again.rejected.iter().any(|r| r.rule == "document_full"), "{:?}", again.rejected);
    let heard = fx.volunteers[0].compound().requests().iter().any(|r| r.text == "降压药两盒");
    assert!(heard, "the refused phone hears the request that fitted");
}
