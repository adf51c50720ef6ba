//! The real `doorstep` binary: `serve --demo` on port 0, a phone syncing the demo compound, the
//! admin commands on the same file while it runs, and a clean exit on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use doorstep_core::schema::vocabulary::DocKind;

use crate::harness::{Phone, TestRelay};

fn doorstep() -> Command {
    Command::new(env!("CARGO_BIN_EXE_doorstep"))
}

/// Kills the relay if the test fails before it stops it, so no orphan holds the output pipes.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// A demo relay (`serve --demo`) started by the real binary on `db`.
pub struct Demo {
    /// The relay, killed when this is dropped.
    pub child: KillOnDrop,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The demo compound's ID.
    pub compound: String,
    /// A demo volunteer: person and token.
    pub volunteer: (doorstep_core::id::PersonId, String),
    /// The rest of what the relay prints: kept open, or its next line would meet a closed pipe.
    pub stdout: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

/// Starts `serve --demo` on port 0 with `db` and `extra` flags, and reads what it prints.
pub fn demo(db: &std::path::Path, extra: &[&str]) -> Demo {
    let child = doorstep()
        .args(["serve", "--demo", "--listen", "127.0.0.1:0"])
        .args(extra)
        .arg("--db")
        .arg(db)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    let (mut url, mut volunteer, mut compound) = (None, None, None);
    let started = Instant::now();
    while url.is_none() || volunteer.is_none() {
        assert!(started.elapsed() < Duration::from_secs(120), "the relay did not start");
        let line = lines.next().expect("stdout closed early").unwrap();
        println!("doorstep: {line}");
        if let Some(rest) = line.strip_prefix("doorstep listening on ") {
            url = Some(rest.split_whitespace().next().unwrap().to_owned());
        }
        if let Some(rest) = line.strip_prefix("demo compound ") {
            compound = Some(rest.split_whitespace().next().unwrap().to_owned());
        }
        if line.contains("volunteer") && line.contains("token dst_") {
            let words: Vec<&str> = line.split_whitespace().collect();
            let person = words[words.iter().position(|w| *w == "person").unwrap() + 1];
            let token = words[words.iter().position(|w| *w == "token").unwrap() + 1];
            volunteer = Some((person.parse().unwrap(), token.to_owned()));
        }
    }
    println!("binary demo startup: {:?}", started.elapsed());
    Demo {
        child,
        url: url.unwrap(),
        compound: compound.unwrap(),
        volunteer: volunteer.unwrap(),
        stdout: lines,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_serves_a_demo_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.db");
    // Twenty syncs in a row below would pass the default 10 requests/s per token.
    let Demo { child, url, compound, volunteer, stdout: _stdout } =
        demo(&db, &["--rate", "1000", "--sync-messages-in-hand", "4096"]);
    let mut child = child;
    let relay = TestRelay::external(&url);
    let (person, token) = volunteer;
    let mut phone = Phone::new(&token, person);
    let synced = phone.sync(&relay).await;
    println!("demo volunteer first sync: {} requests, slowest {:?}", synced.requests, synced.slowest);
    assert!(synced.rejected.is_empty());
    let held = phone.compound();
    assert_eq!(held.households().len(), 1040, "the whole sample ledger");
    assert!(held.single(DocKind::Care).is_none());
    let tasks = held.open_tasks();
    assert!(!tasks.is_empty(), "the demo round for building 1");
    assert!(tasks.iter().any(|t| t.assignee == Some(person)) || tasks.iter().all(|t| t.assignee.is_some()));

    // Twenty doors: an attempt recorded offline, then a sync, against the 1,040-household demo.
    let mut durations = Vec::new();
    let mut requests = 0;
    for task in tasks.iter().take(20) {
        phone
            .apply(&doorstep_core::Operation::RecordAttempt {
                round: task.round,
                task: task.id,
                outcome: doorstep_core::schema::vocabulary::Outcome::Delivered,
                note: String::new(),
            })
            .unwrap();
        let synced = phone.sync(&relay).await;
        assert!(synced.rejected.is_empty(), "{:?}", synced.rejected);
        requests += synced.requests;
        durations.extend(synced.durations);
    }
    durations.sort();
    println!(
        "sync round trips after one attempt each: {} syncs, {requests} requests, median {:?}, max {:?}",
        tasks.len().min(20),
        durations[durations.len() / 2],
        durations[durations.len() - 1]
    );

    // The admin commands work on the same file while the relay runs.
    let out = doorstep()
        .args(["admin", "--db"])
        .arg(&db)
        .args(["export", "--compound", &compound])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 1041);
    let out = doorstep()
        .args(["admin", "--db"])
        .arg(&db)
        .args(["invite", "--compound", &compound, "--role", "volunteer"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let code = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let (status, joined) = relay.join(&code, "新志愿者").await;
    assert_eq!(status, reqwest::StatusCode::OK, "{joined}");
    let bad =
        doorstep().args(["admin", "--db"]).arg(&db).args(["export", "--compound", "nope"]).output().unwrap();
    assert!(!bad.status.success());

    let killed = Command::new("kill").args(["-TERM", &child.0.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let started = Instant::now();
    loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            assert!(status.success(), "graceful shutdown exits 0, got {status}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "no exit after SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The relay's bound on sync work in hand is the operator's to set, and a bound that would refuse
/// everything is refused at start with the flag named.
#[test]
fn a_bound_on_sync_work_of_nothing_is_refused_at_start() {
    let out = doorstep().args(["serve", "--sync-messages-in-hand", "0"]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("--sync-messages-in-hand") && stderr.contains("0"), "{stderr}");
    let help = doorstep().args(["serve", "--help"]).output().unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    assert!(help.contains("--sync-messages-in-hand") && help.contains("[default: 2048]"), "{help}");
}

/// A start that cannot listen makes no database and prints no admin token (shown once) for a
/// relay that never ran.
#[test]
fn a_start_on_a_port_in_use_makes_no_database_and_no_admin() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("relay.db");
    let out = doorstep()
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--db"])
        .arg(&db)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(stderr.contains(&format!("binding 127.0.0.1:{port}")), "{stderr}");
    assert!(!stdout.contains("admin token"), "{stdout}");
    assert!(!db.exists(), "no database was made");
}

#[test]
fn the_admin_commands_work_on_a_database_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("admin.db");
    let run = |args: &[&str]| {
        let out =
            doorstep().args(["admin", "--db"]).arg(&db).args(args).env("RUST_LOG", "warn").output().unwrap();
        (out.status.success(), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
    };
    // On a file that is not there, only creating a compound starts a database, and says so.
    let (ok, _, stderr) =
        run(&["invite", "--compound", "01935f3e-0000-7000-8000-000000000001", "--role", "volunteer"]);
    assert!(!ok && stderr.contains("no database at") && stderr.contains("--db"), "{stderr}");
    assert!(!db.exists(), "a refused command made no file");
    let (ok, stdout, stderr) = run(&["create-compound", "--name", "北林小区"]);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("a new one was made there"), "{stderr}");
    assert!(
        stdout.contains("admin token: dst_"),
        "the first command on a new file creates the admin: {stdout}"
    );
    let admin = stdout.split("(person ").nth(1).unwrap().split(')').next().unwrap().to_owned();
    let compound = stdout.lines().last().unwrap().trim().to_owned();
    // The same name again (a command run twice) is refused, naming the compound there; --again
    // makes a second one, and `compounds` tells them apart.
    let (ok, stdout, stderr) = run(&["create-compound", "--name", "北林小区"]);
    assert!(!ok && stdout.is_empty(), "{stdout}");
    assert!(
        stderr.contains("exists already") && stderr.contains(&compound) && stderr.contains("--again"),
        "{stderr}"
    );
    let (ok, stdout, stderr) = run(&["create-compound", "--name", "北林小区", "--again"]);
    assert!(ok, "{stderr}");
    let second = stdout.trim().to_owned();
    let (ok, stdout, stderr) = run(&["compounds"]);
    assert!(ok, "{stderr}");
    let listed: Vec<&str> = stdout.lines().collect();
    assert_eq!(listed.len(), 2, "{stdout}");
    for id in [&compound, &second] {
        assert!(
            listed
                .iter()
                .any(|l| l.starts_with(id.as_str()) && l.contains(" 1 members") && l.ends_with("北林小区")),
            "{stdout}"
        );
    }

    let csv = dir.path().join("roster.csv");
    let bad = format!("{}香樟苑,3号楼,1单元,1,101,错行,1990,三,0,0,,正常,无,\n", crate::harness::ROSTER_CSV);
    std::fs::write(&csv, bad).unwrap();
    let csv = csv.to_str().unwrap();
    let (ok, stdout, stderr) = run(&["import-roster", "--compound", &compound, csv]);
    assert!(!ok, "row errors refuse the import");
    assert!(stdout.contains("line 8, column 户内人数"), "{stdout}");
    assert!(stderr.contains("--accept-good-rows"), "{stderr}");
    let (ok, stdout, stderr) = run(&["import-roster", "--compound", &compound, csv, "--accept-good-rows"]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.starts_with(
            "导入 6 户，更新 0 户，0 户没有变化 / imported 6 households, updated 0, 0 unchanged"
        ),
        "{stdout}"
    );
    // A re-import leaving 户内人数 and 联系电话 blank keeps what the roster holds, and says so
    // (it said "imported as unknown (未填)" and "fill it in").
    let again = dir.path().join("again.csv");
    std::fs::write(
        &again,
        "小区,楼号,单元,楼层,房号,户主,联系电话,户内人数\n香樟苑,1号楼,1单元,2,201,任强,,\n",
    )
    .unwrap();
    let (ok, stdout, stderr) = run(&["import-roster", "--compound", &compound, again.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    let checks: Vec<&str> = stdout.lines().filter(|l| l.starts_with("请核对 check: ")).collect();
    assert_eq!(
        checks,
        [
            "请核对 check: 第 2 行，联系电话：联系电话 为空，保留原值 19911257346 / line 2, column 联系电话: 联系电话 is empty; left as it was (19911257346)",
            "请核对 check: 第 2 行，户内人数：户内人数 为空，保留原值 2 / line 2, column 户内人数: 户内人数 is empty; left as it was (2)",
        ],
        "{stdout}"
    );

    // A workbook imports as the dashboard reads it (the command line read only CSV, and said
    // to save the file as CSV): the roster sheet after the instructions, rows numbered as in the
    // sheet, the sheet named.
    let book = dir.path().join("台账.xlsx");
    std::fs::write(
        &book,
        crate::harness::roster_workbook(&["香樟苑,3号楼,1单元,1,101,错行,1990,三,0,0,,正常,无,"]),
    )
    .unwrap();
    let (ok, stdout, stderr) = run(&["import-roster", "--compound", &compound, book.to_str().unwrap()]);
    assert!(!ok, "a bad row refuses the workbook too");
    assert!(stdout.contains("read sheet \"名册\"") && stdout.contains("line 9, column 户内人数"), "{stdout}");
    assert!(stderr.contains("--accept-good-rows"), "{stderr}");
    std::fs::write(&book, crate::harness::roster_workbook(&[])).unwrap();
    let (ok, stdout, stderr) = run(&["import-roster", "--compound", &compound, book.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("read sheet \"名册\"") && stdout.contains("updated 0, 6 unchanged"), "{stdout}");

    // A file that is no roster and never ends (or is huge) is refused at 64 MiB read, not read
    // whole into the relay machine's memory first.
    let (ok, _, stderr) = run(&["import-roster", "--compound", &compound, "/dev/zero"]);
    assert!(!ok && stderr.contains("larger than 64 MiB"), "{stderr}");

    let (ok, stdout, _) = run(&["export", "--compound", &compound]);
    assert!(ok);
    assert_eq!(stdout.lines().count(), 7);
    assert!(stdout.contains("任强") && stdout.starts_with('\u{feff}'));
    let (ok, stdout, _) = run(&["invite", "--compound", &compound, "--role", "medic"]);
    assert!(ok);
    assert_eq!(stdout.trim().len(), 14);
    let (ok, _, stderr) = run(&["invite", "--compound", &compound, "--role", "chef"]);
    assert!(!ok);
    assert!(stderr.contains("unknown role"), "{stderr}");
    // A second phone of the admin's; `members` names each device, and one lost phone is
    // revoked alone.
    let (ok, _, stderr) = run(&["token", "--person", &admin, "--device-name", "备用手机"]);
    assert!(ok, "{stderr}");
    let (ok, stdout, stderr) = run(&["members", "--compound", &compound]);
    assert!(ok, "{stderr}");
    let spare = stdout
        .lines()
        .find(|l| l.contains("备用手机"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or_else(|| panic!("the spare phone is listed: {stdout}"))
        .to_owned();
    let (ok, stdout, stderr) = run(&["revoke", "--person", &admin, "--device", &spare]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains(&format!("revoked device {spare}")), "{stdout}");
    let (_, stdout, _) = run(&["members", "--compound", &compound]);
    assert!(stdout.lines().any(|l| l.contains("备用手机") && l.contains("revoked")), "{stdout}");
    let (ok, _, stderr) = run(&["revoke", "--person", &admin, "--device", &spare]);
    assert!(!ok && stderr.contains("that phone is revoked already"), "{stderr}");
    let (ok, stdout, _) = run(&["revoke", "--person", &admin]);
    assert!(ok);
    assert!(stdout.contains("revoked 1 device token of"), "the spare phone was revoked already: {stdout}");
    // Creating the compound made the admin its admin member; revoking works once.
    let (ok, stdout, stderr) = run(&["revoke", "--person", &admin, "--compound", &compound]);
    assert!(ok, "{stderr}");
    assert!(stdout.starts_with("revoked"), "{stdout}");
    let (ok, _, stderr) = run(&["revoke", "--person", &admin, "--compound", &compound]);
    assert!(!ok);
    assert!(stderr.contains("no longer a member of the compound"), "{stderr}");
}

/// One relay per SQLite file: a second `serve` on the file of a running relay is refused before
/// it binds or prints anything, naming the relay that serves it; the admin commands still work
/// beside the relay.
#[test]
fn a_second_relay_on_the_same_file_is_refused_naming_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("relay.db");
    let first = demo(&db, &[]);
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let second = doorstep()
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--db"])
        .arg(&db)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut second = KillOnDrop(second);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = second.0.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "the second relay is running");
        std::thread::sleep(Duration::from_millis(50));
    };
    let (mut stdout, mut stderr) = (String::new(), String::new());
    std::io::Read::read_to_string(&mut second.0.stdout.take().unwrap(), &mut stdout).unwrap();
    std::io::Read::read_to_string(&mut second.0.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success(), "{stdout}{stderr}");
    assert!(stderr.contains(&format!("another relay (pid {})", first.child.0.id())), "{stderr}");
    assert!(stderr.contains(&db.display().to_string()) && stderr.contains("relay.db.lock"), "{stderr}");
    assert!(stdout.is_empty(), "no token, no listening line: {stdout}");
    // Named by its absolute path from another directory too.
    let out = doorstep()
        .args(["serve", "--listen", "127.0.0.1:0", "--db", "relay.db"])
        .current_dir(dir.path())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains(&format!("is serving {} (it holds", db.display())), "{stderr}");
    let out = doorstep()
        .args(["admin", "--db"])
        .arg(&db)
        .args(["invite", "--compound", &first.compound, "--role", "volunteer"])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(out.status.success(), "admin beside the relay: {}", String::from_utf8_lossy(&out.stderr));
}
