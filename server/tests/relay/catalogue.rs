//! The attack catalogue, sync/transport/auth part (issue 11): every bad input a modified phone,
//! a stolen volunteer token or anyone on the network can send to `POST /v1/sync`, each with the
//! status or rejection rule it must get. After every case the relay's copy of the round and the
//! roster must have the same heads as before, and `/healthz` must answer: nothing else changed
//! and the relay is still up. One relay serves the whole catalogue, so a case that took the
//! process down (the 47-byte bloom bomb did, before) fails every case after it.
//!
//! The cases are data: add one by adding a line to `cases()`.

use std::collections::BTreeMap;

use doorstep_core::id::DocumentId;
use doorstep_core::schema::vocabulary::DocKind;
use doorstep_core::sync::{DocMessage, MessageLimits, PeerState, SyncRequest, WIRE_VERSION};
use doorstep_server::{Config, Limits};
use reqwest::StatusCode;

use crate::harness::Fixture;
use crate::poison::{Hash, Raw, bloom, leb, stranger};

#[path = "../../../core/tests/support/bombs.rs"]
mod bombs;
use bombs::{deflate_bomb, run_length_bomb};

/// Who sends a case.
#[derive(Debug, Clone)]
enum Who {
    Volunteer,
    Nobody,
    Header(String),
}

/// Which document a message is for.
#[derive(Debug, Clone, Copy)]
enum Target {
    Round,
    Roster,
    Care,
    Unknown,
}

