//! The members page's API over real HTTP: the list with devices, an invite whose QR code decodes
//! back to a link a real phone replica joins with, revoking that person (their replica wipes the
//! compound at its next sync), a new token for an existing person, and 403 for everyone the
//! rules keep out.

use std::sync::Mutex;

use doorstep_core::Role;
use doorstep_replica::Replica;
use doorstep_replica::http::{self, RelayClient};
use doorstep_server::join_link::JoinLink;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Dash, Session, now};
use crate::relay_harness::noise;

/// Reads the relay's QR code SVG the way a camera would: draws the SVG's dark rectangles onto a
/// bitmap of its view box, then finds and decodes the code with `rqrr`. Fails on any SVG this
/// reader does not understand, so a change of drawing shows here rather than passing unread.
fn decode_qr(svg: &str) -> String {
    assert!(svg.starts_with("<svg"), "inline SVG without an XML declaration: {}", &svg[..40.min(svg.len())]);
    let view_box = svg.split("viewBox=\"").nth(1).and_then(|s| s.split('"').next()).expect("a viewBox");
    let numbers: Vec<usize> = view_box.split(' ').map(|n| n.parse().unwrap()).collect();
    let (width, height) = (numbers[2], numbers[3]);
    let path = svg.split(" d=\"").nth(1).and_then(|s| s.split('"').next()).expect("one path of dark modules");
    let mut dark = vec![false; width * height];
    // Each dark run is `M{left} {top}h{w}v{h}H{left}V{top}`.
    for rect in path.split('M').filter(|s| !s.is_empty()) {
        let mut numbers = rect.split(|c: char| !c.is_ascii_digit()).filter(|s| !s.is_empty());
        let mut next = || numbers.next().map(|n| n.parse::<usize>().unwrap()).expect("a complete rectangle");
        let (left, top, w, h) = (next(), next(), next(), next());
        for y in top..top + h {
            for x in left..left + w {
                dark[y * width + x] = true;
            }
        }
    }
    let mut image = rqrr::PreparedImage::prepare_from_bitmap(width, height, |x, y| dark[y * width + x]);
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the SVG");
    grids[0].decode().expect("the QR code decodes").1
}

fn members_path(compound: impl std::fmt::Display) -> String {
    format!("/dashboard/api/compounds/{compound}/members")
}

/// A second phone's device token for `person`, named 备用机, minted by a district admin.
async fn spare_phone(
    admin: &Session,
    compound: impl std::fmt::Display,
    person: impl std::fmt::Display,
) -> String {
    let minted = admin
        .post_json(
            &format!("{}/{person}/tokens", members_path(compound)),
            &json!({ "device_name": "备用机" }),
        )
        .await;
    assert_eq!(minted.status, StatusCode::CREATED, "{}", minted.text());
    minted.json()["token"].as_str().unwrap().to_owned()
}

