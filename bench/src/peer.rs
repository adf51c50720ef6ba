//! The comparison peer: automerge-repo's sync server (`peer/server.mjs`: a `Repo` with NodeFS
//! storage behind a `WebSocketServerAdapter`) and Node clients (`peer/clients.mjs`: one `Repo`
//! per simulated phone over `WebSocketClientAdapter`), run as separate processes on the same
//! documents and edits as Doorstep's burst. The clients are spread over several Node processes
//! (see [`CLIENTS_PER_PROCESS`]).

use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::proc_stats::Phase;
use crate::team_bench::Burst;

/// Clients per Node process: each process is one thread, so a few dozen phones per process keep
/// one busy phone from stalling the others' event loop, as they would on separate devices.
const CLIENTS_PER_PROCESS: usize = 50;

/// How long the peer's phones have to get in sync (the same for Doorstep's).
const TIMEOUT: Duration = crate::team_bench::DEADLINE;

/// The largest team the peer is run with by default. Setting up a Node client costs about a
/// second of CPU (loading the three documents into a `Repo`, 0.7 s, and making its 20 edits, 12 ms
/// each), so 1,000 would take eight minutes of this machine's two cores before the burst starts,
/// and a server that does not bring 130 phones in sync within [`TIMEOUT`] tells nothing more at
/// 1,000. `--peer-max N` raises it.
pub const DEFAULT_MAX_PHONES: usize = 130;

/// The `bench/peer` folder with its installed packages.
#[derive(Debug, Clone)]
pub struct Peer {
    dir: PathBuf,
    versions: String,
    /// The largest team the peer is run with.
    pub max_phones: usize,
}

/// A line from one of the peer's processes.
enum Line {
    Out(usize, String),
    Closed(usize),
}

/// A Node process whose output lines arrive on a channel, killed when dropped.
struct NodeProcess {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn package_version(dir: &Path, package: &str) -> String {
    let path = dir.join("node_modules").join(package).join("package.json");
    std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v["version"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

impl Peer {
    /// The peer in `dir`, if its packages are installed and `node` runs.
    pub fn find(dir: &Path, max_phones: usize) -> Option<Self> {
        if !dir.join("node_modules/@automerge/automerge-repo").is_dir() {
            return None;
        }
        let node = Command::new("node").arg("--version").output().ok()?;
        if !node.status.success() {
            return None;
        }
        let versions = format!(
            "node {}, @automerge/automerge-repo {}, automerge {}, network-websocket {}, storage-nodefs {}",
            String::from_utf8_lossy(&node.stdout).trim(),
            package_version(dir, "@automerge/automerge-repo"),
            package_version(dir, "@automerge/automerge"),
            package_version(dir, "@automerge/automerge-repo-network-websocket"),
            package_version(dir, "@automerge/automerge-repo-storage-nodefs"),
        );
        Some(Self { dir: dir.to_owned(), versions, max_phones })
    }

    /// The versions in use.
    pub fn describe(&self) -> &str {
        &self.versions
    }

    fn spawn(
        &self,
        index: usize,
        script: &str,
        args: &[String],
        lines: &mpsc::Sender<Line>,
    ) -> anyhow::Result<NodeProcess> {
        let mut child = Command::new("node")
            .arg(self.dir.join(script))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting node {script}"))?;
        let stdout = child.stdout.take().context("node has no stdout")?;
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
        Ok(NodeProcess { child, stdin })
    }

    /// Runs the burst of `n` clients on the documents and edits in `workload` (written by
    /// `Site::export`).
    pub fn burst(&self, workload: &Path, n: usize) -> anyhow::Result<Burst> {
        let setup_start = Instant::now();
        let work = workload.parent().context("workload file has no folder")?;
        let (tx, rx) = mpsc::channel();
        let server_args = vec![
            "--workload".to_owned(),
            workload.display().to_string(),
            "--store".to_owned(),
            work.join("server-store").display().to_string(),
        ];
        let server = self.spawn(usize::MAX, "server.mjs", &server_args, &tx)?;
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut port = None;
        while port.is_none() {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(Line::Out(_, line)) => {
                    if let Some(p) = line.strip_prefix("ready ") {
                        port = Some(p.trim().to_owned());
                    }
                }
                Ok(Line::Closed(_)) => anyhow::bail!("the automerge-repo server exited before it was ready"),
                Err(_) => anyhow::bail!("the automerge-repo server was not ready within 60 s"),
            }
        }
        let url = format!("ws://127.0.0.1:{}", port.unwrap_or_default());

        let processes = n.div_ceil(CLIENTS_PER_PROCESS).max(1);
        let mut clients = Vec::with_capacity(processes);
        for p in 0..processes {
            let first = p * n / processes;
            let count = (p + 1) * n / processes - first;
            let args = vec![
                "--url".to_owned(),
                url.clone(),
                "--workload".to_owned(),
                workload.display().to_string(),
                "--first".to_owned(),
                first.to_string(),
                "--count".to_owned(),
                count.to_string(),
                "--timeout-ms".to_owned(),
                TIMEOUT.as_millis().to_string(),
            ];
            clients.push(self.spawn(p, "clients.mjs", &args, &tx)?);
        }
        drop(tx);
        let mut ready = 0;
        let setup_limit = Duration::from_secs(600);
        while ready < processes {
            match rx.recv_timeout(setup_limit) {
                Ok(Line::Out(_, line)) if line == "ready" => ready += 1,
                Ok(Line::Out(..)) => {}
                Ok(Line::Closed(p)) => anyhow::bail!("automerge-repo client process {p} exited during setup"),
                Err(_) => {
                    anyhow::bail!("automerge-repo clients were not ready within {} s", TIMEOUT.as_secs())
                }
            }
        }
        let setup = setup_start.elapsed();

        let phase = Phase::start(server.child.id());
        let released = Instant::now();
        for client in &mut clients {
            if let Some(stdin) = client.stdin.as_mut() {
                stdin.write_all(b"go\n")?;
                stdin.flush()?;
            }
        }
        let mut latencies = Vec::with_capacity(n);
        let (mut failed, mut first_error) = (0, None);
        let mut finished = vec![false; processes];
        while finished.iter().any(|f| !f) {
            match rx.recv_timeout(TIMEOUT + Duration::from_secs(30)) {
                Ok(Line::Out(p, line)) if line == "finished" => finished[p] = true,
                Ok(Line::Out(_, line)) => {
                    let Some(json) = line.strip_prefix("result ") else { continue };
                    let result: serde_json::Value = serde_json::from_str(json)?;
                    if result["ok"].as_bool() == Some(true) {
                        latencies
                            .push(Duration::from_secs_f64(result["ms"].as_f64().unwrap_or(0.0) / 1000.0));
                    } else {
                        failed += 1;
                        first_error.get_or_insert_with(|| result["error"].to_string());
                    }
                }
                Ok(Line::Closed(p)) if p < processes && finished[p] => {}
                Ok(Line::Closed(p)) if p != usize::MAX => {
                    anyhow::bail!("automerge-repo client process {p} exited before it finished")
                }
                Ok(Line::Closed(_)) => anyhow::bail!("the automerge-repo server exited during the burst"),
                Err(_) => {
                    anyhow::bail!("automerge-repo clients did not finish within {} s", TIMEOUT.as_secs())
                }
            }
        }
        let completion = released.elapsed();
        let cost = phase.finish();
        drop(clients);
        drop(server);
        Ok(Burst {
            phones: n,
            completion,
            latencies,
            failed,
            first_error,
            retries: 0,
            shed: 0,
            health: Vec::new(),
            cost,
            setup,
        })
    }
}
