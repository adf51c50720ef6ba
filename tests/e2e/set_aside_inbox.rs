//! Set-aside work reaches the coordinators: a volunteer's operations the relay refused for good
//! (here, roster edits from a phone whose file was edited to claim the coordinator role) go up to the review inbox with the sync; a coordinator applies one as their own operation and
//! dismisses another with a reason on the dashboard; the volunteer's phone shows both outcomes,
//! and says "under review" only while something waits.

use serde_json::{Value, json};

use crate::harness::{Phone, Relay, sample};
use crate::raw_http::request;

/// The device token a command-line phone keeps in its (encrypted) file.
pub fn phone_token(db: &std::path::Path) -> String {
    let mut key_path = db.as_os_str().to_owned();
    key_path.push(".key");
    let key =
        doorstep_replica::ReplicaKey::from_hex(std::fs::read_to_string(&key_path).unwrap().trim()).unwrap();
    doorstep_replica::Replica::open_encrypted(db, &key).unwrap().remembered_relay().unwrap().unwrap().1
}

pub fn dashboard_cookie(relay: &Relay, phone: &Phone) -> String {
    let token = phone_token(&phone.db);
    let login =
        request(&relay.url, "POST", "/dashboard/login", None, Some(&json!({ "token": token }).to_string()));
    assert_eq!(login.status, 200, "{}", login.body);
    login.session_cookie().expect("a session cookie")
}

/// `GET path` of the dashboard's API, signed in as `phone`'s person.
pub fn dashboard_get(relay: &Relay, phone: &Phone, path: &str) -> crate::raw_http::Response {
    let cookie = dashboard_cookie(relay, phone);
    request(&relay.url, "GET", path, Some(&cookie), None)
}

