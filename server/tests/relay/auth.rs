//! Joining with an invite, and the 401s.

use doorstep_core::Role;
use doorstep_core::sync::{SyncRequest, WIRE_VERSION};
use reqwest::StatusCode;
use serde_json::Value;

use crate::harness::{JsonBody, JsonResponse, TestRelay};

async fn sync_status(relay: &TestRelay, token: Option<&str>) -> (StatusCode, Value) {
    let body = SyncRequest { version: WIRE_VERSION, documents_digest: None, messages: vec![] }.encode();
    let res = relay.sync_raw(token, Some("application/cbor"), body).await;
    (res.status(), res.json_value().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joining_with_an_invite_gives_a_working_token_once() {
    let relay = TestRelay::start().await;
    let compound = relay.create_compound("北林小区").await;
    let code = relay.invite(&relay.admin_token, compound, Role::Volunteer).await;

    // Typed loosely: lower case, spaces for dashes.
    let (status, joined) = relay.join(&code.to_lowercase().replace('-', " "), "李强").await;
    assert_eq!(status, StatusCode::OK, "{joined}");
    assert_eq!(joined["compound"], compound.to_string());
    assert_eq!(joined["role"], "volunteer");
    let token = joined["token"].as_str().unwrap();
    let (status, me) = relay.json("GET", "/v1/me", token, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["person"], joined["person"]);
    assert_eq!(me["memberships"][0]["role"], "volunteer");

    let (status, again) = relay.join(&code, "赵敏").await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");
    assert!(again["reason"].as_str().unwrap().contains("used already"), "{again}");
    let (status, unknown) = relay.join("AAAA-BBBB-CCCC", "赵敏").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(unknown["error"], "not_found");
    let (status, empty) =
        relay.join(&relay.invite(&relay.admin_token, compound, Role::Medic).await, " ").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{empty}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_bad_and_revoked_tokens_are_401_with_a_reason() {
    let relay = TestRelay::start().await;
    let compound = relay.create_compound("北林小区").await;
    let phone = relay.phone(compound, Role::Volunteer, "李强").await;

    let (status, body) = sync_status(&relay, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body["reason"].as_str().unwrap().contains("Authorization"), "{body}");
    let (status, body) = sync_status(&relay, Some("dst_not-a-token")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body["reason"].as_str().unwrap().contains("not known"), "{body}");
    let (status, _) = sync_status(&relay, Some(&phone.token)).await;
    assert_eq!(status, StatusCode::OK);

    let (status, body) = relay
        .json("POST", &format!("/v1/persons/{}/revoke-devices", phone.person), &relay.admin_token, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["revoked"], 1);
    let (status, body) = sync_status(&relay, Some(&phone.token)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body["reason"].as_str().unwrap().contains("revoked"), "{body}");
    // Admin routes need a token too.
    let res = relay.http.get(format!("{}/v1/me", relay.url)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn volunteers_may_not_invite_coordinators_or_create_compounds() {
    let relay = TestRelay::start().await;
    let compound = relay.create_compound("北林小区").await;
    let volunteer = relay.phone(compound, Role::Volunteer, "李强").await;
    let coordinator = relay.phone(compound, Role::Coordinator, "王芳").await;
    let (status, body) = relay
        .json(
            "POST",
            &format!("/v1/compounds/{compound}/invites"),
            &volunteer.token,
            Some(serde_json::json!({"role": "volunteer"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = relay
        .json(
            "POST",
            &format!("/v1/compounds/{compound}/invites"),
            &coordinator.token,
            Some(serde_json::json!({"role": "coordinator"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body["reason"].as_str().unwrap().contains("ask an admin"), "{body}");
    let code = relay.invite(&coordinator.token, compound, Role::Volunteer).await;
    assert_eq!(code.len(), 14);
    let (status, _) =
        relay.json("POST", "/v1/compounds", &coordinator.token, Some(serde_json::json!({"name": "x"}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn me_names_the_compounds_coordinators_and_no_volunteers() {
    let relay = TestRelay::start().await;
    let compound = relay.create_compound("北林小区").await;
    let coordinator = relay.phone(compound, Role::Coordinator, "王芳").await;
    let volunteer = relay.phone(compound, Role::Volunteer, "李强").await;
    let other = relay.phone(compound, Role::Volunteer, "赵敏").await;

    let (status, me) = relay.json("GET", "/v1/me", &volunteer.token, None).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["name"], "李强");
    let coordinators = me["coordinators"].as_array().unwrap();
    assert!(
        coordinators.iter().any(|c| c["person"] == coordinator.person.to_string() && c["name"] == "王芳"),
        "{me}"
    );
    assert!(
        coordinators.iter().all(|c| c["person"] != volunteer.person.to_string()
            && c["person"] != other.person.to_string()
            && c["name"] != "赵敏"),
        "volunteers are not listed: {me}"
    );
}

/// A join the relay took whose answer the link lost: the phone sends it again with the same join
/// key (kept in its file) and gets the same person and device, under a new token; the lost
/// answer's token no longer works, the phone syncs, and its file forgets the key. Was: "used
/// already", a member nobody holds, and a new invite to ask for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_whose_answer_was_lost_is_answered_again_for_the_same_phone() {
    use std::sync::Mutex;

    use doorstep_replica::Replica;
    use doorstep_replica::http::{self, RelayClient};

    let relay = TestRelay::start().await;
    let compound = relay.create_compound("北林小区").await;
    let code = relay.invite(&relay.admin_token, compound, Role::Volunteer).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("李强.sqlite");
    let replica = Mutex::new(Replica::open(&file).unwrap());
    let key = replica.lock().unwrap().join_key().unwrap();
    // The first attempt: taken by the relay, its answer never reaches the phone.
    let transport = RelayClient::new(&relay.url, None).unwrap();
    let lost = transport.join(&code, "李强的手机", Some("李强"), Some(&key)).await.unwrap();
    drop(replica);

    // The volunteer tries again (the app reopened): the same key, from the file.
    let replica = Mutex::new(Replica::open(&file).unwrap());
    let joined = http::join_as(&replica, &transport, &code, "李强的手机", Some("李强")).await.unwrap();
    assert_eq!((joined.person, joined.compound), (lost.person, compound));
    assert_ne!(joined.token, lost.token);
    let (status, _) = relay.json("GET", "/v1/me", &lost.token, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the lost answer's token");
    let transport = transport.with_token(joined.token.clone());
    let report = http::sync(&replica, &transport, crate::harness::device_now).await.unwrap();
    assert!(report.failed.is_empty() && report.rejected.is_empty(), "{report:?}");
    assert_ne!(replica.lock().unwrap().join_key().unwrap(), key, "a new join would send a new key");
    let members =
        relay.json("GET", &format!("/v1/compounds/{compound}/members"), &relay.admin_token, None).await.1;
    assert_eq!(members.as_array().unwrap().len(), 2, "one member joined, beside the admin: {members}");

    // Anyone else sending that code, with another key or none, is told it was used.
    let other = RelayClient::new(&relay.url, None).unwrap();
    for key in [Some("another-phones-key"), None] {
        let refused = other.join(&code, "别人的手机", None, key).await.unwrap_err();
        assert!(refused.to_string().contains("used already"), "{refused}");
    }
}

/// A join stored on the phone whose app was killed before it looked done (no compound fetched
/// yet): the volunteer types the same code again. The phone sends it with the key the answered
/// join went with and gets the same person back, with a new token, and syncs. A relay that says
/// "used already" for it all the same (past the day it answers a join again) is told as "already
/// joined as 李强, just sync", never "ask your coordinator for a new one". Was: "used already".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_code_a_phone_joined_with_typed_again_says_already_joined_and_syncs() {
    use std::sync::Mutex;

    use doorstep_replica::Replica;
    use doorstep_replica::http::{self, RelayClient, TransportError};

    let relay = TestRelay::start().await;
    let compound = relay.create_compound("北林小区").await;
    let code = relay.invite(&relay.admin_token, compound, Role::Volunteer).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("李强.sqlite");
    let transport = RelayClient::new(&relay.url, None).unwrap();
    let replica = Mutex::new(Replica::open(&file).unwrap());
    let first = http::join_as(&replica, &transport, &code, "李强的手机", Some("李强")).await.unwrap();
    replica.lock().unwrap().remember_person_name("李强").unwrap();
    // Killed here: joined, nothing fetched.
    drop(replica);

    let replica = Mutex::new(Replica::open(&file).unwrap());
    let again = http::join_as(&replica, &transport, &code, "李强的手机", Some("李强"))
        .await
        .unwrap_or_else(|e| panic!("the code this phone joined with, typed again: {e}"));
    assert_eq!((again.person, again.compound), (first.person, compound), "the same person");
    let transport = transport.with_token(again.token.clone());
    let report = http::sync(&replica, &transport, crate::harness::device_now).await.unwrap();
    assert!(report.failed.is_empty() && !report.fetched.is_empty(), "{report:?}");

    // The relay no longer answers that key again (its day is past): "used already" is this
    // phone's own join.
    replica.lock().unwrap().remember_joined_with(&code, "a-key-the-relay-no-longer-answers").unwrap();
    let said = http::join_as(&replica, &transport, &code, "李强的手机", Some("李强")).await.unwrap_err();
    assert!(matches!(&said, TransportError::AlreadyJoined { name } if name == "李强"), "{said:?}");
    let shown = said.to_string();
    assert!(
        shown.contains("already joined with this code, as 李强") && shown.contains("just sync"),
        "{shown}"
    );
    assert!(!shown.contains("new one"), "{shown}");
    assert_eq!(replica.lock().unwrap().identity().map(|i| i.person), Some(first.person));
}

/// A join sent again with its join key after the person it made was removed from the compound:
/// 410, saying they were removed, and nothing changed (their token stays the one it was, and no
/// membership comes back). Was: 200 "joined" as a volunteer with a new token, `/v1/me` showing no
/// memberships, and the first token answering "unknown" rather than revoked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_sent_again_after_its_person_was_removed_says_so() {
    let relay = TestRelay::start().await;
    let compound = relay.create_compound("北林小区").await;
    let code = relay.invite(&relay.admin_token, compound, Role::Volunteer).await;
    let join = || async {
        let body = serde_json::json!({
            "invite_code": code, "device_name": "李强的手机", "name": "李强", "join_key": "0123456789abcdef",
        });
        let res = relay.http.post(format!("{}/v1/join", relay.url)).json_body(&body).send().await.unwrap();
        (res.status(), res.json_value().await.unwrap())
    };
    let (status, joined) = join().await;
    assert_eq!(status, StatusCode::OK, "{joined}");
    let (token, person) = (joined["token"].as_str().unwrap().to_owned(), joined["person"].clone());
    let path = format!("/v1/compounds/{compound}/members/{}/revoke", person.as_str().unwrap());
    let (status, body) = relay.json("POST", &path, &relay.admin_token, None).await;
    assert!(status.is_success(), "{status} {body}");

    let (status, again) = join().await;
    assert_eq!(status, StatusCode::GONE, "{again}");
    assert_eq!(again["error"], "gone");
    let reason = again["reason"].as_str().unwrap();
    assert!(
        reason.contains("you were removed from this compound; ask a coordinator for a new invite"),
        "{reason}"
    );
    assert!(reason.contains("你已被移出"), "{reason}");
    let (status, me) = relay.json("GET", "/v1/me", &token, None).await;
    assert_eq!(status, StatusCode::OK, "the removed person's token is the one it was: {me}");
    assert_eq!(me["memberships"], serde_json::json!([]), "{me}");
}

/// Every refusal of a join says why in Chinese and in English, as the relay's other refusals do
/// (they were English only), and a coordinator refused an admin's invite is told so in English
/// a person writes ("an admin", was "a admin").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_refusals_say_why_in_chinese_and_english() {
    let relay = TestRelay::start().await;
    let compound = relay.create_compound("北林小区").await;
    let said = |body: &Value| body["reason"].as_str().unwrap().to_owned();

    let (status, unknown) = relay.join("AAAA-BBBB-CCCC", "赵敏").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{unknown}");
    assert!(said(&unknown).contains("没有这个邀请码"), "{unknown}");

    let used = relay.invite(&relay.admin_token, compound, Role::Volunteer).await;
    assert_eq!(relay.join(&used, "李强").await.0, StatusCode::OK);
    let (status, again) = relay.join(&used, "赵敏").await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");
    assert!(said(&again).contains("used already") && said(&again).contains("已被使用"), "{again}");

    // Made by a coordinator removed since.
    let removed = relay.phone(compound, Role::Coordinator, "王芳").await;
    let theirs = relay.invite(&removed.token, compound, Role::Volunteer).await;
    let path = format!("/v1/compounds/{compound}/members/{}/revoke", removed.person);
    assert!(relay.json("POST", &path, &relay.admin_token, None).await.0.is_success());
    let (status, refused) = relay.join(&theirs, "赵敏").await;
    assert_eq!(status, StatusCode::GONE, "{refused}");
    assert!(
        said(&refused).contains("can no longer invite") && said(&refused).contains("已无权邀请"),
        "{refused}"
    );

    // Made on a phone revoked since.
    let lost = relay.phone(compound, Role::Coordinator, "刘洋").await;
    let on_it = relay.invite(&lost.token, compound, Role::Volunteer).await;
    let path = format!("/v1/persons/{}/revoke-devices", lost.person);
    assert_eq!(relay.json("POST", &path, &relay.admin_token, None).await.0, StatusCode::OK);
    let (status, refused) = relay.join(&on_it, "赵敏").await;
    assert_eq!(status, StatusCode::GONE, "{refused}");
    assert!(said(&refused).contains("reported lost") && said(&refused).contains("已挂失停用"), "{refused}");

    let coordinator = relay.phone(compound, Role::Coordinator, "陈静").await;
    for (role, article) in [("admin", "an admin"), ("coordinator", "a coordinator")] {
        let body = serde_json::json!({ "role": role });
        let path = format!("/v1/compounds/{compound}/invites");
        let (status, refused) = relay.json("POST", &path, &coordinator.token, Some(body)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
        assert!(said(&refused).contains(&format!("may not invite {article};")), "{refused}");
    }
}

/// An expired invite and a throttled address are told in both languages too, and the throttle's
/// sentence runs on with one space (it had 18 in a row, from a broken line continuation).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_code_and_a_throttled_address_say_why_in_chinese_and_english() {
    use doorstep_server::Config;
    use doorstep_server::config::JoinLimits;

    let config = Config {
        invite_lifetime: std::time::Duration::ZERO,
        join: JoinLimits { per_second: 0.001, burst: 1.0 },
        ..Config::default()
    };
    let relay = TestRelay::start_with(config).await;
    let compound = relay.create_compound("北林小区").await;
    let code = relay.invite(&relay.admin_token, compound, Role::Volunteer).await;
    let (status, expired) = relay.join(&code, "李强").await;
    assert_eq!(status, StatusCode::GONE, "{expired}");
    let reason = expired["reason"].as_str().unwrap();
    assert!(reason.contains("has expired") && reason.contains("已过期"), "{reason}");

    // From another address than the relay's own host, which is not throttled.
    let guesser =
        reqwest::Client::builder().local_address(std::net::IpAddr::from([127, 0, 0, 61])).build().unwrap();
    let mut last = Value::Null;
    for _ in 0..2 {
        let body = serde_json::json!({"invite_code": "AAAA-BBBB-CCCC", "device_name": "guesser"});
        let res = guesser.post(format!("{}/v1/join", relay.url)).json_body(&body).send().await.unwrap();
        last = res.json_value().await.unwrap();
    }
    assert_eq!(last["error"], "join_throttled", "{last}");
    let reason = last["reason"].as_str().unwrap();
    assert!(reason.contains("check the invite code (加入尝试过多"), "{reason}");
    assert!(!reason.contains("  "), "{reason}");
}
