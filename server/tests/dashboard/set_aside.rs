//! The review inbox on the dashboard: a coordinator sees a volunteer's set-aside items with who,
//! which door, what and why; applies one as their own operation (judged by core's rules like any
//! dashboard edit: one the rules refuse stays pending) and dismisses another with a reason; the
//! sending phone gets both outcomes. Volunteers and coordinators of other compounds cannot see or
//! act on the inbox.

use doorstep_core::Role;
use doorstep_core::schema::vocabulary::DocKind;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::Dash;

fn item(doc: impl serde::Serialize, hash: char, operation: Option<Value>) -> Value {
    json!({
        "id": hash.to_string().repeat(64),
        "doc": doc,
        "operation": operation.map(|o| o.to_string()),
        "summary": "set aside on the phone",
        "made_at": 1_795_000_000_000_i64,
        "set_aside_at": 1_795_000_001_000_i64,
        "rule": "roster_is_edited_by_coordinators",
        "reason": "only coordinators edit the roster",
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_applies_one_item_dismisses_another_and_the_phone_learns_both() {
    let dash = Dash::start().await;
    let (compound, coordinator) = dash.small_compound().await;
    let mut volunteer = dash.relay.phone(compound, Role::Volunteer, "李强").await;
    volunteer.sync(&dash.relay).await;
    let roster = volunteer.doc_of(DocKind::Roster).id();
    let households = volunteer.compound().households();
    let (first, second) = (households[0].id, households[1].id);
    let confirm = json!({"op": "set_control_status", "household": first, "status": "confirmed"});
    let quarantine = json!({"op": "set_control_status", "household": second, "status": "home_quarantine"});
    let unknown = json!({"op": "set_control_status", "household": "00000000-0000-7000-8000-000000000001", "status": "confirmed"});
    let items = json!({"items": [
        item(roster, 'a', Some(confirm)),
        item(roster, 'b', Some(quarantine)),
        item(roster, 'c', Some(unknown)),
        item(roster, 'd', None),
    ]});
    let (status, answer) = dash.relay.json("POST", "/v1/set-aside", &volunteer.token, Some(items)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["received"].as_array().unwrap().len(), 4, "{answer}");

    // Volunteers cannot see the inbox: the dashboard does not let them in at all.
    assert_eq!(dash.login_raw(&volunteer.token).await.status, StatusCode::FORBIDDEN);

    let session = dash.login(&coordinator.token).await;
    let path = format!("/dashboard/api/compounds/{compound}/set-aside");
    let listed = session.get_json(&path).await;
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 4, "{listed:?}");
    // Newest first.
    let (a, b, c, d) = (listed[3].clone(), listed[2].clone(), listed[1].clone(), listed[0].clone());
    assert!(d["operation"].is_null() && d["op"].is_null(), "{d}");
    assert_eq!(a["person_name"], "李强");
    assert_eq!(a["state"], "pending");
    assert_eq!(a["op"], "set_control_status");
    assert_eq!(a["address"], households[0].address.to_string(), "the door, from the roster");
    assert_eq!(a["rule"], "roster_is_edited_by_coordinators");
    assert_eq!(a["made_at"], 1_795_000_000_000_i64);

    // Apply: the coordinator's own operation, through the same rules as any dashboard edit.
    let applied = session.post_json(&format!("{path}/{}/apply", a["id"]), &json!({})).await;
    assert_eq!(applied.status, StatusCode::OK, "{}", applied.text());
    let household =
        session.get_json(&format!("/dashboard/api/compounds/{compound}/households/{first}")).await;
    assert_eq!(household["household"]["status"], "confirmed", "{household}");
    let history =
        session.get_json(&format!("/dashboard/api/compounds/{compound}/households/{first}/history")).await;
    let last = history.as_array().unwrap().last().unwrap();
    assert_eq!(last["name"], "王芳", "the change is the coordinator's own: {last}");
    assert_eq!(
        session.post_json(&format!("{path}/{}/apply", a["id"]), &json!({})).await.status,
        StatusCode::CONFLICT
    );

    // An operation the rules refuse is refused with core's reason, and the item stays pending.
    let refused = session.post_json(&format!("{path}/{}/apply", c["id"]), &json!({})).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.text());
    // Nothing to apply without the operation.
    let bare = session.post_json(&format!("{path}/{}/apply", d["id"]), &json!({})).await;
    assert_eq!(bare.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bare.text());
    assert!(bare.text().contains("nothing to apply"), "{}", bare.text());

    // Dismiss: a reason is required.
    let no_reason = session.post_json(&format!("{path}/{}/dismiss", b["id"]), &json!({"reason": "  "})).await;
    assert_eq!(no_reason.status, StatusCode::BAD_REQUEST, "{}", no_reason.text());
    let reason = "该户未隔离 / not in quarantine";
    let dismissed =
        session.post_json(&format!("{path}/{}/dismiss", b["id"]), &json!({ "reason": reason })).await;
    assert_eq!(dismissed.status, StatusCode::OK, "{}", dismissed.text());
    assert_eq!(dismissed.json()["state"], "dismissed");
    assert_eq!(dismissed.json()["decided_by_name"], "王芳");

    let states: Vec<(i64, String)> = session
        .get_json(&path)
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["id"].as_i64().unwrap(), i["state"].as_str().unwrap().to_owned()))
        .collect();
    let state_of =
        |item: &Value| states.iter().find(|(id, _)| Some(*id) == item["id"].as_i64()).unwrap().1.clone();
    assert_eq!(
        (state_of(&a), state_of(&b), state_of(&c), state_of(&d)),
        ("applied".into(), "dismissed".into(), "pending".into(), "pending".into())
    );

    // The phone that sent them learns both outcomes.
    let awaiting = json!({"awaiting": ["a".repeat(64), "b".repeat(64), "c".repeat(64)]});
    let (_, answer) = dash.relay.json("POST", "/v1/set-aside", &volunteer.token, Some(awaiting)).await;
    let mut outcomes: Vec<(String, String)> = answer["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["decision"].as_str().unwrap().to_owned(), o["by_name"].as_str().unwrap().to_owned()))
        .collect();
    outcomes.sort();
    assert_eq!(
        outcomes,
        [("applied".to_owned(), "王芳".to_owned()), ("dismissed".to_owned(), "王芳".to_owned())],
        "{answer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_of_another_compound_cannot_see_or_act_on_the_inbox() {
    let dash = Dash::start().await;
    let (compound, _coordinator) = dash.small_compound().await;
    let mut volunteer = dash.relay.phone(compound, Role::Volunteer, "李强").await;
    volunteer.sync(&dash.relay).await;
    let roster = volunteer.doc_of(DocKind::Roster).id();
    let items = json!({"items": [item(roster, 'a', None)]});
    let (status, _) = dash.relay.json("POST", "/v1/set-aside", &volunteer.token, Some(items)).await;
    assert_eq!(status, StatusCode::OK);

    let elsewhere = dash.relay.create_compound("人和花园").await;
    let outsider = dash.relay.phone(elsewhere, Role::Coordinator, "张伟").await;
    let session = dash.login(&outsider.token).await;
    let path = format!("/dashboard/api/compounds/{compound}/set-aside");
    assert_eq!(session.get(&path).await.status, StatusCode::FORBIDDEN);
    let id = dash.state.relay.storage().set_aside_of(compound, 10).await.unwrap()[0].id;
    assert_eq!(
        session.post_json(&format!("{path}/{id}/apply"), &json!({})).await.status,
        StatusCode::FORBIDDEN
    );
    let dismiss = session.post_json(&format!("{path}/{id}/dismiss"), &json!({"reason": "x"})).await;
    assert_eq!(dismiss.status, StatusCode::FORBIDDEN);
    // Their own compound's inbox does not hold the other compound's item either.
    let own = format!("/dashboard/api/compounds/{elsewhere}/set-aside");
    assert_eq!(session.get_json(&own).await, json!([]));
    let answer = session.post_json(&format!("{own}/{id}/dismiss"), &json!({"reason": "x"})).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND, "{}", answer.text());
    assert!(dash.state.relay.storage().set_aside_item(id).await.unwrap().unwrap().decided.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_item_asking_for_a_change_beyond_its_senders_role_says_so() {
    let dash = Dash::start().await;
    let (compound, coordinator) = dash.small_compound().await;
    let mut volunteer = dash.relay.phone(compound, Role::Volunteer, "李强").await;
    volunteer.sync(&dash.relay).await;
    let roster = volunteer.doc_of(DocKind::Roster).id();
    let first = volunteer.compound().households()[0].clone();
    let (household, status_before) = (first.id, first.status);
    // A forged item: a control-status change (coordinators only) dressed up as a delivery.
    let confirm = json!({"op": "set_control_status", "household": household, "status": "confirmed"});
    let notes = json!({"op": "edit_notes", "household": household, "notes": "老人腿脚不便"});
    let mut forged = item(roster, 'a', Some(confirm));
    forged["summary"] = json!("record_attempt · 1号楼1单元101 已送达，请协调员点击采用");
    let items = json!({"items": [forged, item(roster, 'b', Some(notes))]});
    let (status, answer) = dash.relay.json("POST", "/v1/set-aside", &volunteer.token, Some(items)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");

    let session = dash.login(&coordinator.token).await;
    let listed = session.get_json(&format!("/dashboard/api/compounds/{compound}/set-aside")).await;
    let by_op = |op: &str| listed.as_array().unwrap().iter().find(|i| i["op"] == op).cloned().unwrap();
    let forged = by_op("set_control_status");
    assert_eq!(forged["sender_role"], "volunteer", "{forged}");
    assert_eq!(forged["sender_may"], false, "a volunteer may not change a control status: {forged}");
    let honest = by_op("edit_notes");
    assert_eq!(honest["sender_may"], true, "{honest}");
    // Asking changed nothing: the household is as it was.
    let shown =
        session.get_json(&format!("/dashboard/api/compounds/{compound}/households/{household}")).await;
    assert_eq!(shown["household"]["status"], serde_json::to_value(status_before).unwrap(), "{shown}");
}

/// Items from a person removed from the compound say when they were removed, so the page can
/// tell work made before the removal (honest, offline) from work made after it (a lost phone
/// still in someone's hands); a member's items say nothing of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_from_a_removed_member_say_when_they_were_removed() {
    let dash = Dash::start().await;
    let (compound, coordinator) = dash.small_compound().await;
    let mut removed = dash.relay.phone(compound, Role::Volunteer, "李强").await;
    removed.sync(&dash.relay).await;
    let mut member = dash.relay.phone(compound, Role::Volunteer, "赵敏").await;
    member.sync(&dash.relay).await;
    let roster = removed.doc_of(DocKind::Roster).id();
    let household = removed.compound().households()[0].id;
    let session = dash.login(&coordinator.token).await;
    let revoke = format!("/dashboard/api/compounds/{compound}/members/{}/revoke", removed.person);
    let before = crate::harness::now().as_millis();
    assert_eq!(session.post_json(&revoke, &json!({})).await.status, StatusCode::OK);
    let after = crate::harness::now().as_millis();

    let notes = |text: &str| Some(json!({"op": "edit_notes", "household": household, "notes": text}));
    let made = |item: &mut Value, at: i64| item["made_at"] = json!(at);
    let mut early = item(roster, 'a', notes("敲门前写的"));
    made(&mut early, before - 3_600_000);
    let mut late = item(roster, 'b', notes("移出后写的"));
    made(&mut late, after + 60_000);
    let (status, answer) =
        dash.relay.json("POST", "/v1/set-aside", &removed.token, Some(json!({"items": [early, late]}))).await;
    assert_eq!(status, StatusCode::OK, "a former member's work still reaches review: {answer}");
    let (status, answer) = dash
        .relay
        .json("POST", "/v1/set-aside", &member.token, Some(json!({"items": [item(roster, 'c', notes("x"))]})))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");

    let listed = session.get_json(&format!("/dashboard/api/compounds/{compound}/set-aside")).await;
    let by_name = |name: &str| -> Vec<Value> {
        listed.as_array().unwrap().iter().filter(|i| i["person_name"] == name).cloned().collect()
    };
    let from_removed = by_name("李强");
    assert_eq!(from_removed.len(), 2, "{listed}");
    for item in &from_removed {
        let at = item["sender_removed_at"].as_i64().unwrap_or_else(|| panic!("removal named: {item}"));
        assert!((before..=after).contains(&at), "{at} within the removal: {item}");
    }
    let from_member = by_name("赵敏");
    assert_eq!(from_member.len(), 1, "{listed}");
    assert!(from_member[0]["sender_removed_at"].is_null(), "{}", from_member[0]);
}

/// A knock set aside because its round was closed meanwhile: applying it is refused while the
/// round is closed, and the refusal says how to bring it back; after reopening, it applies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applying_a_knock_on_a_closed_round_says_to_reopen_it_first() {
    let dash = Dash::start().await;
    let (compound, coordinator) = dash.small_compound().await;
    let mut volunteer = dash.relay.phone(compound, Role::Volunteer, "李强").await;
    let session = dash.login(&coordinator.token).await;
    let round = crate::operations::round_for_building_1(&session, compound).await;
    volunteer.sync(&dash.relay).await;
    let task = volunteer.compound().open_tasks()[0].id;
    let closed = session.operate(compound, &json!({"op": "close_round", "round": round})).await;
    assert_eq!(closed.status, StatusCode::OK, "{}", closed.text());
    let knock =
        json!({"op": "record_attempt", "round": round, "task": task, "outcome": "delivered", "note": ""});
    let mut late = item(round, 'f', Some(knock));
    late["rule"] = json!("closed_rounds_are_final");
    let now_ms = i64::try_from(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis(),
    )
    .unwrap();
    let knocked_at = now_ms - 3_600_000;
    late["made_at"] = json!(knocked_at);
    let (status, answer) =
        dash.relay.json("POST", "/v1/set-aside", &volunteer.token, Some(json!({"items": [late]}))).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let path = format!("/dashboard/api/compounds/{compound}/set-aside");
    let id = session.get_json(&path).await[0]["id"].clone();

    let refused = session.post_json(&format!("{path}/{id}/apply"), &json!({})).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.text());
    assert!(
        refused.text().contains("reopen the round, apply it, then close the round again"),
        "{}",
        refused.text()
    );
    let reopened = session.operate(compound, &json!({"op": "reopen_round", "round": round})).await;
    assert_eq!(reopened.status, StatusCode::OK, "{}", reopened.text());
    let applied = session.post_json(&format!("{path}/{id}/apply"), &json!({})).await;
    assert_eq!(applied.status, StatusCode::OK, "{}", applied.text());

    // The knock is credited to the volunteer who made it, at the time they made it, beside the
    // coordinator who recorded it (it was the coordinator's, at the time of applying).
    let detail = session.get_json(&format!("/dashboard/api/compounds/{compound}/rounds/{round}")).await;
    let task = detail["tasks"].as_array().unwrap().iter().find(|t| t["task"]["id"] == json!(task)).unwrap();
    let attempt = &task["task"]["attempts"][0];
    assert_eq!(attempt["knocked_by"], json!(volunteer.person), "{attempt}");
    assert_eq!(attempt["knocked_at"], json!(knocked_at), "{attempt}");
    assert_eq!(attempt["by"], json!(coordinator.person), "recorded by the coordinator: {attempt}");
    assert_eq!(task["status"], "delivered", "{task}");
    let sheet = session.get(&format!("/dashboard/api/compounds/{compound}/export/rounds/{round}.csv")).await;
    assert_eq!(sheet.status, StatusCode::OK, "{}", sheet.text());
    assert!(sheet.text().contains("李强（王芳代录） 已送达"), "{}", sheet.text());
}

