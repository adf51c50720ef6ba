//! A phone holding more documents than one request may name (the relay refuses more than 256
//! per request as a whole) spreads them over several requests, so a coordinator with many open
//! rounds keeps syncing, and a volunteer fetching them all does too.

use doorstep_core::Operation;
use doorstep_core::schema::vocabulary::{Priority, TaskKind};
use doorstep_core::sync::REQUEST_DOCUMENTS;

use crate::harness::Fixture;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_open_rounds_sync_over_several_requests() {
    let mut fx = Fixture::new().await;
    let mut created = Vec::new();
    for i in 0..300 {
        let applied = fx
            .coordinator
            .apply(&Operation::CreateRound {
                title: format!("药品 第{i}轮"),
                kind: TaskKind::Medicine,
                date: "2026-11-24".into(),
                selection: doorstep_core::Selection::Building { estate: String::new(), building: "1".into() },
                items: "降压药".into(),
                priority: Priority::Normal,
            })
            .unwrap();
        created.push(applied.created[0]);
    }
    let up = fx.coordinator.sync(&fx.relay).await;
    assert!(up.rejected.is_empty(), "{:?}", up.rejected);
    let granted: Vec<_> = up.granted.iter().map(|h| h.id).collect();
    for round in &created {
        assert!(granted.contains(round), "round {round} reached the relay");
    }
    // 304 documents (roster, care, requests, 301 rounds) at most 128 per request.
    let documents = fx.coordinator.compound().documents().count();
    assert_eq!(documents, 304);
    assert!(up.requests as usize >= documents.div_ceil(REQUEST_DOCUMENTS), "{} requests", up.requests);

    // A volunteer fetches every open round, also over several requests.
    let volunteer = &mut fx.volunteers[0];
    let down = volunteer.sync(&fx.relay).await;
    assert!(down.rejected.is_empty(), "{:?}", down.rejected);
    let fetched: Vec<_> =
        volunteer.compound().documents().filter(|d| !d.is_placeholder()).map(|d| d.id()).collect();
    assert_eq!(fetched.len(), down.granted.len(), "every granted document fetched");
    for round in &created {
        assert!(fetched.contains(round), "the volunteer holds round {round}");
    }
}
