//! Eviction, compaction and a team's sync racing on one document: a compaction must never
//! replace a newer snapshot with an older one, or acknowledged changes would vanish from disk.
//!
//! Eviction takes an idle document out of memory and compacts it afterwards, without its lock,
//! while a phone's sync may already have loaded the document again, stored more changes and
//! compacted it itself. The first test plays that interleaving step by step; the second lets
//! the three run freely. Both then restart the relay, so that only what is on disk counts.

use std::time::Duration;

use doorstep_core::Operation;
use doorstep_core::schema::vocabulary::Outcome;
use doorstep_server::Config;

use crate::harness::{Fixture, Phone, TestRelay};

/// Records an attempt on the `n`th open task (wrapping) and syncs it; the relay must take it.
async fn deliver(phone: &mut Phone, relay: &TestRelay, round: doorstep_core::id::DocumentId, n: usize) {
    let tasks = phone.compound().open_tasks();
    let task = tasks[n % tasks.len()].id;
    phone
        .apply(&Operation::RecordAttempt { round, task, outcome: Outcome::Delivered, note: format!("{n}") })
        .unwrap();
    let synced = phone.sync(relay).await;
    assert!(synced.rejected.is_empty(), "{:?}", synced.rejected);
}

/// Every attempt recorded on the round, as a coordinator's phone sees it after a restart of the
/// relay (so from the database alone).
async fn attempts_on_disk(fx: Fixture) -> usize {
    let Fixture { relay, mut coordinator, .. } = fx;
    let relay = relay.restart().await;
    // A fresh session from nothing: the coordinator's phone forgets what it had.
    let mut fresh = Phone::new(&coordinator.token, coordinator.person);
    fresh.sync(&relay).await;
    coordinator.sync(&relay).await;
    fresh.compound().tasks().iter().map(|t| t.attempts.len()).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_eviction_never_replaces_a_newer_compaction() {
    // Compact after every second stored chunk; no background eviction during the test.
    let config = Config { compact_every: 2, idle_eviction: Duration::from_secs(3600), ..Config::default() };
    let mut fx = Fixture::with_config(config).await;
    let state = fx.relay.state.clone().unwrap();
    deliver(&mut fx.volunteers[0], &fx.relay, fx.round, 0).await;

    // Eviction takes the round out of memory; its compaction has not run yet.
    let evicted = state.relay.cache().evict_idle(Duration::ZERO);
    assert!(evicted.iter().any(|d| d.record.header.id == fx.round), "the round had chunks to compact");

    // Meanwhile the team carries on: the round is loaded again, stored to, and compacted under
    // its lock, which deletes the chunks the new snapshot holds.
    for n in 1..4 {
        deliver(&mut fx.volunteers[n % 2], &fx.relay, fx.round, n).await;
    }
    // Now the eviction's compaction runs, with the copy it took before those syncs.
    state.relay.compact_evicted(evicted).await;
    drop(state);

    assert_eq!(attempts_on_disk(fx).await, 4, "every acknowledged attempt is still stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eviction_compaction_and_a_team_sync_race_without_loss() {
    let config = Config { compact_every: 2, idle_eviction: Duration::from_secs(3600), ..Config::default() };
    let mut fx = Fixture::with_config(config).await;
    let state = fx.relay.state.clone().unwrap();
    let rounds = 6;
    let (first, second) = fx.volunteers.split_at_mut(1);
    let (relay, round) = (&fx.relay, fx.round);
    let team = async {
        for n in 0..rounds {
            tokio::join!(
                deliver(&mut first[0], relay, round, n),
                deliver(&mut second[0], relay, round, n + 1)
            );
        }
    };
    let evictor = async {
        let mut sweeps = 0;
        loop {
            let evicted = state.relay.cache().evict_idle(Duration::ZERO);
            // Give the team time to load the document again before the old copy is compacted.
            tokio::time::sleep(Duration::from_millis(40)).await;
            state.relay.compact_evicted(evicted).await;
            sweeps += 1;
            tokio::time::sleep(Duration::from_millis(2)).await;
            if sweeps > 10_000 {
                break;
            }
        }
    };
    tokio::select! {
        () = team => {}
        () = evictor => panic!("the team never finished"),
    }
    drop(state);
    assert_eq!(attempts_on_disk(fx).await, 2 * rounds, "every acknowledged attempt is still stored");
}