#[test]
fn a_coordinator_applies_one_set_aside_operation_and_dismisses_another_and_the_volunteer_sees_both() {
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(dir.path());
    let compound = relay.compound_from("北林", &sample("beilin-roster.csv"));
    let coordinator = Phone::new(dir.path(), "coordinator");
    coordinator.join_as(&relay, "王芳", &relay.invite(&compound, "coordinator"));
    let volunteer = Phone::new(dir.path(), "volunteer");
    volunteer.ok(&["join", "--relay", &relay.url, "--name", "李强", &relay.invite(&compound, "volunteer")]);

    // 1. A forbidden edit: someone edits the phone's file to claim the coordinator role and marks
    // a household confirmed; the relay refuses it for good.
    let conn = rusqlite::Connection::open(&volunteer.db).unwrap();
    conn.execute("UPDATE roles SET role = 'coordinator'", []).unwrap();
    drop(conn);
    let household = volunteer.ok(&["find", "北林小区1号楼1单元102"])["id"].as_str().unwrap().to_owned();
    let forbidden = json!({"op": "set_control_status", "household": household, "status": "confirmed"});
    volunteer.ok(&["op", &forbidden.to_string()]);
    let report = volunteer.sync();
    assert_eq!(report["report"]["set_aside"], 1, "{report}");
    assert_eq!(report["report"]["set_aside_sent"], 1, "sent for review in the same sync: {report}");
    let status = volunteer.ok(&["status"]);
    assert_eq!(status["set_aside"], 1);
    let standing = status["standing"].as_str().unwrap();
    assert!(standing.contains("1 set aside, under review / 1 项待协调员处理"), "{standing}");
    assert!(!standing.contains("all synced"), "{standing}");
    let listed = volunteer.ok(&["quarantine"]);
    assert_eq!(listed[0]["review_state"], "under_review", "{listed}");

    // 2. Another forbidden edit, after the relay put the phone's role right again: refused too.
    let conn = rusqlite::Connection::open(&volunteer.db).unwrap();
    conn.execute("UPDATE roles SET role = 'coordinator'", []).unwrap();
    drop(conn);
    let neighbour = volunteer.ok(&["find", "北林小区1号楼1单元101"])["id"].as_str().unwrap().to_owned();
    let second = json!({"op": "set_control_status", "household": neighbour, "status": "home_quarantine"});
    volunteer.ok(&["op", &second.to_string()]);
    let report = volunteer.sync();
    assert_eq!(report["report"]["set_aside"], 1, "{report}");
    assert_eq!(report["report"]["set_aside_sent"], 1, "{report}");
    assert_eq!(volunteer.ok(&["status"])["set_aside"], 2);

    // The raw changes can still be exported for a coordinator.
    let export = dir.path().join("refused.json");
    volunteer.ok(&["quarantine", "--export", export.to_str().unwrap()]);
    let exported: Value = serde_json::from_slice(&std::fs::read(&export).unwrap()).unwrap();
    assert_eq!(exported.as_array().unwrap().len(), 2, "{exported}");
    assert!(exported[0]["bytes_hex"].as_str().unwrap().len() > 20, "the change itself is exported");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&export).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "residents' words are readable by the phone's owner only");
    }

    // Sent once: another sync sends nothing new and learns nothing yet.
    let again = volunteer.sync();
    assert_eq!(again["report"]["set_aside_sent"], 0, "{again}");
    assert_eq!(again["report"]["set_aside_decided"], 0, "{again}");

    // 3. The coordinator's inbox shows both: who, which door, what, when, why.
    let cookie = dashboard_cookie(&relay, &coordinator);
    let path = format!("/dashboard/api/compounds/{compound}/set-aside");
    let inbox = request(&relay.url, "GET", &path, Some(&cookie), None);
    assert_eq!(inbox.status, 200, "{}", inbox.body);
    let items: Vec<Value> = serde_json::from_str(&inbox.body).unwrap();
    assert_eq!(items.len(), 2, "each item once, however often the phone synced: {items:?}");
    assert!(items.iter().all(|i| i["state"] == "pending" && i["person_name"] == "李强"), "{items:?}");
    let edit = items.iter().find(|i| i["operation"] == forbidden).expect("the first forbidden edit");
    let knock = items.iter().find(|i| i["operation"] == second).expect("the second forbidden edit");
    assert_eq!(edit["operation"], forbidden, "the operation, readable");
    assert!(edit["address"].as_str().unwrap().contains("1单元102"), "{edit}");
    assert_eq!(edit["rule"], "roster_is_edited_by_coordinators", "{edit}");
    assert!(edit["made_at"].as_i64().unwrap() > 0);
    assert!(knock["address"].as_str().unwrap().contains("1单元101"), "{knock}");
    assert!(knock["reason"].as_str().unwrap().contains("only coordinators edit the roster"), "{knock}");

    // 4. Apply the edit as the coordinator's own; dismiss the attempt with a reason.
    let applied =
        request(&relay.url, "POST", &format!("{path}/{}/apply", edit["id"]), Some(&cookie), Some("{}"));
    assert_eq!(applied.status, 200, "{}", applied.body);
    let twice =
        request(&relay.url, "POST", &format!("{path}/{}/apply", edit["id"]), Some(&cookie), Some("{}"));
    assert_eq!(twice.status, 409, "applied once: {}", twice.body);
    let reason = "已核实，该户未隔离 / checked: this household is not in quarantine";
    let dismissed = request(
        &relay.url,
        "POST",
        &format!("{path}/{}/dismiss", knock["id"]),
        Some(&cookie),
        Some(&json!({ "reason": reason }).to_string()),
    );
    assert_eq!(dismissed.status, 200, "{}", dismissed.body);
    coordinator.sync();
    assert_eq!(
        coordinator.ok(&["find", "北林小区1号楼1单元102"])["status"],
        "confirmed",
        "the applied operation reached the coordinator's phone"
    );

    // 5. The volunteer's next sync brings both outcomes; nothing is under review any more.
    let report = volunteer.sync();
    assert_eq!(report["report"]["set_aside_decided"], 2, "{report}");
    assert_eq!(volunteer.ok(&["find", "北林小区1号楼1单元102"])["status"], "confirmed");
    assert_eq!(
        volunteer.ok(&["find", "北林小区1号楼1单元101"])["status"],
        "normal",
        "the dismissed edit stays undone"
    );
    let listed = volunteer.ok(&["quarantine"]);
    let entries = listed.as_array().unwrap();
    assert_eq!(entries.len(), 2, "{listed}");
    let by_state = |state: &str| entries.iter().find(|e| e["review_state"] == state).cloned().unwrap();
    let applied = by_state("applied");
    assert_eq!(applied["reviewed_by_name"], "王芳", "{applied}");
    assert!(applied["operation"].as_str().unwrap().contains("set_control_status"));
    let dismissed = by_state("dismissed");
    assert_eq!(dismissed["reviewed_by_name"], "王芳", "{dismissed}");
    assert_eq!(dismissed["review_note"], reason, "{dismissed}");
    assert!(dismissed["reviewed_at"].as_i64().unwrap() > 0);
    let status = volunteer.ok(&["status"]);
    assert_eq!(status["set_aside"], 0, "{status}");
    assert!(status["standing"].as_str().unwrap().contains("all synced"), "{status}");
    let plain = std::process::Command::new(crate::harness::doorstep())
        .args(["phone", "--db"])
        .arg(&volunteer.db)
        .arg("quarantine")
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    let plain = String::from_utf8_lossy(&plain.stdout);
    assert!(plain.contains("applied by 王芳 / 已由 王芳 采用"), "{plain}");
    assert!(plain.contains(&format!("dismissed by 王芳: {reason}")), "{plain}");
}

