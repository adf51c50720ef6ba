//! Phones and the relay converge: whatever each phone did offline, however the network lost,
//! repeated, reordered or replayed the batches, once everyone syncs on a good network every
//! phone holds the same documents as the hub (those it may hold) and every query answers the
//! same, and every change a phone acknowledged to its user is on the hub. Plus the batched
//! protocol's costs: a reconnect with nothing new is one small request; an offline backlog
//! against a busy hub is in sync after two.
//!
//! Runs the real `ClientSession` against a hub that answers like the relay, through the real
//! CBOR encoding (see `network/`). The property's case count comes from
//! `DOORSTEP_PROPTEST_CASES` (default 1000).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod network;
mod support;

use std::collections::BTreeSet;

use doorstep_core::id::{DocumentId, PersonId};
use doorstep_core::query::{Conflict, Counts, Door, conflicts, counts, doors_for};
use doorstep_core::schema::household::Household;
use doorstep_core::schema::need_tag::NeedTag;
use doorstep_core::schema::request::{CareDraft, Request};
use doorstep_core::schema::task::{RoundInfo, Task};
use doorstep_core::schema::vocabulary::{
    Category, Channel, DocKind, Outcome, Priority, TaskKind, TaskStatus, Urgency,
};
use doorstep_core::{Actor, Compound, Operation, Role, Selection, Timestamp};
use network::{Faults, Hub, Network, PhoneId, actions};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use support::{Fixture, MORNING, person};

/// A network around a hub holding the fixture compound, with one phone per role in `roles`
/// (people 100, 101, ...).
fn network(seed: u64, faults: Faults, roles: &[Role]) -> Network {
    network_after(seed, faults, roles, |_| {})
}

/// The same, after `setup` has made operations on the hub's copy (as the relay's admin tools
/// would).
fn network_after(seed: u64, faults: Faults, roles: &[Role], setup: impl FnOnce(&mut Fixture)) -> Network {
    let mut fx = Fixture::seeded(seed);
    setup(&mut fx);
    network_from(fx.compound, seed, faults, roles)
}

fn network_from(compound: Compound, seed: u64, faults: Faults, roles: &[Role]) -> Network {
    let mut net = Network::new(Hub::new(compound), faults, seed);
    for (i, role) in roles.iter().enumerate() {
        net.add_phone(Actor { person: person(100 + i as u128), role: *role });
    }
    net
}

fn phone_ids(net: &Network) -> Vec<PhoneId> {
    net.phones.iter().map(|p| p.id).collect()
}

/// What a compound answers to every query a phone or the dashboard asks.
#[derive(Debug, PartialEq)]
struct Answers {
    households: Vec<Household>,
    rounds: Vec<RoundInfo>,
    tasks: Vec<Task>,
    statuses: Vec<TaskStatus>,
    requests: Vec<Request>,
    counts: Counts,
    conflicts: Vec<Conflict>,
    doors: Vec<Door>,
}

impl Answers {
    fn of(c: &Compound) -> Self {
        let tasks = c.tasks();
        Self {
            households: c.households(),
            rounds: c.round_infos(),
            statuses: tasks.iter().map(|t| t.status()).collect(),
            tasks,
            requests: c.requests(),
            counts: counts(c),
            conflicts: conflicts(c),
            doors: doors_for(c, None),
        }
    }
}

/// Every phone holds exactly the documents it may hold, with the hub's heads, and every query
/// answers as it does on the hub.
fn assert_converged(net: &Network) {
    let hub = net.hub.compound();
    let expected = Answers::of(hub);
    for phone in &net.phones {
        let role = phone.actor.role;
        let c = phone.compound();
        let granted: BTreeSet<DocumentId> = net.hub.grants(role).iter().map(|g| g.header.id).collect();
        let held: BTreeSet<DocumentId> = c.documents().map(|d| d.id()).collect();
        assert_eq!(held, granted, "phone {:?} ({role:?}) holds what it may hold", phone.id);
        for id in &granted {
            let (mine, theirs) = (c.document(*id).unwrap(), hub.document(*id).unwrap());
            assert!(!mine.is_placeholder(), "{id} was fetched");
            assert_eq!(mine.heads(), theirs.heads(), "phone {:?}: {} {id} heads", phone.id, mine.kind());
        }
        assert_eq!(Answers::of(c), expected, "phone {:?} ({role:?}) answers as the hub does", phone.id);
        if role.reads_care() {
            assert_eq!(c.care_entries(), hub.care_entries());
        } else {
            assert!(!phone.holds_care(), "a volunteer never holds the care ledger");
        }
        for (id, made) in &phone.made {
            let doc = hub
                .document(*id)
                .unwrap_or_else(|| panic!("{id}, written on {:?}, never reached the hub", phone.id));
            for hash in made {
                assert!(
                    doc.automerge().get_change_meta_by_hash(hash).is_some(),
                    "a change phone {:?} made to {} {id} never reached the hub",
                    phone.id,
                    doc.kind()
                );
            }
        }
    }
}

