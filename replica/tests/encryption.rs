//! Encryption at rest: a replica opened with a key keeps no plain name, phone number or request
//! text anywhere in its file or WAL; it does not open without its key or with another; a plain
//! replica opened with a key is encrypted in place.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

#[path = "support/leaks.rs"]
mod leaks;

use std::path::Path;

use doorstep_core::id::PersonId;
use doorstep_core::import::read_roster_csv;
use doorstep_core::schema::vocabulary::{Category, Channel, Urgency};
use doorstep_core::{Actor, Compound, Env, ImportPolicy, Operation, Role, Timestamp};
use doorstep_replica::{Replica, ReplicaError, ReplicaKey};
use leaks::{Secrets, ledger_path, replica_bytes};

/// A resident's medicine request, taken down on the phone.
const REQUEST_TEXT: &str = "硝苯地平 每日两次 请送到门口";

fn now() -> Timestamp {
    Timestamp::from_millis(1_790_000_000_000)
}

fn person() -> PersonId {
    "01935f3e-0000-7000-8000-000000000001".parse().unwrap()
}

/// Fills `replica` with 香樟苑 from the sample ledger (as its admin) and a request taken down on
/// the phone, leaving the replica open (its WAL in use).
fn fill(replica: &mut Replica) {
    replica.set_identity(person()).unwrap();
    let mut entropy = rand_entropy();
    let mut env = Env::new(now(), &mut entropy);
    let actor = Actor { person: person(), role: Role::Admin };
    let mut compound = Compound::create(&mut env, &actor, replica.device_actor().clone(), "香樟苑").unwrap();
    let preview = read_roster_csv(&std::fs::read(ledger_path()).unwrap()).unwrap();
    let summary = compound.import_roster(&mut env, &actor, &preview, ImportPolicy::AllOrNothing).unwrap();
    assert_eq!(summary.added, 1040);
    let id = compound.id();
    replica.adopt(compound, Role::Admin).unwrap();
    let household = replica.compound(id).unwrap().households()[0].id;
    let request = Operation::AddRequest {
        household,
        channel: Channel::Door,
        category: Category::Medicine,
        text: REQUEST_TEXT.into(),
        urgency: Urgency::Urgent,
    };
    replica.apply(now(), id, &request).unwrap();
    replica.remember_relay("http://127.0.0.1:7700", "dst_secret-device-token").unwrap();
}

fn rand_entropy() -> impl FnMut() -> u128 {
    let mut seed = 11u128;
    move || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        seed
    }
}

fn households(replica: &Replica) -> usize {
    replica.compounds().map(|c| c.households().len()).sum()
}

#[test]
fn an_encrypted_replica_holds_no_plain_roster_and_opens_with_its_key_only() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = Secrets::from_ledger(&[REQUEST_TEXT, "dst_secret-device-token"]);

    // The detector finds the roster in a plain replica ...
    let plain = dir.path().join("plain.sqlite");
    let mut replica = Replica::open(&plain).unwrap();
    fill(&mut replica);
    assert!(!secrets.found_in(&replica_bytes(&plain)).is_empty(), "a plain replica shows its roster");
    drop(replica);

    // ... and nothing in an encrypted one, read while it is open (its WAL holds the writes).
    let path = dir.path().join("phone.sqlite");
    let key = ReplicaKey::generate();
    let mut replica = Replica::open_encrypted(&path, &key).unwrap();
    fill(&mut replica);
    assert!(Path::new(&format!("{}-wal", path.display())).exists(), "the WAL is in use");
    let leaks = secrets.found_in(&replica_bytes(&path));
    assert!(leaks.is_empty(), "plain data in an encrypted replica: {:?}", &leaks[..leaks.len().min(10)]);
    drop(replica);
    let leaks = secrets.found_in(&replica_bytes(&path));
    assert!(leaks.is_empty(), "plain data after closing: {:?}", &leaks[..leaks.len().min(10)]);

    // Without the key, or with another, it does not open, and says why.
    let err = Replica::open(&path).unwrap_err();
    assert!(matches!(err, ReplicaError::KeyRequired), "{err}");
    assert!(err.to_string().contains("--key-file"), "{err}");
    let err = Replica::open_encrypted(&path, &ReplicaKey::generate()).unwrap_err();
    assert!(matches!(err, ReplicaError::WrongKey), "{err}");
    assert!(err.to_string().contains("another key"), "{err}");

    // With its key everything is there.
    let replica = Replica::open_encrypted(&path, &key).unwrap();
    assert_eq!(households(&replica), 1040);
    assert_eq!(replica.identity().map(|i| i.person), Some(person()));
    assert!(replica.compounds().flat_map(Compound::requests).any(|r| r.text == REQUEST_TEXT));
    assert_eq!(
        replica.remembered_relay().unwrap(),
        Some(("http://127.0.0.1:7700".to_owned(), "dst_secret-device-token".to_owned()))
    );
}

#[test]
fn a_plain_replica_opened_with_a_key_is_encrypted_in_place_and_scrubbed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("phone.sqlite");
    let secrets = Secrets::from_ledger(&[REQUEST_TEXT]);
    let mut replica = Replica::open(&path).unwrap();
    fill(&mut replica);
    let actor = replica.device_actor().clone();
    drop(replica);
    assert!(!secrets.found_in(&replica_bytes(&path)).is_empty());

    let key = ReplicaKey::generate();
    let replica = Replica::open_encrypted(&path, &key).unwrap();
    assert_eq!(households(&replica), 1040, "nothing lost in the migration");
    assert_eq!(replica.device_actor(), &actor, "the device keeps its actor");
    let leaks = secrets.found_in(&replica_bytes(&path));
    assert!(
        leaks.is_empty(),
        "plain data left after encrypting in place: {:?}",
        &leaks[..leaks.len().min(10)]
    );
    drop(replica);
    assert!(matches!(Replica::open(&path).unwrap_err(), ReplicaError::KeyRequired));
}

#[test]
fn a_value_moved_to_another_row_or_damaged_does_not_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("phone.sqlite");
    let key = ReplicaKey::generate();
    let mut replica = Replica::open_encrypted(&path, &key).unwrap();
    replica.remember_relay("http://127.0.0.1:7700", "dst_token").unwrap();
    drop(replica);
    // Someone with the file but not the key swaps the sealed relay URL into the token's row.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(
        "UPDATE meta SET value = (SELECT value FROM meta WHERE key = 'relay_url') WHERE key = 'relay_token'",
        [],
    )
    .unwrap();
    drop(conn);
    let replica = Replica::open_encrypted(&path, &key).unwrap();
    let err = replica.remembered_relay().unwrap_err();
    assert!(matches!(err, ReplicaError::Undecryptable { .. }), "{err}");
    assert!(err.to_string().contains("relay_token"), "{err}");
}
