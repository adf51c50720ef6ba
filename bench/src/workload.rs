//! The shared workload: the 香樟苑 sample ledger (1,040 households) imported into a compound on a
//! fresh relay, a coordinator's round with a task for every household, volunteers' phones, and
//! the offline edits each phone makes. The same documents and the same edits are written out for
//! the automerge-repo peer, so both sides sync byte-identical starting documents and apply the
//! same changes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use doorstep_core::id::{CompoundId, DocumentId, HouseholdId, TaskId};
use doorstep_core::schema::vocabulary::{DocKind, Outcome, Priority, TaskKind};
use doorstep_core::{Operation, Selection};
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::phone::{HandedOver, Phone};
use crate::relay_process::RelayProcess;

/// The sample ledger, as a coordinator's spreadsheet exports it.
pub const SAMPLE: &[u8] = include_bytes!("../../data/xiangzhangyuan-roster.csv");

/// The sample's header and its first `households` rows: a smaller compound of the same shape.
pub fn sample_slice(households: usize) -> Vec<u8> {
    ledger_slice(SAMPLE, households)
}

/// A ledger's header and its first `households` rows.
pub fn ledger_slice(ledger: &[u8], households: usize) -> Vec<u8> {
    let text = String::from_utf8_lossy(ledger);
    let mut out: String = text.lines().take(households + 1).collect::<Vec<_>>().join("\n");
    out.push('\n');
    out.into_bytes()
}

/// One offline edit a volunteer makes.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Edit {
    /// An attempt appended to a task's attempts list.
    Attempt {
        /// The task.
        task: TaskId,
        /// What happened (`delivered`, …).
        outcome: &'static str,
        /// The volunteer's note.
        note: String,
    },
    /// A household's notes replaced by a longer text (Automerge merges it as a text edit).
    Notes {
        /// The household.
        household: HouseholdId,
        /// The whole new text.
        text: String,
    },
}

/// A household's ID and its notes when the round started.
#[derive(Debug, Clone)]
pub struct Door {
    /// The household.
    pub household: HouseholdId,
    /// Its notes.
    pub notes: String,
}

/// A compound on a relay, with its round, ready for volunteers.
#[derive(Debug)]
pub struct Site {
    /// The relay process.
    pub relay: RelayProcess,
    /// The compound.
    pub compound: CompoundId,
    /// The round document.
    pub round: DocumentId,
    /// The round's tasks, in the order the round lists them.
    pub tasks: Vec<TaskId>,
    /// The households.
    pub doors: Vec<Door>,
    /// The coordinator who planned the round.
    pub coordinator: Phone,
    /// Where phones keep their replicas.
    pub phones_dir: PathBuf,
}

impl Site {
    /// Starts a relay, imports the sample ledger and has a coordinator plan a round covering
    /// every household.
    pub async fn build(doorstep: &Path, idle_seconds: u64, phones_dir: &Path) -> anyhow::Result<Self> {
        Self::build_on(RelayProcess::start(doorstep, idle_seconds)?, phones_dir).await
    }

    /// The same on a relay already started (on a database of the caller's choosing).
    pub async fn build_on(relay: RelayProcess, phones_dir: &Path) -> anyhow::Result<Self> {
        let compound = relay.create_compound("香樟苑").await?;
        relay.import_roster(compound, SAMPLE.to_vec()).await?;
        let code = relay.invite(compound, "coordinator").await?;
        let coordinator = Phone::join(&relay.url, phones_dir, &code, "coordinator").await?;
        coordinator.sync().await?;
        let applied = coordinator
            .apply(Operation::CreateRound {
                title: "蔬菜包 第1轮".into(),
                kind: TaskKind::Groceries,
                date: "2026-11-23".into(),
                selection: Selection::All,
                items: "蔬菜包1份".into(),
                priority: Priority::Normal,
            })
            .await?;
        let round = *applied.changed.first().context("creating the round changed no document")?;
        let synced = coordinator.sync().await?;
        anyhow::ensure!(
            synced.report.rejected.is_empty(),
            "the relay refused the round: {:?}",
            synced.report
        );
        let (tasks, doors) = coordinator
            .with_replica(move |r| {
                let c = r.compound(compound)?;
                let tasks = c.tasks().into_iter().filter(|t| t.round == round).map(|t| t.id).collect();
                let doors =
                    c.households().into_iter().map(|h| Door { household: h.id, notes: h.notes }).collect();
                Ok::<_, doorstep_replica::ReplicaError>((tasks, doors))
            })
            .await??;
        Ok(Self { relay, compound, round, tasks, doors, coordinator, phones_dir: phones_dir.to_owned() })
    }

    /// A new volunteer's phone: invited, joined, not yet synced.
    pub async fn volunteer(&self, name: &str) -> anyhow::Result<Phone> {
        self.volunteer_at(&self.relay.url, name).await
    }

    /// [`Site::volunteer`], joined through the relay at `url` (another relay on the same
    /// database).
    pub async fn volunteer_at(&self, url: &str, name: &str) -> anyhow::Result<Phone> {
        let code = self.relay.invite(self.compound, "volunteer").await?;
        Phone::join(url, &self.phones_dir, &code, name).await
    }