#[test]
fn a_new_phone_fetches_what_it_may_hold() {
    let mut net = network(1, Faults::NONE, &[Role::Coordinator, Role::Volunteer, Role::Medic]);
    for id in phone_ids(&net) {
        let report = net.clean_session(id);
        assert!(report.completed);
        assert!(report.requests <= 3, "{:?}: fetched in {} requests", id, report.requests);
        eprintln!(
            "first sync of {id:?}: {} requests, response bytes {:?}",
            report.requests, report.response_bytes
        );
    }
    assert_converged(&net);
    assert_eq!(net.phones[0].compound().households().len(), support::HOUSEHOLDS.len());
    assert!(net.phones[0].compound().single(DocKind::Care).is_some());
    assert!(net.phones[1].compound().single(DocKind::Care).is_none());
    assert!(net.phones[2].compound().single(DocKind::Care).is_some());
}

#[test]
fn reconnecting_with_nothing_new_is_one_small_request() {
    let mut net = network(2, Faults::NONE, &[Role::Coordinator, Role::Volunteer]);
    let coordinator = PhoneId(0);
    net.run_until_quiescent();
    let op = Operation::CreateRound {
        title: "第1轮".into(),
        kind: TaskKind::Groceries,
        date: String::new(),
        selection: Selection::All,
        items: String::new(),
        priority: Priority::Normal,
    };
    net.phone(coordinator).apply(&op).unwrap();
    net.run_until_quiescent();
    assert_converged(&net);
    for id in phone_ids(&net) {
        let docs = net.phones[usize::from(id.0)].compound().documents().count();
        let report = net.clean_session(id);
        assert!(report.completed);
        assert!(!report.changed);
        assert_eq!(report.requests, 1, "{id:?}: a reconnect with nothing new is one request");
        let (request, response) = (report.request_bytes[0], report.response_bytes[0]);
        eprintln!(
            "idle reconnect of {id:?}: {docs} documents, request {request} B ({} B/doc), response {response} B ({} B/doc)",
            request / docs,
            response / docs
        );
        assert!(request / docs <= 160, "request {request} B for {docs} documents");
        assert!(response / docs <= 320, "response {response} B for {docs} documents");
    }
}

