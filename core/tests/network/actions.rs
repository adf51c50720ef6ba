//! Random operations as a person would make them on their phone: chosen from what the phone
//! holds now (its households, open rounds, tasks, requests, care entries), mostly among what
//! the person's role may do, sometimes not — refusals must leave the documents unchanged too.

use std::cell::OnceCell;
use std::collections::BTreeSet;

use doorstep_core::id::{CareEntryId, DocumentId, HouseholdId, PersonId, RequestId, TaskId};
use doorstep_core::schema::address::Address;
use doorstep_core::schema::control_status::ControlStatus;
use doorstep_core::schema::household::{HouseholdDraft, HouseholdEdit};
use doorstep_core::schema::need_tag::NeedTag;
use doorstep_core::schema::request::CareDraft;
use doorstep_core::schema::vocabulary::{
    Category, Channel, Outcome, Priority, RequestStatus, TaskKind, TaskStatus, Urgency,
};
use doorstep_core::{Compound, Operation, Role, Selection};
use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;

/// What a person sets out to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    AddBuilding,
    AddHousehold,
    EditHousehold,
    EditNotes,
    SetStatus,
    SetNeeds,
    RemoveHousehold,
    CreateRound,
    AddTask,
    Assign,
    AssignBuilding,
    Claim,
    Unassign,
    Cancel,
    Attempt,
    CloseRound,
    ReopenRound,
    AddRequest,
    Triage,
    Link,
    AddCare,
    EditCare,
}

/// Every kind, weighted by how often people do it.
const ALL: &[(Kind, u32)] = &[
    (Kind::AddBuilding, 1),
    (Kind::AddHousehold, 3),
    (Kind::EditHousehold, 2),
    (Kind::EditNotes, 6),
    (Kind::SetStatus, 3),
    (Kind::SetNeeds, 2),
    (Kind::RemoveHousehold, 1),
    (Kind::CreateRound, 3),
    (Kind::AddTask, 2),
    (Kind::Assign, 4),
    (Kind::AssignBuilding, 2),
    (Kind::Claim, 5),
    (Kind::Unassign, 2),
    (Kind::Cancel, 2),
    (Kind::Attempt, 8),
    (Kind::CloseRound, 1),
    (Kind::ReopenRound, 1),
    (Kind::AddRequest, 4),
    (Kind::Triage, 2),
    (Kind::Link, 2),
    (Kind::AddCare, 2),
    (Kind::EditCare, 2),
];

fn allowed(role: Role, kind: Kind) -> bool {
    match kind {
        Kind::EditNotes | Kind::Claim | Kind::Unassign | Kind::Attempt | Kind::AddRequest => true,
        Kind::AddCare | Kind::EditCare => role.reads_care(),
        _ => role.is_coordinating(),
    }
}

/// A random operation for a person in `role` looking at `compound`. `people` are the persons
/// tasks may be assigned to; `tag` makes the text this phone writes recognisable.
pub fn choose(
    rng: &mut StdRng,
    role: Role,
    compound: &Compound,
    people: &[PersonId],
    tag: &str,
) -> Operation {
    let pool: Vec<(Kind, u32)> = if rng.random_bool(0.8) {
        ALL.iter().copied().filter(|(k, _)| allowed(role, *k)).collect()
    } else {
        ALL.to_vec()
    };
    let kind = pool.choose_weighted(rng, |(_, w)| *w).map(|(k, _)| *k).unwrap_or(Kind::EditNotes);
    build(rng, kind, compound, people, tag)
}

