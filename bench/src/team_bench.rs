//! A compound's team returning at once: N phones, each with 20 offline edits, all coming back
//! into signal at the same instant and syncing concurrently against one `doorstep serve` on
//! loopback; then the same documents and the same edits against automerge-repo's sync server.
//!
//! "In sync" means the same on both sides: the server has every change the phone made offline,
//! and the phone knows it. For Doorstep that is the end of the phone's sync run (the relay has
//! committed the changes, its reply carries heads that include them, and `unsynced_changes()` is
//! 0); for automerge-repo it is the first sync message from the server whose heads include every
//! change the client made (see `peer/clients.mjs`). Latency is measured from the moment all phones
//! are released, so a phone that waits for the server counts its wait.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::audit::{relay_copy, tally};
use crate::client_process::{ClientResults, PHONES_PER_PROCESS};
use crate::figures::{bytes, ms, secs};
use crate::peer::Peer;
use crate::phone_worker::{self, Pacing};
use crate::proc_stats::{Phase, PhaseCost};
use crate::relay_process::RelayProcess;
use crate::workload::{ClosedPhone, Site, offline_team};

/// Offline edits each phone brings back.
pub const EDITS: usize = 20;

/// How long every phone, on either server, has from its release to be in sync unless
/// `--deadline` says otherwise (for Doorstep's phones); a phone not in sync by then counts as
/// failed. The whole benchmark must finish in fifteen minutes.
pub const DEADLINE: Duration = Duration::from_secs(90);

/// What one burst measured, for either server.
#[derive(Debug, Clone)]
pub struct Burst {
    /// Phones that synced.
    pub phones: usize,
    /// From release to the last phone in sync.
    pub completion: Duration,
    /// Each phone's time from release to in sync (successful phones only).
    pub latencies: Vec<Duration>,
    /// Phones that failed or were still not in sync, and the first reason.
    pub failed: usize,
    /// Why the first failed phone failed.
    pub first_error: Option<String>,
    /// The names of the phones not in sync (Doorstep's phones).
    pub failed_phones: std::collections::BTreeSet<String>,
    /// Syncs (Doorstep) or connections (automerge-repo) retried after a failure.
    pub retries: u32,
    /// Of those, syncs the relay refused with 503 and `Retry-After` (shedding load).
    pub shed: u32,
    /// `GET /healthz` answer times during the burst, sampled every 100 ms (Doorstep only).
    pub health: Vec<Duration>,
    /// The server process's CPU time and peak memory during the burst.
    pub cost: PhaseCost,
    /// The phones' CPU time during the burst: every client process's, added up.
    pub client_cpu: Duration,
    /// How many processes the phones ran in.
    pub client_processes: usize,
    /// Setting up (joining, first sync, offline edits), not timed as part of the burst.
    pub setup: Duration,
}

impl Burst {
    /// A burst of `phones` phones as its client processes reported it.
    pub fn from_clients(
        phones: usize,
        completion: Duration,
        clients: ClientResults,
        health: Vec<Duration>,
        cost: PhaseCost,
        setup: Duration,
    ) -> Self {
        Self {
            phones,
            completion,
            latencies: clients.latencies,
            failed: clients.failed,
            first_error: clients.first_error,
            failed_phones: clients.failed_phones,
            retries: clients.retries,
            shed: clients.shed,
            health,
            cost,
            client_cpu: clients.cpu,
            client_processes: clients.processes,
            setup,
        }
    }

    /// Offline edits the server brought in: those of the phones in sync.
    pub fn edits_in(&self) -> usize {
        (self.phones - self.failed) * EDITS
    }

    /// Server CPU time per offline edit of the whole team, those of phones not in sync included:
    /// for a server whose phones failed this is a lower bound of its cost per edit brought in.
    pub fn server_cpu_per_edit(&self) -> Option<Duration> {
        u32::try_from(self.phones * EDITS).ok().filter(|&e| e > 0).map(|e| self.cost.cpu / e)
    }

    /// Offline edits brought in per second of completion time.
    pub fn edits_per_second(&self) -> f64 {
        self.edits_in() as f64 / self.completion.as_secs_f64().max(1e-9)
    }

