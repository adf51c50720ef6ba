//! None lost: after a burst, what of the phones' offline edits the relay's copy of a compound
//! holds. A new phone joins the compound after the burst and syncs, so everything it holds came
//! from the relay; every attempt a phone wrote must be among its tasks' attempts (the same task,
//! the same note, which names the phone), and every note a phone wrote must be inside the
//! household's merged notes.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::time::Duration;

use doorstep_core::id::{CompoundId, HouseholdId, TaskId};
use doorstep_core::schema::household::Household;
use doorstep_core::schema::task::Task;

use crate::phone::Phone;
use crate::relay_process::RelayProcess;
use crate::workload::Edit;

/// How many times the auditing phone tries its sync before giving up (the relay may still be
/// shedding a late retry when the burst ends).
const SYNC_TRIES: u32 = 5;

/// The phones' offline edits against the relay's copy: those of the phones in sync, which must
/// all be there, and those of the phones not in sync by the deadline, some of which may be.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Audit {
    /// Attempts the phones in sync wrote.
    pub attempts_written: usize,
    /// Of those, attempts the relay's copy holds.
    pub attempts_found: usize,
    /// Notes the phones in sync wrote (a phone's later note on the same household replaces its
    /// earlier one on the phone itself, so only the last counts).
    pub notes_written: usize,
    /// Of those, notes inside the relay's copy of the household's notes.
    pub notes_found: usize,
    /// Edits (attempts and notes) the phones not in sync wrote.
    pub unsynced_written: usize,
    /// Of those, edits the relay's copy holds all the same.
    pub unsynced_found: usize,
}

impl Audit {
    /// Edits of phones in sync that the relay's copy does not hold: lost.
    pub fn lost(&self) -> usize {
        (self.attempts_written - self.attempts_found) + (self.notes_written - self.notes_found)
    }

    /// Adds another compound's tally.
    pub fn add(&mut self, other: Audit) {
        self.attempts_written += other.attempts_written;
        self.attempts_found += other.attempts_found;
        self.notes_written += other.notes_written;
        self.notes_found += other.notes_found;
        self.unsynced_written += other.unsynced_written;
        self.unsynced_found += other.unsynced_found;
    }

    /// "phones in sync: 15000 of 15000 attempts, 5000 of 5000 notes, 0 lost; phones not in
    /// sync: 12 of 60 edits".
    pub fn describe(&self) -> String {
        let mut out = format!(
            "phones in sync: {} of {} attempts, {} of {} notes, {} lost",
            self.attempts_found,
            self.attempts_written,
            self.notes_found,
            self.notes_written,
            self.lost()
        );
        if self.unsynced_written > 0 {
            out.push_str(&format!(
                "; phones not in sync: {} of {} edits",
                self.unsynced_found, self.unsynced_written
            ));
        }
        out
    }
}

/// Tallies each phone's edits (`written`: its name and its edits) against the relay's `tasks`
/// and `households`, the phones named in `not_in_sync` apart; `original` holds each household's
/// notes before the phones' edits, which every note edit starts from.
pub fn tally(
    written: &[(String, Vec<Edit>)],
    not_in_sync: &BTreeSet<String>,
    original: &HashMap<HouseholdId, String>,
    tasks: &[Task],
    households: &[Household],
) -> Audit {
    let mut held: HashMap<(TaskId, &str), usize> = HashMap::new();
    for task in tasks {
        for attempt in &task.attempts {
            *held.entry((task.id, attempt.note.as_str())).or_insert(0) += 1;
        }
    }
    let notes: HashMap<HouseholdId, &str> = households.iter().map(|h| (h.id, h.notes.as_str())).collect();
    let mut audit = Audit::default();
    for (name, edits) in written {
        let mut attempts = (0, 0);
        let mut last_note: HashMap<HouseholdId, &str> = HashMap::new();
        for edit in edits {
            match edit {
                Edit::Attempt { task, note, .. } => {
                    attempts.0 += 1;
                    if let Some(n) = held.get_mut(&(*task, note.as_str()))
                        && *n > 0
                    {
                        *n -= 1;
                        attempts.1 += 1;
                    }
                }
                Edit::Notes { household, text } => {
                    let before = original.get(household).map_or("", String::as_str);
                    last_note.insert(*household, text.strip_prefix(before).unwrap_or(text));
                }
            }
        }
        let notes_written = last_note.len();
        let notes_found = last_note
            .into_iter()
            .filter(|(household, added)| notes.get(household).is_some_and(|merged| merged.contains(added)))
            .count();
        if not_in_sync.contains(name) {
            audit.unsynced_written += attempts.0 + notes_written;
            audit.unsynced_found += attempts.1 + notes_found;
        } else {
            audit.attempts_written += attempts.0;
            audit.attempts_found += attempts.1;
            audit.notes_written += notes_written;
            audit.notes_found += notes_found;
        }
    }
    audit
}

