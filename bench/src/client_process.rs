//! Simulated phones in processes of their own, for both sides of the team-return comparison: a
//! Doorstep phone worker (`doorstep-bench client-worker`, `phone_worker.rs`) or automerge-repo's
//! Node clients (`peer/clients.mjs`). Each process drives a share of the phones, so the phones'
//! CPU is measured apart from the server's and from the benchmark's own, the same way on both
//! sides.
//!
//! Both kinds speak one line protocol on stdin and stdout:
//! - the process sets its phones up (untimed) and prints `ready`;
//! - it waits for `go` on stdin, then syncs all its phones at once;
//! - per phone it prints `result {"phone": name, "ok": bool, "ms": f64, "error": str, "retries": n, "shed": n,
//!   "reasons": {reason: n}, "statuses": {status: n}}` (the last four optional), latency counted
//!   from `go`;
//! - at the end `finished {"cpu_ms": f64}`: the CPU time (user + system) the process used from
//!   `go` to then.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write as _};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Context as _;

/// Phones per client process on both sides: each process's work is mostly one thread (Node's
/// event loop; a Doorstep worker's two async workers share its phones' network IO), so a few
/// dozen phones per process keep one busy phone from stalling many others, as they would on
/// separate devices.
pub const PHONES_PER_PROCESS: usize = 50;

/// A line from one of the processes, tagged with the process's index.
#[derive(Debug)]
pub enum Line {
    /// A line it printed.
    Out(usize, String),
    /// Its stdout closed (it exited).
    Closed(usize),
}

/// A process whose stdout lines arrive on a channel; killed when dropped.
#[derive(Debug)]
pub struct LineProcess {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl LineProcess {
    /// Starts `command` with its stdout read line by line into `lines` as process `index`.
    pub fn spawn(mut command: Command, index: usize, lines: &mpsc::Sender<Line>) -> anyhow::Result<Self> {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {:?}", command.get_program()))?;
        let stdout = child.stdout.take().context("the process has no stdout")?;
        let stdin = child.stdin.take();
        let tx = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(Line::Out(index, line)).is_err() {
                    return;
                }
            }
            let _ = tx.send(Line::Closed(index));
        });
        Ok(Self { child, stdin })
    }

    /// Its process ID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Writes one line to its stdin.
    pub fn say(&mut self, line: &str) -> anyhow::Result<()> {
        let stdin = self.stdin.as_mut().context("the process's stdin is closed")?;
        stdin.write_all(line.as_bytes())?;
        stdin.write_all(b"\n")?;
        stdin.flush()?;
        Ok(())
    }
}

impl Drop for LineProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The client processes of one burst and the channel their lines arrive on.
#[derive(Debug)]
pub struct ClientProcesses {
    processes: Vec<LineProcess>,
    lines: mpsc::Receiver<Line>,
}

/// What the client processes reported for one burst.
#[derive(Debug, Clone, Default)]
pub struct ClientResults {
    /// Each in-sync phone's time from `go` to in sync.
    pub latencies: Vec<Duration>,
    /// Phones not in sync by the deadline.
    pub failed: usize,
    /// Why the first of them failed.
    pub first_error: Option<String>,
    /// The names of the phones not in sync, where the process said them (Doorstep's phones).
    pub failed_phones: BTreeSet<String>,
    /// Syncs or connections retried after a failure.
    pub retries: u32,
    /// Of those, syncs the relay refused with 503 and `Retry-After`.
    pub shed: u32,
    /// Retries by reason, numbers masked (Doorstep's phones only).
    pub retry_reasons: BTreeMap<String, u32>,
    /// Retries by what the relay answered: `503`, `408`, `timeout`, … (Doorstep's phones only).
    pub retry_statuses: BTreeMap<String, u32>,
    /// CPU time of all client processes together from `go` to their end.
    pub cpu: Duration,
    /// Sync requests the phones sent, shed ones included (Doorstep's phones only).
    pub requests: u64,
    /// How many processes the phones were spread over.
    pub processes: usize,
}

impl ClientProcesses {
    /// Starts one process per command; their lines arrive on `lines`, whose sender `tx` the
    /// caller may have used for other processes (with indices at or above `commands.len()`).
    pub fn spawn(
        commands: Vec<Command>,
        tx: &mpsc::Sender<Line>,
        lines: mpsc::Receiver<Line>,
    ) -> anyhow::Result<Self> {
        let processes = commands
            .into_iter()
            .enumerate()
            .map(|(i, command)| LineProcess::spawn(command, i, tx))
            .collect::<anyhow::Result<_>>()?;
        Ok(Self { processes, lines })
    }

