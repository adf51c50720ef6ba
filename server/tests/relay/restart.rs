//! A restart keeps everything the relay acknowledged.

use doorstep_core::Operation;
use doorstep_core::Role;
use doorstep_core::schema::vocabulary::Outcome;

use crate::harness::Fixture;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_everything_acknowledged() {
    let mut fx = Fixture::new().await;
    let task = fx.volunteers[0].compound().open_tasks()[1].clone();
    fx.volunteers[0]
        .apply(&Operation::RecordAttempt {
            round: fx.round,
            task: task.id,
            outcome: Outcome::Delivered,
            note: "交给邻居".into(),
        })
        .unwrap();
    let synced = fx.volunteers[0].sync(&fx.relay).await;
    assert!(synced.rejected.is_empty());

    let relay = fx.relay.restart().await;
    // A phone that has never synced gets everything, the attempt included.
    let mut fresh = relay.phone(fx.compound, Role::Coordinator, "新协调员").await;
    let synced = fresh.sync(&relay).await;
    assert!(synced.rejected.is_empty(), "{:?}", synced.rejected);
    let seen = fresh.compound().tasks().into_iter().find(|t| t.id == task.id).unwrap();
    assert_eq!(seen.attempts.len(), 1);
    assert_eq!(seen.attempts[0].note, "交给邻居");
    assert_eq!(fresh.compound().households().len(), 6);
    // Old tokens still work and old phones are already in sync.
    let again = fx.volunteers[0].sync(&relay).await;
    assert!(again.rejected.is_empty());
    assert_eq!(again.requests, 1, "nothing to exchange after the restart");
}
