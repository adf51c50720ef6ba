//! A closed round's conflicts: closing a round settles none of them, so an unreviewed double
//! delivery stays on the conflicts page and in the overview's count, one arriving late (two
//! phones delivered offline while the round was closed) is listed too, and a coordinator
//! reviews either on the closed round, which stays closed. The overview counts the late
//! attempts, which only closed rounds have.

use doorstep_core::schema::vocabulary::Outcome;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::Dash;
use crate::operations::{TwoVolunteersOnARound, two_volunteers_on_a_round};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_rounds_double_deliveries_early_and_late_are_listed_counted_and_reviewed() {
    let dash = Dash::start().await;
    let TwoVolunteersOnARound { compound, coordinator, session, round, mut li, mut zhao } =
        two_volunteers_on_a_round(&dash).await;
    let tasks = li.compound().open_tasks();
    let (early, late) = (tasks[0].id, tasks[1].id);
    let delivered = |task| doorstep_core::Operation::RecordAttempt {
        round,
        task,
        outcome: Outcome::Delivered,
        note: String::new(),
    };
    // Both deliver at one door and sync: a double delivery, left unreviewed.
    li.apply(&delivered(early)).unwrap();
    zhao.apply(&delivered(early)).unwrap();
    li.sync(&dash.relay).await;
    zhao.sync(&dash.relay).await;
    // Offline, both deliver at another door while the coordinator closes the round.
    li.apply(&delivered(late)).unwrap();
    zhao.apply(&delivered(late)).unwrap();
    let closed = session.operate(compound, &json!({"op": "close_round", "round": round})).await;
    assert_eq!(closed.status, StatusCode::OK, "{}", closed.text());
    for phone in [&mut li, &mut zhao] {
        let synced = phone.sync(&dash.relay).await;
        assert!(synced.rejected.is_empty(), "a late field fact is kept: {:?}", synced.rejected);
    }

    let conflicts_path = format!("/dashboard/api/compounds/{compound}/conflicts");
    let overview_path = format!("/dashboard/api/compounds/{compound}/overview");
    let listed = |conflicts: &Value| -> Vec<(String, bool, bool)> {
        let mut out: Vec<(String, bool, bool)> = conflicts
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                assert_eq!(c["kind"], "double_delivery", "{c}");
                assert_eq!(c["deliveries"].as_array().unwrap().len(), 2, "{c}");
                assert!(c["address"].as_str().unwrap().starts_with("香樟苑 1号楼"), "{c}");
                (c["task"].as_str().unwrap().to_owned(), c["round_closed"] == true, c["review"].is_null())
            })
            .collect();
        out.sort();
        out
    };
    let mut both = vec![(early.to_string(), true, true), (late.to_string(), true, true)];
    both.sort();
    assert_eq!(
        listed(&session.get_json(&conflicts_path).await),
        both,
        "both listed, unreviewed, round closed"
    );
    let overview = session.get_json(&overview_path).await;
    assert_eq!(overview["conflicts"], 2, "{overview}");
    assert_eq!(overview["counts"]["late_attempts"], 2, "the two late deliveries: {overview}");
    assert_eq!(overview["rounds"], json!([]), "no open round");

    // The late one is reviewed on the closed round.
    let review = json!({
        "op": "review_conflict",
        "conflict": {"kind": "double_delivery", "round": round, "task": late},
        "note": "结束后才同步，已核实"
    });
    let answer = session.operate(compound, &review).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let conflicts = session.get_json(&conflicts_path).await;
    let reviewed = conflicts.as_array().unwrap().iter().find(|c| c["task"] == late.to_string()).unwrap();
    assert_eq!(reviewed["review"]["note"], "结束后才同步，已核实", "{reviewed}");
    assert_eq!(reviewed["names"][coordinator.person.to_string()], "王芳", "{reviewed}");
    assert_eq!(session.get_json(&overview_path).await["conflicts"], 1, "the count drops");

    // The round stays closed and takes no fact, the coordinator's neither.
    let detail = session.get_json(&format!("/dashboard/api/compounds/{compound}/rounds/{round}")).await;
    assert_eq!(detail["progress"]["round"]["status"], "closed", "{}", detail["progress"]);
    let assign = json!({"op": "assign_task", "round": round, "task": early, "volunteer": li.person});
    let refused = session.operate(compound, &assign).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.text());
    assert!(refused.text().contains("closed_rounds_are_final"), "{}", refused.text());

    // Read again with nothing written since, the closed round's conflicts are the same.
    assert_eq!(session.get_json(&conflicts_path).await, conflicts);
}
