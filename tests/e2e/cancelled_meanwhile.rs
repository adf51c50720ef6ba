//! A volunteer delivers, offline, to a door whose task a coordinator cancelled meanwhile: the
//! delivery stands (goods were left there), and the coordinator's phone still says the task was
//! cancelled and why, instead of showing a plain "delivered".

use serde_json::json;

use crate::harness::{Phone, Relay};

#[test]
fn a_delivery_to_a_door_cancelled_meanwhile_still_shows_the_cancellation() {
    let dir = tempfile::tempdir().unwrap();
    let (relay, compound, coordinator) = Relay::with_vegetable_round(dir.path());
    let volunteer = Phone::new(dir.path(), "volunteer");
    volunteer.join_as(&relay, "李强", &relay.invite(&compound, "volunteer"));
    let doors = volunteer.doors(true);
    let task = &doors[0]["tasks"][0];
    let (id, round) = (task["id"].as_str().unwrap(), task["round"].as_str().unwrap());

    volunteer.ok(&["claim", id]);
    volunteer.ok(&["attempt", id, "delivered"]);
    coordinator.ok(&[
        "op",
        &json!({"op": "cancel_task", "round": round, "task": id, "reason": "已住院"}).to_string(),
    ]);
    coordinator.sync();
    volunteer.sync();
    coordinator.sync();

    let (ok, out, err) = coordinator.text(&["rounds"]);
    assert!(ok, "{err}");
    let at = out.find("已送达 / Delivered").unwrap_or_else(|| panic!("the delivery stands: {out}"));
    let rest = &out[at..];
    assert!(rest.contains("协调员已取消此任务 / cancelled by a coordinator: 已住院"), "{out}");
}

/// A volunteer's claimed tasks leave their list at a sync: one cancelled by a coordinator, one
/// given to a colleague, one delivered by a colleague. The sync says what became of each (they
/// just were not listed any more); and a knock recorded on a colleague's task says whose it is.
#[test]
fn a_sync_says_what_became_of_the_tasks_it_took_off_the_list() {
    let dir = tempfile::tempdir().unwrap();
    let (relay, compound, coordinator) = Relay::with_vegetable_round(dir.path());
    let volunteer = Phone::new(dir.path(), "volunteer");
    volunteer.join_as(&relay, "李强", &relay.invite(&compound, "volunteer"));
    let colleague = Phone::new(dir.path(), "colleague");
    let joined = colleague.join_as(&relay, "赵敏", &relay.invite(&compound, "volunteer"));
    let colleague_id = joined["person"].as_str().unwrap().to_owned();
    let tasks: Vec<(String, String)> = volunteer
        .doors(true)
        .iter()
        .take(4)
        .map(|d| {
            let t = &d["tasks"][0];
            (t["id"].as_str().unwrap().to_owned(), t["round"].as_str().unwrap().to_owned())
        })
        .collect();
    for (id, _) in &tasks {
        volunteer.ok(&["claim", id]);
    }
    volunteer.sync();
    coordinator.sync();
    colleague.sync();
    // Whose each assigned task is, as each of them lists it.
    let (_, mine, _) = volunteer.text(&["tasks", "--all"]);
    assert_eq!(mine.matches("[已分配给你 / Assigned to you]").count(), 4, "{mine}");
    let (_, theirs, _) = colleague.text(&["tasks", "--all"]);
    assert_eq!(theirs.matches("[已分配给他人 / Assigned to someone else]").count(), 4, "{theirs}");

    let (cancelled, round) = &tasks[0];
    coordinator.ok(&[
        "op",
        &json!({"op": "cancel_task", "round": round, "task": cancelled, "reason": "已住院"}).to_string(),
    ]);
    let reassigned = &tasks[1].0;
    coordinator.ok(&[
        "op",
        &json!({"op": "assign_task", "round": round, "task": reassigned, "volunteer": colleague_id})
            .to_string(),
    ]);
    coordinator.sync();
    let delivered = &tasks[2].0;
    let (ok, _, err) = colleague.text(&["attempt", delivered, "delivered"]);
    assert!(ok, "{err}");
    assert!(err.contains("此任务已分配给") && err.contains("recorded as yours"), "whose task it was: {err}");
    colleague.sync();

    let (ok, _, err) = volunteer.text(&["sync"]);
    assert!(ok, "{err}");
    assert!(err.contains("cancelled by") && err.contains("已住院") && err.contains("请勿送达"), "{err}");
    // (A volunteer's phone knows its coordinators' names, not its colleagues'.)
    assert!(err.contains("now assigned to another volunteer / 已改派给另一位志愿者"), "{err}");
    assert!(err.contains("delivered by another volunteer") && err.contains("请勿重复送达"), "{err}");
    assert_eq!(err.lines().filter(|l| l.contains("/ ")).count(), 3, "the fourth is still theirs: {err}");
}
