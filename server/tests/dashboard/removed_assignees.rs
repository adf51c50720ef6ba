//! Tasks held by a removed volunteer (待改派 / to reassign): the overview, the rounds list and a
//! round's progress count them apart from `assigned`, since nobody holds them and no volunteer
//! may claim them, until a coordinator reassigns them. Was: every one counted 已分配 / assigned
//! (black-box finding: "assigned 42, open 0" with nobody holding any of the 42).

use doorstep_core::Role;
use doorstep_core::id::TaskId;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::Dash;
use crate::operations::round_for_building_1;

/// `(assigned, to_reassign, open)` of a round's progress.
fn figures(progress: &Value) -> (u64, u64, u64) {
    let n = |k: &str| progress[k].as_u64().unwrap_or_else(|| panic!("no {k} in {progress}"));
    (n("assigned"), n("to_reassign"), n("open"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_held_by_a_removed_volunteer_count_to_reassign_not_assigned() {
    let dash = Dash::start().await;
    let (compound, coordinator) = dash.small_compound().await;
    let leaves = dash.relay.phone(compound, Role::Volunteer, "李强").await;
    let mut stays = dash.relay.phone(compound, Role::Volunteer, "赵敏").await;
    let session = dash.login(&coordinator.token).await;
    let round = round_for_building_1(&session, compound).await;
    let detail_path = format!("/dashboard/api/compounds/{compound}/rounds/{round}");
    let overview_path = format!("/dashboard/api/compounds/{compound}/overview");
    let rounds_path = format!("/dashboard/api/compounds/{compound}/rounds");

    let building = |who: String| json!({"op": "assign_building", "round": round, "estate": "", "building": "1", "volunteer": who});
    let given = session.operate(compound, &building(leaves.person.to_string())).await;
    assert_eq!(given.status, StatusCode::OK, "{}", given.text());
    let detail = session.get_json(&detail_path).await;
    let total = detail["tasks"].as_array().unwrap().len() as u64;
    assert!(total >= 2, "{detail}");
    let first = detail["tasks"][0]["task"]["id"].as_str().unwrap().to_owned();
    let one = json!({"op": "assign_task", "round": round, "task": first, "volunteer": stays.person});
    assert_eq!(session.operate(compound, &one).await.status, StatusCode::OK);
    assert_eq!(figures(&session.get_json(&detail_path).await["progress"]), (total, 0, total));

    let removal = format!("/dashboard/api/compounds/{compound}/members/{}/revoke", leaves.person);
    let removed = session.post_json(&removal, &json!({})).await;
    assert!(removed.status.is_success(), "{}", removed.text());

    // Every headline figure: 1 assigned (赵敏's), the rest to reassign; none open to claim.
    let held_by_nobody = total - 1;
    let detail = session.get_json(&detail_path).await;
    assert_eq!(figures(&detail["progress"]), (1, held_by_nobody, total), "{}", detail["progress"]);
    let rounds = session.get_json(&rounds_path).await;
    assert_eq!(figures(&rounds[0]), (1, held_by_nobody, total), "{rounds}");
    let overview = session.get_json(&overview_path).await;
    assert_eq!(figures(&overview["rounds"][0]), (1, held_by_nobody, total), "{overview}");
    let counts = &overview["counts"];
    assert_eq!(counts["by_task_status"]["assigned"], 1, "{counts}");
    assert_eq!(counts["by_task_status"]["open"], 0, "{counts}");
    assert_eq!(counts["to_reassign"], held_by_nobody, "{counts}");

    // Not open: a volunteer's phone may not claim one, as the relay would refuse it.
    stays.sync(&dash.relay).await;
    let theirs: TaskId = detail["tasks"][1]["task"]["id"].as_str().unwrap().parse().unwrap();
    let claim = stays.apply(&doorstep_core::Operation::ClaimTask { round, task: theirs });
    assert!(claim.is_err(), "a volunteer claimed a task held by someone removed: {claim:?}");

    // The coordinator reassigns the building in one action: nothing is left to reassign.
    let again = session.operate(compound, &building(stays.person.to_string())).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text());
    let overview = session.get_json(&overview_path).await;
    assert_eq!(overview["counts"]["to_reassign"], 0, "{overview}");
    assert_eq!(overview["counts"]["by_task_status"]["assigned"], total, "{overview}");
    assert_eq!(figures(&overview["rounds"][0]), (total, 0, total), "{overview}");
}