#[test]
fn an_offline_backlog_syncs_in_two_requests() {
    let mut net = network(3, Faults::NONE, &[Role::Coordinator, Role::Volunteer]);
    let (coordinator, volunteer) = (PhoneId(0), PhoneId(1));
    let op = Operation::CreateRound {
        title: "第1轮".into(),
        kind: TaskKind::Groceries,
        date: String::new(),
        selection: Selection::All,
        items: String::new(),
        priority: Priority::Normal,
    };
    net.run_until_quiescent();
    net.phone(coordinator).apply(&op).unwrap();
    net.run_until_quiescent();

    // The volunteer works offline: 20 edits over the roster, the round and the requests.
    let households = net.phones[1].compound().households();
    let tasks = net.phones[1].compound().tasks();
    for i in 0..20 {
        let phone = net.phone(volunteer);
        phone.env.advance(60_000);
        let h = &households[i % households.len()];
        let op = match i % 4 {
            0 => Operation::EditNotes { household: h.id, notes: format!("{}; 第{i}次", h.notes) },
            1 => Operation::AddRequest {
                household: h.id,
                channel: Channel::Door,
                category: Category::Medicine,
                text: format!("要药{i}"),
                urgency: Urgency::Normal,
            },
            _ => {
                let t = &tasks[i % tasks.len()];
                Operation::RecordAttempt {
                    round: t.round,
                    task: t.id,
                    outcome: Outcome::NobodyHome,
                    note: format!("{i}"),
                }
            }
        };
        phone.apply(&op).unwrap();
    }
    // Meanwhile the coordinator makes 20 edits that reach the hub.
    for (i, h) in households.iter().cycle().take(20).enumerate() {
        let phone = net.phone(coordinator);
        phone.env.advance(60_000);
        let op = if i % 2 == 0 {
            Operation::EditNotes { household: h.id, notes: format!("协调员{i}") }
        } else {
            Operation::AddTask {
                round: tasks[0].round,
                household: h.id,
                kind: TaskKind::Garbage,
                items: format!("垃圾{i}"),
                priority: Priority::Normal,
                request: None,
            }
        };
        phone.apply(&op).unwrap();
    }
    assert_eq!((net.phones[0].made.len(), net.phones[1].made.len()), (21, 20), "20 changes on each side");
    assert!(net.clean_session(coordinator).completed);

    let report = net.clean_session(volunteer);
    eprintln!(
        "backlog of 20 against 20: {} requests, request bytes {:?}, response bytes {:?}",
        report.requests, report.request_bytes, report.response_bytes
    );
    assert!(report.completed);
    assert_eq!(report.requests, 2, "in sync after two requests (the third request() is None)");
    let phone = &net.phones[1];
    for doc in phone.compound().documents() {
        assert_eq!(
            doc.heads(),
            net.hub.compound().document(doc.id()).unwrap().heads(),
            "{} in sync",
            doc.kind()
        );
    }
    net.run_until_quiescent();
    assert_converged(&net);
    let notes = &net.hub.compound().households()[0].notes;
    assert!(notes.contains("协调员18") && notes.contains("第12次"), "both sides' notes merged: {notes}");
}

#[test]
fn a_round_created_on_a_phone_reaches_everyone() {
    let mut net = network(4, Faults::NONE, &[Role::Coordinator, Role::Volunteer]);
    net.run_until_quiescent();
    let op = Operation::CreateRound {
        title: "药品 第1轮".into(),
        kind: TaskKind::Medicine,
        date: String::new(),
        selection: Selection::Need { need: NeedTag::Dialysis },
        items: String::new(),
        priority: Priority::Urgent,
    };
    let round = net.phone(PhoneId(0)).apply(&op).unwrap().created[0];
    let report = net.clean_session(PhoneId(0));
    assert!(report.completed);
    assert!(
        net.phones[0].compound().document(round).is_some(),
        "the phone keeps the round it created while the relay has not got it yet"
    );
    assert!(net.hub.compound().document(round).is_some(), "the round reached the hub in one session");
    net.clean_session(PhoneId(1));
    let task = net.phones[1]
        .compound()
        .tasks()
        .into_iter()
        .find(|t| t.round == round)
        .expect("the round reached the volunteer");
    net.phone(PhoneId(1)).apply(&Operation::ClaimTask { round, task: task.id }).unwrap();
    net.run_until_quiescent();
    assert_converged(&net);
    assert_eq!(net.hub.compound().tasks()[0].status(), TaskStatus::Assigned);
}

#[test]
fn a_document_no_longer_granted_leaves_the_phone_but_a_new_one_stays() {
    let mut old = None;
    let mut net = network_after(6, Faults::NONE, &[Role::Coordinator, Role::Volunteer], |fx| {
        old = Some(fx.round("第1轮", Selection::All));
    });
    let old = old.unwrap();
    net.run_until_quiescent();
    assert!(net.phones.iter().all(|p| p.compound().document(old).is_some()));

    // The relay stops listing the old round while the coordinator, offline, creates a new one.
    let op = Operation::CreateRound {
        title: "第2轮".into(),
        kind: TaskKind::Groceries,
        date: String::new(),
        selection: Selection::All,
        items: String::new(),
        priority: Priority::Normal,
    };
    let new = net.phone(PhoneId(0)).apply(&op).unwrap().created[0];
    net.hub.withhold(old);
    assert!(net.clean_session(PhoneId(0)).completed);
    let coordinator = net.phones[0].compound();
    assert!(coordinator.document(old).is_none(), "a round the relay no longer lists is dropped");
    assert!(coordinator.document(new).is_some(), "a round the relay has not got yet is kept");
    assert!(net.hub.compound().document(new).is_some(), "and it reached the relay");
    assert!(net.hub.compound().document(old).is_some(), "the relay keeps what phones drop");

    assert!(net.clean_session(PhoneId(1)).completed);
    let volunteer = net.phones[1].compound();
    assert!(volunteer.document(old).is_none());
    assert_eq!(
        volunteer.document(new).map(|d| d.heads()),
        net.hub.compound().document(new).map(|d| d.heads())
    );
}

