//! What each fuzz target does with one input. Shared, by `#[path]`, between the cargo-fuzz
//! binaries (`fuzz/fuzz_targets/`) and the stable test that replays the committed corpus and
//! every crash (`server/tests/relay/fuzz_replay.rs`), so both run exactly the same code.
//!
//! Neither may panic on any input: a panic is a crash the fuzzer reports.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

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
    if let Ok(changes) = validate::changes_in(&message) {
        // What the change reader takes, the relay stores as it came; Automerge's loader must take
        // those bytes back (it checks what its change reader does not, such as the checksum).
        for change in &changes {
            let options = automerge::LoadOptions::new()
                .on_partial_load(automerge::OnPartialLoad::Error)
                .verification_mode(automerge::VerificationMode::DontCheck);
            let loaded = Automerge::load_with_options(change.raw_bytes(), options);
            assert!(loaded.is_ok(), "a change the reader took does not load: {loaded:?}");
            let named = validate::stored_chunk_changes(change.raw_bytes());
            assert_eq!(named.ok(), Some(vec![change.hash()]), "a stored change is not read back as itself");
        }
    }
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
    /// A round the coordinator created offline on a phone of their own, which the relay does
    /// not hold: what the `relay_create` target's messages make.
    pub offline_round: (Header, Automerge),
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
    let mut phone = phone_of(&compound, ActorId::from([0xD0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]));
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
    let mut coordinators_phone = phone_of(&compound, ActorId::from(COORDINATOR_PHONE_ACTOR));
    let offline_round_op = Operation::CreateRound {
        title: "药品 第1轮".into(),
        kind: TaskKind::Medicine,
        date: "2026-11-23".into(),
        selection: Selection::All,
        items: "降压药".into(),
        priority: Priority::Urgent,
    };
    let offline_round_id = coordinators_phone
        .apply(&mut Env::new(tick(), &mut entropy), &coordinator, &offline_round_op)
        .expect("a round created offline")
        .created[0];
    let offline_round = coordinators_phone.document(offline_round_id).expect("the offline round");
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
        offline_round: (*offline_round.header(), offline_round.automerge().clone()),
        now: Timestamp::from_millis(SEEDED_AT + 3_600_000),
    }
}

/// A phone with `device`'s actor holding a copy of each of `compound`'s documents, as it would
/// after syncing them.
fn phone_of(compound: &Compound, device: ActorId) -> Compound {
    let mut phone = Compound::new(compound.id(), device.clone());
    for doc in compound.documents() {
        phone.insert(Document::load(*doc.header(), &doc.save(), device.clone()).expect("reload"));
    }
    phone
}

/// The coordinator's own phone, which creates [`Seed::offline_round`].
const COORDINATOR_PHONE_ACTOR: [u8; 16] = [0xD0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4];

/// The relay's own actor, under which it writes what it creates.
const RELAY_ACTOR: [u8; 16] = [0xD0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5];

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
            commits_what_it_holds(relay_doc, &accepted.chunk, &doc);
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