fn member<'a>(list: &'a Value, name: &str) -> &'a Value {
    list.as_array().unwrap().iter().find(|m| m["name"] == name).unwrap_or_else(|| panic!("{name} in {list}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invite_qr_joins_a_phone_and_revoking_wipes_it() {
    let dash = Dash::start().await;
    let (compound, coordinator) = dash.small_compound().await;
    let session = dash.login(&coordinator.token).await;

    let list = session.get_json(&members_path(compound)).await;
    let wang = member(&list, "王芳");
    assert_eq!(wang["role"], "coordinator");
    assert_eq!(wang["revoked"], false);
    assert!(wang["joined_at"].as_i64().unwrap() > 0, "{wang}");
    assert_eq!(wang["devices"].as_array().unwrap().len(), 1, "{wang}");
    assert_eq!(wang["devices"][0]["last_seen"], Value::Null, "a phone that never synced: {wang}");

    // The invite: a code, and a QR code that reads back as the link naming this relay and code.
    let answer = session
        .post_json(&format!("{}/invites", members_path(compound)), &json!({ "role": "volunteer" }))
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text());
    let invite = answer.json();
    let code = invite["code"].as_str().unwrap();
    let scanned = decode_qr(invite["qr_svg"].as_str().unwrap());
    assert_eq!(scanned, invite["link"].as_str().unwrap());
    let JoinLink::Join { relay, code: scanned_code } = JoinLink::parse(&scanned).unwrap() else {
        panic!("a join link: {scanned}");
    };
    assert_eq!((relay.as_str(), scanned_code.as_str()), (dash.url(), code));

    // A real phone replica joins with what it scanned and syncs the compound.
    let dir = tempfile::tempdir().unwrap();
    let replica = Mutex::new(Replica::open(dir.path().join("phone.db")).unwrap());
    let client = RelayClient::new(&relay, None).unwrap();
    let joined = http::join_as(&replica, &client, &scanned_code, "李强的手机", Some("李强")).await.unwrap();
    let client = client.with_token(joined.token.clone());
    http::sync(&replica, &client, now).await.unwrap();
    assert_eq!(replica.lock().unwrap().compounds().count(), 1);
    let again =
        RelayClient::new(&relay, None).unwrap().join(&scanned_code, "第二台", Some("冒名"), None).await;
    assert!(again.is_err(), "an invite code is single-use");

    let list = session.get_json(&members_path(compound)).await;
    let li = member(&list, "李强");
    assert_eq!((li["role"].as_str(), li["revoked"].as_bool()), (Some("volunteer"), Some(false)), "{li}");
    assert_eq!(li["devices"][0]["name"], "李强的手机");
    assert!(li["devices"][0]["last_seen"].as_i64().is_some(), "a phone that synced was seen: {li}");

    // Revoking: the list says so, and at its next sync the phone wipes the compound.
    let revoke = format!("{}/{}/revoke", members_path(compound), joined.person);
    let answer = session.post_json(&revoke, &json!({})).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let list = session.get_json(&members_path(compound)).await;
    assert_eq!(member(&list, "李强")["revoked"], true);
    let report = http::sync(&replica, &client, now).await.unwrap();
    assert_eq!(report.removed_from, vec!["香樟苑".to_owned()]);
    assert_eq!(replica.lock().unwrap().compounds().count(), 0, "the revoked phone holds no compound");
    let twice = session.post_json(&revoke, &json!({})).await;
    assert_eq!(twice.status, StatusCode::NOT_FOUND, "{}", twice.text());

    // What a coordinator may not do: invite a coordinator, revoke themselves, mint a token.
    let answer = session
        .post_json(&format!("{}/invites", members_path(compound)), &json!({ "role": "coordinator" }))
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.text());
    let own = format!("{}/{}/revoke", members_path(compound), coordinator.person);
    assert_eq!(session.post_json(&own, &json!({})).await.status, StatusCode::FORBIDDEN);
    let token = format!("{}/{}/tokens", members_path(compound), coordinator.person);
    let answer = session.post_json(&token, &json!({ "device_name": "新手机" })).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.text());
    let answer =
        session.post_json(&format!("{}/invites", members_path(compound)), &json!({ "role": "boss" })).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_volunteer_of_the_compound_gets_403_from_every_members_route() {
    let dash = Dash::start().await;
    let (_runs, coordinator) = dash.small_compound().await;
    // The coordinator of 香樟苑 is only a volunteer in 金桂园.
    let other = dash.relay.create_compound("金桂园").await;
    dash.state
        .relay
        .storage()
        .set_membership(coordinator.person, other, Role::Volunteer, now())
        .await
        .unwrap();
    let head = dash.relay.phone(other, Role::Coordinator, "赵敏").await;
    let session = dash.login(&coordinator.token).await;

    let path = members_path(other);
    let answers = [
        session.get(&path).await,
        session.post_json(&format!("{path}/invites"), &json!({ "role": "volunteer" })).await,
        session.post_json(&format!("{path}/{}/revoke", head.person), &json!({})).await,
        session.post_json(&format!("{path}/{}/tokens", head.person), &json!({ "device_name": "x" })).await,
    ];
    for answer in answers {
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.text());
        assert!(answer.json()["reason"].as_str().unwrap().contains("volunteer"), "{}", answer.text());
    }
    let list = dash
        .relay
        .json("GET", &format!("/v1/compounds/{other}/members"), &dash.relay.admin_token, None)
        .await;
    assert!(
        list.1.as_array().unwrap().iter().all(|m| m["revoked"] == false),
        "nothing was revoked: {}",
        list.1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_district_admin_mints_a_new_token_whose_qr_signs_the_person_in() {
    let dash = Dash::start().await;
    let (compound, coordinator) = dash.small_compound().await;
    let admin = dash.login(&dash.relay.admin_token).await;

    let path = format!("{}/{}/tokens", members_path(compound), coordinator.person);
    let answer = admin.post_json(&path, &json!({ "device_name": "王芳的新手机" })).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text());
    let minted = answer.json();
    let scanned = decode_qr(minted["qr_svg"].as_str().unwrap());
    let JoinLink::Login { relay, token } = JoinLink::parse(&scanned).unwrap() else { panic!("{scanned}") };
    assert_eq!((relay.as_str(), token.as_str()), (dash.url(), minted["token"].as_str().unwrap()));
    // The token works: the same person signs in with it.
    let me = dash.login(&token).await.get_json("/dashboard/api/me").await;
    assert_eq!(me["person"], coordinator.person.to_string());
    let list = admin.get_json(&members_path(compound)).await;
    let devices = member(&list, "王芳")["devices"].as_array().unwrap().clone();
    assert_eq!(devices.len(), 2, "{list}");
    assert_eq!(devices[1]["name"], "王芳的新手机");

    // Bad requests are named; a revoked person gets no token.
    let blank = admin.post_json(&path, &json!({ "device_name": "  " })).await;
    assert_eq!(blank.status, StatusCode::BAD_REQUEST, "{}", blank.text());
    assert!(blank.text().contains("设备名称"), "{}", blank.text());
    let volunteer = dash.relay.phone(compound, Role::Volunteer, "李强").await;
    let revoke = format!("{}/{}/revoke", members_path(compound), volunteer.person);
    assert_eq!(admin.post_json(&revoke, &json!({})).await.status, StatusCode::OK);
    let gone = format!("{}/{}/tokens", members_path(compound), volunteer.person);
    let answer = admin.post_json(&gone, &json!({ "device_name": "x" })).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND, "{}", answer.text());
}

