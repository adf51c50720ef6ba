//! The review inbox over real HTTP (`POST /v1/set-aside`): a phone's set-aside operations are
//! stored once however often they are sent, only for the sender's own compound and person, the
//! outcome comes back only to the device that sent them, and a body over the limits is refused
//! with 413 and a reason.

use doorstep_core::schema::vocabulary::DocKind;
use doorstep_core::sync::{MAX_SET_ASIDE_ITEMS, MAX_SET_ASIDE_OPERATION_BYTES, SetAsideDecision};
use doorstep_core::{Role, Timestamp};
use doorstep_server::set_aside::{FORMER_MEMBER_DAYS, WAITING_PER_DEVICE};
use doorstep_server::storage::SetAsideDecided;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Fixture, Phone};

/// A set-aside item of `phone`'s roster: a status change on its first household.
fn item(phone: &Phone, hash: char) -> Value {
    let household = phone.compound().households()[0].id;
    json!({
        "id": hash.to_string().repeat(64),
        "doc": phone.doc_of(DocKind::Roster).id(),
        "person": phone.person,
        "operation": json!({"op": "set_control_status", "household": household, "status": "confirmed"}).to_string(),
        "summary": "set_control_status · 1号楼1单元101",
        "made_at": 1_795_000_000_000_i64,
        "set_aside_at": 1_795_000_001_000_i64,
        "rule": "roster_is_edited_by_coordinators",
        "reason": "only coordinators edit the roster",
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_are_stored_once_and_the_outcome_goes_back_to_the_device_that_sent_them() {
    let fx = Fixture::new().await;
    let li = &fx.volunteers[0];
    let body = json!({"items": [item(li, 'a'), item(li, 'b')], "awaiting": []});
    let (status, answer) = fx.relay.json("POST", "/v1/set-aside", &li.token, Some(body.clone())).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["received"].as_array().unwrap().len(), 2, "{answer}");
    assert!(answer["refused"].as_array().unwrap().is_empty(), "{answer}");
    // A retried request: received again, stored once.
    let (status, again) = fx.relay.json("POST", "/v1/set-aside", &li.token, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["received"].as_array().unwrap().len(), 2);
    let storage = fx.relay.state.as_ref().unwrap().relay.storage();
    let stored = storage.set_aside_of(fx.compound, 100).await.unwrap();
    assert_eq!(stored.len(), 2, "stored once: {stored:?}");
    assert!(stored.iter().all(
        |r| r.received.person == li.person && r.received.item.rule == "roster_is_edited_by_coordinators"
    ));

    // Nothing decided yet: asking brings nothing.
    let awaiting = json!({"awaiting": ["a".repeat(64), "b".repeat(64)]});
    let (_, answer) = fx.relay.json("POST", "/v1/set-aside", &li.token, Some(awaiting.clone())).await;
    assert!(answer["outcomes"].as_array().unwrap().is_empty(), "{answer}");

    let first = stored.iter().find(|r| r.received.item.id.starts_with('a')).unwrap().id;
    let reason = "已核实，该户正常 / checked: the household is fine";
    let decided = SetAsideDecided {
        decision: SetAsideDecision::Dismissed { reason: reason.into() },
        by: fx.coordinator.person,
        at: Timestamp::from_millis(1_795_000_002_000),
    };
    assert!(storage.decide_set_aside(first, decided).await.unwrap());
    let (_, answer) = fx.relay.json("POST", "/v1/set-aside", &li.token, Some(awaiting.clone())).await;
    let outcomes = answer["outcomes"].as_array().unwrap();
    assert_eq!(outcomes.len(), 1, "{answer}");
    assert_eq!(outcomes[0]["id"], "a".repeat(64));
    assert_eq!(outcomes[0]["decision"], "dismissed");
    assert_eq!(outcomes[0]["reason"], reason);
    assert_eq!(outcomes[0]["by_name"], "王芳");
    assert_eq!(outcomes[0]["at"], 1_795_000_002_000_i64);

    // Another volunteer asking after the same hashes learns nothing of Li's items.
    let (_, other) = fx.relay.json("POST", "/v1/set-aside", &fx.volunteers[1].token, Some(awaiting)).await;
    assert!(other["outcomes"].as_array().unwrap().is_empty(), "{other}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_compound_another_person_or_an_unreadable_item_is_refused_and_nothing_is_stored() {
    let fx = Fixture::new().await;
    let li = &fx.volunteers[0];
    // A second compound Li is not a member of.
    let elsewhere = fx.relay.create_compound("人和花园").await;
    let mut stranger = fx.relay.phone(elsewhere, Role::Coordinator, "张伟").await;
    stranger.sync(&fx.relay).await;
    let mut foreign = item(li, 'c');
    foreign["doc"] = json!(stranger.doc_of(DocKind::Roster).id());
    let mut impersonated = item(li, 'd');
    impersonated["person"] = json!(fx.coordinator.person);
    let mut junk = item(li, 'e');
    junk["operation"] = json!("{\"op\":\"burn_the_roster\"}");
    let mut not_a_hash = item(li, 'f');
    not_a_hash["id"] = json!("not-a-hash");
    // A household removed, held under a round's knock with a reason inviting "apply" (a
    // helper's forged item): the operation is not the document's.
    let mut elsewhere_op = item(li, 'a');
    elsewhere_op["doc"] = json!(fx.round);
    elsewhere_op["operation"] =
        json!(json!({"op": "remove_household", "household": li.compound().households()[1].id}).to_string());
    let body = json!({"items": [foreign, impersonated, junk, not_a_hash, elsewhere_op]});
    let (status, answer) = fx.relay.json("POST", "/v1/set-aside", &li.token, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(answer["received"].as_array().unwrap().is_empty(), "{answer}");
    let reasons: Vec<String> = answer["refused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reason"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(reasons.len(), 5, "{answer}");
    assert!(reasons[4].contains("writes the roster document, not the round document"), "{}", reasons[4]);
    assert!(reasons[0].contains("not in a compound you are a member of"), "{}", reasons[0]);
    assert!(reasons[1].contains("names another person"), "{}", reasons[1]);
    assert!(reasons[2].contains("not an operation this relay knows"), "{}", reasons[2]);
    assert!(reasons[3].contains("not a change hash"), "{}", reasons[3]);
    let storage = fx.relay.state.as_ref().unwrap().relay.storage();
    assert!(storage.set_aside_of(fx.compound, 100).await.unwrap().is_empty());
    assert!(
        storage.set_aside_of(elsewhere, 100).await.unwrap().is_empty(),
        "nothing reached the other compound"
    );

    // Without a token: 401.
    let res = fx
        .relay
        .http
        .post(format!("{}/v1/set-aside", fx.relay.url))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_item_or_too_many_items_is_413_with_a_reason() {
    let fx = Fixture::new().await;
    let li = &fx.volunteers[0];
    let mut big = item(li, 'a');
    big["operation"] = json!(format!(
        "{{\"op\":\"edit_notes\",\"household\":\"{}\",\"notes\":\"{}\"}}",
        li.compound().households()[0].id,
        "很".repeat(MAX_SET_ASIDE_OPERATION_BYTES / 3 + 1)
    ));
    let (status, answer) =
        fx.relay.json("POST", "/v1/set-aside", &li.token, Some(json!({"items": [big]}))).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    let reason = answer["reason"].as_str().unwrap();
    assert!(reason.contains(&format!("over the {MAX_SET_ASIDE_OPERATION_BYTES}-byte limit")), "{reason}");
    assert!(reason.contains("export it from the phone"), "{reason}");

    let many: Vec<Value> = (0..=MAX_SET_ASIDE_ITEMS).map(|_| item(li, 'b')).collect();
    let (status, answer) =
        fx.relay.json("POST", "/v1/set-aside", &li.token, Some(json!({"items": many}))).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    assert!(
        answer["reason"].as_str().unwrap().contains(&format!("at most {MAX_SET_ASIDE_ITEMS}")),
        "{answer}"
    );
    let storage = fx.relay.state.as_ref().unwrap().relay.storage();
    assert!(
        storage.set_aside_of(fx.compound, 100).await.unwrap().is_empty(),
        "nothing of a refused body is stored"
    );
}

/// A phone's summary, rule and reason holding control characters (a NUL, an escape): the item
/// is received and stored with them marked, on both backends (PostgreSQL stores no NUL: the whole
/// exchange was 503 "storage failed; try again shortly", every retry the same, the phone's work
/// stranded); a coordinator's dismissal reason holding one is refused with 400 and says why.
async fn control_characters_in_an_item(fx: Fixture) {
    let li = &fx.volunteers[0];
    let mut marked = item(li, '9');
    marked["summary"] = json!("set_control_status · 1号楼\u{0}1单元101\u{1b}[2J");
    marked["rule"] = json!("roster_is_edited_by_coordinators\u{0}");
    marked["reason"] = json!("only coordinators\nedit the roster\u{7}");
    let (status, answer) =
        fx.relay.json("POST", "/v1/set-aside", &li.token, Some(json!({"items": [marked]}))).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["received"].as_array().unwrap().len(), 1, "{answer}");
    let storage = fx.relay.state.as_ref().unwrap().relay.storage();
    let stored = storage.set_aside_of(fx.compound, 100).await.unwrap();
    assert_eq!(stored.len(), 1);
    let kept = &stored[0].received.item;
    assert_eq!(kept.summary, "set_control_status · 1号楼\u{fffd}1单元101\u{fffd}[2J");
    assert_eq!(kept.rule, "roster_is_edited_by_coordinators\u{fffd}");
    assert_eq!(kept.reason, "only coordinators\nedit the roster\u{fffd}", "line breaks are kept");

    // A coordinator's dismissal reason: typed by a person, so refused, not marked.
    let cookie = fx.relay.dashboard_cookie(&fx.coordinator.token).await;
    let dismiss = |reason: &str| {
        fx.relay
            .http
            .post(format!(
                "{}/dashboard/api/compounds/{}/set-aside/{}/dismiss",
                fx.relay.url, fx.compound, stored[0].id
            ))
            .header("cookie", &cookie)
            .header("content-type", "application/json")
            .body(json!({"reason": reason}).to_string())
            .send()
    };
    let refused = dismiss("已核实\u{0}").await.unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let body = refused.text().await.unwrap();
    assert!(body.contains("control character"), "{body}");
    let taken = dismiss("已核实，该户正常\n(checked)").await.unwrap();
    assert_eq!(taken.status(), StatusCode::OK, "{}", taken.text().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_in_an_item_are_marked_not_stranded() {
    control_characters_in_an_item(Fixture::new().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_in_an_item_are_marked_not_stranded_on_postgresql() {
    use doorstep_server::storage::postgres::scratch::ScratchDatabase;
    let Some(db) = ScratchDatabase::from_env().await else { return };
    let relay = crate::harness::TestRelay::start_on(db.url(), doorstep_server::Config::default()).await;
    control_characters_in_an_item(Fixture::around(relay).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_device_cannot_bury_the_inbox_and_a_waiting_item_is_never_hidden_by_decided_ones() {
    let config = doorstep_server::Config {
        limits: doorstep_server::Limits {
            rate_per_second: 10_000.0,
            rate_burst: 10_000.0,
            ..Default::default()
        },
        ..Default::default()
    };
    let fx = Fixture::with_config(config).await;
    let (li, zhao) = (&fx.volunteers[0], &fx.volunteers[1]);
    let storage = fx.relay.state.as_ref().unwrap().relay.storage();

    // Zhao's one honest item, sent first.
    let (_, answer) =
        fx.relay.json("POST", "/v1/set-aside", &zhao.token, Some(json!({"items": [item(zhao, 'a')]}))).await;
    assert_eq!(answer["received"].as_array().unwrap().len(), 1, "{answer}");

    // Li's device floods: the relay takes WAITING_PER_DEVICE and leaves the rest unanswered (the
    // phone keeps them as not sent and offers them again), refusing none for good.
    let hash = |n: usize| format!("{n:064x}");
    let mut received = 0;
    let mut refused = 0;
    for chunk in (0..WAITING_PER_DEVICE + 40).collect::<Vec<_>>().chunks(MAX_SET_ASIDE_ITEMS) {
        let items: Vec<Value> = chunk
            .iter()
            .map(|n| {
                let mut one = item(li, 'b');
                one["id"] = json!(hash(*n));
                one
            })
            .collect();
        let (status, answer) =
            fx.relay.json("POST", "/v1/set-aside", &li.token, Some(json!({"items": items}))).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        received += answer["received"].as_array().unwrap().len();
        refused += answer["refused"].as_array().unwrap().len();
    }
    assert_eq!((received, refused), (WAITING_PER_DEVICE, 0));
    let device = storage.set_aside_of(fx.compound, 1).await.unwrap()[0].received.device;
    assert_eq!(storage.set_aside_waiting(device).await.unwrap(), WAITING_PER_DEVICE);

    // Decided items never hide a waiting one: with the list cut at 500, Zhao's item (the oldest)
    // is still there once a coordinator has decided most of Li's.
    let li_items: Vec<i64> = storage
        .set_aside_of(fx.compound, 5_000)
        .await
        .unwrap()
        .iter()
        .filter(|r| r.received.person == li.person)
        .map(|r| r.id)
        .collect();
    for id in li_items.iter().take(600) {
        let dismissed = SetAsideDecided {
            decision: SetAsideDecision::Dismissed { reason: "重复".into() },
            by: fx.coordinator.person,
            at: Timestamp::from_millis(1_795_000_002_000),
        };
        assert!(storage.decide_set_aside(*id, dismissed).await.unwrap());
    }
    let listed = storage.set_aside_of(fx.compound, 500).await.unwrap();
    assert!(listed.iter().any(|r| r.received.person == zhao.person), "the waiting item is listed");
    let first_decided = listed.iter().position(|r| r.decided.is_some()).unwrap_or(listed.len());
    assert!(listed[first_decided..].iter().all(|r| r.decided.is_some()), "waiting ones first");

    // With room again, Li's device sends the rest.
    let items: Vec<Value> = (WAITING_PER_DEVICE..WAITING_PER_DEVICE + 20)
        .map(|n| {
            let mut one = item(li, 'b');
            one["id"] = json!(hash(n));
            one
        })
        .collect();
    let (_, answer) = fx.relay.json("POST", "/v1/set-aside", &li.token, Some(json!({"items": items}))).await;
    assert_eq!(answer["received"].as_array().unwrap().len(), 20, "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_made_before_a_volunteer_was_removed_still_reaches_the_coordinators() {
    let fx = Fixture::new().await;
    let li = &fx.volunteers[0];
    let (status, answer) = fx
        .relay
        .json(
            "POST",
            &format!("/v1/compounds/{}/members/{}/revoke", fx.compound, li.person),
            &fx.relay.admin_token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{answer}");
    // Before: refused for good, "not in a compound you are a member of", and the phone kept it
    // as not accepted, out of every coordinator's sight.
    let (status, answer) =
        fx.relay.json("POST", "/v1/set-aside", &li.token, Some(json!({"items": [item(li, 'a')]}))).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["received"].as_array().unwrap().len(), 1, "{answer}");
    let storage = fx.relay.state.as_ref().unwrap().relay.storage();
    let stored = storage.set_aside_of(fx.compound, 10).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].received.person, li.person);
}

/// A person removed from a compound more than [`FORMER_MEMBER_DAYS`] ago can no longer post to
/// its inbox with the token they keep for their other compounds (or on a lost phone): the item
/// is refused with a reason, and nothing is stored. Within the window it still goes in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_removed_long_ago_no_longer_posts_to_the_compounds_inbox() {
    let fx = Fixture::new().await;
    let (li, zhao) = (&fx.volunteers[0], &fx.volunteers[1]);
    let storage = fx.relay.state.as_ref().unwrap().relay.storage();
    let now = doorstep_server::clock::now().as_millis();
    let day = 24 * 60 * 60 * 1000;
    let long_ago = Timestamp::from_millis(now - (FORMER_MEMBER_DAYS + 1) * day);
    assert!(storage.revoke_membership(li.person, fx.compound, long_ago).await.unwrap());
    let lately = Timestamp::from_millis(now - (FORMER_MEMBER_DAYS - 1) * day);
    assert!(storage.revoke_membership(zhao.person, fx.compound, lately).await.unwrap());

    let (status, answer) =
        fx.relay.json("POST", "/v1/set-aside", &li.token, Some(json!({"items": [item(li, 'a')]}))).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["received"].as_array().unwrap().len(), 0, "{answer}");
    let reason = answer["refused"][0]["reason"].as_str().unwrap();
    assert!(reason.contains(&format!("more than {FORMER_MEMBER_DAYS} days ago")), "{answer}");
    let (_, answer) =
        fx.relay.json("POST", "/v1/set-aside", &zhao.token, Some(json!({"items": [item(zhao, 'b')]}))).await;
    assert_eq!(answer["received"].as_array().unwrap().len(), 1, "within the window: {answer}");
    let stored = storage.set_aside_of(fx.compound, 10).await.unwrap();
    assert_eq!(stored.len(), 1, "only the one within the window");
    assert_eq!(stored[0].received.person, zhao.person);
}

/// A phone whose sync's answer was cut off after the relay took its notes, then removed from
/// the compound, sets those notes aside as never synced. Sent to the inbox, an item whose change
/// the relay's document already holds is answered `held` and stored nowhere: a coordinator
/// applying it would write the work a second time (helper finding: a knock applied from the
/// inbox showed two attempts, a double delivery). An item the relay does not hold is still taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_item_whose_change_the_relay_already_holds_is_answered_held_and_not_stored() {
    let mut fx = Fixture::new().await;
    let li = &mut fx.volunteers[0];
    li.sync(&fx.relay).await;
    let household = li.compound().households()[0].id;
    li.apply(&doorstep_core::Operation::EditNotes { household, notes: "轮椅，送到门口".into() }).unwrap();
    li.sync(&fx.relay).await;
    let roster = li.doc_of(DocKind::Roster);
    let taken = roster.heads()[0].to_string();
    let mut held = item(li, 'a');
    held["id"] = json!(taken);
    let body = json!({"items": [held, item(li, 'b')], "awaiting": []});
    let (status, answer) = fx.relay.json("POST", "/v1/set-aside", &li.token, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["held"], json!([taken]), "{answer}");
    assert_eq!(answer["received"], json!(["b".repeat(64)]), "{answer}");
    let storage = fx.relay.state.as_ref().unwrap().relay.storage();
    let stored = storage.set_aside_of(fx.compound, 100).await.unwrap();
    assert_eq!(stored.len(), 1, "only the item the relay lacks waits for a coordinator: {stored:?}");
}
