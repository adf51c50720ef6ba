//! What each fuzz target does with one input. Shared, by `#[path]`, between the cargo-fuzz
//! binaries (`fuzz/fuzz_targets/`) and the stable test that replays the committed corpus and
//! every crash (`server/tests/relay/fuzz_replay.rs`), so both run exactly the same code.
//!
//! Neither may panic on any input: a panic is a crash the fuzzer reports.

use std::collections::HashMap;
use std::sync::OnceLock;

use automerge::{ActorId, Automerge};
use doorstep_core::document::{Document, Header};
use doorstep_core::id::PersonId;
use doorstep_core::relay_engine::{self as engine, Unlimited};
use doorstep_core::schema::vocabulary::{Outcome, Priority, TaskKind};
use doorstep_core::sync::{self, MessageLimits, PeerState, SyncRequest};
use doorstep_core::{Actor, Compound, Env, Operation, Role, Selection, Timestamp, validate};

/// Target `sync_request`: a request body as the relay reads it (CBOR, wire version), then each
/// document message through the checker, Automerge's decoder, the change reader, and the sync
/// protocol against an empty document.
pub fn sync_request(data: &[u8]) {
    let Ok(request) = SyncRequest::decode(data) else { return };
    for message in &request.messages {
        one_message(&message.message);
    }
    // Raw bytes are also tried as one message, so the fuzzer need not learn CBOR to reach the
    // message reader.
    one_message(data);
}

fn one_message(bytes: &[u8]) {
    let limits = MessageLimits::default();
    let checked = sync::check_message(bytes, &limits);
    let decoded = automerge::sync::Message::decode(bytes);
    // The checker is never more lenient than Automerge's own reader.
    if checked.is_ok() {
        assert!(decoded.is_ok(), "the checker passed a message Automerge cannot decode: {decoded:?}");
    }
    let Ok(message) = sync::decode(bytes, &limits) else { return };
    let _ = validate::changes_in(&message);
    let mut stripped = message;
    stripped.changes = Vec::<Vec<u8>>::new().into();
    let mut doc = Automerge::new();
    let mut state = PeerState::new();
    if sync::receive(&mut doc, &mut state, stripped).is_ok() {
        let _ = sync::try_generate(&doc, &mut state);
    }
}

/// The relay's documents the `relay_document` target runs against, built once through real
/// operations: a compound's roster with four households, and a round over all of them with one
/// task claimed and delivered on the coordinator's device.
#[derive(Debug)]
pub struct Seed {
    /// The round, as the relay holds it.
    pub round: (Header, Automerge),
    /// The roster, as the relay holds it.
    pub roster: (Header, Automerge),
    /// Who made the seeded changes (the relay's actor bindings).
    pub owners: HashMap<String, PersonId>,
    /// A volunteer's phone, forked from the relay's copy, with an attempt recorded offline.
    pub phone: Compound,
    /// The relay's clock while it syncs them: an hour after they were seeded, so an honest
    /// phone's times are within the window the validator allows on every run, whatever the
    /// date.
    pub now: Timestamp,
}

/// When the seeded documents were made (2026-11-23), in milliseconds.
const SEEDED_AT: i64 = 1_795_392_000_000;

/// The person with the fixed number `n`.
pub fn person(n: u8) -> PersonId {
    format!("01900000-0000-7000-8000-0000000000{n:02x}").parse().expect("a valid person ID")
}

/// The seeded documents.
pub fn seed() -> &'static Seed {
    static SEED: OnceLock<Seed> = OnceLock::new();
    SEED.get_or_init(build_seed)
}

