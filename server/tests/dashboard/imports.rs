//! Importing a roster from the dashboard: CSV and Excel workbooks, previews that change nothing,
//! row errors a coordinator can act on.

use doorstep_core::Role;
use doorstep_core::id::CompoundId;
use reqwest::StatusCode;
use rust_xlsxwriter::Workbook;
use serde_json::json;

use crate::harness::{Dash, Session};

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// Four rows, two of them bad: "三" people, an unknown status.
const BROKEN: &str = "\u{feff}小区,楼号,单元,楼层,房号,户主,联系电话,户内人数,管控状态,身份证号\n\
    北林小区,1号楼,1单元,1,102,谢燕杰,19908923609,2,正常,x\n\
    北林小区,1号楼,1单元,1,103,徐珍庆,19995872608,三,正常,x\n\
    北林小区,1号楼,1单元,2,201,郎兰桂,19916658735,3,生病,x\n\
    北林小区,1号楼,1单元,2,202,殷兰艳,19926465854,3,确诊,x\n";

async fn setup() -> (Dash, CompoundId, Session) {
    let dash = Dash::start().await;
    let compound = dash.relay.create_compound("北林").await;
    let coordinator = dash.relay.phone(compound, Role::Coordinator, "王芳").await;
    let session = dash.login(&coordinator.token).await;
    (dash, compound, session)
}

