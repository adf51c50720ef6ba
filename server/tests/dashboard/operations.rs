//! Operations from the dashboard: core's own operations and permission rules, as the signed-in
//! coordinator, and conflicts reviewed and settled by writing.

use doorstep_core::Role;
use doorstep_core::id::{CompoundId, DocumentId};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Dash, Session};

/// A small compound, its coordinator signed in on the dashboard, a round for building 1 made
/// there, and two volunteers' phones (李强, 赵敏) holding it: the start of each test of two
/// volunteers at one door.
pub struct TwoVolunteersOnARound {
    pub compound: CompoundId,
    pub coordinator: crate::relay_harness::Phone,
    pub session: Session,
    pub round: DocumentId,
    pub li: crate::relay_harness::Phone,
    pub zhao: crate::relay_harness::Phone,
}

/// [`TwoVolunteersOnARound`], both phones synced.
pub async fn two_volunteers_on_a_round(dash: &Dash) -> TwoVolunteersOnARound {
    let (compound, coordinator) = dash.small_compound().await;
    let mut li = dash.relay.phone(compound, Role::Volunteer, "李强").await;
    let mut zhao = dash.relay.phone(compound, Role::Volunteer, "赵敏").await;
    let session = dash.login(&coordinator.token).await;
    let round = round_for_building_1(&session, compound).await;
    li.sync(&dash.relay).await;
    zhao.sync(&dash.relay).await;
    TwoVolunteersOnARound { compound, coordinator, session, round, li, zhao }
}

