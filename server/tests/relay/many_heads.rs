//! A document with more heads than a sync message carries (4,096: one per concurrent writer)
//! strands no phone: the relay mends a many-headed document with one empty change of its own
//! (core's `relay_engine/heads_mend.rs`), and a phone that already holds more heads than a
//! message carries merges them before it syncs (core's `sync/heads_merge.rs`), so its unsynced
//! work still reaches the relay.

use automerge::{ActorId, Change, ReadDoc};
use doorstep_core::id::DocumentId;
use doorstep_core::schema::vocabulary::Outcome;
use doorstep_core::sync::MessageLimits;
use doorstep_core::{Actor, Operation, Role};
use doorstep_replica::Replica;
use doorstep_replica::http::{self, RelayClient};
use doorstep_server::{Config, Limits};

use crate::harness::{Fixture, Phone, TestRelay, device_now};
use crate::landing::joined_volunteer;

/// Writes `n` concurrent changes into document `doc` on the relay, each by another made-up actor
/// on the same version of it (what many members, or one hostile member under new actors, leave
/// behind): `n` more heads. Written as the relay writes, not through a sync, so no check and no
/// mend stands in the way of building the state under test.
async fn add_heads(relay: &TestRelay, compound: doorstep_core::id::CompoundId, doc: DocumentId, n: usize) {
    let relay = &relay.state.as_ref().unwrap().relay;
    relay
        .write(compound, move |compound, _, _| {
            let am = compound.document_mut(doc).unwrap().automerge_mut();
            let mut writer = am.fork();
            let mut tx = writer.transaction();
            automerge::transaction::Transactable::put(&mut tx, automerge::ROOT, "many_heads", 1).unwrap();
            tx.commit();
            let one = writer.get_last_local_change().unwrap().decode();
            let changes: Vec<Change> = (0..n)
                .map(|_| {
                    let mut change = one.clone();
                    change.actor_id = ActorId::random();
                    change.hash = None;
                    Change::from(change)
                })
                .collect();
            am.apply_changes(changes).unwrap();
        })
        .await
        .unwrap();
}

fn round_heads(phone: &Phone, round: DocumentId) -> usize {
    phone.compound().document(round).unwrap().heads().len()
}

/// A volunteer whose round came to hold more heads than a message carries (from a relay that did
/// not mend it: an older one) records a knock offline; the relay is then one that mends. The
/// phone merges its heads, syncs, and the coordinator sees the knock; the phone is in step
/// after a bounded number of requests. Before the fix, every sync of the round was refused
/// (`too_large`) for good, and its knock never went up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_holding_more_heads_than_a_message_carries_still_sends_its_knock() {
    let limits = Limits { mend_heads_over: usize::MAX, ..Limits::default() };
    let mut fx = Fixture::with_config(Config { limits, ..Config::default() }).await;
    let (round, compound) = (fx.round, fx.compound);
    let cap = MessageLimits::default().max_heads;
    add_heads(&fx.relay, compound, round, cap + 8).await;
    for volunteer in &mut fx.volunteers {
        let synced = volunteer.sync(&fx.relay).await;
        assert!(synced.rejected.is_empty(), "{:?}", synced.rejected);
        assert!(
            round_heads(volunteer, round) > cap,
            "the phone holds {} heads",
            round_heads(volunteer, round)
        );
    }

    // The knock is made on every head, so its phone's heads are one; what it shared with the
    // relay is still more than a message names. The other volunteer edits nothing: its own heads
    // are more than a message carries.
    let volunteer = &mut fx.volunteers[0];
    let task = volunteer.compound().open_tasks().into_iter().find(|t| t.round == round).unwrap().id;
    let knock =
        Operation::RecordAttempt { round, task, outcome: Outcome::NobodyHome, note: "敲门无人".into() };
    volunteer.apply(&knock).unwrap();
    // An upgraded relay, which mends documents with many heads.
    fx.relay = fx.relay.restart().await;

    let volunteer = &mut fx.volunteers[0];
    let synced = volunteer.sync(&fx.relay).await;
    assert!(synced.rejected.is_empty(), "the round was refused: {:?}", synced.rejected);
    assert!(synced.requests <= 4, "in step after {} requests", synced.requests);
    assert!(round_heads(volunteer, round) <= 2, "{} heads left", round_heads(volunteer, round));
    let again = volunteer.sync(&fx.relay).await;
    assert!(again.rejected.is_empty(), "{:?}", again.rejected);
    assert_eq!(again.requests, 1, "nothing left to say");

    // The other volunteer merges its heads (its merge change taken like any) and hears the knock.
    let other = &mut fx.volunteers[1];
    let synced = other.sync(&fx.relay).await;
    assert!(synced.rejected.is_empty(), "the round was refused: {:?}", synced.rejected);
    assert!(synced.requests <= 4, "in step after {} requests", synced.requests);
    let heard = other.compound().tasks().into_iter().find(|t| t.id == task).unwrap();
    assert!(heard.attempts.iter().any(|a| a.note == "敲门无人"), "{:?}", heard.attempts);

    let coordinator = &mut fx.coordinator;
    let synced = coordinator.sync(&fx.relay).await;
    assert!(synced.rejected.is_empty(), "{:?}", synced.rejected);
    let seen = coordinator.compound().tasks().into_iter().find(|t| t.id == task).unwrap();
    assert!(
        seen.attempts.iter().any(|a| a.outcome == Outcome::NobodyHome && a.note == "敲门无人"),
        "the coordinator sees the knock: {:?}",
        seen.attempts
    );
    assert!(fx.volunteers[0].sync(&fx.relay).await.rejected.is_empty());
    let heads = coordinator.compound().document(round).unwrap().heads();
    // One per writer since: the relay's mend, the knock, the other volunteer's merge.
    assert!(heads.len() <= 3, "{} heads", heads.len());
    for volunteer in &fx.volunteers {
        assert_eq!(
            volunteer.compound().document(round).unwrap().heads(),
            heads,
            "everyone holds the same round"
        );
    }
}

