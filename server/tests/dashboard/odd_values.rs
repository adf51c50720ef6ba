//! A coordinator's operations with odd values, through the dashboard: each operation's JSON as
//! the dashboard sends it, then with one to three of its values swapped for what a broken form,
//! a paste from a spreadsheet or a hand-written request puts there — control characters,
//! bidirectional overrides, ideographic spaces, emoji, texts at and past each limit, numbers past
//! their types, fractions, nulls, arrays and objects where a text goes, unknown words where a
//! vocabulary goes, keys missing or added — and now and then a body whose JSON holds a lone
//! surrogate. Every answer is a 200 or a refusal in the relay's format; nothing is a 5xx. And
//! whatever was taken leaves every page a coordinator opens, every export and the print sheet
//! answering 200, and a volunteer's phone syncing it with nothing refused and reading it all.
//!
//! Every fortieth operation, the coordinator also imports a roster whose cells are now and then
//! odd, accepting its good rows: the preview's good rows are the ones the commit takes.
//!
//! `DOORSTEP_ODD_VALUE_CASES` operations (default 300), `DOORSTEP_ODD_VALUE_SEED` for others.

use doorstep_core::Role;
use doorstep_core::id::CompoundId;
use doorstep_core::import::RosterColumn;
use doorstep_core::query;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Dash, Session};
use crate::operations::round_for_building_1;

/// Texts people and broken clients produce.
const ODD: &[&str] = &[
    "",
    " ",
    "\u{3000}",
    "\u{200B}",
    "\u{FEFF}",
    "\0",
    "a\0b",
    "\u{7}\u{8}",
    "\r\n",
    "\u{1B}[31m红\u{1B}[0m",
    "\u{202E}1011\u{202C}",
    "e\u{301}\u{301}",
    "👨‍👩‍👧‍👦",
    "\u{FFFF}",
    "\u{10FFFF}",
    "=HYPERLINK(\"http://x\")",
    "-2+3",
    "<script>alert(1)</script>",
    "</td></tr></table><b>x",
    "\"quoted\", comma",
    "%s%n",
    "../../etc/passwd",
    "2号楼",
    "１号楼",
    "0",
    "-1",
    "18446744073709551616",
    "groceries ",
    "GROCERIES",
    "00000000-0000-0000-0000-000000000000",
    "not-an-id",
    "张三",
];

/// A value where a text, a number, a word or an ID was.
fn odd_value(rng: &mut StdRng) -> Value {
    match rng.random_range(0..16) {
        0 => json!("字".repeat(201)),
        1 => json!("字".repeat(4001)),
        2 => json!("😀".repeat(200)),
        3 => json!(i64::MAX),
        4 => json!(u64::MAX),
        5 => json!(i64::MIN),
        6 => json!(2_147_483_648_u64),
        7 => json!(-2_147_483_649_i64),
        8 => json!(1.5),
        9 => json!(-0.0),
        10 => Value::Null,
        11 => json!(true),
        12 => json!([]),
        13 => json!({"by": "all"}),
        _ => json!(*ODD.choose(rng).unwrap()),
    }
}

/// What the dashboard's pages hold now, to name in operations.
struct Ids {
    households: Vec<String>,
    rounds: Vec<String>,
    tasks: Vec<(String, String)>,
    requests: Vec<String>,
    volunteer: String,
}

