//! Replies a phone must not hand to Automerge: chunks that inflate or expand past what any change
//! or document may hold. Automerge inflates a compressed change or column with `read_to_end` and
//! expands run-length columns one operation at a time, with no bound, so a few kilobytes from a
//! broken relay, or from a forger on a plain-HTTP path, would take the phone's memory (a failed
//! allocation aborts the app at every sync after) or its CPU for hours. The relay has refused
//! such chunks from phones since stage one (`validate/inflate.rs`, `validate/op_rows.rs`); the
//! phone now refuses them in replies too, before Automerge sees them, and keeps the document as
//! it was.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;

use doorstep_core::sync::{ClientSession, DocMessage, SyncResponse, WIRE_VERSION};
use doorstep_core::validate::{check_received, load_received_document};
use sha2::{Digest, Sha256};
use support::bombs::{deflate_bomb, run_length_bomb};
use support::{Fixture, device, fork};

/// An Automerge chunk of `kind` around `body`, with the checksum Automerge verifies (the first
/// four bytes of SHA-256 over the type, the length and the body).
fn chunk(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut typed = vec![kind];
    leb(&mut typed, body.len() as u64);
    typed.extend(body);
    let checksum = Sha256::digest(&typed);
    let mut out = vec![0x85, 0x6f, 0x4a, 0x83];
    out.extend(&checksum[..4]);
    out.extend(typed);
    out
}

fn leb(out: &mut Vec<u8>, mut n: u64) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// A sync message (V1) with no heads, needs or filters, carrying `changes`.
fn reply_carrying(changes: &[Vec<u8>]) -> Vec<u8> {
    let mut out = vec![0x42, 0, 0, 0];
    leb(&mut out, changes.len() as u64);
    for change in changes {
        leb(&mut out, change.len() as u64);
        out.extend(change);
    }
    out
}

/// The phone's roster after `reply` arrives for it: whether the reply failed, with what error,
/// and whether the document moved.
fn phone_takes(reply: Vec<u8>) -> (Option<String>, bool) {
    let fx = Fixture::default();
    let mut phone = fork(&fx.compound, device(9));
    let roster = phone
        .documents()
        .find(|d| d.kind() == doorstep_core::schema::vocabulary::DocKind::Roster)
        .expect("a roster")
        .id();
    let before = phone.document(roster).unwrap().heads();
    let mut session = ClientSession::new(BTreeMap::new());
    let response = SyncResponse {
        version: WIRE_VERSION,
        messages: vec![DocMessage { doc: roster, message: reply }],
        documents: None,
        rejected: Vec::new(),
        reads_compact: false,
    };
    let outcome = session.handle(&mut phone, response);
    let failed = outcome.failed.iter().find(|(id, _)| *id == roster).map(|(_, e)| e.to_string());
    (failed, phone.document(roster).unwrap().heads() != before)
}

#[test]
fn a_reply_whose_change_inflates_past_a_change_is_refused_before_automerge_inflates_it() {
    // 256 MiB of zeros in a compressed change chunk of about 250 KB. Before the check, the phone
    // inflated all of it (2.5 s in a debug build) and only then found it was not a change; an
    // answer of a few megabytes would have asked for gigabytes.
    let bomb = chunk(2, &deflate_bomb(256));
    assert!(bomb.len() < 300_000, "{} bytes", bomb.len());
    let (failed, moved) = phone_takes(reply_carrying(&[bomb]));
    let failed = failed.expect("the reply is refused");
    assert!(failed.contains("inflates to more than 1048576 bytes"), "{failed}");
    assert!(!moved, "the roster is as it was");
}

#[test]
fn a_reply_whose_change_describes_a_trillion_operations_is_refused() {
    // Refused by its columns' run lengths, before Automerge reads the change (Automerge 0.12
    // also refuses this particular change, for other reasons, once it has read it).
    let (failed, moved) = phone_takes(reply_carrying(&[chunk(1, &run_length_bomb())]));
    let failed = failed.expect("the reply is refused");
    assert!(failed.contains("describes more than 1000000 rows"), "{failed}");
    assert!(!moved, "the roster is as it was");
}

#[test]
fn a_whole_document_whose_column_inflates_past_a_document_is_refused() {
    // A document chunk (no actors, no heads) with one compressed column of 80 MiB.
    let column = deflate_bomb(80);
    let mut body = vec![0, 0, 1, 0x18];
    leb(&mut body, column.len() as u64);
    body.push(0);
    body.extend(&column);
    let document = chunk(0, &body);
    let refused = check_received(&document).expect_err("a document bomb");
    assert!(refused.contains("inflate"), "{refused}");
    let (failed, moved) = phone_takes(reply_carrying(&[document]));
    assert!(failed.is_some(), "the reply is refused");
    assert!(!moved, "the roster is as it was");
}

