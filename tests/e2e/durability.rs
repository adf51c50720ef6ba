//! The relay is killed with SIGKILL while phones sync, again and again. Every change a phone's
//! sync acknowledged must be on the relay after the restart, the relay must start without
//! repair, and every phone must converge.

use std::collections::BTreeSet;
use std::thread;
use std::time::Duration;

use serde_json::json;

use crate::harness::{Phone, Relay, sample};

#[test]
fn sigkill_during_concurrent_syncs_loses_nothing_acknowledged() {
    let iterations: usize =
        std::env::var("DOORSTEP_E2E_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(50);
    let dir = tempfile::tempdir().unwrap();
    let mut relay = Relay::start(dir.path());
    let compound = relay.compound_from("北林", &sample("beilin-roster.csv"));
    let coordinator = Phone::new(dir.path(), "coordinator");
    coordinator.join(&relay, &relay.invite(&compound, "coordinator"));
    let round = json!({
        "op": "create_round", "title": "药品", "kind": "medicine", "date": "2026-11-23",
        "selection": {"by": "status", "status": "home_quarantine"}, "items": "药品", "priority": "high"
    });
    coordinator.ok(&["op", &round.to_string()]);
    coordinator.sync();
    let phones: Vec<Phone> = (0..3)
        .map(|i| {
            let p = Phone::new(dir.path(), &format!("volunteer{i}"));
            p.join(&relay, &relay.invite(&compound, "volunteer"));
            p
        })
        .collect();
    let tasks: Vec<String> = phones[0]
        .doors(true)
        .iter()
        .flat_map(|d| d["tasks"].as_array().unwrap().clone())
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(tasks.len() >= 50, "beilin has 59 households in home quarantine");

    let mut acknowledged: BTreeSet<String> = BTreeSet::new();
    let mut made: BTreeSet<String> = BTreeSet::new();
    let mut rng = 0x9E3779B97F4A7C15u64;
    for i in 0..iterations {
        // Each phone records an attempt offline, then all sync at once while the relay dies.
        let mut notes = Vec::new();
        for (p, phone) in phones.iter().enumerate() {
            let note = format!("kill{i}-phone{p}");
            let task = &tasks[(i * 3 + p) % tasks.len()];
            phone.ok(&["attempt", task, "nobody_home", "--note", &note]);
            made.insert(note.clone());
            notes.push(note);
        }
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        // Mostly a kill within a sync's first moments; every third round late enough that syncs
        // finish first, so the test also proves acknowledged work survives (not only that
        // unacknowledged work is retried).
        let delay = Duration::from_millis(if i % 3 == 2 { 400 + rng % 1200 } else { rng % 60 });
        let results: Vec<(BTreeSet<String>, bool)> = thread::scope(|s| {
            let handles: Vec<_> = phones
                .iter()
                .map(|phone| {
                    let pending = notes_of(phone);
                    s.spawn(move || (pending, phone.run(&["sync"]).is_ok()))
                })
                .collect();
            thread::sleep(delay);
            relay.kill9();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (pending, ok) in results {
            if ok {
                acknowledged.extend(pending);
            }
        }
        relay.restart();
        coordinator.sync();
        let on_relay = notes_of(&coordinator);
        let lost: Vec<_> = acknowledged.difference(&on_relay).collect();
        assert!(lost.is_empty(), "iteration {i}: acknowledged changes lost: {lost:?}");
    }

    // After the storm every phone converges, with every change anyone made.
    for phone in &phones {
        phone.sync();
    }
    coordinator.sync();
    let everything = notes_of(&coordinator);
    assert_eq!(everything, made, "every change made on a phone reached the relay in the end");
    for phone in &phones {
        phone.sync();
        assert_eq!(notes_of(phone), made);
    }
    assert!(
        !acknowledged.is_empty(),
        "no sync was acknowledged before any of the {iterations} kills: the test proved nothing"
    );
    println!(
        "{iterations} kills, {} syncs acknowledged changes, {} changes in all",
        acknowledged.len(),
        made.len()
    );
}

/// Every attempt note the phone holds.
fn notes_of(phone: &Phone) -> BTreeSet<String> {
    let rounds = phone.ok(&["rounds"]);
    rounds
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["tasks"].as_array().unwrap().clone())
        .flat_map(|t| t["task"]["attempts"].as_array().unwrap().clone())
        .filter_map(|a| a["note"].as_str().map(str::to_owned))
        .filter(|n| n.starts_with("kill"))
        .collect()
}