/// What a case sends.
#[derive(Debug)]
enum Send {
    /// A body POSTed to `/v1/sync`.
    Body { who: Who, content_type: Option<&'static str>, body: Vec<u8> },
    /// One document message in a well-formed request from the volunteer.
    Message { target: Target, bytes: Vec<u8> },
    /// Several document messages (distinct unknown documents) in one request from the volunteer.
    Messages(Vec<Vec<u8>>),
    /// Two messages for the round in one request.
    Duplicate,
    /// Another method on `/v1/sync`.
    Method(&'static str),
}

/// What a case must get.
#[derive(Debug)]
enum Expect {
    /// This HTTP status, with this `error` code in the JSON body.
    Status(StatusCode, &'static str),
    /// A 200 whose one rejection has this rule, and whose reason mentions each of these.
    Rule(&'static str, &'static [&'static str]),
    /// A 200 with no rejection (a strange but harmless message is simply answered).
    Answered,
}

struct Case {
    name: &'static str,
    send: Send,
    expect: Expect,
}

fn case(name: &'static str, send: Send, expect: Expect) -> Case {
    Case { name, send, expect }
}

fn msg(target: Target, bytes: Vec<u8>) -> Send {
    Send::Message { target, bytes }
}

fn body(body: Vec<u8>) -> Send {
    Send::Body { who: Who::Volunteer, content_type: Some("application/cbor"), body }
}

fn malformed(mentions: &'static [&'static str]) -> Expect {
    Expect::Rule("malformed", mentions)
}

fn too_large(mentions: &'static [&'static str]) -> Expect {
    Expect::Rule("too_large", mentions)
}

/// More heads, shared heads or needs than a message carries: its own code, which says that
/// syncing again alone does not help (core's `relay_engine/rejection.rs`).
fn too_many_heads(mentions: &'static [&'static str]) -> Expect {
    Expect::Rule("too_many_heads", mentions)
}

fn status(code: StatusCode, error: &'static str) -> Expect {
    Expect::Status(code, error)
}

/// A CBOR item head: major type and argument.
fn cbor_head(out: &mut Vec<u8>, major: u8, value: u64) {
    let m = major << 5;
    match value {
        0..=23 => out.push(m | value as u8),
        24..=0xff => out.extend([m | 24, value as u8]),
        0x100..=0xffff => {
            out.push(m | 25);
            out.extend((value as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(m | 26);
            out.extend((value as u32).to_be_bytes());
        }
        _ => {
            out.push(m | 27);
            out.extend(value.to_be_bytes());
        }
    }
}

fn cbor_text(out: &mut Vec<u8>, text: &str) {
    cbor_head(out, 3, text.len() as u64);
    out.extend(text.as_bytes());
}

/// `{"version": <version bytes>, "messages": <messages bytes>}` with both values given raw.
fn cbor_request(version: &[u8], messages: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    cbor_head(&mut out, 5, 2);
    cbor_text(&mut out, "version");
    out.extend(version);
    cbor_text(&mut out, "messages");
    out.extend(messages);
    out
}

/// A CBOR unsigned integer.
fn cbor_uint(value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    cbor_head(&mut out, 0, value);
    out
}

/// `[{"doc": <doc>, "message": <message>}]` with both values given raw.
fn cbor_one_message(doc: &[u8], message: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    cbor_head(&mut out, 4, 1);
    cbor_head(&mut out, 5, 2);
    cbor_text(&mut out, "doc");
    out.extend(doc);
    cbor_text(&mut out, "message");
    out.extend(message);
    out
}

fn cbor_bytes(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    cbor_head(&mut out, 2, bytes.len() as u64);
    out.extend(bytes);
    out
}

fn cbor_string(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    cbor_text(&mut out, text);
    out
}

/// An Automerge chunk header (magic, checksum, type, length) followed by `body`.
fn chunk(kind: u8, body: &[u8], checksum: [u8; 4]) -> Vec<u8> {
    let mut out = vec![0x85, 0x6f, 0x4a, 0x83];
    out.extend(checksum);
    out.push(kind);
    leb(&mut out, body.len() as u64);
    out.extend(body);
    out
}

/// Every case, given the round's heads on the relay (so probing messages have something to
/// probe) and a real change the volunteer's phone made.
fn cases(heads: &[Hash], real: &Raw) -> Vec<Case> {
    let h = heads.to_vec();
    // A message that makes the relay probe its filter (known heads, no flags): what the issue's
    // bombs looked like.
    let probing =
        |bloom: Vec<u8>| Raw { heads: h.clone(), have: vec![(vec![], bloom)], flags: None, ..Raw::default() };
    let honest_bloom = || bloom(3, 10, 7, 4);
    let stranger_heads = |n: usize| (0..n).map(|i| stranger((i % 251) as u8)).collect::<Vec<_>>();
    let huge_count_at = |at: usize| {
        let mut bytes = Raw { flags: None, ..Raw::default() }.encode();
        bytes.truncate(at);
        bytes.extend([0xff, 0xff, 0xff, 0xff, 0x0f]);
        bytes
    };
    let limits = MessageLimits::default();
    let valid_request = SyncRequest {
        version: WIRE_VERSION,
        documents_digest: None,
        messages: vec![DocMessage { doc: DocumentId::from_uuid(uuid::Uuid::nil()), message: real.encode() }],
    }
    .encode();
    let nil = cbor_string(&uuid::Uuid::nil().to_string());
    let mut deep = Vec::new();
    for _ in 0..100_000 {
        cbor_head(&mut deep, 4, 1);
    }
    let messages_of = |n: usize, each: Raw| Send::Messages((0..n).map(|_| each.encode()).collect());
    let bad = StatusCode::BAD_REQUEST;
    let ok_bloom_with = |entries: u64, bpe: u64, probes: u64, bits: usize| {
        probing(bloom(entries, bpe, probes, bits)).encode()
    };

    vec![
        // --- Bloom filters: the bombs and every parameter Automerge never sends. ---
        case(
            "47-byte bloom bomb: 2^32-1 probes (aborted the process)",
            msg(Target::Round, ok_bloom_with(1, 8, u64::from(u32::MAX), 1)),
            malformed(&["bits per entry = 8", "10"]),
        ),
        case(
            "48-byte bloom bomb: 2^32-1 probes at 10 bits per entry",
            msg(Target::Round, ok_bloom_with(1, 10, u64::from(u32::MAX), 2)),
            malformed(&["probes", "4294967295", "7"]),
        ),
        case(
            "10^7 probes in 110 bytes",
            msg(Target::Round, ok_bloom_with(1, 10, 10_000_000, 2)),
            malformed(&["10000000"]),
        ),
        case(
            "100 filters x 10^6 probes",
            msg(
                Target::Round,
                Raw {
                    heads: h.clone(),
                    have: vec![(vec![], bloom(1, 10, 1_000_000, 2)); 100],
                    flags: None,
                    ..Raw::default()
                }
                .encode(),
            ),
            too_large(&["100", "at most 1"]),
        ),
        case(
            "100 honest filters",
            msg(
                Target::Round,
                Raw { heads: h.clone(), have: vec![(vec![], honest_bloom()); 100], ..Raw::default() }
                    .encode(),
            ),
            too_large(&["100", "at most 1"]),
        ),
        case(
            "2 filters, the second naming an unknown last sync (Automerge expect()s)",
            msg(
                Target::Round,
                Raw {
                    heads: h.clone(),
                    have: vec![(vec![], honest_bloom()), (vec![stranger(9)], honest_bloom())],
                    flags: None,
                    ..Raw::default()
                }
                .encode(),
            ),
            too_large(&["2", "at most 1"]),
        ),
        case(
            "zero-length bit array (bits per entry 0)",
            msg(Target::Round, ok_bloom_with(1, 0, 7, 0)),
            malformed(&["bits per entry", "0"]),
        ),
        case("zero probes", msg(Target::Round, ok_bloom_with(1, 10, 0, 2)), malformed(&["probes", "0"])),
        case(
            "1 bit per entry",
            msg(Target::Round, ok_bloom_with(8, 1, 7, 1)),
            malformed(&["bits per entry", "1"]),
        ),
        case(
            "10^6 bits per entry",
            msg(Target::Round, ok_bloom_with(1, 1_000_000, 7, 125_000)),
            malformed(&["1000000"]),
        ),
        case(
            "u32::MAX bits per entry, no bits",
            msg(Target::Round, ok_bloom_with(1, u64::from(u32::MAX), 7, 0)),
            malformed(&["bits per entry"]),
        ),
        case("8 probes", msg(Target::Round, ok_bloom_with(1, 10, 8, 2)), malformed(&["probes", "8"])),
        case(
            "bits shorter than the entries need",
            msg(Target::Round, ok_bloom_with(100, 10, 7, 10)),
            malformed(&["125", "10"]),
        ),
        case(
            "bits longer than the entries need",
            msg(Target::Round, ok_bloom_with(1, 10, 7, 1000)),
            malformed(&["1000"]),
        ),
        case(
            "zero entries but not empty",
            msg(Target::Round, ok_bloom_with(0, 10, 7, 0)),
            malformed(&["zero entries"]),
        ),
        case(
            "zero entries with bits",
            msg(Target::Round, ok_bloom_with(0, 10, 7, 16)),
            malformed(&["zero entries"]),
        ),
        case(
            "2,000,000 entries",
            msg(Target::Round, ok_bloom_with(2_000_000, 10, 7, 2_500_000)),
            too_large(&["2000000", "1000000"]),
        ),
        case(
            "u32::MAX entries, no bits",
            msg(Target::Round, ok_bloom_with(u64::from(u32::MAX), 10, 7, 0)),
            too_large(&["4294967295"]),
        ),
        case(
            "u64::MAX entries",
            msg(Target::Round, ok_bloom_with(u64::MAX, 10, 7, 0)),
            too_large(&["18446744073709551615"]),
        ),
        case(
            "bloom cut after its entry count",
            msg(Target::Round, probing(vec![0x01]).encode()),
            malformed(&["cut short"]),
        ),
        case(
            "bloom cut after bits per entry",
            msg(Target::Round, probing(vec![0x01, 0x0a]).encode()),
            malformed(&["cut short"]),
        ),
        case(
            "bloom length beyond the message",
            msg(Target::Round, {
                let mut b = vec![0x42, 0x00, 0x00, 0x01, 0x00];
                leb(&mut b, 1 << 40);
                b
            }),
            malformed(&["cut short"]),
        ),
        case(
            "bloom with overlong LEB128 probes",
            msg(Target::Round, probing(vec![0x01, 0x0a, 0x87, 0x80, 0x00, 0xff, 0xff]).encode()),
            malformed(&["overlong"]),
        ),
        // --- Every other count and length field. ---
        case(
            "4,097 heads",
            msg(Target::Round, Raw { heads: stranger_heads(4097), ..Raw::default() }.encode()),
            too_many_heads(&["4097", "4096", "will not help"]),
        ),
        case(
            "heads count 2^32-1 with no hashes",
            msg(Target::Round, huge_count_at(1)),
            too_many_heads(&["4294967295", "heads"]),
        ),
        case(
            "heads count 100 with 1 hash",
            msg(Target::Round, {
                let mut b = vec![0x42, 100];
                b.extend([7u8; 32]);
                b
            }),
            malformed(&["cut short", "heads"]),
        ),
        case(
            "4,097 needs",
            msg(
                Target::Round,
                Raw { heads: h.clone(), need: stranger_heads(4097), ..Raw::default() }.encode(),
            ),
            too_many_heads(&["4097"]),
        ),
        case("need count 2^32-1", msg(Target::Round, huge_count_at(2)), too_many_heads(&["needed hashes"])),
        case("have count 2^32-1", msg(Target::Round, huge_count_at(3)), too_large(&["have entries"])),
        case(
            "4,097 last-sync hashes",
            msg(
                Target::Round,
                Raw { heads: h.clone(), have: vec![(stranger_heads(4097), vec![])], ..Raw::default() }
                    .encode(),
            ),
            too_many_heads(&["last-sync", "4097"]),
        ),
        case(
            "20,001 change entries",
            msg(
                Target::Round,
                Raw { changes: vec![vec![0]; limits.max_changes + 1], ..Raw::default() }.encode(),
            ),
            too_large(&["change entries", "20001", "20000"]),
        ),
        case("change count 2^32-1", msg(Target::Round, huge_count_at(4)), too_large(&["change entries"])),
        case(
            "change length 2^40",
            msg(Target::Round, {
                let mut b = vec![0x42, 0, 0, 0, 1];
                leb(&mut b, 1 << 40);
                b
            }),
            malformed(&["cut short", "change entry"]),
        ),
        case(
            "17 bytes of flags",
            msg(
                Target::Round,
                Raw { heads: h.clone(), flags: Some(vec![0x80; 17]), ..Raw::default() }.encode(),
            ),
            too_large(&["flags", "17", "16"]),
        ),
        case(
            "flags length 2^40",
            msg(Target::Round, {
                let mut b = vec![0x42, 0, 0, 0, 0];
                leb(&mut b, 1 << 40);
                b
            }),
            malformed(&["cut short", "flags"]),
        ),
        case(
            "bytes after the flags",
            msg(Target::Round, Raw { heads: h.clone(), trailing: vec![1, 2, 3], ..Raw::default() }.encode()),
            malformed(&["3 bytes after"]),
        ),
        case(
            "LEB128 longer than 64 bits",
            msg(Target::Round, vec![0x42, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
            malformed(&["64 bits"]),
        ),
        case(
            "overlong LEB128 count",
            msg(Target::Round, vec![0x42, 0x80, 0x80, 0x00]),
            malformed(&["overlong"]),
        ),
        // --- Framing. ---
        case("empty message", msg(Target::Round, vec![]), malformed(&["empty"])),
        case("type byte only", msg(Target::Round, vec![0x42]), malformed(&["cut short"])),
        case("type byte 0x41", msg(Target::Round, vec![0x41, 0, 0, 0, 0]), malformed(&["0x41"])),
        case("type byte 0x00", msg(Target::Round, vec![0, 0, 0, 0, 0]), malformed(&["0x00"])),
        case("text instead of a message", msg(Target::Round, b"hello relay".to_vec()), malformed(&["0x68"])),
        case("1 MiB of 0xff", msg(Target::Round, vec![0xff; 1 << 20]), malformed(&["0xff"])),
        case(
            "V2 type with a garbage change",
            msg(Target::Round, Raw { kind: 0x43, changes: vec![vec![1, 2, 3]], ..Raw::default() }.encode()),
            malformed(&["change entry 0"]),
        ),
        // --- Changes the checker passes on to the change reader and the validator. ---
        case(
            "a change entry of random bytes",
            msg(
                Target::Round,
                Raw {
                    heads: h.clone(),
                    changes: vec![(0..200).map(|i| (i * 37) as u8).collect()],
                    ..Raw::default()
                }
                .encode(),
            ),
            malformed(&["no Automerge chunk"]),
        ),
        case(
            "a change chunk with a bad checksum",
            msg(
                Target::Round,
                Raw { heads: h.clone(), changes: vec![chunk(1, &[0u8; 40], [1, 2, 3, 4])], ..Raw::default() }
                    .encode(),
            ),
            malformed(&["not an Automerge change"]),
        ),
        case(
            "a compressed change chunk of garbage",
            msg(
                Target::Round,
                Raw {
                    heads: h.clone(),
                    changes: vec![chunk(2, &[0xffu8; 64], [0, 0, 0, 0])],
                    ..Raw::default()
                }
                .encode(),
            ),
            malformed(&["change entry 0"]),
        ),
        case(
            "a document chunk of garbage",
            msg(
                Target::Round,
                Raw {
                    kind: 0x43,
                    heads: h.clone(),
                    changes: vec![chunk(0, &[0x11u8; 64], [0, 0, 0, 0])],
                    ..Raw::default()
                }
                .encode(),
            ),
            malformed(&["not an Automerge document"]),
        ),
        case(
            "a compressed change inflating to 16 MiB (DEFLATE bomb)",
            msg(
                Target::Round,
                Raw {
                    heads: h.clone(),
                    changes: vec![chunk(2, &deflate_bomb(16), [0, 0, 0, 0])],
                    ..Raw::default()
                }
                .encode(),
            ),
            malformed(&["inflates to more than 1048576 bytes"]),
        ),
        case(
            "a change whose run-length columns describe a trillion operations in 40 bytes",
            msg(
                Target::Round,
                Raw {
                    heads: h.clone(),
                    changes: vec![chunk(1, &run_length_bomb(), [0, 0, 0, 0])],
                    ..Raw::default()
                }
                .encode(),
            ),
            malformed(&["describes more than 1000000 rows", "at most 1000000 operations"]),
        ),
        case(
            "a whole document whose compressed column inflates to 80 MiB",
            msg(Target::Round, {
                let column = deflate_bomb(80);
                let mut body = vec![0, 0, 1, 0x18];
                leb(&mut body, column.len() as u64);
                body.push(0);
                body.extend(&column);
                Raw {
                    kind: 0x43,
                    heads: h.clone(),
                    changes: vec![chunk(0, &body, [0, 0, 0, 0])],
                    ..Raw::default()
                }
                .encode()
            }),
            malformed(&["inflate to more than 67108864 bytes"]),
        ),
        case(
            "a change bundle",
            msg(
                Target::Round,
                Raw { heads: h.clone(), changes: vec![chunk(3, &[0u8; 8], [0, 0, 0, 0])], ..Raw::default() }
                    .encode(),
            ),
            malformed(&["bundle"]),
        ),
        case(
            "an unknown chunk type",
            msg(
                Target::Round,
                Raw { heads: h.clone(), changes: vec![chunk(9, &[0u8; 8], [0, 0, 0, 0])], ..Raw::default() }
                    .encode(),
            ),
            malformed(&["unknown chunk type 9"]),
        ),
        case(
            "a chunk whose length runs past its entry",
            msg(
                Target::Round,
                Raw {
                    heads: h.clone(),
                    changes: vec![chunk(1, &[0u8; 8], [0, 0, 0, 0])[..12].to_vec()],
                    ..Raw::default()
                }
                .encode(),
            ),
            malformed(&["cut short"]),
        ),
        case(
            "the phone's real change, cut in half",
            msg(Target::Round, {
                let mut r = real.clone();
                let c = &mut r.changes[0];
                c.truncate(c.len() / 2);
                r.encode()
            }),
            malformed(&["cut short"]),
        ),
        case(
            "the phone's real change, one byte flipped",
            msg(Target::Round, {
                let mut r = real.clone();
                let c = &mut r.changes[0];
                let at = c.len() - 3;
                c[at] ^= 0x55;
                r.encode()
            }),
            malformed(&[]),
        ),
        case(
            "the phone's real change, sent for the roster",
            msg(Target::Roster, real.encode()),
            Expect::Rule("missing_dependencies", &["depends on"]),
        ),
        // --- Strange but harmless: answered, nothing stored. ---
        case(
            "heads the relay has never seen",
            msg(
                Target::Round,
                Raw { heads: stranger_heads(3), have: vec![(vec![], honest_bloom())], ..Raw::default() }
                    .encode(),
            ),
            Expect::Answered,
        ),
        case(
            "needs the relay has never seen",
            msg(Target::Round, Raw { heads: h.clone(), need: stranger_heads(5), ..Raw::default() }.encode()),
            Expect::Answered,
        ),
        case(
            "a last sync the relay has never seen",
            msg(
                Target::Round,
                Raw { heads: h.clone(), have: vec![(stranger_heads(2), honest_bloom())], ..Raw::default() }
                    .encode(),
            ),
            Expect::Answered,
        ),
        case(
            "an honest filter of all ones",
            msg(Target::Round, probing(bloom(1000, 10, 7, 1250)).encode()),
            Expect::Answered,
        ),
        case(
            "old-style flags (0x02 only)",
            msg(Target::Round, Raw { heads: h.clone(), flags: Some(vec![0x02]), ..Raw::default() }.encode()),
            Expect::Answered,
        ),
        // --- Documents the volunteer may not touch. ---
        case(
            "a message for the care ledger",
            msg(Target::Care, Raw { heads: h.clone(), ..Raw::default() }.encode()),
            Expect::Rule("care_ledger_is_for_coordinators_and_medics", &[]),
        ),
        case(
            "a message for a document that does not exist",
            msg(Target::Unknown, Raw { heads: h.clone(), ..Raw::default() }.encode()),
            Expect::Rule("not_held", &[]),
        ),
        case(
            "a bloom bomb for a document that does not exist",
            msg(Target::Unknown, ok_bloom_with(1, 8, u64::from(u32::MAX), 1)),
            Expect::Rule("not_held", &[]),
        ),
        // --- Per-request budgets. ---
        case(
            "3 messages of 20,000 changes each (60,000 in one request)",
            messages_of(3, Raw { changes: vec![vec![0]; limits.max_changes], ..Raw::default() }),
            status(StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
        ),
        case(
            "17 messages of 4,096 heads each (69,632 hashes in one request)",
            messages_of(17, Raw { heads: stranger_heads(4096), ..Raw::default() }),
            status(StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
        ),
        case(
            "257 document messages",
            messages_of(257, Raw::default()),
            status(StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
        ),
        // --- The request body: CBOR and the wire version. ---
        case("empty body", body(vec![]), status(bad, "malformed")),
        case(
            "random bytes",
            body((0..512).map(|i| (i * 131 % 251) as u8).collect()),
            status(bad, "malformed"),
        ),
        case(
            "a valid request cut in half",
            body(valid_request[..valid_request.len() / 2].to_vec()),
            status(bad, "malformed"),
        ),
        // One CBOR message must fill the body: bytes after it are refused, not ignored.
        case(
            "a valid request with trailing garbage",
            body([valid_request.clone(), vec![0xff; 9]].concat()),
            status(bad, "malformed"),
        ),
        case("a CBOR array instead of a map", body(vec![0x82, 0x01, 0x80]), status(bad, "malformed")),
        case(
            "a CBOR map missing messages",
            body(vec![0xa1, 0x67, b'v', b'e', b'r', b's', b'i', b'o', b'n', 0x01]),
            status(bad, "malformed"),
        ),
        case("wire version 0", body(cbor_request(&cbor_uint(0), &[0x80])), status(bad, "wire_version")),
        case("wire version 2", body(cbor_request(&cbor_uint(2), &[0x80])), status(bad, "wire_version")),
        case(
            "wire version u32::MAX",
            body(cbor_request(&cbor_uint(u64::from(u32::MAX)), &[0x80])),
            status(bad, "wire_version"),
        ),
        case("wire version 2^40", body(cbor_request(&cbor_uint(1 << 40), &[0x80])), status(bad, "malformed")),
        case("wire version -1", body(cbor_request(&[0x20], &[0x80])), status(bad, "malformed")),
        case(
            "wire version as text",
            body(cbor_request(&cbor_string("1"), &[0x80])),
            status(bad, "malformed"),
        ),
        case(
            "messages declared as 2^64-1 items",
            body(cbor_request(&cbor_uint(1), &[0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])),
            status(bad, "malformed"),
        ),
        case(
            "a message declared as 2^63 bytes",
            body(cbor_request(&cbor_uint(1), &cbor_one_message(&nil, &[0x5b, 0x80, 0, 0, 0, 0, 0, 0, 0]))),
            status(bad, "malformed"),
        ),
        case("100,000 nested arrays", body(cbor_request(&cbor_uint(1), &deep)), status(bad, "malformed")),
        case(
            "a document ID that is not a UUID",
            body(cbor_request(
                &cbor_uint(1),
                &cbor_one_message(&cbor_string("../../etc/passwd"), &cbor_bytes(&[0x42])),
            )),
            status(bad, "malformed"),
        ),
        case(
            "a document ID as a number",
            body(cbor_request(&cbor_uint(1), &cbor_one_message(&cbor_uint(7), &cbor_bytes(&[0x42])))),
            status(bad, "malformed"),
        ),
        case(
            "a message as text",
            body(cbor_request(&cbor_uint(1), &cbor_one_message(&nil, &cbor_string("B")))),
            status(bad, "malformed"),
        ),
        case("the same document twice", Send::Duplicate, status(bad, "invalid")),
        // A body over the limit (413) is in `bad_input`: the relay answers before reading it and
        // closes the connection, which would race this client's next request on it.
        case(
            "JSON content type",
            Send::Body {
                who: Who::Volunteer,
                content_type: Some("application/json"),
                body: valid_request.clone(),
            },
            status(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
        ),
        case(
            "no content type",
            Send::Body { who: Who::Volunteer, content_type: None, body: valid_request.clone() },
            status(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
        ),
        // --- Tokens. ---
        case(
            "no Authorization header",
            Send::Body {
                who: Who::Nobody,
                content_type: Some("application/cbor"),
                body: valid_request.clone(),
            },
            status(StatusCode::UNAUTHORIZED, "unauthorized"),
        ),
        case(
            "a made-up token",
            Send::Body {
                who: Who::Header("Bearer dst_notarealtoken".into()),
                content_type: Some("application/cbor"),
                body: valid_request.clone(),
            },
            status(StatusCode::UNAUTHORIZED, "unauthorized"),
        ),
        case(
            "an empty bearer token",
            Send::Body {
                who: Who::Header("Bearer ".into()),
                content_type: Some("application/cbor"),
                body: valid_request.clone(),
            },
            status(StatusCode::UNAUTHORIZED, "unauthorized"),
        ),
        case(
            "a Basic credential",
            Send::Body {
                who: Who::Header("Basic YWRtaW46YWRtaW4=".into()),
                content_type: Some("application/cbor"),
                body: valid_request.clone(),
            },
            status(StatusCode::UNAUTHORIZED, "unauthorized"),
        ),
        case(
            "a 6 KB token",
            Send::Body {
                who: Who::Header(format!("Bearer dst_{}", "a".repeat(6000))),
                content_type: Some("application/cbor"),
                body: valid_request.clone(),
            },
            status(StatusCode::UNAUTHORIZED, "unauthorized"),
        ),
        case(
            "a token with SQL in it",
            Send::Body {
                who: Who::Header("Bearer dst_' OR '1'='1".into()),
                content_type: Some("application/cbor"),
                body: valid_request.clone(),
            },
            status(StatusCode::UNAUTHORIZED, "unauthorized"),
        ),
        case("GET /v1/sync", Send::Method("GET"), Expect::Status(StatusCode::METHOD_NOT_ALLOWED, "")),
        case("PUT /v1/sync", Send::Method("PUT"), Expect::Status(StatusCode::METHOD_NOT_ALLOWED, "")),
    ]
}

/// The relay's heads of every document the coordinator holds, read by a sync request from a
/// fresh state (the relay's reply names its heads).
async fn relay_heads(fx: &Fixture) -> BTreeMap<DocumentId, Vec<automerge::ChangeHash>> {
    let coordinator = &fx.coordinator;
    let messages = coordinator
        .compound()
        .documents()
        .map(|d| DocMessage {
            doc: d.id(),
            message: doorstep_core::sync::generate(d.automerge(), &mut PeerState::new())
                .expect("a first message"),
        })
        .collect();
    let response = fx
        .relay
        .sync(&coordinator.token, &SyncRequest { version: WIRE_VERSION, documents_digest: None, messages })
        .await;
    assert!(response.rejected.is_empty(), "{:?}", response.rejected);
    response
        .messages
        .iter()
        .map(|m| {
            let decoded = doorstep_core::sync::decode(&m.message, &MessageLimits::for_replies()).unwrap();
            (m.doc, decoded.heads)
        })
        .collect()
}

/// POSTs a CBOR body with the volunteer's token.
async fn post_cbor(fx: &Fixture, name: &str, body: Vec<u8>) -> reqwest::Response {
    fx.relay
        .http
        .post(format!("{}/v1/sync", fx.relay.url))
        .bearer_auth(&fx.volunteers[0].token)
        .header("content-type", "application/cbor")
        .body(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{name}: {e:?}"))
}

/// Sends one case, checks its answer, then checks that no document moved and the relay is up.
async fn check(fx: &Fixture, docs: &BTreeMap<&'static str, DocumentId>, case: Case) {
    let name = case.name;
    let before = relay_heads(fx).await;
    let volunteer = &fx.volunteers[0].token;
    let http = &fx.relay.http;
    let url = format!("{}/v1/sync", fx.relay.url);
    let response = match case.send {
        Send::Body { who, content_type, body } => {
            let auth = match who {
                Who::Volunteer => Some(format!("Bearer {volunteer}")),
                Who::Nobody => None,
                Who::Header(h) => Some(h),
            };
            let mut req = http.post(&url).body(body);
            if let Some(a) = auth {
                req = req.header("authorization", a);
            }
            if let Some(ct) = content_type {
                req = req.header("content-type", ct);
            }
            req.send().await.unwrap_or_else(|e| panic!("{name}: {e:?}"))
        }
        Send::Message { target, bytes } => {
            let doc = match target {
                Target::Round => docs["round"],
                Target::Roster => docs["roster"],
                Target::Care => docs["care"],
                Target::Unknown => DocumentId::from_uuid(uuid::Uuid::from_u128(0xdead_beef)),
            };
            let request = SyncRequest {
                version: WIRE_VERSION,
                documents_digest: None,
                messages: vec![DocMessage { doc, message: bytes }],
            };
            post_cbor(fx, name, request.encode()).await
        }
        Send::Messages(list) => {
            let messages = list
                .into_iter()
                .enumerate()
                .map(|(i, message)| DocMessage {
                    doc: DocumentId::from_uuid(uuid::Uuid::from_u128(0xbad0_0000 + i as u128)),
                    message,
                })
                .collect();
            post_cbor(
                fx,
                name,
                SyncRequest { version: WIRE_VERSION, documents_digest: None, messages }.encode(),
            )
            .await
        }
        Send::Duplicate => {
            let message = Raw { heads: vec![stranger(1)], ..Raw::default() }.encode();
            let messages = vec![
                DocMessage { doc: docs["round"], message: message.clone() },
                DocMessage { doc: docs["round"], message },
            ];
            post_cbor(
                fx,
                name,
                SyncRequest { version: WIRE_VERSION, documents_digest: None, messages }.encode(),
            )
            .await
        }
        Send::Method(method) => {
            http.request(method.parse().unwrap(), &url).bearer_auth(volunteer).send().await.unwrap()
        }
    };
    let got = response.status();
    let bytes = response.bytes().await.unwrap();
    match case.expect {
        Expect::Status(status, error) => {
            assert_eq!(got, status, "{name}: {}", String::from_utf8_lossy(&bytes));
            if !error.is_empty() {
                let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
                assert_eq!(body["error"], error, "{name}: {body}");
                assert!(body["reason"].as_str().is_some_and(|r| r.len() > 15), "{name}: a reason: {body}");
            }
        }
        Expect::Rule(rule, mentions) => {
            assert_eq!(got, StatusCode::OK, "{name}: {}", String::from_utf8_lossy(&bytes));
            let response = doorstep_core::sync::SyncResponse::decode(&bytes).unwrap();
            assert_eq!(response.rejected.len(), 1, "{name}: {:?}", response.rejected);
            let rejection = &response.rejected[0];
            assert_eq!(rejection.rule, rule, "{name}: {}", rejection.reason);
            for word in mentions {
                assert!(
                    rejection.reason.contains(word),
                    "{name}: the reason should mention {word:?}: {}",
                    rejection.reason
                );
            }
        }
        Expect::Answered => {
            assert_eq!(got, StatusCode::OK, "{name}: {}", String::from_utf8_lossy(&bytes));
            let response = doorstep_core::sync::SyncResponse::decode(&bytes).unwrap();
            assert!(response.rejected.is_empty(), "{name}: {:?}", response.rejected);
        }
    }
    assert_eq!(relay_heads(fx).await, before, "{name}: a document changed");
    let health = http.get(format!("{}/healthz", fx.relay.url)).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK, "{name}: the relay is not healthy afterwards");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_sync_input_gets_its_status_and_changes_nothing() {
    let limits = Limits { rate_per_second: 1000.0, rate_burst: 1000.0, ..Limits::default() };
    let mut fx = Fixture::with_config(Config { limits, ..Config::default() }).await;
    let round = fx.round;
    let roster = fx.coordinator.doc_of(DocKind::Roster).id();
    let care = fx.coordinator.doc_of(DocKind::Care).id();
    let docs = BTreeMap::from([("round", round), ("roster", roster), ("care", care)]);
    let heads: Vec<Hash> = relay_heads(&fx).await[&round].iter().map(|h| h.0).collect();

    // A real change the volunteer's phone makes offline (a claimed task), as message bytes.
    let task = fx.volunteers[0].compound().open_tasks()[0].id;
    fx.volunteers[0].apply(&doorstep_core::Operation::ClaimTask { round, task }).unwrap();
    let phone_round = fx.volunteers[0].compound().document(round).unwrap().automerge().clone();
    let change = phone_round.get_changes(&[]).last().unwrap().raw_bytes().to_vec();
    let real = Raw {
        heads: phone_round.get_heads().iter().map(|h| h.0).collect(),
        changes: vec![change],
        ..Raw::default()
    };

    let cases = cases(&heads, &real);
    let count = cases.len();
    for case in cases {
        check(&fx, &docs, case).await;
    }
    println!("catalogue: {count} sync/transport/auth cases passed");
    assert!(count >= 60, "the catalogue has {count} cases");

    // After all of it, the phone's real change still goes through and reaches the coordinator.
    let synced = fx.volunteers[0].sync(&fx.relay).await;
    assert!(synced.rejected.is_empty(), "{:?}", synced.rejected);
    fx.coordinator.sync(&fx.relay).await;
    let claimed = fx.coordinator.compound().tasks().into_iter().find(|t| t.id == task).unwrap();
    assert_eq!(claimed.assignee, Some(fx.volunteers[0].person));
    let metrics = fx.relay.metrics().await;
    assert!(metrics.contains("doorstep_sync_rejections_total{rule=\"malformed\"}"), "{metrics}");
}