async fn households(session: &Session, compound: CompoundId) -> Vec<serde_json::Value> {
    session
        .get_json(&format!("/dashboard/api/compounds/{compound}/households"))
        .await
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_csv_previews_its_row_errors_and_changes_nothing() {
    let (_dash, compound, session) = setup().await;
    let import = |query: &'static str, body: Vec<u8>| {
        let session = session.clone();
        async move {
            session
                .post_bytes(&format!("/dashboard/api/compounds/{compound}/import{query}"), "text/csv", body)
                .await
        }
    };
    let preview = import("?mode=preview", BROKEN.as_bytes().to_vec()).await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.text());
    let p = preview.json();
    assert_eq!(p["households"], 2);
    assert_eq!(p["format"], "csv");
    assert_eq!(p["ignored_columns"], json!(["身份证号"]));
    assert_eq!(p["estates"], json!(["北林小区"]));
    assert_eq!(
        p["errors"][0],
        json!({"line": 3, "column": "户内人数", "value": "三", "code": "not_a_number",
               "reason_zh": "\"三\" 不是整数", "reason": "\"三\" is not a whole number"})
    );
    assert_eq!(p["errors"][1]["line"], 4);
    assert_eq!(p["errors"][1]["column"], "管控状态");
    assert!(households(&session, compound).await.is_empty(), "a preview changes nothing");

    let refused = import("?mode=commit", BROKEN.as_bytes().to_vec()).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.text());
    let r = refused.json();
    assert_eq!(r["error"], "bad_rows");
    assert_eq!(r["errors"].as_array().unwrap().len(), 2);
    assert!(r["reason"].as_str().unwrap().contains("nothing was imported"));
    assert!(households(&session, compound).await.is_empty());

    let good_rows = import("?mode=commit&accept_good_rows=true", BROKEN.as_bytes().to_vec()).await;
    assert_eq!(good_rows.status, StatusCode::OK, "{}", good_rows.text());
    let g = good_rows.json();
    assert_eq!((g["added"].as_u64(), g["rows_left_out"].as_u64()), (Some(2), Some(2)));
    let heads: Vec<String> =
        households(&session, compound).await.iter().map(|h| h["head"].as_str().unwrap().to_owned()).collect();
    assert_eq!(heads, ["谢燕杰", "殷兰艳"]);

    // Whole-file problems and bad requests say what to do.
    let no_head = import("?mode=preview", "楼号,房号\n1,101\n".as_bytes().to_vec()).await;
    assert_eq!(no_head.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(no_head.json()["error"], "unreadable_file");
    assert!(no_head.json()["reason"].as_str().unwrap().contains("户主"), "{}", no_head.text());
    assert_eq!(import("", BROKEN.as_bytes().to_vec()).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(import("?mode=preview", Vec::new()).await.status, StatusCode::BAD_REQUEST);
    let xls = import("?mode=preview", b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1rest".to_vec()).await;
    assert_eq!(xls.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(xls.json()["reason"].as_str().unwrap().contains(".xls"), "{}", xls.text());
}

/// Two rows with three bad cells each were "6 rows cannot be imported" and, with the good rows
/// accepted, 6 rows left out: rows are counted, not errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_left_out_are_counted_as_rows_not_as_their_errors() {
    let (_dash, compound, session) = setup().await;
    let slashes = "小区,楼号,单元,楼层,房号,户主,户内人数,60岁以上人数,6岁以下儿童\n\
        香樟苑,1号楼,1单元,1,101,斜杠,/,/,/\n\
        香樟苑,1号楼,1单元,2,201,任强,/,/,/\n\
        香樟苑,1号楼,1单元,3,301,好户,2,0,0\n";
    let path = |query: &str| format!("/dashboard/api/compounds/{compound}/import?{query}");
    let refused = session.post_bytes(&path("mode=commit"), "text/csv", slashes.as_bytes().to_vec()).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.text());
    let r = refused.json();
    assert_eq!(r["errors"].as_array().unwrap().len(), 6);
    let reason = r["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("2 行无法导入") && reason.contains("/ rows that cannot be imported: 2"),
        "{reason}"
    );
    let good = session
        .post_bytes(&path("mode=commit&accept_good_rows=true"), "text/csv", slashes.as_bytes().to_vec())
        .await;
    assert_eq!(good.status, StatusCode::OK, "{}", good.text());
    assert_eq!((good.json()["added"].as_u64(), good.json()["rows_left_out"].as_u64()), (Some(1), Some(2)));
}

/// Flat, building, floor, head, phone, people, needs, status.
type LedgerRow = (&'static str, f64, f64, &'static str, f64, f64, &'static str, &'static str);

/// A coordinator's workbook: a title row above the header, phones and counts typed as numbers,
/// and one bad row.
fn ledger_workbook() -> Vec<u8> {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("台账").unwrap();
    sheet.write_string(0, 0, "北林小区住户台账（2026年11月）").unwrap();
    let headers =
        ["小区", "楼号", "单元", "楼层", "房号", "户主", "联系电话", "户内人数", "重点人群", "管控状态"];
    for (c, h) in headers.iter().enumerate() {
        sheet.write_string(1, u16::try_from(c).unwrap(), *h).unwrap();
    }
    let rows: [LedgerRow; 3] = [
        ("102", 1.0, 1.0, "谢燕杰", 19908923609.0, 2.0, "", "正常"),
        ("103", 1.0, 1.0, "徐珍庆", 19995872608.0, -1.0, "独居老人", "正常"),
        ("201", 1.0, 2.0, "郎兰桂", 19916658735.0, 3.0, "行动不便", "居家隔离"),
    ];
    for (i, (flat, building, floor, head, phone, people, needs, status)) in rows.iter().enumerate() {
        let r = u32::try_from(i + 2).unwrap();
        sheet.write_string(r, 0, "北林小区").unwrap();
        sheet.write_number(r, 1, *building).unwrap();
        sheet.write_string(r, 2, "1单元").unwrap();
        sheet.write_number(r, 3, *floor).unwrap();
        sheet.write_string(r, 4, *flat).unwrap();
        sheet.write_string(r, 5, *head).unwrap();
        sheet.write_number(r, 6, *phone).unwrap();
        sheet.write_number(r, 7, *people).unwrap();
        sheet.write_string(r, 8, *needs).unwrap();
        sheet.write_string(r, 9, *status).unwrap();
    }
    book.save_to_buffer().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_excel_workbook_imports_by_the_same_rules_with_excel_row_numbers() {
    let (_dash, compound, session) = setup().await;
    let path = format!("/dashboard/api/compounds/{compound}/import?mode=preview");
    let preview = session.post_bytes(&path, XLSX, ledger_workbook()).await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.text());
    let p = preview.json();
    assert_eq!(p["format"], "xlsx");
    assert_eq!(p["sheet"], "台账");
    assert_eq!(p["households"], 2);
    // The bad row is row 4 in Excel: the title, the header, then 102 and 103.
    assert_eq!(p["errors"][0]["line"], 4, "{p}");
    assert_eq!(p["errors"][0]["column"], "户内人数");
    assert_eq!(p["errors"][0]["value"], "-1");

    // Sent as a generic download, it is still recognised by its first bytes.
    let commit = format!("/dashboard/api/compounds/{compound}/import?mode=commit&accept_good_rows=true");
    let done = session.post_bytes(&commit, "application/octet-stream", ledger_workbook()).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text());
    assert_eq!(done.json()["added"], 2);
    let all = households(&session, compound).await;
    let first = &all[0];
    assert_eq!(first["phone"], "19908923609", "a phone typed as a number keeps its digits");
    assert_eq!(first["people"], 2);
    assert_eq!(first["address"]["building"], "1");
    assert_eq!(all[1]["status"], "home_quarantine");
    assert_eq!(all[1]["needs"], json!(["mobility_impaired"]));

    let junk = session.post_bytes(&path, XLSX, b"PK\x03\x04 this is no workbook".to_vec()).await;
    assert_eq!(junk.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(junk.json()["error"], "unreadable_file");
}

/// A ledger laid out the way coordinators lay one out in Excel or WPS: a title row merged across
/// the table, a 序号 column, and each 楼号 cell merged down over all of its building's rows.
fn merged_ledger_workbook() -> Vec<u8> {
    use rust_xlsxwriter::Format;
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    let plain = Format::new();
    sheet.merge_range(0, 0, 0, 7, "香樟苑小区住户台账", &plain).unwrap();
    for (c, h) in
        ["序号", "楼号", "单元", "房号", "户主", "联系电话", "户内人数", "60岁以上人数"].iter().enumerate()
    {
        sheet.write_string(1, u16::try_from(c).unwrap(), *h).unwrap();
    }
    // Building 1 over rows 3–6 (0-based 2–5), building 2 over rows 7–8.
    let rows = [
        ("1单元", "101", "甲", "13800000001", "2", "1"),
        ("1单元", "102", "乙", "138 0000 0002", "", "2"),
        ("1单元", "201", "丙", "+86 138-0000-0003", "3", "0"),
        ("2单元", "101", "丁", "", "1", "0"),
        ("1单元", "101", "戊", "13800000005", "4", "1"),
        ("1单元", "102", "己", "13800000006", "2", "0"),
    ];
    for (i, (unit, flat, head, phone, people, aged)) in rows.iter().enumerate() {
        let r = u32::try_from(i + 2).unwrap();
        sheet.write_number(r, 0, f64::from(r - 1)).unwrap();
        sheet.write_string(r, 2, *unit).unwrap();
        sheet.write_string(r, 3, *flat).unwrap();
        sheet.write_string(r, 4, *head).unwrap();
        sheet.write_string(r, 5, *phone).unwrap();
        sheet.write_string(r, 6, *people).unwrap();
        sheet.write_string(r, 7, *aged).unwrap();
    }
    sheet.merge_range(2, 1, 5, 1, "1号楼", &plain).unwrap();
    sheet.merge_range(6, 1, 7, 1, "2号楼", &plain).unwrap();
    book.save_to_buffer().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merged_building_cells_take_their_value_on_every_row() {
    let (_dash, compound, session) = setup().await;
    let path = format!("/dashboard/api/compounds/{compound}/import?mode=preview");
    let preview = session.post_bytes(&path, XLSX, merged_ledger_workbook()).await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.text());
    let p = preview.json();
    assert_eq!(p["errors"], json!([]), "no row is refused for an empty merged 楼号: {p}");
    assert_eq!(p["households"], 6);
    assert_eq!(p["ignored_columns"], json!(["序号"]));
    // Row 4 (乙) has a blank count: a warning in Chinese and English, not an error.
    let warnings = p["warnings"].as_array().unwrap();
    let blank = warnings.iter().find(|w| w["code"] == "people_blank").unwrap();
    assert_eq!(blank["line"], 4, "{p}");
    assert_eq!(blank["reason_zh"], "户内人数 为空，已按“未填”导入，请补填");
    assert_eq!(blank["reason"], "户内人数 is empty; imported as unknown (未填), please fill it in");
    let phone = warnings.iter().find(|w| w["code"] == "phone_blank").unwrap();
    assert_eq!(phone["line"], 6);

    let commit = format!("/dashboard/api/compounds/{compound}/import?mode=commit");
    let done = session.post_bytes(&commit, XLSX, merged_ledger_workbook()).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text());
    assert_eq!(done.json()["added"], 6);
    assert_eq!(done.json()["warnings"].as_array().unwrap().len(), 2);
    let all = households(&session, compound).await;
    let by_head = |head: &str| all.iter().find(|h| h["head"] == head).unwrap().clone();
    assert_eq!(by_head("丁")["address"]["building"], "1", "the merged 楼号 reaches the building's last row");
    assert_eq!(by_head("己")["address"]["building"], "2");
    assert_eq!(by_head("乙")["people"], json!(null), "a blank count is unknown, never 1");
    assert_eq!(by_head("乙")["aged_60_plus"], 2, "and is not compared with an invented count");
    assert_eq!(by_head("乙")["phone"], "13800000002", "spaces are gone, so a search finds it");
    assert_eq!(by_head("丙")["phone"], "13800000003");
}

