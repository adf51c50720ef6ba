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

/// How the worker processes run their phones.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Pacing {
    /// How long each phone has from its release to be in sync.
    pub deadline: Duration,
    /// The phones of one worker process take turns at their CPU work (building a request,
    /// applying and storing a reply), one at a time and the earliest released first
    /// (`cpu_turns.rs`), as the phones of one automerge-repo client process share Node's single
    /// thread. Without it, a worker's 50 phones share the cores at once, so each is slowed by all
    /// the others and nearly all finish together (`--serial-phones`).
    pub serial_cpu: bool,
    /// A phone's replica is opened (its documents loaded) when a sync attempt begins and closed
    /// when it ends, instead of all of a worker's phones being held open from before the release:
    /// what lets a few thousand phones, each holding its compound's documents, fit in the
    /// machine's memory. Opening is CPU work inside the timed burst (`--open-on-sync`).
    pub open_on_sync: bool,
    /// The worker processes run at the lowest priority (`nice -n 19`), so that the relay gets
    /// the cores whenever it has work, as a relay on a machine of its own does; the phones, which
    /// in the field each have a CPU of their own, use what is left (`--niced-phones`).
    pub niced: bool,
    /// Each phone's CPU work is done as if on a CPU of its own, as real phones have: its first
    /// request is built before the release and sent after as long as building it took; the
    /// reply is applied once every phone of its worker has its reply, at nice 19, and the CPU
    /// time applying it takes is added to the time the reply arrived. The relay alone then has
    /// the machine's cores during the burst, and it faces every phone's request at once
    /// (`--phones-own-cpu`).
    pub own_cpu: bool,
}

impl Pacing {
    /// Each phone has `deadline`; its CPU work runs beside the others'; replicas open throughout.
    pub fn with_deadline(deadline: Duration) -> Self {
        Self { deadline, serial_cpu: false, open_on_sync: false, niced: false, own_cpu: false }
    }

    /// How the phones were run, for the report.
    pub fn describe(&self) -> String {
        if self.own_cpu {
            return "each phone's CPU work as if on a CPU of its own: its request built before the release and sent \
                    after as long as building took, its reply applied after the burst at nice 19 and the CPU time \
                    that took added to the reply's arrival (--phones-own-cpu)"
                .to_owned();
        }
        format!(
            "{}; {}; {}",
            if self.serial_cpu {
                "each worker process runs one phone's CPU work at a time, the earliest released first (--serial-phones)"
            } else {
                "a worker's phones do their CPU work at the same time, sharing the cores"
            },
            if self.open_on_sync {
                "a phone's replica is opened when its sync attempt begins, inside the timed burst (--open-on-sync)"
            } else {
                "replicas are opened before the release"
            },
            if self.niced {
                "the phones' processes run at nice 19, below the relay (--niced-phones)"
            } else {
                "the phones' processes run at the relay's priority"
            }
        )
    }
}

/// One worker's phones, written by the benchmark for the worker to read.
#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    phones: Vec<HandedOver>,
    pacing: Pacing,
}

/// How long the workers may take to open their phones' replicas: a worker opens its share one
/// after another, and a few thousand phones' worth of workers share two cores.
fn ready_limit(phones: usize) -> Duration {
    Duration::from_secs(120) + Duration::from_millis(60) * u32::try_from(phones).unwrap_or(u32::MAX)
}

