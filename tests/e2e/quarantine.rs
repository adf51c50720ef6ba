//! A change the relay refuses never blocks the rest of a phone's queue: only the refused
//! operation leaves the document and is set aside, readable, under review; the operations made
//! after it are carried out again and reach the relay.

use serde_json::json;

use crate::harness::{Phone, Relay, sample};
use crate::raw_http::request;

/// The round `round_id` as the coordinator's dashboard lists it (its counts of late and
/// delivered knocks among them).
fn round_on_the_dashboard(
    relay: &Relay,
    coordinator: &Phone,
    compound: &str,
    round_id: &str,
) -> serde_json::Value {
    let cookie = crate::set_aside_inbox::dashboard_cookie(relay, coordinator);
    let path = format!("/dashboard/api/compounds/{compound}/rounds");
    let rounds = request(&relay.url, "GET", &path, Some(&cookie), None);
    let rounds: serde_json::Value = serde_json::from_str(&rounds.body).unwrap();
    rounds.as_array().unwrap().iter().find(|r| r["round"]["document"] == round_id).cloned().unwrap()
}

#[test]
fn an_attempt_on_a_round_closed_meanwhile_arrives_late_and_nothing_is_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(dir.path());
    let compound = relay.compound_from("北林", &sample("beilin-roster.csv"));
    let coordinator = Phone::new(dir.path(), "coordinator");
    coordinator.join(&relay, &relay.invite(&compound, "coordinator"));
    let round = json!({
        "op": "create_round", "title": "透析接送", "kind": "visit", "date": "2026-11-23",
        "selection": {"by": "need", "need": "dialysis"}, "items": "接送", "priority": "urgent"
    });
    let created = coordinator.ok(&["op", &round.to_string()]);
    let round_id = created["created"][0].as_str().unwrap().to_owned();
    coordinator.sync();

    let volunteer = Phone::new(dir.path(), "volunteer");
    volunteer.join(&relay, &relay.invite(&compound, "volunteer"));
    let task = volunteer.doors(true)[0]["tasks"][0]["id"].as_str().unwrap().to_owned();

    // The volunteer works offline while the coordinator closes the round.
    volunteer.ok(&["attempt", &task, "delivered", "--note", "已接送"]);
    volunteer.ok(&["request", "北林小区1号楼1单元102", "想要一袋大米"]);
    coordinator.ok(&["op", &json!({"op": "close_round", "round": round_id}).to_string()]);
    let closed = coordinator.sync();
    assert_eq!(
        closed["set_aside"], 0,
        "the coordinator's own close reached the relay; nothing of it is set aside: {closed}"
    );

    // The relay takes the attempt as late; the phone, which sent it in the same answer that
    // withdrew the round, keeps nothing back (before: it was also set aside as
    // `document_withdrawn`, though the relay had it).
    let report = volunteer.sync();
    assert_eq!(report["unsynced"], 0, "{report}");
    assert_eq!(report["set_aside"], 0, "the attempt arrived; it is not set aside: {report}");
    assert!(report["report"]["rejected"].as_array().unwrap().is_empty(), "{report}");
    assert!(
        report["report"]["dropped"].as_array().unwrap().iter().any(|d| d == round_id.as_str()),
        "the closed round leaves the phone: {report}"
    );
    assert_eq!(volunteer.ok(&["quarantine"]), json!([]), "nothing set aside");

    // The coordinator sees the knock on the closed round, as late.
    let closed_round = round_on_the_dashboard(&relay, &coordinator, &compound, &round_id);
    assert_eq!(closed_round["late"], 1, "{closed_round}");
    assert_eq!(closed_round["delivered"], 1, "{closed_round}");

    // The next sync is clean: nothing is offered again.
    let again = volunteer.sync();
    assert!(again["report"]["rejected"].as_array().unwrap().is_empty(), "{again}");
    coordinator.sync();
    let texts: Vec<String> = coordinator
        .ok(&["requests"])
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(texts, ["想要一袋大米"]);
}

