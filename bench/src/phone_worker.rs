//! Doorstep's simulated phones in processes of their own for the team-return burst, as
//! automerge-repo's phones are in Node processes (`client_process.rs` has the protocol both
//! speak). The benchmark sets the phones up in its own process (joined, synced once, offline
//! edits made), closes their replicas and hands each share to `doorstep-bench client-worker
//! MANIFEST`, a process of this same binary, which syncs them when told to go.

use std::collections::BTreeMap;
use std::io::BufRead as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;

use crate::client_process::{ClientProcesses, shares};
use crate::figures::secs;
use crate::phone::{Busy, HandedOver, Phone};
use crate::proc_stats::cpu_time;

/// The command-line word that makes `doorstep-bench` a phone worker.
pub const COMMAND: &str = "client-worker";

/// The pause before a failed sync is retried; the n-th retry waits n times as long, at most 5 s.
const RETRY_PAUSE: Duration = Duration::from_secs(1);

/// One worker's phones, written by the benchmark for the worker to read.
#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    phones: Vec<HandedOver>,
    /// How long each phone has from its release to be in sync, in milliseconds.
    deadline_ms: u64,
}

/// How long the workers may take to open their phones' replicas: a worker opens its share one
/// after another, and a few thousand phones' worth of workers share two cores.
fn ready_limit(phones: usize) -> Duration {
    Duration::from_secs(120) + Duration::from_millis(60) * u32::try_from(phones).unwrap_or(u32::MAX)
}

