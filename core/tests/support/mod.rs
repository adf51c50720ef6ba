//! Shared helpers for the core's integration tests: a deterministic environment (seeded entropy,
//! a clock the test sets), one actor per role, and a small compound built through real
//! operations, so that every test starts from documents shaped exactly as the app makes them.
//!
//! Each test binary uses a different subset of these helpers.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod bombs;
pub mod crafted;

use std::collections::{BTreeMap, BTreeSet};

use automerge::{ActorId, ChangeHash};
use doorstep_core::document::{Document, Header};
use doorstep_core::id::{DocumentId, HouseholdId, PersonId, TaskId};
use doorstep_core::schema::address::{Address, floor_of_flat};
use doorstep_core::schema::control_status::ControlStatus;
use doorstep_core::schema::household::HouseholdDraft;
use doorstep_core::schema::need_tag::NeedTag;
use doorstep_core::schema::task::Task;
use doorstep_core::schema::vocabulary::{Priority, TaskKind};
use doorstep_core::sync::{MessageLimits, PeerState, decode, generate, receive};
use doorstep_core::{Actor, Applied, Compound, Env, Operation, OperationError, Role, Selection, Timestamp};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// 2026-11-23T08:00:00+08:00, the morning of a delivery round.
pub const MORNING: Timestamp = Timestamp::from_millis(1_795_392_000_000);

/// A deterministic outside world: IDs come from a seeded generator, time from a clock the test
/// sets. Two `TestEnv`s with the same seed make the same IDs.
pub struct TestEnv {
    now: Timestamp,
    entropy: Box<dyn FnMut() -> u128>,
}

impl std::fmt::Debug for TestEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestEnv").field("now", &self.now).finish_non_exhaustive()
    }
}

impl TestEnv {
    /// An environment at [`MORNING`] whose entropy is seeded with `seed`.
    pub fn seeded(seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        Self { now: MORNING, entropy: Box::new(move || rng.random::<u128>()) }
    }

    /// The `Env` an operation takes.
    pub fn env(&mut self) -> Env<'_> {
        Env::new(self.now, &mut self.entropy)
    }

    /// The clock's time.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Sets the clock.
    pub fn set_now(&mut self, now: Timestamp) {
        self.now = now;
    }

    /// Moves the clock forward by `millis`.
    pub fn advance(&mut self, millis: i64) {
        self.now = Timestamp::from_millis(self.now.as_millis() + millis);
    }
}

/// A person with a fixed ID (`n`) in `role`.
pub fn actor(role: Role, n: u128) -> Actor {
    Actor { person: person(n), role }
}

/// The person with the fixed ID `n`.
pub fn person(n: u128) -> PersonId {
    PersonId::from_uuid(uuid::Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 | n))
}

/// A device's Automerge actor, fixed by `n`.
pub fn device(n: u8) -> ActorId {
    ActorId::from([0xD0, n, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, n])
}

/// One actor for each role, plus a second coordinator and a second volunteer for the
/// concurrency tests.
#[derive(Debug, Clone, Copy)]
pub struct People {
    /// District admin who created the compound.
    pub admin: Actor,
    /// The compound's coordinator.
    pub coordinator: Actor,
    /// A second coordinator.
    pub coordinator2: Actor,
    /// The area doctor.
    pub medic: Actor,
    /// A volunteer.
    pub volunteer: Actor,
    /// Another volunteer.
    pub volunteer2: Actor,
}

impl Default for People {
    fn default() -> Self {
        Self {
            admin: actor(Role::Admin, 1),
            coordinator: actor(Role::Coordinator, 2),
            coordinator2: actor(Role::Coordinator, 3),
            medic: actor(Role::Medic, 4),
            volunteer: actor(Role::Volunteer, 5),
            volunteer2: actor(Role::Volunteer, 6),
        }
    }
}

impl People {
    /// One actor per role, in the order admin, coordinator, medic, volunteer.
    pub fn each_role(&self) -> [Actor; 4] {
        [self.admin, self.coordinator, self.medic, self.volunteer]
    }

    /// The actor of `role`.
    pub fn of(&self, role: Role) -> Actor {
        match role {
            Role::Admin => self.admin,
            Role::Coordinator => self.coordinator,
            Role::Medic => self.medic,
            Role::Volunteer => self.volunteer,
        }
    }
}

/// A household draft at `address` written "building-unit-flat"; the floor follows the flat.
pub fn draft(address: &str) -> HouseholdDraft {
    let parts: Vec<&str> = address.split('-').collect();
    let [building, unit, flat] = parts.as_slice() else { panic!("fixture address {address:?}") };
    HouseholdDraft {
        address: Address {
            estate: String::new(),
            building: (*building).to_owned(),
            unit: (*unit).to_owned(),
            floor: floor_of_flat(flat).unwrap_or(1),
            flat: (*flat).to_owned(),
        },
        head: format!("户主{flat}"),
        phone: String::new(),
        people: Some(1),
        aged_60_plus: 0,
        children_under_6: 0,
        needs: BTreeSet::new(),
        status: ControlStatus::Normal,
        lift: false,
        notes: String::new(),
    }
}