/// One lost phone of two: a district admin revokes that device alone; its token is refused, the
/// person's other phone keeps working (and its work not yet synced), and the list says which.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_district_admin_revokes_one_lost_phone_and_the_persons_other_phone_keeps_working() {
    let dash = Dash::start().await;
    let (compound, coordinator) = dash.small_compound().await;
    let admin = dash.login(&dash.relay.admin_token).await;
    let volunteer = dash.relay.phone(compound, Role::Volunteer, "李强").await;
    let spare_token = spare_phone(&admin, compound, volunteer.person).await;
    let list = admin.get_json(&members_path(compound)).await;
    let devices = member(&list, "李强")["devices"].as_array().unwrap().clone();
    let lost =
        devices.iter().find(|d| d["name"] == "备用机").unwrap()["id"].as_i64().expect("a device's number");
    let path =
        |person: &str, device: i64| format!("{}/{person}/devices/{device}/revoke", members_path(compound));

    // A coordinator may not revoke another coordinator's phone (a volunteer's they may: below);
    // a device of someone else, or none, is not found.
    let head = dash.login(&coordinator.token).await;
    let other_head = dash.relay.phone(compound, Role::Coordinator, "赵敏").await;
    let list = admin.get_json(&members_path(compound)).await;
    let theirs = member(&list, "赵敏")["devices"][0]["id"].as_i64().unwrap();
    let answer = head.post_json(&path(&other_head.person.to_string(), theirs), &json!({})).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.text());
    assert!(answer.text().contains("volunteers and medics only"), "{}", answer.text());
    let answer = admin.post_json(&path(&coordinator.person.to_string(), lost), &json!({})).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND, "{}", answer.text());
    let answer = admin.post_json(&path(&volunteer.person.to_string(), 999_999), &json!({})).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND, "{}", answer.text());
    let answer =
        admin.post_json(&path(&volunteer.person.to_string(), -1).replace("-1", "x1"), &json!({})).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text());

    let answer = admin.post_json(&path(&volunteer.person.to_string(), lost), &json!({})).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(answer.json()["revoked"], lost);
    let (status, refused) = dash.relay.json("GET", "/v1/me", &spare_token, None).await;
    assert_eq!((status, refused["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("token_revoked")));
    let (status, _) = dash.relay.json("GET", "/v1/me", &volunteer.token, None).await;
    assert_eq!(status, StatusCode::OK, "the other phone keeps working");
    let list = admin.get_json(&members_path(compound)).await;
    let devices = member(&list, "李强")["devices"].as_array().unwrap().clone();
    let revoked: Vec<(&str, bool)> =
        devices.iter().map(|d| (d["name"].as_str().unwrap(), d["revoked"].as_bool().unwrap())).collect();
    assert!(
        revoked.contains(&("备用机", true)) && revoked.iter().filter(|(_, r)| !r).count() == 1,
        "{revoked:?}"
    );
    assert_eq!(member(&list, "李强")["revoked"], false, "still a member");
    let again = admin.post_json(&path(&volunteer.person.to_string(), lost), &json!({})).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND, "{}", again.text());
}

/// A compound's own admin runs its members but not the district: the district admin's phone
/// (whose token works in every compound), and a coordinator's or another admin's, take a district
/// admin to revoke; a volunteer's they may. The list says who is a district admin, for the page
/// to offer the button only where the relay would take it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compound_admin_may_not_revoke_the_phone_of_a_district_admin_or_a_coordinator() {
    let dash = Dash::start().await;
    let (compound, coordinator) = dash.small_compound().await;
    let compound_admin = dash.relay.phone(compound, Role::Admin, "周主任").await;
    let volunteer = dash.relay.phone(compound, Role::Volunteer, "李强").await;
    let district = dash.login(&dash.relay.admin_token).await;
    let district_admin = district.get_json("/dashboard/api/me").await["person"].as_str().unwrap().to_owned();
    let page = dash.login(&compound_admin.token).await;
    let list = page.get_json(&members_path(compound)).await;
    let listed = |person: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|m| m["person"] == person)
            .unwrap_or_else(|| panic!("{person} in {list}"))
    };
    assert_eq!(listed(&district_admin)["district_admin"], true, "{list}");
    assert!(listed(&coordinator.person.to_string()).get("district_admin").is_none(), "{list}");
    let first_device = |person: &str| listed(person)["devices"][0]["id"].as_i64().unwrap();
    let revoke =
        |person: &str| format!("{}/{person}/devices/{}/revoke", members_path(compound), first_device(person));

    for (person, whose) in
        [(district_admin.clone(), "district admin"), (coordinator.person.to_string(), "coordinator")]
    {
        let answer = page.post_json(&revoke(&person), &json!({})).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{whose}: {}", answer.text());
        assert!(
            answer.text().contains(&format!("a {whose}'s phone takes a district admin")),
            "{}",
            answer.text()
        );
    }
    let (status, _) = dash.relay.json("GET", "/v1/me", &dash.relay.admin_token, None).await;
    assert_eq!(status, StatusCode::OK, "the district admin's phone still works");
    let (status, _) = dash.relay.json("GET", "/v1/me", &coordinator.token, None).await;
    assert_eq!(status, StatusCode::OK, "the coordinator's phone still works");

    let answer = page.post_json(&revoke(&volunteer.person.to_string()), &json!({})).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    // The district admin may revoke the coordinator's phone.
    let answer = district.post_json(&revoke(&coordinator.person.to_string()), &json!({})).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
}