/// A knock the relay refused as late says its rule in both languages, and the relay's sentence
/// gives its times as the compound's local time (UTC+8 by default), not Unix milliseconds; the
/// knock's outcome is in the operation the card reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_knocks_refusal_is_in_both_languages_with_local_times() {
    let dash = Dash::start().await;
    let (compound, coordinator) = dash.small_compound().await;
    let volunteer = dash.relay.phone(compound, Role::Volunteer, "李强").await;
    let session = dash.login(&coordinator.token).await;
    let round = crate::operations::round_for_building_1(&session, compound).await;
    let knock = json!({"op": "record_attempt", "round": round, "task": "01a2525e-c81e-72d5-91f5-85ab6030676a",
        "outcome": "nobody_home", "note": "敲了三次"});
    let mut late = item(round, 'e', Some(knock));
    late["rule"] = json!("closed_rounds_are_final");
    // 2026-12-06 04:56:22 and 04:26:22 in UTC+8.
    late["reason"] = json!(
        "the round is closed and task 01a2525e's new attempt was made at 1796504182000 (Unix ms), after the \
         close at 1796502382000 (Unix ms) by more than two clocks can disagree (10 minutes)"
    );
    let not_reapplied = {
        let mut i = item(round, 'd', None);
        i["rule"] = json!("not_reapplied");
        i
    };
    let (status, answer) = dash
        .relay
        .json("POST", "/v1/set-aside", &volunteer.token, Some(json!({"items": [late, not_reapplied]})))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let items = session.get_json(&format!("/dashboard/api/compounds/{compound}/set-aside")).await;
    let knock = items.as_array().unwrap().iter().find(|i| i["rule"] == "closed_rounds_are_final").unwrap();
    assert_eq!(
        knock["rule_words"],
        json!(["已结束的配送轮次不再接受修改", "a closed round takes no more changes"])
    );
    let reason = knock["reason"].as_str().unwrap();
    assert!(!reason.contains("Unix ms"), "{reason}");
    assert!(
        reason.contains("made at 2026-12-06 04:56 (UTC+8), after the close at 2026-12-06 04:26 (UTC+8)"),
        "{reason}"
    );
    assert_eq!(knock["operation"]["outcome"], "nobody_home", "{knock}");
    let other = items.as_array().unwrap().iter().find(|i| i["rule"] == "not_reapplied").unwrap();
    assert_eq!(other["rule_words"][0], "这项修改无法在中继最新的数据上重新执行", "{other}");
}

