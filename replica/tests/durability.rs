//! The replica keeps every acknowledged operation: across reopen, across compaction, and when
//! the process is killed with SIGKILL at random moments.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::io::{BufRead, BufReader, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use doorstep_core::id::PersonId;
use doorstep_core::schema::address::Address;
use doorstep_core::schema::control_status::ControlStatus;
use doorstep_core::schema::household::HouseholdDraft;
use doorstep_core::schema::vocabulary::{Category, Channel, Outcome, Priority, TaskKind, Urgency};
use doorstep_core::{Actor, Compound, Env, Operation, Role, Selection, Timestamp};
use doorstep_replica::Replica;

fn now() -> Timestamp {
    Timestamp::from_millis(1_790_000_000_000)
}

fn person() -> PersonId {
    "01935f3e-0000-7000-8000-000000000001".parse().unwrap()
}

fn draft(building: &str, flat: &str) -> HouseholdDraft {
    HouseholdDraft {
        address: Address {
            estate: String::new(),
            building: building.into(),
            unit: "1".into(),
            floor: flat[..flat.len() - 2].parse().unwrap(),
            flat: flat.into(),
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
    }
}

/// A replica holding one compound (as its admin) with 4 households and an open round.
fn seeded(path: &Path) -> Replica {
    let mut replica = Replica::open(path).unwrap();
    if replica.compounds().next().is_some() {
        return replica;
    }
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
    for flat in ["101", "102", "201", "202"] {
        replica.apply(now(), id, &Operation::AddHousehold { draft: draft("1", flat) }).unwrap();
    }
    let round = Operation::CreateRound {
        title: "蔬菜包 第1轮".into(),
        kind: TaskKind::Groceries,
        date: "2026-11-23".into(),
        selection: Selection::All,
        items: "蔬菜包1份".into(),
        priority: Priority::Normal,
    };
    replica.apply(now(), id, &round).unwrap();
    replica
}

/// Every note of every attempt and request text in the replica.
fn recorded_marks(replica: &Replica) -> std::collections::BTreeSet<u64> {
    let mut marks = std::collections::BTreeSet::new();
    for c in replica.compounds() {
        for t in c.tasks() {
            for a in t.attempts {
                if let Some(n) = a.note.strip_prefix("op-") {
                    marks.insert(n.parse().unwrap());
                }
            }
        }
        for r in c.requests() {
            if let Some(n) = r.text.strip_prefix("op-") {
                marks.insert(n.parse().unwrap());
            }
        }
    }
    marks
}

/// Makes operation number `n` (alternating attempts and requests), durably.
fn make_op(replica: &mut Replica, n: u64) {
    let c = replica.compounds().next().unwrap();
    let id = c.id();
    let op = if n.is_multiple_of(2) {
        let task = c.open_tasks()[(n as usize / 2) % 4].clone();
        Operation::RecordAttempt {
            round: task.round,
            task: task.id,
            outcome: Outcome::NobodyHome,
            note: format!("op-{n}"),
        }
    } else {
        let household = c.households()[0].id;
        Operation::AddRequest {
            household,
            channel: Channel::Door,
            category: Category::Medicine,
            text: format!("op-{n}"),
            urgency: Urgency::Normal,
        }
    };
    replica.apply(now(), id, &op).unwrap();
}

#[test]
fn reopening_gives_exactly_the_state_before() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("phone.sqlite");
    let (heads, households, tasks, requests, actor) = {
        let mut replica = seeded(&path);
        for n in 0..40 {
            make_op(&mut replica, n);
        }
        let c = replica.compounds().next().unwrap();
        let heads: Vec<_> = c.documents().map(|d| (d.id(), d.heads())).collect();
        (heads, c.households(), c.tasks(), c.requests(), replica.device_actor().clone())
    };
    let replica = Replica::open(&path).unwrap();
    let c = replica.compounds().next().unwrap();
    let reopened: Vec<_> = c.documents().map(|d| (d.id(), d.heads())).collect();
    assert_eq!(reopened, heads);
    assert_eq!(c.households(), households);
    assert_eq!(c.tasks(), tasks);
    assert_eq!(c.requests(), requests);
    assert_eq!(replica.device_actor(), &actor, "the device actor is persisted, not renewed");
    assert_eq!(recorded_marks(&replica).len(), 40);
    assert!(replica.load_problems().is_empty());
}

#[test]
fn unsynced_changes_count_local_changes() {
    let dir = tempfile::tempdir().unwrap();
    let mut replica = seeded(&dir.path().join("phone.sqlite"));
    let before = replica.unsynced_changes();
    assert!(before > 0, "the seeded compound has never been synced");
    for n in 0..5 {
        make_op(&mut replica, n);
    }
    assert_eq!(replica.unsynced_changes(), before + 5);
    assert_eq!(replica.last_sync(), None);
}

