//! A coordinator cancels a task on the dashboard (the resident was taken to hospital) while the
//! volunteer, offline in the stairwell, delivers it. After the volunteer's sync the clash is a
//! conflict with both sides, counted on the overview and in the round's progress (delivered, and
//! cancelled-but-delivered beside `cancelled`), reviewable like the other kinds, and a later
//! offline delivery reopens the review with the earlier note still shown.

use doorstep_core::Operation;
use doorstep_core::schema::vocabulary::Outcome;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::Dash;
use crate::operations::{TwoVolunteersOnARound, two_volunteers_on_a_round};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_to_a_task_cancelled_meanwhile_is_a_conflict_to_review_with_both_sides() {
    let dash = Dash::start().await;
    let TwoVolunteersOnARound { compound, coordinator, session, round, mut li, mut zhao } =
        two_volunteers_on_a_round(&dash).await;
    let task = li.compound().open_tasks()[0].id;
    let delivered =
        |note: &str| Operation::RecordAttempt { round, task, outcome: Outcome::Delivered, note: note.into() };
    // Both volunteers are offline; 李强 delivers now, 赵敏 later comes back with a delivery too.
    li.apply(&delivered("放门口")).unwrap();
    zhao.apply(&delivered("交给邻居")).unwrap();
    let cancel = json!({"op": "cancel_task", "round": round, "task": task, "reason": "住院了，家里没人"});
    let answer = session.operate(compound, &cancel).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let synced = li.sync(&dash.relay).await;
    assert!(synced.rejected.is_empty(), "{:?}", synced.rejected);

    let conflicts_path = format!("/dashboard/api/compounds/{compound}/conflicts");
    let conflicts = session.get_json(&conflicts_path).await;
    let [c] = conflicts.as_array().unwrap().as_slice() else { panic!("{conflicts}") };
    assert_eq!(c["kind"], "cancelled_but_delivered", "{c}");
    assert_eq!((&c["round"], &c["task"]), (&json!(round), &json!(task)));
    assert_eq!(c["cancellation"]["by"], coordinator.person.to_string(), "{c}");
    assert_eq!(c["cancellation"]["reason"], "住院了，家里没人");
    assert!(c["cancellation"]["at"].as_i64().is_some(), "{c}");
    let deliveries = c["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 1, "{c}");
    assert_eq!((&deliveries[0]["by"], &deliveries[0]["note"]), (&json!(li.person), &json!("放门口")));
    assert!(deliveries[0]["at"].as_i64().is_some(), "{c}");
    assert_eq!(c["names"][coordinator.person.to_string()], "王芳", "the canceller is named: {c}");
    assert_eq!(c["names"][li.person.to_string()], "李强", "the deliverer is named: {c}");

    let overview_path = format!("/dashboard/api/compounds/{compound}/overview");
    let overview = session.get_json(&overview_path).await;
    assert_eq!(overview["conflicts"], 1, "{overview}");
    assert_eq!(overview["counts"]["cancelled_but_delivered"], 1, "{overview}");
    assert_eq!(overview["counts"]["by_task_status"]["delivered"], 1, "the goods are at the door");
    let detail = session.get_json(&format!("/dashboard/api/compounds/{compound}/rounds/{round}")).await;
    assert_eq!(detail["progress"]["cancelled_but_delivered"], 1, "{}", detail["progress"]);
    assert_eq!(detail["progress"]["delivered"], 1);
    let path = format!("/dashboard/api/compounds/{compound}/export/rounds/{round}.csv");
    let csv = session.get(&path).await.text();
    assert!(csv.contains("已送达（协调员已取消：住院了，家里没人）"), "{csv}");

    let review = json!({
        "op": "review_conflict",
        "conflict": {"kind": "cancelled_but_delivered", "round": round, "task": task},
        "note": "已联系家属取回"
    });
    let answer = session.operate(compound, &review).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(session.get_json(&overview_path).await["conflicts"], 0, "the count drops");
    let conflicts = session.get_json(&conflicts_path).await;
    assert_eq!(conflicts[0]["review"]["note"], "已联系家属取回", "{conflicts}");

    // 赵敏 comes back into signal: a second delivery the review did not see, and a double delivery.
    let synced = zhao.sync(&dash.relay).await;
    assert!(synced.rejected.is_empty(), "{:?}", synced.rejected);
    let conflicts = session.get_json(&conflicts_path).await;
    let c = conflicts.as_array().unwrap().iter().find(|c| c["kind"] == "cancelled_but_delivered").unwrap();
    assert_eq!(c["deliveries"].as_array().unwrap().len(), 2, "{c}");
    assert_eq!(c["review"], Value::Null, "reopened: {c}");
    assert_eq!(c["earlier_review"]["note"], "已联系家属取回", "the earlier note stays visible: {c}");
    assert_eq!(c["earlier_review"]["by"], coordinator.person.to_string());
    assert_eq!(session.get_json(&overview_path).await["conflicts"], 2, "{conflicts}");
}
