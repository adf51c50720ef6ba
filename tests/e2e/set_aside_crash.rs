//! Applying set-aside items while the relay is killed: an item's decision is stored in the same
//! transaction as the change that applies it, so after any number of `kill -9`s every item the
//! inbox shows applied has its change in the round, exactly once, and every change made by an
//! apply belongs to an item shown applied. (Before, the decision was stored first and the
//! change after; a kill between them left an item "applied" whose attempt never existed.)

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{Phone, Relay};
use crate::raw_http::{request, request_as};
use crate::set_aside_inbox::{dashboard_cookie, phone_token};

const ITEMS: usize = 160;
const KILLS: usize = 4;

/// The notes of the round's attempts that apply an item (`k-N`), with how often each is there.
fn applied_notes(coordinator: &Phone) -> BTreeMap<String, usize> {
    coordinator.sync();
    let mut notes = BTreeMap::new();
    for round in coordinator.ok(&["rounds"]).as_array().unwrap() {
        for task in round["tasks"].as_array().unwrap() {
            for attempt in task["task"]["attempts"].as_array().unwrap() {
                let note = attempt["note"].as_str().unwrap_or_default();
                if note.starts_with("k-") {
                    *notes.entry(note.to_owned()).or_default() += 1;
                }
            }
        }
    }
    notes
}

/// The inbox: each item's note and state.
fn inbox(relay: &Relay, cookie: &str, path: &str) -> Vec<(i64, String, String)> {
    let listed = request(&relay.url, "GET", path, Some(cookie), None);
    assert_eq!(listed.status, 200, "{}", listed.body);
    let items: Vec<Value> = serde_json::from_str(&listed.body).unwrap();
    items
        .iter()
        .map(|i| {
            let note = i["operation"]["note"].as_str().unwrap().to_owned();
            (i["id"].as_i64().unwrap(), note, i["state"].as_str().unwrap().to_owned())
        })
        .collect()
}

#[test]
fn a_relay_killed_while_items_are_applied_never_shows_one_applied_without_its_change() {
    let dir = tempfile::tempdir().unwrap();
    let (mut relay, compound, coordinator) = Relay::with_vegetable_round(dir.path());
    let volunteer = Phone::new(dir.path(), "volunteer");
    volunteer.join_as(&relay, "李强", &relay.invite(&compound, "volunteer"));
    let tasks: Vec<(String, String)> = coordinator.ok(&["rounds"]).as_array().unwrap()[0]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (t["task"]["round"].as_str().unwrap().to_owned(), t["task"]["id"].as_str().unwrap().to_owned())
        })
        .collect();

    // Knocks set aside on the volunteer's phone, each with its own note, sent for review.
    let token = phone_token(&volunteer.db);
    let items: Vec<Value> = (0..ITEMS)
        .map(|n| {
            let (round, task) = &tasks[n % tasks.len()];
            let op = json!({"op": "record_attempt", "round": round, "task": task, "outcome": "delivered", "note": format!("k-{n}")});
            json!({
                "id": format!("{n:064x}"), "doc": round, "operation": op.to_string(),
                "summary": "record_attempt", "made_at": 1_795_000_000_000_i64, "set_aside_at": 1_795_000_001_000_i64,
                "rule": "closed_rounds_are_final", "reason": "the round was closed",
            })
        })
        .collect();
    for chunk in items.chunks(32) {
        let sent = request_as(
            &relay.url,
            "POST",
            "/v1/set-aside",
            &token,
            Some(&json!({"items": chunk}).to_string()),
        );
        assert_eq!(sent.status, 200, "{}", sent.body);
    }

    let cookie = dashboard_cookie(&relay, &coordinator);
    let path = format!("/dashboard/api/compounds/{compound}/set-aside");
    for kill in 0..KILLS {
        let pending: Vec<i64> = inbox(&relay, &cookie, &path)
            .into_iter()
            .filter(|(_, _, s)| s == "pending")
            .map(|(id, _, _)| id)
            .collect();
        // Four coordinators' clicks at once, until the relay dies under them.
        let workers: Vec<_> = (0..4)
            .map(|w| {
                let (url, cookie, path) = (relay.url.clone(), cookie.clone(), path.clone());
                let mine: Vec<i64> = pending.iter().copied().skip(w).step_by(4).collect();
                std::thread::spawn(move || {
                    for id in mine {
                        // Panics (ending this worker) once the relay is gone.
                        request(&url, "POST", &format!("{path}/{id}/apply"), Some(&cookie), Some("{}"));
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(40 + 30 * kill as u64));
        relay.kill9();
        for worker in workers {
            let _ = worker.join();
        }
        relay.restart();

        let shown = inbox(&relay, &cookie, &path);
        let held = applied_notes(&coordinator);
        let applied: Vec<&String> =
            shown.iter().filter(|(_, _, s)| s == "applied").map(|(_, n, _)| n).collect();
        println!("after kill {kill}: {} items applied, {} attempts applied", applied.len(), held.len());
        for note in &applied {
            assert_eq!(
                held.get(*note),
                Some(&1),
                "item {note} shows applied; its attempt is held {:?} times",
                held.get(*note)
            );
        }
        for (note, times) in &held {
            assert_eq!(*times, 1, "{note} applied {times} times");
            assert!(applied.contains(&note), "{note} is in the round but its item is not shown applied");
        }
    }

    // What is left applies once each.
    for (id, _, state) in inbox(&relay, &cookie, &path) {
        if state == "pending" {
            let done = request(&relay.url, "POST", &format!("{path}/{id}/apply"), Some(&cookie), Some("{}"));
            assert_eq!(done.status, 200, "{}", done.body);
        }
    }
    let held = applied_notes(&coordinator);
    assert_eq!(held.len(), ITEMS);
    assert!(held.values().all(|n| *n == 1), "{held:?}");
}
