//! Phone-side figures: building a compound's roster and a round, their saved sizes, load time,
//! the latency of a volunteer's operations including the durable SQLite write, and memory, with
//! the replica's file plain and encrypted at rest.

use std::time::Duration;

use doorstep_core::document::Document;
use doorstep_core::id::PersonId;
use doorstep_core::import::{ImportedRow, RosterColumn, RosterPreview, read_roster_csv};
use doorstep_core::schema::address::Address;
use doorstep_core::schema::control_status::ControlStatus;
use doorstep_core::schema::household::HouseholdDraft;
use doorstep_core::schema::need_tag::NeedTag;
use doorstep_core::schema::vocabulary::{DocKind, Outcome, Priority, TaskKind};
use doorstep_core::{Actor, Compound, Env, ImportPolicy, Operation, Role, Selection, Timestamp};
use doorstep_replica::{Replica, ReplicaKey};

use crate::figures::{kib, ms, peak_memory, percentile, resident_memory, timed};

const SAMPLE: &[u8] = include_bytes!("../../data/xiangzhangyuan-roster.csv");

struct Scenario {
    name: &'static str,
    preview: RosterPreview,
    round_size: usize,
}

pub fn run(quick: bool) {
    let scenarios = [
        Scenario {
            name: "香樟苑 sample (1,040 households)",
            preview: read_roster_csv(SAMPLE).unwrap(),
            round_size: 1040,
        },
        Scenario {
            name: "synthetic (3,000 households, 1,000-task round)",
            preview: synthetic(3000),
            round_size: 1000,
        },
    ];
    let ops = if quick { 50 } else { 1000 };
    println!(
        "doorstep-bench core — {} operations per latency figure{}",
        ops,
        if quick { " (quick)" } else { "" }
    );
    for s in scenarios {
        measure(&s, ops);
    }
    if let Some(peak) = peak_memory() {
        println!("\npeak resident memory of the whole run: {}", kib(peak));
    }
}

fn measure(s: &Scenario, ops: usize) {
    println!("\n## {}", s.name);
    let person: PersonId = "01935f3e-0000-7000-8000-0000000000aa".parse().unwrap();
    let mut seed = 0x9E3779B97F4A7C15u128;
    let mut entropy = move || {
        seed = seed.wrapping_mul(0x2545F4914F6CDD1D).wrapping_add(0x9E3779B97F4A7C15);
        seed
    };
    let now = Timestamp::from_millis(1_790_000_000_000);
    let admin = Actor { person, role: Role::Admin };
    let device = automerge::ActorId::from(vec![7u8; 16]);

    let (compound, build) = timed(|| {
        let mut env = Env::new(now, &mut entropy);
        let mut c = Compound::create(&mut env, &admin, device.clone(), "bench").unwrap();
        c.import_roster(&mut env, &admin, &s.preview, ImportPolicy::AllOrNothing).unwrap();
        c
    });
    let mut compound = compound;
    let ids: Vec<_> = compound.households().into_iter().take(s.round_size).map(|h| h.id).collect();
    let (_, round_build) = timed(|| {
        let mut env = Env::new(now, &mut entropy);
        let op = Operation::CreateRound {
            title: "蔬菜包".into(),
            kind: TaskKind::Groceries,
            date: "2026-11-23".into(),
            selection: Selection::Households { ids: ids.clone() },
            items: "蔬菜包1份".into(),
            priority: Priority::Normal,
        };
        compound.apply(&mut env, &admin, &op).unwrap()
    });
    let roster = compound.single(DocKind::Roster).unwrap();
    let round = compound.rounds().next().unwrap();
    let roster_bytes = roster.save();
    let round_bytes = round.save();
    println!("| figure | value |\n|---|---|");
    println!("| households / tasks | {} / {} |", compound.households().len(), compound.tasks().len());
    println!("| build roster (import, one change) | {} |", ms(build));
    println!("| build round | {} |", ms(round_build));
    println!("| roster saved size | {} |", kib(roster_bytes.len()));
    println!("| round saved size | {} |", kib(round_bytes.len()));

    let mut loads: Vec<Duration> = (0..10)
        .map(|_| timed(|| Document::load(*roster.header(), &roster_bytes, device.clone()).unwrap()).1)
        .collect();
    println!("| roster load (median of 10) | {} |", ms(percentile(&mut loads, 50.0)));
    let mut round_loads: Vec<Duration> = (0..10)
        .map(|_| timed(|| Document::load(*round.header(), &round_bytes, device.clone()).unwrap()).1)
        .collect();
    println!("| round load (median of 10) | {} |", ms(percentile(&mut round_loads, 50.0)));
    // What a phone checks of a copy of the document before it loads it (validate::check_received:
    // bombs and operation order, a load into a scratch document of its own).
    let mut checks: Vec<Duration> = (0..10)
        .map(|_| timed(|| doorstep_core::validate::check_received(&roster_bytes).unwrap()).1)
        .collect();
    println!(
        "| roster copy checked before its load (median of 10) | {} |",
        ms(percentile(&mut checks, 50.0))
    );
    // What a phone now does with a copy that is one document chunk: checked and loaded at once
    // (validate::load_received_document, then the header check), where it was the check above
    // and then the load.
    let mut taken: Vec<Duration> = (0..10)
        .map(|_| {
            timed(|| {
                let checked =
                    doorstep_core::validate::load_received_document(&roster_bytes).unwrap().unwrap();
                Document::from_automerge(*roster.header(), checked.with_actor(device.clone())).unwrap()
            })
            .1
        })
        .collect();
    println!(
        "| roster copy checked and loaded at once (median of 10) | {} |",
        ms(percentile(&mut taken, 50.0))
    );
    let (_, households_query) = timed(|| compound.households());
    println!("| read every household (typed) | {} |", ms(households_query));
    relay_takes_what_it_holds(&compound, admin, ops, now, &mut entropy);

    // The phone: a replica on disk, operations durable on return; plain, then encrypted at rest
    // (every stored value sealed with XChaCha20-Poly1305, see replica/src/cipher.rs).
    let key = ReplicaKey::generate();
    for at_rest in [None, Some(&key)] {
        phone(compound.clone(), person, now, ops, at_rest);
    }
}

