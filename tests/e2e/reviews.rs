//! A coordinator marks a double delivery reviewed from the command-line phone, with a note; the
//! review reaches a volunteer's phone through the real relay process; a volunteer's phone may
//! not write one; and a delivery an offline phone made before the review shows the conflict as
//! unreviewed again once it syncs.

use serde_json::Value;

use crate::harness::{Phone, Relay};

fn double_deliveries(phone: &Phone) -> Vec<Value> {
    let conflicts = phone.ok(&["conflicts"]);
    conflicts.as_array().unwrap().iter().filter(|c| c["kind"] == "double_delivery").cloned().collect()
}

#[test]
fn a_coordinator_reviews_a_double_delivery_and_a_later_delivery_reopens_it() {
    let dir = tempfile::tempdir().unwrap();
    let (relay, compound, coordinator) = Relay::with_vegetable_round(dir.path());
    let (wang, li) = (Phone::new(dir.path(), "wang"), Phone::new(dir.path(), "li"));
    wang.join(&relay, &relay.invite(&compound, "volunteer"));
    li.join(&relay, &relay.invite(&compound, "volunteer"));
    let task = li.doors(true)[0]["tasks"][0]["id"].as_str().unwrap().to_owned();

    wang.ok(&["attempt", &task, "delivered", "--note", "放门口了"]);
    li.ok(&["attempt", &task, "delivered", "--note", "交给老人本人"]);
    wang.sync();
    li.sync();
    wang.sync();
    // Li's phone records one more delivery and stays offline through the review.
    li.ok(&["attempt", &task, "delivered", "--note", "又送了一份"]);
    coordinator.sync();
    let before = double_deliveries(&coordinator);
    assert_eq!(before.len(), 1, "{before:?}");
    assert_eq!(before[0]["review"], Value::Null);

    // A volunteer's phone refuses, naming the rule.
    let refused = wang.run(&["review", &task, "--note", "我自己核实了"]).unwrap_err();
    assert!(refused.contains("conflicts_are_reviewed_by_coordinators"), "{refused}");

    // The coordinator reviews by task ID prefix, with a note.
    coordinator.ok(&["review", &task[..12], "--note", "已核实，第二份转给 2-1-302"]);
    let report = coordinator.sync();
    assert!(report["report"]["rejected"].as_array().unwrap().is_empty(), "{report}");
    let reviewed = double_deliveries(&coordinator);
    assert_eq!(reviewed[0]["review"]["note"], "已核实，第二份转给 2-1-302", "{reviewed:?}");
    assert_eq!(reviewed[0]["deliveries"].as_array().unwrap().len(), 2, "both deliveries stay");

    // Wang's phone learns of the review by syncing.
    wang.sync();
    let on_wang = double_deliveries(&wang);
    assert_eq!(on_wang[0]["review"]["note"], "已核实，第二份转给 2-1-302", "{on_wang:?}");

    // Li comes back with the third delivery: unreviewed again, on every phone.
    li.sync();
    coordinator.sync();
    wang.sync();
    for phone in [&coordinator, &wang, &li] {
        let again = double_deliveries(phone);
        assert_eq!(again[0]["deliveries"].as_array().unwrap().len(), 3, "{again:?}");
        assert_eq!(again[0]["review"], Value::Null, "the third delivery is not hidden: {again:?}");
    }
}

/// A task claimed and delivered by two volunteers offline has two conflicts, a double delivery
/// and a competing assignment. `conflicts` names each one's `review` with its `--kind`; `review`
/// of the door alone takes the one still to review, so the second review of that door reviews
/// the other (it reviewed the double delivery again, replacing its note, and the competing
/// assignment stayed to review for good).
#[test]
fn both_conflicts_of_one_task_are_reviewed_by_the_door_or_by_kind() {
    let dir = tempfile::tempdir().unwrap();
    let (relay, compound, coordinator) = Relay::with_vegetable_round(dir.path());
    let (wang, li) = (Phone::new(dir.path(), "wang"), Phone::new(dir.path(), "li"));
    wang.join(&relay, &relay.invite(&compound, "volunteer"));
    li.join(&relay, &relay.invite(&compound, "volunteer"));
    // A task nobody holds: both claim it offline, then deliver.
    let free = li
        .doors(true)
        .iter()
        .flat_map(|d| d["tasks"].as_array().unwrap().clone())
        .find(|t| t["assignee"].is_null());
    let task = match free {
        Some(t) => t["id"].as_str().unwrap().to_owned(),
        None => {
            let task = li.doors(true)[0]["tasks"][0]["id"].as_str().unwrap().to_owned();
            coordinator.ok(&["release", &task]);
            coordinator.sync();
            task
        }
    };
    wang.sync();
    li.sync();
    for (phone, note) in [(&wang, "放门口了"), (&li, "交给老人本人")] {
        phone.ok(&["claim", &task]);
        phone.ok(&["attempt", &task, "delivered", "--note", note]);
    }
    wang.sync();
    li.sync();
    coordinator.sync();
    let kinds = |phone: &Phone| -> Vec<(String, bool)> {
        phone
            .ok(&["conflicts"])
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["kind"].as_str().unwrap().to_owned(), c["review"].is_null()))
            .collect()
    };
    let mut open = kinds(&coordinator);
    open.sort();
    assert_eq!(open, [("competing_assignment".into(), true), ("double_delivery".into(), true)], "{open:?}");
    let (ok, text, stderr) = coordinator.text(&["conflicts"]);
    assert!(ok, "{stderr}");
    assert!(text.contains("--kind delivery") && text.contains("--kind assignment"), "{text}");

    // By kind, then the door alone takes the other one, not the one reviewed.
    coordinator.ok(&["review", &task, "--kind", "assignment", "--note", "已改派给王"]);
    coordinator.ok(&["review", &task, "--note", "只送一份"]);
    let reviews: Vec<(String, String)> = coordinator
        .ok(&["conflicts"])
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (c["kind"].as_str().unwrap().to_owned(), c["review"]["note"].as_str().unwrap_or("").to_owned())
        })
        .collect();
    assert!(reviews.contains(&("competing_assignment".into(), "已改派给王".into())), "{reviews:?}");
    assert!(reviews.contains(&("double_delivery".into(), "只送一份".into())), "{reviews:?}");
}
