//! A relay restored from an older backup (DEPLOY.md, "Backups and restore"): what it acknowledged
//! after the backup is gone from it but still on the phones, which offer it again. Each test runs
//! a real relay, backs its file up (a cold copy of the stopped relay's file, WAL included),
//! lets the phones work, restores the copy and syncs them again:
//!
//! - a phone whose offline work builds on work the relay lost sends it all in the same sync and
//!   says so, instead of "did not sync" and exit 1;
//! - another phone that holds a volunteer's new work (the restored relay never saw their actor)
//!   and syncs first is not bound to that actor: the work waits for the volunteer's own phone,
//!   and is theirs when it comes;
//! - a round the restored relay never had stays on the volunteer's phone with the knocks on it,
//!   until the coordinator's phone brings it back, and then the knocks go up (and is told to
//!   tell the coordinator if no coordinator's phone holds it).

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::harness::{Phone, Relay};

/// The relay's database files, copied while it is stopped (killed: the WAL holds the newest
/// commits, and is copied with it), then the relay started again.
fn back_up(relay: &mut Relay, to: &Path) {
    relay.kill9();
    std::fs::create_dir_all(to).unwrap();
    for (from, name) in database_files(&relay.db) {
        if from.exists() {
            std::fs::copy(&from, to.join(name)).unwrap();
        }
    }
    relay.restart();
}

/// The relay's database put back as `from` holds it, and the relay started again.
fn restore(relay: &mut Relay, from: &Path) {
    relay.kill9();
    for (file, name) in database_files(&relay.db) {
        let _ = std::fs::remove_file(&file);
        if from.join(&name).exists() {
            std::fs::copy(from.join(&name), &file).unwrap();
        }
    }
    relay.restart();
}

fn database_files(db: &Path) -> Vec<(PathBuf, String)> {
    ["", "-wal", "-shm"]
        .iter()
        .map(|suffix| {
            let mut path = db.as_os_str().to_owned();
            path.push(suffix);
            let name = format!("relay.db{suffix}");
            (PathBuf::from(path), name)
        })
        .collect()
}

/// A household's notes as a phone holds them.
fn notes(phone: &Phone, address: &str) -> String {
    phone.ok(&["find", address])["notes"].as_str().unwrap_or_default().to_owned()
}

/// The person an actor is bound to on the relay, if any.
fn bound_to(relay: &Relay, actor: &str) -> Option<String> {
    let conn = rusqlite::Connection::open(&relay.db).unwrap();
    conn.query_row("SELECT person FROM actor_bindings WHERE actor = ?1", [actor], |r| r.get(0)).ok()
}

/// The Automerge actor a command-line phone writes under, and its person.
fn actor_and_person(phone: &Phone) -> (String, String) {
    let mut key_path = phone.db.as_os_str().to_owned();
    key_path.push(".key");
    let key =
        doorstep_replica::ReplicaKey::from_hex(std::fs::read_to_string(&key_path).unwrap().trim()).unwrap();
    let replica = doorstep_replica::Replica::open_encrypted(&phone.db, &key).unwrap();
    let person = replica.identity().unwrap().person.to_string();
    (replica.device_actor().to_hex_string(), person)
}

/// `phone sync` as a person runs it: whether it exited 0, and what it printed.
fn sync_text(phone: &Phone) -> (bool, String) {
    let (ok, out, err) = phone.text(&["sync"]);
    (ok, format!("{out}{err}"))
}

/// A relay with the vegetable round, its coordinator's phone, and volunteer 李强's phone joined
/// to the compound: the opening most of these tests share.
fn volunteer_on_the_round(dir: &Path) -> (Relay, String, Phone, Phone) {
    let (relay, compound, coordinator) = Relay::with_vegetable_round(dir);
    let volunteer = Phone::new(dir, "volunteer");
    volunteer.join_as(&relay, "李强", &relay.invite(&compound, "volunteer"));
    (relay, compound, coordinator, volunteer)
}

/// The coordinator makes a medicine round for building 2 (“药品 第2轮”) and syncs; the volunteer
/// syncs, claims one of its tasks, knocks (“药已送到”) and syncs.
fn knock_on_a_round_made_now(coordinator: &Phone, volunteer: &Phone) {
    let round = json!({
        "op": "create_round", "title": "药品 第2轮", "kind": "medicine", "date": "2026-11-24",
        "selection": {"by": "building", "estate": "香樟苑", "building": "2"},
        "items": "降压药", "priority": "urgent"
    });
    coordinator.ok(&["op", &round.to_string()]);
    coordinator.sync();
    volunteer.sync();
    let task = volunteer
        .doors(true)
        .iter()
        .flat_map(|d| d["tasks"].as_array().cloned().unwrap_or_default())
        .find(|t| t["kind"] == "medicine")
        .expect("a task of the new round");
    let id = task["id"].as_str().unwrap().to_owned();
    volunteer.ok(&["claim", &id]);
    volunteer.ok(&["attempt", &id, "delivered", "--note", "药已送到"]);
    volunteer.sync();
}

