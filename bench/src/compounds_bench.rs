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
use crate::proc_stats::{Phase, resident, resident_anonymous};
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
    let fresh_anonymous = resident_anonymous(pid).unwrap_or(0);
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

    // Eviction runs every half idle time; give it the idle time plus two ticks. The sweep that
    // empties the cache then compacts what it evicted and returns the memory (a trim the relay
    // counts), and returns it once more 15 s later, when the threads that did the work have left
    // (`server/src/memory.rs`): wait for both, so the figure after idle is the settled one. A
    // relay that trims only once is read when the wait is over.
    const CACHED: &str = "doorstep_documents_cached";
    const TRIMS: &str = "doorstep_memory_trims_total";
    const EVICTED: &str = "doorstep_documents_evicted_total";
    let deadline = Instant::now() + Duration::from_secs(idle * 3 + 2) + Duration::from_secs(20);
    let [_, mut trims_while_cached] = relay.metrics([CACHED, TRIMS]).await?;
    let mut cached_idle = cached_after_touch;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let [cached, trims] = relay.metrics([CACHED, TRIMS]).await?;
        cached_idle = cached.unwrap_or(0.0) as usize;
        if cached_idle > 0 {
            trims_while_cached = trims;
        } else if trims.is_none() {
            // A relay that does not return memory: give its compaction a second, then look.
            tokio::time::sleep(Duration::from_secs(1)).await;
            break;
        } else if trims >= trims_while_cached.map(|t| t + 2.0) {
            break;
        }
    }
    let after_idle = resident(pid).unwrap_or(0);
    let after_idle_anonymous = resident_anonymous(pid).unwrap_or(0);
    let [evicted, trims] = relay.metrics([EVICTED, TRIMS]).await?;
    let count = |n: Option<f64>| n.map_or_else(|| "not reported".to_owned(), |n| format!("{n:.0}"));

    println!(
        "| compounds | touching took | relay CPU | relay memory fresh | peak while touching | after touching | after idle eviction | after idle ÷ fresh (target ≤ 1.5) | anonymous memory (heap, stacks): fresh → after idle | documents in memory: most / after touching / after idle | documents evicted | memory returned (sweeps) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {compounds} | {} | {} | {} | {} | {} | {} | {:.2} | {} → {} ({:.2}×) | {} / {} / {} | {} | {} |",
        secs(took),
        secs(cost.cpu),
        bytes(fresh),
        bytes(cost.peak),
        bytes(after_touch),
        bytes(after_idle),
        after_idle as f64 / fresh.max(1) as f64,
        bytes(fresh_anonymous),
        bytes(after_idle_anonymous),
        after_idle_anonymous as f64 / fresh_anonymous.max(1) as f64,
        most_cached.load(Ordering::Relaxed),
        cached_after_touch,
        cached_idle,
        count(evicted),
        count(trims),
    );
    Ok(())
}
