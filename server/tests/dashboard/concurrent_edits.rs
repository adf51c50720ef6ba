//! Two coordinators edit the same thing at once, one on the dashboard and one on a phone offline
//! (bb61 ledger_race, triage_race): a household's phone number and head count, a request's
//! triage. Automerge keeps one value of each; the other used to vanish without a word. Now each
//! is a conflict on the conflicts page with every value, counted on the overview, and a
//! coordinator reviews it like the other kinds (the review is kept in the roster).

use doorstep_core::Operation;
use doorstep_core::Role;
use doorstep_core::schema::household::HouseholdEdit;
use doorstep_core::schema::vocabulary::{Category, Channel, RequestStatus, Urgency};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::Dash;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_ledger_edits_and_triage_are_conflicts_to_review() {
    let dash = Dash::start().await;
    let (compound, coordinator) = dash.small_compound().await;
    let mut chen = dash.relay.phone(compound, Role::Coordinator, "陈刚").await;
    let mut li = dash.relay.phone(compound, Role::Volunteer, "李强").await;
    let session = dash.login(&coordinator.token).await;
    li.sync(&dash.relay).await;
    let first = li.compound().households()[0].clone();
    // Head counts neither holds yet: a value written again as it stands writes nothing.
    let household = first.id;
    let (chens, wangs) = (first.people.unwrap_or(0) + 3, first.people.unwrap_or(0) + 5);
    li.apply(&Operation::AddRequest {
        household,
        channel: Channel::Door,
        category: Category::Medicine,
        text: "需要降压药".into(),
        urgency: Urgency::Normal,
    })
    .unwrap();
    li.sync(&dash.relay).await;
    chen.sync(&dash.relay).await;
    let request = chen.compound().requests()[0].id;

    // 陈刚, offline: phone 13800000002, rejected. 王芳 on the dashboard: 13900000001, done and
    // urgent. Each gives another head count.
    let edit =
        HouseholdEdit { phone: Some("13800000002".into()), people: Some(chens), ..HouseholdEdit::default() };
    chen.apply(&Operation::EditHousehold { household, edit }).unwrap();
    chen.apply(&Operation::TriageRequest { request, status: RequestStatus::Rejected, urgency: None })
        .unwrap();
    for op in [
        json!({"op": "edit_household", "household": household, "edit": {"phone": "13900000001", "people": wangs}}),
        json!({"op": "triage_request", "request": request, "status": "done", "urgency": "urgent"}),
    ] {
        let answer = session.operate(compound, &op).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    }
    let synced = chen.sync(&dash.relay).await;
    assert!(synced.rejected.is_empty(), "{:?}", synced.rejected);

    let conflicts = session.get_json(&format!("/dashboard/api/compounds/{compound}/conflicts")).await;
    let of = |kind: &str| -> Vec<Value> {
        conflicts.as_array().unwrap().iter().filter(|c| c["kind"] == kind).cloned().collect()
    };
    let ledger = of("concurrent_ledger_edit");
    let mut fields: Vec<(String, Vec<String>)> = ledger
        .iter()
        .map(|c| {
            assert_eq!(c["household"], json!(household), "{c}");
            let mut values: Vec<String> =
                c["candidates"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();
            values.sort();
            (c["field"].as_str().unwrap().to_owned(), values)
        })
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            ("people".to_owned(), vec![chens.to_string(), wangs.to_string()]),
            ("phone".to_owned(), vec!["13800000002".to_owned(), "13900000001".to_owned()]),
        ],
        "{conflicts}"
    );
    let triage = of("concurrent_triage");
    let [t] = triage.as_slice() else { panic!("{conflicts}") };
    assert_eq!((&t["request"], &t["household"]), (&json!(request), &json!(household)));
    let mut statuses = t["statuses"].as_array().unwrap().clone();
    statuses.sort_by_key(|s| s.as_str().unwrap().to_owned());
    assert_eq!(statuses, [json!("done"), json!("rejected")], "{t}");
    let requests = session.get_json(&format!("/dashboard/api/compounds/{compound}/requests")).await;
    assert_eq!(t["statuses"][0], requests[0]["status"], "the status everyone sees comes first");

    let overview_path = format!("/dashboard/api/compounds/{compound}/overview");
    assert_eq!(session.get_json(&overview_path).await["conflicts"], 3);
    for subject in [
        json!({"kind": "concurrent_ledger_edit", "household": household, "field": "phone"}),
        json!({"kind": "concurrent_triage", "request": request}),
    ] {
        let op = json!({"op": "review_conflict", "conflict": subject, "note": "已电话核实"});
        let answer = session.operate(compound, &op).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    }
    assert_eq!(session.get_json(&overview_path).await["conflicts"], 1, "the people count still waits");
    // The reviews are in the roster: 陈刚's phone reads them after a sync.
    chen.sync(&dash.relay).await;
    assert_eq!(doorstep_core::query::unreviewed_conflicts(chen.compound()).len(), 1);
}