/// A messy real-world-shaped ledger: GB18030, several address styles, blank cells, spaced and
/// prefixed phone numbers, an exact duplicate row, a different household at a flat already
/// listed, a title row.
const MESSY: &str = "北林社区疫情防控台账（2026年11月）,,,,,,,,\r\n\
    序号,小区,楼号,单元,房号,户主,联系电话,户内人数,60岁以上人数\r\n\
    1,北林小区,1号楼,1单元,102,谢燕杰,199 9973 6261,2,0\r\n\
    2,北林小区,,,1号楼1单元103,徐珍庆,0086 199-9587-2608,,2\r\n\
    3,北林小区,1,,1-1-201,郎兰桂,,3,1\r\n\
    4,北林小区,1号楼,1单元,102,谢燕杰,199 9973 6261,2,0\r\n\
    5,北林小区,1栋,1,202室,殷兰艳,１９９２６４６５８５４,1,3\r\n\
    6,北林小区,1号楼,1单元,201,另一户,13800000000,1,0\r\n\
    7,北林小区,2号楼,1单元,301,任强,12345,1,0\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_messy_gb18030_ledger_imports_every_real_household_and_names_every_problem() {
    let (_dash, compound, session) = setup().await;
    let (gb18030, _, lossy) = encoding_rs::GB18030.encode(MESSY);
    assert!(!lossy);
    let path = format!("/dashboard/api/compounds/{compound}/import?mode=preview");
    let preview = session.post_bytes(&path, "text/csv", gb18030.to_vec()).await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.text());
    let p = preview.json();
    let codes = |key: &str| -> Vec<(u64, String)> {
        p[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["line"].as_u64().unwrap(), m["code"].as_str().unwrap().to_owned()))
            .collect()
    };
    // Two real errors: 60岁以上 3 > 户内人数 1 (both written), and a different household at
    // 1-1-201, said on both its rows (neither is imported: which is right is the coordinator's call).
    assert_eq!(
        codes("errors"),
        [
            (5, "duplicate_flat".to_owned()),
            (7, "count_exceeds_people".to_owned()),
            (8, "duplicate_flat".to_owned())
        ],
        "{p}"
    );
    assert_eq!(
        codes("warnings"),
        [
            (4, "people_blank".to_owned()),
            (5, "phone_blank".to_owned()),
            (6, "duplicate_row".to_owned()),
            (9, "phone_implausible".to_owned()),
        ],
        "{p}"
    );
    let errors = p["errors"].as_array().unwrap();
    assert_eq!(
        errors[2]["reason_zh"],
        "北林小区 1号楼1单元201 与第 5 行是同一户，但内容不同；每户只能出现一次，请核对后删除一行"
    );
    assert_eq!(errors[1]["reason"], "60岁以上人数 is 3, more than 户内人数 (1); check both cells");
    let warnings = p["warnings"].as_array().unwrap();
    assert_eq!(warnings[2]["reason"], "identical to line 3, safe to drop (not imported twice)");
    assert_eq!(warnings[2]["reason_zh"], "与第 3 行完全相同，可以删除（未重复导入）");
    assert_eq!(p["households"], 3);

    let commit = format!("/dashboard/api/compounds/{compound}/import?mode=commit&accept_good_rows=true");
    let done = session.post_bytes(&commit, "text/csv", gb18030.to_vec()).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text());
    let all = households(&session, compound).await;
    let phones: Vec<(&str, &str, serde_json::Value)> = all
        .iter()
        .map(|h| (h["head"].as_str().unwrap(), h["phone"].as_str().unwrap(), h["people"].clone()))
        .collect();
    assert_eq!(
        phones,
        [
            ("谢燕杰", "19999736261", json!(2)),
            ("徐珍庆", "19995872608", json!(null)),
            ("任强", "12345", json!(1)),
        ]
    );
    // The household with the unknown count is searchable by its digits, and has no count made up.
    let found =
        session.get_json(&format!("/dashboard/api/compounds/{compound}/households?q=19995872608")).await;
    assert_eq!(found.as_array().unwrap().len(), 1, "{found}");
    // A number searched as the ledger wrote it, grouped or with the country code, finds the digits.
    for typed in ["199%209973%206261", "199-9973-6261", "%2B86%20199-9973-6261"] {
        let found =
            session.get_json(&format!("/dashboard/api/compounds/{compound}/households?q={typed}")).await;
        let heads: Vec<&str> =
            found.as_array().unwrap().iter().map(|h| h["head"].as_str().unwrap()).collect();
        assert_eq!(heads, ["谢燕杰"], "searching {typed}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_may_be_as_long_as_the_body_limit_and_an_operation_past_256_kib_is_refused() {
    let (_dash, compound, session) = setup().await;
    // 5,000 households: about 340 KB, more than a JSON route takes, well within the body limit.
    let mut csv = String::from("小区,楼号,单元,楼层,房号,户主,联系电话,户内人数,管控状态\n");
    for n in 0..5000 {
        let (building, floor, flat) = (n / 100 + 1, n % 100 / 4 + 1, n % 4 + 1);
        csv.push_str(&format!(
            "北林小区,{building}号楼,1单元,{floor},{floor}0{flat},住户{n},1990000{n:04},2,正常\n"
        ));
    }
    assert!(csv.len() > 256 * 1024, "{} bytes", csv.len());
    let preview = session
        .post_bytes(
            &format!("/dashboard/api/compounds/{compound}/import?mode=preview"),
            "text/csv",
            csv.into_bytes(),
        )
        .await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.text());
    assert_eq!(preview.json()["households"], 5000, "{}", preview.text());
    // Past the body limit (8 MiB): 413 in Chinese and English, the limit in MiB (it said
    // "(8388608 bytes)", in English only).
    let past = session
        .post_bytes(
            &format!("/dashboard/api/compounds/{compound}/import?mode=preview"),
            "text/csv",
            vec![b'1'; 8 * 1024 * 1024 + 1],
        )
        .await;
    assert_eq!(past.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", past.text());
    assert_eq!(
        past.json()["reason"],
        "文件大于中继接受的上限（8 MiB）；请按小区拆分后分别导入 / \
         the file is larger than the relay accepts (8 MiB); split it by estate (小区)"
    );
    // An operation is a JSON object of a few fields: one of 300 KiB is refused before it is read
    // whole (it took the 8 MiB body limit before).
    let long = session
        .operate(compound, &json!({"op": "create_round", "title": "x".repeat(300 * 1024), "kind": "groceries", "date": "2026-11-23"}))
        .await;
    assert_eq!(long.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", long.text());
    assert_eq!(long.json()["error"], "too_large");
}

/// The tester's data loss, through the dashboard: a sheet of address, head and 管控状态 (one
/// cell left blank) committed over the compound blanked phones, needs, notes and counts and
/// set 集中隔离 to 正常. The preview now says what the commit changes, field by field, and the
/// commit changes only that; a sheet without 小区 updates the household at its building, unit
/// and flat instead of adding a second one with no estate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reimport_of_fewer_columns_previews_what_changes_and_keeps_the_rest() {
    let (_dash, compound, session) = setup().await;
    let import = |query: &'static str, body: &'static str| {
        let session = session.clone();
        async move {
            let path = format!("/dashboard/api/compounds/{compound}/import{query}");
            let answer = session.post_bytes(&path, "text/csv", body.as_bytes().to_vec()).await;
            assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
            answer.json()
        }
    };
    let ledger = "小区,楼号,单元,房号,户主,联系电话,60岁以上人数,重点人群,管控状态,备注\n\
        香樟苑,1号楼,2单元,502,屈玉英,13912345678,1,独居老人,集中隔离,腿脚不便\n\
        香樟苑,1号楼,1单元,602,刘明,13800000002,0,,正常,\n";
    assert_eq!(import("?mode=commit", ledger).await["added"], 2);
    let before = households(&session, compound).await;

    let fewer = "小区,楼号,单元,房号,户主,管控状态\n香樟苑,1号楼,2单元,502,屈玉英,\n香樟苑,1号楼,1单元,602,刘明,居家隔离\n";
    let preview = import("?mode=preview", fewer).await;
    assert_eq!(
        preview["plan"],
        json!({"add": 0, "update": 1, "unchanged": 1, "matched_without_estate": 0, "estate_for_new": null,
               "kept_changed_since_export": 0, "removed_since_export": 0,
               "changes": [{"column": "管控状态", "column_en": "status", "households": 1}]})
    );
    let done = import("?mode=commit", fewer).await;
    assert_eq!(
        (done["added"].as_u64(), done["updated"].as_u64(), done["unchanged"].as_u64()),
        (Some(0), Some(1), Some(1))
    );
    let after = households(&session, compound).await;
    let at = |list: &[serde_json::Value], flat: &str| {
        list.iter()
            .find(|h| h["address"]["flat"] == flat)
            .cloned()
            .unwrap_or_else(|| panic!("no {flat} in {list:?}"))
    };
    assert_eq!(at(&after, "502"), at(&before, "502"), "屈玉英's household is as it was");
    assert_eq!(at(&after, "602")["status"], "home_quarantine");

    let no_estate = "楼号,单元,房号,户主,联系电话\n1号楼,1单元,602,刘明,19961665615\n";
    let preview = import("?mode=preview", no_estate).await;
    assert_eq!(
        (preview["plan"]["matched_without_estate"].as_u64(), preview["plan"]["add"].as_u64()),
        (Some(1), Some(0))
    );
    // The estate the household is in, where the page read "小区：" with nothing after it.
    assert_eq!(preview["estates"], json!(["香樟苑"]));
    import("?mode=commit", no_estate).await;
    let after = households(&session, compound).await;
    assert_eq!(after.len(), 2, "no second 1号楼1单元602: {after:?}");
    assert_eq!(at(&after, "602")["phone"], "19961665615");

    // A blank 联系电话 of a household there keeps the phone stored, and the warning says so (it
    // said "is empty; fill it in"), in the preview and in the commit's answer.
    let blank_phone = "小区,楼号,单元,房号,户主,联系电话\n香樟苑,1号楼,2单元,502,屈玉英,\n";
    let kept = json!([{"line": 2, "code": "phone_blank_kept", "reason_zh": "联系电话 为空，保留原值 13912345678",
                       "reason": "联系电话 is empty; left as it was (13912345678)"}]);
    let warnings = |answer: &serde_json::Value| {
        let mut warnings = answer["warnings"].clone();
        for w in warnings.as_array_mut().unwrap() {
            w.as_object_mut()
                .unwrap()
                .retain(|k, _| ["line", "code", "reason_zh", "reason"].contains(&k.as_str()));
        }
        warnings
    };
    assert_eq!(warnings(&import("?mode=preview", blank_phone).await), kept);
    assert_eq!(warnings(&import("?mode=commit", blank_phone).await), kept);
    assert_eq!(at(&households(&session, compound).await, "502")["phone"], "13912345678");
}

/// Excel turns a flat typed "5-1" into a date: it was imported as flat 46143 on floor 461, a
/// unit as 46024单元, a date in 备注 as a serial number. A date in an address or count cell is
/// now a bad row naming the date and what to do; in 备注 it is written as the date.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_date_excel_made_of_an_address_is_a_bad_row_and_a_date_in_notes_reads_as_a_date() {
    use rust_xlsxwriter::{ExcelDateTime, Format};
    let (_dash, compound, session) = setup().await;
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    let date = Format::new().set_num_format("yyyy-mm-dd");
    for (c, header) in ["楼号", "单元", "房号", "户主", "备注"].iter().enumerate() {
        sheet.write_string(0, u16::try_from(c).unwrap(), *header).unwrap();
    }
    let may_1 = ExcelDateTime::from_ymd(2026, 5, 1).unwrap();
    let jan_2 = ExcelDateTime::from_ymd(2026, 1, 2).unwrap();
    let nov_20 = ExcelDateTime::from_ymd(2026, 11, 20).unwrap();
    sheet.write_number(1, 0, 1.0).unwrap();
    sheet.write_number(1, 1, 1.0).unwrap();
    sheet.write_datetime_with_format(1, 2, &may_1, &date).unwrap();
    sheet.write_string(1, 3, "甲").unwrap();
    sheet.write_number(2, 0, 1.0).unwrap();
    sheet.write_datetime_with_format(2, 1, &jan_2, &date).unwrap();
    sheet.write_number(2, 2, 301.0).unwrap();
    sheet.write_string(2, 3, "乙").unwrap();
    sheet.write_number(3, 0, 1.0).unwrap();
    sheet.write_number(3, 1, 1.0).unwrap();
    sheet.write_number(3, 2, 401.0).unwrap();
    sheet.write_string(3, 3, "丙").unwrap();
    sheet.write_datetime_with_format(3, 4, &nov_20, &date).unwrap();
    let bytes = book.save_to_buffer().unwrap();

    let path = format!("/dashboard/api/compounds/{compound}/import?mode=preview");
    let preview = session.post_bytes(&path, XLSX, bytes.clone()).await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.text());
    let p = preview.json();
    assert_eq!(p["households"], 1);
    let errors: Vec<(u64, &str, &str, &str)> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["line"].as_u64().unwrap(),
                e["column"].as_str().unwrap(),
                e["value"].as_str().unwrap(),
                e["code"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(errors, [(2, "房号", "2026-05-01", "date_cell"), (3, "单元", "2026-01-02", "date_cell")]);
    assert_eq!(
        p["errors"][0]["reason_zh"],
        "这一格是日期 2026-05-01：Excel 把输入的内容（可能是 5-1）变成了日期；请把 房号 列设为文本（设置单元格格式 → 文本）后重新输入"
    );
    assert!(p["errors"][1]["reason"].as_str().unwrap().starts_with("this cell is a date (2026-01-02)"));

    let path = format!("/dashboard/api/compounds/{compound}/import?mode=commit&accept_good_rows=true");
    let done = session.post_bytes(&path, XLSX, bytes).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text());
    let list = households(&session, compound).await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(
        (list[0]["address"]["flat"].as_str(), list[0]["notes"].as_str()),
        (Some("401"), Some("2026-11-20"))
    );
}