#[test]
fn lost_retried_reordered_and_replayed_batches_lose_nothing() {
    let mut net = network(5, Faults::NONE, &[Role::Coordinator, Role::Volunteer]);
    net.run_until_quiescent();
    let round = {
        let op = Operation::CreateRound {
            title: "第1轮".into(),
            kind: TaskKind::Groceries,
            date: String::new(),
            selection: Selection::All,
            items: String::new(),
            priority: Priority::Normal,
        };
        net.phone(PhoneId(0)).apply(&op).unwrap().created[0]
    };
    net.run_until_quiescent();
    let task = net.phones[1].compound().tasks()[0].clone();
    let deliver =
        Operation::RecordAttempt { round, task: task.id, outcome: Outcome::Delivered, note: "门口".into() };
    net.phone(PhoneId(1)).apply(&deliver).unwrap();

    let lost_request = Faults { drop_request: 1.0, ..Faults::NONE };
    let handled = net.hub.handled;
    let report = net.session_with(PhoneId(1), lost_request);
    assert!(!report.completed && report.requests == 1);
    assert_eq!(net.hub.handled, handled, "the hub never saw it");

    let lost_response = Faults { drop_response: 1.0, ..Faults::NONE };
    for _ in 0..2 {
        let report = net.session_with(PhoneId(1), lost_response);
        assert!(!report.completed && report.requests == 1);
    }

    let everything_else = Faults { duplicate_request: 1.0, reorder: 1.0, replay_old: 1.0, ..Faults::NONE };
    let report = net.session_with(PhoneId(1), everything_else);
    assert!(report.completed, "retries, reordering and late replays do not stop a session");
    let on_hub = net.hub.compound().tasks().into_iter().find(|t| t.id == task.id).unwrap();
    assert_eq!(on_hub.attempts.len(), 1, "a retried change is applied once");
    assert_eq!(on_hub.status(), TaskStatus::Delivered);
    net.run_until_quiescent();
    assert_converged(&net);
}

// ---- the property ----

#[derive(Debug, Clone, Copy)]
enum Step {
    /// The phone makes one operation, chosen from what it holds by a generator seeded `pick`.
    Act { phone: usize, pick: u64 },
    /// The phone syncs once over the flaky network.
    Sync { phone: usize },
}

#[derive(Debug, Clone)]
struct Case {
    roles: Vec<Role>,
    seed: u64,
    steps: Vec<Step>,
}

fn case() -> impl Strategy<Value = Case> {
    let role = prop_oneof![
        Just(Role::Coordinator),
        Just(Role::Medic),
        Just(Role::Volunteer),
        Just(Role::Volunteer),
        Just(Role::Admin)
    ];
    (prop::collection::vec(role, 2..=7), any::<u64>()).prop_flat_map(|(others, seed)| {
        let roles: Vec<Role> = std::iter::once(Role::Coordinator).chain(others).collect();
        let n = roles.len();
        let acts = prop::collection::vec((0..n, any::<u64>()), 5..=25);
        let syncs = prop::collection::vec((0..n, any::<u16>()), 0..=15);
        (Just(roles), Just(seed), acts, syncs).prop_map(|(roles, seed, acts, syncs)| {
            let mut steps: Vec<Step> =
                acts.into_iter().map(|(phone, pick)| Step::Act { phone, pick }).collect();
            for (phone, at) in syncs {
                steps.insert(usize::from(at) % (steps.len() + 1), Step::Sync { phone });
            }
            Case { roles, seed, steps }
        })
    })
}

/// What a case did, to check that the property exercises what it claims to.
#[derive(Debug, Default)]
struct Tally {
    applied: usize,
    refused: usize,
    sessions: usize,
    interrupted: usize,
    rounds_from_phones: usize,
    conflicts: usize,
}

