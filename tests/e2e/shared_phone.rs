//! A shift hand-over on a shared phone: a second volunteer joins on the phone the first one
//! used. The second gets an actor of their own (the relay binds an actor to the first person
//! who writes under it), so their work is accepted and attributed to them. A hand-over while
//! the first volunteer's changes are not yet synced is refused before the invite is spent.

use serde_json::{Value, json};

use crate::harness::{Phone, Relay, sample};
use crate::raw_http::request;

/// The names the dashboard's history gives the changes of a household, oldest first.
fn edited_by(relay: &Relay, cookie: &str, compound: &str, household: &str) -> Vec<String> {
    let path = format!("/dashboard/api/compounds/{compound}/households/{household}/history");
    let answer = request(&relay.url, "GET", &path, Some(cookie), None);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let history: Value = serde_json::from_str(&answer.body).unwrap();
    history.as_array().unwrap().iter().map(|h| h["name"].as_str().unwrap_or("").to_owned()).collect()
}

#[test]
fn a_second_volunteer_on_a_shared_phone_writes_under_their_own_name() {
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(dir.path());
    let compound = relay.compound_from("北林", &sample("beilin-roster.csv"));
    let phone = Phone::new(dir.path(), "shared");
    phone.ok(&["join", "--relay", &relay.url, "--name", "李强", &relay.invite(&compound, "volunteer")]);
    phone.ok(&["notes", "北林小区1号楼1单元101", "早班：老人要降压药"]);

    // The evening volunteer arrives before the morning's note went up: refused, invite kept.
    let evening = relay.invite(&compound, "volunteer");
    let refused = phone.run(&["join", "--relay", &relay.url, "--name", "王磊", &evening]).unwrap_err();
    assert!(refused.contains("请先同步") && refused.contains("sync them before"), "{refused}");

    let synced = phone.sync();
    assert_eq!(synced["unsynced"], 0, "{synced}");
    phone.ok(&["join", "--relay", &relay.url, "--name", "王磊", &evening]);
    phone.ok(&["notes", "北林小区1号楼1单元102", "晚班：独居老人，敲门要大声"]);
    let after = phone.sync();
    assert_eq!(after["unsynced"], 0, "{after}");
    assert_eq!(after["set_aside"], 0, "{after}");
    assert_eq!(after["report"]["rejected"], serde_json::json!([]), "{after}");

    let coordinator = Phone::new(dir.path(), "coordinator");
    coordinator.join(&relay, &relay.invite(&compound, "coordinator"));
    let morning = coordinator.ok(&["find", "北林小区1号楼1单元101"]);
    let night = coordinator.ok(&["find", "北林小区1号楼1单元102"]);
    assert_eq!(morning["notes"], "早班：老人要降压药");
    assert_eq!(night["notes"], "晚班：独居老人，敲门要大声");

    // Each note is in the record under the person who wrote it.
    let admin = relay.admin_token.clone().expect("the relay made an admin");
    let login =
        request(&relay.url, "POST", "/dashboard/login", None, Some(&json!({ "token": admin }).to_string()));
    let cookie = login.session_cookie().expect("a session cookie");
    let by = |h: &Value| edited_by(&relay, &cookie, &compound, h["id"].as_str().unwrap());
    assert_eq!(by(&morning).last().map(String::as_str), Some("李强"), "{:?}", by(&morning));
    assert_eq!(by(&night).last().map(String::as_str), Some("王磊"), "{:?}", by(&night));
}

/// A phone handed over to someone of another compound (a join as someone new, or a sign-in
/// with another person's token) does not tell them they were removed from the compound the
/// earlier person's work was in, which they never joined; a removal of their own after that is
/// still said.
#[test]
fn a_phone_handed_over_to_another_compound_does_not_say_its_new_person_was_removed() {
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(dir.path());
    let first = relay.compound_from("北林", &sample("beilin-roster.csv"));
    let second = relay.compound_from("香樟苑", &sample("xiangzhangyuan-roster.csv"));
    let phone = Phone::new(dir.path(), "shared");
    phone.ok(&["join", "--relay", &relay.url, "--name", "李强", &relay.invite(&first, "volunteer")]);
    phone.ok(&["join", "--relay", &relay.url, "--name", "赵敏", &relay.invite(&second, "volunteer")]);
    let status = phone.ok(&["status"]);
    assert_eq!(status["removed_from"], json!([]), "{status}");
    let (ok, text, _) = phone.text(&["status"]);
    assert!(ok && !text.contains("removed") && !text.contains("移出"), "{text}");
    phone.sync();
    assert_eq!(phone.ok(&["status"])["removed_from"], json!([]));

    // Her own removal is hers, and said.
    let person = phone.ok(&["status"])["person"].as_str().unwrap().to_owned();
    relay.admin(&["revoke", "--person", &person, "--compound", &second]);
    let report = phone.sync();
    assert_eq!(report["report"]["removed_from"], json!(["香樟苑"]), "{report}");
    assert_eq!(phone.ok(&["status"])["removed_from"], json!(["香樟苑"]));
}