/// A coordinator's workbook: 填表说明 first, then the roster (behind a title row), then last
/// month's copy. Only the first sheet was read, and the upload refused for the instructions'
/// lack of 楼号, 房号 and 户主; the roster is now found, and the preview says which sheet it read.
/// A workbook with no roster sheet is refused naming the sheets looked at.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_roster_behind_an_instructions_sheet_imports_and_the_preview_names_its_sheet() {
    let (_dash, compound, session) = setup().await;
    let mut book = Workbook::new();
    let instructions = book.add_worksheet();
    instructions.set_name("填表说明").unwrap();
    instructions.write_string(0, 0, "请按模板填写，每户一行；楼号只写数字").unwrap();
    let roster = book.add_worksheet();
    roster.set_name("台账").unwrap();
    roster.write_string(0, 0, "香樟苑住户台账").unwrap();
    for (c, header) in ["小区", "楼号", "单元", "房号", "户主"].into_iter().enumerate() {
        roster.write_string(1, u16::try_from(c).unwrap(), header).unwrap();
    }
    for (r, (flat, head)) in [("101", "张三"), ("102", "李四")].into_iter().enumerate() {
        let r = u32::try_from(r + 2).unwrap();
        for (c, cell) in ["香樟苑", "1号楼", "1单元", flat, head].into_iter().enumerate() {
            roster.write_string(r, u16::try_from(c).unwrap(), cell).unwrap();
        }
    }
    roster.write_string(3, 3, "10二").unwrap();
    let last_month = book.add_worksheet();
    last_month.set_name("上月").unwrap();
    last_month.write_string(0, 0, "楼号").unwrap();
    let bytes = book.save_to_buffer().unwrap();

    let path = format!("/dashboard/api/compounds/{compound}/import?mode=preview");
    let preview = session.post_bytes(&path, XLSX, bytes).await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.text());
    let p = preview.json();
    assert_eq!((p["sheet"].as_str(), p["sheets"].as_u64()), (Some("台账"), Some(3)), "{p}");
    assert_eq!(p["households"], 1);
    assert_eq!(p["errors"][0]["line"], 4, "the row as Excel numbers it on that sheet: {p}");
    assert_eq!(p["estates"], json!(["香樟苑"]));

    let mut book = Workbook::new();
    book.add_worksheet().set_name("填表说明").unwrap().write_string(0, 0, "请按模板填写").unwrap();
    let hidden = book.add_worksheet().set_name("数据字典").unwrap();
    hidden.write_string(0, 0, "楼号").unwrap();
    hidden.set_hidden(true);
    let refused = session.post_bytes(&path, XLSX, book.save_to_buffer().unwrap()).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.text());
    let r = refused.json();
    assert_eq!(r["error"], "unreadable_file");
    let reason = r["reason"].as_str().unwrap();
    assert!(reason.starts_with("没有找到台账：工作表 \"填表说明\" 中没有"), "{reason}");
    assert!(reason.contains("no sheet read (\"填表说明\")"), "{reason}");
    assert!(reason.contains("hidden sheets are not read (\"数据字典\")"), "{reason}");
}