    /// The `p`th percentile of every phone's latency, a phone never in sync counting as slower
    /// than any other; `None` when the percentile falls on such a phone.
    pub fn latency(&self, p: f64) -> Option<Duration> {
        let mut l = self.latencies.clone();
        l.sort();
        let rank = ((p / 100.0) * (self.phones.max(1) - 1) as f64).round() as usize;
        l.get(rank).copied()
    }

    /// Median latency.
    pub fn p50(&self) -> Option<Duration> {
        self.latency(50.0)
    }

    /// 99th-percentile latency.
    pub fn p99(&self) -> Option<Duration> {
        self.latency(99.0)
    }
}

/// Times `GET /healthz` every 100 ms until `stop`, from the moment the phones are released.
async fn probe_health(url: String, mut stop: watch::Receiver<bool>) -> Vec<Duration> {
    let Ok(http) = reqwest::Client::builder().timeout(Duration::from_secs(30)).build() else {
        return Vec::new();
    };
    let mut took = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return took,
        }
        let start = Instant::now();
        let ok = http.get(format!("{url}/healthz")).send().await.is_ok_and(|r| r.status().is_success());
        // A failed health check counts as the whole timeout.
        took.push(if ok { start.elapsed() } else { Duration::from_secs(30) });
    }
}

/// The relay's work-queue counters from `/metrics`: batches, the messages they took, the
/// largest, and the requests shed with 503 (counted since the relay started, setup included).
async fn queue_figures(url: &str) -> String {
    let text = match reqwest::get(format!("{url}/metrics")).await {
        Ok(response) => response.text().await.unwrap_or_default(),
        Err(e) => return format!("metrics not read: {e}"),
    };
    let value = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
            .map_or_else(|| "–".to_owned(), |v| v.trim().to_owned())
    };
    format!(
        "{} batches took {} document messages (largest {}); {} requests shed with 503 (since the relay started)",
        value("doorstep_sync_batches_total"),
        value("doorstep_sync_batched_messages_total"),
        value("doorstep_sync_largest_batch"),
        value("doorstep_sync_shed_total"),
    )
}

/// The `p`th percentile of `samples`.
pub fn percentile(samples: &[Duration], p: f64) -> Option<Duration> {
    let mut s = samples.to_vec();
    s.sort();
    let rank = ((p / 100.0) * (s.len().max(1) - 1) as f64).round() as usize;
    s.get(rank).copied()
}

/// A latency, or "not in sync" for a percentile that falls on a phone never in sync.
pub fn latency(d: Option<Duration>) -> String {
    d.map_or_else(|| "not in sync".to_owned(), ms)
}

/// Hands `phones` (set up and closed, see [`offline_team`]) to worker processes, releases them
/// all at once on `relay` and measures the burst until every phone is in sync or
/// `pacing.deadline` has passed for it; `setup_start` is when setting the burst up began. Prints the relay's queue
/// counters and the retries by reason, each line starting with `label`.
pub async fn release(
    relay: &RelayProcess,
    phones: Vec<ClosedPhone>,
    pacing: Pacing,
    setup_start: Instant,
    label: &str,
) -> anyhow::Result<Burst> {
    let n = phones.len();
    let manifests = tempfile::tempdir()?;
    let manifests_path = manifests.path().to_owned();
    let (mut workers, replicas) =
        tokio::task::spawn_blocking(move || phone_worker::start(phones, &manifests_path, pacing)).await??;
    let setup = setup_start.elapsed();

    let phase = Phase::start(relay.pid());
    let released = Instant::now();
    workers.release()?;
    let (health_stop, health_stopped) = watch::channel(false);
    let health = tokio::spawn(probe_health(relay.url.clone(), health_stopped));
    let clients =
        tokio::task::spawn_blocking(move || workers.collect(pacing.deadline + Duration::from_secs(30)))
            .await??;
    let mut completion = released.elapsed();
    if pacing.own_cpu && clients.failed == 0 {
        // The replies were applied after the burst; each phone's time counts its own CPU work.
        completion = clients.latencies.iter().copied().max().unwrap_or(completion);
    }
    let cost = phase.finish();
    let _ = health_stop.send(true);
    let health = health.await?;
    println!("{label}: {}", queue_figures(&relay.url).await);
    println!(
        "{label}: the phones sent {} sync requests, {:.2} per phone",
        clients.requests,
        clients.requests as f64 / n.max(1) as f64
    );
    let statuses: Vec<String> = clients.retry_statuses.iter().map(|(s, n)| format!("{s}: {n}")).collect();
    println!(
        "{label}: retries by what the relay answered: {}",
        if statuses.is_empty() { "none".to_owned() } else { statuses.join(", ") }
    );
    for (reason, count) in &clients.retry_reasons {
        println!("{label}: retried {count} times after: {reason}");
    }
    drop(replicas);
    Ok(Burst::from_clients(n, completion, clients, health, cost, setup))
}

