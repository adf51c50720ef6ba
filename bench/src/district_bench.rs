//! A district's return: several compounds on one relay, each with a round per building (the
//! tasks of that building's households), and each compound's volunteers spread over its
//! buildings, every one with [`EDITS`] offline edits on its building's tasks and households; all
//! of them come back into signal at the same instant. The compounds alternate between the two
//! sample ledgers (香樟苑, 1,040 households in 24 buildings; 北林, 857 households in 15 buildings
//! of three estates). The burst itself is the team-return burst's (`team_bench::release`): the
//! phones are set up here, closed and synced from worker processes.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use doorstep_core::id::{CompoundId, DocumentId, HouseholdId, TaskId};
use doorstep_core::schema::household::Household;
use doorstep_core::schema::vocabulary::{Priority, TaskKind};
use doorstep_core::{Operation, Selection};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::audit::{Audit, relay_copy, tally};
use crate::figures::{bytes, ms, secs};
use crate::phone::Phone;
use crate::phone_worker::Pacing;
use crate::relay_process::RelayProcess;
use crate::team_bench::{Burst, EDITS, latency, percentile, release};
use crate::workload::{ClosedPhone, Door, Edit, door_edits, ledger_slice, operation};

/// The second sample ledger: a compound of three estates.
const BEILIN: &[u8] = include_bytes!("../../data/beilin-roster.csv");

/// The ledgers the compounds are imported from, in turn.
const LEDGERS: [(&str, &[u8]); 2] = [("香樟苑", crate::workload::SAMPLE), ("北林", BEILIN)];

/// Phones that join and take their first sync at once while the district is set up.
const SETUP_CONCURRENCY: usize = 16;

/// The district's size.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Compounds on the relay.
    pub compounds: usize,
    /// Volunteers per compound.
    pub volunteers: usize,
    /// Households imported per compound: the ledger's first so many (`None`: all of it).
    pub households: Option<usize>,
}

impl Shape {
    /// 8 compounds × 130 volunteers, whole ledgers; `--quick`: 2 × 12 on the first 200
    /// households of each ledger.
    pub fn new(quick: bool, compounds: Option<usize>, volunteers: Option<usize>) -> Self {
        let (c, v, h) = if quick { (2, 12, Some(200)) } else { (8, 130, None) };
        Self { compounds: compounds.unwrap_or(c), volunteers: volunteers.unwrap_or(v), households: h }
    }
}

/// One building's round: its tasks, in the round's order, and its households.
#[derive(Debug)]
struct BuildingRound {
    round: DocumentId,
    tasks: Vec<TaskId>,
    doors: Vec<Door>,
}

/// A compound of the district, set up: its rounds and its households' notes before the burst.
#[derive(Debug)]
struct DistrictCompound {
    index: usize,
    id: CompoundId,
    rounds: Vec<BuildingRound>,
    original: HashMap<HouseholdId, String>,
}

impl DistrictCompound {
    /// Volunteer `i`'s building (they are dealt out over the buildings in turn) and its edits:
    /// attempts on its share of the building's tasks, notes on the building's households.
    fn edits(&self, i: usize) -> (DocumentId, Vec<Edit>) {
        let building = &self.rounds[i % self.rounds.len()];
        let slot = i / self.rounds.len();
        (building.round, door_edits(i, slot, EDITS, &building.tasks, &building.doors))
    }
}

/// The name volunteer `i` of compound number `compound` joins under.
fn volunteer_name(compound: usize, i: usize) -> String {
    format!("volunteer-{compound}-{i}")
}

/// The households of `households` grouped by building (estate and building label), in the order
/// a volunteer climbs them.
fn buildings(mut households: Vec<Household>) -> Vec<(String, String, Vec<Household>)> {
    households.sort_by_key(|h| h.address.climb_key());
    let mut out: Vec<(String, String, Vec<Household>)> = Vec::new();
    for h in households {
        match out.last_mut() {
            Some((estate, building, members))
                if *estate == h.address.estate && *building == h.address.building =>
            {
                members.push(h);
            }
            _ => out.push((h.address.estate.clone(), h.address.building.clone(), vec![h])),
        }
    }
    out
}