/// One operation as the dashboard's forms send it.
fn template(rng: &mut StdRng, ids: &Ids) -> Value {
    let household = ids.households.choose(rng).cloned().unwrap_or_default();
    let round = ids.rounds.choose(rng).cloned().unwrap_or_default();
    let (task_round, task) = ids.tasks.choose(rng).cloned().unwrap_or_default();
    let request = ids.requests.choose(rng).cloned().unwrap_or_default();
    let needs = if rng.random_bool(0.5) { json!(["dialysis", "elderly_alone"]) } else { json!([]) };
    match rng.random_range(0..17) {
        0 => json!({"op": "set_utc_offset", "minutes": 480}),
        1 => json!({"op": "add_building", "estate": "", "label": "9", "lift": false}),
        2 | 3 => json!({"op": "add_household", "draft": {
            "address": {"estate": "", "building": "9", "unit": "1", "floor": 3, "flat": "301"},
            "head": "赵六", "phone": "13900000000", "people": 3, "aged_60_plus": 1, "children_under_6": 0,
            "needs": needs, "status": "none", "lift": false, "notes": "三楼"
        }}),
        4 => json!({"op": "edit_household", "household": household, "edit": {"head": "赵六", "people": 2}}),
        5 => json!({"op": "edit_notes", "household": household, "notes": "腿脚不便"}),
        6 => json!({"op": "set_control_status", "household": household, "status": "confirmed"}),
        7 => json!({"op": "set_need_tags", "household": household, "needs": needs}),
        8 => json!({"op": "create_round", "title": "蔬菜包 第2轮", "kind": "groceries", "date": "2026-11-24",
            "selection": {"by": "building", "estate": "", "building": "1"}, "items": "蔬菜包", "priority": "high"}),
        9 => json!({"op": "add_task", "round": round, "household": household, "kind": "medicine",
            "items": "降压药", "priority": "urgent", "request": null}),
        10 => json!({"op": "assign_task", "round": task_round, "task": task, "volunteer": ids.volunteer}),
        11 => {
            json!({"op": "assign_building", "round": round, "estate": "", "building": "1", "volunteer": ids.volunteer})
        }
        12 => json!({"op": "cancel_task", "round": task_round, "task": task, "reason": "已转院"}),
        13 => {
            json!({"op": "record_attempt", "round": task_round, "task": task, "outcome": "nobody_home", "note": "敲门无人"})
        }
        14 => json!({"op": "add_request", "household": household, "channel": "phone", "category": "medicine",
            "text": "需要胰岛素", "urgency": "urgent"}),
        15 => json!({"op": "triage_request", "request": request, "status": "accepted", "urgency": "normal"}),
        _ => json!({"op": "unassign_task", "round": task_round, "task": task}),
    }
}

/// A roster CSV of the ledger's columns, its cells now ordinary, now odd: what a coordinator's
/// spreadsheet holds after years of hands.
fn odd_roster(rng: &mut StdRng) -> Vec<u8> {
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(RosterColumn::ALL.map(RosterColumn::header_zh)).unwrap();
    for row in 0..20 {
        let mut cells: Vec<String> = vec![
            String::new(),
            "8号楼".into(),
            "1单元".into(),
            (row / 4 + 1).to_string(),
            format!("{}0{}", row / 4 + 1, row % 4 + 1),
            "钱七".into(),
            "13900000001".into(),
            "2".into(),
            "0".into(),
            "0".into(),
            "独居老人".into(),
            "正常".into(),
            "无".into(),
            String::new(),
        ];
        for _ in 0..rng.random_range(0..3) {
            let i = rng.random_range(0..cells.len());
            cells[i] = match odd_value(rng) {
                Value::String(t) => t,
                other => other.to_string(),
            };
        }
        out.write_record(&cells).unwrap();
    }
    out.into_inner().unwrap()
}

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// The same cells in an .xlsx workbook: numbers where a cell reads as one, as Excel keeps them.
fn as_workbook(csv: &[u8]) -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (r, record) in csv::ReaderBuilder::new().has_headers(false).from_reader(csv).records().enumerate() {
        for (c, cell) in record.unwrap().iter().enumerate() {
            let (r, c) = (u32::try_from(r).unwrap(), u16::try_from(c).unwrap());
            match cell.parse::<f64>() {
                Ok(n) if n.is_finite() => sheet.write_number(r, c, n).map(|_| ()),
                // Excel refuses a cell past 32,767 characters; so does the sheet a person saves.
                _ => sheet.write_string(r, c, cell).map(|_| ()),
            }
            .unwrap();
        }
    }
    book.save_to_buffer().unwrap()
}

/// The paths of every leaf and container below `v`, except the operation's tag.
fn paths(v: &Value, at: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                if at.is_empty() && k == "op" {
                    continue;
                }
                at.push(k.clone());
                out.push(at.clone());
                paths(child, at, out);
                at.pop();
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                at.push(i.to_string());
                out.push(at.clone());
                paths(child, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

fn at_path<'v>(v: &'v mut Value, path: &[String]) -> &'v mut Value {
    path.iter().fold(v, |v, key| match v {
        Value::Object(map) => map.get_mut(key).unwrap(),
        Value::Array(items) => &mut items[key.parse::<usize>().unwrap()],
        _ => unreachable!("paths lead through containers"),
    })
}

/// Swaps one value for an odd one, drops a key or adds one.
fn mutate(rng: &mut StdRng, op: &mut Value) {
    let mut all = Vec::new();
    paths(op, &mut Vec::new(), &mut all);
    let Some(path) = all.choose(rng).cloned() else { return };
    match rng.random_range(0..8) {
        0 => {
            let (last, parent) = path.split_last().unwrap();
            if let Value::Object(map) = at_path(op, parent) {
                map.remove(last);
            }
        }
        1 => {
            let (_, parent) = path.split_last().unwrap();
            if let Value::Object(map) = at_path(op, parent) {
                map.insert("extra".into(), odd_value(rng));
            }
        }
        _ => *at_path(op, &path) = odd_value(rng),
    }
}

