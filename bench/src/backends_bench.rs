//! The team-return burst on three set-ups of the relay, to show what PostgreSQL costs: one relay
//! on SQLite, one relay on PostgreSQL, and two relays on one PostgreSQL database with the phones
//! split between them (as a balancer would split them).
//!
//! On a 2-core machine a second relay cannot make anything faster; what it can show is the cost
//! per edit. So this reports the CPU time the relays and the PostgreSQL server processes (the
//! postmaster and all its children: the relays' backends, the WAL writer, the checkpointer) used
//! during the burst, read from /proc before and after, divided by the edits brought in, and
//! PostgreSQL's share of it. A PostgreSQL process that exits during the burst takes its CPU time
//! with it; the relays keep their pooled connections, so their backends live throughout.
//!
//! PostgreSQL is the server at `--postgres URL` or `DOORSTEP_TEST_POSTGRES` (as
//! `scripts/with-postgres` sets it); each set-up gets a fresh database there, dropped afterwards.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use doorstep_server::storage::postgres::scratch::ScratchDatabase;

use crate::figures::secs;
use crate::phone_worker;
use crate::proc_stats::cpu_time;
use crate::relay_process::RelayProcess;
use crate::team_bench::{DEADLINE, EDITS};
use crate::workload::{Site, offline_team};

/// Where a set-up keeps its documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres { relays: usize },
}

impl Backend {
    fn describe(self) -> String {
        match self {
            Backend::Sqlite => "1 relay, SQLite".to_owned(),
            Backend::Postgres { relays: 1 } => "1 relay, PostgreSQL".to_owned(),
            Backend::Postgres { relays } => format!("{relays} relays, one PostgreSQL"),
        }
    }
}

/// What one set-up measured.
#[derive(Debug)]
struct Outcome {
    backend: Backend,
    phones: usize,
    failed: usize,
    first_error: Option<String>,
    completion: Duration,
    relays_cpu: Duration,
    postgres_cpu: Duration,
}

impl Outcome {
    fn edits(&self) -> usize {
        (self.phones - self.failed) * EDITS
    }

    fn row(&self) -> String {
        let edits = self.edits().max(1) as f64;
        let total = self.relays_cpu + self.postgres_cpu;
        let per_edit = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1000.0 / edits);
        let share = if self.backend == Backend::Sqlite {
            "–".to_owned()
        } else {
            format!("{:.0} %", 100.0 * self.postgres_cpu.as_secs_f64() / total.as_secs_f64().max(1e-9))
        };
        format!(
            "| {} | {} | {} | {} | {:.0} | {} | {} | {} | {} | {} | {share} | {} |",
            self.backend.describe(),
            self.phones,
            self.edits(),
            secs(self.completion),
            self.edits() as f64 / self.completion.as_secs_f64().max(1e-9),
            secs(self.relays_cpu),
            if self.backend == Backend::Sqlite { "–".to_owned() } else { secs(self.postgres_cpu) },
            per_edit(self.relays_cpu),
            if self.backend == Backend::Sqlite { "–".to_owned() } else { per_edit(self.postgres_cpu) },
            per_edit(total),
            self.failed,
        )
    }
}

/// The PostgreSQL server's processes: the postmaster (the parent of a backend we connect to)
/// and its children.
#[derive(Debug)]
struct PostgresProcesses {
    postmaster: u32,
}

impl PostgresProcesses {
    async fn find(url: &str) -> anyhow::Result<(Self, String)> {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
        let driver = tokio::spawn(connection);
        let backend: i32 = client.query_one("SELECT pg_backend_pid()", &[]).await?.get(0);
        let fsync: String = client.query_one("SHOW fsync", &[]).await?.get(0);
        let commit: String = client.query_one("SHOW synchronous_commit", &[]).await?.get(0);
        let version: String = client.query_one("SHOW server_version", &[]).await?.get(0);
        let postmaster = parent(u32::try_from(backend)?).context(
            "cannot read the PostgreSQL backend's parent from /proc: is the server on this machine?",
        )?;
        drop(client);
        let _ = driver.await;
        Ok((Self { postmaster }, format!("PostgreSQL {version}, fsync={fsync}, synchronous_commit={commit}")))
    }

    /// CPU time used so far by each of the server's processes.
    fn cpu(&self) -> HashMap<u32, Duration> {
        let mut out = HashMap::new();
        let Ok(entries) = std::fs::read_dir("/proc") else { return out };
        for entry in entries.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
            if (pid == self.postmaster || parent(pid) == Some(self.postmaster))
                && let Some(cpu) = cpu_time(pid)
            {
                out.insert(pid, cpu);
            }
        }
        out
    }
}

