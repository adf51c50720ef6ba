//! A phone restored from an old copy of its replica file (a backup, a cloned phone) writes
//! under the same Automerge actor as changes the relay already holds: its next changes reuse
//! sequence numbers. The replica notices and carries on under a new actor: nothing is refused
//! or set aside, and both the work made before the restore and the work made after it reach
//! the coordinator.

use std::path::Path;

use crate::harness::{Phone, Relay, sample};

/// Copies a replica file (with its WAL, if any) to `to`.
fn copy_replica(from: &Path, to: &Path) {
    std::fs::copy(from, to).unwrap();
    for suffix in ["-wal", "-shm"] {
        let side = format!("{}{suffix}", from.display());
        let target = format!("{}{suffix}", to.display());
        let _ = std::fs::remove_file(&target);
        if Path::new(&side).exists() {
            std::fs::copy(&side, &target).unwrap();
        }
    }
}

#[test]
fn a_phone_restored_from_an_old_file_keeps_working_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(dir.path());
    let compound = relay.compound_from("北林", &sample("beilin-roster.csv"));
    let volunteer = Phone::new(dir.path(), "volunteer");
    volunteer.join(&relay, &relay.invite(&compound, "volunteer"));
    let backup = dir.path().join("backup.sqlite");
    copy_replica(&volunteer.db, &backup);

    // Work after the backup, synced: the relay holds it under the device's actor.
    volunteer.ok(&["notes", "北林小区1号楼1单元101", "备份之后：需要轮椅"]);
    let first = volunteer.sync();
    assert_eq!(first["unsynced"], 0, "{first}");

    // The phone is restored from the backup and the volunteer goes on working.
    copy_replica(&backup, &volunteer.db);
    volunteer.ok(&["notes", "北林小区1号楼1单元102", "恢复之后：独居老人"]);
    volunteer.ok(&["notes", "北林小区1号楼1单元103", "恢复之后：透析，周二周五"]);
    let after = volunteer.sync();
    assert_eq!(after["unsynced"], 0, "{after}");
    assert_eq!(after["set_aside"], 0, "{after}");
    assert_eq!(after["report"]["rejected"], serde_json::json!([]), "nothing refused: {after}");
    assert_eq!(after["report"]["failed"], serde_json::json!([]), "{after}");
    assert_eq!(after["report"]["reapplied"], 2, "both notes written again under a new actor: {after}");
    // The refusal of the old actor's sequence numbers, then the two notes under the new actor in
    // the next request (3 requests before: the next message only announced heads).
    assert_eq!(after["report"]["requests"], 2, "{after}");
    let again = volunteer.sync();
    assert_eq!(again["unsynced"], 0, "{again}");

    let coordinator = Phone::new(dir.path(), "coordinator");
    coordinator.join(&relay, &relay.invite(&compound, "coordinator"));
    assert_eq!(coordinator.ok(&["find", "北林小区1号楼1单元101"])["notes"], "备份之后：需要轮椅");
    assert_eq!(coordinator.ok(&["find", "北林小区1号楼1单元102"])["notes"], "恢复之后：独居老人");
    assert_eq!(coordinator.ok(&["find", "北林小区1号楼1单元103"])["notes"], "恢复之后：透析，周二周五");
    // The restored phone has both too.
    assert_eq!(volunteer.ok(&["find", "北林小区1号楼1单元101"])["notes"], "备份之后：需要轮椅");
    assert_eq!(volunteer.ok(&["find", "北林小区1号楼1单元102"])["notes"], "恢复之后：独居老人");
}

/// Every attempt on the coordinator's rounds, as (task, outcome).
fn attempts(coordinator: &Phone) -> Vec<(String, String)> {
    let rounds = coordinator.ok(&["rounds"]);
    let tasks = rounds.as_array().unwrap().iter().flat_map(|r| r["tasks"].as_array().unwrap().clone());
    tasks
        .flat_map(|t| {
            let task = t["task"]["id"].as_str().unwrap().to_owned();
            let attempts = t["task"]["attempts"].as_array().unwrap().clone();
            attempts.into_iter().map(move |a| (task.clone(), a["outcome"].as_str().unwrap().to_owned()))
        })
        .collect()
}

/// What a sync after the restore must show: nothing refused, set aside or left over.
fn nothing_refused_or_set_aside(phone: &Phone, sync: &serde_json::Value) {
    assert_eq!(sync["unsynced"], 0, "{sync}");
    assert_eq!(sync["set_aside"], 0, "{sync}");
    assert_eq!(sync["report"]["rejected"], serde_json::json!([]), "nothing refused: {sync}");
    assert_eq!(sync["report"]["failed"], serde_json::json!([]), "{sync}");
    assert_eq!(phone.ok(&["quarantine"]), serde_json::json!([]), "nothing set aside for review");
}