    /// Waits until every process has set its phones up and printed `ready`.
    pub fn wait_ready(&self, limit: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        let mut ready = 0;
        while ready < self.processes.len() {
            match self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(Line::Out(_, line)) if line == "ready" => ready += 1,
                Ok(Line::Out(..)) => {}
                Ok(Line::Closed(p)) if p < self.processes.len() => {
                    anyhow::bail!("client process {p} exited during setup (see its output above)")
                }
                Ok(Line::Closed(_)) => anyhow::bail!("the server exited during the clients' setup"),
                Err(_) => anyhow::bail!("the client processes were not ready within {} s", limit.as_secs()),
            }
        }
        Ok(())
    }

    /// Releases every process's phones at once (`go`), in process order.
    pub fn release(&mut self) -> anyhow::Result<()> {
        for process in &mut self.processes {
            process.say("go")?;
        }
        Ok(())
    }

    /// Collects every phone's result and every process's CPU time, waiting at most `quiet` for
    /// any one line.
    pub fn collect(&self, quiet: Duration) -> anyhow::Result<ClientResults> {
        let n = self.processes.len();
        let mut out = ClientResults { processes: n, ..ClientResults::default() };
        let mut finished = vec![false; n];
        while finished.iter().any(|f| !f) {
            match self.lines.recv_timeout(quiet) {
                Ok(Line::Out(p, line)) => {
                    if let Some(json) = line.strip_prefix("finished") {
                        let report: serde_json::Value =
                            serde_json::from_str(json.trim()).unwrap_or(serde_json::Value::Null);
                        let cpu_ms = report["cpu_ms"].as_f64().unwrap_or(0.0);
                        out.cpu += Duration::from_secs_f64(cpu_ms.max(0.0) / 1000.0);
                        out.requests += report["requests"].as_u64().unwrap_or(0);
                        if let Some(done) = finished.get_mut(p) {
                            *done = true;
                        }
                    } else if let Some(json) = line.strip_prefix("result ") {
                        out.add(&serde_json::from_str(json)?);
                    }
                }
                Ok(Line::Closed(p)) if finished.get(p) == Some(&true) => {}
                Ok(Line::Closed(p)) if p < n => {
                    anyhow::bail!("client process {p} exited before it finished (see its output above)")
                }
                Ok(Line::Closed(_)) => anyhow::bail!("the server exited during the burst"),
                Err(_) => anyhow::bail!("the client processes said nothing for {} s", quiet.as_secs()),
            }
        }
        Ok(out)
    }
}

impl ClientResults {
    fn add(&mut self, result: &serde_json::Value) {
        let count = |key: &str| u32::try_from(result[key].as_u64().unwrap_or(0)).unwrap_or(u32::MAX);
        self.retries += count("retries");
        self.shed += count("shed");
        for (key, tally) in [("reasons", &mut self.retry_reasons), ("statuses", &mut self.retry_statuses)] {
            if let Some(counts) = result[key].as_object() {
                for (class, n) in counts {
                    *tally.entry(class.clone()).or_insert(0) +=
                        u32::try_from(n.as_u64().unwrap_or(0)).unwrap_or(u32::MAX);
                }
            }
        }
        if result["ok"].as_bool() == Some(true) {
            self.latencies
                .push(Duration::from_secs_f64(result["ms"].as_f64().unwrap_or(0.0).max(0.0) / 1000.0));
        } else {
            self.failed += 1;
            if let Some(name) = result["phone"].as_str() {
                self.failed_phones.insert(name.to_owned());
            }
            self.first_error.get_or_insert_with(|| match &result["error"] {
                serde_json::Value::String(e) => e.clone(),
                other => other.to_string(),
            });
        }
    }
}

/// Splits `n` phones over processes of at most [`PHONES_PER_PROCESS`]: `(first, count)` each.
pub fn shares(n: usize) -> Vec<(usize, usize)> {
    let processes = n.div_ceil(PHONES_PER_PROCESS).max(1);
    (0..processes)
        .map(|p| {
            let first = p * n / processes;
            (first, (p + 1) * n / processes - first)
        })
        .collect()
}
