//! The coordinators' API: roster import and export, members.

use doorstep_core::Role;
use reqwest::StatusCode;

use crate::harness::{JsonResponse, ROSTER_CSV, TestRelay, roster_workbook};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_roster_with_bad_rows_is_refused_unless_good_rows_are_accepted_and_exports_round_trip() {
    let relay = TestRelay::start().await;
    let compound = relay.create_compound("香樟苑").await;
    let coordinator = relay.phone(compound, Role::Coordinator, "王芳").await;
    let bad = format!("{ROSTER_CSV}香樟苑,3号楼,1单元,1,101,错行,1990,三,0,0,,正常,无,\n");
    let url = format!("{}/v1/compounds/{compound}/roster", relay.url);

    let res = relay.http.post(&url).bearer_auth(&coordinator.token).body(bad.clone()).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body = res.json_value().await.unwrap();
    assert!(body["reason"].as_str().unwrap().contains("line 8, column 户内人数"), "{body}");
    let csv = |token: &str| {
        relay
            .http
            .get(format!("{}/v1/compounds/{compound}/roster.csv", relay.url))
            .bearer_auth(token.to_owned())
            .send()
    };
    let empty = csv(&coordinator.token).await.unwrap().text().await.unwrap();
    assert_eq!(empty.lines().count(), 1, "nothing was imported: {empty}");

    let res = relay
        .http
        .post(format!("{url}?accept_good_rows=true"))
        .bearer_auth(&coordinator.token)
        .body(bad)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let report = res.json_value().await.unwrap();
    assert_eq!(report["imported"], 6);
    assert_eq!(report["skipped"][0]["line"], 8);

    let exported = csv(&coordinator.token).await.unwrap().text().await.unwrap();
    let original = doorstep_core::import::read_roster_csv(ROSTER_CSV.as_bytes()).unwrap();
    let again = doorstep_core::import::read_roster_csv(exported.as_bytes()).unwrap();
    assert!(again.is_clean(), "{:?}", again.errors);
    let drafts = |p: &doorstep_core::import::RosterPreview| {
        let mut d: Vec<_> = p.households.iter().map(|r| r.draft.clone()).collect();
        d.sort_by_key(|d| d.address.climb_key());
        d
    };
    assert_eq!(drafts(&again), drafts(&original), "export reads back as what was imported");

    // Importing the same file again adds nothing: every flat is already there, matched instead
    // of duplicated, and holds what the file says already.
    let res = relay.http.post(&url).bearer_auth(&coordinator.token).body(ROSTER_CSV).send().await.unwrap();
    let report = res.json_value().await.unwrap();
    assert_eq!((report["imported"].as_u64(), report["updated"].as_u64()), (Some(0), Some(0)), "{report}");
    assert_eq!(report["unchanged"], 6, "{report}");

    let volunteer = relay.phone(compound, Role::Volunteer, "李强").await;
    assert_eq!(csv(&volunteer.token).await.unwrap().status(), StatusCode::FORBIDDEN);
    let (status, members) =
        relay.json("GET", &format!("/v1/compounds/{compound}/members"), &coordinator.token, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(members.as_array().unwrap().len(), 3, "admin, coordinator, volunteer: {members}");
    let (status, body) = relay
        .json(
            "POST",
            &format!("/v1/compounds/{compound}/members/{}/revoke", coordinator.person),
            &coordinator.token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a coordinator may not revoke a coordinator: {body}");
}

/// A name holding a control character (a NUL, which PostgreSQL does not store; a line break or
/// an escape that garbles the member list) or a bidirectional override is refused with 400 and a
/// reason naming it, at join and when a compound is made; nothing is stored.
/// The admin API takes a workbook as the dashboard does (it read only CSV, and refused an .xlsx
/// with "save it as CSV"): the roster sheet after the instructions, its rows numbered as in the
/// sheet, a bad row refusing the import unless the good rows are accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_imports_a_workbook_naming_the_sheet_and_its_rows() {
    let relay = TestRelay::start().await;
    let compound = relay.create_compound("香樟苑").await;
    let coordinator = relay.phone(compound, Role::Coordinator, "王芳").await;
    let url = format!("{}/v1/compounds/{compound}/roster", relay.url);
    let book = roster_workbook(&["香樟苑,3号楼,1单元,1,101,错行,1990,三,0,0,,正常,无,"]);

    let res = relay.http.post(&url).bearer_auth(&coordinator.token).body(book.clone()).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body = res.json_value().await.unwrap();
    let reason = body["reason"].as_str().unwrap();
    // The header is sheet row 2, so the bad household (CSV line 8) is sheet row 9.
    assert!(reason.contains("read sheet \"名册\"") && reason.contains("line 9, column 户内人数"), "{body}");

    let res = relay
        .http
        .post(format!("{url}?accept_good_rows=true"))
        .bearer_auth(&coordinator.token)
        .body(book)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let report = res.json_value().await.unwrap();
    assert_eq!((report["imported"].as_u64(), report["sheet"].as_str()), (Some(6), Some("名册")), "{report}");
    assert_eq!(report["skipped"][0]["line"], 9, "{report}");

    // A CSV's report names no sheet.
    let res = relay.http.post(&url).bearer_auth(&coordinator.token).body(ROSTER_CSV).send().await.unwrap();
    let report = res.json_value().await.unwrap();
    assert_eq!((report["unchanged"].as_u64(), report["sheet"].is_null()), (Some(6), true), "{report}");

    // A workbook with no roster sheet is refused naming the sheets looked at, not as a CSV.
    let mut empty = rust_xlsxwriter::Workbook::new();
    empty.add_worksheet().set_name("说明").unwrap().write_string(0, 0, "空").unwrap();
    let res = relay
        .http
        .post(&url)
        .bearer_auth(&coordinator.token)
        .body(empty.save_to_buffer().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body = res.json_value().await.unwrap();
    let reason = body["reason"].as_str().unwrap();
    assert!(reason.contains("\"说明\"") && !reason.contains("Save As"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_with_a_control_character_is_refused_at_join_and_for_a_compound() {
    let relay = TestRelay::start().await;
    let compound = relay.create_compound("香樟苑").await;
    for (name, named) in [
        ("李\u{0}强", "U+0000 (a control character)"),
        ("李强\n管理员", "U+000A (a line break)"),
        ("\u{1b}[31m李强", "U+001B (a control character)"),
        // Shows as 强李, passing for another member on the dashboard's lists.
        ("\u{202E}李强", "U+202E (a bidirectional override)"),
    ] {
        let code = relay.invite(&relay.admin_token, compound, Role::Volunteer).await;
        let (status, body) = relay.join(&code, name).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name:?}: {body}");
        assert!(body["reason"].as_str().unwrap().contains(named), "{body}");
    }
    let (status, body) = relay
        .json("POST", "/v1/compounds", &relay.admin_token, Some(serde_json::json!({"name": "人和\u{0}花园"})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (_, members) =
        relay.json("GET", &format!("/v1/compounds/{compound}/members"), &relay.admin_token, None).await;
    assert_eq!(members.as_array().unwrap().len(), 1, "only the admin: {members}");
    let (_, compounds) = relay.json("GET", "/v1/compounds", &relay.admin_token, None).await;
    assert_eq!(compounds.as_array().unwrap().len(), 1, "{compounds}");
}

/// `POST /v1/compounds` with a name another compound has is refused (409, naming that compound)
/// unless the request says another is meant, as `doorstep admin create-compound` refuses it
/// unless `--again`: a request sent twice must not split a compound's volunteers between two.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_compound_of_the_same_name_is_refused_unless_asked_for_again() {
    let relay = TestRelay::start().await;
    let create =
        |body: serde_json::Value| relay.json("POST", "/v1/compounds", &relay.admin_token, Some(body));
    let (status, first) = create(serde_json::json!({"name": "香樟苑"})).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let first = first["id"].as_str().unwrap().to_owned();

    // Surrounding spaces make no other name.
    let (status, refused) = create(serde_json::json!({"name": " 香樟苑 "})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["error"], "conflict", "{refused}");
    let reason = refused["reason"].as_str().unwrap();
    assert!(
        reason.contains("香樟苑") && reason.contains(&first) && reason.contains("\"again\": true"),
        "{reason}"
    );
    let (_, compounds) = relay.json("GET", "/v1/compounds", &relay.admin_token, None).await;
    assert_eq!(compounds.as_array().unwrap().len(), 1, "nothing made: {compounds}");

    let (status, again) = create(serde_json::json!({"name": "香樟苑", "again": true})).await;
    assert_eq!(status, StatusCode::CREATED, "{again}");
    assert_ne!(again["id"].as_str().unwrap(), first);
    let (status, other) = create(serde_json::json!({"name": "北林", "again": false})).await;
    assert_eq!(status, StatusCode::CREATED, "another name needs nothing: {other}");
    let (_, compounds) = relay.json("GET", "/v1/compounds", &relay.admin_token, None).await;
    assert_eq!(compounds.as_array().unwrap().len(), 3, "{compounds}");
}

/// Nobody signed in removes themselves from a compound, and a compound's admin does not remove
/// the district admin: either left a compound's last admin gone, or the one person who runs
/// every compound without it on their phone. The relay's operator still may, and mints the
/// district admin a token though they hold no membership at all (an invite makes a new person,
/// never a district admin, so "invite them instead" was no way back).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_removes_themselves_or_the_district_admin_and_the_operator_can_always_let_them_back_in() {
    let relay = TestRelay::start().await;
    let compound = relay.create_compound("香樟苑").await;
    let (_, me) = relay.json("GET", "/v1/me", &relay.admin_token, None).await;
    let district_admin: doorstep_core::id::PersonId = me["person"].as_str().unwrap().parse().unwrap();
    let compound_admin = relay.phone(compound, Role::Admin, "刘伟").await;
    let coordinator = relay.phone(compound, Role::Coordinator, "王芳").await;
    let revoke = |token: &str, person: doorstep_core::id::PersonId| {
        let token = token.to_owned();
        let path = format!("/v1/compounds/{compound}/members/{person}/revoke");
        let relay = &relay;
        async move { relay.json("POST", &path, &token, None).await }
    };

    let (status, body) = revoke(&compound_admin.token, district_admin).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["reason"].as_str().unwrap().contains("only a district admin may remove a district admin"),
        "{body}"
    );
    for (token, person) in [
        (&compound_admin.token, compound_admin.person),
        (&relay.admin_token, district_admin),
        (&coordinator.token, coordinator.person),
    ] {
        let (status, body) = revoke(token, person).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert!(body["reason"].as_str().unwrap().contains("may not remove yourself"), "{body}");
    }
    let (_, members) =
        relay.json("GET", &format!("/v1/compounds/{compound}/members"), &relay.admin_token, None).await;
    let live = members.as_array().unwrap().iter().filter(|m| m["revoked"] == false).count();
    assert_eq!(live, 3, "nobody was removed: {members}");

    // Another admin may remove the compound's admin; the operator, the district admin.
    let (status, body) = revoke(&relay.admin_token, compound_admin.person).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let app = relay.state.as_ref().unwrap();
    let operator = doorstep_server::admin::Principal::relay_admin(&app.relay);
    doorstep_server::admin::revoke_membership(&app.relay, &operator, district_admin, compound).await.unwrap();
    assert!(app.relay.storage().memberships(district_admin).await.unwrap().is_empty());
    let token =
        doorstep_server::admin::issue_token(&app.relay, &operator, district_admin, "备用手机").await.unwrap();
    let (status, me) = relay.json("GET", "/v1/me", &token, None).await;
    assert_eq!(status, StatusCode::OK, "the new token works: {me}");
    let (status, body) = relay.json("GET", &format!("/v1/compounds/{compound}/members"), &token, None).await;
    assert_eq!(status, StatusCode::OK, "and still runs the compound: {body}");
    // A person with no membership who is no district admin is still told to be invited.
    let refused =
        doorstep_server::admin::issue_token(&app.relay, &operator, compound_admin.person, "x").await;
    assert!(refused.unwrap_err().to_string().contains("invite them instead"));
}
