//! A volunteer whose phone's clock is wrong (its date reset when the battery ran flat, set by
//! hand, a wrong time zone), on a real replica file over real HTTP. The relay refuses a recorded
//! time more than a day after or a month before its own clock (`times_follow_the_relays_clock`),
//! which set the volunteer's whole day aside for a coordinator to review. The phone now hears
//! the relay's clock in each answer (its `Date` header), says how far off its own is, and carries
//! what the relay refused for its time out again at that time moved by the offset, which syncs.
//! An honest phone back after more than a month away is not redated: its clock is right, so the
//! old work still goes to review.

use std::sync::Mutex;

use doorstep_core::schema::vocabulary::Outcome;
use doorstep_core::{Operation, Role, Timestamp};
use doorstep_replica::http::{self, RelayClient};
use doorstep_replica::{Replica, SyncReport};

use crate::harness::{Fixture, device_now};

const DAY: i64 = 24 * 60 * 60 * 1000;

/// A clock `off` milliseconds from the real one.
fn clock_off_by(off: i64) -> impl Fn() -> Timestamp + Copy {
    move || Timestamp::from_millis(device_now().as_millis() + off)
}

/// A phone of `name` (as `role`) on a replica file in `dir`, joined to the fixture's compound
/// and synced once, its clock `off` milliseconds from the real one.
async fn joined(
    fx: &Fixture,
    dir: &std::path::Path,
    role: Role,
    name: &str,
    off: i64,
) -> (Mutex<Replica>, RelayClient) {
    let replica = Mutex::new(Replica::open(dir.join(format!("{name}.sqlite"))).unwrap());
    let transport = RelayClient::new(&fx.relay.url, None).unwrap();
    let code = fx.relay.invite(&fx.relay.admin_token, fx.compound, role).await;
    let joined = http::join(&replica, &transport, &code, name).await.unwrap();
    let transport = transport.with_token(joined.token);
    http::sync(&replica, &transport, clock_off_by(off)).await.unwrap();
    (replica, transport)
}

/// A volunteer's phone on a replica file in `dir`, joined to the fixture's compound and synced
/// with a right clock; then (its clock reset, say) a claim and a delivery of the round's first
/// free task recorded offline at `recorded_off` from the real time, and a sync with the clock
/// `off` from the real one. Returns the report, the replica and the task. (A phone that a sync
/// already told its clock is off dates its work on the relay's clock: see
/// `work_recorded_after_a_sync_found_the_clock_off_is_dated_on_the_relays_clock`.)
async fn a_day_recorded(
    fx: &Fixture,
    dir: &std::path::Path,
    off: i64,
    recorded_off: i64,
) -> (SyncReport, Mutex<Replica>, doorstep_core::id::TaskId, RelayClient) {
    let clock = clock_off_by(off);
    let (replica, transport) = joined(fx, dir, Role::Volunteer, "赵敏", 0).await;

    let task = {
        let replica = replica.lock().unwrap();
        let compound = replica.compounds().next().unwrap();
        compound.tasks().into_iter().find(|t| t.round == fx.round && t.assignee.is_none()).unwrap().id
    };
    {
        let mut replica = replica.lock().unwrap();
        let at = |n: i64| Timestamp::from_millis(device_now().as_millis() + recorded_off + n * 60_000);
        replica.apply(at(0), fx.compound, &Operation::ClaimTask { round: fx.round, task }).unwrap();
        let delivered = Operation::RecordAttempt {
            round: fx.round,
            task,
            outcome: Outcome::Delivered,
            note: "药放门口，已电话告知".into(),
        };
        replica.apply(at(1), fx.compound, &delivered).unwrap();
    }
    let report = http::sync(&replica, &transport, clock).await.unwrap();
    (report, replica, task, transport)
}