/// A refusal must be in the relay's format: an error code and a reason, and short.
fn judge(answer_status: StatusCode, body: &str, sent: &str) {
    assert!(!answer_status.is_server_error(), "{answer_status} for {sent}: {body}");
    if answer_status.is_success() {
        return;
    }
    let refusal: Value =
        serde_json::from_str(body).unwrap_or_else(|_| panic!("{answer_status} not JSON for {sent}: {body}"));
    assert!(
        refusal["error"].is_string() && refusal["reason"].is_string(),
        "{answer_status} for {sent}: {body}"
    );
    assert!(body.len() <= 4096, "a {}-byte refusal for {sent}", body.len());
}

/// How many households the roster holds.
async fn ok_households(session: &Session, base: &str) -> u64 {
    let list = session.get_json(&format!("{base}/households")).await;
    u64::try_from(list.as_array().map_or(0, Vec::len)).unwrap_or(u64::MAX)
}

/// Every page, export and print sheet a coordinator opens must open; returns what they name.
async fn every_page(session: &Session, compound: CompoundId, volunteer: &str) -> Ids {
    let base = format!("/dashboard/api/compounds/{compound}");
    let mut ok = Vec::new();
    let must = |path: String| async move {
        let answer = session.get(&path).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.text());
        answer
    };
    for path in [
        "overview",
        "households",
        "map",
        "rounds",
        "requests",
        "conflicts",
        "members",
        "set-aside",
        "time-zone",
    ] {
        ok.push(must(format!("{base}/{path}")).await);
    }
    for file in ["roster.csv", "roster.xlsx", "special-needs.csv", "special-needs.xlsx"] {
        let export = must(format!("{base}/export/{file}")).await;
        // What the relay exports imports back: every household a good row (a preview changes
        // nothing).
        if file.starts_with("roster") {
            let kind = if file.ends_with(".csv") { "text/csv" } else { XLSX };
            let back =
                session.post_bytes(&format!("{base}/import?mode=preview"), kind, export.bytes.clone()).await;
            assert_eq!(back.status, StatusCode::OK, "{file} imported back: {}", back.text());
            let preview = back.json();
            let households = ok_households(session, &base).await;
            assert_eq!(
                (preview["households"].as_u64(), &preview["errors"]),
                (Some(households), &json!([])),
                "{file} does not import back as it was exported"
            );
        }
    }
    must(format!("{base}/households?text=%E2%80%AE%00x&building=%E3%80%80")).await;
    let households: Vec<String> =
        ok[1].json().as_array().unwrap().iter().map(|h| h["id"].as_str().unwrap().to_owned()).collect();
    for id in &households {
        must(format!("{base}/households/{id}")).await;
        must(format!("{base}/households/{id}/history")).await;
    }
    let rounds: Vec<String> = ok[3]
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["round"]["document"].as_str().unwrap().to_owned())
        .collect();
    let mut tasks = Vec::new();
    for round in &rounds {
        let detail = must(format!("{base}/rounds/{round}")).await.json();
        for t in detail["tasks"].as_array().unwrap() {
            tasks.push((round.clone(), t["task"]["id"].as_str().unwrap().to_owned()));
        }
        must(format!("{base}/export/rounds/{round}.csv")).await;
        must(format!("{base}/export/rounds/{round}.xlsx")).await;
        let sheet = must(format!("{base}/print/rounds/{round}")).await.text();
        for markup in ["<script>alert", "</td></tr></table><b>x"] {
            assert!(!sheet.contains(markup), "the print sheet holds {markup:?} unescaped");
        }
        // A building the round has no task in is a 404; odd characters in it change nothing else.
        let odd = session.get(&format!("{base}/print/rounds/{round}?building=%E2%80%AE1&estate=%00")).await;
        judge(odd.status, &odd.text(), "an odd building to print");
    }
    for (round, task) in tasks.iter().take(5) {
        must(format!("{base}/rounds/{round}/tasks/{task}/history")).await;
    }
    let requests: Vec<String> =
        ok[4].json().as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect();
    Ids { households, rounds, tasks, requests, volunteer: volunteer.to_owned() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_values_in_a_coordinators_operations_are_taken_or_refused_and_every_page_still_opens() {
    sweep(Dash::start().await).await;
}

/// The same on the PostgreSQL backend, which stores no NUL in a text where SQLite does.
/// Needs `DOORSTEP_TEST_POSTGRES` (run under `scripts/with-postgres`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_values_on_postgresql_too() {
    use doorstep_server::storage::postgres::scratch::ScratchDatabase;
    let Some(db) = ScratchDatabase::from_env().await else { return };
    let storage = doorstep_server::storage::open(db.url()).await.unwrap();
    sweep(Dash::start_on(storage, tempfile::tempdir().unwrap(), doorstep_server::Config::default()).await)
        .await;
}