/// Doorstep: a fresh relay with the sample compound, `n` phones joined and synced, each with
/// [`EDITS`] offline edits, then handed to worker processes (`phone_worker.rs`) and released
/// together, run as `pacing` says; afterwards the relay's copy is checked for
/// every edit. With `export`, the documents and edits are written there first for the
/// automerge-repo peer.
async fn doorstep_burst(
    doorstep: &Path,
    phones_dir: &Path,
    n: usize,
    pacing: Pacing,
    export: Option<&Path>,
) -> anyhow::Result<(Burst, Option<PathBuf>)> {
    let setup_start = Instant::now();
    let site = Site::build(doorstep, 600, phones_dir).await?;
    let workload = match export {
        Some(dir) => Some(site.export(dir, n, EDITS).await?),
        None => None,
    };
    let site = Arc::new(site);
    let phones = offline_team(&site, std::slice::from_ref(&site.relay.url), n, EDITS).await?;
    let label = format!("doorstep, {n} phones");
    let burst = release(&site.relay, phones, pacing, setup_start, &label).await?;

    let written: Vec<_> = (0..n).map(|i| (format!("phone-{i}"), site.edits(i, EDITS))).collect();
    let original = site.doors.iter().map(|d| (d.household, d.notes.clone())).collect();
    let (tasks, households) = relay_copy(&site.relay, site.compound, phones_dir).await?;
    let audit = tally(&written, &burst.failed_phones, &original, &tasks, &households);
    println!("{label}: the phones' edits in the relay's copy: {}", audit.describe());
    Ok((burst, workload))
}

fn row(server: &str, b: &Burst) -> String {
    let doorstep = server == "doorstep";
    format!(
        "| {server} | {} | {} | {} | {:.0} | {} | {} | {} | {} | {} | {} in {} process{} | {}{} | {} | {} |",
        b.phones,
        EDITS,
        secs(b.completion),
        b.edits_per_second(),
        latency(b.p50()),
        latency(b.p99()),
        secs(b.cost.cpu),
        b.server_cpu_per_edit().map_or_else(|| "–".to_owned(), ms),
        bytes(b.cost.peak),
        secs(b.client_cpu),
        b.client_processes,
        if b.client_processes == 1 { "" } else { "es" },
        b.failed,
        if doorstep {
            format!(" ({} retried, {} of them shed with 503)", b.retries, b.shed)
        } else {
            String::new()
        },
        if doorstep { latency(percentile(&b.health, 99.0)) } else { "–".to_owned() },
        secs(b.setup)
    )
}

/// Each side's durability, as configured for this run: when an acknowledged change is on disk.
const FSYNC_POLICIES: &str = "fsync: doorstep answers a sync after committing it to SQLite in WAL mode with synchronous=FULL (one fsync per commit); \
automerge-repo's NodeFS storage writes files with writeFile and never fsyncs; the Repo saves a changed document at most every 100 ms (saveDebounceRate) and does not wait for the save before its sync reply";

