//! The sync message checker against Automerge itself: every message Automerge writes passes
//! and is counted exactly, and every crafted message outside Automerge's shapes is refused with
//! the problem named, before Automerge could see it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use automerge::sync::{Message, State, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ROOT};
use doorstep_core::sync::{MessageLimits, MessageProblem, MessageShape, SyncError, check_message, decode};

/// Raw sync message bytes, field by field, so each test can break exactly one.
#[derive(Debug, Clone)]
struct Raw {
    kind: u8,
    heads: Vec<[u8; 32]>,
    need: Vec<[u8; 32]>,
    have: Vec<(Vec<[u8; 32]>, Vec<u8>)>,
    changes: Vec<Vec<u8>>,
    flags: Option<Vec<u8>>,
    trailing: Vec<u8>,
}

fn leb(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// A bloom filter's bytes: its three numbers, then `bits` bytes of bits.
fn bloom(entries: u64, bits_per_entry: u64, probes: u64, bits: usize) -> Vec<u8> {
    let mut out = Vec::new();
    leb(&mut out, entries);
    leb(&mut out, bits_per_entry);
    leb(&mut out, probes);
    out.extend(std::iter::repeat_n(0xffu8, bits));
    out
}

impl Raw {
    fn new() -> Self {
        Self {
            kind: 0x42,
            heads: vec![],
            need: vec![],
            have: vec![],
            changes: vec![],
            flags: Some(vec![0x02, 0x84]),
            trailing: vec![],
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = vec![self.kind];
        let hashes = |out: &mut Vec<u8>, hs: &[[u8; 32]]| {
            leb(out, hs.len() as u64);
            hs.iter().for_each(|h| out.extend(h));
        };
        hashes(&mut out, &self.heads);
        hashes(&mut out, &self.need);
        leb(&mut out, self.have.len() as u64);
        for (last_sync, bloom) in &self.have {
            hashes(&mut out, last_sync);
            leb(&mut out, bloom.len() as u64);
            out.extend(bloom);
        }
        leb(&mut out, self.changes.len() as u64);
        for change in &self.changes {
            leb(&mut out, change.len() as u64);
            out.extend(change);
        }
        if let Some(flags) = &self.flags {
            leb(&mut out, flags.len() as u64);
            out.extend(flags);
        }
        out.extend(&self.trailing);
        out
    }
}

fn limits() -> MessageLimits {
    MessageLimits::default()
}

/// Two documents edited concurrently by several actors, synced to the end; every message either
/// side sends is checked and counted.
#[test]
fn every_message_automerge_writes_passes_and_is_counted_exactly() {
    let mut a = AutoCommit::new().with_actor(ActorId::random());
    let mut b = AutoCommit::new().with_actor(ActorId::random());
    for i in 0..40 {
        a.put(ROOT, format!("a{i}"), i64::from(i)).unwrap();
        a.commit();
        if i % 3 == 0 {
            b.put(ROOT, format!("b{i}"), i64::from(i)).unwrap();
            b.commit();
        }
    }
    let (mut sa, mut sb) = (State::new(), State::new());
    let mut checked = 0;
    for _ in 0..20 {
        let mut quiet = true;
        if let Some(m) = a.sync().generate_sync_message(&mut sa) {
            quiet = false;
            checked += check_round_trip(m.clone());
            b.sync().receive_sync_message(&mut sb, m).unwrap();
        }
        if let Some(m) = b.sync().generate_sync_message(&mut sb) {
            quiet = false;
            checked += check_round_trip(m.clone());
            a.sync().receive_sync_message(&mut sa, m).unwrap();
        }
        if quiet {
            break;
        }
    }
    assert!(checked >= 4, "a real exchange happened ({checked} messages)");
    assert_eq!(a.get_heads(), b.get_heads(), "the documents converged");
}

fn check_round_trip(message: Message) -> usize {
    let bytes = message.clone().encode();
    let shape: MessageShape = check_message(&bytes, &limits()).expect("Automerge's own message passes");
    assert_eq!(shape.heads, message.heads.len());
    assert_eq!(shape.need, message.need.len());
    assert_eq!(shape.have, message.have.len());
    assert!(shape.have <= 1, "Automerge sends at most one filter");
    assert_eq!(shape.last_sync, message.have.iter().map(|h| h.last_sync.len()).sum::<usize>());
    assert_eq!(shape.changes, message.changes.len());
    assert!(check_message(&bytes, &MessageLimits::for_replies()).is_ok());
    let decoded = decode(&bytes, &limits()).expect("decodes after the check");
    assert_eq!(decoded.heads, message.heads);
    1
}

/// What a crafted message must be refused for.
fn refused(raw: &Raw, expected: impl Fn(&MessageProblem) -> bool, what: &str) {
    let bytes = raw.encode();
    let problem = check_message(&bytes, &limits()).expect_err(what);
    assert!(expected(&problem), "{what}: refused for the wrong reason: {problem}");
    assert!(problem.to_string().len() > 20, "{what}: a reason that says what is wrong: {problem}");
    match decode(&bytes, &limits()) {
        Err(SyncError::Refused(p)) => assert_eq!(p, problem),
        other => panic!("{what}: decode must refuse before Automerge: {other:?}"),
    }
}

fn over_limit(field: &'static str, count: u64, limit: u64) -> impl Fn(&MessageProblem) -> bool {
    move |p| *p == MessageProblem::OverLimit { field, count, limit }
}

#[test]
fn crafted_bloom_filters_are_refused_with_the_parameter_named() {
    let with_bloom = |b: Vec<u8>| Raw { have: vec![(vec![], b)], ..Raw::new() };
    // The 16 GiB allocation: 2^32-1 probes (the 47-byte abort).
    let bomb = with_bloom(bloom(1, 10, u64::from(u32::MAX), 2));
    refused(
        &bomb,
        |p| {
            matches!(p, MessageProblem::BloomParameter { parameter: "probes", found, expected: 7, .. }
            if *found == u64::from(u32::MAX))
        },
        "probe bomb",
    );
    let message = check_message(&bomb.encode(), &limits()).unwrap_err().to_string();
    assert!(message.contains("4294967295") && message.contains('7'), "{message}");
    refused(
        &with_bloom(bloom(1, 10, 10_000_000, 2)),
        |p| matches!(p, MessageProblem::BloomParameter { found: 10_000_000, .. }),
        "10^7 probes",
    );
    refused(
        &with_bloom(bloom(1, 0, 7, 0)),
        |p| matches!(p, MessageProblem::BloomParameter { parameter: "bits per entry", found: 0, .. }),
        "zero-length bit array",
    );
    refused(
        &with_bloom(bloom(3, 10, 7, 2)),
        |p| *p == MessageProblem::BloomLength { filter: 0, entries: 3, expected: 4, found: 2 },
        "bits shorter than the entries",
    );
    refused(
        &with_bloom(bloom(1, 10, 7, 9)),
        |p| matches!(p, MessageProblem::BloomLength { expected: 2, found: 9, .. }),
        "bits longer than the entries",
    );
    refused(&with_bloom(bloom(0, 10, 7, 0)), |p| *p == MessageProblem::EmptyBloom { filter: 0 }, "empty");
    refused(
        &with_bloom(bloom(2_000_000, 10, 7, 2_500_000)),
        over_limit("bloom filter entries", 2_000_000, 1_000_000),
        "a filter bigger than any document",
    );
    let mut truncated = bloom(1, 10, 7, 0);
    truncated.truncate(2);
    refused(&with_bloom(truncated), |p| matches!(p, MessageProblem::Truncated { .. }), "no probe count");
    let hundred = Raw { have: vec![(vec![], bloom(1, 10, 1_000_000, 2)); 100], ..Raw::new() };
    refused(&hundred, over_limit("have entries (bloom filters)", 100, 1), "100 filters");
    // The only honest filter, and Automerge's empty one, pass.
    assert!(check_message(&with_bloom(bloom(5, 10, 7, 7)).encode(), &limits()).is_ok());
    assert!(check_message(&with_bloom(vec![]).encode(), &limits()).is_ok());
}

#[test]
fn counts_lengths_and_framing_outside_automerges_shapes_are_refused() {
    let hash = [7u8; 32];
    refused(&Raw { kind: 0x41, ..Raw::new() }, |p| *p == MessageProblem::WrongType { found: 0x41 }, "type");
    assert_eq!(check_message(&[], &limits()), Err(MessageProblem::Empty));
    refused(&Raw { heads: vec![hash; 4097], ..Raw::new() }, over_limit("heads", 4097, 4096), "heads");
    refused(&Raw { need: vec![hash; 4097], ..Raw::new() }, over_limit("needed hashes", 4097, 4096), "need");
    refused(
        &Raw { have: vec![(vec![hash; 4097], vec![])], ..Raw::new() },
        over_limit("last-sync hashes", 4097, 4096),
        "last_sync",
    );
    refused(
        &Raw { changes: vec![vec![1]; 20_001], ..Raw::new() },
        over_limit("change entries", 20_001, 20_000),
        "changes",
    );
    refused(
        &Raw { flags: Some(vec![0x80; 17]), ..Raw::new() },
        over_limit("bytes of flags", 17, 16),
        "flags",
    );
    refused(
        &Raw { trailing: vec![0, 0, 0], ..Raw::new() },
        |p| matches!(p, MessageProblem::TrailingBytes { count: 3, .. }),
        "trailing bytes",
    );
    // Huge counts in every length field, with nothing behind them.
    for (at, field) in
        [(1, "heads"), (2, "needed hashes"), (3, "have entries (bloom filters)"), (4, "change entries")]
    {
        let mut bytes = Raw { flags: None, ..Raw::new() }.encode();
        bytes.truncate(at);
        bytes.extend([0xff, 0xff, 0xff, 0xff, 0x0f]);
        let problem = check_message(&bytes, &limits()).unwrap_err();
        assert!(
            matches!(problem, MessageProblem::OverLimit { field: f, count: 0xffff_ffff, .. } if f == field),
            "{field}: {problem}"
        );
    }
    // A count that fits its cap but not the bytes.
    let mut bytes = vec![0x42, 0x03];
    bytes.extend([1u8; 40]);
    assert!(matches!(
        check_message(&bytes, &limits()),
        Err(MessageProblem::Truncated { field: "heads", .. })
    ));
    // Numbers Automerge's own reader refuses: overlong, and more than 64 bits.
    assert!(matches!(
        check_message(&[0x42, 0x80, 0x00], &limits()),
        Err(MessageProblem::BadNumber { problem: "overlong encoding", .. })
    ));
    assert!(matches!(
        check_message(&[0x42, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f], &limits()),
        Err(MessageProblem::BadNumber { problem: "more than 64 bits", .. })
    ));
    // Every prefix of an honest message is refused, never accepted half-read.
    let honest = Raw {
        heads: vec![hash],
        have: vec![(vec![hash], bloom(2, 10, 7, 3))],
        changes: vec![vec![9; 5]],
        ..Raw::new()
    }
    .encode();
    assert!(check_message(&honest, &limits()).is_ok());
    for cut in 0..honest.len() - 3 {
        assert!(check_message(&honest[..cut], &limits()).is_err(), "prefix of {cut} bytes");
    }
}
