//! Changes made while a sync is in flight are never swept into set-aside: the phone's replica
//! (the one the command-line phone and the bindings use) is driven request by request against
//! the real relay process, and the volunteer writes a note between sending the refused change
//! and hearing back.

use std::sync::Mutex;

use doorstep_core::{Operation, Timestamp};
use doorstep_replica::Replica;
use doorstep_replica::http::{RelayClient, SyncBody};
use serde_json::json;

use crate::harness::{Phone, Relay, sample};

fn now() -> Timestamp {
    let millis = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
    Timestamp::from_millis(i64::try_from(millis).unwrap())
}

#[test]
fn a_note_written_while_a_refused_change_is_in_flight_is_not_set_aside_and_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(dir.path());
    let compound = relay.compound_from("北林", &sample("beilin-roster.csv"));
    let volunteer = Phone::unencrypted(dir.path(), "volunteer");
    volunteer.join(&relay, &relay.invite(&compound, "volunteer"));
    let conn = rusqlite::Connection::open(&volunteer.db).unwrap();
    conn.execute("UPDATE roles SET role = 'coordinator'", []).unwrap();
    drop(conn);
    let household = volunteer.ok(&["find", "北林小区1号楼1单元102"])["id"].as_str().unwrap().to_owned();
    let forbidden = json!({"op": "set_control_status", "household": household, "status": "confirmed"});
    volunteer.ok(&["op", &forbidden.to_string()]);

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let replica = Mutex::new(Replica::open(&volunteer.db).unwrap());
    let (url, token) = replica.lock().unwrap().remembered_relay().unwrap().unwrap();
    let client = RelayClient::new(&url, Some(token)).unwrap();
    let compound_id = replica.lock().unwrap().compounds().next().unwrap().id();
    let note = Operation::EditNotes {
        household: household.parse().unwrap(),
        notes: "在途中写下：老人腿脚不便".into(),
    };

    let mut run = replica.lock().unwrap().start_sync();
    let mut wrote_note = false;
    let mut rejected = Vec::new();
    loop {
        // The guard is dropped before the exchange, as the HTTP transport does.
        let next = run.next_request(&replica.lock().unwrap());
        let Some(body) = next else { break };
        let deflate = replica.lock().unwrap().sends_compressed_requests();
        let answer = runtime.block_on(client.exchange(&SyncBody::new(body, deflate))).unwrap().answer;
        if !wrote_note {
            // The first request carries the refused change; while it is on its way, the
            // volunteer writes a note.
            replica.lock().unwrap().apply(now(), compound_id, &note).unwrap();
            wrote_note = true;
        }
        run.handle_response(&mut replica.lock().unwrap(), &answer, now()).unwrap();
        rejected.extend(run.report().rejected.iter().cloned());
    }
    let report = run.finish(&mut replica.lock().unwrap()).unwrap();
    assert!(wrote_note, "the note was written while a request was in flight: {report:?}");
    assert_eq!(report.rejected.len(), 1, "{report:?}");
    assert_eq!(report.rejected[0].rule, "roster_is_edited_by_coordinators");
    let set_aside = replica.lock().unwrap().quarantine().unwrap();
    assert_eq!(set_aside.len(), 1, "only the refused change: {set_aside:?}");
    assert!(set_aside[0].operation.as_deref().unwrap().contains("set_control_status"), "{set_aside:?}");
    drop(replica);

    // The note goes up with the next sync (or went up already), and nothing else is set aside.
    let after = volunteer.sync();
    assert_eq!(after["unsynced"], 0, "{after}");
    assert_eq!(after["set_aside"], 1, "{after}");
    let coordinator = Phone::new(dir.path(), "coordinator");
    coordinator.join(&relay, &relay.invite(&compound, "coordinator"));
    let seen = coordinator.ok(&["find", "北林小区1号楼1单元102"]);
    assert_eq!(seen["notes"], "在途中写下：老人腿脚不便");
    assert_eq!(seen["status"], "normal");
}

/// An answer that says nothing of the documents the request carried changes for, and lists none
/// as the phone's (a broken relay, or 41 bytes forged on a plain-HTTP path), withdraws them; the
/// changes the relay never answered for go to quarantine with them, not out of the phone. Before,
/// "no rejection" counted as taken and the note was gone from the phone and never reached the
/// relay.
#[test]
fn an_answer_that_says_nothing_and_withdraws_everything_keeps_the_unsynced_note() {
    use doorstep_core::sync::{SyncResponse, WIRE_VERSION};
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(dir.path());
    let compound = relay.compound_from("北林", &sample("beilin-roster.csv"));
    let volunteer = Phone::unencrypted(dir.path(), "volunteer");
    volunteer.join(&relay, &relay.invite(&compound, "volunteer"));
    let household = volunteer.ok(&["find", "北林小区1号楼1单元102"])["id"].as_str().unwrap().to_owned();

    let replica = Mutex::new(Replica::open(&volunteer.db).unwrap());
    let compound_id = replica.lock().unwrap().compounds().next().unwrap().id();
    let note =
        Operation::EditNotes { household: household.parse().unwrap(), notes: "三楼，敲门两次".into() };
    replica.lock().unwrap().apply(now(), compound_id, &note).unwrap();
    let mut run = replica.lock().unwrap().start_sync();
    let sent = run.next_request(&replica.lock().unwrap());
    assert!(sent.is_some(), "the note goes up");
    let forged = SyncResponse {
        version: WIRE_VERSION,
        messages: vec![],
        documents: Some(vec![]),
        rejected: vec![],
        reads_compact: false,
    }
    .encode();
    run.handle_response(&mut replica.lock().unwrap(), &forged, now()).unwrap();
    let report = run.finish(&mut replica.lock().unwrap()).unwrap();
    assert!(!report.removed_from.is_empty(), "the answer withdrew the compound: {report:?}");
    let set_aside = replica.lock().unwrap().quarantine().unwrap();
    assert_eq!(set_aside.len(), 1, "the note is kept: {set_aside:?}");
    assert!(set_aside[0].operation.as_deref().unwrap().contains("三楼，敲门两次"), "{set_aside:?}");
    drop(replica);

    // The real relay gives the compound back; the note waits in quarantine for a coordinator.
    let after = volunteer.sync();
    assert_eq!(after["set_aside"], 1, "{after}");
    assert!(volunteer.ok(&["find", "北林小区1号楼1单元102"])["id"].is_string());
}