/// A round a coordinator created offline, removed from the compound before she synced, is one
/// item in her phone's list and in the inbox, not one per change it made (a new round's
/// document is made of its header and its contents): applying it makes one round, not two
/// with every door delivered twice.
#[test]
fn a_round_created_offline_by_a_removed_coordinator_is_one_item_and_applying_it_makes_one_round() {
    let dir = tempfile::tempdir().unwrap();
    let (relay, compound, coordinator) = Relay::with_vegetable_round(dir.path());
    let removed = Phone::new(dir.path(), "removed");
    removed.join_as(&relay, "陈静", &relay.invite(&compound, "coordinator"));
    let person = removed.ok(&["status"])["person"].as_str().unwrap().to_owned();
    let round = json!({
        "op": "create_round", "title": "CJ offline round", "kind": "groceries", "date": "2026-12-07",
        "selection": {"by": "building", "estate": "香樟苑", "building": "2"}, "items": "米",
        "priority": "normal"
    });
    removed.ok(&["op", &round.to_string()]);
    relay.admin(&["revoke", "--person", &person, "--compound", &compound]);
    let report = removed.sync();
    assert_eq!(report["report"]["set_aside"], 1, "one operation, one item: {report}");
    assert_eq!(report["report"]["set_aside_sent"], 1, "{report}");
    assert_eq!(removed.ok(&["quarantine"]).as_array().unwrap().len(), 1);

    let cookie = dashboard_cookie(&relay, &coordinator);
    let path = format!("/dashboard/api/compounds/{compound}/set-aside");
    let inbox = request(&relay.url, "GET", &path, Some(&cookie), None);
    let items: Vec<Value> = serde_json::from_str(&inbox.body).unwrap();
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["operation"], round, "{items:?}");
    let applied =
        request(&relay.url, "POST", &format!("{path}/{}/apply", items[0]["id"]), Some(&cookie), Some("{}"));
    assert_eq!(applied.status, 200, "{}", applied.body);
    coordinator.sync();
    let rounds = coordinator.ok(&["rounds"]);
    let titles: Vec<&str> =
        rounds.as_array().unwrap().iter().filter_map(|r| r["round"]["title"].as_str()).collect();
    assert_eq!(titles.iter().filter(|t| **t == "CJ offline round").count(), 1, "{titles:?}");
}