/// Runs the burst for each team size, Doorstep first, then automerge-repo if its peer is
/// available, and prints the table and the ratios.
pub async fn run(
    doorstep: &Path,
    phones_dir: &Path,
    peer: Option<&Peer>,
    skipped: Option<&str>,
    quick: bool,
    only: Option<usize>,
    pacing: Pacing,
) -> anyhow::Result<()> {
    let sizes: Vec<usize> = match only {
        Some(n) => vec![n],
        None if quick => vec![20],
        None => vec![130, 1000],
    };
    println!("\n## A compound's team returning at once ({EDITS} offline edits per phone)");
    println!("target: Doorstep ≥ 3× automerge-repo's throughput and ≤ ½ its p99");
    println!(
        "every Doorstep phone has {} from its release to be in sync (automerge-repo's {}), or counts as failed",
        secs(pacing.deadline),
        secs(DEADLINE)
    );
    println!("Doorstep's phones: {}", pacing.describe());
    println!(
        "phones run in processes of their own on both sides, at most {PHONES_PER_PROCESS} per process; server CPU per edit divides by every phone's edits, in sync or not"
    );
    println!("{FSYNC_POLICIES}\n");
    match peer {
        Some(p) => println!("automerge-repo peer: {}", p.describe()),
        None => println!("automerge-repo peer: skipped ({})", skipped.unwrap_or("not available")),
    }
    let mut rows = Vec::new();
    let mut ratios = Vec::new();
    for n in sizes {
        let workdir = tempfile::tempdir()?;
        let compare = peer.filter(|p| n <= p.max_phones);
        let (ours, workload) =
            doorstep_burst(doorstep, phones_dir, n, pacing, compare.map(|_| workdir.path())).await?;
        if let Some(e) = &ours.first_error {
            println!("doorstep, {n} phones: {} failed; first: {e}", ours.failed);
        }
        rows.push(row("doorstep", &ours));
        if let Some(peer) = peer.filter(|p| n > p.max_phones) {
            rows.push(format!(
                "| automerge-repo | {n} | {EDITS} | not run (more than {} phones: `--peer-max {n}` runs it) | | | | | | | | | | |",
                peer.max_phones
            ));
        }
        if let (Some(peer), Some(workload)) = (compare, workload) {
            let peer = peer.clone();
            let theirs = match tokio::task::spawn_blocking(move || peer.burst(&workload, n)).await? {
                Ok(theirs) => theirs,
                Err(e) => {
                    println!("automerge-repo, {n} phones: the run failed: {e:#}");
                    rows.push(format!(
                        "| automerge-repo | {n} | {EDITS} | failed: {e} | | | | | | | | | | |"
                    ));
                    continue;
                }
            };
            if let Some(e) = &theirs.first_error {
                println!("automerge-repo, {n} phones: {} failed; first: {e}", theirs.failed);
            }
            rows.push(row("automerge-repo", &theirs));
            let p99 = match (ours.p99(), theirs.p99()) {
                (Some(a), Some(b)) => format!("{:.2}", a.as_secs_f64() / b.as_secs_f64().max(1e-9)),
                (Some(a), None) => format!(
                    "< {:.2} (theirs: > {})",
                    a.as_secs_f64() / theirs.completion.as_secs_f64(),
                    secs(theirs.completion)
                ),
                (None, _) => "– (Doorstep not in sync)".to_owned(),
            };
            let per_edit = match (ours.server_cpu_per_edit(), theirs.server_cpu_per_edit()) {
                (Some(a), Some(b)) => format!("{:.2}", a.as_secs_f64() / b.as_secs_f64().max(1e-12)),
                _ => "–".to_owned(),
            };
            ratios.push(format!(
                "| {n} | {:.2}× | {p99} | {:.2} | {per_edit} | {:.2} | {:.2} |",
                ours.edits_per_second() / theirs.edits_per_second().max(1e-9),
                ours.cost.cpu.as_secs_f64() / theirs.cost.cpu.as_secs_f64().max(1e-9),
                ours.client_cpu.as_secs_f64() / theirs.client_cpu.as_secs_f64().max(1e-9),
                ours.cost.peak as f64 / theirs.cost.peak.max(1) as f64,
            ));
        }
    }
    println!(
        "\n| server | phones | edits each | completion | edits/s | p50 | p99 | server CPU | server CPU per edit | server peak memory | client CPU | phones failed | /healthz p99 during the burst | setup (untimed) |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for r in rows {
        println!("{r}");
    }
    if !ratios.is_empty() {
        println!(
            "\n| phones | throughput, Doorstep ÷ automerge-repo (≥ 3×) | p99, Doorstep ÷ automerge-repo (≤ 0.5) | server CPU ratio | server CPU per edit ratio | client CPU ratio | server peak memory ratio |\n\
             |---|---|---|---|---|---|---|"
        );
        for r in ratios {
            println!("{r}");
        }
    }
    Ok(())
}