fn build(rng: &mut StdRng, kind: Kind, c: &Compound, people: &[PersonId], tag: &str) -> Operation {
    // Reading a document costs time; read only what the chosen operation needs.
    let households = OnceCell::new();
    let households = || households.get_or_init(|| c.households());
    let household = |rng: &mut StdRng| {
        households().choose(rng).map(|h| h.id).unwrap_or_else(|| HouseholdId::from_uuid(uuid(rng)))
    };
    let round = |rng: &mut StdRng| {
        // Now and then a closed round (or none): the refusal is part of the test.
        let from: Vec<DocumentId> = if rng.random_bool(0.9) {
            c.open_rounds().map(|d| d.id()).collect()
        } else {
            c.rounds().map(|d| d.id()).collect()
        };
        from.choose(rng).copied().unwrap_or_else(|| DocumentId::from_uuid(uuid(rng)))
    };
    let tasks = OnceCell::new();
    let task = |rng: &mut StdRng, want: &dyn Fn(&doorstep_core::schema::task::Task) -> bool| {
        let tasks = tasks.get_or_init(|| c.tasks());
        let fitting: Vec<_> = tasks.iter().filter(|t| want(t)).collect();
        let from: Vec<_> =
            if fitting.is_empty() || rng.random_bool(0.1) { tasks.iter().collect() } else { fitting };
        from.choose(rng)
            .map(|t| (t.round, t.id))
            .unwrap_or_else(|| (DocumentId::from_uuid(uuid(rng)), TaskId::from_uuid(uuid(rng))))
    };
    let request = |rng: &mut StdRng| {
        c.requests().choose(rng).map(|r| r.id).unwrap_or_else(|| RequestId::from_uuid(uuid(rng)))
    };
    let person = |rng: &mut StdRng| *people.choose(rng).expect("at least one person");
    match kind {
        Kind::AddBuilding => Operation::AddBuilding {
            estate: String::new(),
            label: rng.random_range(3..=6u32).to_string(),
            lift: rng.random(),
        },
        Kind::AddHousehold => {
            let building = ["2", "10", "7"].choose(rng).copied().unwrap_or("2");
            let floor = rng.random_range(1..=12);
            let flat = format!("{floor}0{}", rng.random_range(1..=4));
            Operation::AddHousehold {
                draft: HouseholdDraft {
                    address: Address {
                        estate: String::new(),
                        building: building.into(),
                        unit: rng.random_range(1..=2u32).to_string(),
                        floor,
                        flat,
                    },
                    head: format!("户主{tag}"),
                    phone: String::new(),
                    // Some ledgers leave 户内人数 blank: unknown, never guessed.
                    people: rng.random_bool(0.8).then(|| rng.random_range(1..=5)),
                    aged_60_plus: rng.random_range(0..=2),
                    children_under_6: rng.random_range(0..=1),
                    needs: needs(rng),
                    status: status(rng),
                    lift: rng.random(),
                    notes: String::new(),
                },
            }
        }
        Kind::EditHousehold => Operation::EditHousehold {
            household: household(rng),
            edit: HouseholdEdit {
                head: rng.random_bool(0.5).then(|| format!("户主{tag}")),
                phone: rng
                    .random_bool(0.5)
                    .then(|| format!("139{}", rng.random_range(10_000_000..99_999_999u32))),
                people: rng.random_bool(0.5).then(|| rng.random_range(1..=6)),
                aged_60_plus: None,
                children_under_6: None,
                lift: rng.random_bool(0.3).then(|| rng.random()),
            },
        },
        Kind::EditNotes => {
            let id = household(rng);
            let old = households().iter().find(|h| h.id == id).map(|h| h.notes.clone()).unwrap_or_default();
            Operation::EditNotes { household: id, notes: edit_text(rng, &old, tag) }
        }
        Kind::SetStatus => Operation::SetControlStatus { household: household(rng), status: status(rng) },
        Kind::SetNeeds => Operation::SetNeedTags { household: household(rng), needs: needs(rng) },
        Kind::RemoveHousehold => Operation::RemoveHousehold { household: household(rng) },
        Kind::CreateRound => {
            let selection = match rng.random_range(0..5) {
                0 => Selection::All,
                1 => Selection::Building { estate: String::new(), building: "10".into() },
                2 => Selection::Status { status: status(rng) },
                3 => Selection::Need { need: *NeedTag::ALL.choose(rng).unwrap_or(&NeedTag::Dialysis) },
                _ => Selection::Households {
                    ids: (0..rng.random_range(1..=3)).map(|_| household(rng)).collect(),
                },
            };
            Operation::CreateRound {
                title: format!("第{}轮 {tag}", rng.random_range(1..=9)),
                kind: task_kind(rng),
                date: "2026-11-23".into(),
                selection,
                items: "蔬菜包".into(),
                priority: priority(rng),
            }
        }
        Kind::AddTask => Operation::AddTask {
            round: round(rng),
            household: household(rng),
            kind: task_kind(rng),
            items: format!("物资{tag}"),
            priority: priority(rng),
            request: rng.random_bool(0.4).then(|| request(rng)),
        },
        Kind::Assign => {
            let (round, task) = task(rng, &|t| t.status() != TaskStatus::Delivered);
            Operation::AssignTask { round, task, volunteer: person(rng) }
        }
        Kind::AssignBuilding => Operation::AssignBuilding {
            round: round(rng),
            estate: String::new(),
            building: ["2", "10", "7"].choose(rng).copied().unwrap_or("2").into(),
            volunteer: person(rng),
        },
        Kind::Claim => {
            let (round, task) = task(rng, &|t| t.assignee.is_none());
            Operation::ClaimTask { round, task }
        }
        Kind::Unassign => {
            let (round, task) = task(rng, &|t| t.assignee.is_some());
            Operation::UnassignTask { round, task }
        }
        Kind::Cancel => {
            let (round, task) = task(rng, &|t| t.cancelled.is_none());
            Operation::CancelTask { round, task, reason: format!("取消{tag}") }
        }
        Kind::Attempt => {
            let (round, task) = task(rng, &|t| t.status() != TaskStatus::Cancelled);
            let outcome = *[
                Outcome::Delivered,
                Outcome::Delivered,
                Outcome::NobodyHome,
                Outcome::Refused,
                Outcome::WrongAddress,
            ]
            .choose(rng)
            .unwrap_or(&Outcome::Delivered);
            Operation::RecordAttempt { round, task, outcome, note: format!("记录{tag}") }
        }
        Kind::CloseRound => Operation::CloseRound { round: round(rng) },
        Kind::ReopenRound => {
            let closed: Vec<DocumentId> =
                c.rounds().map(|d| d.id()).filter(|id| !c.open_rounds().any(|o| o.id() == *id)).collect();
            Operation::ReopenRound { round: closed.choose(rng).copied().unwrap_or_else(|| round(rng)) }
        }
        Kind::AddRequest => Operation::AddRequest {
            household: household(rng),
            channel: *Channel::ALL.choose(rng).unwrap_or(&Channel::Door),
            category: *Category::ALL.choose(rng).unwrap_or(&Category::Other),
            text: format!("诉求{tag}"),
            urgency: *Urgency::ALL.choose(rng).unwrap_or(&Urgency::Normal),
        },
        Kind::Triage => Operation::TriageRequest {
            request: request(rng),
            status: *RequestStatus::ALL.choose(rng).unwrap_or(&RequestStatus::Accepted),
            urgency: rng.random_bool(0.5).then(|| *Urgency::ALL.choose(rng).unwrap_or(&Urgency::Urgent)),
        },
        Kind::Link => {
            let (round, task) = task(rng, &|_| true);
            Operation::LinkRequest { request: request(rng), round, task }
        }
        Kind::AddCare => {
            let household = household(rng);
            Operation::AddCareEntry { draft: care(rng, household, people, tag) }
        }
        Kind::EditCare => {
            let entries = c.care_entries();
            let entry =
                entries.choose(rng).map(|e| e.id).unwrap_or_else(|| CareEntryId::from_uuid(uuid(rng)));
            let known = entries.iter().find(|e| e.id == entry).map(|e| e.household);
            let household = known.unwrap_or_else(|| household(rng));
            Operation::EditCareEntry { entry, draft: care(rng, household, people, tag) }
        }
    }
}

