//! What encryption at rest costs a phone (issue 12): the same volunteer's work with the replica's
//! file plain and sealed with a `ReplicaKey` (XChaCha20-Poly1305 per stored value,
//! `replica/src/cipher.rs`), against a real relay holding the 香樟苑 sample (1,040 households, a
//! round with a task for each).
//!
//! Each pass, for each way of keeping the file: a new volunteer joins and syncs for the first
//! time (the roster, requests and round arrive and are stored), the replica is closed and opened
//! again (SQLite → documents: the roster load a phone does at every start), 1,000 operations are
//! carried out offline, each durable when it returns (three in four record an attempt, one in four
//! edits a household's notes), and one sync uploads them. Passes alternate plain and encrypted
//! so that the other work on a shared machine falls on both alike; the operation latencies are
//! pooled over the passes, the other figures are the median pass.
//!
//! The replicas live on the disk (not tmpfs): the durable write's fsync is part of the cost a
//! phone pays, and encryption should be seen beside it.

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use doorstep_replica::http::{self, RelayClient};
use doorstep_replica::{Replica, ReplicaKey};

use crate::figures::{kib, ms, percentile, timed};
use crate::phone::now;
use crate::workload::{Edit, Site};

/// Opens of the same file per pass; the median is kept.
const OPENS: usize = 5;

/// One pass's figures for one way of keeping the file.
#[derive(Debug, Default)]
struct Pass {
    first_sync: Duration,
    open: Duration,
    attempts: Vec<Duration>,
    notes: Vec<Duration>,
    operations: Duration,
    upload: Duration,
    file_bytes: usize,
}

/// Every pass's figures for one way of keeping the file.
#[derive(Debug, Default)]
struct Figures {
    passes: Vec<Pass>,
}

impl Figures {
    fn median(&self, figure: impl Fn(&Pass) -> Duration) -> Duration {
        let mut values: Vec<Duration> = self.passes.iter().map(figure).collect();
        percentile(&mut values, 50.0)
    }

    fn pooled(&self, samples: impl Fn(&Pass) -> &[Duration], p: f64) -> Duration {
        let mut all: Vec<Duration> = self.passes.iter().flat_map(|pass| samples(pass).to_vec()).collect();
        if all.is_empty() { Duration::ZERO } else { percentile(&mut all, p) }
    }

    fn file_bytes(&self) -> usize {
        let mut sizes: Vec<usize> = self.passes.iter().map(|p| p.file_bytes).collect();
        sizes.sort_unstable();
        sizes.get(sizes.len() / 2).copied().unwrap_or(0)
    }
}

/// Runs the plain/encrypted comparison on a fresh relay with the sample compound.
pub async fn run(doorstep: &Path, quick: bool) -> anyhow::Result<()> {
    let (passes, ops) = if quick { (1, 50) } else { (5, 1000) };
    // On the disk, not /dev/shm: see the module comment.
    let disk = tempfile::tempdir()?;
    let site = Site::build(doorstep, 600, disk.path()).await?;
    println!(
        "\n## Encryption at rest: a volunteer's phone plain and encrypted ({passes} {}, {ops} operations each)\n",
        if passes == 1 { "pass" } else { "passes" }
    );
    let key = ReplicaKey::generate();
    let mut plain = Figures::default();
    let mut sealed = Figures::default();
    for pass in 0..passes {
        plain.passes.push(volunteer(&site, disk.path(), None, ops, 2 * pass).await?);
        sealed.passes.push(volunteer(&site, disk.path(), Some(&key), ops, 2 * pass + 1).await?);
    }
    print_table(&plain, &sealed, ops);
    Ok(())
}

