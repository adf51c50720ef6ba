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
