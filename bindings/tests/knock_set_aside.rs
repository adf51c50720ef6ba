//! A knock the relay set aside for a coordinator shows on the app's task list as such: the task
//! itself shows no knock (the relay refused it), so without the mark a volunteer sees a door
//! never knocked on and delivers a second time. A real relay in the process; the volunteer is
//! the bindings' own `Replica`, the coordinator a phone replica that closes the round twenty
//! minutes before the volunteer's knock.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::{Arc, Mutex};

use doorstep_core::operation::Selection;
use doorstep_core::schema::vocabulary::{Outcome, Priority, TaskKind};
use doorstep_core::{Operation, Timestamp};
use doorstep_ffi::Replica;
use doorstep_replica::http::{self, RelayClient};
use doorstep_server::relay::Relay;
use doorstep_server::storage::sqlite::SqliteStorage;
use doorstep_server::{AppState, Config};
use serde_json::json;
use support::{Admin, Keys, ROSTER_CSV};

fn now() -> Timestamp {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    Timestamp::from_millis(i64::try_from(since_epoch.as_millis()).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_knock_set_aside_for_a_coordinator_marks_its_task_on_the_app_s_list() {
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::open(dir.path().join("relay.db")).await.unwrap();
    let opened = Relay::open(Arc::new(storage)).await.unwrap();
    let admin_token = opened.admin_token.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(doorstep_server::serve(
        listener,
        AppState::new(opened.relay, Config::default()),
        None,
        async {
            let _ = stopped.await;
        },
    ));

    // Opening the phone first installs rustls' provider, which the admin's client uses with
    // the `tls` feature.
    let volunteer = Replica::open(
        dir.path().join("volunteer.sqlite").display().to_string(),
        url.clone(),
        None,
        Arc::new(Keys),
        None,
    )
    .unwrap();
    let admin = reqwest::Client::new();
    let api = Admin { client: admin.clone(), url: url.clone(), token: admin_token.clone() };
    let compound = api.post("/v1/compounds", "application/json", json!({"name": "香樟苑"}).to_string()).await;
    let compound = compound["id"].as_str().unwrap().to_owned();
    api.post(&format!("/v1/compounds/{compound}/roster"), "text/csv", ROSTER_CSV.to_owned()).await;
    let invite = |role: &'static str| {
        let api = &api;
        let path = format!("/v1/compounds/{compound}/invites");
        async move {
            let invite = api.post(&path, "application/json", json!({"role": role}).to_string()).await;
            invite["code"].as_str().unwrap().to_owned()
        }
    };

    // The coordinator plans a round half an hour ago.
    let coordinator =
        Mutex::new(doorstep_replica::Replica::open(dir.path().join("coordinator.sqlite")).unwrap());
    let joined = http::join(
        &coordinator,
        &RelayClient::new(&url, None).unwrap(),
        &invite("coordinator").await,
        "社区",
    )
    .await
    .unwrap();
    let relay = RelayClient::new(&url, Some(joined.token)).unwrap();
    let compound_id = joined.compound;
    http::sync(&coordinator, &relay, now).await.unwrap();
    let minutes_ago = |m: i64| Timestamp::from_millis(now().as_millis() - m * 60_000);
    let plan = Operation::CreateRound {
        title: "蔬菜包 第1轮".into(),
        kind: TaskKind::Groceries,
        date: "2026-11-24".into(),
        selection: Selection::All,
        items: "蔬菜包1份".into(),
        priority: Priority::Normal,
    };
    let round = coordinator.lock().unwrap().apply(minutes_ago(30), compound_id, &plan).unwrap().created[0];
    http::sync(&coordinator, &relay, now).await.unwrap();

    // The volunteer gets the round, then the coordinator closes it twenty minutes ago.
    volunteer.join(invite("volunteer").await, "李强的手机".into()).await.unwrap();
    volunteer.sync().await.unwrap();
    let tasks = volunteer.tasks(compound_id, Some(round)).unwrap();
    assert_eq!(tasks.len(), 2);
    assert!(tasks.iter().all(|t| !t.knock_set_aside), "nothing set aside yet: {tasks:?}");
    let close = Operation::CloseRound { round };
    coordinator.lock().unwrap().apply(minutes_ago(20), compound_id, &close).unwrap();
    http::sync(&coordinator, &relay, now).await.unwrap();

    // Knocked now, after the close: the relay refuses it, the phone sets it aside.
    let knocked = tasks[0].id;
    volunteer.record_attempt(compound_id, round, knocked, Outcome::Delivered, "已送到".into()).unwrap();
    let report = volunteer.sync().await.unwrap();
    assert_eq!(report.set_aside, 1, "{report:?}");
    assert_eq!(
        report.rejected.iter().map(|r| r.rule.as_str()).collect::<Vec<_>>(),
        ["closed_rounds_are_final"]
    );

    // Reopened, the round comes back to the phone with no knock on that task: the list marks
    // it, and only it, on every list the app draws from.
    // (On the dashboard: a coordinator's phone holds no closed round to reopen.)
    let login = admin
        .post(format!("{url}/dashboard/login"))
        .header("content-type", "application/json")
        .body(json!({"token": admin_token}).to_string())
        .send()
        .await
        .unwrap();
    assert!(login.status().is_success(), "{}", login.status());
    let cookie = login.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let reopened = admin
        .post(format!("{url}/dashboard/api/compounds/{compound}/operations"))
        .header("cookie", cookie)
        .header("content-type", "application/json")
        .body(json!({"op": "reopen_round", "round": round}).to_string())
        .send()
        .await
        .unwrap();
    assert!(reopened.status().is_success(), "{}", reopened.text().await.unwrap());
    volunteer.sync().await.unwrap();
    let tasks = volunteer.tasks(compound_id, Some(round)).unwrap();
    let marked: Vec<_> = tasks.iter().filter(|t| t.knock_set_aside).map(|t| t.id).collect();
    assert_eq!(marked, [knocked], "{tasks:?}");
    assert!(tasks.iter().all(|t| t.attempts.is_empty()), "the relay took no knock: {tasks:?}");
    let doors = volunteer.doors(compound_id, None).unwrap();
    let marked: Vec<_> =
        doors.iter().flat_map(|d| &d.tasks).filter(|t| t.knock_set_aside).map(|t| t.id).collect();
    assert_eq!(marked, [knocked], "{doors:?}");
    drop(stop);
}
