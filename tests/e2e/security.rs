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

    // A phone whose token was tampered with is refused with a reason.
    let conn_path = volunteer.db.clone();
    let forged = Phone { db: dir.path().join("forged.sqlite"), unencrypted: true };
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