/// The backup was taken while a knock was unsynced; the original phone then synced that knock
/// and one more, so the relay holds the backup's knock under the device's actor and a later
/// change of it with a sequence number the restored phone reuses. The restored phone writes its
/// unsynced work again under a new actor: the knock the relay already holds is not among it
/// (written again, it was a second identical delivery and a false double delivery), the knock
/// made after the restore is, once.
#[test]
fn a_knock_the_original_phone_synced_is_not_sent_again_by_its_restored_copy() {
    let dir = tempfile::tempdir().unwrap();
    let (relay, compound, coordinator) = Relay::with_vegetable_round(dir.path());
    let volunteer = Phone::new(dir.path(), "volunteer");
    volunteer.join(&relay, &relay.invite(&compound, "volunteer"));
    let doors = volunteer.doors(true);
    let task = |i: usize| doors[i]["tasks"][0]["id"].as_str().unwrap().to_owned();
    let (first, second, third) = (task(0), task(1), task(2));

    volunteer.ok(&["attempt", &first, "delivered"]);
    let backup = dir.path().join("backup.sqlite");
    copy_replica(&volunteer.db, &backup);
    volunteer.ok(&["attempt", &second, "nobody_home"]);
    assert_eq!(volunteer.sync()["unsynced"], 0);

    copy_replica(&backup, &volunteer.db);
    volunteer.ok(&["attempt", &third, "delivered"]);
    let after = volunteer.sync();
    nothing_refused_or_set_aside(&volunteer, &after);
    assert_eq!(
        after["report"]["reapplied"], 1,
        "only the knock made after the restore is written again: {after}"
    );
    nothing_refused_or_set_aside(&volunteer, &volunteer.sync());

    coordinator.sync();
    let mut seen = attempts(&coordinator);
    seen.sort();
    let mut expected = vec![
        (first.clone(), "delivered".to_owned()),
        (second.clone(), "nobody_home".to_owned()),
        (third.clone(), "delivered".to_owned()),
    ];
    expected.sort();
    assert_eq!(seen, expected, "each knock recorded exactly once");
    let conflicts = coordinator.ok(&["conflicts"]);
    assert_eq!(conflicts, serde_json::json!([]), "no false double delivery: {conflicts}");
    // The restored phone sees the same: the original phone's knock arrived, nothing twice.
    let mut on_phone = attempts(&volunteer);
    on_phone.sort();
    assert_eq!(on_phone, expected);
}

/// The same for a resident's request taken at the door: the copy of the phone does not write
/// it out again (the relay refused that as replacing another phone's request, set it aside for
/// review, and applying it made a second identical request).
#[test]
fn a_request_the_original_phone_synced_is_not_sent_again_by_its_copy() {
    let dir = tempfile::tempdir().unwrap();
    let (relay, compound, coordinator) = Relay::with_vegetable_round(dir.path());
    let volunteer = Phone::new(dir.path(), "volunteer");
    volunteer.join(&relay, &relay.invite(&compound, "volunteer"));

    volunteer.ok(&["request", "1号楼1单元201", "需要胰岛素，每周一次", "--category", "medicine"]);
    let copy = dir.path().join("copy.sqlite");
    copy_replica(&volunteer.db, &copy);
    volunteer.ok(&["request", "1号楼1单元301", "老人独居，需要探访"]);
    assert_eq!(volunteer.sync()["unsynced"], 0);

    copy_replica(&copy, &volunteer.db);
    volunteer.ok(&["request", "1号楼1单元401", "需要买菜"]);
    let after = volunteer.sync();
    nothing_refused_or_set_aside(&volunteer, &after);
    assert_eq!(
        after["report"]["reapplied"], 1,
        "only the request taken after the copy is written again: {after}"
    );
    nothing_refused_or_set_aside(&volunteer, &volunteer.sync());

    coordinator.sync();
    let mut texts: Vec<String> = coordinator
        .ok(&["requests"])
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["text"].as_str().unwrap().to_owned())
        .collect();
    texts.sort();
    let mut expected =
        vec!["需要胰岛素，每周一次".to_owned(), "老人独居，需要探访".to_owned(), "需要买菜".to_owned()];
    expected.sort();
    assert_eq!(texts, expected, "each request exactly once");
}

/// The same for a household's notes, with a coordinator's correction made after the original
/// phone synced its edit: the restored phone does not splice its old edit into the correction
/// again.
#[test]
fn a_coordinators_correction_to_notes_survives_a_restored_phone() {
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(dir.path());
    let compound = relay.compound_from("北林", &sample("beilin-roster.csv"));
    let volunteer = Phone::new(dir.path(), "volunteer");
    volunteer.join(&relay, &relay.invite(&compound, "volunteer"));
    let coordinator = Phone::new(dir.path(), "coordinator");
    coordinator.join_as(&relay, "王芳", &relay.invite(&compound, "coordinator"));

    volunteer.ok(&["notes", "北林小区1号楼1单元101", "透析，周二周五"]);
    let backup = dir.path().join("backup.sqlite");
    copy_replica(&volunteer.db, &backup);
    volunteer.ok(&["notes", "北林小区1号楼1单元102", "二楼东户"]);
    assert_eq!(volunteer.sync()["unsynced"], 0);
    coordinator.sync();
    coordinator.ok(&["notes", "北林小区1号楼1单元101", "已停止透析（12月7日核实）"]);
    assert_eq!(coordinator.sync()["unsynced"], 0);

    copy_replica(&backup, &volunteer.db);
    volunteer.ok(&["notes", "北林小区1号楼1单元103", "独居"]);
    let after = volunteer.sync();
    nothing_refused_or_set_aside(&volunteer, &after);
    nothing_refused_or_set_aside(&volunteer, &volunteer.sync());

    coordinator.sync();
    for phone in [&coordinator, &volunteer] {
        assert_eq!(phone.ok(&["find", "北林小区1号楼1单元101"])["notes"], "已停止透析（12月7日核实）");
        assert_eq!(phone.ok(&["find", "北林小区1号楼1单元102"])["notes"], "二楼东户");
        assert_eq!(phone.ok(&["find", "北林小区1号楼1单元103"])["notes"], "独居");
    }
}
