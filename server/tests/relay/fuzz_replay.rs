//! The fuzz corpus and every crash the fuzzers found, replayed through the same code the
//! cargo-fuzz targets run (`fuzz/src/targets.rs`), on stable, in every test run: a crash that
//! comes back fails here without nightly.
//!
//! `DOORSTEP_WRITE_FUZZ_SEEDS=1` also writes the honest messages of the seeded documents into
//! the corpus directories, as starting points for the fuzzers.

use std::path::{Path, PathBuf};

#[path = "../../../fuzz/src/targets.rs"]
mod targets;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// Every file under `fuzz/corpus/<target>/` and `fuzz/artifacts/<target>/`.
fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for dir in ["corpus", "artifacts"] {
        let Ok(entries) = std::fs::read_dir(fuzz_dir().join(dir).join(target)) else { continue };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_file() && !path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')) {
                let bytes = std::fs::read(&path).unwrap();
                out.push((path, bytes));
            }
        }
    }
    out.sort();
    out
}

fn replay(target: &str, run: fn(&[u8])) -> usize {
    let inputs = inputs(target);
    for (path, bytes) in &inputs {
        let outcome = std::panic::catch_unwind(|| run(bytes));
        assert!(outcome.is_ok(), "{target}: {} panics", path.display());
    }
    inputs.len()
}

#[test]
fn the_sync_request_corpus_and_crashes_replay_cleanly() {
    let count = replay("sync_request", targets::sync_request);
    println!("sync_request: {count} inputs replayed");
    assert!(count > 0, "the corpus is in the repository");
}

#[test]
fn the_relay_document_corpus_and_crashes_replay_cleanly() {
    if std::env::var_os("DOORSTEP_WRITE_FUZZ_SEEDS").is_some() {
        for (i, (is_roster, message)) in targets::honest_messages().into_iter().enumerate() {
            let mut input = vec![u8::from(is_roster)];
            input.extend(&message);
            std::fs::write(fuzz_dir().join(format!("corpus/relay_document/seed-{i}")), input).unwrap();
            std::fs::write(fuzz_dir().join(format!("corpus/sync_request/seed-{i}")), message).unwrap();
        }
        let heads: Vec<crate::poison::Hash> =
            targets::seed().round.1.get_heads().iter().map(|h| h.0).collect();
        for (i, (_, poison)) in crate::poison::issue_poisons(&heads).into_iter().enumerate() {
            std::fs::write(fuzz_dir().join(format!("corpus/sync_request/poison-{i}")), &poison).unwrap();
            std::fs::write(
                fuzz_dir().join(format!("corpus/relay_document/poison-{i}")),
                [vec![0], poison].concat(),
            )
            .unwrap();
        }
    }
    let count = replay("relay_document", targets::relay_document);
    println!("relay_document: {count} inputs replayed");
    assert!(count > 0, "the corpus is in the repository");
}

#[test]
fn the_seeded_documents_accept_the_phones_honest_messages() {
    // The seeds must reach past the checker into the validator, or the fuzzer starts shallow.
    let seed = targets::seed();
    let messages = targets::honest_messages();
    assert!(messages.len() >= 2, "{} honest messages", messages.len());
    let with_changes = messages
        .iter()
        .filter(|(_, m)| {
            doorstep_core::sync::decode(m, &doorstep_core::sync::MessageLimits::default())
                .is_ok_and(|d| !d.changes.is_empty())
        })
        .count();
    assert!(with_changes >= 1, "at least one honest message carries the volunteer's changes");
    for (is_roster, message) in &messages {
        let (header, doc) = if *is_roster { &seed.roster } else { &seed.round };
        let budget = doorstep_core::relay_engine::Unlimited;
        let incoming =
            doorstep_core::relay_engine::read(header.id, message, &Default::default(), &budget).unwrap();
        let author =
            doorstep_core::Actor { person: targets::person(5), role: doorstep_core::Role::Volunteer };
        let mut doc = doc.clone();
        let applied = doorstep_core::relay_engine::apply(
            &mut doc,
            header,
            &author,
            incoming,
            &seed.owners,
            doorstep_core::sync::PeerState::new(),
            seed.now,
            &budget,
        );
        assert!(applied.is_ok(), "{:?}", applied.err().map(|r| r.rejection));
    }
}

