//! The relay under test: `doorstep serve` started as its own process on 127.0.0.1 port 0 with a
//! fresh SQLite file, and the admin HTTP API the benchmark sets compounds up with (the same
//! routes a coordinator's dashboard uses).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::Context as _;
use doorstep_core::id::CompoundId;
use serde_json::{Value, json};

/// The `doorstep` binary: `--doorstep PATH`, else the one next to this benchmark's binary
/// (`cargo build` puts both in the same profile directory).
pub fn locate_doorstep(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(path) = explicit {
        return Ok(path.to_owned());
    }
    let exe = std::env::current_exe()?;
    let bin = exe.with_file_name("doorstep");
    if bin.exists() {
        Ok(bin)
    } else {
        anyhow::bail!(
            "{} is missing: build it with `cargo build [--release] -p doorstep`, or pass --doorstep PATH",
            bin.display()
        )
    }
}

/// A running relay.
#[derive(Debug)]
pub struct RelayProcess {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The district admin's token (the database is fresh, so the relay prints it).
    pub admin_token: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl RelayProcess {
    /// Starts `doorstep serve` on a fresh database with a high per-token rate (the simulated
    /// phones are the only load) and the given idle time before documents leave memory.
    pub fn start(doorstep: &Path, idle_seconds: u64) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let db = dir.path().join("relay.db");
        let relay = Self::spawn(doorstep, idle_seconds, db.as_os_str(), dir)?;
        anyhow::ensure!(!relay.admin_token.is_empty(), "the relay did not print an admin token");
        Ok(relay)
    }

    /// Starts `doorstep serve` on the database at `db` (a `postgres://` URL other relays may
    /// share). The admin token is empty unless this relay was the database's first.
    pub fn start_on(doorstep: &Path, idle_seconds: u64, db: &str) -> anyhow::Result<Self> {
        Self::spawn(doorstep, idle_seconds, std::ffi::OsStr::new(db), tempfile::tempdir()?)
    }

    fn spawn(
        doorstep: &Path,
        idle_seconds: u64,
        db: &std::ffi::OsStr,
        dir: tempfile::TempDir,
    ) -> anyhow::Result<Self> {
        let mut child = Command::new(doorstep)
            .arg("serve")
            .arg("--db")
            .arg(db)
            .args(["--listen", "127.0.0.1:0", "--rate", "10000"])
            .args(["--idle-seconds", &idle_seconds.to_string()])
            // `DOORSTEP_BENCH_RELAY_LOG` (a `RUST_LOG` filter) shows the relay's own account of a
            // run, e.g. `doorstep_server::sync=debug` for each batch's size and time.
            .env("RUST_LOG", std::env::var("DOORSTEP_BENCH_RELAY_LOG").unwrap_or_else(|_| "error".into()))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {}", doorstep.display()))?;
        let stdout = child.stdout.take().context("relay has no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let mut admin_token = None;
        let url = loop {
            let Some(line) = lines.next() else {
                let _ = child.kill();
                anyhow::bail!("the relay exited before listening (see its log above)");
            };
            let line = line?;
            if let Some(token) = line.strip_prefix("admin token: ") {
                admin_token = Some(token.trim().to_owned());
            }
            if let Some(rest) = line.strip_prefix("doorstep listening on ") {
                break rest.split_whitespace().next().unwrap_or_default().to_owned();
            }
        };
        // Keep draining stdout so the relay never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let admin_token = admin_token.unwrap_or_default();
        Ok(Self { child, url, admin_token, http: reqwest::Client::new(), _dir: dir })
    }

    /// The relay's process ID, for its CPU time and memory.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    async fn admin(&self, path: &str, body: reqwest::Body, content_type: &str) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(format!("{}{path}", self.url))
            .bearer_auth(&self.admin_token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await?;
        let status = response.status();
        let bytes = response.bytes().await?;
        if !status.is_success() {
            anyhow::bail!("POST {path}: {status}: {}", String::from_utf8_lossy(&bytes));
        }
        Ok(serde_json::from_slice(&bytes)?)
    }

    /// Creates a compound (`POST /v1/compounds`).
    pub async fn create_compound(&self, name: &str) -> anyhow::Result<CompoundId> {
        let body = serde_json::to_vec(&json!({ "name": name }))?;
        let record = self.admin("/v1/compounds", body.into(), "application/json").await?;
        Ok(record["id"].as_str().context("no compound id in the answer")?.parse()?)
    }

    /// Imports a roster CSV into a compound.
    pub async fn import_roster(&self, compound: CompoundId, csv: Vec<u8>) -> anyhow::Result<()> {
        self.admin(&format!("/v1/compounds/{compound}/roster"), csv.into(), "text/csv").await?;
        Ok(())
    }

    /// A single-use invite code for `role` ("volunteer", "coordinator").
    pub async fn invite(&self, compound: CompoundId, role: &str) -> anyhow::Result<String> {
        let body = serde_json::to_vec(&json!({ "role": role }))?;
        let invite =
            self.admin(&format!("/v1/compounds/{compound}/invites"), body.into(), "application/json").await?;
        Ok(invite["code"].as_str().context("no invite code in the answer")?.to_owned())
    }

    /// The relay's `/metrics` gauge of documents held in memory.
    pub async fn documents_cached(&self) -> anyhow::Result<usize> {
        let [n] = self.metrics(["doorstep_documents_cached"]).await?;
        Ok(n.context("no doorstep_documents_cached in /metrics")? as usize)
    }

    /// Unlabelled values from one reading of the relay's `/metrics`, `None` for each the relay
    /// does not report.
    pub async fn metrics<const N: usize>(&self, names: [&str; N]) -> anyhow::Result<[Option<f64>; N]> {
        let text = self.http.get(format!("{}/metrics", self.url)).send().await?.text().await?;
        Ok(names.map(|name| {
            text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        }))
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