/// A file sent as a workbook that is not one is read for what it is: a CSV renamed to .xlsx (the
/// page sends it as a workbook) previews as the CSV it is, and a password-protected workbook, an
/// .ods or a Word document is refused naming it and what to do (they were "invalid Zip archive:
/// Could not find EOCD", "File not found '_rels/.rels'", or called an .xls).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_sent_as_a_workbook_that_is_not_one_is_read_or_named_for_what_it_is() {
    use std::io::Write;

    let (_dash, compound, session) = setup().await;
    let preview = format!("/dashboard/api/compounds/{compound}/import?mode=preview");
    let renamed = session.post_bytes(&preview, XLSX, BROKEN.as_bytes().to_vec()).await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text());
    assert_eq!(renamed.json()["format"], "csv");
    assert_eq!(renamed.json()["households"], 2, "{}", renamed.text());

    let zip_of = |names: &[&str]| {
        let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for name in names {
            writer.start_file(*name, zip::write::SimpleFileOptions::default()).unwrap();
            writer.write_all(b"x").unwrap();
        }
        writer.finish().unwrap().into_inner()
    };
    let mut protected = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1".to_vec();
    protected.extend([0; 512]);
    protected.extend("EncryptedPackage".encode_utf16().flat_map(u16::to_le_bytes));
    for (bytes, says) in [
        (protected, "password"),
        (zip_of(&["mimetype", "content.xml", "styles.xml"]), "OpenDocument"),
        (zip_of(&["[Content_Types].xml", "word/document.xml"]), "Word"),
    ] {
        let answer = session.post_bytes(&preview, XLSX, bytes).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", answer.text());
        assert_eq!(answer.json()["error"], "unreadable_file");
        assert!(answer.text().contains(says), "{says}: {}", answer.text());
    }
    assert!(households(&session, compound).await.is_empty(), "a preview changes nothing");
}

