//! One phone's sync on a landing's link: 64 kbit/s each way and 300 ms round trips
//! (`slow_link.rs`), against the real relay process, with the real replica and HTTP transport.
//!
//! What a volunteer waits for on the stairs: a new volunteer's first sync, a reconnect with
//! nothing new, a round's knocks, and a long day's backlog (long notes rewritten), the last
//! with this phone's request budget (64 KiB of changes a request at most, halved after a
//! request the link dropped: `replica/src/request_budget.rs`) and with the budget phones had
//! before (4 MiB, so a backlog went in one request), on a steady link and in windows of signal.

use std::path::Path;
use std::time::{Duration, Instant};

use doorstep_core::Operation;

use crate::figures::{bytes, kib, ms, percentile};
use crate::phone::Phone;
use crate::slow_link::{LinkShape, SlowLink};
use crate::workload::Site;

/// A team back at once on landings' links.
const TEAM: usize = 20;

/// Knocks each of the team recorded offline.
const TEAM_KNOCKS: usize = 20;

/// The budget phones had before this one: a backlog went in one request.
const BUDGET_BEFORE: usize = 4 * 1024 * 1024;

/// Notes of `chars` characters drawn at random from common Chinese ones, which compress little,
/// as a household's long notes in a real hand do.
fn notes(seed: &mut u64, chars: usize) -> String {
    (0..chars)
        .map(|_| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            char::from_u32(0x4e00 + u32::try_from(*seed % 2000).unwrap_or(0)).unwrap_or('门')
        })
        .collect()
}

/// A long day's backlog on `phone`: `edits` households' notes rewritten, 4,000 characters each.
async fn long_day(site: &Site, phone: &Phone, edits: usize, seed: u64) -> anyhow::Result<()> {
    let mut seed = seed;
    let ops: Vec<Operation> = site
        .doors
        .iter()
        .cycle()
        .take(edits)
        .map(|door| Operation::EditNotes { household: door.household, notes: notes(&mut seed, 4000) })
        .collect();
    phone.apply_all(ops).await
}

/// A volunteer joined over `link` and synced once.
async fn synced(site: &Site, link: &SlowLink, name: &str) -> anyhow::Result<Phone> {
    let phone = site.volunteer_at(&link.url, name).await?;
    phone.sync().await?;
    Ok(phone)
}

/// One window of signal: the link up, the phone syncing, and the link cut at the end of the
/// window whatever the phone is doing, so a request on the way fails as it would on the stairs
/// and the phone learns from it. Whether the phone is in sync after it: the sync ran to its end
/// within the window with nothing refused, deferred or failed, and every document it may hold
/// arrived.
async fn sync_in_window(link: &SlowLink, window: Duration, phone: &Phone, budget: Option<usize>) -> bool {
    link.restore();
    let cut = async {
        tokio::time::sleep(window).await;
        link.cut();
    };
    let ((), synced) = tokio::join!(cut, phone.sync_with_budget(budget));
    let Ok(synced) = synced else { return false };
    let report = &synced.report;
    let clean = report.rejected.is_empty() && report.retrying.is_empty() && report.failed.is_empty();
    let missing = phone
        .with_replica(|r| {
            r.compounds().map(|c| c.documents().filter(|d| d.is_placeholder()).count()).sum::<usize>()
        })
        .await;
    clean && missing.is_ok_and(|m| m == 0)
}

fn row(what: &str, outcome: &anyhow::Result<crate::phone::Synced>, took: Duration, left: usize) {
    match outcome {
        Ok(s) => println!(
            "| {what} | {} | {} | {} | {} | {left} |",
            s.report.requests,
            bytes(s.report.bytes_up),
            bytes(s.report.bytes_down),
            ms(took)
        ),
        Err(e) => {
            let reason = e.to_string().replace('|', "/");
            let reason: String = reason.chars().take(90).collect();
            println!("| {what} | – | – | – | {} (failed: {reason}) | {left} |", ms(took));
        }
    }
}

/// Runs the scenarios on a fresh site of its own.
/// The landing's link; the smoke run uses one ten times faster, so that CI spends seconds on it.
fn link_shape(quick: bool) -> LinkShape {
    if quick {
        LinkShape { bytes_per_second: 80_000.0, one_way: Duration::from_millis(15) }
    } else {
        LinkShape::landing()
    }
}

/// Only the team of twenty back at once on landings' links (`doorstep-bench landing-team`): the
/// part of the landing bench that weighs the relay's answers, in two minutes instead of fifteen.
pub async fn run_team(doorstep: &Path, phones_dir: &Path, quick: bool) -> anyhow::Result<()> {
    let site = Site::build(doorstep, 600, phones_dir).await?;
    team_back(&site, link_shape(quick), if quick { 4 } else { TEAM }).await
}