/// The relay's side of a message that brings nothing new: the roster after `ops` notes, sent back
/// whole (a V2 message of one document chunk, what a phone sends a peer that lacks much, or a
/// modified phone sends to make the relay work), read and taken against a relay that holds every
/// change of it. Each change held already used to be rebuilt from the op set to be found.
fn relay_takes_what_it_holds(
    compound: &Compound,
    admin: Actor,
    ops: usize,
    now: Timestamp,
    entropy: &mut impl FnMut() -> u128,
) {
    use doorstep_core::relay_engine::{self as engine, Unlimited};
    let mut compound = compound.clone();
    let households: Vec<_> = compound.households().into_iter().map(|h| h.id).collect();
    let mut env = Env::new(now, entropy);
    for i in 0..ops {
        let op = Operation::EditNotes {
            household: households[i % households.len()],
            notes: format!("第{i}条 敲门要大声"),
        };
        compound.apply(&mut env, &admin, &op).unwrap();
    }
    let roster = compound.single(DocKind::Roster).unwrap();
    let message = automerge::sync::Message {
        heads: roster.heads(),
        need: Vec::new(),
        have: Vec::new(),
        changes: vec![roster.save()].into(),
        flags: None,
        version: automerge::sync::MessageVersion::V2,
    }
    .encode();
    let limits = doorstep_core::sync::MessageLimits::default();
    let owners = std::collections::HashMap::new();
    let mut takes: Vec<Duration> = (0..5)
        .map(|_| {
            let mut doc = roster.automerge().clone();
            timed(|| {
                let incoming = engine::read(roster.id(), &message, &limits, &Unlimited).unwrap();
                engine::take(&mut doc, roster.header(), &admin, incoming, &owners, now, &Unlimited).unwrap()
            })
            .1
        })
        .collect();
    println!(
        "| relay: the roster after {ops} notes sent back whole, {} changes all held, read and taken (median of 5) | {} |",
        roster.automerge().get_changes(&[]).len(),
        ms(percentile(&mut takes, 50.0))
    );
}