/// An import past the request's time limit is answered 408 saying it was stopped, what the
/// roster most likely holds of it (nothing), and what to do instead: "try again", the answer
/// for a phone's sync, would take as long again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_past_the_time_limit_says_it_was_stopped_and_what_to_do_instead() {
    let mut config = doorstep_server::config::Config::default();
    config.limits.request_timeout = std::time::Duration::from_millis(300);
    let dash = Dash::start_with(config).await;
    let compound = dash.relay.create_compound("北林").await;
    let coordinator = dash.relay.phone(compound, Role::Coordinator, "王芳").await;
    let session = dash.login(&coordinator.token).await;
    let mut csv = String::from("小区,楼号,单元,楼层,房号,户主,联系电话,户内人数\n");
    for n in 0..5_000 {
        let (building, floor) = (n / 100 + 1, n % 100 / 4 + 1);
        let flat = floor * 100 + n % 4 + 1;
        csv.push_str(&format!("北林,{building}号楼,1单元,{floor},{flat},户主{n},1380000{n:04},2\n"));
    }
    let answer = session
        .post_bytes(
            &format!("/dashboard/api/compounds/{compound}/import?mode=commit"),
            "text/csv",
            csv.into_bytes(),
        )
        .await;
    assert_eq!(answer.status, StatusCode::REQUEST_TIMEOUT, "{}", answer.text());
    let reason = answer.json()["reason"].as_str().unwrap().to_owned();
    assert!(reason.contains("was stopped") && reason.contains("doorstep admin import-roster"), "{reason}");
    assert!(!reason.contains("try again"), "{reason}");
    assert!(households(&session, compound).await.is_empty(), "nothing of it was imported");
}

