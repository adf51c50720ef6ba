//! Phones syncing through the relay: from nothing, an attempt made offline, retries.

use doorstep_core::Operation;
use doorstep_core::schema::vocabulary::{Category, Channel, DocKind, Outcome, Urgency};
use doorstep_core::sync::DocumentSet;

use crate::harness::Fixture;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_syncs_its_compound_from_nothing() {
    let fx = Fixture::new().await;
    let volunteer = &fx.volunteers[0];
    let held = volunteer.compound();
    let mut kinds: Vec<DocKind> = held.documents().map(|d| d.kind()).collect();
    kinds.sort_by_key(|k| k.as_str());
    assert_eq!(kinds, [DocKind::Requests, DocKind::Roster, DocKind::Round], "no care ledger for a volunteer");
    assert!(held.documents().all(|d| !d.is_placeholder()), "every document arrived");
    assert_eq!(held.households().len(), 6);
    assert_eq!(held.name(), "香樟苑");
    let tasks = held.open_tasks();
    assert_eq!(tasks.len(), 3, "the coordinator's round for building 1 reached the volunteer");
    assert!(tasks.iter().all(|t| t.round == fx.round));

    let coordinator = fx.coordinator.compound();
    assert!(coordinator.single(DocKind::Care).is_some(), "the coordinator holds the care ledger");
    assert_eq!(coordinator.households().len(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attempt_recorded_offline_reaches_the_coordinator() {
    let mut fx = Fixture::new().await;
    let volunteer = &mut fx.volunteers[0];
    let task = volunteer.compound().open_tasks()[0].clone();
    volunteer
        .apply(&Operation::RecordAttempt {
            round: fx.round,
            task: task.id,
            outcome: Outcome::NobodyHome,
            note: "敲门无人应答".into(),
        })
        .unwrap();
    let household = task.household;
    volunteer
        .apply(&Operation::AddRequest {
            household,
            channel: Channel::Door,
            category: Category::Medicine,
            text: "需要降压药".into(),
            urgency: Urgency::Urgent,
        })
        .unwrap();
    let synced = volunteer.sync(&fx.relay).await;
    assert!(synced.rejected.is_empty(), "{:?}", synced.rejected);
    assert_eq!(synced.requests, 1, "a backlog syncs in one request");
    println!("volunteer backlog sync: {} requests, slowest {:?}", synced.requests, synced.slowest);

    let synced = fx.coordinator.sync(&fx.relay).await;
    assert!(synced.rejected.is_empty(), "{:?}", synced.rejected);
    let seen = fx.coordinator.compound().tasks().into_iter().find(|t| t.id == task.id).unwrap();
    assert_eq!(seen.attempts.len(), 1);
    assert_eq!(seen.attempts[0].outcome, Outcome::NobodyHome);
    assert_eq!(seen.attempts[0].by, fx.volunteers[0].person);
    let requests = fx.coordinator.compound().requests();
    assert!(requests.iter().any(|r| r.text == "需要降压药" && r.household == household));

    // The other volunteer gets it too, and a second sync has nothing more to say.
    let other = &mut fx.volunteers[1];
    other.sync(&fx.relay).await;
    assert_eq!(other.compound().tasks().into_iter().find(|t| t.id == task.id).unwrap().attempts.len(), 1);
    let again = other.sync(&fx.relay).await;
    assert_eq!(again.requests, 1, "an idle phone's sync is one request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retrying_a_request_is_harmless() {
    let mut fx = Fixture::new().await;
    let volunteer = &mut fx.volunteers[0];
    let task = volunteer.compound().open_tasks()[0].clone();
    volunteer
        .apply(&Operation::RecordAttempt {
            round: fx.round,
            task: task.id,
            outcome: Outcome::Delivered,
            note: String::new(),
        })
        .unwrap();
    let round = volunteer.compound().document(fx.round).unwrap().clone();
    // A message that carries the change: the relay's heads are known from a first exchange.
    let mut state = doorstep_core::sync::PeerState::new();
    let first = doorstep_core::sync::generate(round.automerge(), &mut state).unwrap();
    let hello = doorstep_core::sync::SyncRequest {
        version: doorstep_core::sync::WIRE_VERSION,
        documents_digest: None,
        messages: vec![doorstep_core::sync::DocMessage { doc: fx.round, message: first }],
    };
    let reply = fx.relay.sync(&volunteer.token, &hello).await;
    let mut doc = round.automerge().clone();
    let message = doorstep_core::sync::decode(
        &reply.messages[0].message,
        &doorstep_core::sync::MessageLimits::for_replies(),
    )
    .unwrap();
    doorstep_core::sync::receive(&mut doc, &mut state, message).unwrap();
    let with_change = doorstep_core::sync::generate(&doc, &mut state).unwrap();
    let request = doorstep_core::sync::SyncRequest {
        version: doorstep_core::sync::WIRE_VERSION,
        documents_digest: None,
        messages: vec![doorstep_core::sync::DocMessage { doc: fx.round, message: with_change }],
    };
    let a = fx.relay.sync(&volunteer.token, &request).await;
    let b = fx.relay.sync(&volunteer.token, &request).await;
    assert!(a.rejected.is_empty() && b.rejected.is_empty(), "{:?} {:?}", a.rejected, b.rejected);
    assert_eq!(a.documents, b.documents);
    assert!(a.documents.is_some(), "a request without a digest gets the list");

    fx.coordinator.sync(&fx.relay).await;
    let seen = fx.coordinator.compound().tasks().into_iter().find(|t| t.id == task.id).unwrap();
    assert_eq!(seen.attempts.len(), 1, "the retried change was applied once");
    assert!(fx.coordinator.compound().get(fx.round).is_some());
}
