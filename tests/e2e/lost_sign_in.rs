//! A relay that no longer knows a phone's sign-in (restored from a backup older than the join, or
//! a new database at the same address) answers its syncs 401 `unauthorized`. The phone says to
//! join again with a new invite code, and that join goes ahead although work is unsynced: the
//! earlier person's unsynced work is set aside and reaches the coordinators' review inbox,
//! rather than the two messages ("join again" / "sync first") sending the volunteer in a circle.
//! Work the relay had acknowledged before it was restored (its journal entries gone with that
//! sync) comes back with its operation read from the document, for a coordinator to apply.

use std::path::Path;

use serde_json::{Value, json};

use crate::harness::{Phone, Relay, sample};

/// Copies the relay's SQLite file and its WAL (if any) from `from` to `to`.
fn copy_db(from: &Path, to: &Path) {
    std::fs::copy(from, to).unwrap();
    for suffix in ["-wal", "-shm"] {
        let (side, target) = (format!("{}{suffix}", from.display()), format!("{}{suffix}", to.display()));
        let _ = std::fs::remove_file(&target);
        if Path::new(&side).exists() {
            std::fs::copy(&side, &target).unwrap();
        }
    }
}

#[test]
fn a_phone_the_restored_relay_no_longer_knows_joins_again_and_its_unsynced_work_reaches_review() {
    let dir = tempfile::tempdir().unwrap();
    let mut relay = Relay::start(dir.path());
    let compound = relay.compound_from("北林", &sample("beilin-roster.csv"));
    let coordinator = Phone::new(dir.path(), "coordinator");
    coordinator.join_as(&relay, "王芳", &relay.invite(&compound, "coordinator"));

    // The relay's backup, taken before the volunteer joined.
    let backup = dir.path().join("backup.db");
    relay.kill9();
    copy_db(&relay.db, &backup);
    relay.restart();

    let volunteer = Phone::new(dir.path(), "volunteer");
    volunteer.join_as(&relay, "李强", &relay.invite(&compound, "volunteer"));
    volunteer.ok(&["notes", "北林小区1号楼1单元101", "独居老人，敲门要大声"]);

    // The relay is restored from the backup: it never heard of this phone.
    relay.kill9();
    copy_db(&backup, &relay.db);
    relay.restart();

    let (ok, out, err) = volunteer.text(&["sync"]);
    assert!(!ok, "{out}{err}");
    let said = format!("{out}{err}");
    assert!(said.contains("join again with a new invite code"), "{said}");
    assert!(said.contains("not lost"), "the work is not given up: {said}");

    // Joining again with a new code goes ahead (not "sync first"), and the earlier sign-in's
    // unsynced note goes to the coordinators' review inbox in the join's sync.
    let joined = volunteer
        .run(&["join", "--relay", &relay.url, "--name", "李强", &relay.invite(&compound, "volunteer")])
        .unwrap_or_else(|e| panic!("the join after a lost sign-in is refused: {e}"));
    assert_eq!(joined["sync"]["set_aside_sent"], 1, "{joined}");
    let status = volunteer.ok(&["status"]);
    assert_eq!(status["unsynced"], 0, "{status}");
    assert_eq!(status["set_aside"], 1, "{status}");
    let kept = volunteer.ok(&["quarantine"]);
    assert_eq!(kept[0]["rule"], doorstep_replica::SIGN_IN_LOST, "{kept}");
    assert_eq!(kept[0]["review_state"], "under_review", "{kept}");
    // Kept and exportable on the phone as well.
    let export = dir.path().join("export.json");
    volunteer.ok(&["quarantine", "--export", export.to_str().unwrap()]);
    assert!(std::fs::read_to_string(&export).unwrap().contains(kept[0]["hash"].as_str().unwrap()));

    let inbox = crate::set_aside_inbox::dashboard_get(
        &relay,
        &coordinator,
        &format!("/dashboard/api/compounds/{compound}/set-aside"),
    );
    assert_eq!(inbox.status, 200, "{}", inbox.body);
    let items: Vec<Value> = serde_json::from_str(&inbox.body).unwrap();
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["state"], "pending", "{items:?}");
    assert!(items[0]["address"].as_str().unwrap().contains("1单元101"), "{items:?}");
    assert!(items[0]["operation"].to_string().contains("独居老人"), "{items:?}");
    assert!(items[0]["reason"].as_str().unwrap().contains("李强"), "who made it: {items:?}");

    // The phone works on as the person who joined: a new note syncs.
    volunteer.ok(&["notes", "北林小区1号楼1单元102", "透析，周二周五"]);
    let after = volunteer.sync();
    assert_eq!(after["unsynced"], 0, "{after}");
    coordinator.sync();
    assert_eq!(coordinator.ok(&["find", "北林小区1号楼1单元102"])["notes"], "透析，周二周五");
}