/// The replica's figures for one way of keeping the file: open (SQLite → documents, the roster
/// load a phone does at start), operations including the durable write, memory, file size.
fn phone(compound: Compound, person: PersonId, now: Timestamp, ops: usize, key: Option<&ReplicaKey>) {
    let label = if key.is_some() { "encrypted" } else { "plain" };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("phone.sqlite");
    let rss_before = resident_memory().unwrap_or(0);
    let compound_id = compound.id();
    {
        let mut replica = Replica::open_with(&path, key).unwrap();
        replica.set_identity(person).unwrap();
        replica.adopt(compound, Role::Coordinator).unwrap();
    }
    let mut opens: Vec<Duration> =
        (0..5).map(|_| timed(|| Replica::open_with(&path, key).unwrap()).1).collect();
    println!(
        "| replica open, {label} (SQLite → documents; median of 5) | {} |",
        ms(percentile(&mut opens, 50.0))
    );
    let mut replica = Replica::open_with(&path, key).unwrap();
    let tasks = replica.compound(compound_id).unwrap().open_tasks();
    let households = replica.compound(compound_id).unwrap().households();
    let mut attempt = Vec::with_capacity(ops);
    for i in 0..ops {
        let t = &tasks[i % tasks.len()];
        let op = Operation::RecordAttempt {
            round: t.round,
            task: t.id,
            outcome: Outcome::Delivered,
            note: format!("第{i}次"),
        };
        attempt.push(timed(|| replica.apply(now, compound_id, &op).unwrap()).1);
    }
    let mut notes = Vec::with_capacity(ops);
    for i in 0..ops {
        let h = &households[i % households.len()];
        let op = Operation::EditNotes { household: h.id, notes: format!("{} 已联系 {i}", h.notes) };
        notes.push(timed(|| replica.apply(now, compound_id, &op).unwrap()).1);
    }
    println!(
        "| record attempt incl. durable write, {label}, p50 / p99 | {} / {} |",
        ms(percentile(&mut attempt, 50.0)),
        ms(percentile(&mut attempt, 99.0))
    );
    println!(
        "| edit notes incl. durable write, {label}, p50 / p99 | {} / {} |",
        ms(percentile(&mut notes, 50.0)),
        ms(percentile(&mut notes, 99.0))
    );
    let rss_after = resident_memory().unwrap_or(0);
    println!(
        "| resident memory, replica open, {label} | {} (process {}) |",
        kib(rss_after.saturating_sub(rss_before)),
        kib(rss_after)
    );
    let file = std::fs::metadata(&path).map(|m| m.len() as usize).unwrap_or(0);
    println!("| SQLite file after the operations, {label} | {} |", kib(file));
}

/// A compound shaped like the samples: one estate, 25 buildings × 4 units × 10 floors × 3 flats.
fn synthetic(n: usize) -> RosterPreview {
    let mut households = Vec::with_capacity(n);
    for i in 0..n {
        let building = i / 120 + 1;
        let unit = (i / 30) % 4 + 1;
        let floor = (i / 3) % 10 + 1;
        let flat = format!("{floor}{:02}", i % 3 + 1);
        let needs = match i % 37 {
            0 => [NeedTag::ElderlyAlone].into(),
            1 => [NeedTag::Dialysis].into(),
            2 => [NeedTag::MobilityImpaired, NeedTag::ElderlyAlone].into(),
            _ => Default::default(),
        };
        let status = match i % 23 {
            0 => ControlStatus::HomeQuarantine,
            1 => ControlStatus::CentralQuarantine,
            2 => ControlStatus::HomeMonitoring,
            _ => ControlStatus::Normal,
        };
        households.push(ImportedRow {
            line: i + 2,
            draft: HouseholdDraft {
                address: Address {
                    estate: "合成小区".into(),
                    building: building.to_string(),
                    unit: unit.to_string(),
                    floor: floor as i32,
                    flat,
                },
                head: format!("户主{i}"),
                phone: format!("199{:08}", i),
                people: Some((i % 5) as u32 + 1),
                // No more over-60s than people: the roster refuses a household with more.
                aged_60_plus: ((i % 3) as u32).min((i % 5) as u32 + 1),
                children_under_6: (i % 7 == 0) as u32,
                needs,
                status,
                lift: false,
                notes: if i % 11 == 0 { "高层无电梯,需送货上门".into() } else { String::new() },
            },
            stated: RosterColumn::ALL.into_iter().collect(),
            version: None,
        });
    }
    RosterPreview { households, ..Default::default() }
}