/// A volunteer's note on a household a coordinator removed meanwhile: applying it says, in both
/// languages, that there is nothing to apply it to and to dismiss it (it said "no household
/// <ID> in the roster", in English alone).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applying_a_note_on_a_household_removed_since_says_to_dismiss_it() {
    let dash = Dash::start().await;
    let (compound, coordinator) = dash.small_compound().await;
    let mut volunteer = dash.relay.phone(compound, Role::Volunteer, "李强").await;
    let session = dash.login(&coordinator.token).await;
    volunteer.sync(&dash.relay).await;
    let household = volunteer.compound().households()[0].id;
    let removed = session.operate(compound, &json!({"op": "remove_household", "household": household})).await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.text());
    let note = json!({"op": "edit_notes", "household": household, "notes": "轮椅，送到门口"});
    let mut gone = item(volunteer.doc_of(DocKind::Roster).id(), 'e', Some(note));
    gone["rule"] = json!("edits_need_their_entity");
    let (status, answer) =
        dash.relay.json("POST", "/v1/set-aside", &volunteer.token, Some(json!({"items": [gone]}))).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let path = format!("/dashboard/api/compounds/{compound}/set-aside");
    let id = session.get_json(&path).await[0]["id"].clone();
    let refused = session.post_json(&format!("{path}/{id}/apply"), &json!({})).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.text());
    let body = refused.json();
    assert_eq!(body["error"], "unknown_household", "{body}");
    let reason = body["reason"].as_str().unwrap();
    assert!(reason.contains("dismiss this item") && reason.contains("请驳回"), "{reason}");
}

