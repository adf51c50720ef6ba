//! Signing in with a device token, the session cookie, who may use the dashboard, and the
//! page's own files.

use doorstep_core::Role;
use reqwest::StatusCode;
use serde_json::json;

use crate::harness::Dash;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_signs_in_and_gets_a_strict_http_only_cookie() {
    let dash = Dash::start().await;
    let (compound, coordinator) = dash.small_compound().await;
    let answer = dash.login_raw(&coordinator.token).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let cookie = answer.header("set-cookie");
    assert!(cookie.starts_with("doorstep_session=dss_"), "{cookie}");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(cookie.contains(attribute), "{attribute} missing from {cookie}");
    }
    let me = answer.json();
    assert_eq!(me["person"], coordinator.person.to_string());
    assert_eq!(me["name"], "王芳");
    assert_eq!(
        me["compounds"],
        json!([{ "id": compound.to_string(), "name": "香樟苑", "role": "coordinator" }])
    );

    let session = dash.login(&coordinator.token).await;
    assert_eq!(session.get_json("/dashboard/api/me").await, me, "GET /me answers what login did");

    // Signing out ends the session on the relay, not just in the browser.
    let out = session.post_json("/dashboard/logout", &json!({})).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert!(out.header("set-cookie").contains("Max-Age=0"));
    let after = session.get("/dashboard/api/me").await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    assert_eq!(after.json()["error"], "unauthorized");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn volunteers_medics_and_strangers_are_refused() {
    let dash = Dash::start().await;
    let (compound, _coordinator) = dash.small_compound().await;
    for role in [Role::Volunteer, Role::Medic] {
        let phone = dash.relay.phone(compound, role, "李强").await;
        let answer = dash.login_raw(&phone.token).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.text());
        let body = answer.json();
        assert_eq!(body["error"], "forbidden");
        assert!(body["reason"].as_str().unwrap().contains(role.as_str()), "{body}");
        assert!(answer.headers.get("set-cookie").is_none(), "no session for a {}", role.as_str());
    }
    let bad = dash.login_raw("dst_0000").await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    assert_eq!(bad.json()["error"], "unauthorized");
    let malformed = dash.anonymous().post_json("/dashboard/login", &json!({ "tok": "x" })).await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST, "{}", malformed.text());

    // No cookie, or a made-up one: every API route answers 401 in the relay's error format.
    let nobody = dash.anonymous();
    for path in ["/dashboard/api/me".to_owned(), format!("/dashboard/api/compounds/{compound}/overview")] {
        let answer = nobody.get(&path).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{path}");
        assert!(answer.json()["reason"].as_str().unwrap().contains("sign in"), "{}", answer.text());
    }
    let mut forged = nobody.clone();
    forged.cookie = "doorstep_session=dss_forged".into();
    assert_eq!(forged.get("/dashboard/api/me").await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_is_checked_per_compound_and_a_revoked_device_ends_its_session() {
    let dash = Dash::start().await;
    let (mine, coordinator) = dash.small_compound().await;
    let other = dash.relay.create_compound("北林").await;
    // The coordinator of 香樟苑 also volunteers in 北林.
    let storage = dash.state.relay.storage();
    storage
        .set_membership(coordinator.person, other, Role::Volunteer, doorstep_server::clock::now())
        .await
        .unwrap();
    let session = dash.login(&coordinator.token).await;
    assert_eq!(
        session.get(&format!("/dashboard/api/compounds/{mine}/overview")).await.status,
        StatusCode::OK
    );
    let elsewhere = session.get(&format!("/dashboard/api/compounds/{other}/overview")).await;
    assert_eq!(elsewhere.status, StatusCode::FORBIDDEN, "{}", elsewhere.text());
    let missing = session.get("/dashboard/api/compounds/not-an-id/overview").await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);

    // A district admin runs every compound, and a compound that does not exist is a 404.
    let admin = dash.login(&dash.relay.admin_token).await;
    assert_eq!(admin.get(&format!("/dashboard/api/compounds/{other}/overview")).await.status, StatusCode::OK);
    let me = admin.get_json("/dashboard/api/me").await;
    assert_eq!(me["district_admin"], true);
    assert_eq!(me["compounds"].as_array().unwrap().len(), 2);
    let nowhere = admin.get("/dashboard/api/compounds/00000000-0000-7000-8000-000000000000/overview").await;
    assert_eq!(nowhere.status, StatusCode::NOT_FOUND);

    // A lost phone: revoking its token ends the dashboard session opened with it.
    let (status, body) = dash
        .relay
        .json(
            "POST",
            &format!("/v1/persons/{}/revoke-devices", coordinator.person),
            &dash.relay.admin_token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let after = session.get(&format!("/dashboard/api/compounds/{mine}/overview")).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    assert!(after.json()["reason"].as_str().unwrap().contains("revoked"), "{}", after.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_on_another_site_cannot_post_with_the_cookie() {
    let dash = Dash::start().await;
    let (compound, coordinator) = dash.small_compound().await;
    let session = dash.login(&coordinator.token).await;
    let res = dash
        .http
        .post(format!("{}/dashboard/api/compounds/{compound}/operations", dash.url()))
        .header("cookie", &session.cookie)
        .header("origin", "https://evil.example")
        .header("content-type", "application/json")
        .body(json!({"op": "add_building", "estate": "", "label": "99", "lift": false}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

/// The dashboard's answers hold phone numbers and health tags: a shared office computer's
/// browser cache keeps none of them after the coordinator signs out, nor does a proxy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_answer_holding_personal_data_is_kept_by_the_browser_cache() {
    let dash = Dash::start().await;
    let (compound, coordinator) = dash.small_compound().await;
    let session = dash.login(&coordinator.token).await;
    for path in [
        "/dashboard/api/me".to_owned(),
        format!("/dashboard/api/compounds/{compound}/households"),
        format!("/dashboard/api/compounds/{compound}/members"),
        format!("/dashboard/api/compounds/{compound}/rounds"),
        format!("/dashboard/api/compounds/{compound}/export/roster.csv"),
        format!("/dashboard/api/compounds/{compound}/nothing-here"),
    ] {
        let answer = session.get(&path).await;
        assert_eq!(answer.header("cache-control"), "no-store", "{path}: {}", answer.status);
        assert_eq!(answer.header("x-content-type-options"), "nosniff", "{path}");
    }
    let roster = dash
        .http
        .get(format!("{}/v1/compounds/{compound}/roster.csv", dash.url()))
        .bearer_auth(&coordinator.token)
        .send()
        .await
        .unwrap();
    assert_eq!(roster.status(), StatusCode::OK);
    assert_eq!(roster.headers()["cache-control"], "no-store");
    // The page's own files are revalidated, not refused to the cache.
    assert_eq!(dash.anonymous().get("/dashboard/assets/app.js").await.header("cache-control"), "no-cache");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_and_its_files_are_served_from_the_binary() {
    let dash = Dash::start().await;
    let nobody = dash.anonymous();
    for path in ["/dashboard", "/dashboard/"] {
        let page = nobody.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert_eq!(page.header("content-type"), "text/html; charset=utf-8");
        assert_eq!(page.header("cache-control"), "no-cache");
        assert!(page.header("content-security-policy").contains("script-src 'self'"));
        assert!(page.text().contains("/dashboard/assets/app.js"), "{}", page.text());
    }
    let script = nobody.get("/dashboard/assets/app.js").await;
    assert_eq!(script.status, StatusCode::OK);
    assert_eq!(script.header("content-type"), "text/javascript; charset=utf-8");
    let etag = script.header("etag");
    let style = nobody.get("/dashboard/assets/app.css").await;
    assert_eq!(style.header("content-type"), "text/css; charset=utf-8");

    // A browser revalidating an unchanged file gets a 304 without a body.
    let again = dash
        .http
        .get(format!("{}/dashboard/assets/app.js", dash.url()))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(nobody.get("/dashboard/assets/nope.js").await.status, StatusCode::NOT_FOUND);
    assert_eq!(nobody.get("/dashboard/assets/..%2Fbuild.rs").await.status, StatusCode::NOT_FOUND);
}

/// The dashboard is native ES modules: index.html loads `app.js` as a module, which imports the
/// rest. A browser refuses a module served with any type but JavaScript, so every module the
/// graph reaches, followed over HTTP from the page as a browser does, is served as
/// `text/javascript`, and together they are every `.js` file of `server/assets/dashboard/`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_module_of_the_page_is_served_as_javascript() {
    let dash = Dash::start().await;
    let nobody = dash.anonymous();
    let page = nobody.get("/dashboard").await.text();
    assert!(page.contains(r#"<script type="module" src="/dashboard/assets/app.js">"#), "{page}");
    let mut queue = vec!["app.js".to_owned()];
    let mut served = std::collections::BTreeSet::new();
    while let Some(name) = queue.pop() {
        if !served.insert(name.clone()) {
            continue;
        }
        let module = nobody.get(&format!("/dashboard/assets/{name}")).await;
        assert_eq!(module.status, StatusCode::OK, "{name}");
        assert_eq!(module.header("content-type"), "text/javascript; charset=utf-8", "{name}");
        assert_eq!(module.header("x-content-type-options"), "nosniff", "{name}");
        let text = module.text();
        assert!(text.starts_with("// @ts-check\n"), "{name} is type-checked");
        // `import … from './x.js';` lines: the modules import only files beside them.
        for line in text.lines().filter(|l| l.starts_with("import ")) {
            let spec = line.rsplit_once(" from ").map_or(line, |(_, s)| s).trim_end_matches(';');
            let spec = spec.trim_matches(|c| c == '\'' || c == '"');
            let file = spec.strip_prefix("./").unwrap_or_else(|| panic!("{name} imports {spec}"));
            queue.push(file.to_owned());
        }
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/dashboard");
    let on_disk: std::collections::BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".js"))
        .collect();
    assert_eq!(served, on_disk, "the page reaches every module, and only those");
    assert!(served.len() >= 20, "one module per page or concept: {served:?}");
}

/// Signing in counts against the token's rate like every request it makes: a flood of sign-ins
/// wrote a row and a log line each and signed the person's own tab out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_ins_count_against_the_tokens_rate() {
    let dash = Dash::start_at_its_rate(doorstep_server::config::Config::default()).await;
    let (_, coordinator) = dash.small_compound().await;
    let mut refused = None;
    for n in 0..200 {
        let answer = dash.login_raw(&coordinator.token).await;
        if answer.status == StatusCode::TOO_MANY_REQUESTS {
            refused = Some((n, answer));
            break;
        }
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    }
    let (n, answer) = refused.expect("200 sign-ins at once are not all taken");
    assert!(n >= 10, "an ordinary burst is taken: {n}");
    assert!(!answer.header("retry-after").is_empty(), "and the wait is said");
}