    /// The `n` offline edits of phone number `phone`: mostly attempts on the tasks of its share of
    /// the round, and every fourth a note on a household's notes.
    pub fn edits(&self, phone: usize, n: usize) -> Vec<Edit> {
        door_edits(phone, phone, n, &self.tasks, &self.doors)
    }

    /// An edit as the operation a Doorstep phone carries out.
    pub fn operation(&self, edit: &Edit) -> Operation {
        operation(self.round, edit)
    }

    /// Writes the documents a volunteer's phone holds (as Automerge `save()` bytes, from the
    /// coordinator's copy, which holds the same changes as the relay's) and every phone's edits,
    /// for the automerge-repo peer: `DIR/workload.json` and `DIR/<kind>.automerge`.
    pub async fn export(&self, dir: &Path, phones: usize, edits: usize) -> anyhow::Result<PathBuf> {
        let compound = self.compound;
        let docs: Vec<(DocumentId, String, Vec<u8>)> = self
            .coordinator
            .with_replica(move |r| {
                Ok::<_, doorstep_replica::ReplicaError>(
                    r.compound(compound)?
                        .documents()
                        .filter(|d| d.kind() != DocKind::Care)
                        .map(|d| (d.id(), d.kind().as_str().to_owned(), d.save()))
                        .collect(),
                )
            })
            .await??;
        let mut documents = Vec::new();
        for (id, kind, bytes) in &docs {
            let file = format!("{kind}.automerge");
            std::fs::write(dir.join(&file), bytes)?;
            documents.push(serde_json::json!({ "id": id.to_string(), "kind": kind, "file": file }));
        }
        let clients: Vec<Vec<Edit>> = (0..phones).map(|i| self.edits(i, edits)).collect();
        let manifest = serde_json::json!({ "documents": documents, "clients": clients });
        let path = dir.join("workload.json");
        std::fs::write(&path, serde_json::to_vec(&manifest)?)?;
        Ok(path)
    }
}

/// The `n` offline edits of the volunteer called `label` (its number, written into every note so
/// that the relay's copy can be checked for it) who takes share `slot` of `tasks` and `doors`:
/// attempts on tasks `slot × n …`, and every fourth edit a note on a household's notes, each on a
/// different household while `doors` has more than 16.
pub fn door_edits(label: usize, slot: usize, n: usize, tasks: &[TaskId], doors: &[Door]) -> Vec<Edit> {
    (0..n)
        .map(|k| {
            if k % 4 == 3 {
                let door = &doors[(slot * 7 + k) % doors.len()];
                Edit::Notes {
                    household: door.household, text: format!("{}已联系{label}-{k};", door.notes)
                }
            } else {
                Edit::Attempt {
                    task: tasks[(slot * n + k) % tasks.len()],
                    outcome: if k % 3 == 1 { "nobody_home" } else { "delivered" },
                    note: format!("第{k}次 志愿者{label}"),
                }
            }
        })
        .collect()
}

/// An edit on `round` as the operation a Doorstep phone carries out.
pub fn operation(round: DocumentId, edit: &Edit) -> Operation {
    match edit {
        Edit::Attempt { task, outcome, note } => Operation::RecordAttempt {
            round,
            task: *task,
            outcome: if *outcome == "delivered" { Outcome::Delivered } else { Outcome::NobodyHome },
            note: note.clone(),
        },
        Edit::Notes { household, text } => {
            Operation::EditNotes { household: *household, notes: text.clone() }
        }
    }
}

/// A phone set up and closed, ready for a worker process ([`Phone::hand_over`]): what the
/// worker needs, and the folder holding its replica, which must outlive the worker.
pub type ClosedPhone = (HandedOver, tempfile::TempDir);

/// How many phones join and take their first sync at once while a team is set up.
const SETUP_CONCURRENCY: usize = 16;

/// A team about to come back in signal: `n` volunteers, phone `i` joined through
/// `urls[i % urls.len()]`, each synced once, given `edits` offline edits and closed for a worker
/// process (so that a few thousand phones' replicas are not all open in this process). Phones
/// come back in the order they finished setting up.
pub async fn offline_team(
    site: &Arc<Site>,
    urls: &[String],
    n: usize,
    edits: usize,
) -> anyhow::Result<Vec<ClosedPhone>> {
    let permits = Arc::new(Semaphore::new(SETUP_CONCURRENCY));
    let mut joining = JoinSet::new();
    for i in 0..n {
        let (site, permits, url) = (Arc::clone(site), Arc::clone(&permits), urls[i % urls.len()].clone());
        joining.spawn(async move {
            let _permit = permits.acquire_owned().await?;
            let phone = site.volunteer_at(&url, &format!("phone-{i}")).await?;
            phone.sync().await?;
            let ops = site.edits(i, edits).iter().map(|e| site.operation(e)).collect();
            phone.apply_all(ops).await?;
            phone.hand_over()
        });
    }
    let mut phones = Vec::with_capacity(n);
    while let Some(joined) = joining.join_next().await {
        phones.push(joined??);
    }
    Ok(phones)
}