/// A volunteer lost a phone: their coordinator revokes that phone alone from the members page
/// (before, only a district admin could, and a coordinator's only tool, removing the volunteer,
/// left the token alive); the volunteer's other phone keeps working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_revokes_a_volunteers_lost_phone() {
    let dash = Dash::start().await;
    let (compound, coordinator) = dash.small_compound().await;
    let admin = dash.login(&dash.relay.admin_token).await;
    let volunteer = dash.relay.phone(compound, Role::Volunteer, "李强").await;
    let spare_token = spare_phone(&admin, compound, volunteer.person).await;
    let head = dash.login(&coordinator.token).await;
    let list = head.get_json(&members_path(compound)).await;
    let devices = member(&list, "李强")["devices"].as_array().unwrap().clone();
    let lost = devices.iter().find(|d| d["name"] == "备用机").unwrap()["id"].as_i64().unwrap();

    let path = format!("{}/{}/devices/{lost}/revoke", members_path(compound), volunteer.person);
    let answer = head.post_json(&path, &json!({})).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let (status, refused) = dash.relay.json("GET", "/v1/me", &spare_token, None).await;
    assert_eq!((status, refused["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("token_revoked")));
    let (status, _) = dash.relay.json("GET", "/v1/me", &volunteer.token, None).await;
    assert_eq!(status, StatusCode::OK, "the other phone keeps working");
}

/// A coordinator's lost phone may hold invite codes sent from it and never used (in its chat
/// history): revoking that phone ends them, so whoever finds it cannot join with one; the
/// coordinator's invites made on their other phone still join.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invites_made_on_a_phone_revoked_since_join_nobody() {
    let dash = Dash::start().await;
    let (compound, coordinator) = dash.small_compound().await;
    let admin = dash.login(&dash.relay.admin_token).await;
    let minted = admin
        .post_json(
            &format!("{}/{}/tokens", members_path(compound), coordinator.person),
            &json!({ "device_name": "王芳的旧手机" }),
        )
        .await;
    assert_eq!(minted.status, StatusCode::CREATED, "{}", minted.text());
    let lost_token = minted.json()["token"].as_str().unwrap().to_owned();
    let list = admin.get_json(&members_path(compound)).await;
    let devices = member(&list, "王芳")["devices"].as_array().unwrap().clone();
    let lost = devices.iter().find(|d| d["name"] == "王芳的旧手机").unwrap()["id"].as_i64().unwrap();

    // Made on the phone to be lost: one on its dashboard, one through the phones' API.
    let on_the_lost_dashboard = dash.login(&lost_token).await;
    let answer = on_the_lost_dashboard
        .post_json(&format!("{}/invites", members_path(compound)), &json!({ "role": "volunteer" }))
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text());
    let from_its_dashboard = answer.json()["code"].as_str().unwrap().to_owned();
    let from_its_app = dash.relay.invite(&lost_token, compound, Role::Medic).await;
    // Made on the phone she keeps, and one on the lost phone used before the loss.
    let from_the_kept_phone = dash.relay.invite(&coordinator.token, compound, Role::Volunteer).await;
    let used_before = dash.relay.invite(&lost_token, compound, Role::Volunteer).await;
    let (status, _) = dash.relay.join(&used_before, "李强").await;
    assert!(status.is_success(), "{status}");

    let revoke = format!("{}/{}/devices/{lost}/revoke", members_path(compound), coordinator.person);
    let answer = admin.post_json(&revoke, &json!({})).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());

    for code in [&from_its_dashboard, &from_its_app] {
        let (status, refused) = dash.relay.join(code, "捡到手机的人").await;
        assert_eq!(status, StatusCode::GONE, "{refused}");
        assert!(
            refused["reason"].as_str().unwrap().contains("made on a phone that has since been reported lost"),
            "{refused}"
        );
    }
    let list = admin.get_json(&members_path(compound)).await;
    assert!(
        list.as_array().unwrap().iter().all(|m| m["name"] != "捡到手机的人"),
        "nobody joined with a code from the lost phone: {list}"
    );
    let (status, joined) = dash.relay.join(&from_the_kept_phone, "赵敏").await;
    assert!(status.is_success(), "{status} {joined}");
    let list = admin.get_json(&members_path(compound)).await;
    assert_eq!(member(&list, "李强")["revoked"], false, "a join made before the loss stands");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_refused_for_its_share_of_a_document_is_shown_beside_its_person() {
    use doorstep_core::Operation;
    use doorstep_server::{Config, Limits};
    let config =
        || Config { limits: Limits { growth_share: 16 * 1024, ..Limits::default() }, ..Config::default() };
    let dash = Dash::start_with(config()).await;
    let (compound, coordinator) = dash.small_compound().await;
    let mut volunteer = dash.relay.phone(compound, Role::Volunteer, "李强").await;
    volunteer.sync(&dash.relay).await;
    let session = dash.login(&coordinator.token).await;
    let list = session.get_json(&members_path(compound)).await;
    assert!(member(&list, "李强").get("share_refused").is_none(), "{list}");

    // Notes that no compression shrinks: the first sync's message empties the share (one
    // larger than the whole share is taken from a full one), the next is refused.
    for _ in 0..2 {
        let household = volunteer.compound().households()[0].id;
        volunteer.apply(&Operation::EditNotes { household, notes: noise(3000) }).unwrap();
        volunteer.apply(&Operation::EditNotes { household, notes: noise(3000) }).unwrap();
        volunteer.sync_up_to(&dash.relay, 4).await;
    }

    let list = session.get_json(&members_path(compound)).await;
    let refused = &member(&list, "李强")["share_refused"];
    assert_eq!(refused["kind"], "roster", "{list}");
    assert!(refused["times"].as_u64().unwrap() >= 1, "{refused}");
    assert!(refused["last_at"].as_i64().unwrap() >= now().as_millis() - 60_000, "{refused}");
    assert!(member(&list, "王芳").get("share_refused").is_none(), "only the person refused: {list}");

    // Kept with the relay's data: a restarted relay still shows it.
    let dash = dash.restart(config()).await;
    let session = dash.login(&coordinator.token).await;
    let list = session.get_json(&members_path(compound)).await;
    assert_eq!(member(&list, "李强")["share_refused"], *refused, "after a restart: {list}");
}

