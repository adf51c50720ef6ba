//! A change the relay refuses never blocks the rest of a phone's queue: it leaves the document,
//! waits in the phone's quarantine where the volunteer can see and export it, and everything
//! else syncs.

use serde_json::json;

use crate::harness::{Phone, Relay, sample};

#[test]
fn an_attempt_on_a_round_closed_meanwhile_goes_to_quarantine_and_the_rest_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(dir.path());
    let compound = relay.compound_from("北林", &sample("beilin-roster.csv"));
    let coordinator = Phone::new(dir.path(), "coordinator");
    coordinator.join(&relay, &relay.invite(&compound, "coordinator"));
    let round = json!({
        "op": "create_round", "title": "透析接送", "kind": "visit", "date": "2026-11-23",
        "selection": {"by": "need", "need": "dialysis"}, "items": "接送", "priority": "urgent"
    });
    let created = coordinator.ok(&["op", &round.to_string()]);
    let round_id = created["created"][0].as_str().unwrap().to_owned();
    coordinator.sync();

    let volunteer = Phone::new(dir.path(), "volunteer");
    volunteer.join(&relay, &relay.invite(&compound, "volunteer"));
    let task = volunteer.doors(true)[0]["tasks"][0]["id"].as_str().unwrap().to_owned();

    // The volunteer works offline while the coordinator closes the round.
    volunteer.ok(&["attempt", &task, "delivered", "--note", "已接送"]);
    volunteer.ok(&["request", "北林小区1号楼1单元102", "想要一袋大米"]);
    coordinator.ok(&["op", &json!({"op": "close_round", "round": round_id}).to_string()]);
    coordinator.sync();

    let report = volunteer.sync();
    assert_eq!(report["unsynced"], 0, "the request went up; the withheld attempt left the queue: {report}");
    assert!(
        report["report"]["dropped"].as_array().unwrap().iter().any(|d| d == round_id.as_str()),
        "the closed round leaves the phone: {report}"
    );

    let quarantine = volunteer.ok(&["quarantine"]);
    let entries = quarantine.as_array().unwrap();
    assert_eq!(entries.len(), 1, "the offline attempt is kept, not lost with the round: {quarantine}");
    assert_eq!(entries[0]["rule"], "document_withdrawn");
    assert_eq!(entries[0]["document"], round_id.as_str());
    let export = dir.path().join("refused.json");
    volunteer.ok(&["quarantine", "--export", export.to_str().unwrap()]);
    let exported: serde_json::Value = serde_json::from_slice(&std::fs::read(&export).unwrap()).unwrap();
    assert!(exported[0]["bytes_hex"].as_str().unwrap().len() > 20, "the change itself is exported");

    // The next sync is clean: nothing is offered again.
    let again = volunteer.sync();
    assert!(again["report"]["rejected"].as_array().unwrap().is_empty(), "{again}");
    coordinator.sync();
    let texts: Vec<String> = coordinator
        .ok(&["requests"])
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(texts, ["想要一袋大米"]);
}

#[test]
fn a_modified_phone_s_forbidden_edit_is_refused_by_the_relay_and_quarantined() {
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(dir.path());
    let compound = relay.compound_from("北林", &sample("beilin-roster.csv"));
    let volunteer = Phone::new(dir.path(), "volunteer");
    volunteer.join(&relay, &relay.invite(&compound, "volunteer"));

    // Someone edits the phone's file to claim the coordinator role, then uses it offline.
    let conn = rusqlite::Connection::open(&volunteer.db).unwrap();
    conn.execute("UPDATE roles SET role = 'coordinator'", []).unwrap();
    drop(conn);
    let household = volunteer.ok(&["find", "北林小区1号楼1单元102"])["id"].as_str().unwrap().to_owned();
    let op = json!({"op": "set_control_status", "household": household, "status": "confirmed"});
    volunteer.ok(&["op", &op.to_string()]);
    volunteer.ok(&["notes", "北林小区1号楼1单元102", "老人腿脚不便,送到门口"]);

    let report = volunteer.sync();
    let rejected = report["report"]["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 1, "{report}");
    assert_eq!(rejected[0]["rule"], "roster_is_edited_by_coordinators", "{report}");
    assert_eq!(report["unsynced"], 0, "the refused edit left the queue: {report}");
    assert_eq!(
        volunteer.ok(&["status"])["compounds"][0]["role"],
        "volunteer",
        "the relay's word on the role wins"
    );
    let quarantine = volunteer.ok(&["quarantine"]);
    // The notes edit was made after the refused change and builds on it in Automerge's history,
    // so it cannot go up without it: it waits in quarantine too, visible and exportable.
    assert_eq!(quarantine.as_array().unwrap().len(), 2, "{quarantine}");
    assert_eq!(
        volunteer.ok(&["find", "北林小区1号楼1单元102"])["status"],
        "normal",
        "the refused edit is undone locally"
    );

    // A coordinator sees the roster untouched by the forbidden edit.
    let coordinator = Phone::new(dir.path(), "coordinator");
    coordinator.join(&relay, &relay.invite(&compound, "coordinator"));
    let seen = coordinator.ok(&["find", "北林小区1号楼1单元102"]);
    assert_eq!(seen["status"], "normal");
    let again = volunteer.sync();
    assert!(again["report"]["rejected"].as_array().unwrap().is_empty(), "not offered again: {again}");
}