/// Where every case starts: the fixture with an open round and a care entry. Built once; each
/// case's phones draw their own IDs from the case's seed.
fn property_start() -> &'static Compound {
    static START: std::sync::OnceLock<Compound> = std::sync::OnceLock::new();
    START.get_or_init(|| {
        let mut fx = Fixture::seeded(0);
        fx.round("第1轮", Selection::All);
        let (medic, household) = (fx.people.medic, fx.household("10-1-201"));
        let draft = CareDraft {
            household,
            person_name: "陈刚".into(),
            condition: NeedTag::Dialysis,
            schedule: "每周二、四、六".into(),
            medicines: String::new(),
            insurance_card_held_by: None,
            notes: String::new(),
        };
        fx.ok(&medic, &Operation::AddCareEntry { draft });
        fx.compound
    })
}

fn run(case: &Case) -> Tally {
    let mut tally = Tally::default();
    let mut net = network_from(property_start().clone(), case.seed, Faults::FLAKY, &case.roles);
    let people: Vec<PersonId> = net.phones.iter().map(|p| p.actor.person).collect();
    let rounds_at_start = net.hub.compound().rounds().count();
    let sync = |net: &mut Network, phone: usize, tally: &mut Tally| {
        let report = net.session(PhoneId(u8::try_from(phone).unwrap()));
        tally.sessions += 1;
        tally.interrupted += usize::from(!report.completed);
    };
    for phone in 0..case.roles.len() {
        sync(&mut net, phone, &mut tally);
    }
    let mut clock = StdRng::seed_from_u64(case.seed ^ 0xC10C);
    let mut now = MORNING.as_millis();
    for (i, step) in case.steps.iter().enumerate() {
        now += clock.random_range(1_000..120_000);
        match *step {
            Step::Act { phone, pick } => {
                let p = net.phone(PhoneId(u8::try_from(phone).unwrap()));
                p.env.set_now(Timestamp::from_millis(now));
                let mut rng = StdRng::seed_from_u64(pick);
                let op =
                    actions::choose(&mut rng, p.actor.role, p.compound(), &people, &format!("p{phone}s{i}"));
                match p.apply(&op) {
                    Ok(_) => tally.applied += 1,
                    Err(_) => tally.refused += 1,
                }
            }
            Step::Sync { phone } => sync(&mut net, phone, &mut tally),
        }
    }
    net.run_until_quiescent();
    assert_converged(&net);
    tally.rounds_from_phones = net.hub.compound().rounds().count() - rounds_at_start;
    tally.conflicts = conflicts(net.hub.compound()).len();
    tally
}

/// `DOORSTEP_PROPTEST_CASES` (default 1000), split over the two tests below so that the default
/// run keeps both cores busy.
fn half_of_the_cases() -> ProptestConfig {
    let cases: u32 =
        std::env::var("DOORSTEP_PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    ProptestConfig::with_cases(cases.div_ceil(2))
}

proptest! {
    #![proptest_config(half_of_the_cases())]

    #[test]
    fn phones_and_the_relay_converge(case in case()) {
        run(&case);
    }

    #[test]
    fn phones_and_the_relay_converge_second_half(case in case()) {
        run(&case);
    }
}

/// The property is only as good as what it does: over a few fixed cases, operations succeed
/// and are refused, sessions are interrupted, phones create rounds and conflicts arise.
#[test]
fn the_property_exercises_what_it_claims() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = case();
    let mut total = Tally::default();
    for _ in 0..30 {
        let case = strategy.new_tree(&mut runner).unwrap().current();
        let t = run(&case);
        total.applied += t.applied;
        total.refused += t.refused;
        total.sessions += t.sessions;
        total.interrupted += t.interrupted;
        total.rounds_from_phones += t.rounds_from_phones;
        total.conflicts += t.conflicts;
    }
    eprintln!("{total:?}");
    assert!(total.applied > 200, "{total:?}");
    assert!(total.refused > 20, "{total:?}");
    assert!(total.interrupted > 10, "{total:?}");
    assert!(total.rounds_from_phones > 5, "{total:?}");
    assert!(total.conflicts > 0, "{total:?}");
}