#[test]
fn the_relay_batch_corpus_and_crashes_replay_cleanly() {
    if std::env::var_os("DOORSTEP_WRITE_FUZZ_SEEDS").is_some() {
        let dir = fuzz_dir().join("corpus/relay_batch");
        std::fs::create_dir_all(&dir).unwrap();
        for (i, batch) in targets::honest_batches().into_iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i}")), batch).unwrap();
        }
        let heads: Vec<crate::poison::Hash> =
            targets::seed().round.1.get_heads().iter().map(|h| h.0).collect();
        let honest = targets::honest_messages();
        for (i, (_, poison)) in crate::poison::issue_poisons(&heads).into_iter().enumerate() {
            let batch = targets::batch_input(false, &[(0, &honest[0].1), (1 << 2, &poison)]);
            std::fs::write(dir.join(format!("poison-{i}")), batch).unwrap();
        }
    }
    let count = replay("relay_batch", targets::relay_batch);
    println!("relay_batch: {count} inputs replayed");
    assert!(count > 0, "the corpus is in the repository");
}

#[test]
fn a_seeded_batch_takes_the_honest_phone_and_answers_every_sender() {
    // The seeds must reach past the reader into the batch: the volunteer's changes taken, the
    // same message from another person answered from what the first brought, the turned one
    // answered afresh.
    use doorstep_core::relay_engine::{self as engine, Unlimited, Verdict};
    let seed = targets::seed();
    let (is_roster, message) = targets::honest_messages()
        .into_iter()
        .find(|(_, m)| {
            doorstep_core::sync::decode(m, &Default::default()).is_ok_and(|d| !d.changes.is_empty())
        })
        .expect("an honest message with changes");
    let (header, doc) = if is_roster { &seed.roster } else { &seed.round };
    let read = || engine::read(header.id, &message, &Default::default(), &Unlimited).unwrap();
    let queued = |who: u8| engine::Queued {
        author: doorstep_core::Actor { person: targets::person(who), role: doorstep_core::Role::Volunteer },
        incoming: read(),
        owners: seed.owners.clone(),
        state: doorstep_core::sync::PeerState::new(),
        budget: Unlimited,
    };
    let mut doc = doc.clone();
    let mut kept = doorstep_core::sync::KeptChanges::default();
    let mut batch = engine::take_batch(&mut doc, &mut kept, header, vec![queued(5), queued(6)], seed.now);
    let full = engine::rejection::reject(header.id, engine::rejection::DOCUMENT_FULL, None, "past its share");
    batch.push_turned(full, read(), doorstep_core::sync::PeerState::new());
    let outcome = engine::answer_batch(&mut doc, &kept, header, batch);
    assert!(!outcome.chunk.is_empty(), "the volunteer's changes are taken");
    match &outcome.verdicts[..] {
        [
            Verdict::Accepted { added, refused: None, .. },
            Verdict::Accepted { added: 0, refused: None, .. },
            Verdict::Refused { rejection, reply: Some(_) },
        ] => {
            assert_eq!(*added, outcome.chunk.len(), "the first message added the chunk");
            assert_eq!(rejection.rule, engine::rejection::DOCUMENT_FULL);
        }
        other => panic!("unexpected verdicts: {other:?}"),
    }
    // And the corpus's seeds run through the target's checks.
    for batch in targets::honest_batches() {
        targets::relay_batch(&batch);
    }
}

#[test]
fn the_phone_answer_corpus_and_crashes_replay_cleanly() {
    if std::env::var_os("DOORSTEP_WRITE_FUZZ_SEEDS").is_some() {
        let dir = fuzz_dir().join("corpus/phone_answer");
        std::fs::create_dir_all(&dir).unwrap();
        for (i, answer) in targets::honest_answers().into_iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i}")), answer).unwrap();
        }
    }
    let count = replay("phone_answer", targets::phone_answer);
    println!("phone_answer: {count} inputs replayed");
    assert!(count > 0, "the corpus is in the repository");
}