/// Creates compound number `index` from its ledger and has a coordinator plan one round per
/// building.
async fn set_up_compound(
    relay: &RelayProcess,
    phones_dir: &Path,
    index: usize,
    households: Option<usize>,
) -> anyhow::Result<DistrictCompound> {
    let (name, ledger) = LEDGERS[index % LEDGERS.len()];
    let id = relay.create_compound(&format!("{name}{}", index + 1)).await?;
    let csv = match households {
        Some(n) => ledger_slice(ledger, n),
        None => ledger.to_vec(),
    };
    relay.import_roster(id, csv).await?;
    let code = relay.invite(id, "coordinator").await?;
    let coordinator = Phone::join(&relay.url, phones_dir, &code, &format!("coordinator-{index}")).await?;
    coordinator.sync().await?;
    let households = coordinator.with_replica(move |r| r.compound(id).map(|c| c.households())).await??;
    let original = households.iter().map(|h| (h.id, h.notes.clone())).collect();
    let mut planned = Vec::new();
    for (estate, building, members) in buildings(households) {
        let applied = coordinator
            .apply(Operation::CreateRound {
                title: format!("{estate}{building}号楼 蔬菜包 第1轮"),
                kind: TaskKind::Groceries,
                date: "2026-11-23".into(),
                selection: Selection::Building { estate, building },
                items: "蔬菜包1份".into(),
                priority: Priority::Normal,
            })
            .await?;
        let round = *applied.changed.first().context("creating a building's round changed no document")?;
        let doors = members.into_iter().map(|h| Door { household: h.id, notes: h.notes }).collect();
        planned.push((round, doors));
    }
    let synced = coordinator.sync().await?;
    anyhow::ensure!(synced.report.rejected.is_empty(), "the relay refused a round: {:?}", synced.report);
    let tasks = coordinator.with_replica(move |r| r.compound(id).map(|c| c.tasks())).await??;
    let rounds = planned
        .into_iter()
        .map(|(round, doors)| {
            let tasks: Vec<TaskId> = tasks.iter().filter(|t| t.round == round).map(|t| t.id).collect();
            anyhow::ensure!(!tasks.is_empty(), "a building's round has no tasks");
            Ok(BuildingRound { round, tasks, doors })
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(DistrictCompound { index, id, rounds, original })
}

/// Every compound's volunteers joined, synced once, given their offline edits and closed for the
/// worker processes; dealt out compound by compound, so that each worker holds phones of every
/// compound.
async fn offline_volunteers(
    relay: &Arc<RelayProcess>,
    compounds: &Arc<Vec<DistrictCompound>>,
    phones_dir: &Path,
    volunteers: usize,
) -> anyhow::Result<Vec<ClosedPhone>> {
    let permits = Arc::new(Semaphore::new(SETUP_CONCURRENCY));
    let mut joining = JoinSet::new();
    for i in 0..volunteers {
        for c in 0..compounds.len() {
            let (relay, compounds, permits) =
                (Arc::clone(relay), Arc::clone(compounds), Arc::clone(&permits));
            let phones_dir = phones_dir.to_owned();
            joining.spawn(async move {
                let _permit = permits.acquire_owned().await?;
                let compound = &compounds[c];
                let code = relay.invite(compound.id, "volunteer").await?;
                let phone = Phone::join(&relay.url, &phones_dir, &code, &volunteer_name(c, i)).await?;
                phone.sync().await?;
                let (round, edits) = compound.edits(i);
                phone.apply_all(edits.iter().map(|e| operation(round, e)).collect()).await?;
                phone.hand_over()
            });
        }
    }
    let mut phones = Vec::with_capacity(volunteers * compounds.len());
    while let Some(joined) = joining.join_next().await {
        phones.push(joined??);
    }
    Ok(phones)
}

/// Sets the district up, releases every volunteer at once, checks the relay's copy of every
/// compound for every edit, and prints the table.
pub async fn run(doorstep: &Path, phones_dir: &Path, shape: Shape, pacing: Pacing) -> anyhow::Result<()> {
    let Shape { compounds, volunteers, households } = shape;
    let phones = compounds * volunteers;
    println!(
        "\n## A district returning at once: {compounds} compounds × {volunteers} volunteers, a round per building, {EDITS} offline edits per phone"
    );
    println!(
        "compounds alternate between the ledgers {}{}; volunteers are dealt out over their compound's buildings",
        LEDGERS.map(|(name, _)| name).join(" and "),
        households.map_or_else(String::new, |n| format!(" (first {n} households of each)"))
    );
    println!("every phone has {} from its release to be in sync, or counts as failed", secs(pacing.deadline));
    println!("phones: {}\n", pacing.describe());

    let setup_start = Instant::now();
    let relay = Arc::new(RelayProcess::start(doorstep, 600)?);
    let mut set_up = Vec::with_capacity(compounds);
    for index in 0..compounds {
        set_up.push(set_up_compound(&relay, phones_dir, index, households).await?);
    }
    let rounds: usize = set_up.iter().map(|c| c.rounds.len()).sum();
    let set_up = Arc::new(set_up);
    let closed = offline_volunteers(&relay, &set_up, phones_dir, volunteers).await?;
    let burst = release(&relay, closed, pacing, setup_start, "district").await?;

    let mut audit = Audit::default();
    for compound in set_up.iter() {
        let written: Vec<(String, Vec<Edit>)> =
            (0..volunteers).map(|i| (volunteer_name(compound.index, i), compound.edits(i).1)).collect();
        let (tasks, households) = relay_copy(&relay, compound.id, phones_dir).await?;
        audit.add(tally(&written, &burst.failed_phones, &compound.original, &tasks, &households));
    }
    if let Some(e) = &burst.first_error {
        println!("district: {} phones failed; first: {e}", burst.failed);
    }
    println!("district: the phones' edits in the relay's copies: {}", audit.describe());
    println!("\n{}", table(compounds, volunteers, phones, rounds, &burst, &audit));
    Ok(())
}

/// The district's figures as a Markdown table.
fn table(
    compounds: usize,
    volunteers: usize,
    phones: usize,
    rounds: usize,
    b: &Burst,
    audit: &Audit,
) -> String {
    let per_edit = b.server_cpu_per_edit().map_or_else(|| "–".to_owned(), ms);
    format!(
        "| compounds × volunteers | phones | rounds | completion | edits/s | p50 | p90 | p99 | failed | retried (shed with 503) | relay CPU | per edit | relay peak RSS | client CPU | /healthz p99 | edits in the relay's copies | setup (untimed) |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n\
         | {compounds} × {volunteers} | {phones} | {rounds} | {} | {:.0} | {} | {} | {} | {} | {} ({}) | {} | {per_edit} | {} | {} in {} process{} | {} | {} | {} |",
        secs(b.completion),
        b.edits_per_second(),
        latency(b.p50()),
        latency(b.latency(90.0)),
        latency(b.p99()),
        b.failed,
        b.retries,
        b.shed,
        secs(b.cost.cpu),
        bytes(b.cost.peak),
        secs(b.client_cpu),
        b.client_processes,
        if b.client_processes == 1 { "" } else { "es" },
        latency(percentile(&b.health, 99.0)),
        audit.describe(),
        secs(b.setup),
    )
}