/// A modified phone's item cannot show the coordinator one door while Apply changes another:
/// the card names the door the operation applied would touch (its task's), not a `"household"`
/// field the operation does not have. And applying is the coordinator's own edit: it gives a
/// task to live members of the compound only, as the round page does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_items_door_is_the_one_its_operation_touches_and_it_assigns_to_live_members_only() {
    let dash = Dash::start().await;
    let (compound, coordinator) = dash.small_compound().await;
    let mut volunteer = dash.relay.phone(compound, Role::Volunteer, "李强").await;
    let gone = dash.relay.phone(compound, Role::Volunteer, "赵敏").await;
    let session = dash.login(&coordinator.token).await;
    let round = crate::operations::round_for_building_1(&session, compound).await;
    volunteer.sync(&dash.relay).await;
    let tasks = volunteer.compound().open_tasks();
    let (task, decoy) = (&tasks[0], &tasks[1]);
    assert_ne!(task.household, decoy.household);
    let address = |household| {
        volunteer.compound().households().into_iter().find(|h| h.id == household).unwrap().address.to_string()
    };
    let knock = json!({"op": "record_attempt", "round": round, "task": task.id, "outcome": "delivered",
        "note": "", "household": decoy.household});
    let assign = json!({"op": "assign_task", "round": round, "task": task.id, "volunteer": gone.person});
    let items = json!({"items": [item(round, 'a', Some(knock)), item(round, 'b', Some(assign))]});
    let (status, answer) = dash.relay.json("POST", "/v1/set-aside", &volunteer.token, Some(items)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let removed = session
        .post_json(&format!("/dashboard/api/compounds/{compound}/members/{}/revoke", gone.person), &json!({}))
        .await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.text());

    let path = format!("/dashboard/api/compounds/{compound}/set-aside");
    let listed = session.get_json(&path).await;
    let card = |op: &str| listed.as_array().unwrap().iter().find(|i| i["op"] == op).unwrap().clone();
    assert_eq!(card("record_attempt")["address"], address(task.household), "{listed}");
    assert_eq!(card("assign_task")["address"], address(task.household), "{listed}");

    let refused = session.post_json(&format!("{path}/{}/apply", card("assign_task")["id"]), &json!({})).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.text());
    assert_eq!(refused.json()["error"], "not_a_member", "{}", refused.text());
    assert!(
        refused.text().contains("dismiss this item, and assign the task on the round's page"),
        "{}",
        refused.text()
    );
    let round_now = session.get_json(&format!("/dashboard/api/compounds/{compound}/rounds/{round}")).await;
    assert!(
        !round_now.to_string().contains(&gone.person.to_string()),
        "nobody removed holds the task: {round_now}"
    );
    assert_eq!(
        session.get_json(&path).await.as_array().unwrap().iter().filter(|i| i["state"] == "pending").count(),
        2
    );
}