/// Target `relay_create`: a message for a document the relay does not hold (a round created
/// offline, [`Seed::offline_round`]'s ID), through the relay's real path for it: core's
/// `relay_engine::read`, then `answer_unheld` when it carries no changes, else `header_of` and
/// `create`.
///
/// The first byte picks the author's role (bits 0–1), person (bits 2–3: the seeded volunteer,
/// another volunteer, the coordinator, the admin who owns the seeded actor) and whether they
/// are a member of the header's compound at all (bit 4 clear); the rest is the message.
/// Whatever the message: only a coordinating member makes a document, and only a round with
/// the ID it was sent for; what is made is stored whole, so its snapshot must load back to the
/// document in memory and open on a phone as that header; every task and attempt reads; every
/// reply is one a phone reads.
pub fn relay_create(data: &[u8]) {
    let Some((&selector, bytes)) = data.split_first() else { return };
    let seed = seed();
    let id = seed.offline_round.0.id;
    let role = [Role::Volunteer, Role::Coordinator, Role::Medic, Role::Admin][usize::from(selector & 3)];
    let who = person([5, 6, 2, 1][usize::from((selector >> 2) & 3)]);
    let member = selector & 0x10 == 0;
    let Ok(incoming) = engine::read(id, bytes, &MessageLimits::default(), &Unlimited) else { return };
    if incoming.changes.is_empty() {
        if let Ok(Some(reply)) = engine::answer_unheld(id, incoming.message) {
            a_phone_reads(&reply);
        }
        return;
    }
    let Ok(header) = engine::header_of(id, &incoming.changes) else { return };
    assert_eq!(header.id, id, "a header for another document than the one the message was sent for");
    let actor = ActorId::from(RELAY_ACTOR);
    let role_in_compound = member.then_some(role);
    match engine::create(header, who, role_in_compound, incoming, &seed.owners, seed.now, &Unlimited, actor) {
        Ok(created) => {
            assert!(member && role.is_coordinating(), "a {role:?} (member: {member}) created a document");
            assert_eq!(
                created.header.kind,
                doorstep_core::schema::vocabulary::DocKind::Round,
                "a phone created a document that is not a round"
            );
            let loaded = Automerge::load(&created.snapshot).expect("what is stored whole loads");
            let sorted = |mut heads: Vec<automerge::ChangeHash>| {
                heads.sort();
                heads
            };
            assert_eq!(
                sorted(loaded.get_heads()),
                sorted(created.doc.get_heads()),
                "what is stored is not what the relay holds"
            );
            let opened = Document::load(created.header, &created.snapshot, ActorId::from(PHONE_ACTOR));
            assert!(opened.is_ok(), "a created round no phone opens: {:?}", opened.err());
            every_entity_reads(&created.header, &created.doc);
            if let Some(reply) = &created.reply {
                a_phone_reads(reply);
            }
        }
        Err(refused) => {
            if let Some(reply) = &refused.reply {
                a_phone_reads(reply);
            }
        }
    }
}

/// `reply` reads with the limits a phone reads replies with.
fn a_phone_reads(reply: &[u8]) {
    let read = sync::decode(reply, &MessageLimits::for_replies());
    assert!(read.is_ok(), "a reply no phone reads: {read:?}");
}

/// The messages the coordinator's phone sends for the round it created offline, the relay
/// answering the first from an empty document as it does: seeds for `relay_create`.
pub fn offline_round_messages() -> Vec<Vec<u8>> {
    let (_, phone_doc) = &seed().offline_round;
    let mut phone_state = PeerState::new();
    let mut relay_doc = Automerge::new();
    let mut relay_state = PeerState::new();
    let mut out = Vec::new();
    for _ in 0..3 {
        let Some(message) = sync::generate(phone_doc, &mut phone_state) else { break };
        out.push(message.clone());
        let decoded = sync::decode(&message, &MessageLimits::default()).expect("an honest message reads");
        let carries_changes = !decoded.changes.is_empty();
        sync::receive(&mut relay_doc, &mut relay_state, decoded).expect("the relay takes it");
        if carries_changes {
            break;
        }
        let Some(reply) = sync::generate(&relay_doc, &mut relay_state) else { break };
        let reply = sync::decode(&reply, &MessageLimits::for_replies()).expect("an honest reply reads");
        let mut phone_copy = phone_doc.clone();
        sync::receive(&mut phone_copy, &mut phone_state, reply).expect("the phone takes it");
    }
    out
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

/// The note the phone template's offline delivery carries, to find it again wherever the
/// answer sent it (the round, or quarantine).
pub const OFFLINE_NOTE: &str = "放在门口的鞋柜上-fuzz";

/// A volunteer's phone in a real replica file: the seeded compound as the relay held it, then a
/// claim and a delivery recorded offline, not yet synced. Written once per process; every
/// `phone_answer` input starts from a copy of these bytes.
#[derive(Debug)]
pub struct PhoneTemplate {
    /// Where this process's copies go (tmpfs when there is one, so the replica's fsyncs are free).
    dir: std::path::PathBuf,
    /// The replica file, closed (its WAL checkpointed into it).
    bytes: Vec<u8>,
    /// The request the phone's first sync after its offline work sends, as the relay reads it.
    pub first_request: Vec<u8>,
    /// The relay as it stood when the phone last synced.
    relay: HonestRelay,
}

/// The phone template.
pub fn phone_template() -> &'static PhoneTemplate {
    static TEMPLATE: OnceLock<PhoneTemplate> = OnceLock::new();
    TEMPLATE.get_or_init(build_phone_template)
}

