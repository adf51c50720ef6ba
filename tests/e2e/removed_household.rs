//! The terminal phones, when a coordinator removes a household while a volunteer, offline, takes
//! a request at its door: after both sync, both phones still name the door of the request, its
//! last address marked as removed, instead of "a household not in this phone's roster"; the
//! door's task, still open, is listed under the door marked removed, to ask before going.

use serde_json::json;

use crate::harness::{Phone, Relay};

#[test]
fn a_request_at_a_door_removed_meanwhile_names_the_door_on_both_phones() {
    let dir = tempfile::tempdir().unwrap();
    let (relay, compound, coordinator) = Relay::with_vegetable_round(dir.path());
    let volunteer = Phone::new(dir.path(), "volunteer");
    volunteer.join_as(&relay, "李强", &relay.invite(&compound, "volunteer"));
    let doors = volunteer.doors(true);
    let household = &doors[0]["household"];
    let (id, address) = (household["id"].as_str().unwrap(), &household["address"]);
    let typed = format!(
        "{}号楼{}单元{}",
        address["building"].as_str().unwrap(),
        address["unit"].as_str().unwrap(),
        address["flat"].as_str().unwrap()
    );

    // Offline at the door, a critical request; meanwhile the household is removed.
    volunteer.ok(&[
        "request",
        &typed,
        "胰岛素用完了，今天必须送到",
        "--category",
        "medicine",
        "--urgency",
        "critical",
    ]);
    coordinator.ok(&["op", &json!({"op": "remove_household", "household": id}).to_string()]);
    coordinator.sync();
    volunteer.sync();
    coordinator.sync();

    let marked = "(已从名册移除 / removed from the roster)";
    for phone in [&volunteer, &coordinator] {
        let (ok, out, err) = phone.text(&["requests"]);
        assert!(ok, "{err}");
        let line =
            out.lines().find(|l| l.contains("胰岛素用完了")).unwrap_or_else(|| panic!("the request: {out}"));
        assert!(line.contains(&typed) && line.contains(marked), "the door, marked: {line}");
        assert!(!out.contains("不在本机名册中的住户"), "{out}");
    }
    // Its task still stands (the dashboard's round shows it open): the door is listed, as it
    // last stood, marked to ask before going (it was left out, and the task seemed gone).
    let (ok, out, err) = volunteer.text(&["tasks", "--all"]);
    assert!(ok, "{err}");
    let at = out.find(&format!("{typed} ")).unwrap_or_else(|| panic!("the removed door is listed: {out}"));
    let next = out[at..].lines().nth(1).unwrap_or_default();
    assert!(next.contains(marked) && next.contains("ask a coordinator before going"), "{out}");
    let listed = volunteer.doors(true);
    let door = listed.iter().find(|d| d["household"]["id"] == id).expect("in the JSON list too");
    assert_eq!(door["household_removed"], true, "{door}");
    assert!(
        listed.iter().filter(|d| d["household"]["id"] != id).all(|d| d.get("household_removed").is_none())
    );
}
