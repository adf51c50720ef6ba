//! Storage damage: pages of a real SQLite file overwritten on disk make the integrity check at
//! start fail and `/healthz` answer 503 with the reason (the real binary, with and without
//! `--skip-integrity-check`); a stored document that no longer loads is a permanent, named
//! rejection (`document_damaged`) to the phone, not "try again".

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use doorstep_core::Role;
use doorstep_core::schema::vocabulary::DocKind;
use doorstep_server::storage::sqlite::SqliteStorage;
use doorstep_server::storage::sqlite::integrity::Integrity;
use reqwest::StatusCode;

use crate::harness::{ROSTER_CSV, TestRelay};

/// Overwrites the root page of `table` in the SQLite file `db` with garbage, as a failing disk
/// or a torn copy would; the WAL is folded into the file first so the page is really there.
pub fn damage_table(db: &Path, table: &str) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
    let page_size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap();
    let root: i64 =
        conn.query_row("SELECT rootpage FROM sqlite_master WHERE name = ?1", [table], |r| r.get(0)).unwrap();
    let (page_size, root) = (u64::try_from(page_size).unwrap(), u64::try_from(root).unwrap());
    drop(conn);
    let mut file = OpenOptions::new().write(true).open(db).unwrap();
    file.seek(SeekFrom::Start((root - 1) * page_size)).unwrap();
    file.write_all(&vec![0xA5; usize::try_from(page_size).unwrap()]).unwrap();
    file.sync_all().unwrap();
}

/// A database with a compound, its roster and the admin, written by a relay that then stopped.
async fn populated() -> (TestRelay, std::path::PathBuf) {
    let mut relay = TestRelay::start().await;
    let compound = relay.create_compound("香樟苑").await;
    relay.import_roster(compound, ROSTER_CSV).await;
    relay.stop().await;
    let db = relay.dir.path().join("relay.db");
    (relay, db)
}

/// Kills the relay if the test fails before it is stopped.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the real binary on `db` with `extra` flags; returns it and its URL.
fn serve(db: &Path, extra: &[&str]) -> (KillOnDrop, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_doorstep"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(extra)
        .arg("--db")
        .arg(db)
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let child = KillOnDrop(child);
    let started = Instant::now();
    loop {
        assert!(started.elapsed() < Duration::from_secs(60), "the relay did not start");
        let line = lines.next().expect("the relay exited before listening").unwrap();
        if let Some(rest) = line.strip_prefix("doorstep listening on ") {
            return (child, rest.split_whitespace().next().unwrap().to_owned());
        }
    }
}