/// Creates a round for building 1 through the dashboard; returns its ID.
pub async fn round_for_building_1(session: &Session, compound: CompoundId) -> DocumentId {
    let answer = session
        .operate(
            compound,
            &json!({
                "op": "create_round", "title": "蔬菜包 第1轮", "kind": "groceries", "date": "2026-11-23",
                "selection": {"by": "building", "estate": "", "building": "1"},
                "items": "蔬菜包 ×1", "priority": "normal"
            }),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let done = answer.json();
    assert_eq!(done["created"].as_array().unwrap().len(), 1, "{done}");
    done["created"][0].as_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_plans_a_round_for_one_building_and_it_is_theirs() {
    let dash = Dash::start().await;
    let (compound, coordinator) = dash.small_compound().await;
    let volunteer = dash.relay.phone(compound, Role::Volunteer, "李强").await;
    let session = dash.login(&coordinator.token).await;
    let round = round_for_building_1(&session, compound).await;

    let rounds = session.get_json(&format!("/dashboard/api/compounds/{compound}/rounds")).await;
    assert_eq!(rounds.as_array().unwrap().len(), 1);
    assert_eq!(rounds[0]["round"]["title"], "蔬菜包 第1轮");
    assert_eq!((rounds[0]["total"].as_u64(), rounds[0]["open"].as_u64()), (Some(3), Some(3)));

    let members = session.get_json(&format!("/dashboard/api/compounds/{compound}/members")).await;
    assert!(
        members.as_array().unwrap().iter().any(|m| m["name"] == "李强" && m["role"] == "volunteer"),
        "{members}"
    );
    let assigned = session
        .operate(
            compound,
            &json!({"op": "assign_building", "round": round, "estate": "", "building": "1", "volunteer": volunteer.person}),
        )
        .await;
    assert_eq!(assigned.status, StatusCode::OK, "{}", assigned.text());

    let detail = session.get_json(&format!("/dashboard/api/compounds/{compound}/rounds/{round}")).await;
    let tasks = detail["tasks"].as_array().unwrap();
    let flats: Vec<&str> =
        tasks.iter().map(|t| t["household"]["address"]["flat"].as_str().unwrap()).collect();
    assert_eq!(flats, ["101", "201", "301"], "climbing order");
    assert!(tasks.iter().all(|t| t["status"] == "assigned" && t["assignee_name"] == "李强"), "{detail}");

    // Cancelling a task records the coordinator, not the relay, as who cancelled it.
    let task = tasks[2]["task"]["id"].as_str().unwrap();
    let cancelled = session
        .operate(compound, &json!({"op": "cancel_task", "round": round, "task": task, "reason": "已转院"}))
        .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.text());
    let detail = session.get_json(&format!("/dashboard/api/compounds/{compound}/rounds/{round}")).await;
    assert_eq!(detail["tasks"][2]["task"]["cancelled"]["by"], coordinator.person.to_string());
    assert_eq!(detail["progress"]["cancelled"], 1);

    // The volunteer's phone gets the round and its assignment by sync, as from any coordinator.
    let mut phone = volunteer;
    phone.sync(&dash.relay).await;
    let mine: Vec<_> =
        phone.compound().open_tasks().into_iter().filter(|t| t.assignee == Some(phone.person)).collect();
    assert_eq!(mine.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn core_refuses_what_it_refuses_on_a_phone() {
    let dash = Dash::start().await;
    let (compound, coordinator) = dash.small_compound().await;
    let session = dash.login(&coordinator.token).await;
    let nobody = session
        .operate(
            compound,
            &json!({
                "op": "create_round", "title": "空", "kind": "groceries", "date": "2026-11-23",
                "selection": {"by": "building", "estate": "", "building": "99"}, "items": "", "priority": "normal"
            }),
        )
        .await;
    assert_eq!(nobody.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", nobody.text());
    assert_eq!(nobody.json()["error"], "refused");
    assert!(nobody.json()["reason"].as_str().unwrap().contains("matches no household"));

    let round = round_for_building_1(&session, compound).await;
    let closed = session.operate(compound, &json!({"op": "close_round", "round": round})).await;
    assert_eq!(closed.status, StatusCode::OK, "{}", closed.text());
    let detail = session.get_json(&format!("/dashboard/api/compounds/{compound}/rounds/{round}")).await;
    assert_eq!(detail["round"]["status"], "closed", "closed rounds stay readable");
    let task = detail["tasks"][0]["task"]["id"].as_str().unwrap();
    let late = session
        .operate(compound, &json!({"op": "record_attempt", "round": round, "task": task, "outcome": "delivered", "note": ""}))
        .await;
    assert_eq!(late.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", late.text());
    assert!(late.json()["reason"].as_str().unwrap().contains("closed_rounds_are_final"), "{}", late.text());
    assert_eq!(detail["progress"]["late"], 0, "a closed round says how many attempts arrived late");
    assert_eq!(detail["tasks"][0]["late_attempts"], 0);

    // A coordinator reopens it, and it takes attempts again.
    let reopened = session.operate(compound, &json!({"op": "reopen_round", "round": round})).await;
    assert_eq!(reopened.status, StatusCode::OK, "{}", reopened.text());
    let detail = session.get_json(&format!("/dashboard/api/compounds/{compound}/rounds/{round}")).await;
    assert_eq!(detail["round"]["status"], "open");
    let attempt = session
        .operate(compound, &json!({"op": "record_attempt", "round": round, "task": task, "outcome": "delivered", "note": ""}))
        .await;
    assert_eq!(attempt.status, StatusCode::OK, "{}", attempt.text());
    let again = session.operate(compound, &json!({"op": "reopen_round", "round": round})).await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", again.text());

    let unknown = session.operate(compound, &json!({"op": "delete_everything"})).await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST, "{}", unknown.text());
    assert!(unknown.json()["reason"].as_str().unwrap().contains("delete_everything"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_competing_assignment_is_shown_with_names_and_settled_by_assigning() {
    let dash = Dash::start().await;
    let (compound, mut coordinator) = dash.small_compound().await;
    let li = dash.relay.phone(compound, Role::Volunteer, "李强").await;
    let zhao = dash.relay.phone(compound, Role::Volunteer, "赵敏").await;
    let session = dash.login(&coordinator.token).await;
    let round = round_for_building_1(&session, compound).await;
    coordinator.sync(&dash.relay).await;
    let held = coordinator.compound();
    let door_101 =
        held.households().into_iter().find(|h| h.address.building == "1" && h.address.flat == "101").unwrap();
    let task = held.open_tasks().into_iter().find(|t| t.household == door_101.id).unwrap().id;

    // The coordinator's phone assigns 李强 offline while the dashboard assigns 赵敏.
    coordinator.apply(&doorstep_core::Operation::AssignTask { round, task, volunteer: li.person }).unwrap();
    let online = session
        .operate(
            compound,
            &json!({"op": "assign_task", "round": round, "task": task, "volunteer": zhao.person}),
        )
        .await;
    assert_eq!(online.status, StatusCode::OK, "{}", online.text());
    let synced = coordinator.sync(&dash.relay).await;
    assert!(synced.rejected.is_empty(), "{:?}", synced.rejected);

    let conflicts = session.get_json(&format!("/dashboard/api/compounds/{compound}/conflicts")).await;
    let conflicts = conflicts.as_array().unwrap();
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    let c = &conflicts[0];
    assert_eq!(c["kind"], "competing_assignment");
    assert_eq!(c["task"], task.to_string());
    assert_eq!(c["address"], "香樟苑 1号楼1单元101");
    assert_eq!(c["head"], "管建强");
    assert_eq!(c["names"][li.person.to_string()], "李强");
    assert_eq!(c["names"][zhao.person.to_string()], "赵敏");
    let overview = session.get_json(&format!("/dashboard/api/compounds/{compound}/overview")).await;
    assert_eq!(overview["conflicts"], 1);

    // The coordinator confirms the winner; writing it settles the conflict.
    let winner = c["winner"].as_str().unwrap();
    let settle = session
        .operate(compound, &json!({"op": "assign_task", "round": round, "task": task, "volunteer": winner}))
        .await;
    assert_eq!(settle.status, StatusCode::OK, "{}", settle.text());
    let after = session.get_json(&format!("/dashboard/api/compounds/{compound}/conflicts")).await;
    assert_eq!(after, Value::Array(Vec::new()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_double_delivery_is_marked_reviewed_with_a_note_and_a_later_delivery_reopens_it() {
    let dash = Dash::start().await;
    let TwoVolunteersOnARound { compound, coordinator, session, round, mut li, mut zhao } =
        two_volunteers_on_a_round(&dash).await;
    let task = li.compound().open_tasks()[0].id;
    let delivered = |note: &str| doorstep_core::Operation::RecordAttempt {
        round,
        task,
        outcome: doorstep_core::schema::vocabulary::Outcome::Delivered,
        note: note.into(),
    };
    li.apply(&delivered("放门口")).unwrap();
    zhao.apply(&delivered("交给本人")).unwrap();
    li.sync(&dash.relay).await;
    zhao.sync(&dash.relay).await;
    // 赵敏's phone records one more delivery and stays offline through the review.
    zhao.apply(&delivered("又送了一份")).unwrap();
    let conflicts_path = format!("/dashboard/api/compounds/{compound}/conflicts");
    let overview_path = format!("/dashboard/api/compounds/{compound}/overview");
    assert_eq!(session.get_json(&overview_path).await["conflicts"], 1);

    let op = json!({
        "op": "review_conflict",
        "conflict": {"kind": "double_delivery", "round": round, "task": task},
        "note": "已核实，第二份转给 2-1-302"
    });
    let answer = session.operate(compound, &op).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());

    let conflicts = session.get_json(&conflicts_path).await;
    let c = &conflicts.as_array().unwrap()[0];
    assert_eq!(c["kind"], "double_delivery");
    assert_eq!(c["deliveries"].as_array().unwrap().len(), 2, "both deliveries stay: {c}");
    assert_eq!(c["review"]["by"], coordinator.person.to_string());
    assert_eq!(c["review"]["note"], "已核实，第二份转给 2-1-302");
    assert!(c["review"]["at"].as_i64().is_some(), "{c}");
    assert_eq!(c["names"][coordinator.person.to_string()], "王芳", "the reviewer is named: {c}");
    assert_eq!(session.get_json(&overview_path).await["conflicts"], 0, "the count drops");

    // The review is in the round itself: 李强's phone sees it after a sync.
    li.sync(&dash.relay).await;
    assert!(doorstep_core::query::unreviewed_conflicts(li.compound()).is_empty());

    // 赵敏 comes back into signal with the third delivery: the conflict is back, unreviewed.
    let synced = zhao.sync(&dash.relay).await;
    assert!(synced.rejected.is_empty(), "{:?}", synced.rejected);
    let conflicts = session.get_json(&conflicts_path).await;
    let c = &conflicts.as_array().unwrap()[0];
    assert_eq!(c["deliveries"].as_array().unwrap().len(), 3, "{c}");
    assert_eq!(c["review"], Value::Null, "a new delivery is not hidden by the old review: {c}");
    assert_eq!(c["earlier_review"]["note"], "已核实，第二份转给 2-1-302", "the earlier note stays: {c}");
    assert_eq!(session.get_json(&overview_path).await["conflicts"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reviewing_a_conflict_that_is_not_there_is_refused_with_a_reason() {
    let dash = Dash::start().await;
    let (compound, coordinator) = dash.small_compound().await;
    let session = dash.login(&coordinator.token).await;
    let round = round_for_building_1(&session, compound).await;
    let task = "019400a0-0000-7000-8000-000000000001";
    let op = json!({"op": "review_conflict", "conflict": {"kind": "double_delivery", "round": round, "task": task}});
    let answer = session.operate(compound, &op).await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", answer.text());
    assert!(answer.text().contains("no double_delivery conflict"), "{}", answer.text());
}

/// The dashboard gives a task only to a live member of the compound: someone removed, a person
/// of another compound or an ID nobody holds is refused with 422 `not_a_member` saying why (was:
/// 200, a task assigned to nobody who could deliver or claim it). A coordinator's phone assigning
/// offline to someone removed meanwhile is not refused by sync; the round view marks that task
/// `assignee_removed`, as it marks one assigned before the removal, so it gets reassigned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_is_given_only_to_a_live_member_and_one_held_by_someone_removed_is_marked() {
    let dash = Dash::start().await;
    let (compound, mut coordinator) = dash.small_compound().await;
    let volunteer = dash.relay.phone(compound, Role::Volunteer, "李强").await;
    let stays = dash.relay.phone(compound, Role::Volunteer, "赵敏").await;
    let elsewhere = dash.relay.create_compound("南苑小区").await;
    let stranger = dash.relay.phone(elsewhere, Role::Volunteer, "外人").await;
    let session = dash.login(&coordinator.token).await;
    let round = round_for_building_1(&session, compound).await;
    let detail_path = format!("/dashboard/api/compounds/{compound}/rounds/{round}");
    let detail = session.get_json(&detail_path).await;
    let task = |i: usize| detail["tasks"][i]["task"]["id"].as_str().unwrap().to_owned();
    let assign = |i: usize, who: String| json!({"op": "assign_task", "round": round, "task": task(i), "volunteer": who});

    let given = session.operate(compound, &assign(0, volunteer.person.to_string())).await;
    assert_eq!(given.status, StatusCode::OK, "{}", given.text());
    let removal = format!("/dashboard/api/compounds/{compound}/members/{}/revoke", volunteer.person);
    let removed = session.post_json(&removal, &json!({})).await;
    assert!(removed.status.is_success(), "{}", removed.text());

    let made_up = "01a24ced-0000-7000-8000-000000000000".to_owned();
    for (who, says) in [
        (volunteer.person.to_string(), "李强 was removed from this compound"),
        (stranger.person.to_string(), "is not a member of this compound"),
        (made_up, "is not a member of this compound"),
    ] {
        let refused = session.operate(compound, &assign(1, who)).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.text());
        let body = refused.json();
        assert_eq!(body["error"], "not_a_member", "{body}");
        assert!(body["reason"].as_str().unwrap().contains(says), "{body}");
        assert!(body["reason"].as_str().unwrap().contains("请改派给现有成员"), "{body}");
    }
    let building = json!({"op": "assign_building", "round": round, "estate": "", "building": "1", "volunteer": volunteer.person});
    assert_eq!(session.operate(compound, &building).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    let given = session.operate(compound, &assign(1, stays.person.to_string())).await;
    assert_eq!(given.status, StatusCode::OK, "{}", given.text());

    // The coordinator's phone, which had not heard of the removal, gives the third task to 李强:
    // sync takes it.
    coordinator.sync(&dash.relay).await;
    let third: doorstep_core::id::TaskId = task(2).parse().unwrap();
    coordinator
        .apply(&doorstep_core::Operation::AssignTask { round, task: third, volunteer: volunteer.person })
        .unwrap();
    let synced = coordinator.sync(&dash.relay).await;
    assert!(synced.rejected.is_empty(), "{:?}", synced.rejected);

    let detail = session.get_json(&detail_path).await;
    let marks: Vec<(&str, bool)> = detail["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["assignee_name"].as_str().unwrap_or_default(), t["assignee_removed"].as_bool().unwrap()))
        .collect();
    assert_eq!(marks, [("李强", true), ("赵敏", false), ("李强", true)], "{detail}");
}

/// Two coordinators create the same round at the same moment: one round is made, the other is
/// told it exists already (two were made, neither write seeing the other's new round, and every
/// door of the building got two deliveries: helper finding). Tried eight times over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_round_created_by_two_coordinators_at_once_is_made_once() {
    let dash = Dash::start().await;
    let (compound, first) = dash.small_compound().await;
    let second = dash.relay.phone(compound, Role::Coordinator, "陈刚").await;
    let (a, b) = (dash.login(&first.token).await, dash.login(&second.token).await);
    for attempt in 0..8 {
        let round = json!({
            "op": "create_round", "title": format!("蔬菜包 第{attempt}轮"), "kind": "groceries",
            "date": "2026-11-24", "selection": {"by": "building", "estate": "", "building": "2"},
            "items": "蔬菜包 ×1", "priority": "normal"
        });
        let (x, y) = tokio::join!(a.operate(compound, &round), b.operate(compound, &round));
        let mut statuses = [x.status, y.status];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::OK, StatusCode::UNPROCESSABLE_ENTITY],
            "{}\n{}",
            x.text(),
            y.text()
        );
        let refused = if x.status == StatusCode::OK { y } else { x };
        assert!(refused.text().contains("请勿重复创建"), "{}", refused.text());
    }
    let rounds = a.get_json(&format!("/dashboard/api/compounds/{compound}/rounds")).await;
    assert_eq!(rounds.as_array().unwrap().len(), 8, "{rounds}");
}
