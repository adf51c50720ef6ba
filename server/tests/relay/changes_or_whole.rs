//! A teammate back after the team's day gets the changes it lacks, not the whole document, when
//! they are the smaller on the link (core `sync/changes_or_whole.rs`): here, 300 notes written by
//! fifteen volunteers, far more than the 256 changes past which the relay used to send the
//! roster whole, but a fraction of the roster's bytes once compressed. The phone stores them as
//! they came (core `ReceivedChanges`), instead of Automerge rebuilding them from the document.

use std::sync::Mutex;

use doorstep_core::schema::vocabulary::DocKind;
use doorstep_core::sync::{ClientSession, MessageLimits, ReceivedChanges, SyncResponse, decode};
use doorstep_core::{Operation, Role};
use doorstep_replica::Replica;
use doorstep_replica::http::{self, RelayClient, SyncBody};

use crate::harness::{TestRelay, device_now, first_request};

/// A compound's roster of `households`, as the district's spreadsheets come.
fn big_roster(households: usize) -> String {
    let mut csv = String::from(
        "\u{feff}小区,楼号,单元,楼层,房号,户主,联系电话,户内人数,60岁以上人数,6岁以下儿童,重点人群,管控状态,有无电梯,备注\n",
    );
    for n in 0..households {
        let (building, unit, floor, door) = (n / 60 + 1, n / 20 % 3 + 1, n / 2 % 10 + 1, n % 2 + 1);
        let flag = if n % 9 == 0 { "独居老人" } else { "" };
        let members = n % 5 + 1;
        let elderly = (n % 3).min(members);
        csv.push_str(&format!(
            "香樟苑,{building}号楼,{unit}单元,{floor},{floor}0{door},住户{n},199{n:08},{members},{elderly},0,{flag},正常,无,\n"
        ));
    }
    csv
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_teammate_back_gets_the_teams_changes_compressed_not_the_whole_roster() {
    let relay = TestRelay::start().await;
    let compound = relay.create_compound("香樟苑").await;
    let report = relay.import_roster(compound, &big_roster(1200)).await;
    assert_eq!(report["imported"], 1200, "{report}");

    // 李强 synced at the base this morning, on a real replica file.
    let dir = tempfile::tempdir().unwrap();
    let replica = Mutex::new(Replica::open(dir.path().join("李强.sqlite")).unwrap());
    let transport = RelayClient::new(&relay.url, None).unwrap();
    let code = relay.invite(&relay.admin_token, compound, Role::Volunteer).await;
    let joined = http::join(&replica, &transport, &code, "李强").await.unwrap();
    let transport = transport.with_token(joined.token);
    http::sync(&replica, &transport, device_now).await.unwrap();

    // So did 赵敏, whose phone's sync session is driven by hand below.
    let mut zhao = relay.phone(compound, Role::Volunteer, "赵敏").await;
    zhao.sync(&relay).await;

    // Fifteen teammates each write twenty doors' notes and come back before them.
    let mut last = None;
    for t in 0..15 {
        let mut phone = relay.phone(compound, Role::Volunteer, &format!("队员{t}")).await;
        phone.sync(&relay).await;
        let households = phone.compound().households();
        for d in 0..20 {
            let household = households[(t * 20 + d) * 3].id;
            let notes = format!("{t}队{d}号门：老人独居，蔬菜包放门口后敲门三下；药品当面交给家属。");
            phone.apply(&Operation::EditNotes { household, notes }).unwrap();
        }
        let synced = phone.sync(&relay).await;
        assert!(synced.rejected.is_empty(), "{:?}", synced.rejected);
        last = Some(phone);
    }
    let last = last.unwrap();
    let roster = last.doc_of(DocKind::Roster);
    let whole = roster.automerge().save().len();

    // His first request, sent and answered compressed, as the app does.
    let (mut run, body) = first_request(&replica);
    let exchanged = transport.exchange(&SyncBody::new(body, true)).await.unwrap();
    let answer = SyncResponse::decode(&exchanged.answer).unwrap();
    let message = answer.messages.iter().find(|m| m.doc == roster.id()).expect("a reply for the roster");
    let message = decode(&message.message, &MessageLimits::for_replies()).unwrap();
    assert_eq!(message.changes.len(), 300, "the 300 changes he lacks, not the roster whole");
    let sent: Vec<u8> = message.changes.iter().flatten().copied().collect();
    assert!(
        exchanged.received * 2 < whole,
        "{} B on the link for the whole answer, against a roster of {whole} B",
        exchanged.received
    );

    // And he holds the team's day after that one answer.
    run.handle_response(&mut replica.lock().unwrap(), &exchanged.answer, device_now()).unwrap();
    run.finish(&mut replica.lock().unwrap()).unwrap();
    let in_step = |replica: &Replica| {
        let his = replica.compounds().next().unwrap();
        his.documents().find(|d| d.kind() == DocKind::Roster).unwrap().heads() == roster.heads()
    };
    assert!(in_step(&replica.lock().unwrap()), "in step with the team after one exchange");

    // The session hands the phone those changes as they came, to store without Automerge
    // rebuilding them from the document.
    let mut session = ClientSession::new(zhao.states.clone()).with_known_grants(zhao.known_grants.clone());
    let request = session.request(&zhao.compounds).unwrap();
    let before = zhao.doc_of(DocKind::Roster).heads();
    let hers = RelayClient::new(&relay.url, None).unwrap().with_token(zhao.token.clone());
    let exchanged = hers.exchange(&SyncBody::new(request.encode(), true)).await.unwrap();
    let outcome = session.handle(&mut zhao.compounds, SyncResponse::decode(&exchanged.answer).unwrap());
    let (_, received) =
        outcome.received.iter().find(|(id, _)| *id == roster.id()).expect("the roster's changes");
    assert_eq!(received, &ReceivedChanges { since: before, bytes: sent.clone() });
    assert_eq!(zhao.doc_of(DocKind::Roster).heads(), roster.heads());

    // His phone stored them so: the newest chunk of the roster is the bytes the relay sent
    // (byte for byte what Automerge's `save_after` would have rebuilt).
    drop(replica);
    let file = dir.path().join("李强.sqlite");
    let stored: Vec<u8> = rusqlite::Connection::open(&file)
        .unwrap()
        .query_row(
            "SELECT bytes FROM chunks WHERE doc = ?1 ORDER BY seq DESC LIMIT 1",
            [roster.id().to_string()],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(stored, sent, "the chunk stored is the changes sent");
    let reopened = Replica::open(&file).unwrap();
    assert!(in_step(&reopened), "and the file holds the team's day");
    let notes = reopened.compounds().next().unwrap().households();
    assert_eq!(notes.iter().filter(|h| h.notes.contains("蔬菜包放门口")).count(), 300);
}

/// A teammate's day of short repeated notes, then long free text that does not compress, the
/// second sent up in pieces: the volunteer behind gets those changes, not the roster whole. The
/// relay used to measure how the changes compress on the newest alone, so at twice their size,
/// more than the roster's (core `sync/lacking.rs`): 82 KB down for 46 KB of changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_teammate_back_gets_long_notes_sent_in_pieces_as_changes_not_the_whole_roster() {
    let relay = TestRelay::start().await;
    let compound = relay.create_compound("香樟苑").await;
    relay.import_roster(compound, &big_roster(1040)).await;
    let (_dir, li, li_link, _) = crate::landing::joined_volunteer(&relay, compound, "李强").await;
    http::sync(&li, &li_link, device_now).await.unwrap();
    let (_zdir, zhao, zhao_link, _) = crate::landing::joined_volunteer(&relay, compound, "赵敏").await;
    http::sync(&zhao, &zhao_link, device_now).await.unwrap();
    let households = zhao.lock().unwrap().compounds().next().unwrap().households();
    for household in households.iter().skip(100).take(65) {
        let notes = "老人独居，行动不便，需要送药上楼，请敲门三次后等待两分钟。".repeat(12);
        zhao.lock()
            .unwrap()
            .apply(device_now(), compound, &Operation::EditNotes { household: household.id, notes })
            .unwrap();
    }
    http::sync(&zhao, &zhao_link, device_now).await.unwrap();
    let mut seed = 7_u32;
    for household in households.iter().take(48) {
        let notes: String = (0..400)
            .map(|_| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                char::from_u32(0x4e00 + (seed >> 8) % 20_000).unwrap()
            })
            .collect();
        zhao.lock()
            .unwrap()
            .apply(device_now(), compound, &Operation::EditNotes { household: household.id, notes })
            .unwrap();
    }
    let up = http::sync(&zhao, &zhao_link, device_now).await.unwrap();
    let roster = zhao
        .lock()
        .unwrap()
        .compounds()
        .next()
        .unwrap()
        .documents()
        .find(|d| d.kind() == DocKind::Roster)
        .unwrap()
        .id();
    let whole =
        zhao.lock().unwrap().compounds().next().unwrap().document(roster).unwrap().automerge().save().len();

    let (_, body) = first_request(&li);
    let exchanged = li_link.exchange(&SyncBody::new(body, true)).await.unwrap();
    let answer = SyncResponse::decode(&exchanged.answer).unwrap();
    let message = answer.messages.iter().find(|m| m.doc == roster).expect("a reply for the roster");
    let message = decode(&message.message, &MessageLimits::for_replies()).unwrap();
    assert_eq!(
        message.changes.len(),
        113,
        "the 113 notes ({} B up), not the roster whole ({whole} B); {} B down",
        up.bytes_up,
        exchanged.received
    );
    assert!(exchanged.received * 3 < whole * 2, "{} B down for a roster of {whole} B", exchanged.received);
}