/// A ledger kept as one sheet per building (1号楼, 2号楼, 3号楼, each with its header row) with a
/// hidden 数据字典: only 1号楼 was read, the other six households dropped, the preview saying only
/// which sheet it read. Every visible roster sheet is read; the preview lists them with their
/// households and the sheets not read with why; a row is named by its sheet and row, and a row of
/// 2号楼 at a door of 1号楼 names that sheet's row. A row hidden in Excel is read, and said.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ledger_of_one_sheet_per_building_imports_every_building() {
    let (_dash, compound, session) = setup().await;
    let mut book = Workbook::new();
    for building in ["1号楼", "2号楼", "3号楼"] {
        let sheet = book.add_worksheet();
        sheet.set_name(building).unwrap();
        for (c, header) in ["小区", "楼号", "单元", "房号", "户主"].into_iter().enumerate() {
            sheet.write_string(0, u16::try_from(c).unwrap(), header).unwrap();
        }
        for r in 1..=3u32 {
            let head = format!("{building}户主{r}");
            for (c, cell) in ["香樟苑", building, "1单元", &format!("10{r}"), &head].into_iter().enumerate()
            {
                sheet.write_string(r, u16::try_from(c).unwrap(), cell).unwrap();
            }
        }
    }
    // A row of 2号楼's sheet at a door of 1号楼.
    let second = book.worksheet_from_name("2号楼").unwrap();
    for (c, cell) in ["香樟苑", "1号楼", "1单元", "101", "另一人"].into_iter().enumerate() {
        second.write_string(4, u16::try_from(c).unwrap(), cell).unwrap();
    }
    // A row of 3号楼 hidden in Excel: read, and said.
    book.worksheet_from_name("3号楼").unwrap().set_row_hidden(2).unwrap();
    let dictionary = book.add_worksheet();
    dictionary.set_name("数据字典").unwrap();
    dictionary.write_string(0, 0, "楼号").unwrap();
    dictionary.set_hidden(true);
    let bytes = book.save_to_buffer().unwrap();

    let path = format!("/dashboard/api/compounds/{compound}/import?mode=preview");
    let preview = session.post_bytes(&path, XLSX, bytes.clone()).await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.text());
    let p = preview.json();
    assert_eq!(p["households"], 9, "{p}");
    assert_eq!(
        p["sheets_read"],
        json!([
            {"sheet": "1号楼", "households": 3, "bad_rows": 0},
            {"sheet": "2号楼", "households": 4, "bad_rows": 0},
            {"sheet": "3号楼", "households": 3, "bad_rows": 0},
        ]),
        "{p}"
    );
    assert_eq!(p["sheets_skipped"][0]["sheet"], "数据字典");
    assert_eq!(p["sheets_skipped"][0]["code"], "hidden");
    let error = &p["errors"][0];
    assert_eq!((error["sheet"].as_str(), error["line"].as_u64()), (Some("2号楼"), Some(5)), "{p}");
    assert_eq!(
        error["reason_zh"],
        "与工作表 \"1号楼\" 第 2 行是同一户（香樟苑），每户只能出现一次；如果其中一个工作表是旧的台账（如上月的），请隐藏或删除它",
        "{p}"
    );
    assert_eq!(
        error["reason"],
        "is the same household as line 2 of sheet \"1号楼\" (香樟苑); each flat may appear once; if one of the sheets is an old copy (last month's, say), hide or delete it",
        "{p}"
    );

    let hidden: Vec<&serde_json::Value> =
        p["warnings"].as_array().unwrap().iter().filter(|w| w["code"] == "hidden_rows").collect();
    assert_eq!(hidden.len(), 1, "{p}");
    assert_eq!((hidden[0]["sheet"].as_str(), hidden[0]["line"].as_u64()), (Some("3号楼"), Some(3)), "{p}");
    assert!(hidden[0]["reason_zh"].as_str().unwrap().starts_with("有 1 行在 Excel 中是隐藏的"), "{p}");

    let commit = format!("/dashboard/api/compounds/{compound}/import?mode=commit");
    let refused = session.post_bytes(&commit, XLSX, bytes.clone()).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.text());
    let reason = refused.json()["reason"].as_str().unwrap().to_owned();
    assert!(
        reason.contains("（第一处：工作表 \"2号楼\" 第 5 行，小区：与工作表 \"1号楼\" 第 2 行"),
        "{reason}"
    );
    assert!(households(&session, compound).await.is_empty(), "nothing half-imported");

    let done = session.post_bytes(&format!("{commit}&accept_good_rows=true"), XLSX, bytes).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text());
    assert_eq!(done.json()["added"], 9);
    let mut buildings: Vec<String> = households(&session, compound)
        .await
        .iter()
        .map(|h| h["address"]["building"].as_str().unwrap().to_owned())
        .collect();
    buildings.dedup();
    assert_eq!(buildings.len(), 3, "{buildings:?}");
}

