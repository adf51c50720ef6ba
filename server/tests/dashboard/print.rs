//! The printable delivery sheet.

use doorstep_core::schema::utc_offset::UtcOffset;
use doorstep_core::{Role, Timestamp};
use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{Dash, now};
use crate::operations::round_for_building_1;
use crate::overview::beilin;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sheet_lists_the_buildings_doors_with_boxes_to_tick() {
    let dash = Dash::start().await;
    let (compound, coordinator) = dash.small_compound().await;
    let volunteer = dash.relay.phone(compound, Role::Volunteer, "李强").await;
    let session = dash.login(&coordinator.token).await;
    let round = round_for_building_1(&session, compound).await;
    let assign = session
        .operate(
            compound,
            &serde_json::json!({"op": "assign_building", "round": round, "estate": "", "building": "1", "volunteer": volunteer.person}),
        )
        .await;
    assert_eq!(assign.status, StatusCode::OK);

    let path = format!("/dashboard/api/compounds/{compound}/print/rounds/{round}?building=1号楼");
    let sheet = session.get(&path).await;
    assert_eq!(sheet.status, StatusCode::OK, "{}", sheet.text());
    assert_eq!(sheet.header("content-type"), "text/html; charset=utf-8");
    let policy = sheet.header("content-security-policy");
    assert!(
        policy.starts_with("default-src 'none'") && policy.contains("frame-ancestors 'self'"),
        "{policy}"
    );
    let html = sheet.text();
    for expected in [
        "蔬菜包 第1轮",
        "Delivery sheet",
        "1号楼",
        "李强",
        "已送达",
        "无人",
        "拒收",
        "@media print",
        "1单元 101",
        "管建强",
        "19901919478",
        "1单元 201",
        "任强",
        "独居老人",
        "1单元 301",
        "温秀红",
        "蔬菜包 ×1",
    ] {
        assert!(html.contains(expected), "{expected} missing from the sheet");
    }
    assert!(!html.contains("柴菊凤"), "building 2's households are not on building 1's sheet");
    assert_eq!(html.matches("<tr><td>").count(), 3);
    assert!(!html.contains('☑'), "nothing recorded yet, nothing ticked");

    // What volunteers recorded is ticked in its own column: nobody home is not a blank box.
    let detail = session.get_json(&format!("/dashboard/api/compounds/{compound}/rounds/{round}")).await;
    let task = detail["tasks"][0]["task"]["id"].as_str().unwrap();
    let knocked = session
        .operate(
            compound,
            &serde_json::json!({"op": "record_attempt", "round": round, "task": task, "outcome": "nobody_home", "note": ""}),
        )
        .await;
    assert_eq!(knocked.status, StatusCode::OK, "{}", knocked.text());
    let html = session.get(&path).await.text();
    assert_eq!(html.matches('☑').count(), 1, "{html}");
    assert!(
        html.contains("<td class=\"box\">☐</td><td class=\"box\">☑</td><td class=\"box\">☐</td>"),
        "{html}"
    );

    let none =
        session.get(&format!("/dashboard/api/compounds/{compound}/print/rounds/{round}?building=2")).await;
    assert_eq!(none.status, StatusCode::NOT_FOUND, "round 1 has no tasks in building 2");

    // Every task cancelled: the round's sheet opens and says there is nothing to deliver.
    let detail = session.get_json(&format!("/dashboard/api/compounds/{compound}/rounds/{round}")).await;
    for task in detail["tasks"].as_array().unwrap() {
        let id = task["task"]["id"].as_str().unwrap();
        let cancel =
            serde_json::json!({"op": "cancel_task", "round": round, "task": id, "reason": "住户已转移"});
        let cancelled = session.operate(compound, &cancel).await;
        assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.text());
    }
    let empty = session.get(&format!("/dashboard/api/compounds/{compound}/print/rounds/{round}")).await;
    assert_eq!(empty.status, StatusCode::OK, "{}", empty.text());
    let html = empty.text();
    assert!(html.contains("这一轮没有要送的户") && html.contains("Nothing to deliver"), "{html}");
    assert_eq!(html.matches("<tr><td>").count(), 0, "{html}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_building_gets_its_own_page_and_names_are_escaped() {
    let dash = Dash::start().await;
    let (compound, session) = beilin(&dash).await;
    let created = session
        .operate(
            compound,
            &serde_json::json!({
                "op": "create_round", "title": "<药品> & 核酸", "kind": "medicine", "date": "2026-11-24",
                "selection": {"by": "need", "need": "elderly_alone"}, "items": "降压药", "priority": "high"
            }),
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.text());
    let round = created.json()["created"][0].as_str().unwrap().to_owned();
    let html = session.get(&format!("/dashboard/api/compounds/{compound}/print/rounds/{round}")).await.text();
    assert!(html.contains("&lt;药品&gt; &amp; 核酸"), "the title is escaped");
    assert!(!html.contains("<药品>"));
    let sections = html.matches("<section>").count();
    assert!(sections > 1, "one page per building with elderly residents living alone, got {sections}");
    let estate = session
        .get(&format!("/dashboard/api/compounds/{compound}/print/rounds/{round}?estate=北林小区&building=3"))
        .await;
    assert_eq!(estate.status, StatusCode::OK, "{}", estate.text());
    assert_eq!(estate.text().matches("<section>").count(), 1);
}