/// Volunteer number `index`'s phone, from joining to uploading `ops` offline operations.
async fn volunteer(
    site: &Site,
    parent: &Path,
    key: Option<&ReplicaKey>,
    ops: usize,
    index: usize,
) -> anyhow::Result<Pass> {
    let dir = tempfile::tempdir_in(parent)?;
    let path = dir.path().join("phone.sqlite");
    let code = site.relay.invite(site.compound, "volunteer").await?;
    let replica = Mutex::new(Replica::open_with(&path, key)?);
    let relay = RelayClient::new(&site.relay.url, None)?;
    let joined = http::join(&replica, &relay, &code, &format!("at-rest-{index}")).await?;
    let relay = relay.with_token(joined.token);
    let start = Instant::now();
    let first = http::sync(&replica, &relay, now).await?;
    let first_sync = start.elapsed();
    anyhow::ensure!(!first.fetched.is_empty(), "the first sync fetched no documents: {first:?}");
    drop(replica);

    let mut opens: Vec<Duration> = Vec::with_capacity(OPENS);
    for _ in 0..OPENS {
        let (opened, took) = timed(|| Replica::open_with(&path, key));
        drop(opened?);
        opens.push(took);
    }
    let open = percentile(&mut opens, 50.0);

    let mut replica = Replica::open_with(&path, key)?;
    let mut attempts = Vec::with_capacity(ops);
    let mut notes = Vec::with_capacity(ops / 4 + 1);
    let start = Instant::now();
    for edit in site.edits(20_000 + index, ops) {
        let op = site.operation(&edit);
        let (applied, took) = timed(|| replica.apply(now(), site.compound, &op));
        applied?;
        match edit {
            Edit::Attempt { .. } => attempts.push(took),
            Edit::Notes { .. } => notes.push(took),
        }
    }
    let operations = start.elapsed();

    let replica = Mutex::new(replica);
    let start = Instant::now();
    let report = http::sync(&replica, &relay, now).await?;
    let upload = start.elapsed();
    anyhow::ensure!(report.rejected.is_empty(), "the relay refused work: {:?}", report.rejected);
    anyhow::ensure!(
        replica.lock().map_or(1, |r| r.unsynced_changes()) == 0,
        "changes are still unsynced after the upload"
    );
    drop(replica);
    let file_bytes = ["phone.sqlite", "phone.sqlite-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(dir.path().join(f)).ok())
        .map(|m| m.len() as usize)
        .sum();
    Ok(Pass { first_sync, open, attempts, notes, operations, upload, file_bytes })
}

fn print_table(plain: &Figures, sealed: &Figures, ops: usize) {
    let row = |figure: &str, a: Duration, b: Duration| {
        let change = if a.is_zero() {
            "–".to_owned()
        } else {
            format!("{:+.0} %", (b.as_secs_f64() / a.as_secs_f64() - 1.0) * 100.0)
        };
        println!("| {figure} | {} | {} | {change} |", ms(a), ms(b));
    };
    println!("| figure | plain | encrypted | encrypted vs plain |\n|---|---|---|---|");
    row(
        "first sync: roster + requests + round fetched and stored",
        plain.median(|p| p.first_sync),
        sealed.median(|p| p.first_sync),
    );
    row(
        &format!("replica open: SQLite → documents, the roster load (median of {OPENS})"),
        plain.median(|p| p.open),
        sealed.median(|p| p.open),
    );
    for (label, p) in [("p50", 50.0), ("p99", 99.0)] {
        row(
            &format!("record attempt incl. durable write, {label}"),
            plain.pooled(|pass| &pass.attempts, p),
            sealed.pooled(|pass| &pass.attempts, p),
        );
    }
    for (label, p) in [("p50", 50.0), ("p99", 99.0)] {
        row(
            &format!("edit notes incl. durable write, {label}"),
            plain.pooled(|pass| &pass.notes, p),
            sealed.pooled(|pass| &pass.notes, p),
        );
    }
    row(&format!("{ops} operations, total"), plain.median(|p| p.operations), sealed.median(|p| p.operations));
    row(
        &format!("sync uploading the {ops} operations"),
        plain.median(|p| p.upload),
        sealed.median(|p| p.upload),
    );
    println!(
        "| SQLite file + WAL after the upload | {} | {} | {:+.0} % |",
        kib(plain.file_bytes()),
        kib(sealed.file_bytes()),
        (sealed.file_bytes() as f64 / plain.file_bytes().max(1) as f64 - 1.0) * 100.0
    );
}