#[test]
fn an_honest_reply_passes_the_check() {
    let mut fx = Fixture::default();
    let phone = fork(&fx.compound, device(9));
    let coordinator = fx.people.coordinator;
    let draft = support::draft("2-1-1501");
    fx.ok(&coordinator, &doorstep_core::Operation::AddHousehold { draft });
    for doc in fx.compound.documents() {
        let bytes = doc.save();
        check_received(&bytes).expect("a saved document passes");
        let held = phone.document(doc.id()).unwrap().heads();
        for change in doc.automerge().get_changes(&held) {
            check_received(change.raw_bytes()).expect("a change passes");
        }
    }
}

/// A coordinator's note on the roster, as the relay would send it to a phone.
fn coordinators_note() -> automerge::Change {
    let mut fx = Fixture::default();
    let roster = fx.compound.single(doorstep_core::schema::vocabulary::DocKind::Roster).unwrap().id();
    let before = fx.compound.document(roster).unwrap().heads();
    let household = fx.household("2-1-101");
    let coordinator = fx.people.coordinator;
    fx.ok(&coordinator, &doorstep_core::Operation::EditNotes { household, notes: "门口放".into() });
    fx.compound.document(roster).unwrap().automerge().get_changes(&before).pop().unwrap()
}

#[test]
fn a_reply_whose_change_makes_an_object_inside_itself_is_refused() {
    // The shape the relay's fuzzer found (SECURITY.md "Object cycles"): a change whose operation
    // makes a map inside itself. Automerge 0.12 applies it, and anything walking that object's
    // path to the root (the phone's history view does) then never ends. A relay never sends one;
    // a broken one, or a forger on a plain-HTTP path, must not be able to.
    let honest = coordinators_note();
    check_received(honest.raw_bytes()).expect("the honest change passes");
    let mut change = honest.decode();
    support::crafted::make_object_inside_itself(&mut change);
    let crafted = automerge::Change::from(change);
    let (failed, moved) = phone_takes(reply_carrying(&[crafted.raw_bytes().to_vec()]));
    let failed = failed.expect("the reply is refused");
    assert!(failed.contains("not earlier than itself"), "{failed}");
    assert!(!moved, "the roster is as it was");
}

#[test]
fn a_whole_document_holding_an_object_made_inside_itself_is_refused_and_an_honest_one_loaded_once() {
    // The same crafted change, inside a whole document (a copy, or a reply to a phone far
    // behind): the check that loads it once for the phone (`load_received_document`) refuses it
    // as the change check does, and the phone's roster does not move.
    let mut fx = Fixture::default();
    let roster = fx.compound.single(doorstep_core::schema::vocabulary::DocKind::Roster).unwrap().id();
    let base = fx.compound.document(roster).unwrap().save();
    let before = fx.compound.document(roster).unwrap().heads();
    let household = fx.household("2-1-101");
    let coordinator = fx.people.coordinator;
    fx.ok(&coordinator, &doorstep_core::Operation::EditNotes { household, notes: "门口放".into() });
    let honest = fx.compound.document(roster).unwrap();
    let loaded = load_received_document(&honest.save()).expect("an honest copy passes").expect("one chunk");
    assert_eq!(loaded.get_heads(), honest.heads(), "the document the check loaded is the copy");
    let mut change = honest.automerge().get_changes(&before).pop().unwrap().decode();
    support::crafted::make_object_inside_itself(&mut change);
    let mut forged = automerge::Automerge::load(&base).unwrap();
    forged.apply_changes([automerge::Change::from(change)]).unwrap();
    let bytes = forged.save();
    let refused = load_received_document(&bytes).expect_err("a cycle in a whole document");
    assert!(refused.contains("not earlier than itself"), "{refused}");
    let (failed, moved) = phone_takes(reply_carrying(&[bytes]));
    let failed = failed.expect("the reply is refused");
    assert!(failed.contains("not earlier than itself"), "{failed}");
    assert!(!moved, "the roster is as it was");
}

#[test]
fn a_reply_whose_change_has_an_altered_checksum_is_refused() {
    // Automerge's change reader takes a change whose checksum bytes were altered, and so would
    // the sync protocol; the phone stores the reply's changes as they came, and its file would
    // then not load (`BadChecksum`): the document dropped at the next start, with whatever of
    // the phone's own work it held.
    let honest = coordinators_note();
    let mut altered = honest.raw_bytes().to_vec();
    altered[4] ^= 0x01;
    assert!(automerge::Change::from_bytes(altered.clone()).is_ok(), "Automerge's reader takes it");
    let (failed, moved) = phone_takes(reply_carrying(&[altered]));
    let failed = failed.expect("the reply is refused");
    assert!(failed.contains("checksum"), "{failed}");
    assert!(!moved, "the roster is as it was");
    let (failed, moved) = phone_takes(reply_carrying(&[honest.raw_bytes().to_vec()]));
    assert!(failed.is_none() && moved, "the honest change is taken: {failed:?}");
}