/// The delivery as the coordinator's phone sees it after syncing: who and when.
async fn delivery_seen_by_the_coordinator(
    fx: &mut Fixture,
    task: doorstep_core::id::TaskId,
) -> Option<(doorstep_core::id::PersonId, Timestamp)> {
    assert!(fx.coordinator.sync(&fx.relay).await.rejected.is_empty());
    let tasks = fx.coordinator.compound().tasks();
    let task = tasks.iter().find(|t| t.id == task).unwrap();
    task.attempts.iter().find(|a| a.outcome == Outcome::Delivered).map(|a| (a.by, a.at))
}

fn assert_near_now(at: Timestamp, what: &str) {
    let off = (at.as_millis() - device_now().as_millis()).abs();
    assert!(off < 5 * 60_000, "{what} is {off} ms from the relay's clock");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_recorded_by_a_clock_three_days_ahead_syncs_at_the_relays_time() {
    let mut fx = Fixture::new().await;
    let dir = tempfile::tempdir().unwrap();
    let ahead = 3 * DAY + 2 * 60 * 60 * 1000;
    let (report, replica, task, transport) = a_day_recorded(&fx, dir.path(), ahead, ahead).await;

    assert!(report.rejected.is_empty(), "nothing refused for good: {:?}", report.rejected);
    assert_eq!(report.set_aside, 0, "{report:?}");
    assert!(report.retimed >= 1, "the delivery was carried out again: {report:?}");
    // The refusal's answer, then the day carried out again in the next request's first message
    // (not a message of heads first, then the changes a round trip later).
    assert_eq!(report.requests, 2, "{report:?}");
    let off = report.clock_off_by_ms.expect("the sync says the clock is off");
    assert!((off - ahead).abs() < 60_000, "off by {off} ms, the clock was {ahead} ms ahead");
    let person = {
        let replica = replica.lock().unwrap();
        assert_eq!(replica.unsynced_changes(), 0, "the day is on the relay");
        assert!(replica.quarantine().unwrap().is_empty(), "nothing set aside");
        replica.identity().unwrap().person
    };
    let (by, at) = delivery_seen_by_the_coordinator(&mut fx, task).await.expect("the delivery arrived");
    assert_eq!(by, person);
    assert_near_now(at, "the delivery's time");

    // The phone remembers how far off its clock was (its status says so after a restart) until
    // a sync finds it right.
    drop(replica);
    let file = dir.path().join("赵敏.sqlite");
    let reopened = Mutex::new(Replica::open(&file).unwrap());
    let remembered = reopened.lock().unwrap().clock_off_by_ms().expect("remembered after a restart");
    assert!((remembered - ahead).abs() < 60_000, "{remembered}");
    let report = http::sync(&reopened, &transport, device_now).await.unwrap();
    assert_eq!(report.clock_off_by_ms, None, "{report:?}");
    drop(reopened);
    assert_eq!(Replica::open(&file).unwrap().clock_off_by_ms(), None, "the right clock is remembered too");
}

/// A phone a sync told its clock is three days ahead, still three days ahead: what it records
/// next is dated on the relay's clock, so nothing is refused or carried out again; and once the
/// clock is set right (it jumped against the boot clock), the phone dates by its clock again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_recorded_after_a_sync_found_the_clock_off_is_dated_on_the_relays_clock() {
    let mut fx = Fixture::new().await;
    let dir = tempfile::tempdir().unwrap();
    let ahead = 3 * DAY;
    let clock = clock_off_by(ahead);
    let (replica, transport) = joined(&fx, dir.path(), Role::Volunteer, "赵敏", ahead).await;
    assert!(replica.lock().unwrap().clock_off_by_ms().is_some_and(|off| (off - ahead).abs() < 60_000));
    let (first, second) = {
        let replica = replica.lock().unwrap();
        let mut free = replica
            .compounds()
            .next()
            .unwrap()
            .tasks()
            .into_iter()
            .filter(|t| t.round == fx.round && t.assignee.is_none());
        (free.next().unwrap().id, free.next().unwrap().id)
    };
    let round = fx.round;
    let delivered =
        |task| Operation::RecordAttempt {
            round, task, outcome: Outcome::Delivered, note: "放门口".into()
        };
    replica.lock().unwrap().apply(clock(), fx.compound, &delivered(first)).unwrap();
    let report = http::sync(&replica, &transport, clock).await.unwrap();
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    assert_eq!((report.retimed, report.set_aside), (0, 0), "dated right the first time: {report:?}");
    let (_, at) = delivery_seen_by_the_coordinator(&mut fx, first).await.expect("the delivery arrived");
    assert_near_now(at, "the delivery's time");
    // The clock set right: the wall clock jumped three days back against the boot clock, so the
    // old offset no longer holds and the right clock dates the work.
    replica.lock().unwrap().apply(device_now(), fx.compound, &delivered(second)).unwrap();
    let report = http::sync(&replica, &transport, device_now).await.unwrap();
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    let (_, at) = delivery_seen_by_the_coordinator(&mut fx, second).await.expect("the delivery arrived");
    assert_near_now(at, "the second delivery's time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_recorded_by_a_clock_reset_forty_days_back_syncs_at_the_relays_time() {
    let mut fx = Fixture::new().await;
    let dir = tempfile::tempdir().unwrap();
    let behind = -40 * DAY;
    let (report, _replica, task, _) = a_day_recorded(&fx, dir.path(), behind, behind).await;
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    assert_eq!(report.set_aside, 0, "{report:?}");
    assert!(report.retimed >= 1, "the delivery was carried out again: {report:?}");
    assert!(report.clock_off_by_ms.is_some_and(|off| (off + 40 * DAY).abs() < 60_000), "{report:?}");
    let (_, at) = delivery_seen_by_the_coordinator(&mut fx, task).await.expect("the delivery arrived");
    assert_near_now(at, "the delivery's time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_a_right_clock_dated_over_a_month_ago_is_reviewed_not_redated() {
    // The phone's clock is right; the day was recorded 31 days ago (a phone offline for a
    // month): moving it by the clock's offset changes nothing, so it goes to review as before.
    let mut fx = Fixture::new().await;
    let dir = tempfile::tempdir().unwrap();
    let (report, replica, task, _) = a_day_recorded(&fx, dir.path(), 0, -31 * DAY).await;
    assert_eq!(report.clock_off_by_ms, None, "a right clock is not called wrong: {report:?}");
    assert_eq!(report.retimed, 0, "{report:?}");
    let rejection = report.rejected.first().expect("the month-old work is refused");
    assert_eq!(rejection.rule, "times_follow_the_relays_clock");
    assert!(report.set_aside >= 1, "{report:?}");
    assert!(!replica.lock().unwrap().quarantine().unwrap().is_empty(), "set aside for review");
    assert_eq!(delivery_seen_by_the_coordinator(&mut fx, task).await, None, "not redated to today");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_round_a_coordinator_planned_offline_by_a_clock_two_days_ahead_is_made_at_the_relays_time() {
    // The relay takes the round and refuses its cancellation's time; the phone carries the
    // cancellation out again at the moved time.
    let mut fx = Fixture::new().await;
    let dir = tempfile::tempdir().unwrap();
    let ahead = 2 * DAY + 3 * 60 * 60 * 1000;
    let clock = clock_off_by(ahead);
    // Joined while its clock was right; set two days ahead since.
    let (replica, transport) = joined(&fx, dir.path(), Role::Coordinator, "王芳", 0).await;
    let round = {
        let plan = Operation::CreateRound {
            title: "药品 第2轮".into(),
            kind: doorstep_core::schema::vocabulary::TaskKind::Medicine,
            date: "2026-12-05".into(),
            selection: doorstep_core::Selection::All,
            items: "降压药".into(),
            priority: doorstep_core::schema::vocabulary::Priority::Urgent,
        };
        let mut replica = replica.lock().unwrap();
        let round = replica.apply(clock(), fx.compound, &plan).unwrap().created[0];
        // A task cancelled before the round went out: the round's only recorded time.
        let task =
            replica.compounds().next().unwrap().tasks().into_iter().find(|t| t.round == round).unwrap().id;
        let cancel = Operation::CancelTask { round, task, reason: "住户已转院".into() };
        replica.apply(clock(), fx.compound, &cancel).unwrap();
        round
    };
    let report = http::sync(&replica, &transport, clock).await.unwrap();
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    assert_eq!(report.set_aside, 0, "{report:?}");
    assert!(report.retimed >= 1, "{report:?}");
    assert_eq!(replica.lock().unwrap().unsynced_changes(), 0);

    // A volunteer's phone gets the round, with its tasks, under the same ID.
    let volunteer = &mut fx.volunteers[0];
    assert!(volunteer.sync(&fx.relay).await.rejected.is_empty());
    let tasks = volunteer.compound().tasks();
    assert!(tasks.iter().any(|t| t.round == round), "the round reached the volunteer");
    let cancelled = tasks.iter().find_map(|t| t.cancelled.as_ref().filter(|_| t.round == round));
    assert_near_now(cancelled.expect("the cancellation arrived").at, "the cancellation's time");
}

/// A relay whose own clock is forty days behind (the phones' are right): every phone that syncs
/// is forty days ahead of it. After three of them, the relay says its own clock may be wrong, on
/// `/healthz` (still 200) and in `/metrics`; one phone alone off is that phone's clock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn most_phones_forty_days_ahead_put_the_relays_own_clock_in_doubt() {
    let fx = Fixture::new().await;
    let dir = tempfile::tempdir().unwrap();
    let health = || async {
        let res = reqwest::get(format!("{}/healthz", fx.relay.url)).await.unwrap();
        (res.status(), res.text().await.unwrap())
    };
    let doubt_seconds = |metrics: String| -> i64 {
        let line = metrics.lines().find(|l| l.starts_with("doorstep_relay_clock_doubt_seconds ")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    let _first = joined(&fx, dir.path(), Role::Volunteer, "赵敏", 40 * DAY).await;
    assert_eq!(health().await, (reqwest::StatusCode::OK, "ok\n".to_owned()), "one phone off is that phone");
    assert_eq!(doubt_seconds(fx.relay.metrics().await), 0);
    let cookie = fx.relay.dashboard_cookie(&fx.relay.admin_token).await;
    let members =
        fx.relay.dashboard_get(&cookie, &format!("/dashboard/api/compounds/{}/members", fx.compound)).await;
    assert!(!members.to_string().contains("relay_clock_in_doubt"), "one phone off is that phone: {members}");
    let _second = joined(&fx, dir.path(), Role::Volunteer, "李强", 40 * DAY).await;
    let _third = joined(&fx, dir.path(), Role::Medic, "王医生", 40 * DAY).await;
    let (status, text) = health().await;
    assert_eq!(status, reqwest::StatusCode::OK, "the relay still serves: {text}");
    assert!(text.starts_with("ok\nwarning: the relay's own clock may be wrong: "), "{text}");
    assert!(text.contains("phones that synced in the last hour are 40 days ahead of it"), "{text}");
    assert!(text.contains("timedatectl"), "{text}");
    let off = doubt_seconds(fx.relay.metrics().await);
    assert!((off - 40 * DAY / 1000).abs() < 60, "{off}");

    // The members page says the relay's clock is the wrong one beside those phones, instead of
    // asking three volunteers to set right phones forty days back.
    let cookie = fx.relay.dashboard_cookie(&fx.relay.admin_token).await;
    let members =
        fx.relay.dashboard_get(&cookie, &format!("/dashboard/api/compounds/{}/members", fx.compound)).await;
    let off_devices: Vec<&serde_json::Value> = members
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["devices"].as_array().unwrap())
        .filter(|d| d.get("clock_off_by_ms").is_some())
        .collect();
    assert_eq!(off_devices.len(), 3, "{members}");
    assert!(off_devices.iter().all(|d| d["relay_clock_in_doubt"] == true), "{members}");
}
