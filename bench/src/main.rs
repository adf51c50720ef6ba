//! `doorstep-bench`: the figures of BENCHMARKS.md. Build it in release (`scripts/bench` does);
//! a debug build measures the compiler, not Doorstep. It prints tables and asserts nothing about
//! time.
//!
//! ```text
//! doorstep-bench core       phone side: operation latency with the durable write, roster load
//! doorstep-bench at-rest    a phone plain and encrypted at rest, against a relay: first sync,
//!                           open, 1,000 operations, upload
//! doorstep-bench sync       one phone's sync on the wire: warm, reconnect, cold start
//! doorstep-bench landing    one phone's sync on a landing's link (64 kbit/s, 300 ms round
//!                           trips): first sync, reconnect, knocks, a long day in windows of signal
//! doorstep-bench landing-team  only the landing bench's team of twenty back at once
//! doorstep-bench landing-late  only the landing bench's catching up after a teammate's day, steady and in windows
//! doorstep-bench relay      a compound's team returning at once, against automerge-repo too,
//!                           and where the relay's time goes on the round
//! doorstep-bench anatomy    only where the relay's time goes on the round (no relay process)
//! doorstep-bench district   a district returning at once: 8 compounds × 130 volunteers on one
//!                           relay, a round per building (not in `all`)
//! doorstep-bench compounds  relay memory with many compounds touched once
//! doorstep-bench backends   the team's return on SQLite, on PostgreSQL and on two relays sharing
//!                           PostgreSQL: server CPU per edit and PostgreSQL's share (not in `all`)
//! doorstep-bench all        everything above
//! doorstep-bench export DIR [--phones N]
//!                           writes the burst's documents and edits for the automerge-repo peer
//!                           (to run `peer/server.mjs` and `peer/clients.mjs` by hand)
//! doorstep-bench client-worker MANIFEST
//!                           (internal) syncs the phones `relay` hands over, in a process of
//!                           their own; see `phone_worker.rs`
//!   --quick                 small sizes: a smoke run for CI
//!   --doorstep PATH         the relay binary (default: `doorstep` next to this binary)
//!   --peer DIR              the automerge-repo peer (default: bench/peer of this source tree)
//!   --no-peer               skip the automerge-repo comparison
//!   --phones N              `relay`: one burst of N phones instead of 130 and 1,000
//!   --deadline SECS         `relay`, `district`: how long each Doorstep phone has from its
//!                           release to be in sync (default 90; automerge-repo's stays 90)
//!   --serial-phones         `relay`, `district`: a worker's phones take turns at CPU work
//!   --open-on-sync          `relay`, `district`: a phone's replica is opened per sync attempt
//!   --niced-phones          `relay`, `district`: the phones' processes run at nice 19
//!   --phones-own-cpu        `relay`, `district`: each phone's CPU work as if on a CPU of its
//!                           own (request built before the release, reply applied after the
//!                           burst, its CPU time added); see `phone_worker/own_cpu.rs`
//!   --compounds N           `district`: compounds on the relay (default 8)
//!   --volunteers N          `district`: volunteers per compound (default 130)
//!   --peer-max N            run automerge-repo with up to N phones (default 130)
//!   --postgres URL          `backends`: the PostgreSQL server (default: $DOORSTEP_TEST_POSTGRES)
//! ```
#![allow(clippy::print_stdout, clippy::unwrap_used)]

mod anatomy;
mod at_rest_bench;
mod audit;
mod backends_bench;
mod client_process;
mod compounds_bench;
mod core_bench;
mod cpu_turns;
mod district_bench;
mod figures;
mod landing_bench;
mod machine;
mod peer;
mod phone;
mod phone_worker;
mod proc_stats;
mod relay_process;
mod slow_link;
mod sync_bench;
mod team_bench;
mod workload;

use std::path::{Path, PathBuf};

const USAGE: &str = "usage: doorstep-bench <core|at-rest|sync|landing|landing-team|landing-late|relay|anatomy|district|compounds|backends|all> [--quick] [--doorstep PATH] [--peer DIR] [--no-peer] [--phones N] [--peer-max N] [--deadline SECS] [--serial-phones] [--open-on-sync] [--niced-phones] [--phones-own-cpu] [--compounds N] [--volunteers N] [--postgres URL]\n       doorstep-bench export DIR [--phones N]";

#[derive(Debug)]
struct Options {
    command: String,
    quick: bool,
    doorstep: Option<PathBuf>,
    peer: PathBuf,
    no_peer: bool,
    export_dir: Option<PathBuf>,
    phones: Option<usize>,
    peer_max: usize,
    pacing: phone_worker::Pacing,
    compounds: Option<usize>,
    volunteers: Option<usize>,
    postgres: Option<String>,
}