#[test]
fn deliveries_the_relay_acknowledged_before_its_restore_come_back_for_the_coordinator_to_apply() {
    let dir = tempfile::tempdir().unwrap();
    let (mut relay, compound, coordinator) = Relay::with_vegetable_round(dir.path());
    let backup = dir.path().join("backup.db");
    relay.kill9();
    copy_db(&relay.db, &backup);
    relay.restart();

    // 孙丽 joins after the backup, delivers to two doors and syncs: the relay acknowledged both.
    let volunteer = Phone::new(dir.path(), "volunteer");
    volunteer.join_as(&relay, "孙丽", &relay.invite(&compound, "volunteer"));
    let tasks: Vec<String> = volunteer
        .doors(true)
        .iter()
        .flat_map(|d| d["tasks"].as_array().cloned().unwrap_or_default())
        .filter_map(|t| t["id"].as_str().map(str::to_owned))
        .take(2)
        .collect();
    assert_eq!(tasks.len(), 2, "two doors of the round");
    for task in &tasks {
        volunteer.ok(&["attempt", task, "delivered", "--note", "放在门口"]);
    }
    assert_eq!(volunteer.sync()["unsynced"], 0);

    // The relay is restored from the backup: it never heard of 孙丽 or her deliveries.
    relay.kill9();
    copy_db(&backup, &relay.db);
    relay.restart();
    let (ok, out, err) = volunteer.text(&["sync"]);
    assert!(!ok, "{out}{err}");
    volunteer.ok(&["join", "--relay", &relay.url, "--name", "孙丽", &relay.invite(&compound, "volunteer")]);
    volunteer.sync();

    // Both deliveries reach the inbox with the operation behind each, read from the document.
    let cookie = crate::set_aside_inbox::dashboard_cookie(&relay, &coordinator);
    let path = format!("/dashboard/api/compounds/{compound}/set-aside");
    let inbox = crate::raw_http::request(&relay.url, "GET", &path, Some(&cookie), None);
    assert_eq!(inbox.status, 200, "{}", inbox.body);
    let items: Vec<Value> = serde_json::from_str(&inbox.body).unwrap();
    assert_eq!(items.len(), 2, "{items:?}");
    for item in &items {
        assert_eq!(item["person_name"], "孙丽", "{item}");
        assert_eq!(item["operation"]["op"], "record_attempt", "{item}");
        assert_eq!(item["operation"]["outcome"], "delivered", "{item}");
        assert_eq!(item["operation"]["note"], "放在门口", "{item}");
        let applied = crate::raw_http::request(
            &relay.url,
            "POST",
            &format!("{path}/{}/apply", item["id"]),
            Some(&cookie),
            Some(&json!({}).to_string()),
        );
        assert_eq!(applied.status, 200, "{}", applied.body);
    }

    // Applied, they are 孙丽's deliveries again on every phone.
    coordinator.sync();
    let rounds = coordinator.ok(&["rounds"]);
    let delivered: Vec<Value> = rounds
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["tasks"].as_array().unwrap().clone())
        .filter(|t| tasks.iter().any(|id| t["task"]["id"] == id.as_str()))
        .flat_map(|t| t["task"]["attempts"].as_array().unwrap().clone())
        .collect();
    assert_eq!(delivered.len(), 2, "{delivered:?}");
    for attempt in &delivered {
        assert_eq!(attempt["outcome"], "delivered", "{attempt}");
        assert_eq!(attempt["knocked_by"], items[0]["person"], "credited to 孙丽: {attempt}");
        assert_eq!(attempt["note"], "放在门口", "{attempt}");
    }
}