/// The wall-clock minutes at `offset` from `from` to `to`, as the sheet writes them.
fn minutes_between(offset: UtcOffset, from: Timestamp, to: Timestamp) -> Vec<String> {
    let mut out = Vec::new();
    let mut at = from.as_millis() - from.as_millis().rem_euclid(60_000);
    while at <= to.as_millis() {
        out.push(offset.local_time(Timestamp::from_millis(at)));
        at += 60_000;
    }
    out
}

/// Fetches the sheet and returns its 打印时间, checking it is written in `offset`.
async fn printed_in(session: &crate::harness::Session, path: &str, offset: UtcOffset) -> String {
    let before = now();
    let html = session.get(path).await.text();
    let after = now();
    let label = "<small>Printed</small> ";
    let start = html.find(label).unwrap_or_else(|| panic!("no printed time in {html}")) + label.len();
    let printed: String = html[start..].chars().take_while(|c| *c != '<').collect();
    let expected: Vec<String> = minutes_between(offset, before, after)
        .into_iter()
        .map(|t| format!("{t} ({})", offset.label()))
        .collect();
    assert!(expected.contains(&printed), "printed {printed:?}, expected one of {expected:?}");
    printed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sheet_tells_time_in_the_compounds_time_zone() {
    let dash = Dash::start().await;
    let (compound, coordinator) = dash.small_compound().await;
    let session = dash.login(&coordinator.token).await;
    let round = round_for_building_1(&session, compound).await;
    let path = format!("/dashboard/api/compounds/{compound}/print/rounds/{round}?building=1号楼");
    let zone = format!("/dashboard/api/compounds/{compound}/time-zone");

    assert_eq!(session.get_json(&zone).await, json!({ "minutes": 480, "label": "UTC+8" }));
    let china = printed_in(&session, &path, UtcOffset::CHINA).await;

    // A coordinator sets UTC−5: the same sheet now reads 13 hours earlier, and says so.
    let set = session.operate(compound, &json!({ "op": "set_utc_offset", "minutes": -300 })).await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.text());
    assert_eq!(session.get_json(&zone).await, json!({ "minutes": -300, "label": "UTC-5" }));
    let west = printed_in(&session, &path, UtcOffset::from_minutes(-300).unwrap()).await;
    assert_ne!(china[..16], west[..16], "the printed time moved with the time zone");

    // An offset no place uses is refused with a reason in both languages; nothing changes.
    let bad = session.operate(compound, &json!({ "op": "set_utc_offset", "minutes": 481 })).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.text());
    assert!(bad.text().contains("整刻钟") && bad.text().contains("quarter hours"), "{}", bad.text());
    assert_eq!(session.get_json(&zone).await["minutes"], -300);

    // A volunteer's phone may not change it: core's rule (the relay checks it again on arrival;
    // see core/tests/validate.rs).
    let mut volunteer = dash.relay.phone(compound, Role::Volunteer, "李强").await;
    volunteer.sync(&dash.relay).await;
    let refused = volunteer.apply(&doorstep_core::Operation::SetUtcOffset { minutes: 0 });
    assert!(matches!(refused, Err(doorstep_core::OperationError::Forbidden { .. })), "{refused:?}");
}
