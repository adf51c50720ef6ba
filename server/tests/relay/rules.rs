//! What arrives is checked: roles, actor bindings, membership.

use automerge::transaction::Transactable;
use doorstep_core::Operation;
use doorstep_core::schema::vocabulary::{Category, Channel, DocKind, Urgency};
use doorstep_core::sync::{DocMessage, PeerState, SyncRequest, WIRE_VERSION};
use reqwest::StatusCode;

use crate::harness::{Fixture, Phone};

fn add_request(phone: &mut Phone, text: &str) {
    let household = phone.compound().households()[0].id;
    phone
        .apply(&Operation::AddRequest {
            household,
            channel: Channel::Phone,
            category: Category::Groceries,
            text: text.into(),
            urgency: Urgency::Normal,
        })
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_volunteer_asking_for_the_care_ledger_is_refused() {
    let fx = Fixture::new().await;
    let care = fx.coordinator.doc_of(DocKind::Care).clone();
    let volunteer = &fx.volunteers[0];
    let empty = doorstep_core::document::Document::placeholder(*care.header(), volunteer.device.clone());
    let mut state = PeerState::new();
    let message = doorstep_core::sync::generate(empty.automerge(), &mut state).unwrap();
    let request = SyncRequest {
        version: WIRE_VERSION,
        documents_digest: None,
        messages: vec![DocMessage { doc: care.id(), message }],
    };
    let response = fx.relay.sync(&volunteer.token, &request).await;
    assert_eq!(response.rejected.len(), 1);
    assert_eq!(response.rejected[0].doc, care.id());
    assert_eq!(response.rejected[0].rule, "care_ledger_is_for_coordinators_and_medics");
    assert!(response.messages.is_empty(), "nothing of the care ledger is sent");
    let documents = response.documents.expect("a request without a digest gets the list");
    assert!(documents.iter().all(|g| g.header.kind != DocKind::Care));
    assert_eq!(documents.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_volunteer_deleting_a_household_is_rejected_and_the_rest_syncs() {
    let mut fx = Fixture::new().await;
    let volunteer = &mut fx.volunteers[0];
    let victim = volunteer.compound().households()[0].id;
    // A modified app: deletes a household behind the operations' back.
    let roster_id = volunteer.doc_of(DocKind::Roster).id();
    let compound_id = volunteer.compound().id();
    let roster = volunteer.compounds.get_mut(&compound_id).unwrap().document_mut(roster_id).unwrap();
    let map = {
        use automerge::ReadDoc;
        roster.automerge().get(automerge::ROOT, "households").unwrap().unwrap().1
    };
    let mut tx = roster.automerge_mut().transaction();
    tx.delete(&map, victim.to_string()).unwrap();
    tx.commit();
    add_request(volunteer, "两瓶牛奶");

    let synced = volunteer.sync_up_to(&fx.relay, 4).await;
    let rejection =
        synced.rejected.iter().find(|r| r.doc == roster_id).expect("the roster change is rejected");
    assert_eq!(rejection.rule, "roster_is_edited_by_coordinators", "{rejection:?}");
    assert!(rejection.change.is_some(), "the offending change is named");
    assert!(synced.rejected.iter().all(|r| r.doc == roster_id), "{:?}", synced.rejected);

    fx.coordinator.sync(&fx.relay).await;
    let coordinator = fx.coordinator.compound();
    assert_eq!(coordinator.households().len(), 6, "nothing of the rejected change was stored");
    assert!(coordinator.requests().iter().any(|r| r.text == "两瓶牛奶"), "the requests document synced");
    let metrics = fx.relay.metrics().await;
    assert!(
        metrics.contains("doorstep_sync_rejections_total{rule=\"roster_is_edited_by_coordinators\"}"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_under_another_persons_actor_is_rejected() {
    let mut fx = Fixture::new().await;
    add_request(&mut fx.volunteers[0], "first, under my own actor");
    assert!(fx.volunteers[0].sync(&fx.relay).await.rejected.is_empty());

    // The second volunteer's phone writes under the first one's actor.
    let impostor = &mut fx.volunteers[1];
    let mut forged = Phone::new(&impostor.token, impostor.person);
    forged.device = fx.volunteers[0].device.clone();
    forged.sync(&fx.relay).await;
    add_request(&mut forged, "forged");
    let synced = forged.sync_up_to(&fx.relay, 4).await;
    let rejection = synced.rejected.first().expect("rejected");
    // Not taken from them: held (only the actor's own person may send its changes).
    assert_eq!(rejection.rule, "held_for_its_author");
    assert!(rejection.change.is_some());

    fx.coordinator.sync(&fx.relay).await;
    let texts: Vec<String> = fx.coordinator.compound().requests().into_iter().map(|r| r.text).collect();
    assert!(texts.contains(&"first, under my own actor".to_owned()));
    assert!(!texts.contains(&"forged".to_owned()), "{texts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_volunteer_is_left_with_no_documents() {
    let mut fx = Fixture::new().await;
    let volunteer = &fx.volunteers[0];
    let (status, body) = fx
        .relay
        .json(
            "POST",
            &format!("/v1/compounds/{}/members/{}/revoke", fx.compound, volunteer.person),
            &fx.relay.admin_token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let volunteer = &mut fx.volunteers[0];
    add_request(volunteer, "after revocation");
    let synced = volunteer.sync(&fx.relay).await;
    assert!(synced.granted.is_empty(), "no document of the compound is listed");
    assert!(volunteer.compounds.is_empty(), "the phone dropped them");
    assert!(synced.rejected.iter().all(|r| r.rule == "forbidden"), "{:?}", synced.rejected);
    assert!(!synced.rejected.is_empty());

    fx.coordinator.sync(&fx.relay).await;
    assert!(fx.coordinator.compound().requests().iter().all(|r| r.text != "after revocation"));
}

/// A change whose checksum was altered by a modified phone is refused as malformed, and the
/// round is whole after a restart. (Automerge's change reader took it and the relay acknowledged
/// and stored it; reloading the round after a restart stopped at its checksum, `partial load
/// successful_chunks=0 err=BadChecksum`: the acknowledged change was gone, and with it every
/// change stored after it in the same batch's chunk, other phones' work included. Found by the
/// `relay_batch` fuzzer.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_with_an_altered_checksum_is_refused_and_the_round_still_loads() {
    use doorstep_core::schema::vocabulary::Outcome;
    let mut fx = Fixture::new().await;
    let round = fx.round;
    let volunteer = &mut fx.volunteers[0];
    let task = volunteer.compound().open_tasks()[0].id;
    volunteer
        .apply(&Operation::RecordAttempt {
            round, task, outcome: Outcome::Delivered, note: "放门口".into()
        })
        .unwrap();
    let mut request = volunteer.session().request(&volunteer.compounds).expect("a request");
    let carried = request.messages.iter_mut().find(|m| m.doc == round).expect("the round's message");
    let mut message = automerge::sync::Message::decode(&carried.message).unwrap();
    let mut chunks: Vec<Vec<u8>> = message.changes.iter().map(<[u8]>::to_vec).collect();
    assert!(!chunks.is_empty(), "the first request carries the attempt");
    for chunk in &mut chunks {
        chunk[4] ^= 0x01; // the first byte of the (first) change's checksum
    }
    message.changes = chunks.into();
    carried.message = message.encode();
    let response = fx.relay.sync(&volunteer.token, &request).await;
    let rejection = response.rejected.iter().find(|r| r.doc == round).expect("the round is refused");
    assert_eq!(rejection.rule, "malformed");
    assert!(rejection.reason.contains("checksum"), "{}", rejection.reason);

    // The round loads again from what the relay stored, and the honest copy goes in.
    fx.relay = fx.relay.restart().await;
    let coordinator = fx.coordinator.sync(&fx.relay).await;
    assert!(coordinator.rejected.is_empty(), "{:?}", coordinator.rejected);
    let synced = fx.volunteers[0].sync(&fx.relay).await;
    assert!(synced.rejected.is_empty(), "{:?}", synced.rejected);
    fx.coordinator.sync(&fx.relay).await;
    let attempts: usize = fx.coordinator.compound().tasks().iter().map(|t| t.attempts.len()).sum();
    assert_eq!(attempts, 1, "the honest delivery reached the coordinator");
}

/// A member of another compound naming one of this compound's documents is refused without
/// being told whose it is, as the copy route refuses it: the sync's refusal names no compound
/// (it said "belongs to compound …"), and the phone's rule code stays `forbidden`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_of_another_compound_is_refused_without_naming_its_compound() {
    use doorstep_core::Role;

    use crate::harness::JsonResponse;

    let fx = Fixture::new().await;
    let elsewhere = fx.relay.create_compound("南苑小区").await;
    let stranger = fx.relay.phone(elsewhere, Role::Coordinator, "外人").await;
    let roster = fx.coordinator.doc_of(DocKind::Roster).clone();
    let empty = doorstep_core::document::Document::placeholder(*roster.header(), stranger.device.clone());
    let message = doorstep_core::sync::generate(empty.automerge(), &mut PeerState::new()).unwrap();
    let request = SyncRequest {
        version: WIRE_VERSION,
        documents_digest: None,
        messages: vec![DocMessage { doc: roster.id(), message }],
    };
    let response = fx.relay.sync(&stranger.token, &request).await;
    assert_eq!(response.rejected.len(), 1, "{:?}", response.rejected);
    let refused = &response.rejected[0];
    assert_eq!((refused.doc, refused.rule.as_str()), (roster.id(), "forbidden"));
    assert!(!refused.reason.contains(&fx.compound.to_string()), "{}", refused.reason);
    assert!(!refused.reason.contains("belongs to"), "{}", refused.reason);
    assert!(
        refused.reason.contains("no document") && refused.reason.contains("in your compounds"),
        "{}",
        refused.reason
    );
    assert!(response.messages.is_empty(), "nothing of the roster is sent");

    let copy = fx
        .relay
        .http
        .get(format!("{}/v1/documents/{}/copy", fx.relay.url, roster.id()))
        .bearer_auth(&stranger.token)
        .send()
        .await
        .unwrap();
    assert_eq!(copy.status(), StatusCode::NOT_FOUND);
    let copy = copy.json_value().await.unwrap();
    assert!(!copy["reason"].as_str().unwrap().contains(&fx.compound.to_string()), "{copy}");
}

/// One new actor offered at once by two people, in two documents (a request in the roster, a
/// knock in the round): each document's check finds the actor unbound, and whichever commit
/// binds it second is refused. The loser is told the actor belongs to another person (or, had
/// the binding landed before its check, that the change is held for its author), never
/// "unavailable", which a phone sends again for ever; the winner's work is taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_new_actor_offered_by_two_people_at_once_is_refused_to_one_of_them_in_words() {
    let limits =
        doorstep_server::Limits { rate_per_second: 1000.0, rate_burst: 1000.0, ..Default::default() };
    let fx = Fixture::with_config(doorstep_server::Config { limits, ..Default::default() }).await;
    let mut at_commit = 0;
    for round_of_tries in 0..12 {
        // Two people new to the compound each time (a person may fetch its documents whole only
        // a few times in ten minutes), with one device actor between them.
        let device = automerge::ActorId::random();
        let mut phones = Vec::new();
        for name in ["甲", "乙"] {
            let mut phone = fx
                .relay
                .phone(fx.compound, doorstep_core::Role::Volunteer, &format!("{name}{round_of_tries}"))
                .await;
            phone.device = device.clone();
            assert!(phone.sync(&fx.relay).await.rejected.is_empty());
            phones.push(phone);
        }
        let [asking, knocking] = &mut phones[..] else { unreachable!() };
        let text = format!("shared actor, try {round_of_tries}");
        add_request(asking, &text);
        let task = knocking.compound().open_tasks()[0].id;
        knocking
            .apply(&Operation::RecordAttempt {
                round: fx.round,
                task,
                outcome: doorstep_core::schema::vocabulary::Outcome::Delivered,
                note: text.clone(),
            })
            .unwrap();
        let (asked, knocked) =
            tokio::join!(asking.sync_up_to(&fx.relay, 3), knocking.sync_up_to(&fx.relay, 3));
        let rules: Vec<&str> =
            asked.rejected.iter().chain(&knocked.rejected).map(|r| r.rule.as_str()).collect();
        let words = ["actors_belong_to_their_person", "held_for_its_author"];
        let told = |synced: &crate::harness::Synced| {
            synced.rejected.iter().any(|r| words.contains(&r.rule.as_str()))
        };
        assert!(
            told(&asked) != told(&knocked),
            "try {round_of_tries}: exactly one of the two is refused: {rules:?}"
        );
        let (loser, other) = if told(&asked) { (&asked, &knocked) } else { (&knocked, &asked) };
        assert!(
            loser.rejected.iter().all(|r| words.contains(&r.rule.as_str())),
            "try {round_of_tries}: the loser is told in words, never \"unavailable\": {rules:?}"
        );
        // The other phone's message may have shared a batch with the loser's change (its empty
        // message for the round, say): asked to sync again, nothing of its own refused.
        assert!(
            other
                .rejected
                .iter()
                .all(|r| r.rule == "unavailable" && r.reason.contains("nothing of yours was refused")),
            "try {round_of_tries}: {rules:?}"
        );
        at_commit += usize::from(rules.contains(&"actors_belong_to_their_person"));
    }
    // How often the two checks both found the actor unbound (the race this test is for).
    eprintln!("{at_commit} of 12 tries were refused at the commit");
}