fn build_seed() -> Seed {
    let mut entropy = Counter(0);
    let mut clock = SEEDED_AT;
    let mut tick = move || {
        clock += 1000;
        Timestamp::from_millis(clock)
    };
    let admin = Actor { person: person(1), role: Role::Admin };
    let coordinator = Actor { person: person(2), role: Role::Coordinator };
    let volunteer = Actor { person: person(5), role: Role::Volunteer };
    let relay_device = ActorId::from([0xD0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    let mut compound =
        Compound::create(&mut Env::new(tick(), &mut entropy), &admin, relay_device.clone(), "幸福里社区")
            .expect("the admin creates the compound");
    for flat in ["101", "201", "301", "102"] {
        let draft = doorstep_core::schema::household::HouseholdDraft {
            address: doorstep_core::schema::address::Address {
                estate: String::new(),
                building: "1".into(),
                unit: "1".into(),
                floor: doorstep_core::schema::address::floor_of_flat(flat).unwrap_or(1),
                flat: flat.into(),
            },
            head: "住户".into(),
            phone: String::new(),
            people: Some(2),
            aged_60_plus: 1,
            children_under_6: 0,
            needs: Default::default(),
            status: doorstep_core::schema::control_status::ControlStatus::Normal,
            lift: false,
            notes: String::new(),
        };
        compound
            .apply(&mut Env::new(tick(), &mut entropy), &coordinator, &Operation::AddHousehold { draft })
            .expect("the coordinator adds a household");
    }
    let round_op = Operation::CreateRound {
        title: "蔬菜包 第1轮".into(),
        kind: TaskKind::Groceries,
        date: "2026-11-23".into(),
        selection: Selection::All,
        items: "蔬菜包".into(),
        priority: Priority::Normal,
    };
    let round_id = compound
        .apply(&mut Env::new(tick(), &mut entropy), &coordinator, &round_op)
        .expect("a round")
        .created[0];
    let tasks = compound.tasks();
    let first = tasks[0].id;
    compound
        .apply(
            &mut Env::new(tick(), &mut entropy),
            &coordinator,
            &Operation::ClaimTask { round: round_id, task: first },
        )
        .expect("claimed");
    compound
        .apply(
            &mut Env::new(tick(), &mut entropy),
            &coordinator,
            &Operation::RecordAttempt {
                round: round_id,
                task: first,
                outcome: Outcome::Delivered,
                note: "放门口".into(),
            },
        )
        .expect("delivered");
    let phone_device = ActorId::from([0xD0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    let mut phone = Compound::new(compound.id(), phone_device.clone());
    for doc in compound.documents() {
        phone.insert(Document::load(*doc.header(), &doc.save(), phone_device.clone()).expect("reload"));
    }
    let second = tasks[1].id;
    phone
        .apply(
            &mut Env::new(tick(), &mut entropy),
            &volunteer,
            &Operation::ClaimTask { round: round_id, task: second },
        )
        .expect("the volunteer claims a task");
    phone
        .apply(
            &mut Env::new(tick(), &mut entropy),
            &volunteer,
            &Operation::RecordAttempt {
                round: round_id,
                task: second,
                outcome: Outcome::NobodyHome,
                note: "=HYPERLINK(\"x\")".into(),
            },
        )
        .expect("the volunteer records an attempt");
    let round = compound.document(round_id).expect("the round");
    let roster = compound
        .documents()
        .find(|d| d.kind() == doorstep_core::schema::vocabulary::DocKind::Roster)
        .expect("the roster");
    let owners = HashMap::from([(relay_device.to_hex_string(), admin.person)]);
    Seed {
        round: (*round.header(), round.automerge().clone()),
        roster: (*roster.header(), roster.automerge().clone()),
        owners,
        phone,
        now: Timestamp::from_millis(SEEDED_AT + 3_600_000),
    }
}

/// Deterministic IDs for the seeded documents.
struct Counter(u128);

impl doorstep_core::Entropy for Counter {
    fn next_u128(&mut self) -> u128 {
        self.0 += 1;
        0x5eed_0000_0000_0000_0000_0000_0000_0000 | self.0
    }
}

/// Target `relay_document`: one document's sync message through the relay's real path,
/// core's relay engine: `read` (checker, decoder, change reader) then `apply` (actor bindings,
/// the validator, the sync protocol), against the seeded round or roster.
///
/// The first byte picks the document (bit 0) and the author's role (bits 1–2); the rest is the
/// message. A refused message must leave the document exactly as it was.
pub fn relay_document(data: &[u8]) {
    let Some((&selector, bytes)) = data.split_first() else { return };
    let seed = seed();
    let (header, relay_doc) = if selector & 1 == 0 { &seed.round } else { &seed.roster };
    let role =
        [Role::Volunteer, Role::Coordinator, Role::Medic, Role::Admin][usize::from((selector >> 1) & 3)];
    let author = Actor { person: person(5), role };
    let Ok(incoming) = engine::read(header.id, bytes, &MessageLimits::default(), &Unlimited) else { return };
    let mut doc = relay_doc.clone();
    let before = doc.get_heads();
    match engine::apply(
        &mut doc,
        header,
        &author,
        incoming,
        &seed.owners,
        PeerState::new(),
        seed.now,
        &Unlimited,
    ) {
        Ok(accepted) => {
            if accepted.chunk.is_empty() {
                assert_eq!(doc.get_heads(), before, "nothing new, yet the document moved");
            }
        }
        Err(refused) => {
            assert_eq!(
                doc.get_heads(),
                before,
                "a refused message changed the document: {}",
                refused.rejection.reason
            );
        }
    }
}

/// Honest messages for the seed corpus of both targets: the volunteer's phone syncing its round
/// and roster with the relay's copies, each message it sends as the relay would receive it.
pub fn honest_messages() -> Vec<(bool, Vec<u8>)> {
    let seed = seed();
    let mut out = Vec::new();
    for (is_roster, (header, relay_doc)) in [(false, &seed.round), (true, &seed.roster)] {
        let mut phone_doc = seed.phone.document(header.id).expect("the phone holds it").automerge().clone();
        let mut relay_doc = relay_doc.clone();
        let (mut phone_state, mut relay_state) = (PeerState::new(), PeerState::new());
        for _ in 0..6 {
            let Some(message) = sync::generate(&phone_doc, &mut phone_state) else { break };
            out.push((is_roster, message.clone()));
            let Ok(decoded) = sync::decode(&message, &MessageLimits::default()) else { break };
            if sync::receive(&mut relay_doc, &mut relay_state, decoded).is_err() {
                break;
            }
            let Some(reply) = sync::generate(&relay_doc, &mut relay_state) else { break };
            let Ok(reply) = sync::decode(&reply, &MessageLimits::for_replies()) else { break };
            if sync::receive(&mut phone_doc, &mut phone_state, reply).is_err() {
                break;
            }
        }
    }
    out
}