#[test]
fn the_phone_answer_seeds_reach_the_phones_documents() {
    // The honest answer must be one the phone takes whole, or the fuzzer starts shallow.
    let answers = targets::honest_answers();
    assert!(answers.len() >= 8, "{} seed answers", answers.len());
    let decoded = doorstep_core::sync::SyncResponse::decode(&answers[0]).unwrap();
    assert!(!decoded.messages.is_empty(), "the honest answer replies to the phone's documents");
    targets::phone_answer(&answers[0]);
    // A message taken in part: the refused delivery must stay on the phone, set aside.
    let in_part = doorstep_core::sync::SyncResponse::decode(answers.last().unwrap()).unwrap();
    assert!(in_part.rejected.iter().any(|r| !r.taken.is_empty()), "the last seed takes a message in part");
    targets::phone_answer(answers.last().unwrap());
    // A refusal of the delivery's time, with the relay's clock 40 days ahead of the phone's (or
    // three behind): the phone carries it out again at the moved time, nothing set aside; with
    // the relay's clock unsaid, or the same as the phone's, it is set aside.
    let time_refused = answers
        .iter()
        .find(|a| {
            doorstep_core::sync::SyncResponse::decode(a)
                .is_ok_and(|r| r.rejected.iter().any(|r| r.rule == "times_follow_the_relays_clock"))
        })
        .expect("a seed refuses the delivery's time");
    const DAY: i64 = 24 * 3_600_000;
    for offset in [40 * DAY, -3 * DAY] {
        let report = targets::answer_phone(time_refused, Some(offset)).expect("the run finishes");
        assert_eq!((report.retimed, report.set_aside), (1, 0), "relay clock {offset} ms off: {report:?}");
    }
    for offset in [None, Some(0)] {
        let report = targets::answer_phone(time_refused, offset).expect("the run finishes");
        assert_eq!((report.retimed, report.set_aside), (0, 1), "relay clock {offset:?}: {report:?}");
    }
}

#[test]
fn the_relay_create_corpus_and_crashes_replay_cleanly() {
    if std::env::var_os("DOORSTEP_WRITE_FUZZ_SEEDS").is_some() {
        let dir = fuzz_dir().join("corpus/relay_create");
        std::fs::create_dir_all(&dir).unwrap();
        const COORDINATOR: u8 = 1 | (2 << 2);
        const VOLUNTEER: u8 = 0;
        const ADMIN_NOT_A_MEMBER: u8 = 3 | (3 << 2) | 0x10;
        for (i, message) in targets::offline_round_messages().into_iter().enumerate() {
            for selector in [COORDINATOR, VOLUNTEER, ADMIN_NOT_A_MEMBER] {
                let input = [vec![selector], message.clone()].concat();
                std::fs::write(dir.join(format!("seed-{i}-{selector:02x}")), input).unwrap();
            }
        }
    }
    let count = replay("relay_create", targets::relay_create);
    println!("relay_create: {count} inputs replayed");
    assert!(count > 0, "the corpus is in the repository");
}

#[test]
fn the_seeded_offline_round_is_created_for_its_coordinator_only() {
    // The seeds must reach past the header into `create`, or the fuzzer starts shallow: the
    // coordinator's phone first asks (no changes), then sends the round, which the engine makes.
    use doorstep_core::relay_engine::{self as engine, Unlimited};
    let seed = targets::seed();
    let (header, phone_doc) = &seed.offline_round;
    let messages = targets::offline_round_messages();
    assert_eq!(messages.len(), 2, "a question, then the round");
    let read = |m: &[u8]| engine::read(header.id, m, &Default::default(), &Unlimited).unwrap();
    assert!(read(&messages[0]).changes.is_empty(), "the first message asks");
    let incoming = read(&messages[1]);
    assert_eq!(engine::header_of(header.id, &incoming.changes).unwrap(), *header);
    let create = |person: u8, role: Option<doorstep_core::Role>| {
        engine::create(
            *header,
            targets::person(person),
            role,
            read(&messages[1]),
            &seed.owners,
            seed.now,
            &Unlimited,
            automerge::ActorId::from([9; 16]),
        )
    };
    let created = create(2, Some(doorstep_core::Role::Coordinator)).expect("the coordinator's round is made");
    assert_eq!(created.doc.get_heads(), phone_doc.get_heads(), "the whole round arrived");
    let by_volunteer =
        create(5, Some(doorstep_core::Role::Volunteer)).expect_err("a volunteer makes no round");
    assert_eq!(
        by_volunteer.rejection.rule,
        doorstep_core::permission::Rule::RoundsArePlannedByCoordinators.code()
    );
    let outsider = create(1, None).expect_err("someone not of the compound makes nothing");
    assert_eq!(outsider.rejection.rule, engine::rejection::FORBIDDEN);
    // And the seeds run through the target's checks.
    for message in &messages {
        targets::relay_create(&[[1 | (2 << 2)].as_slice(), message].concat());
    }
}
