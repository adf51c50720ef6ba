//! The round trip of the mission: a coordinator plans a round for one building; two volunteers
//! sync, go offline in the stairwell, both deliver the same task, one takes a new request at a
//! door; they come back into signal; the coordinator sees every attempt, the double delivery as
//! a conflict to review, and the new request. Nothing is lost.

use serde_json::Value;

use crate::harness::{Phone, Relay, sample};

fn attempts_by_task(rounds: &Value) -> Vec<(String, Vec<Value>)> {
    rounds
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["tasks"].as_array().unwrap().clone())
        .map(|t| {
            (t["task"]["id"].as_str().unwrap().to_owned(), t["task"]["attempts"].as_array().unwrap().clone())
        })
        .collect()
}

#[test]
fn two_volunteers_offline_then_the_coordinator_sees_everything() {
    let dir = tempfile::tempdir().unwrap();
    let mut relay = Relay::start(dir.path());
    let compound = relay.compound_from("香樟苑", &sample("xiangzhangyuan-roster.csv"));

    let coordinator = Phone::new(dir.path(), "coordinator");
    coordinator.join(&relay, &relay.invite(&compound, "coordinator"));
    coordinator.create_vegetable_round();
    let report = coordinator.sync();
    assert!(report["report"]["rejected"].as_array().unwrap().is_empty(), "{report}");
    assert_eq!(report["unsynced"], 0, "the coordinator's round reached the relay: {report}");

    let wang = Phone::new(dir.path(), "wang");
    let li = Phone::new(dir.path(), "li");
    wang.join(&relay, &relay.invite(&compound, "volunteer"));
    li.join(&relay, &relay.invite(&compound, "volunteer"));
    let doors = li.doors(true);
    assert_eq!(doors.len(), 42, "building 1 of 香樟苑 has 42 households, one task each");
    let first = doors[0]["tasks"][0]["id"].as_str().unwrap().to_owned();
    let second = doors[1]["tasks"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(doors[0]["household"]["address"]["flat"], "101", "doors are in climbing order");

    // In the stairwell: no signal.
    relay.kill9();
    wang.ok(&["claim", &first]);
    wang.ok(&["attempt", &first, "delivered", "--note", "放门口了"]);
    li.ok(&["attempt", &first, "delivered", "--note", "交给老人本人"]);
    li.ok(&["attempt", &second, "nobody_home"]);
    li.ok(&["request", "1号楼1单元201", "需要降压药", "--category", "medicine", "--urgency", "urgent"]);
    assert_eq!(li.ok(&["status"])["unsynced"], 3, "three changes wait on Li's phone");
    assert!(wang.run(&["sync"]).is_err(), "no relay: sync fails instead of pretending");
    assert_eq!(wang.ok(&["status"])["unsynced"], 2, "and loses nothing");

    // Back in signal.
    relay.restart();
    let wang_sync = wang.sync();
    let li_sync = li.sync();
    // A backlog syncs in one request: the first request carries the phone's changes since the
    // last sync, and the reply brings exactly what others sent meanwhile (Li gets Wang's).
    for sync in [&wang_sync, &li_sync] {
        assert_eq!(sync["report"]["requests"], 1, "one request for a backlog: {sync}");
    }
    assert_eq!(li_sync["unsynced"], 0);
    coordinator.sync();

    let rounds = coordinator.ok(&["rounds"]);
    let attempts = attempts_by_task(&rounds);
    let on_first = &attempts.iter().find(|(id, _)| *id == first).unwrap().1;
    let notes: Vec<&str> = on_first.iter().map(|a| a["note"].as_str().unwrap()).collect();
    assert_eq!(on_first.len(), 2, "both deliveries kept: {notes:?}");
    assert!(notes.contains(&"放门口了") && notes.contains(&"交给老人本人"), "{notes:?}");
    let on_second = &attempts.iter().find(|(id, _)| *id == second).unwrap().1;
    assert_eq!(on_second[0]["outcome"], "nobody_home");

    let conflicts = coordinator.ok(&["conflicts"]);
    let double: Vec<&Value> =
        conflicts.as_array().unwrap().iter().filter(|c| c["kind"] == "double_delivery").collect();
    assert_eq!(double.len(), 1, "{conflicts}");
    assert_eq!(double[0]["task"], first.as_str());

    let requests = coordinator.ok(&["requests"]);
    let texts: Vec<&str> = requests.as_array().unwrap().iter().map(|r| r["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["需要降压药"]);

    // Every phone converges on the same view.
    wang.sync();
    assert_eq!(attempts_by_task(&wang.ok(&["rounds"])), attempts_by_task(&rounds));
}