fn parse(args: Vec<String>) -> Result<Options, String> {
    let mut args = args.into_iter();
    let command = args.next().ok_or("no command given")?;
    let mut options = Options {
        command,
        quick: false,
        doorstep: None,
        peer: Path::new(env!("CARGO_MANIFEST_DIR")).join("peer"),
        no_peer: false,
        export_dir: None,
        phones: None,
        peer_max: peer::DEFAULT_MAX_PHONES,
        pacing: phone_worker::Pacing::with_deadline(team_bench::DEADLINE),
        compounds: None,
        volunteers: None,
        postgres: std::env::var("DOORSTEP_TEST_POSTGRES").ok(),
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => options.quick = true,
            "--no-peer" => options.no_peer = true,
            "--doorstep" => options.doorstep = Some(args.next().ok_or("--doorstep needs a path")?.into()),
            "--peer" => options.peer = args.next().ok_or("--peer needs a folder")?.into(),
            "--phones" => {
                options.phones =
                    Some(args.next().and_then(|n| n.parse().ok()).ok_or("--phones needs a number")?);
            }
            "--deadline" => {
                let secs: u64 = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|&s| s > 0)
                    .ok_or("--deadline needs a number of seconds above 0")?;
                options.pacing.deadline = std::time::Duration::from_secs(secs);
            }
            "--serial-phones" => options.pacing.serial_cpu = true,
            "--open-on-sync" => options.pacing.open_on_sync = true,
            "--niced-phones" => options.pacing.niced = true,
            "--phones-own-cpu" => options.pacing.own_cpu = true,
            "--compounds" => {
                options.compounds = Some(
                    args.next()
                        .and_then(|n| n.parse().ok())
                        .filter(|&n| n > 0)
                        .ok_or("--compounds needs a number above 0")?,
                );
            }
            "--volunteers" => {
                options.volunteers = Some(
                    args.next()
                        .and_then(|n| n.parse().ok())
                        .filter(|&n| n > 0)
                        .ok_or("--volunteers needs a number above 0")?,
                );
            }
            "--postgres" => options.postgres = Some(args.next().ok_or("--postgres needs a URL")?),
            "--peer-max" => {
                options.peer_max =
                    args.next().and_then(|n| n.parse().ok()).ok_or("--peer-max needs a number")?;
            }
            dir if options.command == "export" && options.export_dir.is_none() => {
                options.export_dir = Some(dir.into());
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if options.command == "export" && options.export_dir.is_none() {
        return Err("export needs a folder".into());
    }
    if ![
        "core",
        "at-rest",
        "sync",
        "landing",
        "landing-team",
        "landing-late",
        "relay",
        "anatomy",
        "district",
        "compounds",
        "backends",
        "all",
        "export",
    ]
    .contains(&options.command.as_str())
    {
        return Err(format!("unknown command {:?}", options.command));
    }
    Ok(options)
}

/// A folder for the simulated phones' replicas: tmpfs where there is one, since a thousand phones
/// sharing this machine's one disk would measure its fsync queue, not the relay (a real phone has
/// its own flash).
fn phones_dir() -> anyhow::Result<tempfile::TempDir> {
    let shm = Path::new("/dev/shm");
    let builder = tempfile::Builder::new().prefix("doorstep-bench-phones-").to_owned();
    Ok(if shm.is_dir() {
        builder.tempdir_in(shm).or_else(|_| builder.tempdir())?
    } else {
        builder.tempdir()?
    })
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // The team-return burst runs its phones in worker processes of this binary; a worker's
    // stdout is its protocol with the benchmark, so nothing else may print first.
    if let [command, manifest] = args.as_slice()
        && command == phone_worker::COMMAND
    {
        return phone_worker::run(Path::new(manifest));
    }
    let options = match parse(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    let quick = options.quick;
    let command = options.command.as_str();
    println!("doorstep-bench {command}{} — {}", if quick { " --quick" } else { "" }, machine::describe());
    if matches!(command, "core" | "all") {
        core_bench::run(quick);
    }
    if command == "anatomy" {
        anatomy::run(quick);
        return Ok(());
    }
    if command == "core" {
        return Ok(());
    }
    let doorstep = relay_process::locate_doorstep(options.doorstep.as_deref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        if let Some(dir) = &options.export_dir {
            std::fs::create_dir_all(dir)?;
            let phones = phones_dir()?;
            let site = workload::Site::build(&doorstep, 600, phones.path()).await?;
            let path = site.export(dir, options.phones.unwrap_or(20), team_bench::EDITS).await?;
            println!("wrote {}", path.display());
        }
        if matches!(command, "at-rest" | "all") {
            at_rest_bench::run(&doorstep, quick).await?;
        }
        if matches!(command, "sync" | "all") {
            let disk = tempfile::tempdir()?;
            let site = workload::Site::build(&doorstep, 600, disk.path()).await?;
            sync_bench::run(&site, quick).await?;
        }
        if matches!(command, "landing" | "all") {
            let disk = tempfile::tempdir()?;
            landing_bench::run(&doorstep, disk.path(), quick).await?;
        }
        if command == "landing-team" {
            let disk = tempfile::tempdir()?;
            landing_bench::run_team(&doorstep, disk.path(), quick).await?;
        }
        if command == "landing-late" {
            let disk = tempfile::tempdir()?;
            landing_bench::run_late(&doorstep, disk.path(), quick).await?;
        }
        if matches!(command, "relay" | "all") {
            let peer = if options.no_peer { None } else { peer::Peer::find(&options.peer, options.peer_max) };
            let skipped = if options.no_peer {
                "--no-peer"
            } else {
                "node, or bench/peer/node_modules, is missing: run `npm ci` in bench/peer, or scripts/bench"
            };
            let phones = phones_dir()?;
            team_bench::run(
                &doorstep,
                phones.path(),
                peer.as_ref(),
                Some(skipped),
                quick,
                options.phones,
                options.pacing,
            )
            .await?;
        }
        if command == "district" {
            let phones = phones_dir()?;
            let shape = district_bench::Shape::new(quick, options.compounds, options.volunteers);
            district_bench::run(&doorstep, phones.path(), shape, options.pacing).await?;
        }
        if command == "backends" {
            let phones = phones_dir()?;
            backends_bench::run(&doorstep, phones.path(), options.postgres.as_deref(), quick, options.phones)
                .await?;
        }
        if matches!(command, "compounds" | "all") {
            let phones = phones_dir()?;
            compounds_bench::run(&doorstep, phones.path(), quick).await?;
        }
        if matches!(command, "relay" | "all") {
            tokio::task::spawn_blocking(move || anatomy::run(quick)).await?;
        }
        anyhow::Ok(())
    })
}