#[test]
fn offline_work_on_top_of_work_the_relay_lost_goes_up_in_the_same_sync_without_a_false_alarm() {
    let dir = tempfile::tempdir().unwrap();
    let (mut relay, _compound, coordinator) = Relay::with_vegetable_round(dir.path());
    back_up(&mut relay, &dir.path().join("backup"));

    // Acknowledged by the relay after the backup, then more offline on top of it.
    coordinator.ok(&["notes", "1-1-101", "备份之后同步的"]);
    coordinator.sync();
    coordinator.ok(&["notes", "1-1-201", "恢复之前未同步的"]);
    restore(&mut relay, &dir.path().join("backup"));

    let (ok, said) = sync_text(&coordinator);
    assert!(ok, "everything went up in this sync: {said}");
    assert!(said.contains("the relay had lost part of the history of 1 document"), "{said}");
    assert!(!said.contains("did not sync"), "{said}");
    let status = coordinator.ok(&["status"]);
    assert_eq!(status["unsynced"], 0, "{status}");

    // What the relay holds now, read by a phone that joins after the restore.
    let reader = Phone::new(dir.path(), "reader");
    let compound = relay.admin(&["compounds"]);
    let compound = compound.split_whitespace().find(|w| w.len() == 36).unwrap().to_owned();
    reader.join_as(&relay, "赵敏", &relay.invite(&compound, "coordinator"));
    assert_eq!(notes(&reader, "1-1-101"), "备份之后同步的");
    assert_eq!(notes(&reader, "1-1-201"), "恢复之前未同步的");
}

#[test]
fn a_volunteers_new_work_offered_first_by_another_phone_waits_for_theirs_and_is_theirs() {
    let dir = tempfile::tempdir().unwrap();
    let (mut relay, compound, coordinator, volunteer) = volunteer_on_the_round(dir.path());
    let other = Phone::new(dir.path(), "other");
    other.join_as(&relay, "赵敏", &relay.invite(&compound, "volunteer"));
    other.sync();
    // The volunteer has written nothing yet: the backup knows no actor of theirs.
    back_up(&mut relay, &dir.path().join("backup"));

    volunteer.ok(&["notes", "1-1-301", "李强写的"]);
    volunteer.sync();
    other.sync();
    coordinator.sync();
    let (actor, person) = actor_and_person(&volunteer);
    assert_eq!(bound_to(&relay, &actor).as_deref(), Some(person.as_str()));
    restore(&mut relay, &dir.path().join("backup"));
    assert_eq!(bound_to(&relay, &actor), None, "the restored relay never saw the volunteer's actor");

    // The other phones sync first: they hold the volunteer's note, and may not send it.
    for phone in [&other, &coordinator] {
        let (ok, said) = sync_text(phone);
        assert!(ok, "{said}");
        assert!(said.contains("held_for_its_author") || said.contains("等那部手机同步"), "{said}");
    }
    assert_eq!(bound_to(&relay, &actor), None, "nobody else was bound to the volunteer's actor");

    // The volunteer's phone sends it, and it is theirs.
    let (ok, said) = sync_text(&volunteer);
    assert!(ok, "{said}");
    assert_eq!(bound_to(&relay, &actor).as_deref(), Some(person.as_str()));
    let (ok, said) = sync_text(&other);
    assert!(ok, "{said}");
    assert!(!said.contains("held_for_its_author"), "{said}");
    assert_eq!(notes(&other, "1-1-301"), "李强写的");
    assert_eq!(other.ok(&["status"])["unsynced"], 0);
}

