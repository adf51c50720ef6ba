//! A measurement, not a test (ignored by default): what each poisoned sync message of issue 11
//! costs a real `doorstep` process, and how long a legitimate phone's sync takes while hostile
//! requests hit the same round. Run it against any build of the binary (the figures in
//! SECURITY.md compare main's release build with this branch's):
//!
//! ```text
//! cargo build --release -p doorstep && DOORSTEP_BIN=target/release/doorstep cargo test -p doorstep-server --test relay poison_cost -- --ignored --nocapture
//! ```
//!
//! `DOORSTEP_RUN_BOMB=1` adds the 2^32−1-probe bomb, which an unprotected relay answers by
//! allocating 16 GiB: only on a machine where that is safe.
//!
//! Each poison gets a fresh process (`serve --demo`: the 1,040-household sample compound), so its
//! peak RSS (`VmHWM`) and CPU seconds (`utime + stime`) are its own.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use doorstep_core::id::PersonId;
use doorstep_core::sync::{DocMessage, SyncRequest, WIRE_VERSION};

use crate::harness::{Phone, TestRelay};
use crate::poison::{Hash, issue_poisons};

struct Spawned {
    child: Child,
    url: String,
    volunteers: Vec<(PersonId, String)>,
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Spawned {
    fn start(bin: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.keep().join("relay.db");
        let mut child = Command::new(bin)
            .args(["serve", "--demo", "--listen", "127.0.0.1:0", "--rate", "100000", "--db"])
            .arg(&db)
            .env("RUST_LOG", "error")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let (mut url, mut volunteers) = (String::new(), Vec::new());
        while let Some(Ok(line)) = lines.next() {
            if let Some(rest) = line.strip_prefix("doorstep listening on ") {
                url = rest.split_whitespace().next().unwrap().to_owned();
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            if words.contains(&"volunteer") && words.contains(&"token") {
                let at = |w: &str| words[words.iter().position(|x| *x == w).unwrap() + 1];
                volunteers.push((at("person").parse().unwrap(), at("token").to_owned()));
            }
            if line.starts_with("try:") {
                break;
            }
        }
        assert!(!url.is_empty() && volunteers.len() >= 2, "the demo relay started");
        // Keep reading its output so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Self { child, url, volunteers }
    }

    /// CPU seconds so far and peak RSS in MiB, or `None` once the process is gone.
    fn usage(&mut self) -> Option<(f64, f64)> {
        if !matches!(self.child.try_wait(), Ok(None)) {
            return None;
        }
        let pid = self.child.id();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        // After the command name: state is field 3, utime 14 and stime 15 (1-based, whole line).
        let ticks: f64 = fields[11].parse::<f64>().ok()? + fields[12].parse::<f64>().ok()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let hwm_kb: f64 =
            status.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()?;
        Some((ticks / 100.0, hwm_kb / 1024.0))
    }
}

async fn send(
    relay: &TestRelay,
    token: &str,
    doc: doorstep_core::id::DocumentId,
    message: Vec<u8>,
) -> String {
    let request = SyncRequest {
        version: WIRE_VERSION,
        documents_digest: None,
        messages: vec![DocMessage { doc, message }],
    };
    let sent = relay
        .http
        .post(format!("{}/v1/sync", relay.url))
        .bearer_auth(token)
        .header("content-type", "application/cbor")
        .body(request.encode())
        .timeout(Duration::from_secs(120))
        .send()
        .await;
    match sent {
        Err(e) if e.is_timeout() => "no answer in 120 s".into(),
        Err(_) => "connection lost".into(),
        Ok(res) if res.status() != reqwest::StatusCode::OK => format!("{}", res.status().as_u16()),
        Ok(res) => {
            let bytes = res.bytes().await.unwrap_or_default();
            match doorstep_core::sync::SyncResponse::decode(&bytes) {
                Ok(r) if r.rejected.is_empty() => "200, answered".into(),
                Ok(r) => format!("200, rejected `{}`", r.rejected[0].rule),
                Err(_) => "200, undecodable".into(),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: needs DOORSTEP_BIN and prints figures"]
async fn poison_cost() {
    let Ok(bin) = std::env::var("DOORSTEP_BIN") else {
        println!("set DOORSTEP_BIN to the doorstep binary to measure");
        return;
    };
    println!(
        "| message | bytes | answer | wall s | CPU s | peak RSS MiB (before → after) | relay afterwards |"
    );
    println!("|---|---|---|---|---|---|---|");
    // The bomb asks an unprotected relay for 16 GiB; on a shared machine with that much memory
    // free it may get it, so it runs only when asked for.
    let bomb = std::env::var_os("DOORSTEP_RUN_BOMB").is_some();
    for index in 0..=issue_poisons(&[]).len() {
        if index == 1 && !bomb {
            println!("| probe bomb | 47 | (skipped: set DOORSTEP_RUN_BOMB=1) | | | | |");
            continue;
        }
        let mut spawned = Spawned::start(&bin);
        let relay = TestRelay::external(&spawned.url);
        let (person, token) = spawned.volunteers[0].clone();
        let mut phone = Phone::new(&token, person);
        phone.sync(&relay).await;
        let round = phone.compound().rounds().next().unwrap().clone();
        let heads: Vec<Hash> = round.heads().iter().map(|h| h.0).collect();
        let (name, bytes) = if index == 0 {
            let honest = phone.message_for(&round).messages.remove(0).message;
            ("an honest first message (baseline)", honest)
        } else {
            issue_poisons(&heads).swap_remove(index - 1)
        };
        let (cpu0, hwm0) = spawned.usage().unwrap();
        let started = Instant::now();
        let answer = send(&relay, &token, round.id(), bytes.clone()).await;
        let wall = started.elapsed().as_secs_f64();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let after = match spawned.usage() {
            Some((cpu1, hwm1)) => format!("{:.2} | {hwm0:.0} → {hwm1:.0} | up", cpu1 - cpu0),
            None => format!(
                "? | {hwm0:.0} → ? | **process gone** ({:?})",
                spawned.child.try_wait().ok().flatten()
            ),
        };
        println!("| {name} | {} | {answer} | {wall:.2} | {after} |", bytes.len());
    }

    // A legitimate phone's sync while two attackers send poisoned requests for the same round
    // in a loop (each attacker one request at a time).
    let spawned = Spawned::start(&bin);
    let relay = TestRelay::external(&spawned.url);
    let (attacker_person, attacker_token) = spawned.volunteers[0].clone();
    let mut attacker = Phone::new(&attacker_token, attacker_person);
    attacker.sync(&relay).await;
    let round = attacker.compound().rounds().next().unwrap().clone();
    let heads: Vec<Hash> = round.heads().iter().map(|h| h.0).collect();
    let (person, token) = spawned.volunteers[1].clone();
    let mut phone = Phone::new(&token, person);
    phone.sync(&relay).await;
    let quiet = timed_syncs(&mut phone, &relay, 5).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut attackers = Vec::new();
    for a in 0..2 {
        let (url, token, stop) = (spawned.url.clone(), attacker_token.clone(), std::sync::Arc::clone(&stop));
        // The survivable poisons only: the bomb would end the measurement on the old binary.
        let poisons: Vec<Vec<u8>> = issue_poisons(&heads).into_iter().skip(1).map(|(_, b)| b).collect();
        let doc = round.id();
        attackers.push(tokio::spawn(async move {
            let relay = TestRelay::external(&url);
            let mut sent = 0usize;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                send(&relay, &token, doc, poisons[(sent + a) % poisons.len()].clone()).await;
                sent += 1;
            }
            sent
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let attacked = timed_syncs(&mut phone, &relay, 5).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut sent = 0;
    for a in attackers {
        sent += a.await.unwrap();
    }
    println!();
    println!(
        "legitimate phone, record an attempt and sync (5 times): quiet {quiet}; under attack {attacked}; {sent} poisoned requests sent meanwhile"
    );
}

/// Records an attempt and syncs, `n` times; "median / max" of the syncs' wall time.
async fn timed_syncs(phone: &mut Phone, relay: &TestRelay, n: usize) -> String {
    let mut times = Vec::new();
    for _ in 0..n {
        let task = phone.compound().open_tasks().first().map(|t| (t.round, t.id));
        if let Some((round, task)) = task {
            let _ = phone.apply(&doorstep_core::Operation::RecordAttempt {
                round,
                task,
                outcome: doorstep_core::schema::vocabulary::Outcome::NobodyHome,
                note: String::new(),
            });
        }
        let started = Instant::now();
        phone.sync_up_to(relay, 4).await;
        times.push(started.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    format!("median {:.2} s / max {:.2} s", times[times.len() / 2], times[times.len() - 1])
}
