//! A document whose stored copy on the phone no longer loads (its bytes damaged on the flash)
//! holds knocks made offline: the phone says so instead of "all synced", fetches the relay's copy
//! at the next sync and carries the knocks out again on it, and the coordinator sees them.

use serde_json::Value;

use crate::harness::{Phone, Relay};

/// Every attempt on the coordinator's rounds, as (task, note).
fn attempt_notes(rounds: &Value) -> Vec<(String, String)> {
    let tasks = rounds.as_array().unwrap().iter().flat_map(|r| r["tasks"].as_array().unwrap().clone());
    tasks
        .flat_map(|t| {
            let task = t["task"]["id"].as_str().unwrap().to_owned();
            let attempts = t["task"]["attempts"].as_array().unwrap().clone();
            attempts.into_iter().map(move |a| (task.clone(), a["note"].as_str().unwrap_or("").to_owned()))
        })
        .collect()
}

#[test]
fn knocks_in_a_copy_damaged_on_the_phone_are_carried_out_again_on_the_relays_copy() {
    let dir = tempfile::tempdir().unwrap();
    let (relay, compound, coordinator) = Relay::with_vegetable_round(dir.path());
    let volunteer = Phone::unencrypted(dir.path(), "volunteer");
    volunteer.join(&relay, &relay.invite(&compound, "volunteer"));
    let doors = volunteer.doors(true);
    let (first, second) = (
        doors[0]["tasks"][0]["id"].as_str().unwrap().to_owned(),
        doors[1]["tasks"][0]["id"].as_str().unwrap().to_owned(),
    );

    // Offline on the stairs: two knocks, saved on the phone only.
    volunteer.ok(&["attempt", &first, "delivered", "--note", "交给老人本人"]);
    volunteer.ok(&["attempt", &second, "nobody_home", "--note", "敲门无人应"]);

    // The round's stored copy is damaged on the phone's storage.
    let conn = rusqlite::Connection::open(&volunteer.db).unwrap();
    conn.execute("UPDATE documents SET snapshot = x'00112233' WHERE kind = 'round'", []).unwrap();
    conn.execute("DELETE FROM chunks WHERE doc IN (SELECT id FROM documents WHERE kind = 'round')", [])
        .unwrap();
    drop(conn);

    let status = volunteer.ok(&["status"]);
    assert_eq!(status["damaged"][0]["kept"], 2, "the damaged copy is named with its two knocks: {status}");
    assert_eq!(status["unsynced"], 2, "{status}");
    assert_ne!(status["standing"], "all synced / 已全部同步", "{status}");
    let (_, text, _) = volunteer.text(&["status"]);
    assert!(text.contains("is damaged and did not load") && text.contains("2 records are kept"), "{text}");

    // Back in signal: the relay's copy is fetched, the knocks carried out again on it and sent.
    let synced = volunteer.sync();
    assert_eq!(synced["report"]["recovered"], 2, "{synced}");
    assert_eq!(synced["unsynced"], 0, "{synced}");
    assert_eq!(synced["set_aside"], 0, "{synced}");
    let status = volunteer.ok(&["status"]);
    assert_eq!(status["damaged"], serde_json::json!([]), "{status}");
    assert_eq!(status["standing"], "all synced / 已全部同步", "{status}");

    coordinator.sync();
    let notes = attempt_notes(&coordinator.ok(&["rounds"]));
    assert!(notes.contains(&(first, "交给老人本人".to_owned())), "{notes:?}");
    assert!(notes.contains(&(second, "敲门无人应".to_owned())), "{notes:?}");

    // Opened again, nothing is damaged and the journal holds nothing more to carry out.
    let again = volunteer.ok(&["status"]);
    assert_eq!(
        (again["unsynced"].clone(), again["damaged"].clone()),
        (0.into(), serde_json::json!([])),
        "{again}"
    );
}

#[test]
fn knocks_in_a_damaged_copy_of_a_round_closed_meanwhile_go_to_the_coordinators_review() {
    let dir = tempfile::tempdir().unwrap();
    let (relay, compound, coordinator) = Relay::with_vegetable_round(dir.path());
    let volunteer = Phone::unencrypted(dir.path(), "volunteer");
    volunteer.join(&relay, &relay.invite(&compound, "volunteer"));
    let task = volunteer.doors(true)[0]["tasks"][0].clone();
    volunteer.ok(&["attempt", task["id"].as_str().unwrap(), "delivered", "--note", "交给老人本人"]);
    let conn = rusqlite::Connection::open(&volunteer.db).unwrap();
    conn.execute("UPDATE documents SET snapshot = x'00112233' WHERE kind = 'round'", []).unwrap();
    conn.execute("DELETE FROM chunks WHERE doc IN (SELECT id FROM documents WHERE kind = 'round')", [])
        .unwrap();
    drop(conn);

    // The coordinator closes the round meanwhile: the relay no longer gives it to the phone.
    let round = task["round"].as_str().unwrap_or_else(|| panic!("a task names its round: {task}"));
    coordinator.ok(&["op", &serde_json::json!({"op": "close_round", "round": round}).to_string()]);
    coordinator.sync();

    let synced = volunteer.sync();
    assert_eq!(synced["report"]["recovered"], 0, "{synced}");
    assert_eq!(synced["set_aside"], 1, "the knock goes to review, not lost: {synced}");
    let status = volunteer.ok(&["status"]);
    assert_eq!(status["damaged"], serde_json::json!([]), "{status}");
    assert_eq!(status["unsynced"], 0, "{status}");
    let kept = volunteer.ok(&["quarantine"]);
    assert_eq!(kept[0]["rule"], "document_withdrawn", "{kept}");
    assert!(kept.to_string().contains("交给老人本人"), "the operation is readable for review: {kept}");
}
