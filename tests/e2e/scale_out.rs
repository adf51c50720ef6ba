//! Several relays on one PostgreSQL database (DESIGN §8): any relay accepts any phone, a relay
//! killed with SIGKILL loses nothing it acknowledged, every phone converges, and a dashboard
//! signed in on one relay follows, live, what phones sync through another.
//!
//! These tests need a PostgreSQL server: `DOORSTEP_TEST_POSTGRES` (set by `scripts/test`
//! through `scripts/with-postgres`). Without it they print that they were skipped.

use std::collections::BTreeSet;
use std::thread;
use std::time::Duration;

use doorstep_server::storage::postgres::scratch::ScratchDatabase;
use serde_json::json;

use crate::balancer::Balancer;
use crate::harness::{Phone, PhoneResult, Relay, sample};
use crate::raw_http::{EventStream, request};

/// A scratch database on the test server, or `None` (printed) without one.
fn scratch() -> Option<ScratchDatabase> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(ScratchDatabase::from_env())
}

fn round_op() -> String {
    json!({
        "op": "create_round", "title": "药品", "kind": "medicine", "date": "2026-11-23",
        "selection": {"by": "status", "status": "home_quarantine"}, "items": "药品", "priority": "high"
    })
    .to_string()
}

#[test]
fn two_relays_on_postgres_lose_nothing_while_one_is_killed_again_and_again() {
    let Some(db) = scratch() else {
        return;
    };
    let kills: usize = std::env::var("DOORSTEP_E2E_PG_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let dir = tempfile::tempdir().unwrap();
    let mut a = Relay::start_on(db.url());
    let b = Relay::start_on(db.url());
    let balancer = Balancer::start(&[&a.url, &b.url]);
    assert_eq!(balancer.backends().len(), 2);
    let compound = a.compound_from("北林", &sample("beilin-roster.csv"));
    let join = |name: &str, role: &str| {
        let phone = Phone::new(dir.path(), name);
        // Invites made through either relay's database work through any relay.
        let code = if role == "coordinator" { b.invite(&compound, role) } else { a.invite(&compound, role) };
        phone.ok(&["join", "--relay", &balancer.url, "--name", "志愿者", &code]);
        phone
    };
    let coordinator = join("coordinator", "coordinator");
    coordinator.ok(&["op", &round_op()]);
    coordinator.sync();
    let phones: Vec<Phone> = (0..3).map(|i| join(&format!("volunteer{i}"), "volunteer")).collect();
    let tasks: Vec<String> = phones[0]
        .doors(true)
        .iter()
        .flat_map(|d| d["tasks"].as_array().unwrap().clone())
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(tasks.len() >= 50, "beilin has 59 households in home quarantine");

    let mut acknowledged: BTreeSet<String> = BTreeSet::new();
    let mut failed_syncs = 0;
    let mut answered_short: Vec<String> = Vec::new();
    let mut made: BTreeSet<String> = BTreeSet::new();
    let mut rng = 0x9E37_79B9_7F4A_7C15_u64;
    for i in 0..kills {
        // Each phone records an attempt offline; all sync at once, each through whichever relay
        // the balancer picks, while relay A dies.
        for (p, phone) in phones.iter().enumerate() {
            let note = format!("kill{i}-phone{p}");
            let task = &tasks[(i * 3 + p) % tasks.len()];
            phone.ok(&["attempt", task, "nobody_home", "--note", &note]);
            made.insert(note);
        }
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        // Phone syncs take a few hundred milliseconds here (a process start, a replica open, one
        // or two requests), so the kill lands before, during or after them.
        let delay = Duration::from_millis(rng % 400);
        let results: Vec<(BTreeSet<String>, PhoneResult)> = thread::scope(|s| {
            let handles: Vec<_> = phones
                .iter()
                .map(|phone| {
                    let pending = notes_of(phone);
                    s.spawn(move || (pending, phone.run(&["sync"])))
                })
                .collect();
            thread::sleep(delay);
            a.kill9();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (pending, sync) in results {
            if acknowledged_everything(&sync) {
                acknowledged.extend(pending);
            } else {
                failed_syncs += 1;
                // A sync the relay answered but that left something behind: what the phone was
                // told, so that a run under load shows why a change was not acknowledged.
                if let Ok(report) = &sync {
                    answered_short.push(format!(
                        "kill {i}: {} unsynced, rejected {}",
                        report["unsynced"], report["report"]["rejected"]
                    ));
                }
            }
        }
        a.restart();
        coordinator.sync();
        let on_relays = notes_of(&coordinator);
        let lost: Vec<_> = acknowledged.difference(&on_relays).collect();
        assert!(lost.is_empty(), "kill {i}: acknowledged changes lost: {lost:?}");
    }

    // After the storm every phone converges on every change anyone made.
    for phone in &phones {
        phone.sync();
    }
    coordinator.sync();
    assert_eq!(notes_of(&coordinator), made, "every change made on a phone reached the relays");
    for phone in &phones {
        phone.sync();
        assert_eq!(notes_of(phone), made);
    }
    println!(
        "{kills} SIGKILLs of one of two relays: {failed_syncs} syncs not acknowledged ({} of them answered: {answered_short:?}), {} changes acknowledged, {} in all",
        answered_short.len(),
        acknowledged.len(),
        made.len()
    );
}

#[test]
fn a_dashboard_on_one_relay_follows_phones_syncing_through_another() {
    let Some(db) = scratch() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut a = Relay::start_on(db.url());
    let b = Relay::start_on(db.url());
    let admin_token = a.admin_token.clone().expect("the first relay on an empty database made the admin");
    assert!(b.admin_token.is_none(), "the second relay found the admin the first one made");
    let compound = b.compound_from("北林", &sample("beilin-roster.csv"));

    let login =
        request(&a.url, "POST", "/dashboard/login", None, Some(&json!({ "token": admin_token }).to_string()));
    assert_eq!(login.status, 200, "{}", login.body);
    let cookie = login.session_cookie().expect("a session cookie");
    // The session lives in the database: relay B knows it.
    let me = request(&b.url, "GET", "/dashboard/api/me", Some(&cookie), None);
    assert_eq!(me.status, 200, "relay B does not know relay A's session: {}", me.body);

    let mut events =
        EventStream::open(&a.url, &format!("/dashboard/api/events?compound={compound}"), &cookie);
    let coordinator = Phone::new(dir.path(), "coordinator");
    coordinator.ok(&["join", "--relay", &b.url, "--name", "王芳", &b.invite(&compound, "coordinator")]);
    coordinator.ok(&["op", &round_op()]);
    coordinator.sync();
    let created = events
        .wait_for("\"kind\":\"round\"", Duration::from_secs(10))
        .expect("the round a phone created through relay B reached the dashboard on relay A");
    events.drain(Duration::from_millis(500));

    let volunteer = Phone::new(dir.path(), "volunteer");
    volunteer.ok(&["join", "--relay", &b.url, "--name", "李强", &a.invite(&compound, "volunteer")]);
    let task = volunteer.doors(true)[0]["tasks"][0]["id"].as_str().unwrap().to_owned();
    volunteer.ok(&["attempt", &task, "delivered", "--note", "到了"]);
    volunteer.sync();
    let attempt = events
        .wait_for("\"kind\":\"round\"", Duration::from_secs(10))
        .expect("a knock synced through relay B reached the dashboard on relay A");
    println!(
        "dashboard on relay A still waited {} ms (new round) and {} ms (attempt) for relay B's commits after the phone's sync returned",
        created.as_millis(),
        attempt.as_millis()
    );

    // A restart signs nobody out.
    a.restart();
    let me = request(&a.url, "GET", "/dashboard/api/me", Some(&cookie), None);
    assert_eq!(me.status, 200, "the restarted relay forgot the session: {}", me.body);
}

/// Whether a sync told its phone that the relay holds all of its changes: it succeeded, nothing
/// was refused (a refusal includes "the relay could not store this just now") and the phone
/// counts no change as not yet synced. This is what the phone shows its user, and so what
/// "acknowledged" means.
fn acknowledged_everything(sync: &PhoneResult) -> bool {
    let Ok(report) = sync else { return false };
    report["unsynced"] == 0 && report["report"]["rejected"].as_array().is_none_or(Vec::is_empty)
}

/// Every attempt note the phone holds.
fn notes_of(phone: &Phone) -> BTreeSet<String> {
    let rounds = phone.ok(&["rounds"]);
    rounds
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["tasks"].as_array().unwrap().clone())
        .flat_map(|t| t["task"]["attempts"].as_array().unwrap().clone())
        .filter_map(|a| a["note"].as_str().map(str::to_owned))
        .filter(|n| n.starts_with("kill"))
        .collect()
}

/// A district outgrows its one relay: the operator stops it, moves its SQLite file into an empty
/// PostgreSQL database (`admin move-to-postgres`) and starts the relay on it at the same address.
/// No phone joins again: each signs in with its token, syncs on from the state it had (nothing
/// fetched again), and an attempt recorded offline before the move goes up after it; the review
/// inbox moved with its items; a new member joins (the devices' numbering goes on after the
/// moved ones). A second move into the now full database is refused and changes nothing.
#[test]
fn a_district_moved_from_sqlite_to_postgres_syncs_on_without_any_phone_joining_again() {
    let Some(db) = scratch() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (mut relay, compound, coordinator) = Relay::with_vegetable_round(dir.path());
    let volunteer = Phone::new(dir.path(), "volunteer");
    volunteer.join_as(&relay, "李强", &relay.invite(&compound, "volunteer"));
    let late = Phone::unencrypted(dir.path(), "late");
    late.join_as(&relay, "赵敏", &relay.invite(&compound, "volunteer"));
    let tasks: Vec<String> = volunteer
        .doors(true)
        .iter()
        .flat_map(|d| d["tasks"].as_array().unwrap().clone())
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    volunteer.ok(&["attempt", &tasks[0], "delivered", "--note", "before the move"]);
    volunteer.sync();
    // A forbidden edit from a tampered phone goes to the review inbox.
    let conn = rusqlite::Connection::open(&late.db).unwrap();
    conn.execute("UPDATE roles SET role = 'coordinator'", []).unwrap();
    drop(conn);
    let household = late.ok(&["find", "香樟苑1号楼1单元101"])["id"].as_str().unwrap().to_owned();
    let forbidden = json!({"op": "set_control_status", "household": household, "status": "confirmed"});
    late.ok(&["op", &forbidden.to_string()]);
    assert_eq!(late.sync()["report"]["set_aside_sent"], 1);
    // Recorded offline, synced only after the move.
    late.ok(&["attempt", &tasks[1], "nobody_home", "--note", "during the move"]);

    relay.kill9();
    // A file holding no district (a copy taken without its -wal, another file) moves nothing and
    // says so, rather than "moved" with nobody in it; the database stays empty for the real one.
    let empty = dir.path().join("empty-copy.db");
    std::fs::write(&empty, b"").unwrap();
    let nothing = std::process::Command::new(crate::harness::doorstep())
        .args(["admin", "--db"])
        .arg(&empty)
        .args(["move-to-postgres", db.url()])
        .output()
        .unwrap();
    let refusal = String::from_utf8_lossy(&nothing.stderr);
    assert!(!nothing.status.success() && refusal.contains("holds no people and no compounds"), "{refusal}");
    let moved = relay.admin(&["move-to-postgres", db.url()]);
    assert!(moved.contains("changes") && moved.contains("moved: start the relays with --db"), "{moved}");
    let again = std::process::Command::new(crate::harness::doorstep())
        .args(["admin", "--db"])
        .arg(&relay.db)
        .args(["move-to-postgres", db.url()])
        .output()
        .unwrap();
    let refusal = String::from_utf8_lossy(&again.stderr);
    assert!(!again.status.success() && refusal.contains("already holds"), "{refusal}");
    relay.db = std::path::PathBuf::from(db.url());
    relay.restart();

    let on = volunteer.sync();
    assert_eq!(on["report"]["fetched"], json!([]), "nothing fetched again: {on}");
    let up = late.sync();
    assert_eq!(up["unsynced"], 0, "{up}");
    let seen = coordinator.sync();
    assert!(seen["report"]["changed"].as_array().is_some_and(|c| !c.is_empty()), "{seen}");
    let attempts: Vec<String> = coordinator
        .doors(true)
        .iter()
        .flat_map(|d| d["tasks"].as_array().unwrap().clone())
        .filter(|t| tasks[..2].contains(&t["id"].as_str().unwrap().to_owned()))
        .flat_map(|t| t["attempts"].as_array().cloned().unwrap_or_default())
        .map(|a| a["note"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(attempts.contains(&"during the move".to_owned()), "{attempts:?}");

    let inbox = crate::set_aside_inbox::dashboard_get(
        &relay,
        &coordinator,
        &format!("/dashboard/api/compounds/{compound}/set-aside"),
    );
    assert_eq!(inbox.status, 200, "{}", inbox.body);
    assert!(inbox.body.contains("set_control_status"), "the inbox moved: {}", inbox.body);

    let newcomer = Phone::new(dir.path(), "newcomer");
    newcomer.join_as(&relay, "孙丽", &relay.invite(&compound, "volunteer"));
    assert!(!newcomer.doors(true).is_empty());
}

/// A relay started before its PostgreSQL (a power cut, the relays back first) waits for it,
/// saying so, and serves once it answers; before, it exited at once and stayed down unless a
/// service manager restarted it. An address PostgreSQL refuses (no such database) still fails
/// at once, naming what it said.
#[test]
fn a_relay_started_before_its_postgresql_waits_for_it_and_a_refused_address_fails_at_once() {
    let Some(db) = scratch() else {
        return;
    };
    let url = db.url().to_owned();
    let (head, rest) = url.split_once('@').expect("user@host");
    let (server, name) = rest.split_once('/').expect("host/database");
    // Where PostgreSQL will be: a port nothing listens on yet.
    let later = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
    let through_later = format!("{head}@{later}/{name}");
    let opening = thread::spawn(move || Relay::start_on(&through_later));
    thread::sleep(Duration::from_secs(4));
    assert!(!opening.is_finished(), "the relay waits for PostgreSQL, neither exiting nor serving");
    let _postgres_back = Balancer::start_at(&later, &[&format!("http://{server}")]);
    let relay = opening.join().expect("the relay serves once PostgreSQL answers");
    let compound = relay.compound_from("北林", &sample("beilin-roster.csv"));
    let dir = tempfile::tempdir().unwrap();
    let joined = Phone::new(dir.path(), "volunteer").join(&relay, &relay.invite(&compound, "volunteer"));
    assert_eq!(joined["compound"], compound.as_str(), "{joined}");

    let refused = format!("{head}@{server}/no_such_database_here");
    let mut child = std::process::Command::new(crate::harness::doorstep())
        .args(["serve", "--db", &refused, "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("a refused address must fail at once, not wait");
        }
        thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(said.contains("no_such_database_here") && said.contains("does not exist"), "{said}");
    assert!(!said.contains("waits for it"), "{said}");
}