pub async fn run(doorstep: &Path, phones_dir: &Path, quick: bool) -> anyhow::Result<()> {
    let site = Site::build(doorstep, 600, phones_dir).await?;
    let shape = link_shape(quick);
    let link = SlowLink::start(&site.relay.url, shape).await?;
    println!(
        "\n## One phone's sync on a landing: {:.0} kbit/s each way, {} ms round trips\n",
        shape.bytes_per_second * 8.0 / 1000.0,
        (shape.one_way * 2).as_millis()
    );
    println!("| what | requests | up | down | time | changes left on the phone |\n|---|---|---|---|---|---|");

    let start = Instant::now();
    let cold = site.volunteer_at(&link.url, "landing-cold").await?;
    let joined = start.elapsed();
    let first = cold.sync().await;
    row(
        &format!("a new volunteer's first sync (join took {})", ms(joined)),
        &first,
        first.as_ref().map_or(start.elapsed(), |s| s.took),
        cold.unsynced().await?,
    );

    let mut reconnects = Vec::new();
    for _ in 0..3 {
        reconnects.push(cold.sync().await?);
    }
    reconnects.sort_by_key(|s| s.took);
    let median = reconnects.swap_remove(1);
    let took = median.took;
    row("reconnect with nothing new (median of 3)", &Ok(median), took, cold.unsynced().await?);

    for (n, label) in [(20, 0), (200, 1)] {
        let phone = synced(&site, &link, &format!("landing-knocks-{n}")).await?;
        let ops = site.edits(20_000 + label, n).iter().map(|e| site.operation(e)).collect();
        phone.apply_all(ops).await?;
        let outcome = phone.sync().await;
        let took = outcome.as_ref().map_or(Duration::ZERO, |s| s.took);
        row(&format!("{n} knocks recorded offline"), &outcome, took, phone.unsynced().await?);
    }

    let edits = if quick { 4 } else { 12 };
    for (budget, name) in
        [(None, "this phone: up to 64 KiB a request"), (Some(BUDGET_BEFORE), "before: one request")]
    {
        let phone = synced(&site, &link, &format!("landing-day-{}", budget.unwrap_or(0))).await?;
        // A seed of its own: notes equal to what the relay holds would change nothing.
        long_day(&site, &phone, edits, 0x9e37_79b9_7f4a_7c15 ^ budget.unwrap_or(1) as u64).await?;
        let start = Instant::now();
        let outcome = phone.sync_with_budget(budget).await;
        row(
            &format!("a long day, {edits} long notes ({name})"),
            &outcome,
            start.elapsed(),
            phone.unsynced().await?,
        );
    }
    // The long days above rewrote notes by the hundred kilobytes: a new volunteer's first sync
    // now fetches that history with the roster, an answer of minutes on this link.
    let start = Instant::now();
    let late = site.volunteer_at(&link.url, "landing-late").await?;
    let outcome = late.sync().await;
    row(
        "a new volunteer's first sync after those long days",
        &outcome,
        outcome.as_ref().map_or(start.elapsed(), |s| s.took),
        late.unsynced().await?,
    );
    team_back(&site, shape, if quick { 4 } else { TEAM }).await?;
    if quick {
        return Ok(());
    }

    println!(
        "\n## The long day in windows of signal: the link up for W s, then cut; windows until in sync (at most 8)\n"
    );
    println!("| budget | W | windows until in sync | changes left after each window |\n|---|---|---|---|");
    for window in [Duration::from_secs(5), Duration::from_secs(10)] {
        for (budget, name) in
            [(None, "up to 64 KiB, halved when dropped"), (Some(BUDGET_BEFORE), "before: 4 MiB")]
        {
            // A link of its own, so that cutting it cuts only this phone.
            let own = SlowLink::start(&site.relay.url, shape).await?;
            // Joined and synced at the base, in signal: the roster's history grows with every
            // long day above, and a new volunteer's first sync of it on this link is measured
            // on a compound of its own below.
            let volunteer = format!("window-{}-{}", window.as_secs(), budget.unwrap_or(0));
            let mut phone = site.volunteer_at(&site.relay.url, &volunteer).await?;
            phone.sync().await?;
            phone.reroute(&own.url)?;
            long_day(
                &site,
                &phone,
                edits,
                0x2545_f491_4f6c_dd1d ^ (window.as_secs() << 32) ^ budget.unwrap_or(1) as u64,
            )
            .await?;
            let mut left = Vec::new();
            let mut done = None;
            for n in 1..=8 {
                sync_in_window(&own, window, &phone, budget).await;
                let unsynced = phone.unsynced().await?;
                left.push(unsynced.to_string());
                if unsynced == 0 {
                    done = Some(n);
                    break;
                }
            }
            println!(
                "| {name} | {} s | {} | {} |",
                window.as_secs(),
                done.map_or_else(|| "not in 8".to_owned(), |n| n.to_string()),
                left.join(", ")
            );
        }
    }

    late_in_windows(&site, shape, edits * 3).await?;

    println!(
        "\n## A new volunteer's first sync in windows of signal: the link up for W s, then cut; windows until every document arrived (at most 8)\n"
    );
    println!("| phone | W | windows until every document arrived |\n|---|---|---|");
    let window = Duration::from_secs(8);
    // A compound of its own: the long days above rewrote notes by the hundred kilobytes, and a
    // new volunteer's first sync fetches that history with the roster.
    let fresh = Site::build(doorstep, 600, phones_dir).await?;
    let site = &fresh;
    for (budget, name) in [
        (None, "this phone: one document a request once a request was dropped"),
        (Some(BUDGET_BEFORE), "before: every document in one answer"),
    ] {
        let own = SlowLink::start(&site.relay.url, shape).await?;
        let phone = site.volunteer_at(&own.url, &format!("first-{}", budget.unwrap_or(0))).await?;
        let mut done = None;
        for n in 1..=8 {
            sync_in_window(&own, window, &phone, budget).await;
            let (held, missing) = phone
                .with_replica(|r| {
                    let docs: Vec<bool> = r
                        .compounds()
                        .flat_map(|c| c.documents().map(|d| d.is_placeholder()).collect::<Vec<_>>())
                        .collect();
                    (docs.len(), docs.iter().filter(|p| **p).count())
                })
                .await?;
            if held > 0 && missing == 0 {
                done = Some(n);
                break;
            }
        }
        println!(
            "| {name} | {} s | {} |",
            window.as_secs(),
            done.map_or_else(|| "not in 8".to_owned(), |n| n.to_string())
        );
    }
    Ok(())
}

