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