/// A ledger kept one row per resident (社区人员台账: 姓名, 与户主关系, 年龄 on every row, the
/// address repeated) was refused as "a duplicate of line 2 … keep the right row and delete the
/// other" on every resident but the first: a coordinator following it deleted residents. A
/// flat's rows are one household now, counted from its rows and ages, and the same ledger with
/// a newborn added updates the household's counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ledger_of_one_row_per_resident_imports_one_household_per_flat() {
    let (_dash, compound, session) = setup().await;
    let import = |query: &'static str, body: String| {
        let session = session.clone();
        async move {
            let path = format!("/dashboard/api/compounds/{compound}/import{query}");
            let answer = session.post_bytes(&path, "text/csv", body.into_bytes()).await;
            assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
            answer.json()
        }
    };
    let ledger = "序号,小区,楼号,单元,房号,姓名,与户主关系,性别,年龄,联系电话,重点人群\n\
        1,北林小区,3号楼,1单元,201,张桂兰,户主,女,78,13900000001,独居老人\n\
        2,北林小区,3号楼,1单元,202,刘伟,户主,男,41,13900000002,\n\
        3,北林小区,3号楼,1单元,202,陈静,妻,女,39,,孕妇\n\
        4,北林小区,3号楼,1单元,202,刘奶奶,母亲,女,66,,\n"
        .to_owned();
    let preview = import("?mode=preview", ledger.clone()).await;
    assert_eq!(preview["households"], 2, "{preview}");
    assert_eq!(preview["errors"], json!([]));
    assert!(
        preview["warnings"].as_array().unwrap().iter().any(|w| w["code"] == "one_row_per_resident"),
        "{preview}"
    );
    assert_eq!(import("?mode=commit", ledger.clone()).await["added"], 2);
    let at = |list: &[serde_json::Value], flat: &str| {
        list.iter().find(|h| h["address"]["flat"] == flat).cloned().unwrap_or_else(|| panic!("no {flat}"))
    };
    let list = households(&session, compound).await;
    assert_eq!(list.len(), 2, "{list:?}");
    let liu = at(&list, "202");
    assert_eq!(
        (&liu["head"], &liu["phone"], &liu["people"], &liu["aged_60_plus"], &liu["children_under_6"]),
        (&json!("刘伟"), &json!("13900000002"), &json!(3), &json!(1), &json!(0)),
        "{liu}"
    );
    assert_eq!(liu["needs"], json!(["pregnant"]));

    let with_newborn = format!("{ledger}5,北林小区,3号楼,1单元,202,刘小宝,子,男,2个月,,\n");
    let done = import("?mode=commit", with_newborn).await;
    assert_eq!((done["added"].as_u64(), done["updated"].as_u64()), (Some(0), Some(1)), "{done}");
    let liu = at(&households(&session, compound).await, "202");
    assert_eq!((&liu["people"], &liu["children_under_6"]), (&json!(4), &json!(1)), "{liu}");
}

/// A resident ledger keeping 出生日期 and 身份证号, not 年龄, counted nobody as 60+ or under 6:
/// the households of the elderly were planned as any other. Ages are counted from the birth
/// dates on the day the relay reads the file.
#[tokio::test]
async fn a_resident_ledger_with_birth_dates_and_id_numbers_counts_the_elderly_and_the_young() {
    let (_dash, compound, session) = setup().await;
    let ledger = "小区,楼号,单元,房号,姓名,与户主关系,出生日期,身份证号,联系电话\n\
        北林小区,3号楼,1单元,201,张桂兰,户主,1948年2月3日,,13900000001\n\
        北林小区,3号楼,1单元,202,刘伟,户主,1985-06-15,,13900000002\n\
        北林小区,3号楼,1单元,202,刘奶奶,母亲,,11010519550312002X,\n\
        北林小区,3号楼,1单元,202,刘小宝,子,2025/1/1,,\n";
    let path = format!("/dashboard/api/compounds/{compound}/import?mode=commit");
    let answer = session.post_bytes(&path, "text/csv", ledger.as_bytes().to_vec()).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let list = households(&session, compound).await;
    let counts = |flat: &str| {
        let h = list.iter().find(|h| h["address"]["flat"] == flat).unwrap_or_else(|| panic!("no {flat}"));
        (h["people"].as_u64(), h["aged_60_plus"].as_u64(), h["children_under_6"].as_u64())
    };
    assert_eq!(counts("201"), (Some(1), Some(1), Some(0)), "{list:?}");
    assert_eq!(counts("202"), (Some(3), Some(1), Some(1)), "{list:?}");
}
