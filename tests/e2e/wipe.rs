//! A phone that leaves gives nothing away (DESIGN §9). After a membership revoke or a device
//! token revoke, the bytes of the phone's SQLite file and its `-wal`/`-shm` hold none of the
//! roster's names and phone numbers nor the residents' request texts: not in live rows, not in
//! free pages, not inside Automerge's compressed columns; nor, once the review inbox has it, the
//! work the volunteer did offline before the membership went. The phone here is `--unencrypted`,
//! so that the search sees what the wipe itself leaves.

use std::path::Path;

use aho_corasick::AhoCorasick;
use serde_json::json;

use crate::harness::{Phone, Relay, sample};
use crate::leaks::{Secrets, replica_bytes};
use crate::raw_http::{request, request_as};
use crate::set_aside_inbox::dashboard_cookie;

/// A resident's medicine request, taken down by the coordinator before the revoke.
const REQUEST_TEXT: &str = "硝苯地平 每日两次 请送到门口";

/// A note the volunteer writes offline just before being removed (no roster data in it).
const OWN_NOTE: &str = "volunteer-own-note-7731";

/// A resident's request the volunteer takes down offline just before being removed.
const OWN_REQUEST: &str = "胰岛素笔芯两支 明早前送到";

#[test]
fn a_revoked_membership_leaves_no_roster_name_phone_or_request_in_the_phone_s_file() {
    let dir = tempfile::tempdir().unwrap();
    let scene = volunteer_with_roster(dir.path());
    let (relay, volunteer) = (&scene.relay, &scene.volunteer);
    let secrets = Secrets::from_ledger(&[REQUEST_TEXT, OWN_REQUEST]);
    assert!(
        !secrets.found_in(&replica_bytes(&volunteer.db)).is_empty(),
        "the detector finds the roster in a phone that holds it"
    );

    // The volunteer writes a note and takes down a resident's request offline, then loses the
    // membership.
    volunteer.ok(&["notes", "1-1-101", OWN_NOTE]);
    volunteer.ok(&["request", "1-1-101", OWN_REQUEST, "--category", "medicine"]);
    relay.admin(&["revoke", "--person", &scene.person, "--compound", &scene.compound]);
    let report = volunteer.sync();
    assert_eq!(report["report"]["removed_from"], json!(["香樟苑"]), "{report}");
    // The relay refused both as the membership was gone; both went to the review inbox in the
    // same sync ...
    assert_eq!(report["report"]["set_aside"], 2, "{report}");
    assert_eq!(report["report"]["set_aside_sent"], 2, "{report}");
    let cookie = dashboard_cookie(relay, &scene.coordinator);
    let inbox = request(
        &relay.url,
        "GET",
        &format!("/dashboard/api/compounds/{}/set-aside", scene.compound),
        Some(&cookie),
        None,
    );
    assert!(inbox.body.contains(OWN_REQUEST), "the coordinators have the request: {}", inbox.body);

    // ... so the phone keeps nothing of them: not the resident's words, not its own note, not
    // the roster.
    let bytes = replica_bytes(&volunteer.db);
    let leaks = secrets.found_in(&bytes);
    assert!(leaks.is_empty(), "the revoked phone's file still holds: {:?}", &leaks[..leaks.len().min(10)]);
    assert!(AhoCorasick::new([OWN_NOTE]).unwrap().find(&bytes).is_none(), "nor the volunteer's note");

    // It still lists them, by hash, as under review, and says why it holds no more of them.
    let quarantine = volunteer.ok(&["quarantine"]);
    let items = quarantine.as_array().unwrap();
    assert_eq!(items.len(), 2, "only this device's own changes: {quarantine}");
    for item in items {
        assert_eq!(item["review_state"], "under_review", "{item}");
        assert_eq!(item["reason"], doorstep_replica::LET_GO, "{item}");
        assert!(item["operation"].is_null(), "{item}");
    }
    // Its list says what each was in (the roster, the requests), not "a closed round".
    let (ok, listed, _) = volunteer.text(&["quarantine"]);
    assert!(ok, "{listed}");
    assert!(
        listed.contains("in the roster of a compound this phone left / 本机已离开的小区的住户名册"),
        "{listed}"
    );
    assert!(
        listed.contains("in the requests of a compound this phone left / 本机已离开的小区的居民请求"),
        "{listed}"
    );
    assert!(!listed.contains("closed round"), "{listed}");
    // ... and says plainly why it holds nothing, in `status` as well as in the sync that learnt it.
    let err = volunteer.run(&["find", "1-1-101"]).unwrap_err();
    assert!(err.contains("你已被移出 香樟苑") && err.contains("removed from 香樟苑"), "{err}");
    let (ok, status, _) = volunteer.text(&["status"]);
    assert!(ok && status.contains("你已被移出 香樟苑") && status.contains("removed from 香樟苑"), "{status}");
}

