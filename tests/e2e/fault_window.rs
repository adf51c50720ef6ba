//! A fault window: the relay's SQLite file is write-locked by another process (as a long
//! `doorstep admin` write holds it) while three volunteers keep working and syncing. The relay
//! answers "storage busy" (`unavailable`, transient); the phones keep their changes, wait with
//! backoff and jitter, and try again. Afterwards nothing is set aside and everything arrived.

use std::time::{Duration, Instant};

use crate::harness::{Phone, Relay, sample};

#[test]
fn a_storage_busy_window_sets_nothing_aside_and_everything_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(dir.path());
    let compound = relay.compound_from("北林", &sample("beilin-roster.csv"));
    let coordinator = Phone::new(dir.path(), "coordinator");
    coordinator.join(&relay, &relay.invite(&compound, "coordinator"));
    let phones: Vec<Phone> = (0..3)
        .map(|i| {
            let phone = Phone::new(dir.path(), &format!("volunteer{i}"));
            phone.join(&relay, &relay.invite(&compound, "volunteer"));
            phone
        })
        .collect();
    let doors = ["北林小区1号楼1单元101", "北林小区1号楼1单元102", "北林小区1号楼1单元103"];

    // Another process takes the database's write lock and holds it past the relay's busy
    // timeout (5 s).
    let holder = rusqlite::Connection::open(&relay.db).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let window = Instant::now();
    let reports: Vec<Vec<serde_json::Value>> = std::thread::scope(|scope| {
        let workers: Vec<_> = phones
            .iter()
            .zip(doors)
            .enumerate()
            .map(|(i, (phone, door))| {
                scope.spawn(move || {
                    let mut reports = Vec::new();
                    for k in 0..3 {
                        phone.ok(&["request", door, &format!("第{i}台手机 第{k}个请求")]);
                        phone.ok(&["notes", door, &format!("第{i}台手机 第{k}次备注")]);
                        reports.push(phone.sync());
                    }
                    reports
                })
            })
            .collect();
        std::thread::sleep(Duration::from_secs(8));
        holder.execute_batch("COMMIT").unwrap();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    println!("fault window: phones done {:.1} s after the lock was taken", window.elapsed().as_secs_f64());

    let retries: u64 = reports.iter().flatten().map(|r| r["report"]["retries"].as_u64().unwrap()).sum();
    assert!(retries > 0, "the window was felt: the phones waited and tried again: {reports:?}");
    for (phone, reports) in phones.iter().zip(&reports) {
        for report in reports {
            assert_eq!(report["report"]["set_aside"], 0, "nothing transient is set aside: {report}");
            assert!(report["report"]["rejected"].as_array().unwrap().is_empty(), "{report}");
        }
        let status = phone.ok(&["status"]);
        assert_eq!(status["set_aside"], 0, "{status}");
        assert!(phone.ok(&["quarantine"]).as_array().unwrap().is_empty());
        if status["unsynced"] != 0 {
            // The last sync of a phone may have ended inside the window: one more, after it.
            let again = phone.sync();
            assert_eq!(again["unsynced"], 0, "{again}");
        }
    }

    coordinator.sync();
    let mut texts: Vec<String> = coordinator
        .ok(&["requests"])
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["text"].as_str().unwrap().to_owned())
        .collect();
    texts.sort();
    let mut expected: Vec<String> =
        (0..3).flat_map(|i| (0..3).map(move |k| format!("第{i}台手机 第{k}个请求"))).collect();
    expected.sort();
    assert_eq!(texts, expected, "every request arrived");
    for (i, door) in doors.iter().enumerate() {
        let notes = coordinator.ok(&["find", door])["notes"].as_str().unwrap().to_owned();
        assert_eq!(notes, format!("第{i}台手机 第2次备注"), "the last notes of phone {i} arrived");
    }
}