async fn health(url: &str) -> (StatusCode, String) {
    let res = crate::harness::http_client().get(format!("{url}/healthz")).send().await.unwrap();
    (res.status(), res.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_pages_are_found_at_start_and_healthz_says_so() {
    let (_relay, db) = populated().await;
    let storage = SqliteStorage::open(&db).await.unwrap();
    assert_eq!(storage.check_integrity().await.unwrap(), Integrity::Intact);
    drop(storage);

    // The documents table is damaged; the people table, which the old /healthz read, is not.
    damage_table(&db, "documents");
    let storage = SqliteStorage::open(&db).await.unwrap();
    let Integrity::Damaged(found) = storage.check_integrity().await.unwrap() else {
        panic!("the damage was not found")
    };
    println!("quick_check: {found}");
    drop(storage);

    let (checked, url) = serve(&db, &[]);
    let (status, text) = health(&url).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{text}");
    assert!(text.contains("damaged") && text.contains("backup"), "{text}");
    drop(checked); // one relay per file

    // Without the check the relay cannot tell: exactly the failure the check exists for.
    let (_unchecked, url) = serve(&db, &["--skip-integrity-check"]);
    assert_eq!(health(&url).await, (StatusCode::OK, "ok\n".to_owned()));
}

/// A relay with a compound whose roster is imported, and a volunteer's phone that synced it.
async fn a_volunteer_synced() -> (TestRelay, crate::harness::Phone) {
    let relay = TestRelay::start().await;
    let compound = relay.create_compound("香樟苑").await;
    relay.import_roster(compound, ROSTER_CSV).await;
    let mut volunteer = relay.phone(compound, Role::Volunteer, "李强").await;
    volunteer.sync(&relay).await;
    (relay, volunteer)
}

/// The relay stopped, its database changed by `damage` (as a failing disk would), and started
/// again on it.
async fn damaged_while_stopped(
    mut relay: TestRelay,
    damage: impl FnOnce(&rusqlite::Connection),
) -> TestRelay {
    relay.stop().await;
    let conn = rusqlite::Connection::open(relay.dir.path().join("relay.db")).unwrap();
    damage(&conn);
    drop(conn);
    relay.restart().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_that_no_longer_loads_is_a_named_permanent_rejection() {
    let (relay, volunteer) = a_volunteer_synced().await;
    let roster = volunteer.doc_of(DocKind::Roster).id();
    let relay = damaged_while_stopped(relay, |conn| {
        let changed = conn
            .execute(
                "UPDATE documents SET snapshot = ?1 WHERE id = ?2",
                rusqlite::params![vec![0x85_u8; 64], roster.to_string()],
            )
            .unwrap();
        assert_eq!(changed, 1);
    })
    .await;

    let request = volunteer.message_for(volunteer.doc_of(DocKind::Roster));
    let response = relay.sync(&volunteer.token, &request).await;
    assert_eq!(response.rejected.len(), 1, "{:?}", response.rejected);
    let rejection = &response.rejected[0];
    assert_eq!((rejection.doc, rejection.rule.as_str()), (roster, "document_damaged"));
    assert!(
        rejection.reason.contains("restored") && rejection.reason.contains("备份"),
        "{}",
        rejection.reason
    );

    // The compound's other documents still sync.
    let requests = volunteer.message_for(volunteer.doc_of(DocKind::Requests));
    let response = relay.sync(&volunteer.token, &requests).await;
    assert!(response.rejected.is_empty(), "{:?}", response.rejected);
}

/// A stored chunk of changes damaged on disk (one byte of a volunteer's note flipped) is storage
/// damage like a snapshot that does not load. (Automerge's `load_incremental` stopped at the
/// chunk's checksum and reported success: the relay served the roster without the note it had
/// acknowledged, and its next compaction would have dropped the note for good.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_chunk_that_does_not_load_whole_is_a_named_permanent_rejection() {
    let (relay, mut volunteer) = a_volunteer_synced().await;
    let household = volunteer.compound().households()[0].id;
    volunteer
        .apply(&doorstep_core::Operation::EditNotes {
            household, notes: "独居老人，敲门要大声".into()
        })
        .unwrap();
    assert!(volunteer.sync(&relay).await.rejected.is_empty());
    let roster = volunteer.doc_of(DocKind::Roster).id();
    let relay = damaged_while_stopped(relay, |conn| {
        let (seq, mut chunk): (i64, Vec<u8>) = conn
            .query_row(
                "SELECT seq, chunk FROM changes WHERE doc = ?1 ORDER BY seq DESC LIMIT 1",
                [roster.to_string()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("the note is stored as a chunk");
        *chunk.last_mut().unwrap() ^= 0x01;
        conn.execute("UPDATE changes SET chunk = ?1 WHERE seq = ?2", rusqlite::params![chunk, seq]).unwrap();
    })
    .await;

    let request = volunteer.message_for(volunteer.doc_of(DocKind::Roster));
    let response = relay.sync(&volunteer.token, &request).await;
    let rejection = response.rejected.first().expect("the roster is refused, not served without the note");
    assert_eq!((rejection.doc, rejection.rule.as_str()), (roster, "document_damaged"));
    let requests = volunteer.message_for(volunteer.doc_of(DocKind::Requests));
    assert!(relay.sync(&volunteer.token, &requests).await.rejected.is_empty(), "the other documents sync");
}