fn build_phone_template() -> PhoneTemplate {
    let seed = seed();
    let shm = std::path::Path::new("/dev/shm");
    let base = if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() };
    forget_scratch_of_ended_processes(&base);
    let dir = base.join(format!("{SCRATCH_PREFIX}{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    let path = dir.join("template.sqlite");
    drop(doorstep_replica::Replica::open(&path).expect("a new replica"));
    // A fixed device actor instead of the random one a new replica draws: the phone's changes
    // then have the same hashes in every process, and the seed answers written by one (the
    // replay test) name the changes of another (the fuzzer).
    rusqlite::Connection::open(&path)
        .and_then(|db| db.execute("UPDATE meta SET value = ?1 WHERE key = 'actor'", [&PHONE_ACTOR[..]]))
        .expect("the device actor is fixed");
    let mut replica = doorstep_replica::Replica::open(&path).expect("the replica opens again");
    assert_eq!(replica.device_actor().to_bytes(), PHONE_ACTOR, "the fixed actor is the phone's");
    replica.set_identity(person(5)).expect("the volunteer joins");
    let device = replica.device_actor().clone();
    let mut compound = Compound::new(seed.phone.id(), device.clone());
    for (header, doc) in [&seed.round, &seed.roster] {
        compound
            .insert(Document::load(*header, &doc.save(), device.clone()).expect("the relay's copy loads"));
    }
    let task = compound.tasks()[2].id;
    let round = seed.round.0.id;
    replica.adopt(compound, Role::Volunteer).expect("the phone adopts the compound");
    // One sync with the relay before the day's work, so the phone keeps the relay's heads and
    // its first request afterwards carries its changes, as a returning volunteer's does.
    let mut relay = HonestRelay::seeded();
    let mut run = replica.start_sync();
    while let Some(request) = run.next_request(&replica) {
        let answer = relay.answer(&request).encode();
        run.handle_response(&mut replica, &answer, seed.now).expect("the honest answer is taken");
    }
    run.finish(&mut replica).expect("the sync ends");
    let id = seed.phone.id();
    for op in [
        Operation::ClaimTask { round, task },
        Operation::RecordAttempt { round, task, outcome: Outcome::Delivered, note: OFFLINE_NOTE.into() },
    ] {
        replica.apply(seed.now, id, &op).expect("an offline operation");
    }
    assert!(replica.unsynced_changes() > 0, "the template has work to sync");
    let first_request = replica.start_sync().next_request(&replica).expect("a first request");
    drop(replica);
    let bytes = std::fs::read(&path).expect("the template's bytes");
    PhoneTemplate { dir, bytes, first_request, relay }
}

/// The relay's side of the seeded documents as an honest relay answers a phone: each message
/// received into its copy, a reply generated, every document granted to the volunteer. No rules
/// are checked: the phone it answers is honest.
#[derive(Debug, Clone)]
pub struct HonestRelay {
    docs: Vec<(Header, Automerge, PeerState)>,
}

impl HonestRelay {
    fn seeded() -> Self {
        let seed = seed();
        Self {
            docs: [&seed.round, &seed.roster]
                .into_iter()
                .map(|(header, doc)| (*header, doc.clone(), PeerState::new()))
                .collect(),
        }
    }

    /// The answer to a request's bytes (plain or compact).
    pub fn answer(&mut self, request: &[u8]) -> sync::SyncResponse {
        let mut messages = Vec::new();
        if let Ok(request) = SyncRequest::decode(request) {
            for message in &request.messages {
                let Some((_, doc, state)) = self.docs.iter_mut().find(|(h, _, _)| h.id == message.doc) else {
                    continue;
                };
                let Ok(decoded) = sync::decode(&message.message, &MessageLimits::default()) else { continue };
                if sync::receive(doc, state, decoded).is_err() {
                    continue;
                }
                if let Some(reply) = sync::generate(doc, state) {
                    messages.push(sync::DocMessage { doc: message.doc, message: reply });
                }
            }
        }
        let grants = self
            .docs
            .iter()
            .map(|(header, _, _)| sync::DocumentGrant { header: *header, role: Role::Volunteer });
        sync::SyncResponse {
            version: sync::WIRE_VERSION,
            messages,
            documents: Some(grants.collect()),
            rejected: Vec::new(),
            reads_compact: true,
        }
    }
}

/// The template phone's device actor.
const PHONE_ACTOR: [u8; 16] = [0xD0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3];

/// The scratch directories' names: this prefix and the process's ID.
const SCRATCH_PREFIX: &str = "doorstep-fuzz-phone-";

/// Removes the scratch directories of processes that have ended (the replay tests' processes
/// end without a chance to clean up after a static).
fn forget_scratch_of_ended_processes(base: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(base) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix(SCRATCH_PREFIX) else { continue };
        if !std::path::Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Target `phone_answer`: any bytes as the relay's answer to a volunteer's first sync, through
/// the phone's real replica (`SyncRun::handle_response` on a SQLite file), with the relay's
/// clock (its `Date` header) unsaid or some way off the phone's, picked by the answer's length
/// ([`relay_clock_of`]), so that an answer refusing a time reaches the phone's retiming too.
/// Whatever the answer says, the phone must not panic, its file must open again, and the
/// delivery it recorded offline must still be on the phone: in the round (carried out again at
/// a moved time, or not), or set aside for a coordinator.
pub fn phone_answer(data: &[u8]) {
    let _ = answer_phone(data, relay_clock_of(data));
}

/// How far the relay's clock is from the phone's in a `phone_answer` run (`None`: the answer
/// gave no time): one of a few offsets, by the answer's length, so the corpus keeps its meaning.
pub fn relay_clock_of(data: &[u8]) -> Option<i64> {
    const HOUR: i64 = 3_600_000;
    [
        None,
        Some(0),
        Some(-3 * 24 * HOUR),
        Some(40 * 24 * HOUR),
        Some(20 * HOUR),
        Some(-29 * 24 * HOUR),
        Some(2 * HOUR),
    ][data.len() % 7]
}

/// [`phone_answer`] with the relay's clock `relay_clock` milliseconds from the phone's: the
/// sync's report, when the run finished.
pub fn answer_phone(data: &[u8], relay_clock: Option<i64>) -> Option<doorstep_replica::SyncReport> {
    let template = phone_template();
    // One file per thread: the replay tests run side by side in one process.
    let name = format!("phone-{:?}.sqlite", std::thread::current().id()).replace(['(', ')'], "");
    let path = template.dir.join(&name);
    for leftover in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(template.dir.join(format!("{name}{leftover}")));
    }
    std::fs::write(&path, &template.bytes).expect("a copy of the template");
    let now = seed().now;
    let report = {
        let mut replica = doorstep_replica::Replica::open(&path).expect("the template opens");
        let mut run = replica.start_sync();
        let _ = run.next_request(&replica);
        if let Some(offset) = relay_clock {
            run.heard_relay_clock(Timestamp::from_millis(now.as_millis() + offset), now);
        }
        if run.handle_response(&mut replica, data, now).is_ok() {
            // What the phone would send next, after believing the answer.
            let _ = run.next_request(&replica);
        }
        let report = run.finish(&mut replica).ok();
        let _ = replica.unsynced_changes();
        if said_taken(data, seed().round.0.id) {
            // The answer says the relay took the delivery: the phone may let it go with the
            // document. Only TLS tells a forged answer from the relay's (SECURITY.md).
            return report;
        }
        assert_offline_work_kept(&replica, "after the answer");
        report
    };
    let reopened = doorstep_replica::Replica::open(&path).expect("the phone's file opens after any answer");
    assert_offline_work_kept(&reopened, "after reopening the file");
    report
}

/// Whether `answer` says the relay took what the request carried for the round: it replies for
/// the round and refuses nothing of it (the phone's rule, `SyncRun::handle_response`).
fn said_taken(answer: &[u8], round: doorstep_core::id::DocumentId) -> bool {
    let Ok(response) = sync::SyncResponse::decode(answer) else { return false };
    response.messages.iter().any(|m| m.doc == round) && !response.rejected.iter().any(|r| r.doc == round)
}

fn assert_offline_work_kept(replica: &doorstep_replica::Replica, when: &str) {
    let in_round = replica
        .compounds()
        .any(|c| c.tasks().iter().any(|t| t.attempts.iter().any(|a| a.note == OFFLINE_NOTE)));
    if in_round {
        return;
    }
    let quarantine = replica.quarantine().expect("the quarantine reads");
    let set_aside = quarantine.iter().any(|q| {
        q.operation.as_deref().is_some_and(|op| op.contains(OFFLINE_NOTE)) || change_carries_note(&q.bytes)
    });
    assert!(set_aside, "{when}: the offline delivery is neither in the round nor set aside");
}

/// Whether a raw change writes the offline note.
fn change_carries_note(bytes: &[u8]) -> bool {
    let Ok(change) = automerge::Change::try_from(bytes) else { return false };
    change.decode().operations.iter().any(|op| {
        matches!(&op.action, automerge::legacy::OpType::Put(automerge::ScalarValue::Str(s)) if s.contains(OFFLINE_NOTE))
    })
}

/// Answers for the seed corpus of `phone_answer`: the relay's honest reply to the template's
/// first request, and the same reply with the document list withdrawn, unchanged, or with a
/// refusal of each kind the phone treats differently.
pub fn honest_answers() -> Vec<Vec<u8>> {
    let seed = seed();
    let template = phone_template();
    let honest = template.relay.clone().answer(&template.first_request);
    let round = seed.round.0.id;
    // The round's changes the phone's request carries; the relay blames the last.
    let carried: Vec<String> = SyncRequest::decode(&template.first_request)
        .ok()
        .and_then(|r| r.messages.into_iter().find(|m| m.doc == round))
        .and_then(|m| sync::decode(&m.message, &MessageLimits::default()).ok())
        .and_then(|m| validate::changes_in(&m).ok())
        .map(|changes| changes.iter().map(|c| c.hash().to_string()).collect())
        .unwrap_or_default();
    let blamed = carried.last().cloned();
    let refused = |rule: &str| sync::Rejection {
        doc: round,
        change: blamed.clone(),
        rule: rule.to_owned(),
        reason: format!("refused as {rule}"),
        taken: Vec::new(),
    };
    let mut answers = vec![honest.encode()];
    answers.push(sync::SyncResponse { documents: Some(Vec::new()), ..honest.clone() }.encode());
    answers.push(sync::SyncResponse { documents: None, ..honest.clone() }.encode());
    for rule in [
        "cancelled_tasks_take_no_attempts",
        "missing_dependencies",
        "actor_reused",
        "unavailable",
        "times_follow_the_relays_clock",
    ] {
        // A relay that refuses the round's message does not take it, so it does not answer
        // with heads that hold the phone's changes.
        let messages = honest.messages.iter().filter(|m| m.doc != round).cloned().collect();
        answers
            .push(sync::SyncResponse { rejected: vec![refused(rule)], messages, ..honest.clone() }.encode());
    }
    // Taken in part: the last change refused, the ones before it taken and stored.
    let in_part = sync::Rejection {
        taken: carried.iter().take(carried.len().saturating_sub(1)).cloned().collect(),
        ..refused("closed_rounds_are_final")
    };
    answers.push(sync::SyncResponse { rejected: vec![in_part], ..honest.clone() }.encode());
    answers
}

/// Target `relay_batch`: several phones' messages for one document through the relay's group
/// commit, core's `relay_engine::take_batch` then `answer_batch`, with some of them turned before
/// the batch (`TakenBatch::push_turned`, as the relay does with a message past its sender's
/// growth share) and each sender's sync state as the relay might hold it.
///
/// The first byte picks the document (bit 0, as `relay_document`'s). Then up to
/// [`MOST_IN_A_BATCH`] messages, each a control byte, a length (two bytes, little-endian, cut to
/// what is left) and the message. The control byte picks the sender's role (bits 0–1), who they
/// are (bits 2–3: the volunteer the seeded phone belongs to, another volunteer, the coordinator,
/// the admin who made the seeded changes), whether it is turned (bit 4), and the state it is
/// answered from (bits 5–6: fresh; fresh, read compressed; fresh, on a link that asked for the
/// least reply budget; the state stored after a sync in step with the relay).
///
/// Whatever the messages, the batch must: give one verdict per message; commit exactly what its
/// document took (the stored copy plus the chunk loads to the same heads as the document in
/// memory, and the accepted messages' `added` bytes sum to the chunk's, which is what the growth
/// share gives back by); answer only with replies a phone reads; and leave every task, attempt
/// and household readable.
pub fn relay_batch(data: &[u8]) {
    let Some((&selector, mut rest)) = data.split_first() else { return };
    let seed = seed();
    let (header, relay_doc) = if selector & 1 == 0 { &seed.round } else { &seed.roster };
    let limits = MessageLimits::default();
    let mut queued = Vec::new();
    let mut turned = Vec::new();
    while queued.len() + turned.len() < MOST_IN_A_BATCH {
        let Some((&control, after)) = rest.split_first() else { break };
        let (length, after) = match after {
            [low, high, tail @ ..] => (usize::from(u16::from_le_bytes([*low, *high])), tail),
            _ => break,
        };
        let (bytes, after) = after.split_at(length.min(after.len()));
        rest = after;
        let role = [Role::Volunteer, Role::Coordinator, Role::Medic, Role::Admin][usize::from(control & 3)];
        let who = [5, 6, 2, 1][usize::from((control >> 2) & 3)];
        let author = Actor { person: person(who), role };
        let state = batch_state(header, relay_doc, (control >> 5) & 3);
        let Ok(incoming) = engine::read(header.id, bytes, &limits, &Unlimited) else { continue };
        if control & 0x10 != 0 {
            turned.push((incoming, state));
        } else {
            let owners = seed.owners.clone();
            queued.push(engine::Queued { author, incoming, owners, state, budget: Unlimited });
        }
    }
    let messages = queued.len() + turned.len();
    let mut doc = relay_doc.clone();
    let mut kept = sync::KeptChanges::default();
    let mut batch = engine::take_batch(&mut doc, &mut kept, header, queued, seed.now);
    for (incoming, state) in turned {
        let rejection =
            engine::rejection::reject(header.id, engine::rejection::DOCUMENT_FULL, None, "past its share");
        batch.push_turned(rejection, incoming, state);
    }
    let outcome = engine::answer_batch(&mut doc, &kept, header, batch);
    assert_eq!(outcome.verdicts.len(), messages, "one verdict per message");
    let mut added = 0;
    for verdict in &outcome.verdicts {
        let reply = match verdict {
            engine::Verdict::Accepted { reply, added: bytes, .. } => {
                added += bytes;
                reply
            }
            engine::Verdict::Refused { reply, .. } => reply,
        };
        if let Some(reply) = reply {
            let read = sync::decode(reply, &MessageLimits::for_replies());
            assert!(read.is_ok(), "a reply no phone reads: {read:?}");
        }
    }
    assert_eq!(added, outcome.chunk.len(), "the messages' added bytes are not the chunk's");
    commits_what_it_holds(relay_doc, &outcome.chunk, &doc);
    every_entity_reads(header, &doc);
}

/// What the relay stores (the document as it was, then `chunk`) loads back to `doc`, the copy
/// it holds in memory and answers from: a chunk that does not load would be lost, with whatever
/// followed it, the next time the document is read from the store.
fn commits_what_it_holds(stored_before: &Automerge, chunk: &[u8], doc: &Automerge) {
    let stored = Automerge::load(&[stored_before.save(), chunk.to_vec()].concat())
        .expect("the stored copy and the committed chunk load");
    let sorted = |mut heads: Vec<automerge::ChangeHash>| {
        heads.sort();
        heads
    };
    assert_eq!(
        sorted(stored.get_heads()),
        sorted(doc.get_heads()),
        "what is committed is not what the document holds"
    );
}

/// The most messages one `relay_batch` input queues.
const MOST_IN_A_BATCH: usize = 8;

/// The sync state the relay answers a batch's message from (see [`relay_batch`]).
fn batch_state(header: &Header, relay_doc: &Automerge, kind: u8) -> PeerState {
    let mut state = PeerState::new();
    match kind {
        1 => state.set_replies_deflated(true),
        2 => state.set_reply_budget(Some(sync::reply_budget::ReplyBudget::asked(
            sync::reply_budget::LEAST_REPLY_BUDGET,
        ))),
        3 => state = stored_state_in_step(header, relay_doc),
        _ => {}
    }
    state
}

/// The relay's stored state for a device that ended its last sync in step with `relay_doc`.
fn stored_state_in_step(header: &Header, relay_doc: &Automerge) -> PeerState {
    static STATES: OnceLock<Mutex<HashMap<doorstep_core::id::DocumentId, Vec<u8>>>> = OnceLock::new();
    let mut states = STATES.get_or_init(Mutex::default).lock().unwrap_or_else(|e| e.into_inner());
    let encoded = states.entry(header.id).or_insert_with(|| {
        let mut phone_doc = relay_doc.clone();
        let mut relay_doc = relay_doc.clone();
        let (mut phone_state, mut relay_state) = (PeerState::new(), PeerState::new());
        for _ in 0..4 {
            if let Some(m) = sync::generate(&phone_doc, &mut phone_state) {
                let m = sync::decode(&m, &MessageLimits::default()).expect("an honest message reads");
                sync::receive(&mut relay_doc, &mut relay_state, m).expect("the relay takes it");
            }
            if let Some(r) = sync::generate(&relay_doc, &mut relay_state) {
                let r = sync::decode(&r, &MessageLimits::for_replies()).expect("an honest reply reads");
                sync::receive(&mut phone_doc, &mut phone_state, r).expect("the phone takes it");
            }
        }
        relay_state.encode()
    });
    PeerState::decode(encoded).expect("a stored state decodes")
}

/// Every entity of `doc` reads as its typed struct: each task and its attempts list (one at
/// most), each household. Hostile changes the validator let through would show here as an
/// entry the readers skip.
fn every_entity_reads(header: &Header, doc: &Automerge) {
    use automerge::{ObjType, ROOT, ReadDoc, Value};
    use doorstep_core::schema::vocabulary::DocKind;
    let entries = |key: &str| {
        let values = doc.get_all(ROOT, key).expect("the root reads");
        assert!(values.len() <= 1, "collection {key:?} holds {} values", values.len());
        match doc.get(ROOT, key).expect("the root reads") {
            Some((Value::Object(ObjType::Map), map)) => doc.length(&map),
            Some(other) => panic!("collection {key:?} is {other:?}"),
            None => 0,
        }
    };
    match header.kind {
        DocKind::Round => {
            let tasks = doorstep_core::document::round::tasks(header.id, doc);
            assert_eq!(entries("tasks"), tasks.len(), "every task reads");
            let map = doc.get(ROOT, "tasks").ok().flatten().map(|(_, m)| m);
            for task in &tasks {
                let Some(obj) = map.as_ref().and_then(|m| doc.get(m, task.id.to_string()).ok().flatten())
                else {
                    continue;
                };
                let lists = doc.get_all(&obj.1, "attempts").expect("the task reads");
                assert!(lists.len() <= 1, "task {} has {} attempts lists", task.id, lists.len());
                if let Some((_, list)) = lists.first() {
                    assert_eq!(
                        doc.length(list),
                        task.attempts.len(),
                        "every attempt of task {} reads",
                        task.id
                    );
                }
            }
        }
        DocKind::Roster => {
            let households = doorstep_core::document::roster::households(doc);
            assert_eq!(entries("households"), households.len(), "every household reads");
        }
        _ => {}
    }
}

/// A `relay_batch` input: the document selector, then each message with its control byte.
pub fn batch_input(is_roster: bool, messages: &[(u8, &[u8])]) -> Vec<u8> {
    let mut input = vec![u8::from(is_roster)];
    for (control, message) in messages {
        let length = u16::try_from(message.len()).expect("a seed message under 64 KiB");
        input.push(*control);
        input.extend(length.to_le_bytes());
        input.extend(*message);
    }
    input
}

/// Batches for the seed corpus of `relay_batch`: each honest message of the seeded phone taken
/// as its volunteer's, then the same again from another person answered within the least reply
/// budget, and turned from a third answered from a stored state.
pub fn honest_batches() -> Vec<Vec<u8>> {
    const VOLUNTEER: u8 = 0;
    const OTHER_VOLUNTEER_ON_A_BAD_LINK: u8 = (1 << 2) | (2 << 5);
    const COORDINATOR_TURNED_IN_STEP: u8 = 1 | (2 << 2) | 0x10 | (3 << 5);
    honest_messages()
        .iter()
        .map(|(is_roster, message)| {
            batch_input(
                *is_roster,
                &[
                    (VOLUNTEER, message),
                    (OTHER_VOLUNTEER_ON_A_BAD_LINK, message),
                    (COORDINATOR_TURNED_IN_STEP, message),
                ],
            )
        })
        .collect()
}