/// One household of the fixture.
pub struct FixtureHousehold {
    /// "building-unit-flat".
    pub address: &'static str,
    /// 户主.
    pub head: &'static str,
    /// People, aged 60+, children under 6.
    pub counts: (u32, u32, u32),
    /// Need tags.
    pub needs: &'static [NeedTag],
    /// Control status.
    pub status: ControlStatus,
    /// Whether the building has a lift.
    pub lift: bool,
}

/// The fixture's households: two buildings ("2" without lift, "10" with one), units, floors
/// whose numbers sort differently as text (902 before 1001), needs and statuses.
pub const HOUSEHOLDS: &[FixtureHousehold] = &[
    FixtureHousehold {
        address: "2-1-101",
        head: "王建国",
        counts: (3, 1, 0),
        needs: &[],
        status: ControlStatus::Normal,
        lift: false,
    },
    FixtureHousehold {
        address: "2-1-302",
        head: "李秀英",
        counts: (1, 1, 0),
        needs: &[NeedTag::ElderlyAlone, NeedTag::MobilityImpaired],
        status: ControlStatus::HomeQuarantine,
        lift: false,
    },
    FixtureHousehold {
        address: "2-2-101",
        head: "赵敏",
        counts: (4, 0, 1),
        needs: &[],
        status: ControlStatus::Normal,
        lift: false,
    },
    FixtureHousehold {
        address: "10-1-201",
        head: "陈刚",
        counts: (2, 0, 0),
        needs: &[NeedTag::Dialysis],
        status: ControlStatus::Confirmed,
        lift: true,
    },
    FixtureHousehold {
        address: "10-1-1001",
        head: "刘洋",
        counts: (3, 0, 1),
        needs: &[NeedTag::Pregnant],
        status: ControlStatus::CentralQuarantine,
        lift: true,
    },
    FixtureHousehold {
        address: "10-1-902",
        head: "孙丽",
        counts: (2, 2, 0),
        needs: &[],
        status: ControlStatus::HomeMonitoring,
        lift: true,
    },
];

/// The fixture's addresses in climbing order (building → unit → floor → flat, by number).
pub const CLIMBING_ORDER: &[&str] = &["2-1-101", "2-1-302", "2-2-101", "10-1-201", "10-1-902", "10-1-1001"];

/// The draft of one fixture household.
pub fn fixture_draft(h: &FixtureHousehold) -> HouseholdDraft {
    let mut d = draft(h.address);
    d.head = h.head.to_owned();
    d.phone = format!("138{:08}", h.address.len());
    let people;
    (people, d.aged_60_plus, d.children_under_6) = h.counts;
    d.people = Some(people);
    d.needs = h.needs.iter().copied().collect();
    d.status = h.status;
    d.lift = h.lift;
    d.notes = format!("{}家", h.head);
    d
}

/// A compound "幸福里社区" created by the admin, with the [`HOUSEHOLDS`] added by the
/// coordinator, all through real operations.
pub struct Fixture {
    /// The deterministic environment every operation uses.
    pub env: TestEnv,
    /// Who acts.
    pub people: People,
    /// The compound's documents, as the admin's device holds them.
    pub compound: Compound,
    households: BTreeMap<&'static str, HouseholdId>,
}

impl std::fmt::Debug for Fixture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fixture").field("compound", &self.compound.id()).finish_non_exhaustive()
    }
}

impl Default for Fixture {
    fn default() -> Self {
        Self::seeded(7)
    }
}

impl Fixture {
    /// The fixture, with IDs drawn from `seed`.
    pub fn seeded(seed: u64) -> Self {
        let mut env = TestEnv::seeded(seed);
        let people = People::default();
        let compound = Compound::create(&mut env.env(), &people.admin, device(1), "幸福里社区")
            .expect("the admin creates the compound");
        let mut fixture = Self { env, people, compound, households: BTreeMap::new() };
        for h in HOUSEHOLDS {
            let applied =
                fixture.ok(&people.coordinator, &Operation::AddHousehold { draft: fixture_draft(h) });
            let id = applied.new_entity.expect("AddHousehold names the household").parse().unwrap();
            fixture.households.insert(h.address, id);
        }
        fixture
    }

    /// The ID of the fixture household at "building-unit-flat".
    pub fn household(&self, address: &str) -> HouseholdId {
        *self.households.get(address).unwrap_or_else(|| panic!("no fixture household {address}"))
    }