/// A phone whose syncs bring and take nothing is still shown as having synced when it did: its
/// stored sync states do not change, and the page showed the time of the last one that did (a
/// phone syncing every minute looked silent since the morning, which is how coordinators tell a
/// lost phone). Written by the eviction sweep, and at shutdown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_syncing_with_nothing_new_shows_when_it_last_synced() {
    use doorstep_server::Config;
    let config = || Config { idle_eviction: std::time::Duration::from_millis(400), ..Config::default() };
    let dash = Dash::start_with(config()).await;
    let (compound, coordinator) = dash.small_compound().await;
    let mut volunteer = dash.relay.phone(compound, Role::Volunteer, "李强").await;
    // Twice: the second settles the states the first left (the relay then knows the phone holds
    // what it sent), so the syncs after it change none.
    volunteer.sync(&dash.relay).await;
    volunteer.sync(&dash.relay).await;
    let session = dash.login(&coordinator.token).await;
    let last_sync = |list: &Value| member(list, "李强")["devices"][0]["last_seen"].as_i64();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let first = last_sync(&session.get_json(&members_path(compound)).await).expect("the first sync is shown");

    // A second later the phone syncs again, with nothing to bring or take.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let again = now().as_millis();
    let synced = volunteer.sync(&dash.relay).await;
    assert!(synced.rejected.is_empty(), "{:?}", synced.rejected);
    let mut shown = first;
    for _ in 0..40 {
        shown = last_sync(&session.get_json(&members_path(compound)).await).unwrap();
        if shown >= again {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(shown >= again, "the page shows {shown}, the first sync ({first}), not the one at {again}");

    // What the relay noted but no sweep wrote yet is written when it stops.
    let dash = dash
        .restart(Config { idle_eviction: std::time::Duration::from_secs(3600), ..Config::default() })
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let third = now().as_millis();
    volunteer.sync(&dash.relay).await;
    let dash = dash.restart(Config::default()).await;
    let session = dash.login(&coordinator.token).await;
    let shown = last_sync(&session.get_json(&members_path(compound)).await).unwrap();
    assert!(shown >= third, "after a restart the page shows {shown}, not the sync at {third}");
}

/// A phone whose clock is wrong records every knock at a wrong time, and the coordinators are
/// the ones who can tell its volunteer: each sync request says what the phone's clock read (its
/// `Date` header), and the members page shows how far off it was at the device's last sync, past
/// five minutes, until a sync with the clock set right. The page shows each sync at once, from
/// what the relay noted and has not written yet (no sweep runs here), and after a restart from
/// what it wrote when it stopped. A request that does not say (the harness phone) shows nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_whose_clock_is_wrong_is_shown_until_it_is_set() {
    use doorstep_core::Timestamp;
    use doorstep_server::Config;
    const DAY: i64 = 24 * 60 * 60 * 1000;
    let no_sweep = || Config { idle_eviction: std::time::Duration::from_secs(3600), ..Config::default() };
    let dash = Dash::start_with(no_sweep()).await;
    let (compound, coordinator) = dash.small_compound().await;
    let mut unsaid = dash.relay.phone(compound, Role::Volunteer, "李强").await;
    unsaid.sync(&dash.relay).await;

    let dir = tempfile::tempdir().unwrap();
    let replica = Mutex::new(Replica::open(dir.path().join("zhao.sqlite")).unwrap());
    let transport = RelayClient::new(&dash.relay.url, None).unwrap();
    let code = dash.relay.invite(&dash.relay.admin_token, compound, Role::Volunteer).await;
    let joined = http::join(&replica, &transport, &code, "赵敏").await.unwrap();
    let transport = transport.with_token(joined.token);
    let clock_off_by = |off: i64| move || Timestamp::from_millis(now().as_millis() + off);

    let session = dash.login(&coordinator.token).await;
    let zhao =
        async || member(&session.get_json(&members_path(compound)).await, "赵敏")["devices"][0].clone();

    // Three days and two hours ahead.
    let ahead = 3 * DAY + 2 * 60 * 60 * 1000;
    let before = now().as_millis();
    http::sync(&replica, &transport, clock_off_by(ahead)).await.unwrap();
    let shown = zhao().await;
    let off = shown["clock_off_by_ms"].as_i64().expect("shown at once");
    assert!(
        (off - ahead).abs() <= 2_000,
        "shown {off} ms ahead, the phone was {ahead} (to the second, on loopback)"
    );
    assert!(shown["last_seen"].as_i64().is_some_and(|at| at >= before), "the sync's time, at once: {shown}");
    let list = session.get_json(&members_path(compound)).await;
    assert!(
        member(&list, "李强")["devices"][0].get("clock_off_by_ms").is_none(),
        "a phone that did not say: {list}"
    );

    // Forty days behind: the later sync's clock replaces the earlier's.
    http::sync(&replica, &transport, clock_off_by(-40 * DAY)).await.unwrap();
    let off = zhao().await["clock_off_by_ms"].as_i64().unwrap();
    assert!((off + 40 * DAY).abs() <= 2_000, "shown {off}");

    // Set right (a minute off is drift, not a wrong clock): nothing shown.
    http::sync(&replica, &transport, clock_off_by(60_000)).await.unwrap();
    let shown = zhao().await;
    assert!(shown.get("clock_off_by_ms").is_none(), "{shown}");
    // The operator's count: the requests of the two wrong syncs, none of the right one's or of
    // the phone that did not say.
    let clocks_off = |metrics: &str| {
        metrics.lines().find_map(|l| l.strip_prefix("doorstep_sync_clock_off_total ")?.parse::<u64>().ok())
    };
    let wrong = clocks_off(&dash.relay.metrics().await).expect("counted on /metrics");
    assert!(wrong >= 2, "{wrong}");
    http::sync(&replica, &transport, clock_off_by(60_000)).await.unwrap();
    unsaid.sync(&dash.relay).await;
    assert_eq!(
        clocks_off(&dash.relay.metrics().await),
        Some(wrong),
        "right or unsaid clocks are not counted"
    );

    // Kept with the relay's data, as "last sync" is: wrong again, then a restart (the relay
    // writes what it noted when it stops).
    http::sync(&replica, &transport, clock_off_by(ahead)).await.unwrap();
    let dash = dash.restart(no_sweep()).await;
    let session = dash.login(&coordinator.token).await;
    let list = session.get_json(&members_path(compound)).await;
    let off = member(&list, "赵敏")["devices"][0]["clock_off_by_ms"].as_i64();
    assert!(off.is_some_and(|off| (off - ahead).abs() <= 2_000), "{list}");
}