/// Only the section below, on a compound of its own (`doorstep-bench landing-late`, about five
/// minutes).
pub async fn run_late(doorstep: &Path, phones_dir: &Path, quick: bool) -> anyhow::Result<()> {
    let site = Site::build(doorstep, 600, phones_dir).await?;
    late_in_windows(&site, link_shape(quick), if quick { 4 } else { 36 }).await
}

/// A teammate's day of `edits` long notes, then, on landings' links: a new volunteer's first sync
/// of the roster and its history, and a volunteer who synced before that day catching up; on a
/// steady link and in windows of signal (windows until a sync ran to its end, at most 16, and the
/// bytes the link delivered in all). Before replies were cut to the phone's budget
/// (`reply_budget.rs`), each window's answer was longer than the window and nothing arrived.
async fn late_in_windows(site: &Site, shape: LinkShape, edits: usize) -> anyhow::Result<()> {
    const MOST: usize = 16;
    const WINDOWS: [Duration; 2] = [Duration::from_secs(10), Duration::from_secs(5)];
    // The volunteers who catch up synced at the base before the teammate's day.
    let mut holders = Vec::new();
    for (n, window) in WINDOWS.iter().enumerate() {
        let phone = site.volunteer_at(&site.relay.url, &format!("back-window-{n}")).await?;
        phone.sync().await?;
        holders.push((*window, phone));
    }
    let steady_holder = site.volunteer_at(&site.relay.url, "back-steady").await?;
    steady_holder.sync().await?;
    let writer = site.volunteer_at(&site.relay.url, "late-writer").await?;
    writer.sync().await?;
    long_day(site, &writer, edits, 0x6a09_e667_f3bc_c908).await?;
    writer.sync().await?;

    println!(
        "\n## After a teammate's day of {edits} long notes: catching up on a landing's link, steady and in windows of signal (at most {MOST})\n"
    );
    println!(
        "| phone | link | windows until in sync | time | received over the link in all | changes held at the end |\n|---|---|---|---|---|---|"
    );
    let steady =
        |what: &str, synced: anyhow::Result<crate::phone::Synced>, link: &SlowLink, held: usize| match synced
        {
            Ok(synced) => println!(
                "| {what} | steady | – | {} | {} | {held} |",
                ms(synced.took),
                kib(link.carried_down())
            ),
            Err(e) => {
                println!("| {what} | steady | – | failed: {e:#} | {} | {held} |", kib(link.carried_down()))
            }
        };
    let own = SlowLink::start(&site.relay.url, shape).await?;
    let cold = site.volunteer_at(&own.url, "late-steady").await?;
    let synced = cold.sync().await;
    steady("a new volunteer's first sync", synced, &own, changes_held(&cold).await);
    let own = SlowLink::start(&site.relay.url, shape).await?;
    let mut holder = steady_holder;
    holder.reroute(&own.url)?;
    let synced = holder.sync().await;
    steady("a volunteer back from before that day", synced, &own, changes_held(&holder).await);

    for window in WINDOWS {
        let own = SlowLink::start(&site.relay.url, shape).await?;
        let cold = site.volunteer_at(&own.url, &format!("late-window-{}", window.as_secs())).await?;
        windows_row("a new volunteer's first sync", &own, window, &cold, MOST).await;
    }
    for (window, mut phone) in holders {
        let own = SlowLink::start(&site.relay.url, shape).await?;
        phone.reroute(&own.url)?;
        windows_row("a volunteer back from before that day", &own, window, &phone, MOST).await;
    }
    Ok(())
}

