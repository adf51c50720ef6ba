//! The 参谋图's marks (a fill per control status, a mark per need tag, a legend for both) and an
//! open round's doors on it.

use std::collections::{BTreeMap, BTreeSet};

use doorstep_core::schema::need_tag::NeedTag;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::Dash;
use crate::operations::round_for_building_1;
use crate::overview::beilin;

/// Every flat of the map.
fn flats(map: &Value) -> Vec<&Value> {
    map["buildings"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b["units"].as_array().unwrap())
        .flat_map(|u| u["floors"].as_array().unwrap())
        .flat_map(|f| f["flats"].as_array().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_need_tag_and_home_monitoring_have_a_mark_in_the_legend_and_on_their_flats() {
    let dash = Dash::start().await;
    let (compound, session) = beilin(&dash).await;
    let map = session.get_json(&format!("/dashboard/api/compounds/{compound}/map")).await;

    // The legend names every need tag core knows, each with a glyph of its own in both languages.
    let needs: Vec<&str> =
        map["legend"]["needs"].as_array().unwrap().iter().map(|n| n["need"].as_str().unwrap()).collect();
    let known: Vec<&str> = NeedTag::ALL.iter().map(|t| t.as_str()).collect();
    assert_eq!(needs, known);
    for lang in ["zh", "en"] {
        let glyphs: BTreeSet<&str> = map["legend"]["needs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["glyph"][lang].as_str().unwrap())
            .collect();
        assert_eq!(glyphs.len(), 8, "eight distinct {lang} glyphs: {glyphs:?}");
    }
    let dialysis =
        map["legend"]["needs"].as_array().unwrap().iter().find(|n| n["need"] == "dialysis").unwrap();
    assert_eq!((&dialysis["glyph"]["zh"], &dialysis["label"]["zh"]), (&json!("透"), &json!("透析")));
    let fills: Vec<&str> =
        map["legend"]["fills"].as_array().unwrap().iter().map(|f| f["fill"].as_str().unwrap()).collect();
    assert_eq!(fills, ["red", "pink", "brown", "yellow", "green", "none"]);

    // Every flat carries its need tags; the ledger's counts of each tag come out of the map.
    let all = flats(&map);
    let mut by_need: BTreeMap<&str, u32> = BTreeMap::new();
    for f in &all {
        for n in f["needs"].as_array().unwrap() {
            *by_need.entry(n.as_str().unwrap()).or_default() += 1;
        }
    }
    let expected = [
        ("chemotherapy", 5),
        ("chronic_illness", 5),
        ("deaf_mute", 7),
        ("dialysis", 10),
        ("disabled", 7),
        ("elderly_alone", 18),
        ("mobility_impaired", 5),
        ("pregnant", 6),
    ];
    assert_eq!(by_need, expected.into_iter().collect::<BTreeMap<_, _>>());

    // 居家监测 households are no longer unmarked: all 23 are yellow, and nothing else is.
    let mut by_colour: BTreeMap<&str, u32> = BTreeMap::new();
    for f in &all {
        *by_colour.entry(f["colour"].as_str().unwrap()).or_default() += 1;
        assert_eq!(f["colour"] == "yellow", f["status"] == "home_monitoring", "{f}");
        assert_eq!(f["door"], Value::Null, "no round asked for, no door state");
    }
    let colours = [("brown", 59), ("green", 4), ("none", 753), ("pink", 14), ("red", 4), ("yellow", 23)];
    assert_eq!(by_colour, colours.into_iter().collect::<BTreeMap<_, _>>());
    assert_eq!(map["round"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_rounds_doors_show_on_the_map_as_delivered_attempted_or_pending() {
    let dash = Dash::start().await;
    let (compound, coordinator) = dash.small_compound().await;
    let session = dash.login(&coordinator.token).await;
    let round = round_for_building_1(&session, compound).await;
    let detail = session.get_json(&format!("/dashboard/api/compounds/{compound}/rounds/{round}")).await;
    let task_of = |flat: &str| {
        detail["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["household"]["address"]["flat"] == flat)
            .map(|t| t["task"]["id"].as_str().unwrap().to_owned())
            .unwrap()
    };
    for (flat, outcome) in [("101", "delivered"), ("201", "nobody_home"), ("201", "refused")] {
        let answer = session
            .operate(
                compound,
                &json!({"op": "record_attempt", "round": round, "task": task_of(flat), "outcome": outcome, "note": ""}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    }

    let path = format!("/dashboard/api/compounds/{compound}/map?round={round}");
    let map = session.get_json(&path).await;
    let shown = &map["round"];
    assert_eq!(shown["round"]["title"], "蔬菜包 第1轮");
    assert_eq!(
        (&shown["doors"], &shown["delivered"], &shown["attempted"], &shown["pending"]),
        (&json!(3), &json!(1), &json!(1), &json!(1))
    );
    let mut doors: BTreeMap<(String, String), Value> = BTreeMap::new();
    for b in map["buildings"].as_array().unwrap() {
        for u in b["units"].as_array().unwrap() {
            for f in u["floors"].as_array().unwrap().iter().flat_map(|f| f["flats"].as_array().unwrap()) {
                let at = (b["label"].as_str().unwrap().to_owned(), f["flat"].as_str().unwrap().to_owned());
                doors.insert(at, f["door"].clone());
            }
        }
    }
    let door = |b: &str, f: &str| doors[&(b.to_owned(), f.to_owned())].clone();
    assert_eq!(door("1", "101"), json!({"state": "delivered", "outcome": null}));
    assert_eq!(
        door("1", "201"),
        json!({"state": "attempted", "outcome": "refused"}),
        "the last knock says why"
    );
    assert_eq!(door("1", "301"), json!({"state": "pending", "outcome": null}));
    assert_eq!(door("2", "101"), Value::Null, "building 2 is not in the round");

    // A cancelled task leaves its door out of the round's count.
    let cancel = session
        .operate(
            compound,
            &json!({"op": "cancel_task", "round": round, "task": task_of("301"), "reason": "搬走了"}),
        )
        .await;
    assert_eq!(cancel.status, StatusCode::OK, "{}", cancel.text());
    let map = session.get_json(&path).await;
    assert_eq!((&map["round"]["doors"], &map["round"]["pending"]), (&json!(2), &json!(0)));

    // A household removed from the roster is not drawn, so the count leaves its door out too and
    // says so (it counted a door the map did not show).
    let household_of = |flat: &str| {
        detail["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["household"]["address"]["flat"] == flat)
            .unwrap()["household"]["id"]
            .clone()
    };
    let removed =
        session.operate(compound, &json!({"op": "remove_household", "household": household_of("201")})).await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.text());
    let map = session.get_json(&path).await;
    let shown = &map["round"];
    assert_eq!(
        (&shown["doors"], &shown["delivered"], &shown["attempted"], &shown["pending"], &shown["not_drawn"]),
        (&json!(1), &json!(1), &json!(0), &json!(0), &json!(1)),
        "{shown}"
    );
    let drawn = map["buildings"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b["units"].as_array().unwrap())
        .flat_map(|u| u["floors"].as_array().unwrap())
        .flat_map(|f| f["flats"].as_array().unwrap())
        .filter(|f| !f["door"].is_null())
        .count();
    assert_eq!(json!(drawn), shown["doors"], "the count is of the doors drawn");

    // Bad and unknown rounds are refused with a reason; a closed round is not on the map.
    let bad = session.get(&format!("/dashboard/api/compounds/{compound}/map?round=not-a-round")).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.text());
    assert!(bad.json()["reason"].as_str().unwrap().contains("不是轮次编号"), "{}", bad.text());
    let unknown = session
        .get(&format!("/dashboard/api/compounds/{compound}/map?round=00000000-0000-7000-8000-000000000000"))
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.text());
    assert!(unknown.json()["reason"].as_str().unwrap().contains("进行中的轮次"), "{}", unknown.text());
    let close = session.operate(compound, &json!({"op": "close_round", "round": round})).await;
    assert_eq!(close.status, StatusCode::OK, "{}", close.text());
    assert_eq!(session.get(&path).await.status, StatusCode::NOT_FOUND, "a closed round is not on the map");
}
