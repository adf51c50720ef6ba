//! What one phone's sync costs on the wire: a warm sync after offline work, a reconnect with
//! nothing new, and a new volunteer's first sync, each against its floor.
//!
//! The floor of a warm sync is the raw bytes of the changes themselves: Automerge's `save_after`
//! of each side's new changes (the compact columnar encoding a snapshot chunk uses). Nothing can
//! carry those changes in fewer bytes without a better encoding. Bytes are HTTP bodies (CBOR); the
//! HTTP headers (about 250 B a request with the bearer token) are not counted on either side.

use std::collections::BTreeMap;

use automerge::ChangeHash;
use doorstep_core::Role;
use doorstep_core::id::DocumentId;
use doorstep_core::sync::{DocumentGrant, SyncResponse, WIRE_VERSION};
use doorstep_replica::Replica;

use crate::figures::{bytes, ms, ratio};
use crate::phone::{Phone, Synced};
use crate::workload::Site;

/// Each document's heads on a phone.
type Heads = BTreeMap<DocumentId, Vec<ChangeHash>>;

fn heads_of(r: &Replica) -> Heads {
    r.compounds().flat_map(|c| c.documents()).map(|d| (d.id(), d.heads())).collect()
}

/// Bytes of the changes made since `before`, as `save_after` chunks, over every document.
fn saved_after(r: &Replica, before: &Heads) -> usize {
    r.compounds()
        .flat_map(|c| c.documents())
        .map(|d| d.save_after(before.get(&d.id()).map_or(&[][..], Vec::as_slice)).len())
        .sum()
}

/// What the response's list of granted documents costs on the wire for this phone: the same
/// CBOR encoding with and without it.
async fn document_list_bytes(phone: &Phone) -> anyhow::Result<usize> {
    phone
        .with_replica(|r| {
            let documents: Vec<DocumentGrant> = r
                .compounds()
                .flat_map(|c| {
                    let role = r.role(c.id()).unwrap_or(Role::Volunteer);
                    c.documents().map(move |d| DocumentGrant { header: *d.header(), role })
                })
                .collect();
            let empty = SyncResponse {
                version: WIRE_VERSION,
                messages: vec![],
                documents: Some(vec![]),
                rejected: vec![],
                reads_compact: false,
            };
            let listed = SyncResponse { documents: Some(documents), ..empty.clone() };
            listed.encode().len() - empty.encode().len()
        })
        .await
}

/// A volunteer who has joined and synced once.
async fn synced_volunteer(site: &Site, name: &str) -> anyhow::Result<Phone> {
    let phone = site.volunteer(name).await?;
    phone.sync().await?;
    Ok(phone)
}

/// Runs the warm-sync, reconnect and cold-start scenarios on one site.
pub async fn run(site: &Site, quick: bool) -> anyhow::Result<()> {
    let sizes: &[usize] = if quick { &[1, 20] } else { &[1, 20, 50, 200] };
    println!("\n## Warm sync: a phone with N offline edits while the relay got M = N others");
    println!("target: ≤ 1.1× the floor each way, ≤ 2 requests\n");
    println!(
        "| N | M | requests | up | floor up | up ÷ floor | down | floor down | down ÷ floor | time |\n\
         |---|---|---|---|---|---|---|---|---|---|"
    );
    let mut phone_index = 10_000;
    let mut last = None;
    for &n in sizes {
        let a = synced_volunteer(site, &format!("warm-a-{n}")).await?;
        let b = synced_volunteer(site, &format!("warm-b-{n}")).await?;
        let a_before = a.with_replica(|r| heads_of(r)).await?;
        let b_before = b.with_replica(|r| heads_of(r)).await?;
        let a_ops = site.edits(phone_index, n).iter().map(|e| site.operation(e)).collect();
        let b_ops = site.edits(phone_index + 1, n).iter().map(|e| site.operation(e)).collect();
        phone_index += 2;
        a.apply_all(a_ops).await?;
        b.apply_all(b_ops).await?;
        b.sync().await?;
        let floor_up = a.with_replica(move |r| saved_after(r, &a_before)).await?;
        let floor_down = b.with_replica(move |r| saved_after(r, &b_before)).await?;
        let Synced { report, took } = a.sync().await?;
        anyhow::ensure!(a.unsynced().await? == 0, "phone A still has unsynced changes after its sync");
        println!(
            "| {n} | {n} | {} | {} | {} | {} | {} | {} | {} | {} |",
            report.requests,
            bytes(report.bytes_up),
            bytes(floor_up),
            ratio(report.bytes_up, floor_up),
            bytes(report.bytes_down),
            bytes(floor_down),
            ratio(report.bytes_down, floor_down),
            ms(took)
        );
        last = Some(a);
    }

    let phone = last.ok_or_else(|| anyhow::anyhow!("no warm-sync phone"))?;
    println!("\n## Reconnect with nothing new (median of 5)\ntarget: ≤ 200 B per document each way\n");
    let docs = phone.with_replica(|r| r.compounds().map(|c| c.documents().count()).sum::<usize>()).await?;
    let mut runs = Vec::new();
    for _ in 0..5 {
        runs.push(phone.sync().await?);
    }
    runs.sort_by_key(|s| s.took);
    let median = &runs[runs.len() / 2];
    let list = document_list_bytes(&phone).await?;
    println!(
        "| documents | requests | up | down | up per document | down per document | the document list | time |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    println!(
        "| {docs} | {} | {} | {} | {} | {} | {} ({} per document), sent in {} of {} responses | {} |",
        median.report.requests,
        bytes(median.report.bytes_up),
        bytes(median.report.bytes_down),
        bytes(median.report.bytes_up / docs.max(1)),
        bytes(median.report.bytes_down / docs.max(1)),
        bytes(list),
        bytes(list / docs.max(1)),
        median.report.document_lists,
        median.report.requests,
        ms(median.took)
    );

    println!("\n## Cold start: a new volunteer joins and syncs (roster, requests, the open round)");
    println!("target: ≤ 1.05× the documents' save() size\n");
    let start = std::time::Instant::now();
    let fresh = site.volunteer("cold").await?;
    let joined = start.elapsed();
    let Synced { report, took } = fresh.sync().await?;
    let saved: Vec<(String, usize)> = fresh
        .with_replica(|r| {
            r.compounds()
                .flat_map(|c| c.documents())
                .map(|d| (d.kind().as_str().to_owned(), d.save().len()))
                .collect()
        })
        .await?;
    let floor: usize = saved.iter().map(|(_, n)| n).sum();
    let sizes: Vec<String> = saved.iter().map(|(k, n)| format!("{k} {}", bytes(*n))).collect();
    println!("| requests | up | down | save() of the documents | down ÷ save() | join | sync | total |");
    println!("|---|---|---|---|---|---|---|---|");
    println!(
        "| {} | {} | {} | {} ({}) | {} | {} | {} | {} |",
        report.requests,
        bytes(report.bytes_up),
        bytes(report.bytes_down),
        bytes(floor),
        sizes.join(", "),
        ratio(report.bytes_down, floor),
        ms(joined),
        ms(took),
        ms(joined + took)
    );
    Ok(())
}