async fn sweep(dash: Dash) {
    let (compound, coordinator) = dash.small_compound().await;
    let mut volunteer = dash.relay.phone(compound, Role::Volunteer, "李强").await;
    volunteer.sync(&dash.relay).await;
    let session = dash.login(&coordinator.token).await;
    round_for_building_1(&session, compound).await;
    let person = volunteer.person.to_string();
    let mut ids = every_page(&session, compound, &person).await;

    let cases: u64 =
        std::env::var("DOORSTEP_ODD_VALUE_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
    let seed: u64 =
        std::env::var("DOORSTEP_ODD_VALUE_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(1205);
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut taken, mut refused, mut imported) = (0, 0, 0);
    for case in 0..cases {
        let mut op = template(&mut rng, &ids);
        if rng.random_bool(0.8) {
            for _ in 0..rng.random_range(1..=3) {
                mutate(&mut rng, &mut op);
            }
        }
        let mut body = op.to_string();
        if rng.random_bool(0.05) {
            // A lone surrogate, which no UTF-8 string holds.
            body = body.replacen("\"op\"", "\"\\ud800\":1,\"op\"", 1);
        }
        let answer = session
            .post_bytes(
                &format!("/dashboard/api/compounds/{compound}/operations"),
                "application/json",
                body.clone().into_bytes(),
            )
            .await;
        judge(answer.status, &answer.text(), &body);
        if answer.status.is_success() {
            taken += 1;
        } else {
            refused += 1;
        }
        if case % 40 == 20 {
            let roster = odd_roster(&mut rng);
            let path =
                format!("/dashboard/api/compounds/{compound}/import?mode=commit&accept_good_rows=true");
            // Every other one as the workbook a coordinator saves from Excel.
            let (kind, body) =
                if case % 80 == 20 { (XLSX, as_workbook(&roster)) } else { ("text/csv", roster.clone()) };
            let answer = session.post_bytes(&path, kind, body).await;
            eprintln!(
                "IMPORT {kind} {} {}",
                answer.status,
                answer.text().chars().take(400).collect::<String>()
            );
            judge(answer.status, &answer.text(), &String::from_utf8_lossy(&roster));
            if answer.status.is_success() {
                imported += answer.json()["added"].as_u64().unwrap_or(0);
            }
        }
        if case % 40 == 30 {
            // A member joining under an odd name, and a device minted under one.
            let base = format!("/dashboard/api/compounds/{compound}/members");
            let invite = session.post_json(&format!("{base}/invites"), &json!({"role": "volunteer"})).await;
            assert!(invite.status.is_success(), "{}", invite.text());
            let code = invite.json()["code"].as_str().unwrap().to_owned();
            let name = match odd_value(&mut rng) {
                Value::String(t) => t,
                other => other.to_string(),
            };
            let (status, body) = dash.relay.join(&code, &name).await;
            judge(status, &body.to_string(), &format!("join as {name:?}"));
            let device = odd_value(&mut rng);
            let minted =
                session.post_json(&format!("{base}/{person}/tokens"), &json!({"device_name": device})).await;
            judge(minted.status, &minted.text(), &format!("a device named {device}"));
        }
        if case % 40 == 39 {
            ids = every_page(&session, compound, &person).await;
            let synced = volunteer.sync(&dash.relay).await;
            assert!(synced.rejected.is_empty(), "the volunteer's phone was refused: {:?}", synced.rejected);
        }
    }
    every_page(&session, compound, &person).await;
    let synced = volunteer.sync(&dash.relay).await;
    assert!(synced.rejected.is_empty(), "{:?}", synced.rejected);
    let phone = volunteer.compound();
    let _ =
        (phone.households(), phone.tasks(), phone.requests(), query::counts(phone), query::conflicts(phone));
    eprintln!(
        "{cases} operations: {taken} taken, {refused} refused; {imported} households imported from odd rosters"
    );
    assert!(
        taken > cases / 10 && refused > cases / 5,
        "both halves exercised: {taken} taken, {refused} refused"
    );
}