/// A batch that leaves a document with more heads than the relay mends at adds one empty change
/// of the relay's admin that depends on all of them: the phone that syncs next holds one head,
/// the change passed the phone's checks of replies (the harness fails on a reply not applied),
/// and the relay's own validator takes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_mends_a_document_with_many_heads_to_one() {
    let mut fx = Fixture::new().await;
    let (round, compound) = (fx.round, fx.compound);
    let over = doorstep_core::relay_engine::MEND_AT_HEADS;
    add_heads(&fx.relay, compound, round, over + 1).await;

    let volunteer = &mut fx.volunteers[0];
    let synced = volunteer.sync(&fx.relay).await;
    assert!(synced.rejected.is_empty(), "{:?}", synced.rejected);
    let doc = volunteer.compound().document(round).unwrap();
    assert_eq!(doc.heads().len(), 1, "the phone holds one head");
    let mend = doc.automerge().get_change_by_hash(&doc.heads()[0]).unwrap();
    assert_eq!(mend.len(), 0, "the mend holds no operation");
    assert!(mend.deps().len() > over, "it depends on every head: {}", mend.deps().len());

    // Written under the relay admin's actor, bound to them, and the validator takes it.
    let state = fx.relay.state.as_ref().unwrap();
    let admin = state.relay.admin();
    let owner = state.relay.actor_owner(&mend.actor_id().to_hex_string()).await.unwrap();
    assert_eq!(owner, Some(admin));
    let mut before = doc.automerge().fork_at(mend.deps()).unwrap();
    let author = Actor { person: admin, role: Role::Admin };
    let header = *doc.header();
    let taken = doorstep_core::validate::check_and_apply(
        &mut before,
        &header,
        &author,
        vec![mend.clone()],
        device_now(),
    )
    .expect("the relay's validator takes the mend");
    assert_eq!(taken, vec![mend.hash()]);

    // Another phone that synced before the mend gets it too; the document stays at one head.
    let other = &mut fx.volunteers[1];
    assert!(other.sync(&fx.relay).await.rejected.is_empty());
    assert_eq!(other.compound().document(round).unwrap().heads(), vec![mend.hash()]);
}

/// The same on a real replica (its SQLite file, its sync run): a volunteer's phone that holds a
/// round of more heads than a message carries, from a relay that did not mend it, records a knock
/// and syncs with a relay that mends. Its sync refuses nothing, the coordinator sees the knock,
/// nothing is left unsynced, and the phone's file holds what it merged (a reopened replica syncs
/// with one request and nothing refused).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_holding_more_heads_than_a_message_carries_still_sends_its_knock() {
    let limits = Limits { mend_heads_over: usize::MAX, ..Limits::default() };
    let mut fx = Fixture::with_config(Config { limits, ..Config::default() }).await;
    let (round, compound) = (fx.round, fx.compound);
    let (dir, replica, _, token) = joined_volunteer(&fx.relay, compound, "孙丽的手机").await;
    add_heads(&fx.relay, compound, round, MessageLimits::default().max_heads + 8).await;
    let transport = RelayClient::new(&fx.relay.url, None).unwrap().with_token(token.clone());
    let report = http::sync(&replica, &transport, device_now).await.unwrap();
    assert!(report.rejected.is_empty() && report.retrying.is_empty(), "{report:?}");
    let held = |replica: &std::sync::Mutex<Replica>| {
        let replica = replica.lock().unwrap();
        let c = replica.compounds().next().unwrap();
        c.document(round).map(|d| d.heads().len())
    };
    assert!(held(&replica).unwrap() > MessageLimits::default().max_heads);

    let task = replica.lock().unwrap().compounds().next().unwrap().open_tasks()[0].id;
    let knock =
        Operation::RecordAttempt { round, task, outcome: Outcome::NobodyHome, note: "敲过两次".into() };
    replica.lock().unwrap().apply(device_now(), compound, &knock).unwrap();
    fx.relay = fx.relay.restart().await;

    let transport = RelayClient::new(&fx.relay.url, None).unwrap().with_token(token.clone());
    let report = http::sync(&replica, &transport, device_now).await.unwrap();
    assert!(report.rejected.is_empty() && report.retrying.is_empty(), "{report:?}");
    assert!(report.requests <= 4, "in step after {} requests", report.requests);
    assert_eq!(replica.lock().unwrap().unsynced_changes(), 0, "the knock went up");

    assert!(fx.coordinator.sync(&fx.relay).await.rejected.is_empty());
    let seen = fx.coordinator.compound().tasks().into_iter().find(|t| t.id == task).unwrap();
    assert!(seen.attempts.iter().any(|a| a.note == "敲过两次"), "{:?}", seen.attempts);

    crate::harness::reopen(&replica, &dir.path().join("phone.sqlite"));
    let report = http::sync(&replica, &transport, device_now).await.unwrap();
    assert!(report.rejected.is_empty() && report.retrying.is_empty(), "{report:?}");
    assert!(held(&replica).unwrap() <= 2, "{:?} heads", held(&replica));
}