#[test]
fn a_knock_after_the_round_closed_does_not_hold_back_the_knocks_made_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let (relay, compound, coordinator) = Relay::with_vegetable_round(dir.path());
    let round_id = coordinator.ok(&["rounds"])[0]["tasks"][0]["task"]["round"].as_str().unwrap().to_owned();
    let volunteer = Phone::new(dir.path(), "volunteer");
    volunteer.join(&relay, &relay.invite(&compound, "volunteer"));
    let doors: Vec<String> = volunteer
        .doors(true)
        .iter()
        .take(4)
        .map(|d| d["tasks"][0]["id"].as_str().unwrap().to_owned())
        .collect();

    // Two knocks offline, then the coordinator closes the round; two more knocks after the close.
    volunteer.ok(&["attempt", &doors[0], "delivered", "--note", "关前一"]);
    volunteer.ok(&["attempt", &doors[1], "delivered", "--note", "关前二"]);
    std::thread::sleep(std::time::Duration::from_millis(20));
    coordinator.ok(&["op", &json!({"op": "close_round", "round": round_id}).to_string()]);
    coordinator.sync();
    // After it by more than two honest clocks can disagree (the phone's clock now eleven
    // minutes on: within that, a knock is taken as made before the close).
    let later = Phone { clock_ahead_ms: 11 * 60_000, ..volunteer.clone() };
    later.ok(&["attempt", &doors[2], "delivered", "--note", "关后一"]);
    later.ok(&["attempt", &doors[3], "nobody_home", "--note", "关后二"]);

    // The relay takes the two made before the close (late) and refuses the first made after it;
    // the second after it builds on that one and is set aside with it. Before, all four were set
    // aside: the two good ones as "document_withdrawn", though nothing was wrong with them.
    let report = volunteer.sync();
    let rejected = report["report"]["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 1, "{report}");
    assert_eq!(rejected[0]["rule"], "closed_rounds_are_final", "{report}");
    assert_eq!(rejected[0]["taken"].as_array().map(Vec::len), Some(2), "{report}");
    let set_aside: Vec<String> = volunteer
        .ok(&["quarantine"])
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let op: serde_json::Value = serde_json::from_str(e["operation"].as_str().unwrap()).unwrap();
            op["note"].as_str().unwrap().to_owned()
        })
        .collect();
    let mut set_aside = set_aside;
    set_aside.sort();
    assert_eq!(set_aside, ["关后一", "关后二"], "only the knocks after the close: {report}");

    // The coordinator's dashboard counts the two before the close as late deliveries.
    let closed = round_on_the_dashboard(&relay, &coordinator, &compound, &round_id);
    assert_eq!((closed["late"].as_i64(), closed["delivered"].as_i64()), (Some(2), Some(2)), "{closed}");

    // The round reopened (to apply the knocks from the inbox, say): the volunteer's list shows
    // the two doors whose knocks wait for a coordinator as such, not as doors never knocked on,
    // so they are not delivered a second time (helper finding: shown "assigned, 0 attempts").
    let cookie = crate::set_aside_inbox::dashboard_cookie(&relay, &coordinator);
    let reopen = json!({"op": "reopen_round", "round": round_id}).to_string();
    let path = format!("/dashboard/api/compounds/{compound}/operations");
    let reopened = request(&relay.url, "POST", &path, Some(&cookie), Some(&reopen));
    assert_eq!(reopened.status, 200, "{}", reopened.body);
    volunteer.sync();
    let mut flagged: Vec<String> = volunteer
        .doors(true)
        .iter()
        .flat_map(|d| d["tasks"].as_array().cloned().unwrap_or_default())
        .filter(|t| t["knock_set_aside"] == true)
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    flagged.sort();
    let mut expected = vec![doors[2].clone(), doors[3].clone()];
    expected.sort();
    assert_eq!(flagged, expected);
    let (_, text, _) = volunteer.text(&["tasks", "--all"]);
    assert_eq!(text.matches("请勿重复送达").count(), 2, "{text}");
}

