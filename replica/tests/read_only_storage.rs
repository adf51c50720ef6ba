//! A phone whose storage is full or has gone read-only still opens its replica and shows its
//! tasks: opening a file of the current schema writes nothing (it used to rewrite
//! `user_version` in a transaction on every open, which failed on such a phone before anything
//! was shown), and a write that then fails says why and that the recorded work is kept.
//!
//! The read-only half makes the file and its folder read-only for real (mode 0444/0555). Root
//! writes through that, so when the test runs as root it runs that half in a child process of
//! this test binary as the user `nobody`, and skips it (saying so) if that cannot be done.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout, clippy::print_stderr)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use doorstep_core::id::{CompoundId, PersonId};
use doorstep_core::schema::address::Address;
use doorstep_core::schema::control_status::ControlStatus;
use doorstep_core::schema::household::HouseholdDraft;
use doorstep_core::schema::vocabulary::{Outcome, Priority, TaskKind};
use doorstep_core::{Actor, Compound, Env, Operation, Role, Selection, Timestamp};
use doorstep_replica::{Replica, ReplicaError};

/// Set in the child process: the replica file it opens read-only.
const CHILD_FILE: &str = "DOORSTEP_READ_ONLY_REPLICA";

fn now() -> Timestamp {
    Timestamp::from_millis(1_790_000_000_000)
}

fn person() -> PersonId {
    "01935f3e-0000-7000-8000-000000000001".parse().unwrap()
}

/// A replica file holding a compound with one household and a round: one task.
fn phone_with_a_task(path: &Path) -> CompoundId {
    let mut replica = Replica::open(path).unwrap();
    replica.set_identity(person()).unwrap();
    let mut seed = 7u128;
    let mut entropy = move || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        seed
    };
    let mut env = Env::new(now(), &mut entropy);
    let actor = Actor { person: person(), role: Role::Admin };
    let compound = Compound::create(&mut env, &actor, replica.device_actor().clone(), "香樟苑").unwrap();
    let id = compound.id();
    replica.adopt(compound, Role::Admin).unwrap();
    let draft = HouseholdDraft {
        address: Address {
            estate: String::new(),
            building: "1".into(),
            unit: "1".into(),
            floor: 1,
            flat: "101".into(),
        },
        head: "王芳".into(),
        phone: "13800000000".into(),
        people: Some(2),
        aged_60_plus: 1,
        children_under_6: 0,
        needs: Default::default(),
        status: ControlStatus::Normal,
        lift: false,
        notes: String::new(),
    };
    replica.apply(now(), id, &Operation::AddHousehold { draft }).unwrap();
    let round = Operation::CreateRound {
        title: "蔬菜包 第1轮".into(),
        kind: TaskKind::Groceries,
        date: "2026-11-23".into(),
        selection: Selection::All,
        items: "蔬菜包1份".into(),
        priority: Priority::Normal,
    };
    replica.apply(now(), id, &round).unwrap();
    id
}

/// Opens the replica, shows its task, then records an attempt, which cannot be written: the
/// error says the storage is read-only and the work is kept.
fn open_and_show_then_fail_a_write(path: &Path) {
    let mut replica = Replica::open(path).expect("a read-only replica opens");
    let id = replica.compounds().next().expect("its compound").id();
    let task = replica.compound(id).unwrap().tasks()[0].clone();
    assert_eq!(replica.compound(id).unwrap().tasks().len(), 1, "its task is shown");
    let attempt = Operation::RecordAttempt {
        round: task.round,
        task: task.id,
        outcome: Outcome::NobodyHome,
        note: String::new(),
    };
    let failed = replica.apply(now(), id, &attempt).expect_err("nothing can be written");
    assert!(matches!(failed, ReplicaError::StorageReadOnly(_)), "{failed:?}");
    let shown = failed.to_string();
    assert!(shown.contains("只读") && shown.contains("read-only"), "{shown}");
    assert!(shown.contains("what you recorded is kept"), "{shown}");
    assert!(replica.compound(id).unwrap().tasks()[0].attempts.is_empty(), "nothing half-written in memory");
}

#[test]
fn opening_a_current_file_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("phone.sqlite");
    phone_with_a_task(&path);
    // `data_version` changes for a connection when another one commits to the file.
    let watcher = rusqlite::Connection::open(&path).unwrap();
    let version =
        |c: &rusqlite::Connection| -> i64 { c.query_row("PRAGMA data_version", [], |r| r.get(0)).unwrap() };
    let before = version(&watcher);
    for _ in 0..3 {
        let replica = Replica::open(&path).unwrap();
        assert_eq!(replica.compounds().next().unwrap().tasks().len(), 1);
        drop(replica);
    }
    assert_eq!(version(&watcher), before, "opening the replica committed a write to its file");
}

#[test]
fn a_read_only_replica_opens_shows_its_tasks_and_says_why_a_write_fails() {
    if let Some(path) = std::env::var_os(CHILD_FILE) {
        open_and_show_then_fail_a_write(Path::new(&path));
        println!("read-only child: checked");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("phone");
    std::fs::create_dir(&folder).unwrap();
    let path = folder.join("phone.sqlite");
    phone_with_a_task(&path);
    let listed: Vec<_> = std::fs::read_dir(&folder).unwrap().map(|e| e.unwrap().path()).collect();
    for file in &listed {
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o444)).unwrap();
    }
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o555)).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let as_root = std::fs::OpenOptions::new().append(true).open(&path).is_ok();
    if !as_root {
        open_and_show_then_fail_a_write(&path);
    } else {
        // Root writes through the modes: run the same steps as `nobody`, in a child.
        use std::os::unix::process::CommandExt;
        let child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "a_read_only_replica_opens_shows_its_tasks_and_says_why_a_write_fails",
                "--nocapture",
            ])
            .env(CHILD_FILE, &path)
            .uid(65534)
            .gid(65534)
            .output();
        match child {
            Ok(out) if String::from_utf8_lossy(&out.stdout).contains("read-only child: checked") => {}
            Ok(out) if out.status.code() == Some(101) => panic!(
                "the read-only replica failed as `nobody`:\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
            other => eprintln!(
                "SKIPPED the read-only half: running as root, and this test binary could not run as `nobody` ({:?})",
                other.map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
            ),
        }
    }
    // The file is as it was: the failed write left nothing behind.
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o755)).unwrap();
    let replica = Replica::open(&path).unwrap();
    assert!(replica.compounds().next().unwrap().tasks()[0].attempts.is_empty());
}