/// The changes of every document `phone` holds.
async fn changes_held(phone: &Phone) -> usize {
    phone
        .with_replica(|r| {
            r.compounds()
                .map(|c| c.documents().map(|d| d.automerge().get_changes_meta(&[]).len()).sum::<usize>())
                .sum::<usize>()
        })
        .await
        .unwrap_or(0)
}

/// Syncs `phone` in windows of `window` on `link` until a sync runs to its end (at most `most`
/// windows) and prints the row.
async fn windows_row(what: &str, link: &SlowLink, window: Duration, phone: &Phone, most: usize) {
    let mut done = None;
    for n in 1..=most {
        if sync_in_window(link, window, phone, None).await {
            done = Some(n);
            break;
        }
    }
    println!(
        "| {what} | windows of {} s | {} | – | {} | {} |",
        window.as_secs(),
        done.map_or_else(|| format!("not in {most}"), |n| n.to_string()),
        kib(link.carried_down()),
        changes_held(phone).await,
    );
}

/// A team of `team` volunteers, each with a round's knocks recorded offline and a landing's link
/// of its own, syncing at once. Each comes back to the changes of the teammates the relay took
/// before it, so the last answers carry most of the team's day.
async fn team_back(site: &Site, shape: LinkShape, team: usize) -> anyhow::Result<()> {
    println!("\n## A team back at once, each on a landing's link of its own ({TEAM_KNOCKS} knocks each)\n");
    println!(
        "| phones | in sync | completion | p50 | up per phone (mean) | down per phone (mean, most) | requests |\n|---|---|---|---|---|---|---|"
    );
    let mut links = Vec::new();
    let mut phones = Vec::new();
    for n in 0..team {
        let own = SlowLink::start(&site.relay.url, shape).await?;
        // Joined and synced at the base, in signal; back on the landing with the day's knocks.
        let mut phone = site.volunteer_at(&site.relay.url, &format!("landing-team-{n}")).await?;
        phone.sync().await?;
        phone.reroute(&own.url)?;
        let ops = site.edits(40_000 + n, TEAM_KNOCKS).iter().map(|e| site.operation(e)).collect();
        phone.apply_all(ops).await?;
        links.push(own);
        phones.push(std::sync::Arc::new(phone));
    }
    let start = Instant::now();
    let mut syncing = tokio::task::JoinSet::new();
    for phone in &phones {
        let phone = std::sync::Arc::clone(phone);
        syncing.spawn(async move {
            let outcome = phone.sync().await;
            let left = phone.unsynced().await;
            (outcome, left, start.elapsed())
        });
    }
    let (mut took, mut up, mut down, mut most, mut requests, mut in_sync) = (Vec::new(), 0, 0, 0, 0, 0);
    while let Some(joined) = syncing.join_next().await {
        let (outcome, left, at) = joined?;
        match outcome {
            Ok(synced) if left.is_ok_and(|l| l == 0) => {
                in_sync += 1;
                took.push(at);
                up += synced.report.bytes_up;
                down += synced.report.bytes_down;
                most = most.max(synced.report.bytes_down);
                requests += synced.report.requests;
            }
            Ok(_) => {}
            Err(e) => eprintln!("doorstep-bench landing: a teammate's sync failed: {e:#}"),
        }
    }
    let completion = took.iter().max().copied().unwrap_or_default();
    let p50 = if took.is_empty() { Duration::ZERO } else { percentile(&mut took, 50.0) };
    let each = in_sync.max(1);
    println!(
        "| {team} | {in_sync} | {} | {} | {} | {}, {} | {requests} |",
        ms(completion),
        ms(p50),
        bytes(up / each),
        bytes(down / each),
        bytes(most)
    );
    drop(links);
    Ok(())
}