/// A delivery made a minute before the close, on a phone whose clock runs three minutes fast
/// (no phone is warned under five): dated after the close by the coordinator's clock, it is
/// still taken as a late delivery, not set aside (helper finding: refused as
/// `closed_rounds_are_final`, and the inbox's "apply" then asked to reopen the round).
#[test]
fn a_delivery_made_before_the_close_on_a_clock_a_few_minutes_fast_is_taken_as_late() {
    let dir = tempfile::tempdir().unwrap();
    let (relay, compound, coordinator) = Relay::with_vegetable_round(dir.path());
    let round_id = coordinator.ok(&["rounds"])[0]["tasks"][0]["task"]["round"].as_str().unwrap().to_owned();
    let mut volunteer = Phone::new(dir.path(), "volunteer");
    volunteer.clock_ahead_ms = 3 * 60_000;
    volunteer.join(&relay, &relay.invite(&compound, "volunteer"));
    let door = volunteer.doors(true)[0]["tasks"][0]["id"].as_str().unwrap().to_owned();

    volunteer.ok(&["attempt", &door, "delivered", "--note", "快三分钟的手机"]);
    coordinator.ok(&["op", &json!({"op": "close_round", "round": round_id}).to_string()]);
    coordinator.sync();
    let report = volunteer.sync();
    assert_eq!(report["report"]["rejected"].as_array().map(Vec::len), Some(0), "{report}");
    assert_eq!(volunteer.ok(&["quarantine"]).as_array().map(Vec::len), Some(0));
    let closed = round_on_the_dashboard(&relay, &coordinator, &compound, &round_id);
    assert_eq!((closed["late"].as_i64(), closed["delivered"].as_i64()), (Some(1), Some(1)), "{closed}");
}

/// Clocks half an hour wrong, which the relay told each phone at its last sync: a volunteer's
/// phone half an hour fast delivers before the close; a coordinator's phone half an hour slow
/// closes just after a delivery. Each phone dates its work on the relay's clock, so both
/// deliveries are taken as made before the close (helper finding: both refused as
/// `closed_rounds_are_final` and set aside, the fast phone's "made 30 minutes after the close").
#[test]
fn deliveries_before_the_close_are_kept_when_a_phone_told_its_clock_is_half_an_hour_off_did_the_work() {
    const HALF_HOUR: i64 = 30 * 60_000;
    for (who, volunteer_ahead, coordinator_ahead) in
        [("the volunteer's phone fast", HALF_HOUR, 0), ("the coordinator's phone slow", 0, -HALF_HOUR)]
    {
        let dir = tempfile::tempdir().unwrap();
        let (relay, compound, mut coordinator) = Relay::with_vegetable_round(dir.path());
        let round_id =
            coordinator.ok(&["rounds"])[0]["tasks"][0]["task"]["round"].as_str().unwrap().to_owned();
        coordinator.clock_ahead_ms = coordinator_ahead;
        coordinator.sync();
        let mut volunteer = Phone::new(dir.path(), "volunteer");
        volunteer.clock_ahead_ms = volunteer_ahead;
        volunteer.join(&relay, &relay.invite(&compound, "volunteer"));
        let door = volunteer.doors(true)[0]["tasks"][0]["id"].as_str().unwrap().to_owned();
        // The phone whose clock is wrong was told so.
        let off_by = |phone: &Phone| phone.ok(&["status"])["clock_off_by_ms"].as_i64().unwrap_or(0);
        let told = off_by(&volunteer) + off_by(&coordinator);
        assert!((told - volunteer_ahead - coordinator_ahead).abs() < 60_000, "{who}: told {told} ms");

        volunteer.ok(&["attempt", &door, "delivered", "--note", "时钟不准的手机"]);
        std::thread::sleep(std::time::Duration::from_millis(1_500));
        coordinator.ok(&["op", &json!({"op": "close_round", "round": round_id}).to_string()]);
        coordinator.sync();
        let report = volunteer.sync();
        assert_eq!(report["report"]["rejected"].as_array().map(Vec::len), Some(0), "{who}: {report}");
        assert_eq!(volunteer.ok(&["quarantine"]).as_array().map(Vec::len), Some(0), "{who}");
        let closed = round_on_the_dashboard(&relay, &coordinator, &compound, &round_id);
        assert_eq!(
            (closed["late"].as_i64(), closed["delivered"].as_i64()),
            (Some(1), Some(1)),
            "{who}: {closed}"
        );
    }
}

