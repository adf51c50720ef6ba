//! Work that names a household removed from the roster meanwhile: a volunteer, offline, takes a
//! critical medical request at a door, knocks and delivers there, while a coordinator removes the
//! household (a duplicate row, a family moved out). The work reaches the coordinators, and every
//! place that shows it still says where the door was, from the roster's own history, marked as
//! removed: the requests inbox, the round, the household's page and history, the review inbox
//! and the round's export. Before, the request showed no address anywhere and the household's
//! page answered 404.

use doorstep_core::Operation;
use doorstep_core::Role;
use doorstep_core::schema::vocabulary::{Category, Channel, DocKind, Outcome, Urgency};
use reqwest::StatusCode;
use serde_json::json;

use crate::harness::Dash;
use crate::operations::round_for_building_1;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_at_a_door_removed_meanwhile_still_shows_where_the_door_was() {
    let dash = Dash::start().await;
    let (compound, coordinator) = dash.small_compound().await;
    let mut volunteer = dash.relay.phone(compound, Role::Volunteer, "李强").await;
    let session = dash.login(&coordinator.token).await;
    let round = round_for_building_1(&session, compound).await;
    volunteer.sync(&dash.relay).await;
    let door = volunteer
        .compound()
        .households()
        .into_iter()
        .find(|h| h.address.building == "1" && h.address.flat == "201")
        .expect("1号楼 201 is in the roster");
    let task = volunteer.compound().open_tasks().into_iter().find(|t| t.household == door.id).unwrap().id;

    // Offline at the door: a critical request and a delivery.
    volunteer
        .apply(&Operation::AddRequest {
            household: door.id,
            channel: Channel::Door,
            category: Category::Medical,
            text: "胰岛素用完了，今天必须送到".into(),
            urgency: Urgency::Critical,
        })
        .unwrap();
    volunteer.apply(&Operation::ClaimTask { round, task }).unwrap();
    volunteer
        .apply(&Operation::RecordAttempt { round, task, outcome: Outcome::Delivered, note: String::new() })
        .unwrap();
    // Meanwhile the coordinator removes the household.
    let removed = session.operate(compound, &json!({"op": "remove_household", "household": door.id})).await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.text());
    volunteer.sync(&dash.relay).await;

    let base = format!("/dashboard/api/compounds/{compound}");
    let address = door.address.to_string();
    let requests = session.get_json(&format!("{base}/requests")).await;
    let request = requests
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["household"] == json!(door.id))
        .unwrap_or_else(|| panic!("the request reached the inbox: {requests}"));
    assert_eq!(request["urgency"], "critical");
    assert_eq!(request["address"], address, "its door, as the roster last had it: {request}");
    assert_eq!(request["head"], door.head);
    assert_eq!(request["household_removed"], true);

    let detail = session.get_json(&format!("{base}/rounds/{round}")).await;
    let at_door =
        detail["tasks"].as_array().unwrap().iter().find(|t| t["task"]["id"] == json!(task)).unwrap();
    assert_eq!(at_door["status"], "delivered");
    assert_eq!(at_door["household"]["address"]["flat"], "201", "{at_door}");
    assert_eq!(at_door["household_removed"], true);
    let live = detail["tasks"].as_array().unwrap().iter().filter(|t| t["household_removed"] == false).count();
    assert_eq!(live + 1, detail["tasks"].as_array().unwrap().len(), "only that door is marked");

    let page = session.get(&format!("{base}/households/{}", door.id)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    let page = page.json();
    assert_eq!(page["household"]["head"], door.head);
    assert!(page["removed_at"].as_i64().is_some_and(|at| at > 0), "{page}");
    assert_eq!(page["requests"].as_array().unwrap().len(), 1, "{page}");
    let history = session.get_json(&format!("{base}/households/{}/history", door.id)).await;
    let fields: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|e| e["fields"].as_array().unwrap())
        .filter_map(|f| f.as_str())
        .collect();
    assert!(fields.contains(&"created") && fields.contains(&"deleted"), "{history}");
    let never = session.get(&format!("{base}/households/00000000-0000-7000-8000-000000000001")).await;
    assert_eq!(never.status, StatusCode::NOT_FOUND, "a household never in the roster is still 404");

    // A notes edit for that door set aside by the volunteer's phone says where it was.
    let roster = volunteer.doc_of(DocKind::Roster).id();
    let notes = json!({"op": "edit_notes", "household": door.id, "notes": "门口有狗"});
    let items = json!({"items": [{
        "id": "e".repeat(64), "doc": roster, "operation": notes.to_string(), "summary": "门口有狗",
        "made_at": 1_795_000_000_000_i64, "set_aside_at": 1_795_000_001_000_i64,
        "rule": "removals_do_not_hide_edits", "reason": "the household was removed",
    }]});
    let (status, answer) = dash.relay.json("POST", "/v1/set-aside", &volunteer.token, Some(items)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let inbox = session.get_json(&format!("{base}/set-aside")).await;
    let item = &inbox.as_array().unwrap()[0];
    assert_eq!(item["address"], address, "{item}");
    assert_eq!(item["household_removed"], true);

    let csv = session.get(&format!("{base}/export/rounds/{round}.csv")).await;
    assert_eq!(csv.status, StatusCode::OK);
    let csv = csv.text();
    assert!(csv.contains("201（已移除）"), "the export keeps the door, marked: {csv}");
    assert!(!csv.contains("(已移除 "), "no bare ID: {csv}");
}