/// The relay's copy of `compound`'s tasks and households, as a volunteer's phone that joins now
/// (its replica under `phones_dir`) receives it.
pub async fn relay_copy(
    relay: &RelayProcess,
    compound: CompoundId,
    phones_dir: &Path,
) -> anyhow::Result<(Vec<Task>, Vec<Household>)> {
    let code = relay.invite(compound, "volunteer").await?;
    let phone = Phone::join(&relay.url, phones_dir, &code, "auditor").await?;
    let mut tries = 0;
    loop {
        tries += 1;
        match phone.sync().await {
            Ok(_) => break,
            Err(e) if tries < SYNC_TRIES => {
                eprintln!("the auditing phone's sync failed ({e:#}); trying again");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            Err(e) => return Err(e.context("the auditing phone could not sync with the relay")),
        }
    }
    Ok(phone
        .with_replica(move |r| {
            let c = r.compound(compound)?;
            Ok::<_, doorstep_replica::ReplicaError>((c.tasks(), c.households()))
        })
        .await??)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use doorstep_core::Timestamp;
    use doorstep_core::id::{DocumentId, PersonId};
    use doorstep_core::schema::address::Address;
    use doorstep_core::schema::control_status::ControlStatus;
    use doorstep_core::schema::task::Attempt;
    use doorstep_core::schema::vocabulary::{Outcome, Priority, TaskKind};

    use super::*;

    fn id<T: std::str::FromStr>(n: u8) -> T
    where
        T::Err: std::fmt::Debug,
    {
        format!("00000000-0000-4000-8000-0000000000{n:02x}").parse().unwrap()
    }

    fn household(n: u8, notes: &str) -> Household {
        Household {
            id: id(n),
            building: id(200),
            address: Address {
                estate: String::new(),
                building: "1".into(),
                unit: "1".into(),
                floor: 1,
                flat: format!("{n}"),
            },
            head: "户主".into(),
            phone: String::new(),
            people: Some(1),
            aged_60_plus: 0,
            children_under_6: 0,
            needs: BTreeSet::new(),
            status: ControlStatus::Normal,
            lift: false,
            notes: notes.into(),
        }
    }

    fn task(n: u8, notes: &[&str]) -> Task {
        Task {
            id: id(n),
            round: id::<DocumentId>(201),
            household: id(n),
            kind: TaskKind::Groceries,
            items: String::new(),
            priority: Priority::Normal,
            assignee: None,
            request: None,
            cancelled: None,
            attempts: notes
                .iter()
                .map(|note| Attempt {
                    by: id::<PersonId>(202),
                    at: Timestamp::from_millis(0),
                    outcome: Outcome::Delivered,
                    note: (*note).into(),
                    knocked_by: None,
                    knocked_at: None,
                })
                .collect(),
        }
    }

    fn attempt(task: u8, note: &str) -> Edit {
        Edit::Attempt { task: id(task), outcome: "delivered", note: note.into() }
    }

    fn notes(household: u8, text: &str) -> Edit {
        Edit::Notes { household: id(household), text: text.into() }
    }

    #[test]
    fn an_edit_missing_from_the_relays_copy_counts_as_lost_and_a_failed_phones_apart() {
        let original = HashMap::from([(id(1), "旧".to_owned()), (id(2), String::new())]);
        let written = vec![
            // Phone a: both attempts and its later note on household 1 are held.
            (
                "a".to_owned(),
                vec![attempt(1, "a0"), attempt(1, "a1"), notes(1, "旧a-1;"), notes(1, "旧a-2;")],
            ),
            // Phone b: one attempt is missing, its note is held.
            ("b".to_owned(), vec![attempt(2, "b0"), attempt(2, "b1"), notes(2, "b-1;")]),
            // Phone c failed: one of its edits reached the relay all the same.
            ("c".to_owned(), vec![attempt(2, "c0"), notes(2, "c-1;")]),
        ];
        let tasks = [task(1, &["a0", "a1"]), task(2, &["b0", "c0"])];
        let households = [household(1, "旧b?a-2;"), household(2, "b-1;")];
        let failed = BTreeSet::from(["c".to_owned()]);
        let audit = tally(&written, &failed, &original, &tasks, &households);
        assert_eq!(
            audit,
            Audit {
                attempts_written: 4,
                attempts_found: 3,
                notes_written: 2,
                notes_found: 2,
                unsynced_written: 2,
                unsynced_found: 1,
            }
        );
        assert_eq!(audit.lost(), 1);
    }

    #[test]
    fn the_same_attempt_twice_needs_two_in_the_relays_copy() {
        let written = vec![("a".to_owned(), vec![attempt(1, "x"), attempt(1, "x")])];
        let audit = tally(&written, &BTreeSet::new(), &HashMap::new(), &[task(1, &["x"])], &[]);
        assert_eq!((audit.attempts_found, audit.lost()), (1, 1));
    }
}
