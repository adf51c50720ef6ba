//! Who may do what, end to end: tokens, revocation, what a volunteer's phone holds.

use crate::harness::{Phone, Relay, sample};

#[test]
fn a_bad_token_is_refused_and_a_revoked_volunteer_loses_the_compound() {
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(dir.path());
    let compound = relay.compound_from("北林", &sample("beilin-roster.csv"));

    let volunteer = Phone::unencrypted(dir.path(), "volunteer");
    let joined = volunteer.join(&relay, &relay.invite(&compound, "volunteer"));
    let person = joined["person"].as_str().unwrap().to_owned();
    let status = volunteer.ok(&["status"]);
    assert_eq!(status["compounds"][0]["role"], "volunteer");
    assert_eq!(
        status["compounds"][0]["documents"], 2,
        "roster and requests; never the care ledger: {status}"
    );
    assert_eq!(volunteer.ok(&["counts"])[0][1]["households"], 857);

    // An invite works once.
    let code = relay.invite(&compound, "volunteer");
    Phone::new(dir.path(), "first").join(&relay, &code);
    let again =
        Phone::new(dir.path(), "second").run(&["join", "--relay", &relay.url, "--name", "赵敏", &code]);
    assert!(again.is_err(), "a used invite code is refused");

    // A token mistyped on a phone that never signed in is said to be the token's fault, not a
    // sign-in the relay lost.
    let fresh = Phone::new(dir.path(), "fresh");
    let err = fresh.run(&["login", "--relay", &relay.url, "dst_nothex"]).unwrap_err();
    assert!(err.contains("the relay does not know this token") && err.contains("dst_"), "{err}");
    assert!(!err.contains("restored from a backup"), "{err}");

    // A phone whose token was tampered with is refused with a reason.
    let conn_path = volunteer.db.clone();
    let forged = Phone { db: dir.path().join("forged.sqlite"), unencrypted: true, clock_ahead_ms: 0 };
    std::fs::copy(&conn_path, &forged.db).unwrap();
    forged_token(&forged.db);
    let err = forged.run(&["sync"]).unwrap_err();
    assert!(err.contains("token"), "{err}");

    // Revoking the membership removes the compound from the phone at its next sync.
    relay.admin(&["revoke", "--person", &person, "--compound", &compound]);
    let report = volunteer.sync();
    assert_eq!(report["report"]["dropped"].as_array().unwrap().len(), 2, "{report}");
    assert!(volunteer.ok(&["status"])["compounds"].as_array().unwrap().is_empty());
}

/// Overwrites the remembered token of a phone's replica file.
fn forged_token(db: &std::path::Path) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute("UPDATE meta SET value = CAST('not-a-real-token' AS BLOB) WHERE key = 'relay_token'", [])
        .unwrap();
}

/// The relay's operator mints the district admin a new token from the command line, with no
/// `--person`, even after the admin's last membership ended: a lost first-start token is not a
/// relay nobody can run any more.
#[test]
fn the_operator_mints_the_district_admin_a_token_though_they_hold_no_membership() {
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(dir.path());
    let compound = relay.compound_from("北林", &sample("beilin-roster.csv"));
    let members = relay.admin(&["members", "--compound", &compound]);
    let admin = members.lines().find(|l| l.contains(" admin ")).expect(&members);
    let admin = admin.split_whitespace().next().unwrap().to_owned();
    relay.admin(&["revoke", "--person", &admin, "--compound", &compound]);

    let minted = relay.admin(&["token"]);
    let token = minted.split_whitespace().find(|w| w.starts_with("dst_")).expect(&minted).to_owned();
    let phone = Phone::new(dir.path(), "admin");
    phone.ok(&["login", "--relay", &relay.url, &token]);
    let status = phone.ok(&["status"]);
    assert!(status["compounds"].as_array().unwrap().is_empty(), "no membership, and signed in: {status}");
    let again = relay.admin(&["token", "--person", &admin]);
    assert!(again.contains("dst_"), "by ID too: {again}");
}