/// Hands `phones` (closed by [`Phone::hand_over`], with the folders holding their replicas) over
/// to worker processes of at most [`PHONES_PER_PROCESS`](crate::client_process::PHONES_PER_PROCESS)
/// phones each, with their manifests in `dir`; each phone has `deadline` from its release to be
/// in sync. Waits until every worker is ready. Returns the workers and the replicas' folders,
/// which must outlive them.
pub fn start(
    phones: Vec<(HandedOver, tempfile::TempDir)>,
    dir: &Path,
    deadline: Duration,
) -> anyhow::Result<(ClientProcesses, Vec<tempfile::TempDir>)> {
    let exe = std::env::current_exe().context("finding doorstep-bench's own binary")?;
    let (handed, folders): (Vec<HandedOver>, Vec<tempfile::TempDir>) = phones.into_iter().unzip();
    let deadline_ms = u64::try_from(deadline.as_millis()).unwrap_or(u64::MAX);
    let mut commands = Vec::new();
    for (p, (first, count)) in shares(handed.len()).into_iter().enumerate() {
        let manifest = Manifest { phones: handed[first..first + count].to_vec(), deadline_ms };
        let path = dir.join(format!("phones-{p}.json"));
        std::fs::write(&path, serde_json::to_vec(&manifest)?)?;
        let mut command = Command::new(&exe);
        command.arg(COMMAND).arg(&path);
        commands.push(command);
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let workers = ClientProcesses::spawn(commands, &tx, rx)?;
    drop(tx);
    workers.wait_ready(ready_limit(handed.len()))?;
    Ok((workers, folders))
}

/// A number in [0, 1) for jitter; the standard library's hasher keys are random per process and
/// per `RandomState`.
fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let bits = std::collections::hash_map::RandomState::new().build_hasher().finish();
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// What one phone's burst came to, as its `result` line says.
#[derive(Debug, Serialize)]
struct Outcome {
    /// The name the phone joined under.
    phone: String,
    ok: bool,
    ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    retries: u32,
    shed: u32,
    /// Retries by reason, numbers masked ([`reason_class`]).
    reasons: BTreeMap<String, u32>,
    /// Retries by what the relay answered ([`status_class`]): `503`, `408`, …
    statuses: BTreeMap<String, u32>,
}

/// Syncs one phone until it is in sync or `deadline` passes, retrying as the app does.
async fn sync_until_in_sync(phone: Phone, released: Instant, deadline: Duration) -> Outcome {
    let mut retries = 0;
    let mut shed = 0u32;
    let mut reasons = BTreeMap::new();
    let mut statuses = BTreeMap::new();
    let name = phone.name.clone();
    let mut last_error = String::new();
    let attempts = async {
        loop {
            let mut busy = None;
            last_error = match phone.sync().await {
                Ok(synced) => match phone.unsynced().await {
                    Ok(0) => return,
                    Ok(left) => {
                        let report = &synced.report;
                        let refused: Vec<String> = report
                            .rejected
                            .iter()
                            .chain(&report.retrying)
                            .map(|r| format!("{}: {}", r.rule, r.reason))
                            .collect();
                        format!("{left} changes still unsynced after the sync; refused: {refused:?}")
                    }
                    Err(e) => e.to_string(),
                },
                Err(e) => {
                    busy = e.downcast_ref::<Busy>().map(|b| b.retry_after);
                    if busy.is_some() {
                        shed += 1;
                    }
                    format!("{e:#}")
                }
            };
            // As the app does: a failed sync (a timeout, a busy relay) is retried after a
            // pause; whatever arrived is kept, so the retry carries on from there. A relay
            // shedding load says how long to wait; the phone adds up to half as much again at
            // random, so the shed phones do not all come back at once.
            retries += 1;
            *reasons.entry(reason_class(&last_error)).or_insert(0u32) += 1;
            *statuses.entry(status_class(&last_error, busy.is_some())).or_insert(0u32) += 1;
            let pause = match busy {
                Some(retry_after) => retry_after.mul_f64(1.0 + 0.5 * jitter()),
                None => (RETRY_PAUSE * retries).min(Duration::from_secs(5)),
            };
            tokio::time::sleep(pause).await;
        }
    };
    let in_time = tokio::time::timeout(deadline, attempts).await.is_ok();
    let ms = released.elapsed().as_secs_f64() * 1000.0;
    let error = match (in_time, last_error.is_empty()) {
        (true, _) => None,
        (false, true) => Some(format!("not in sync after {}", secs(deadline))),
        (false, false) => Some(format!("not in sync after {}; last error: {last_error}", secs(deadline))),
    };
    Outcome { phone: name, ok: in_time, ms, error, retries, shed, reasons, statuses }
}

/// What a failed sync came to, as a short class: the relay's HTTP status (`503` when it shed
/// the request), `timeout` or `connection` when no answer came, `unsynced` when the run ended
/// normally with changes left over, `other` otherwise.
fn status_class(error: &str, shed: bool) -> String {
    if shed {
        return "503".to_owned();
    }
    if let Some(rest) = error.split("the relay answered ").nth(1) {
        let code: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if !code.is_empty() {
            return code;
        }
    }
    let lower = error.to_lowercase();
    if error.contains("still unsynced after the sync") {
        "unsynced".to_owned()
    } else if lower.contains("timed out") || lower.contains("timeout") {
        "timeout".to_owned()
    } else if lower.contains("connect") || lower.contains("connection") {
        "connection".to_owned()
    } else {
        "other".to_owned()
    }
}

/// A retry's reason with its numbers masked, so that retries for the same reason count together.
fn reason_class(error: &str) -> String {
    let masked: String = error.chars().map(|c| if c.is_ascii_digit() { '#' } else { c }).collect();
    let mut class = String::new();
    for c in masked.chars().take(160) {
        if !(c == '#' && class.ends_with('#')) {
            class.push(c);
        }
    }
    class
}

/// The worker: opens the phones of `manifest`, says `ready`, waits for `go`, syncs them all at
/// once and reports (the protocol of `client_process.rs`).
pub fn run(manifest: &Path) -> anyhow::Result<()> {
    let Manifest { phones, deadline_ms } = serde_json::from_slice(
        &std::fs::read(manifest).with_context(|| format!("reading {}", manifest.display()))?,
    )?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let deadline = Duration::from_millis(deadline_ms);
    let phones = phones.into_iter().map(Phone::take_over).collect::<anyhow::Result<Vec<_>>>()?;
    println!("ready");
    let mut line = String::new();
    while line.trim() != "go" {
        line.clear();
        if std::io::stdin().lock().read_line(&mut line)? == 0 {
            anyhow::bail!("stdin closed before go");
        }
    }
    let me = std::process::id();
    let cpu_before = cpu_time(me).unwrap_or_default();
    let released = Instant::now();
    runtime.block_on(async {
        let mut syncing = JoinSet::new();
        for phone in phones {
            syncing.spawn(async move {
                let outcome = sync_until_in_sync(phone, released, deadline).await;
                // One `println!` per line: the standard output lock keeps lines whole.
                println!("result {}", serde_json::to_string(&outcome).unwrap_or_default());
            });
        }
        while let Some(done) = syncing.join_next().await {
            done?;
        }
        anyhow::Ok(())
    })?;
    let cpu = cpu_time(me).unwrap_or_default().saturating_sub(cpu_before);
    println!("finished {}", serde_json::json!({ "cpu_ms": cpu.as_secs_f64() * 1000.0 }));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_sync_is_classed_by_what_the_relay_answered() {
        assert_eq!(status_class("the relay is busy (503); retry after 3 s", true), "503");
        assert_eq!(status_class("the relay answered 408 Request Timeout: slow", false), "408");
        assert_eq!(status_class("3 changes still unsynced after the sync; refused: []", false), "unsynced");
        assert_eq!(status_class("error sending request: operation timed out", false), "timeout");
        assert_eq!(status_class("error sending request: Connection refused", false), "connection");
        assert_eq!(status_class("something else", false), "other");
    }
}