#[test]
fn a_round_the_restored_relay_never_had_stays_on_the_volunteers_phone_with_its_knocks() {
    let dir = tempfile::tempdir().unwrap();
    let (mut relay, _compound, coordinator, volunteer) = volunteer_on_the_round(dir.path());
    back_up(&mut relay, &dir.path().join("backup"));

    knock_on_a_round_made_now(&coordinator, &volunteer);
    restore(&mut relay, &dir.path().join("backup"));

    // The volunteer syncs first: the relay does not hold the round. The phone keeps it and the
    // knock, sets nothing aside, and does not say "all synced".
    let (ok, said) = sync_text(&volunteer);
    assert!(!ok, "its work is not on the relay: {said}");
    assert!(said.contains("not_held"), "{said}");
    assert!(!said.contains("removed from this phone"), "{said}");
    // No promise that may never be kept: if no coordinator's phone holds the round (planned on
    // the dashboard, or closed since), the volunteer is told to tell the coordinator.
    assert!(said.contains("if none does") && said.contains("tell your coordinator"), "{said}");
    assert!(said.contains("请把在这里做的记录告诉协调员"), "{said}");
    let rounds: Value = volunteer.ok(&["rounds"]);
    assert!(rounds.to_string().contains("药品 第2轮"), "the round stays: {rounds}");
    assert!(rounds.to_string().contains("药已送到"), "and the knock on it: {rounds}");
    let status = volunteer.ok(&["status"]);
    assert_eq!(status["set_aside"], 0, "{status}");
    assert!(status["unsynced"].as_u64().unwrap() > 0, "{status}");

    // The coordinator's phone brings the round back; then the knock goes up.
    coordinator.sync();
    let (ok, said) = sync_text(&volunteer);
    assert!(ok, "{said}");
    assert_eq!(volunteer.ok(&["status"])["unsynced"], 0);
    coordinator.sync();
    let (ok, rounds, err) = coordinator.text(&["rounds"]);
    assert!(ok, "{err}");
    assert!(
        rounds.contains("药已送到") || rounds.contains("已送达"),
        "the coordinator sees the delivery: {rounds}"
    );
}

/// A relay restored before phones said which actor they write under could bind a volunteer's
/// actor to whoever offered their work first. The volunteer's phone, told its own change is held
/// for "another phone", writes its unsynced work again under a new actor, which is its own: its
/// work goes up, or to the review inbox, instead of waiting on the phone for ever.
#[test]
fn a_phone_whose_actor_the_relay_bound_to_someone_else_writes_its_work_again_under_a_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let (mut relay, compound, coordinator, volunteer) = volunteer_on_the_round(dir.path());
    back_up(&mut relay, &dir.path().join("backup"));
    volunteer.ok(&["notes", "1-1-301", "恢复前写的"]);
    volunteer.sync();
    restore(&mut relay, &dir.path().join("backup"));

    // As an older relay did: the volunteer's actor bound to the coordinator.
    let (actor, person) = actor_and_person(&volunteer);
    let (_, coordinator_person) = actor_and_person(&coordinator);
    relay.kill9();
    rusqlite::Connection::open(&relay.db)
        .unwrap()
        .execute(
            "INSERT INTO actor_bindings (actor, person, bound_at) VALUES (?1, ?2, 1)",
            [&actor, &coordinator_person],
        )
        .unwrap();
    relay.restart();
    volunteer.ok(&["notes", "1-1-401", "恢复后写的"]);

    let (ok, said) = sync_text(&volunteer);
    assert!(ok, "{said}");
    // The note made after the restore is journaled: written again, it goes up. The one synced
    // before it is no longer in the journal, so it cannot be written again: it goes to the
    // coordinators' review inbox, as the volunteer's, instead of waiting on the phone for ever.
    assert!(said.contains("1 later change carried out again and synced"), "{said}");
    assert!(said.contains("1 set-aside change sent to the coordinators for review"), "{said}");
    let status = volunteer.ok(&["status"]);
    assert_eq!(status["unsynced"], 0, "nothing waits on the phone: {status}");
    let (new_actor, _) = actor_and_person(&volunteer);
    assert_ne!(new_actor, actor, "a new actor");
    assert_eq!(bound_to(&relay, &new_actor).as_deref(), Some(person.as_str()), "and it is the volunteer's");
    coordinator.sync();
    assert_eq!(notes(&coordinator, "1-1-401"), "恢复后写的");
    let cookie = crate::set_aside_inbox::dashboard_cookie(&relay, &coordinator);
    let inbox = crate::raw_http::request(
        &relay.url,
        "GET",
        &format!("/dashboard/api/compounds/{compound}/set-aside"),
        Some(&cookie),
        None,
    );
    let items: Value = serde_json::from_str(&inbox.body).unwrap();
    assert_eq!(items.as_array().map(Vec::len), Some(1), "{items}");
    assert_eq!(items[0]["person"], person.as_str(), "the volunteer's: {items}");
}

