//! The 857-household sample ledger of 北林, imported through the dashboard: the overview's
//! counts, the roster's filters and the colour-coded map.

use doorstep_core::Role;
use doorstep_core::id::CompoundId;
use reqwest::StatusCode;
use serde_json::Value;

use crate::harness::{BEILIN, Dash, Session};

/// A compound with the 北林 ledger imported through the dashboard by its coordinator.
pub async fn beilin(dash: &Dash) -> (CompoundId, Session) {
    let compound = dash.relay.create_compound("北林").await;
    let coordinator = dash.relay.phone(compound, Role::Coordinator, "王芳").await;
    let session = dash.login(&coordinator.token).await;
    let answer = session
        .post_bytes(
            &format!("/dashboard/api/compounds/{compound}/import?mode=commit"),
            "text/csv",
            BEILIN.to_vec(),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let done = answer.json();
    assert_eq!(
        (done["added"].as_u64(), done["updated"].as_u64(), done["rows_left_out"].as_u64()),
        (Some(857), Some(0), Some(0))
    );
    assert_eq!(done["buildings_added"], 15);
    (compound, session)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_counts_the_sample_ledger() {
    let dash = Dash::start().await;
    let (compound, session) = beilin(&dash).await;
    let started = std::time::Instant::now();
    let overview = session.get_json(&format!("/dashboard/api/compounds/{compound}/overview")).await;
    let took = started.elapsed();
    for view in ["map", "households"] {
        let started = std::time::Instant::now();
        session.get_json(&format!("/dashboard/api/compounds/{compound}/{view}")).await;
        println!("GET {view} of 857 households: {:?}", started.elapsed());
    }
    println!("GET overview of 857 households: {took:?}");
    assert_eq!(overview["name"], "北林");
    let counts = &overview["counts"];
    assert_eq!(counts["households"], 857);
    let by_status = &counts["by_status"];
    for (status, n) in [
        ("normal", 757),
        ("home_monitoring", 23),
        ("central_quarantine", 14),
        ("home_quarantine", 59),
        ("confirmed", 4),
    ] {
        assert_eq!(by_status[status], n, "{status}: {by_status}");
    }
    assert_eq!(counts["special_needs"], 62);
    assert_eq!(counts["by_need"]["mobility_impaired"], 5);
    assert_eq!(overview["rounds"], Value::Array(Vec::new()), "no round yet");
    assert_eq!(overview["requests_waiting"], 0);
    assert_eq!(overview["conflicts"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_roster_filters_by_status_need_building_and_text() {
    let dash = Dash::start().await;
    let (compound, session) = beilin(&dash).await;
    let list = |query: &str| {
        let session = session.clone();
        let path = format!("/dashboard/api/compounds/{compound}/households{query}");
        async move { session.get_json(&path).await.as_array().unwrap().clone() }
    };
    let all = list("").await;
    assert_eq!(all.len(), 857);
    // Climbing order: building, unit, floor, flat, numbers by value.
    let first = &all[0]["address"];
    assert_eq!(
        (first["building"].as_str(), first["unit"].as_str(), first["flat"].as_str()),
        (Some("1"), Some("1"), Some("102"))
    );
    assert_eq!(list("?status=确诊").await.len(), 4);
    assert_eq!(list("?status=confirmed").await.len(), 4, "wire names work as well as Chinese labels");
    assert_eq!(list("?need=行动不便").await.len(), 5);
    assert_eq!(list("?estate=北林小区&building=3号楼").await.len(), 105);
    assert_eq!(list("?estate=北林小区&building=3&status=").await.len(), 105, "an empty parameter means any");
    let found = list("?q=3-2-1203").await;
    assert_eq!(found.len(), 1, "a dashed address finds its flat");
    assert_eq!(found[0]["status"], "confirmed");
    let by_phone = list("?q=19908923609").await;
    assert_eq!(by_phone[0]["head"], "谢燕杰");

    let bad = session.get(&format!("/dashboard/api/compounds/{compound}/households?status=sick")).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.json()["reason"].as_str().unwrap().contains("control status"), "{}", bad.text());

    let id = found[0]["id"].as_str().unwrap();
    let detail = session.get_json(&format!("/dashboard/api/compounds/{compound}/households/{id}")).await;
    assert_eq!(detail["household"]["id"], id);
    assert_eq!(detail["tasks"], Value::Array(Vec::new()));
    assert_eq!(detail["requests"], Value::Array(Vec::new()));
    let missing = session
        .get(&format!("/dashboard/api/compounds/{compound}/households/00000000-0000-7000-8000-000000000000"))
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

/// The flat at an address on the map.
fn flat<'a>(map: &'a Value, estate: &str, building: &str, unit: &str, flat: &str) -> &'a Value {
    let building = map["buildings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["estate"] == estate && b["label"] == building)
        .unwrap_or_else(|| panic!("no building {estate} {building}"));
    building["units"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["unit"] == unit)
        .flat_map(|u| u["floors"].as_array().unwrap())
        .flat_map(|f| f["flats"].as_array().unwrap())
        .find(|f| f["flat"] == flat)
        .unwrap_or_else(|| panic!("no flat {estate} {building} {unit} {flat}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_map_colours_flats_as_the_posted_map_does() {
    let dash = Dash::start().await;
    let (compound, session) = beilin(&dash).await;
    let map = session.get_json(&format!("/dashboard/api/compounds/{compound}/map")).await;
    assert_eq!(map["buildings"].as_array().unwrap().len(), 15);
    for (estate, building, unit, number, colour) in [
        ("人和花园北院", "4", "2", "103", "red"),
        ("北林小区", "3", "2", "1203", "red"),
        ("人和花园北院", "1", "2", "403", "pink"),
        ("人和花园北院", "1", "3", "101", "brown"),
        ("北林小区", "1", "2", "1102", "green"),
        // Home quarantine outranks mobility impairment.
        ("人和花园北院", "5", "3", "601", "brown"),
        // 居家监测 (home monitoring) is yellow; it used to look unmarked.
        ("人和花园北院", "1", "1", "702", "yellow"),
        ("北林小区", "1", "1", "102", "none"),
    ] {
        let f = flat(&map, estate, building, unit, number);
        assert_eq!(f["colour"], colour, "{estate} {building}-{unit}-{number}: {f}");
    }
    assert_eq!(flat(&map, "北林小区", "1", "2", "1102")["needs"], serde_json::json!(["mobility_impaired"]));
    // Floors top first, as the building stands; every household once.
    let floors: Vec<i64> = map["buildings"][0]["units"][0]["floors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["floor"].as_i64().unwrap())
        .collect();
    assert!(floors.windows(2).all(|w| w[0] > w[1]), "{floors:?}");
    let flats: usize = map["buildings"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b["units"].as_array().unwrap())
        .flat_map(|u| u["floors"].as_array().unwrap())
        .map(|f| f["flats"].as_array().unwrap().len())
        .sum();
    assert_eq!(flats, 857);
}
