//! Many compounds: a city runs thousands of compounds on one relay, but each is busy for a short
//! while and then idle. The relay must hold only the documents in use: an idle document leaves
//! memory after `--idle-seconds` and is loaded from SQLite again on demand. This touches every
//! compound's documents once (created, roster imported, a volunteer joins and syncs) and
//! watches the relay's resident memory and its `doorstep_documents_cached` gauge, then waits for
//! the idle time and looks again.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::figures::{bytes, secs};
use crate::phone::Phone;
use crate::proc_stats::{Phase, resident};
use crate::relay_process::RelayProcess;
use crate::workload::sample_slice;

/// Compounds set up at once.
const CONCURRENCY: usize = 4;

/// Touches `compounds` compounds of `households` households each and reports the relay's memory.
pub async fn run(doorstep: &Path, phones_dir: &Path, quick: bool) -> anyhow::Result<()> {
    let (compounds, households, idle) = if quick { (20, 100, 2) } else { (500, 200, 10) };
    println!("\n## Many compounds: relay memory with {compounds} compounds' documents touched once");
    println!(
        "each compound: the sample's first {households} households; touched = created, roster imported, a volunteer joins and syncs; relay --idle-seconds {idle}\n"
    );
    let relay = Arc::new(RelayProcess::start(doorstep, idle)?);
    let pid = relay.pid();
    let fresh = resident(pid).unwrap_or(0);
    let csv = Arc::new(sample_slice(households));

    let most_cached = Arc::new(AtomicUsize::new(0));
    let watching = {
        let (relay, most) = (Arc::clone(&relay), Arc::clone(&most_cached));
        tokio::spawn(async move {
            loop {
                if let Ok(n) = relay.documents_cached().await {
                    most.fetch_max(n, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };
    let phase = Phase::start(pid);
    let started = Instant::now();
    let permits = Arc::new(Semaphore::new(CONCURRENCY));
    let mut touching = JoinSet::new();
    for i in 0..compounds {
        let (relay, csv, permits) = (Arc::clone(&relay), Arc::clone(&csv), Arc::clone(&permits));
        let phones_dir = phones_dir.to_owned();
        touching.spawn(async move {
            let _permit = permits.acquire_owned().await?;
            let compound = relay.create_compound(&format!("小区{i}")).await?;
            relay.import_roster(compound, csv.to_vec()).await?;
            let code = relay.invite(compound, "volunteer").await?;
            let phone = Phone::join(&relay.url, &phones_dir, &code, &format!("volunteer-{i}")).await?;
            phone.sync().await?;
            anyhow::Ok(())
        });
    }
    while let Some(done) = touching.join_next().await {
        done??;
    }
    let took = started.elapsed();
    let cost = phase.finish();
    let after_touch = resident(pid).unwrap_or(0);
    let cached_after_touch = relay.documents_cached().await?;
    watching.abort();

    // Eviction runs every half idle time; give it the idle time plus two ticks.
    let deadline = Instant::now() + Duration::from_secs(idle * 3 + 2);
    let mut cached_idle = cached_after_touch;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        cached_idle = relay.documents_cached().await?;
        if cached_idle == 0 {
            break;
        }
    }
    // Compaction of evicted documents finishes just after they leave the cache.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after_idle = resident(pid).unwrap_or(0);

    println!(
        "| compounds | touching took | relay CPU | relay memory fresh | peak while touching | after touching | after idle eviction | documents in memory: most / after touching / after idle |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    println!(
        "| {compounds} | {} | {} | {} | {} | {} | {} | {} / {} / {} |",
        secs(took),
        secs(cost.cpu),
        bytes(fresh),
        bytes(cost.peak),
        bytes(after_touch),
        bytes(after_idle),
        most_cached.load(Ordering::Relaxed),
        cached_after_touch,
        cached_idle
    );
    Ok(())
}