    /// The fixture address of a household ID.
    pub fn address_of(&self, id: HouseholdId) -> &'static str {
        self.households.iter().find(|(_, h)| **h == id).map(|(a, _)| *a).expect("a fixture household")
    }

    /// Applies `op` as `actor` one second after the previous operation.
    pub fn apply(&mut self, actor: &Actor, op: &Operation) -> Result<Applied, OperationError> {
        self.env.advance(1000);
        self.compound.apply(&mut self.env.env(), actor, op)
    }

    /// Applies `op`, which must succeed.
    pub fn ok(&mut self, actor: &Actor, op: &Operation) -> Applied {
        self.apply(actor, op).unwrap_or_else(|e| panic!("{op:?} as {:?} failed: {e}", actor.role))
    }

    /// Creates a groceries round over `selection` as the coordinator.
    pub fn round(&mut self, title: &str, selection: Selection) -> DocumentId {
        let coordinator = self.people.coordinator;
        let op = Operation::CreateRound {
            title: title.to_owned(),
            kind: TaskKind::Groceries,
            date: "2026-11-23".to_owned(),
            selection,
            items: "蔬菜包1份".to_owned(),
            priority: Priority::Normal,
        };
        self.ok(&coordinator, &op).created[0]
    }

    /// The tasks of one round.
    pub fn tasks(&self, round: DocumentId) -> Vec<Task> {
        self.compound.tasks().into_iter().filter(|t| t.round == round).collect()
    }

    /// The task of `round` at the fixture address.
    pub fn task_at(&self, round: DocumentId, address: &str) -> TaskId {
        let household = self.household(address);
        self.tasks(round)
            .into_iter()
            .find(|t| t.household == household)
            .unwrap_or_else(|| panic!("no task at {address} in round {round}"))
            .id
    }

    /// One task, as the compound holds it now.
    pub fn task(&self, id: TaskId) -> Task {
        self.compound.tasks().into_iter().find(|t| t.id == id).expect("the task exists")
    }
}

/// Every document's heads: if an operation failed, these must not have moved.
pub fn heads(compound: &Compound) -> BTreeMap<DocumentId, Vec<ChangeHash>> {
    compound.documents().map(|d| (d.id(), d.heads())).collect()
}

/// Runs an operation that must fail, and checks that it changed no document (and created none).
pub fn refused(
    compound: &mut Compound,
    f: impl FnOnce(&mut Compound) -> Result<Applied, OperationError>,
) -> OperationError {
    let before = heads(compound);
    let result = f(compound);
    assert_eq!(heads(compound), before, "a failed operation changed the documents");
    match result {
        Ok(applied) => panic!("expected an error, got {applied:?}"),
        Err(e) => e,
    }
}

/// A copy of `compound` on another device (actor `device`), as if a phone had synced it and
/// then gone offline: every document is reloaded from its saved bytes.
pub fn fork(compound: &Compound, device: ActorId) -> Compound {
    let mut copy = Compound::new(compound.id(), device.clone());
    for doc in compound.documents() {
        copy.insert(
            Document::load(*doc.header(), &doc.save(), device.clone()).expect("reload a saved document"),
        );
    }
    copy
}

/// Syncs two compounds with the real Automerge sync protocol (messages encoded to bytes and
/// decoded), document by document, until neither side has anything to say. A document only
/// one side holds (a round created after the fork) reaches the other through a placeholder.
pub fn sync_pair(a: &mut Compound, b: &mut Compound) {
    let headers: BTreeMap<DocumentId, Header> =
        a.headers().into_iter().chain(b.headers()).map(|h| (h.id, h)).collect();
    for header in headers.values() {
        for side in [&mut *a, &mut *b] {
            if side.document(header.id).is_none() {
                let actor = side.device().clone();
                side.insert(Document::placeholder(*header, actor));
            }
        }
    }
    for header in headers.into_values() {
        let (mut state_a, mut state_b) = (PeerState::new(), PeerState::new());
        for round in 0.. {
            assert!(round < 20, "sync of {} did not settle", header.id);
            let da = a.document_mut(header.id).unwrap();
            let to_b = generate(da.automerge(), &mut state_a);
            let db = b.document_mut(header.id).unwrap();
            if let Some(bytes) = &to_b {
                receive(db.automerge_mut(), &mut state_b, decode(bytes, &MessageLimits::default()).unwrap())
                    .unwrap();
            }
            let to_a = generate(db.automerge(), &mut state_b);
            let da = a.document_mut(header.id).unwrap();
            if let Some(bytes) = &to_a {
                receive(da.automerge_mut(), &mut state_a, decode(bytes, &MessageLimits::default()).unwrap())
                    .unwrap();
            }
            if to_a.is_none() && to_b.is_none() {
                break;
            }
        }
        for side in [&mut *a, &mut *b] {
            side.document_mut(header.id).unwrap().adopt_synced().expect("synced document has its header");
        }
        assert_eq!(a.document(header.id).unwrap().heads(), b.document(header.id).unwrap().heads());
    }
}
