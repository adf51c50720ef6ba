//! Documents leave memory when idle and come back from disk; chunks are compacted; documents
//! are bounded in size.

use std::time::Duration;

use doorstep_core::Operation;
use doorstep_core::schema::vocabulary::{Category, Channel, Outcome, Urgency};
use doorstep_server::{Config, Limits};

use crate::harness::Fixture;

fn cached(metrics: &str) -> usize {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("doorstep_documents_cached "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap()
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
async fn a_document_may_not_grow_past_the_limit() {
    let mut fx = Fixture::with_config(Config {
        limits: Limits { max_document_bytes: 64 * 1024, ..Limits::default() },
        ..Config::default()
    })
    .await;
    let household = fx.volunteers[0].compound().households()[0].id;
    let volunteer = &mut fx.volunteers[0];
    for i in 0..40 {
        // Random characters, which no compression shrinks.
        let noise: String =
            (0..1200).map(|_| char::from_u32(0x4E00 + rand::random::<u32>() % 20_000).unwrap()).collect();
        let text = format!("{i}: {noise}");
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
}