#[test]
fn one_refused_change_followed_by_ten_good_ones_sets_aside_only_the_refused_one() {
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(dir.path());
    let compound = relay.compound_from("北林", &sample("beilin-roster.csv"));
    let volunteer = Phone::new(dir.path(), "volunteer");
    volunteer.join(&relay, &relay.invite(&compound, "volunteer"));

    // Someone edits the phone's file to claim the coordinator role, then uses it offline: one
    // forbidden edit of the roster, then ten notes a volunteer may write, in the same document.
    let conn = rusqlite::Connection::open(&volunteer.db).unwrap();
    conn.execute("UPDATE roles SET role = 'coordinator'", []).unwrap();
    drop(conn);
    let household = volunteer.ok(&["find", "北林小区1号楼1单元102"])["id"].as_str().unwrap().to_owned();
    let op = json!({"op": "set_control_status", "household": household, "status": "confirmed"});
    volunteer.ok(&["op", &op.to_string()]);
    let doors: Vec<String> = ["101", "103", "104", "201", "202", "204", "301", "303", "401", "402"]
        .iter()
        .map(|flat| format!("北林小区1号楼1单元{flat}"))
        .collect();
    for (i, door) in doors.iter().enumerate() {
        volunteer.ok(&["notes", door, &format!("第{i}条：老人腿脚不便，送到门口")]);
    }

    let report = volunteer.sync();
    let rejected = report["report"]["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 1, "{report}");
    assert_eq!(rejected[0]["rule"], "roster_is_edited_by_coordinators", "{report}");
    assert_eq!(report["report"]["set_aside"], 1, "only the refused operation: {report}");
    assert_eq!(report["report"]["reapplied"], 10, "the ten later ones are carried out again: {report}");
    // The refusal's answer, then the ten in the next request (its message for the roster carries
    // them at once rather than first announcing heads the relay answers by asking for them: 4
    // requests before), then the set-aside one to the review inbox.
    assert_eq!(report["report"]["requests"], 3, "{report}");
    assert_eq!(report["unsynced"], 0, "the ten went up: {report}");
    assert_eq!(report["set_aside"], 1, "{report}");
    let status = volunteer.ok(&["status"]);
    assert_eq!(status["compounds"][0]["role"], "volunteer", "the relay's word on the role wins");
    assert_eq!(status["set_aside"], 1);
    let standing = status["standing"].as_str().unwrap();
    assert!(standing.contains("1 set aside, under review"), "never \"all synced\": {standing}");
    assert!(!standing.contains("all synced"), "{standing}");

    // The set-aside entry says who, what and why, readably.
    let quarantine = volunteer.ok(&["quarantine"]);
    let entries = quarantine.as_array().unwrap();
    assert_eq!(entries.len(), 1, "{quarantine}");
    let operation: serde_json::Value =
        serde_json::from_str(entries[0]["operation"].as_str().unwrap()).unwrap();
    assert_eq!(operation, op, "the refused operation, readable");
    assert_eq!(entries[0]["person"], status["person"]);
    assert!(entries[0]["made_at"].as_i64().unwrap() > 0);
    assert_eq!(
        volunteer.ok(&["find", "北林小区1号楼1单元102"])["status"],
        "normal",
        "the refused edit is undone locally"
    );

    // A coordinator sees the roster untouched by the forbidden edit, and all ten notes.
    let coordinator = Phone::new(dir.path(), "coordinator");
    coordinator.join(&relay, &relay.invite(&compound, "coordinator"));
    let seen = coordinator.ok(&["find", "北林小区1号楼1单元102"]);
    assert_eq!(seen["status"], "normal");
    for (i, door) in doors.iter().enumerate() {
        let notes = coordinator.ok(&["find", door])["notes"].as_str().unwrap().to_owned();
        assert_eq!(notes, format!("第{i}条：老人腿脚不便，送到门口"), "{door}");
    }
    let again = volunteer.sync();
    assert!(again["report"]["rejected"].as_array().unwrap().is_empty(), "not offered again: {again}");
    assert_eq!(again["unsynced"], 0, "{again}");
    // The journal keeps only what may still have to be carried out again: nothing, now.
    let conn = rusqlite::Connection::open(&volunteer.db).unwrap();
    let journaled: i64 = conn.query_row("SELECT count(*) FROM journal_entries", [], |r| r.get(0)).unwrap();
    assert_eq!(journaled, 0, "the journal does not grow with history");
}