/// A process's parent, from /proc/PID/stat.
fn parent(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 2..].split_whitespace().nth(1)?.parse().ok()
}

/// CPU time used between two readings; a process new in `after` counts from zero.
fn used(before: &HashMap<u32, Duration>, after: &HashMap<u32, Duration>) -> Duration {
    after.iter().map(|(pid, t)| t.saturating_sub(before.get(pid).copied().unwrap_or_default())).sum()
}

/// One burst of `n` phones on `relays` (the first holds the site); phone `i` syncs with relay
/// `i % relays.len()`.
async fn burst(
    backend: Backend,
    site: Site,
    others: Vec<RelayProcess>,
    n: usize,
    postgres: Option<&PostgresProcesses>,
) -> anyhow::Result<Outcome> {
    let mut urls = vec![site.relay.url.clone()];
    urls.extend(others.iter().map(|r| r.url.clone()));
    let mut pids = vec![site.relay.pid()];
    pids.extend(others.iter().map(RelayProcess::pid));
    let site = Arc::new(site);
    let phones = offline_team(&site, &urls, n, EDITS).await?;

    let manifests = tempfile::tempdir()?;
    let manifests_path = manifests.path().to_owned();
    let (mut workers, replicas) = tokio::task::spawn_blocking(move || {
        phone_worker::start(phones, &manifests_path, phone_worker::Pacing::with_deadline(DEADLINE))
    })
    .await??;
    let relays_before: Vec<Duration> = pids.iter().map(|p| cpu_time(*p).unwrap_or_default()).collect();
    let postgres_before = postgres.map(PostgresProcesses::cpu).unwrap_or_default();
    let released = Instant::now();
    workers.release()?;
    let clients =
        tokio::task::spawn_blocking(move || workers.collect(DEADLINE + Duration::from_secs(30))).await??;
    let completion = released.elapsed();
    drop(replicas);
    let (failed, first_error) = (clients.failed, clients.first_error);
    let relays_cpu = pids
        .iter()
        .zip(&relays_before)
        .map(|(p, before)| cpu_time(*p).unwrap_or_default().saturating_sub(*before))
        .sum();
    let postgres_cpu = postgres.map_or(Duration::ZERO, |pg| used(&postgres_before, &pg.cpu()));
    Ok(Outcome { backend, phones: n, failed, first_error, completion, relays_cpu, postgres_cpu })
}

/// Runs the burst on each set-up and prints the table.
pub async fn run(
    doorstep: &Path,
    phones_dir: &Path,
    postgres: Option<&str>,
    quick: bool,
    only: Option<usize>,
) -> anyhow::Result<()> {
    let n = only.unwrap_or(if quick { 20 } else { 130 });
    println!(
        "\n## Backends: the team-return burst on SQLite and PostgreSQL ({n} phones, {EDITS} edits each)"
    );
    println!("server CPU = the relay processes' and PostgreSQL's processes' CPU time during the burst\n");
    let mut outcomes = Vec::new();
    let site = Site::build(doorstep, 600, phones_dir).await?;
    outcomes.push(burst(Backend::Sqlite, site, Vec::new(), n, None).await?);
    match postgres {
        None => println!(
            "PostgreSQL set-ups skipped: pass --postgres postgres://… or run under scripts/with-postgres"
        ),
        Some(server) => {
            let (processes, settings) = PostgresProcesses::find(server).await?;
            println!("{settings}");
            for relays in [1, 2] {
                let db = ScratchDatabase::create(server).await?;
                let first = RelayProcess::start_on(doorstep, 600, db.url())?;
                let others = (1..relays)
                    .map(|_| RelayProcess::start_on(doorstep, 600, db.url()))
                    .collect::<Result<_, _>>()?;
                let site = Site::build_on(first, phones_dir).await?;
                outcomes.push(burst(Backend::Postgres { relays }, site, others, n, Some(&processes)).await?);
            }
        }
    }
    println!(
        "\n| set-up | phones | edits | completion | edits/s | relays' CPU | PostgreSQL's CPU | relay CPU per edit | PostgreSQL CPU per edit | server CPU per edit | PostgreSQL's share | phones failed |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for o in &outcomes {
        println!("{}", o.row());
    }
    for o in &outcomes {
        if let Some(e) = &o.first_error {
            println!("{}: {} phones failed; first: {e}", o.backend.describe(), o.failed);
        }
    }
    Ok(())
}
