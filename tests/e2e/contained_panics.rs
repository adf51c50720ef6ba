//! A reader that panics on crafted bytes is contained: the relay refuses the input with its
//! reason, keeps serving, and logs one warning per refusal, not a panic report (and, with
//! `RUST_BACKTRACE` set, a whole backtrace) per request on stderr, outside the structured log.

use std::io::Write;

use serde_json::json;

use crate::harness::{Relay, sample};
use crate::raw_http::{post_file, request};

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// A one-sheet workbook whose `<dimension>` is `dimension`, written part by part as Excel lays
/// one out: 楼号 in A1, 1 in C3.
fn workbook(dimension: &str) -> Vec<u8> {
    let parts = [
        (
            "[Content_Types].xml",
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#.to_owned(),
        ),
        (
            "_rels/.rels",
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#.to_owned(),
        ),
        (
            "xl/workbook.xml",
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>"#.to_owned(),
        ),
        (
            "xl/_rels/workbook.xml.rels",
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#.to_owned(),
        ),
        (
            "xl/worksheets/sheet1.xml",
            format!(
                r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><dimension ref="{dimension}"/><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>楼号</t></is></c></row><row r="3"><c r="C3"><v>1</v></c></row></sheetData></worksheet>"#
            ),
        ),
    ];
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, text) in parts {
        zip.start_file(name, zip::write::SimpleFileOptions::default()).unwrap();
        zip.write_all(text.as_bytes()).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

#[test]
fn a_workbook_that_makes_the_reader_panic_is_refused_with_one_warning_and_no_panic_report() {
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start_keeping_log(dir.path());
    let compound = relay.compound_from("香樟苑", &sample("xiangzhangyuan-roster.csv"));
    let admin = relay.admin_token.clone().expect("the admin token");
    let login =
        request(&relay.url, "POST", "/dashboard/login", None, Some(&json!({ "token": admin }).to_string()));
    assert_eq!(login.status, 200, "{}", login.body);
    let cookie = login.session_cookie().expect("a session cookie");
    let import = format!("/dashboard/api/compounds/{compound}/import?mode=preview");

    // The same workbook with its dimension the right way round is read (and found wanting as a
    // roster), so what follows is the inverted dimension's doing.
    let sound = post_file(&relay.url, &import, &cookie, XLSX, &workbook("A1:C3"));
    assert!(!sound.body.contains("save it again as a new .xlsx"), "{} {}", sound.status, sound.body);

    // calamine 0.38 overflows a subtraction on a dimension that ends before it starts.
    for _ in 0..3 {
        let refused = post_file(&relay.url, &import, &cookie, XLSX, &workbook("C3:A1"));
        assert_eq!(refused.status, 422, "{}", refused.body);
        assert!(refused.body.contains("save it again as a new .xlsx or as CSV"), "{}", refused.body);
    }
    let health = request(&relay.url, "GET", "/healthz", None, None);
    assert_eq!(health.status, 200, "the relay serves on: {}", health.body);

    let log = relay.log_text();
    assert_eq!(
        log.matches("the workbook reader panicked on an upload; refusing it").count(),
        3,
        "one warning per refused upload:\n{log}"
    );
    assert!(!log.contains("panicked at"), "no panic report for a contained panic:\n{log}");
    assert!(!log.contains("stack backtrace"), "no backtrace for a contained panic:\n{log}");
}