/// A shared phone handed over after the backup: the first person's work is under the phone's
/// earlier actor, which the restored relay never saw. The phone names its earlier actors too, so
/// that work is its own to send and goes up (as the person signed in now, the only one this phone
/// can send for), instead of being held for "another phone" for ever.
#[test]
fn a_handed_over_phone_sends_the_work_made_under_its_earlier_actor() {
    let dir = tempfile::tempdir().unwrap();
    let (mut relay, compound, coordinator) = Relay::with_vegetable_round(dir.path());
    let shared = Phone::new(dir.path(), "shared");
    shared.join_as(&relay, "李强", &relay.invite(&compound, "volunteer"));
    let own = Phone::new(dir.path(), "own");
    own.join_as(&relay, "赵敏", &relay.invite(&compound, "volunteer"));
    let (_, second) = actor_and_person(&own);
    let minted = relay.admin(&["token", "--person", &second]);
    let token = minted.split_whitespace().find(|w| w.starts_with("dst_")).unwrap().to_owned();
    back_up(&mut relay, &dir.path().join("backup"));

    shared.ok(&["notes", "1-1-301", "李强交班前写的"]);
    shared.sync();
    let (first_actor, _) = actor_and_person(&shared);
    shared.ok(&["login", "--relay", &relay.url, &token]);
    let (second_actor, _) = actor_and_person(&shared);
    assert_ne!(first_actor, second_actor, "a new person writes under a new actor");
    shared.ok(&["notes", "1-1-401", "赵敏接班后写的"]);
    shared.sync();
    restore(&mut relay, &dir.path().join("backup"));

    let (ok, said) = sync_text(&shared);
    assert!(ok, "{said}");
    assert!(!said.contains("held_for_its_author"), "{said}");
    assert_eq!(shared.ok(&["status"])["unsynced"], 0);
    assert!(bound_to(&relay, &first_actor).is_some(), "the earlier actor is bound again");
    coordinator.sync();
    assert_eq!(notes(&coordinator, "1-1-301"), "李强交班前写的");
    assert_eq!(notes(&coordinator, "1-1-401"), "赵敏接班后写的");
}

/// A volunteer removed from the compound after the restore keeps nothing of a round the relay no
/// longer holds: `not_held` keeps a document only in a compound the phone still belongs to. The
/// knock on it goes to the review inbox (the phone names the compound, which the relay cannot
/// tell from a document it does not hold), and the phone says it was removed.
#[test]
fn a_volunteer_removed_after_a_restore_keeps_nothing_of_a_round_the_relay_lost() {
    let dir = tempfile::tempdir().unwrap();
    let (mut relay, compound, coordinator, volunteer) = volunteer_on_the_round(dir.path());
    let (_, person) = actor_and_person(&volunteer);
    back_up(&mut relay, &dir.path().join("backup"));
    knock_on_a_round_made_now(&coordinator, &volunteer);
    restore(&mut relay, &dir.path().join("backup"));
    // Still a member: the phone keeps the round the relay does not hold, its work unsynced.
    let (ok, said) = sync_text(&volunteer);
    assert!(!ok && said.contains("not_held"), "{said}");
    relay.admin(&["revoke", "--person", &person, "--compound", &compound]);

    let report = volunteer.sync();
    assert_eq!(report["report"]["removed_from"], json!(["香樟苑"]), "{report}");
    assert!(report["report"]["set_aside_sent"].as_u64().unwrap() >= 1, "the knock went for review: {report}");
    let status = volunteer.ok(&["status"]);
    assert!(status["compounds"].as_array().unwrap().is_empty(), "{status}");
    let cookie = crate::set_aside_inbox::dashboard_cookie(&relay, &coordinator);
    let inbox = crate::raw_http::request(
        &relay.url,
        "GET",
        &format!("/dashboard/api/compounds/{compound}/set-aside"),
        Some(&cookie),
        None,
    );
    // The claim and the knock, the volunteer's, for the round the relay does not hold: as raw
    // changes (synced before the restore, they were no longer in the phone's journal), each
    // saying what it wrote.
    let items: Value = serde_json::from_str(&inbox.body).unwrap();
    let items = items.as_array().unwrap();
    assert_eq!(items.len(), 2, "the coordinators have the claim and the knock: {items:?}");
    assert!(
        items.iter().all(|i| i["person_name"] == "李强" && i["rule"] == "document_withdrawn"),
        "{items:?}"
    );
    let said = |i: &Value| i["summary"].as_str().unwrap_or_default().contains("note 药已送到");
    assert!(items.iter().any(said), "the knock's note is readable: {items:?}");
}