/// 北林 on a new relay, and the shared phone signed in as volunteer 李强 with a note not yet
/// synced; then `who` (another volunteer) joined on a phone of their own, and a token minted for
/// them: the relay, the compound, the shared phone, and that token.
fn li_with_a_note_and_a_token_of(dir: &std::path::Path, who: &str) -> (Relay, String, Phone, String) {
    let relay = Relay::start(dir);
    let compound = relay.compound_from("北林", &sample("beilin-roster.csv"));
    let phone = Phone::new(dir, "shared");
    phone.ok(&["join", "--relay", &relay.url, "--name", "李强", &relay.invite(&compound, "volunteer")]);
    phone.ok(&["notes", "北林小区1号楼1单元101", "早班：老人要降压药"]);
    let other = Phone::new(dir, "other");
    other.ok(&["join", "--relay", &relay.url, "--name", who, &relay.invite(&compound, "volunteer")]);
    let person = other.ok(&["status"])["person"].as_str().unwrap().to_owned();
    let minted = relay.admin(&["token", "--person", &person]);
    let token = minted.split_whitespace().find(|w| w.starts_with("dst_")).expect(&minted).to_owned();
    (relay, compound, phone, token)
}

/// A token mistyped at `login` on a phone someone is signed in on (with work not yet synced)
/// leaves the phone exactly as it was: it is said to be the token's fault, not a sign-in the
/// relay lost, so a later sign-in with another person's good token is still refused until the
/// work is synced, instead of setting that work aside.
#[test]
fn a_mistyped_token_at_login_leaves_a_signed_in_phone_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let (relay, compound, phone, token) = li_with_a_note_and_a_token_of(dir.path(), "王磊");

    let before = phone.ok(&["status"]);
    assert_eq!(before["unsynced"], 1, "{before}");
    let typo = &token[..token.len() - 6];
    let err = phone.run(&["login", "--relay", &relay.url, typo]).unwrap_err();
    assert!(err.contains("the relay does not know this token") && err.contains("dst_"), "{err}");
    assert!(!err.contains("restored from a backup"), "{err}");
    assert_eq!(phone.ok(&["status"]), before, "the phone is as it was");

    // 王磊's good token: refused while 李强's note is unsynced, nothing set aside.
    let refused = phone.run(&["login", "--relay", &relay.url, &token]).unwrap_err();
    assert!(refused.contains("sync them before"), "{refused}");
    let after = phone.ok(&["status"]);
    assert_eq!((after["name"].clone(), after["unsynced"].clone()), (json!("李强"), json!(1)), "{after}");
    assert_eq!(after["set_aside"], 0, "{after}");

    // The stored sign-in still works: the note syncs, and the hand-over then goes ahead.
    assert_eq!(phone.sync()["unsynced"], 0);
    phone.ok(&["login", "--relay", &relay.url, &token]);
    assert_eq!(phone.ok(&["status"])["name"], "王磊");
    let coordinator = Phone::new(dir.path(), "coordinator");
    coordinator.join(&relay, &relay.invite(&compound, "coordinator"));
    assert_eq!(coordinator.ok(&["find", "北林小区1号楼1单元101"])["notes"], "早班：老人要降压药");
}

/// Another person's revoked token (their lost phone's) typed at `login` on a phone someone is
/// signed in on leaves it as it was: the revoked token is not this phone's, so what it holds,
/// and the unsynced work of the person signed in, is not its to wipe. The phone says the token
/// was revoked. (Only the phone's own revoked token wipes it, at its next sync.)
#[test]
fn another_persons_revoked_token_at_login_wipes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (relay, _compound, phone, token) = li_with_a_note_and_a_token_of(dir.path(), "赵敏");
    let zhao = Phone::new(dir.path(), "other").ok(&["status"])["person"].as_str().unwrap().to_owned();
    relay.admin(&["revoke", "--person", &zhao]);

    let before = phone.ok(&["status"]);
    assert_eq!(before["unsynced"], 1, "{before}");
    let err = phone.run(&["login", "--relay", &relay.url, &token]).unwrap_err();
    assert!(
        err.contains("this token was revoked") && err.contains("nothing on this phone was changed"),
        "{err}"
    );
    assert_eq!(phone.ok(&["status"]), before, "the phone is as it was");
    assert_eq!(phone.sync()["unsynced"], 0, "and its own sign-in still syncs");
}
