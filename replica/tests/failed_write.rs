//! A durable write that fails changes nothing: the documents in memory are rolled back with it,
//! so trying the "failed" attempt again records one delivery, not two. The store fails for real:
//! SQLite triggers in the replica's own file raise on every new chunk and document.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use doorstep_core::id::PersonId;
use doorstep_core::schema::address::Address;
use doorstep_core::schema::control_status::ControlStatus;
use doorstep_core::schema::household::HouseholdDraft;
use doorstep_core::schema::vocabulary::{Outcome, Priority, TaskKind};
use doorstep_core::{Actor, Compound, Env, Operation, Role, Selection, Timestamp};
use doorstep_replica::{Replica, ReplicaError};

fn now() -> Timestamp {
    Timestamp::from_millis(1_790_000_000_000)
}

fn person() -> PersonId {
    "01935f3e-0000-7000-8000-000000000001".parse().unwrap()
}

fn draft(flat: &str) -> HouseholdDraft {
    HouseholdDraft {
        address: Address {
            estate: String::new(),
            building: "1".into(),
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

const FAIL_ON_WRITE: &str = "
    CREATE TRIGGER fail_on_chunk BEFORE INSERT ON chunks
        BEGIN SELECT RAISE(ABORT, 'disk refused the write'); END;
    CREATE TRIGGER fail_on_document BEFORE INSERT ON documents
        BEGIN SELECT RAISE(ABORT, 'disk refused the write'); END;";

#[test]
fn a_failed_write_leaves_memory_and_file_as_before_and_a_retry_records_one_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("phone.sqlite");
    let mut replica = Replica::open(&path).unwrap();
    replica.set_identity(person()).unwrap();
    let mut seed = 11u128;
    let mut entropy = move || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        seed
    };
    let mut env = Env::new(now(), &mut entropy);
    let actor = Actor { person: person(), role: Role::Admin };
    let compound = Compound::create(&mut env, &actor, replica.device_actor().clone(), "香樟苑").unwrap();
    let id = compound.id();
    replica.adopt(compound, Role::Admin).unwrap();
    replica.apply(now(), id, &Operation::AddHousehold { draft: draft("101") }).unwrap();
    let round = Operation::CreateRound {
        title: "蔬菜包 第1轮".into(),
        kind: TaskKind::Groceries,
        date: "2026-11-23".into(),
        selection: Selection::All,
        items: "蔬菜包1份".into(),
        priority: Priority::Normal,
    };
    replica.apply(now(), id, &round).unwrap();
    let task = replica.compound(id).unwrap().tasks()[0].clone();
    let heads_before: Vec<_> = replica.compound(id).unwrap().documents().map(|d| d.heads()).collect();
    let unsynced_before = replica.unsynced_changes();

    // The file starts refusing writes, from another connection, as a full disk would.
    rusqlite::Connection::open(&path).unwrap().execute_batch(FAIL_ON_WRITE).unwrap();
    let attempt = Operation::RecordAttempt {
        round: task.round,
        task: task.id,
        outcome: Outcome::Delivered,
        note: "门口".into(),
    };
    let failed = replica.apply(now(), id, &attempt).expect_err("the write fails");
    assert!(matches!(failed, ReplicaError::Storage(_)), "{failed}");
    assert!(failed.to_string().contains("disk refused the write"), "{failed}");
    let heads_after: Vec<_> = replica.compound(id).unwrap().documents().map(|d| d.heads()).collect();
    assert_eq!(heads_after, heads_before, "the change left memory with the failed write");
    assert!(replica.compound(id).unwrap().tasks()[0].attempts.is_empty(), "no attempt in memory");
    assert_eq!(replica.unsynced_changes(), unsynced_before, "nothing waits to be uploaded");

    // A failed operation that creates a document leaves no document behind either.
    let another = Operation::CreateRound {
        title: "药品 第1轮".into(),
        kind: TaskKind::Medicine,
        date: "2026-11-24".into(),
        selection: Selection::All,
        items: "药".into(),
        priority: Priority::Urgent,
    };
    let documents = replica.compound(id).unwrap().documents().count();
    replica.apply(now(), id, &another).expect_err("the write fails");
    assert_eq!(replica.compound(id).unwrap().documents().count(), documents, "no half-made round");

    // The disk recovers and the volunteer taps "delivered" again: one attempt, in memory and
    // in the file.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("DROP TRIGGER fail_on_chunk; DROP TRIGGER fail_on_document")
        .unwrap();
    replica.apply(now(), id, &attempt).unwrap();
    assert_eq!(replica.compound(id).unwrap().tasks()[0].attempts.len(), 1);
    drop(replica);
    let reopened = Replica::open(&path).unwrap();
    assert_eq!(reopened.compound(id).unwrap().tasks()[0].attempts.len(), 1, "one delivery, not two");
}