/// Hands `phones` (closed by [`Phone::hand_over`], with the folders holding their replicas) over
/// to worker processes of at most [`PHONES_PER_PROCESS`](crate::client_process::PHONES_PER_PROCESS)
/// phones each, with their manifests in `dir`; each phone has `pacing.deadline` from its release
/// to be in sync, run as `pacing` says. Waits until every worker is ready. Returns the workers and the replicas' folders,
/// which must outlive them.
pub fn start(
    phones: Vec<(HandedOver, tempfile::TempDir)>,
    dir: &Path,
    pacing: Pacing,
) -> anyhow::Result<(ClientProcesses, Vec<tempfile::TempDir>)> {
    let exe = std::env::current_exe().context("finding doorstep-bench's own binary")?;
    let (handed, folders): (Vec<HandedOver>, Vec<tempfile::TempDir>) = phones.into_iter().unzip();
    let mut commands = Vec::new();
    for (p, (first, count)) in shares(handed.len()).into_iter().enumerate() {
        let manifest = Manifest { phones: handed[first..first + count].to_vec(), pacing };
        let path = dir.join(format!("phones-{p}.json"));
        std::fs::write(&path, serde_json::to_vec(&manifest)?)?;
        let mut command = if pacing.niced {
            let mut nice = Command::new("nice");
            nice.args(["-n", "19"]).arg(&exe);
            nice
        } else {
            Command::new(&exe)
        };
        command.arg(COMMAND).arg(&path);
        commands.push(command);
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let workers = ClientProcesses::spawn(commands, &tx, rx)?;
    drop(tx);
    workers.wait_ready(ready_limit(handed.len()))?;
    Ok((workers, folders))
}

mod own_cpu;

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

/// A worker's phone: open from before the release, or closed until a sync attempt opens it
/// ([`Pacing::open_on_sync`]).
enum Held {
    Open(Phone),
    /// With its place in the worker's release order.
    Closed(HandedOver, u64),
}

impl Held {
    fn name(&self) -> &str {
        match self {
            Held::Open(phone) => &phone.name,
            Held::Closed(handed, _) => &handed.name,
        }
    }
}

/// Why one sync attempt did not leave the phone in sync: the error, and the wait the relay asked
/// for when it shed the request.
struct Failed {
    error: String,
    busy: Option<Duration>,
}

/// One sync run of `phone`, then whether anything is left unsynced.
async fn attempt(phone: &Phone) -> Result<(), Failed> {
    match phone.sync().await {
        Ok(synced) => match phone.unsynced().await {
            Ok(0) => Ok(()),
            Ok(left) => {
                let report = &synced.report;
                let refused: Vec<String> = report
                    .rejected
                    .iter()
                    .chain(&report.retrying)
                    .map(|r| format!("{}: {}", r.rule, r.reason))
                    .collect();
                Err(Failed {
                    error: format!("{left} changes still unsynced after the sync; refused: {refused:?}"),
                    busy: None,
                })
            }
            Err(e) => Err(Failed { error: e.to_string(), busy: None }),
        },
        Err(e) => {
            Err(Failed { busy: e.downcast_ref::<Busy>().map(|b| b.retry_after), error: format!("{e:#}") })
        }
    }
}

/// A phone's failed attempts during the burst: counted by reason and by what the relay
/// answered, and the pause before the next, as the app pauses.
#[derive(Debug, Default)]
struct Retries {
    count: u32,
    shed: u32,
    reasons: BTreeMap<String, u32>,
    statuses: BTreeMap<String, u32>,
    last_error: String,
}

impl Retries {
    /// Counts a failed attempt and returns the pause before the next. A relay shedding load says
    /// how long to wait, and the phone waits that and a little more at random, as the app does
    /// (`RetryPolicy::after_asked`). Any other failure (a timeout, a refused connection) waits 1 s,
    /// 2 s, … at most 5 s.
    fn failed(&mut self, error: String, busy: Option<Duration>) -> Duration {
        self.count += 1;
        if busy.is_some() {
            self.shed += 1;
        }
        *self.reasons.entry(reason_class(&error)).or_insert(0) += 1;
        *self.statuses.entry(status_class(&error, busy.is_some())).or_insert(0) += 1;
        self.last_error = error;
        match busy {
            Some(retry_after) => doorstep_replica::RetryPolicy::after_asked(retry_after),
            None => (RETRY_PAUSE * self.count).min(Duration::from_secs(5)),
        }
    }

    /// The phone's `result` line: in sync `took` after the release, or not in sync by `deadline`.
    fn outcome(self, phone: String, took: Option<Duration>, deadline: Duration) -> Outcome {
        let ok = took.is_some();
        let ms = took.unwrap_or(deadline).as_secs_f64() * 1000.0;
        let error = match (ok, self.last_error.is_empty()) {
            (true, _) => None,
            (false, true) => Some(format!("not in sync after {}", secs(deadline))),
            (false, false) => {
                Some(format!("not in sync after {}; last error: {}", secs(deadline), self.last_error))
            }
        };
        let Self { count: retries, shed, reasons, statuses, .. } = self;
        Outcome { phone, ok, ms, error, retries, shed, reasons, statuses }
    }
}

/// Syncs one phone until it is in sync or `deadline` passes, retrying as the app does. A closed
/// phone is opened for each attempt and closed after it.
async fn sync_until_in_sync(phone: Held, released: Instant, deadline: Duration) -> Outcome {
    let mut retries = Retries::default();
    let name = phone.name().to_owned();
    let attempts = async {
        loop {
            let outcome = match &phone {
                Held::Open(open) => attempt(open).await,
                Held::Closed(handed, order) => match Phone::open(handed.clone(), *order).await {
                    Ok(opened) => attempt(&opened).await,
                    Err(e) => Err(Failed { error: format!("opening the replica: {e:#}"), busy: None }),
                },
            };
            let Err(Failed { error, busy }) = outcome else { return };
            // As the app does: a failed sync is retried after a pause; whatever arrived is
            // kept, so the retry carries on from there.
            let pause = retries.failed(error, busy);
            tokio::time::sleep(pause).await;
        }
    };
    let in_time = tokio::time::timeout(deadline, attempts).await.is_ok();
    let took = in_time.then(|| released.elapsed());
    retries.outcome(name, took, deadline)
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
    let Manifest { phones, pacing } = serde_json::from_slice(
        &std::fs::read(manifest).with_context(|| format!("reading {}", manifest.display()))?,
    )?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let deadline = pacing.deadline;
    if pacing.serial_cpu {
        crate::phone::take_turns_at_cpu_work();
    }
    if pacing.own_cpu {
        return own_cpu::run(phones, deadline, &runtime);
    }
    let phones: Vec<Held> = (0u64..)
        .zip(phones)
        .map(|(order, p)| {
            if pacing.open_on_sync {
                Ok(Held::Closed(p, order))
            } else {
                Phone::take_over(p, order).map(Held::Open)
            }
        })
        .collect::<anyhow::Result<_>>()?;
    wait_for_go()?;
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
    report_finished(cpu_time(me).unwrap_or_default().saturating_sub(cpu_before));
    Ok(())
}

/// Says `ready` and waits for `go` on standard input.
fn wait_for_go() -> anyhow::Result<()> {
    println!("ready");
    let mut line = String::new();
    while line.trim() != "go" {
        line.clear();
        if std::io::stdin().lock().read_line(&mut line)? == 0 {
            anyhow::bail!("stdin closed before go");
        }
    }
    Ok(())
}

/// The worker's last line: its CPU time during the burst and the requests its phones sent.
fn report_finished(cpu: Duration) {
    let requests = crate::phone::REQUESTS_SENT.load(std::sync::atomic::Ordering::Relaxed);
    println!(
        "finished {}",
        serde_json::json!({ "cpu_ms": cpu.as_secs_f64() * 1000.0, "requests": requests })
    );
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
