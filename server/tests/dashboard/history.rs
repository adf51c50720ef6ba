//! The audit trail: every change in a stored document is under its author's own actor, so a
//! household's and a task's history name the coordinator who edited on the dashboard and the
//! volunteer who edited on a phone, each as themselves.

use doorstep_core::Operation;
use doorstep_core::Role;
use doorstep_core::schema::vocabulary::Outcome;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::Dash;
use crate::operations::round_for_building_1;

/// The names in a history answer, oldest first, with the fields each change set.
fn authors(history: &Value) -> Vec<(String, Vec<String>)> {
    history
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| {
            let fields =
                entry["fields"].as_array().unwrap().iter().map(|f| f.as_str().unwrap().to_owned()).collect();
            (entry["name"].as_str().unwrap_or("?").to_owned(), fields)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dashboard_edit_and_a_phone_edit_each_show_their_own_person_in_the_history() {
    let dash = Dash::start().await;
    let (compound, coordinator) = dash.small_compound().await;
    let mut volunteer = dash.relay.phone(compound, Role::Volunteer, "李强").await;
    let session = dash.login(&coordinator.token).await;

    // The coordinator edits a household on the dashboard ...
    let households = session.get_json(&format!("/dashboard/api/compounds/{compound}/households")).await;
    let household = households[0]["id"].as_str().unwrap().to_owned();
    let edited = session
        .operate(
            compound,
            &json!({"op": "set_control_status", "household": household, "status": "confirmed"}),
        )
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.text());
    // ... and plans a round, whose tasks a volunteer then works on a phone.
    let round = round_for_building_1(&session, compound).await;

    volunteer.sync(&dash.relay).await;
    let notes = Operation::EditNotes { household: household.parse().unwrap(), notes: "腿脚不便".into() };
    volunteer.apply(&notes).unwrap();
    let task = volunteer.compound().open_tasks().into_iter().find(|t| t.round == round).unwrap();
    volunteer.apply(&Operation::ClaimTask { round, task: task.id }).unwrap();
    let attempt =
        Operation::RecordAttempt { round, task: task.id, outcome: Outcome::Delivered, note: String::new() };
    volunteer.apply(&attempt).unwrap();
    let synced = volunteer.sync(&dash.relay).await;
    assert!(synced.rejected.is_empty(), "{:?}", synced.rejected);

    let history = session
        .get_json(&format!("/dashboard/api/compounds/{compound}/households/{household}/history"))
        .await;
    let by = authors(&history);
    assert_eq!(by.first().map(|(_, f)| f.clone()), Some(vec!["created".to_owned()]), "{history}");
    assert!(
        by.contains(&("王芳".to_owned(), vec!["status".to_owned()])),
        "the coordinator's edit: {history}"
    );
    assert!(by.contains(&("李强".to_owned(), vec!["notes".to_owned()])), "the volunteer's edit: {history}");
    let coordinator_entry = history.as_array().unwrap().iter().find(|e| e["name"] == "王芳").unwrap();
    assert_eq!(coordinator_entry["person"], coordinator.person.to_string());
    assert_ne!(
        coordinator_entry["actor"].as_str().unwrap(),
        dash.state.relay.actor().to_hex_string(),
        "a dashboard edit is not under the relay's own actor"
    );

    let history = session
        .get_json(&format!("/dashboard/api/compounds/{compound}/rounds/{round}/tasks/{}/history", task.id))
        .await;
    let by = authors(&history);
    assert_eq!(
        by.first().map(|(n, f)| (n.as_str(), f.clone())),
        Some(("王芳", vec!["created".to_owned()])),
        "{history}"
    );
    assert!(by.iter().any(|(n, f)| n == "李强" && f.contains(&"assignee".to_owned())), "{history}");
    assert!(by.iter().any(|(n, f)| n == "李强" && f.contains(&"attempts".to_owned())), "{history}");

    // An unknown household is a 404 with a reason, not an empty history.
    let missing = session
        .get(&format!(
            "/dashboard/api/compounds/{compound}/households/0192f0c0-0000-7000-8000-000000000000/history"
        ))
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.text());
}