#[test]
fn compaction_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("phone.sqlite");
    {
        let mut replica = seeded(&path);
        for n in 0..600 {
            make_op(&mut replica, n);
        }
    }
    let replica = Replica::open(&path).unwrap();
    assert_eq!(recorded_marks(&replica), (0..600).collect());
    let conn = rusqlite_count(&path);
    assert!(conn < 600, "chunks were folded into snapshots ({conn} left)");
}

fn rusqlite_count(path: &Path) -> i64 {
    // Read the file the way an engineer would, with the sqlite3 library the replica links.
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row("SELECT COUNT(*) FROM chunks", [], |r| r.get(0)).unwrap()
}

#[test]
fn a_damaged_document_row_is_reported_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("phone.sqlite");
    drop(seeded(&path));
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute("UPDATE documents SET snapshot = x'00112233' WHERE kind = 'requests'", []).unwrap();
    conn.execute("DELETE FROM chunks WHERE doc IN (SELECT id FROM documents WHERE kind = 'requests')", [])
        .unwrap();
    drop(conn);
    let replica = Replica::open(&path).unwrap();
    assert_eq!(replica.load_problems().len(), 1, "{:?}", replica.load_problems());
    assert!(replica.load_problems()[0].contains("corrupt"), "{:?}", replica.load_problems());
    assert_eq!(replica.compounds().next().unwrap().households().len(), 4, "the other documents load");
}

/// The child side of the crash test: make operations forever, printing each number once its
/// operation has returned (been acknowledged).
#[test]
fn crash_worker() {
    let Ok(path) = std::env::var("DOORSTEP_CRASH_WORKER_DB") else { return };
    let mut replica = seeded(Path::new(&path));
    let start = recorded_marks(&replica).last().map_or(0, |m| m + 1);
    let mut out = std::io::stdout().lock();
    for n in start.. {
        make_op(&mut replica, n);
        writeln!(out, "ack {n}").unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn sigkill_at_random_moments_loses_nothing_acknowledged() {
    let iterations: u32 =
        std::env::var("DOORSTEP_CRASH_ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(50);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("phone.sqlite");
    let exe = std::env::current_exe().unwrap();
    let mut acknowledged = std::collections::BTreeSet::new();
    let mut rng = 0x2545F4914F6CDD1Du64;
    for i in 0..iterations {
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_worker", "--nocapture", "--test-threads=1"])
            .env("DOORSTEP_CRASH_WORKER_DB", &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        // Kill somewhere between startup (about 0.2 s in a debug build, 0.7 s on a loaded machine)
        // and many operations in, so a slow start still leaves most kills after some acknowledgements.
        std::thread::sleep(Duration::from_millis(50 + rng % 1500));
        child.kill().unwrap(); // SIGKILL on Unix.
        child.wait().unwrap();
        let stdout = child.stdout.take().unwrap();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            // The first line shares its start with the test harness's "test crash_worker ... ".
            if let Some((_, n)) = line.split_once("ack ") {
                acknowledged.insert(n.parse::<u64>().unwrap());
            }
        }
        let replica = Replica::open(&path).expect("the store opens without repair after SIGKILL");
        let present = recorded_marks(&replica);
        let lost: Vec<_> = acknowledged.difference(&present).collect();
        assert!(lost.is_empty(), "iteration {i}: acknowledged operations lost: {lost:?}");
    }
    println!("{iterations} kills, {} acknowledged operations, none lost", acknowledged.len());
    assert!(!acknowledged.is_empty(), "the worker never got to acknowledge anything");
}

/// Two copies of the app on one file (a screen and a background worker, or two commands) would
/// each write the device's next change under its one actor and leave a document that no longer
/// loads: the second is refused while the first is open, and the first writes on.
#[test]
fn a_second_copy_of_the_app_on_one_file_is_refused_while_the_first_writes_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("phone.sqlite");
    let mut first = seeded(&path);
    make_op(&mut first, 0);
    match Replica::open(&path) {
        Err(e @ doorstep_replica::ReplicaError::InUse) => {
            assert!(e.to_string().contains("open in another copy of the app"), "{e}");
        }
        other => panic!("a second copy opened the file: {:?}", other.map(|_| ())),
    }
    make_op(&mut first, 1);
    drop(first);
    let reopened = Replica::open(&path).unwrap();
    assert_eq!(recorded_marks(&reopened), [0, 1].into_iter().collect());
    assert!(reopened.load_problems().is_empty(), "{:?}", reopened.load_problems());
}

/// A phone file a newer app wrote is refused, in both languages (it was English only), and the
/// file is left as it was.
#[test]
fn a_file_from_a_newer_app_is_refused_in_both_languages() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("phone.sqlite");
    drop(seeded(&path));
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
    conn.pragma_update(None, "user_version", version + 1).unwrap();
    drop(conn);
    let Err(refused) = Replica::open(&path) else { panic!("a newer file was opened") };
    let refused = refused.to_string();
    assert!(refused.contains("请更新应用") && refused.contains("Update the app"), "{refused}");
    let conn = rusqlite::Connection::open(&path).unwrap();
    let kept: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
    assert_eq!(kept, version + 1);
}