/// An edit a person makes to existing text: insert a word somewhere, or delete a few characters.
fn edit_text(rng: &mut StdRng, old: &str, tag: &str) -> String {
    let mut chars: Vec<char> = old.chars().collect();
    if !chars.is_empty() && rng.random_bool(0.25) {
        let at = rng.random_range(0..chars.len());
        let end = (at + rng.random_range(1..=3)).min(chars.len());
        chars.drain(at..end);
    } else {
        let at = rng.random_range(0..=chars.len());
        // Now and then a long paste, so that phones adding to the same notes offline merge
        // them past the limit each kept within (the relay must take every one of them).
        let word =
            if rng.random_bool(0.3) { format!("[{tag}]{}", "长".repeat(2_100)) } else { format!("[{tag}]") };
        chars.splice(at..at, word.chars());
    }
    chars.into_iter().collect()
}

fn care(rng: &mut StdRng, household: HouseholdId, people: &[PersonId], tag: &str) -> CareDraft {
    CareDraft {
        household,
        person_name: format!("病人{tag}"),
        condition: *NeedTag::ALL.choose(rng).unwrap_or(&NeedTag::Dialysis),
        schedule: format!("每周{}次", rng.random_range(1..=3)),
        medicines: String::new(),
        insurance_card_held_by: if rng.random_bool(0.5) { people.choose(rng).copied() } else { None },
        notes: format!("备注{tag}"),
    }
}

fn needs(rng: &mut StdRng) -> BTreeSet<NeedTag> {
    NeedTag::ALL.iter().copied().filter(|_| rng.random_bool(0.2)).collect()
}

fn status(rng: &mut StdRng) -> ControlStatus {
    *ControlStatus::ALL.choose(rng).unwrap_or(&ControlStatus::Normal)
}

fn priority(rng: &mut StdRng) -> Priority {
    *Priority::ALL.choose(rng).unwrap_or(&Priority::Normal)
}

fn task_kind(rng: &mut StdRng) -> TaskKind {
    *TaskKind::ALL.choose(rng).unwrap_or(&TaskKind::Groceries)
}

fn uuid(rng: &mut StdRng) -> uuid::Uuid {
    uuid::Uuid::from_u128(rng.random())
}