/// A volunteer removed by mistake and invited back is a new person; the phone still asks after
/// what it sent as the old one, and now hears the coordinator's decision instead of "under
/// review" for ever. Someone of another compound asking after the same hash hears nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_volunteer_invited_back_hears_the_decisions_on_what_they_sent_before() {
    let dash = Dash::start().await;
    let (compound, coordinator) = dash.small_compound().await;
    let mut before = dash.relay.phone(compound, Role::Volunteer, "李强").await;
    before.sync(&dash.relay).await;
    let roster = before.doc_of(DocKind::Roster).id();
    let household = before.compound().households()[0].id;
    let status = json!({"op": "set_control_status", "household": household, "status": "home_quarantine"});
    let (code, answer) = dash
        .relay
        .json(
            "POST",
            "/v1/set-aside",
            &before.token,
            Some(json!({"items": [item(roster, 'd', Some(status))]})),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{answer}");
    let session = dash.login(&coordinator.token).await;
    let path = format!("/dashboard/api/compounds/{compound}/set-aside");
    let id = session.get_json(&path).await[0]["id"].clone();
    assert_eq!(session.post_json(&format!("{path}/{id}/apply"), &json!({})).await.status, StatusCode::OK);
    let revoke = format!("/dashboard/api/compounds/{compound}/members/{}/revoke", before.person);
    assert_eq!(session.post_json(&revoke, &json!({})).await.status, StatusCode::OK);

    let again = dash.relay.phone(compound, Role::Volunteer, "李强").await;
    assert_ne!(again.person, before.person, "a new invite makes a new person");
    let awaiting = json!({"awaiting": ["d".repeat(64)]});
    let (_, answer) = dash.relay.json("POST", "/v1/set-aside", &again.token, Some(awaiting.clone())).await;
    let outcomes = answer["outcomes"].as_array().unwrap();
    assert_eq!(outcomes.len(), 1, "{answer}");
    assert_eq!(outcomes[0]["decision"], "applied");
    assert_eq!(outcomes[0]["by_name"], "王芳");

    let elsewhere = dash.relay.create_compound("金桂园").await;
    let stranger = dash.relay.phone(elsewhere, Role::Volunteer, "赵敏").await;
    let (_, answer) = dash.relay.json("POST", "/v1/set-aside", &stranger.token, Some(awaiting)).await;
    assert!(answer["outcomes"].as_array().is_none_or(Vec::is_empty), "{answer}");
}

