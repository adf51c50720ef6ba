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