#[test]
fn a_lost_phone_whose_token_is_revoked_wipes_every_compound_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let Scene { relay, compound, coordinator, volunteer, person } = volunteer_with_roster(dir.path());
    let secrets = Secrets::from_ledger(&[REQUEST_TEXT]);
    volunteer.ok(&["notes", "1-1-101", OWN_NOTE]);
    // The phone is unencrypted (see `volunteer_with_roster`).
    let token =
        doorstep_replica::Replica::open(&volunteer.db).unwrap().remembered_relay().unwrap().unwrap().1;
    // Before the revoke, the token is live: a phone does not say it wiped itself.
    let live = request_as(&relay.url, "POST", "/v1/wiped", &token, Some(r#"{"unsent":3}"#));
    assert_eq!(live.status, 409, "{}", live.body);

    relay.admin(&["revoke", "--person", &person]);
    let err = volunteer.run(&["sync"]).unwrap_err();
    assert!(err.contains("你已被移出 香樟苑") && err.contains("removed from 香樟苑"), "{err}");
    assert!(!err.contains("not joined"), "{err}");

    let bytes = replica_bytes(&volunteer.db);
    let leaks = secrets.found_in(&bytes);
    assert!(leaks.is_empty(), "the lost phone's file still holds: {:?}", &leaks[..leaks.len().min(10)]);
    assert!(
        AhoCorasick::new([OWN_NOTE]).unwrap().find(&bytes).is_none(),
        "a lost phone keeps nothing, its own unsynced work included"
    );

    // Offline, the phone shows the same plain message instead of the household.
    let err = volunteer.run(&["find", "1-1-101"]).unwrap_err();
    assert!(err.contains("你已被移出 香樟苑"), "{err}");
    let err = volunteer.run(&["sync"]).unwrap_err();
    assert!(err.contains("removed from 香樟苑") && !err.contains("has not joined"), "{err}");
    // The coordinator sees, beside the revoked phone, that one change went with the wipe: the
    // note the volunteer wrote offline, which they may have to write again.
    let cookie = dashboard_cookie(&relay, &coordinator);
    // The volunteer's devices as the members page shows them.
    let devices_shown = || {
        let members = request(
            &relay.url,
            "GET",
            &format!("/dashboard/api/compounds/{compound}/members"),
            Some(&cookie),
            None,
        );
        let members: serde_json::Value = serde_json::from_str(&members.body).unwrap();
        members
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["person"] == person.as_str())
            .flat_map(|m| m["devices"].as_array().unwrap().clone())
            .collect::<Vec<serde_json::Value>>()
    };
    let devices = devices_shown();
    assert_eq!(devices.len(), 1, "{devices:?}");
    assert_eq!(
        (devices[0]["revoked"].clone(), devices[0]["wiped"]["unsent"].clone()),
        (json!(true), json!(1)),
        "{devices:?}"
    );
    // Said again (a retry, or a second file holding the same token): the most any word
    // reported stands, so a 0 does not hide the other file's lost work; an unknown token is not
    // heard.
    let unsent_shown = || devices_shown().iter().map(|d| d["wiped"]["unsent"].clone()).collect::<Vec<_>>();
    let again = request_as(&relay.url, "POST", "/v1/wiped", &token, Some(r#"{"unsent":0}"#));
    assert_eq!(again.status, 204, "{}", again.body);
    assert_eq!(unsent_shown(), vec![json!(1)]);
    let other_file = request_as(&relay.url, "POST", "/v1/wiped", &token, Some(r#"{"unsent":3}"#));
    assert_eq!(other_file.status, 204, "{}", other_file.body);
    assert_eq!(unsent_shown(), vec![json!(3)]);
    let unknown = request_as(&relay.url, "POST", "/v1/wiped", "no-such-token", Some(r#"{"unsent":0}"#));
    assert_eq!(unknown.status, 401, "{}", unknown.body);
    assert!(relay.log_text().contains("a revoked phone wiped itself with work the relay never got"));

    let status = volunteer.ok(&["status"]);
    assert_eq!(status["removed_from"], json!(["香樟苑"]), "{status}");
    assert!(status["compounds"].as_array().unwrap().is_empty(), "{status}");
    assert_eq!(status["quarantined"], 0, "{status}");
    // Not "all synced": whatever was not synced went with the wipe.
    let standing = status["standing"].as_str().unwrap();
    assert!(
        standing.contains("nothing is kept on this phone") && !standing.contains("all synced"),
        "{status}"
    );
}

/// The relay took two of the phone's changes in a sync whose answer the link lost (played here
/// by putting back the phone's file as it was before that sync), then the phone was revoked. As
/// it wipes itself it names its unsynced changes by hash, and the relay counts only the one it
/// really lacks: the members page said "2 pieces of work the relay never got… ask them to record
/// that work again", and following it made every knock twice.
#[test]
fn a_wiped_phone_s_report_counts_only_the_work_the_relay_lacks() {
    let dir = tempfile::tempdir().unwrap();
    let Scene { relay, compound, coordinator, volunteer, person } = volunteer_with_roster(dir.path());
    volunteer.ok(&["notes", "1-1-101", "已送达，老人在家"]);
    volunteer.ok(&["request", "1-1-201", "需要降压药"]);
    let before = dir.path().join("before-sync.sqlite");
    copy_file(&volunteer.db, &before);
    assert_eq!(volunteer.sync()["unsynced"], 0, "the relay holds both");
    // The answer was lost: the phone still takes both for unsynced.
    copy_file(&before, &volunteer.db);
    // And one change the relay truly never got.
    volunteer.ok(&["notes", "1-1-301", "三楼，无人应门"]);
    assert_eq!(volunteer.ok(&["status"])["unsynced"], 3);

    relay.admin(&["revoke", "--person", &person]);
    let err = volunteer.run(&["sync"]).unwrap_err();
    assert!(err.contains("removed from 香樟苑"), "{err}");

    let members = crate::set_aside_inbox::dashboard_get(
        &relay,
        &coordinator,
        &format!("/dashboard/api/compounds/{compound}/members"),
    );
    let members: serde_json::Value = serde_json::from_str(&members.body).unwrap();
    let devices: Vec<serde_json::Value> = members
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["person"] == person.as_str())
        .flat_map(|m| m["devices"].as_array().unwrap().clone())
        .collect();
    assert_eq!(devices.len(), 1, "{devices:?}");
    assert_eq!(devices[0]["wiped"]["unsent"], json!(1), "only the note the relay never got: {devices:?}");
}

/// The relay took a note and a request in a sync whose answer the link lost (played by putting
/// back the phone's file as it was before it), then the volunteer was removed from the compound.
/// The phone sets both aside as its documents go, and the review inbox answers that the relay
/// held them all along: the phone says they were synced after all, not that a coordinator
/// reviewed them or that the coordinators' inbox has them (no one has them to review).
#[test]
fn work_the_relay_took_before_a_removal_is_said_synced_not_reviewed() {
    let dir = tempfile::tempdir().unwrap();
    let Scene { relay, compound, coordinator, volunteer, person } = volunteer_with_roster(dir.path());
    volunteer.ok(&["notes", "1-1-101", OWN_NOTE]);
    volunteer.ok(&["request", "1-1-201", OWN_REQUEST, "--category", "medicine"]);
    let before = dir.path().join("before-sync.sqlite");
    copy_file(&volunteer.db, &before);
    assert_eq!(volunteer.sync()["unsynced"], 0);
    copy_file(&before, &volunteer.db);

    relay.admin(&["revoke", "--person", &person, "--compound", &compound]);
    let (ok, said, stderr) = volunteer.text(&["sync"]);
    assert!(ok, "{said}{stderr}");
    assert!(
        said.contains("2 set-aside changes the relay had already")
            && said.contains("2 项搁置的修改中继早已收到"),
        "{said}"
    );
    assert!(!said.contains("reviewed by a coordinator") && !said.contains("已由协调员处理"), "{said}");

    let quarantine = volunteer.ok(&["quarantine"]);
    let items = quarantine.as_array().unwrap();
    assert_eq!(items.len(), 2, "{quarantine}");
    for item in items {
        assert_eq!(item["review_state"], "synced", "{item}");
        assert_eq!(item["reason"], doorstep_replica::LET_GO_SYNCED, "{item}");
    }
    let (ok, listed, _) = volunteer.text(&["quarantine"]);
    assert!(ok, "{listed}");
    assert!(!listed.contains("review inbox has it") && !listed.contains("审核箱里有"), "{listed}");
    assert!(listed.contains("nothing for a coordinator to review"), "{listed}");
    // And indeed the coordinators' inbox has nothing of it.
    let inbox = crate::set_aside_inbox::dashboard_get(
        &relay,
        &coordinator,
        &format!("/dashboard/api/compounds/{compound}/set-aside"),
    );
    assert_eq!(inbox.body.trim(), "[]", "{}", inbox.body);
}

/// Copies a phone's file with its WAL, if any.
fn copy_file(from: &Path, to: &Path) {
    std::fs::copy(from, to).unwrap();
    for side in ["-wal", "-shm"] {
        let (from, to) = (format!("{}{side}", from.display()), format!("{}{side}", to.display()));
        let _ = std::fs::remove_file(&to);
        if Path::new(&from).exists() {
            std::fs::copy(&from, &to).unwrap();
        }
    }
}

/// A relay with 香樟苑 imported from the sample ledger, a coordinator's request taken down, and a
/// volunteer's phone holding the roster and the requests.
struct Scene {
    relay: Relay,
    compound: String,
    coordinator: Phone,
    volunteer: Phone,
    /// The volunteer's person ID.
    person: String,
}

fn volunteer_with_roster(dir: &Path) -> Scene {
    let relay = Relay::start_keeping_log(dir);
    let compound = relay.compound_from("香樟苑", &sample("xiangzhangyuan-roster.csv"));
    let coordinator = Phone::new(dir, "coordinator");
    coordinator.join(&relay, &relay.invite(&compound, "coordinator"));
    coordinator.ok(&["request", "1-1-201", REQUEST_TEXT, "--category", "medicine"]);
    coordinator.sync();
    // Unencrypted, so that the bytes would show what the wipe left (an encrypted phone's file holds
    // no plain name to begin with: tests/e2e/encryption.rs).
    let volunteer = Phone::unencrypted(dir, "volunteer");
    let joined = volunteer.join(&relay, &relay.invite(&compound, "volunteer"));
    let person = joined["person"].as_str().unwrap().to_owned();
    assert_eq!(volunteer.ok(&["find", "1-1-101"])["head"], "管建强", "the volunteer holds the roster");
    Scene { relay, compound, coordinator, volunteer, person }
}

/// A volunteer holding 4 claimed tasks of an open round, two of them knocked on offline, is
/// removed from the compound. The sync that wipes the phone says the removal in its own words and
/// counts what was set aside once (2): not one "its round was closed" line per task (the round is
/// open), not "this phone may not change this document (forbidden) (×N)" nor "documents removed
/// (closed rounds, …)" (black-box finding, 41 such lines then ×3 then 2).
#[test]
fn the_sync_that_wipes_a_removed_volunteer_says_the_removal_and_counts_once() {
    let dir = tempfile::tempdir().unwrap();
    let (relay, compound, _coordinator) = Relay::with_vegetable_round(dir.path());
    let volunteer = Phone::new(dir.path(), "volunteer");
    let joined = volunteer.join_as(&relay, "李强", &relay.invite(&compound, "volunteer"));
    let person = joined["person"].as_str().unwrap().to_owned();
    let tasks: Vec<String> = volunteer
        .doors(true)
        .iter()
        .take(4)
        .map(|d| d["tasks"][0]["id"].as_str().unwrap().to_owned())
        .collect();
    for id in &tasks {
        volunteer.ok(&["claim", id]);
    }
    volunteer.sync();
    volunteer.ok(&["attempt", &tasks[0], "delivered", "--note", "k1 送到"]);
    volunteer.ok(&["attempt", &tasks[1], "refused", "--note", "k2 拒收"]);

    relay.admin(&["revoke", "--person", &person, "--compound", &compound]);
    let (ok, said, told) = volunteer.text(&["sync"]);
    let all = format!("{said}{told}");
    assert!(all.contains("你已被移出 香樟苑") && all.contains("removed from 香樟苑"), "{all}");
    assert!(all.contains("2 set aside, under review / 2 项待协调员处理"), "{all}");
    assert!(all.contains("after the removal the relay takes nothing more from this phone"), "{all}");
    // Three still to do: the delivered one was done.
    assert!(
        all.contains("your 3 tasks in 香樟苑 went with the removal")
            && all.contains("你在 香樟苑 的 3 项任务已随移出一并清除"),
        "{all}"
    );
    for misleading in [
        "its round was closed",
        "该轮已结束",
        "may not change this document",
        "本机无权",
        "(×",
        "closed rounds",
    ] {
        assert!(!all.contains(misleading), "{misleading:?} in: {all}");
    }
    assert!(ok, "{all}");
}
