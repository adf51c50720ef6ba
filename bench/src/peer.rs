//! The comparison peer: automerge-repo's sync server (`peer/server.mjs`: a `Repo` with NodeFS
//! storage behind a `WebSocketServerAdapter`) and Node clients (`peer/clients.mjs`: one `Repo`
//! per simulated phone over `WebSocketClientAdapter`), run as separate processes on the same
//! documents and edits as Doorstep's burst. The clients are spread over several Node processes,
//! as many phones each as Doorstep's phone workers (`client_process.rs`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::client_process::{ClientProcesses, Line, LineProcess, shares};
use crate::proc_stats::Phase;
use crate::team_bench::Burst;

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

    fn node(&self, script: &str, args: &[String]) -> Command {
        let mut command = Command::new("node");
        command.arg(self.dir.join(script)).args(args);
        command
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
        let server = LineProcess::spawn(self.node("server.mjs", &server_args), usize::MAX, &tx)?;
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

        let commands = shares(n)
            .into_iter()
            .map(|(first, count)| {
                let args = [
                    "--url",
                    &url,
                    "--workload",
                    &workload.display().to_string(),
                    "--first",
                    &first.to_string(),
                    "--count",
                    &count.to_string(),
                    "--timeout-ms",
                    &TIMEOUT.as_millis().to_string(),
                ]
                .map(str::to_owned);
                self.node("clients.mjs", &args)
            })
            .collect();
        let mut clients = ClientProcesses::spawn(commands, &tx, rx)?;
        drop(tx);
        clients.wait_ready(Duration::from_secs(600))?;
        let setup = setup_start.elapsed();

        let phase = Phase::start(server.pid());
        let released = Instant::now();
        clients.release()?;
        let results = clients.collect(TIMEOUT + Duration::from_secs(30))?;
        let completion = released.elapsed();
        let cost = phase.finish();
        drop(clients);
        drop(server);
        Ok(Burst::from_clients(n, completion, results, Vec::new(), cost, setup))
    }
}