/// A knock waiting in the inbox is not among its task's attempts, so the round page showed the
/// door assigned and not knocked on, and the overview said nothing: the task is marked with the
/// knocks waiting, the round counts them, and the overview counts every waiting item; a decided
/// item is no longer counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn knocks_waiting_in_the_inbox_are_marked_on_their_tasks_and_counted_on_the_overview() {
    let dash = Dash::start().await;
    let (compound, coordinator) = dash.small_compound().await;
    let mut volunteer = dash.relay.phone(compound, Role::Volunteer, "李强").await;
    let session = dash.login(&coordinator.token).await;
    let round = crate::operations::round_for_building_1(&session, compound).await;
    volunteer.sync(&dash.relay).await;
    let tasks = volunteer.compound().open_tasks();
    let knock = |task: doorstep_core::id::TaskId, outcome: &str| json!({"op": "record_attempt", "round": round, "task": task, "outcome": outcome, "note": ""});
    let mut items = vec![
        item(round, 'a', Some(knock(tasks[0].id, "delivered"))),
        item(round, 'b', Some(knock(tasks[1].id, "nobody_home"))),
        item(round, 'c', Some(knock(tasks[1].id, "delivered"))),
    ];
    for i in &mut items {
        i["rule"] = json!("closed_rounds_are_final");
    }
    let (status, answer) =
        dash.relay.json("POST", "/v1/set-aside", &volunteer.token, Some(json!({"items": items}))).await;
    assert_eq!(status, StatusCode::OK, "{answer}");

    let detail_path = format!("/dashboard/api/compounds/{compound}/rounds/{round}");
    let overview_path = format!("/dashboard/api/compounds/{compound}/overview");
    let waiting = |detail: &Value, task: doorstep_core::id::TaskId| {
        let row =
            detail["tasks"].as_array().unwrap().iter().find(|t| t["task"]["id"] == json!(task)).unwrap();
        (row["knocks_waiting"].clone(), row["status"].clone())
    };
    let detail = session.get_json(&detail_path).await;
    assert_eq!(waiting(&detail, tasks[0].id), (json!(1), json!("open")), "{detail}");
    assert_eq!(waiting(&detail, tasks[1].id), (json!(2), json!("open")));
    assert_eq!(waiting(&detail, tasks[2].id), (json!(0), json!("open")));
    assert_eq!(detail["knocks_waiting"], 3);
    assert_eq!(session.get_json(&overview_path).await["set_aside_waiting"], 3);

    // Dismissed, an item waits no more.
    let path = format!("/dashboard/api/compounds/{compound}/set-aside");
    let listed = session.get_json(&path).await;
    let first =
        listed.as_array().unwrap().iter().find(|i| i["operation"]["outcome"] == "nobody_home").unwrap();
    let dismissed =
        session.post_json(&format!("{path}/{}/dismiss", first["id"]), &json!({"reason": "重复记录"})).await;
    assert_eq!(dismissed.status, StatusCode::OK, "{}", dismissed.text());
    let detail = session.get_json(&detail_path).await;
    assert_eq!(waiting(&detail, tasks[1].id).0, json!(1));
    assert_eq!(session.get_json(&overview_path).await["set_aside_waiting"], 2);
}
