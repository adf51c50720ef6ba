//! Bad bytes get a specific 4xx with a reason, and the relay keeps serving.

use doorstep_core::id::DocumentId;
use doorstep_core::schema::vocabulary::DocKind;
use doorstep_core::sync::{DocMessage, SyncRequest, WIRE_VERSION};
use doorstep_server::{Config, Limits};
use reqwest::StatusCode;
use serde_json::Value;

use crate::harness::{Fixture, JsonResponse, TestRelay};

async fn expect(
    relay: &TestRelay,
    token: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
    status: StatusCode,
    error: &str,
) -> Value {
    let res = relay.sync_raw(Some(token), content_type, body).await;
    assert_eq!(res.status(), status);
    let body = res.json_value().await.unwrap();
    assert_eq!(body["error"], error, "{body}");
    assert!(body["reason"].as_str().is_some_and(|r| r.len() > 10), "a reason a person can act on: {body}");
    body
}

fn random_doc() -> DocumentId {
    DocumentId::from_uuid(uuid::Uuid::from_u128(rand::random::<u128>()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_specific_errors_and_the_relay_keeps_serving() {
    let mut fx = Fixture::new().await;
    let relay = &fx.relay;
    let token = fx.volunteers[0].token.clone();
    let cbor = Some("application/cbor");
    let valid = fx.volunteers[0].message_for(fx.volunteers[0].doc_of(DocKind::Roster)).encode();

    let truncated = valid[..valid.len() / 2].to_vec();
    expect(relay, &token, cbor, truncated, StatusCode::BAD_REQUEST, "malformed").await;
    let random: Vec<u8> = (0..512).map(|_| rand::random::<u8>()).collect();
    expect(relay, &token, cbor, random, StatusCode::BAD_REQUEST, "malformed").await;
    expect(relay, &token, cbor, Vec::new(), StatusCode::BAD_REQUEST, "malformed").await;
    let body = expect(
        relay,
        &token,
        Some("application/json"),
        valid.clone(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    assert!(body["reason"].as_str().unwrap().contains("application/cbor"));
    expect(relay, &token, None, valid.clone(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
        .await;
    let future = SyncRequest { version: WIRE_VERSION + 1, documents_digest: None, messages: vec![] }.encode();
    expect(relay, &token, cbor, future, StatusCode::BAD_REQUEST, "wire_version").await;
    // The compact form (an array): a document ID that is not 16 bytes, a head that is not 32, a
    // compact version the relay does not know, a truncated one, heads out of Automerge's order
    // (which its encoder asserts in debug builds); each a 400 saying what is wrong.
    // CBOR by hand: [version, null, [[id, [head, …]]]], byte strings shorter than 256 bytes.
    let compact = |id: Vec<u8>, heads: Vec<Vec<u8>>, version: u8| {
        let byte_string = |bytes: Vec<u8>| {
            let mut out = vec![0x58, u8::try_from(bytes.len()).unwrap()];
            out.extend(bytes);
            out
        };
        let mut out = vec![0x83, version, 0xf6, 0x81, 0x82];
        out.extend(byte_string(id));
        out.push(0x80 | u8::try_from(heads.len()).unwrap());
        for head in heads {
            out.extend(byte_string(head));
        }
        out
    };
    for (body, says) in [
        (compact(vec![1; 5], vec![vec![2; 32]], 2), "16 bytes, not 5"),
        (compact(vec![1; 16], vec![vec![2; 31]], 2), "32 bytes, not 31"),
        (compact(vec![1; 16], vec![vec![2; 32]], 9), "starts with 2, not 9"),
        (compact(vec![1; 16], vec![vec![2; 32]], 2)[..20].to_vec(), "not a sync request"),
        (compact(vec![1; 16], vec![vec![0xff; 32], vec![0; 32]], 2), "ascending order"),
        (compact(vec![1; 16], vec![vec![2; 32], vec![2; 32]], 2), "each once"),
    ] {
        let answer = expect(relay, &token, cbor, body, StatusCode::BAD_REQUEST, "malformed").await;
        assert!(answer["reason"].as_str().unwrap().contains(says), "{says}: {answer}");
    }

    // The relay answers 413 before it has read the whole body and then closes the connection;
    // a client still writing may see that as a reset instead of the answer, so either is
    // accepted here, and the 413 is counted in the metrics below either way.
    let oversized = vec![0u8; 9 * 1024 * 1024];
    // On a client of its own: the relay closes that connection, and a pooled client could pick
    // the closing connection for the next request and see it cut.
    let mut req = reqwest::Client::new().post(format!("{}/v1/sync", relay.url)).body(oversized);
    req = req.bearer_auth(&token).header("content-type", "application/cbor");
    if let Ok(res) = req.send().await {
        assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
        if let Ok(body) = res.json_value().await {
            assert_eq!(body["error"], "too_large", "{body}");
        }
    }

    let many = SyncRequest {
        version: WIRE_VERSION,
        documents_digest: None,
        messages: (0..=Limits::default().max_docs_per_request)
            .map(|_| DocMessage { doc: random_doc(), message: vec![0x42] })
            .collect(),
    };
    let body = expect(relay, &token, cbor, many.encode(), StatusCode::PAYLOAD_TOO_LARGE, "too_large").await;
    assert!(body["reason"].as_str().unwrap().contains("at most 256"), "{body}");
    let doc = random_doc();
    let twice = SyncRequest {
        version: WIRE_VERSION,
        documents_digest: None,
        messages: vec![DocMessage { doc, message: vec![0x42] }, DocMessage { doc, message: vec![0x42] }],
    };
    expect(relay, &token, cbor, twice.encode(), StatusCode::BAD_REQUEST, "invalid").await;

    // Per-document problems are rejections in a 200, and the other documents still sync.
    let roster = fx.volunteers[0].doc_of(DocKind::Roster).id();
    let mut mixed = fx.volunteers[0].message_for(fx.volunteers[0].doc_of(DocKind::Requests));
    mixed.messages.push(DocMessage { doc: random_doc(), message: valid[..8].to_vec() });
    mixed.messages.push(DocMessage { doc: roster, message: b"not a sync message".to_vec() });
    let response = relay.sync(&token, &mixed).await;
    let rules: Vec<&str> = response.rejected.iter().map(|r| r.rule.as_str()).collect();
    assert_eq!(rules, ["not_held", "malformed"], "{:?}", response.rejected);
    assert_eq!(response.messages.len(), 1, "the requests document was answered");
    assert_eq!(response.documents.map(|d| d.len()), Some(3));

    // Still serving, and still in sync.
    let synced = fx.volunteers[0].sync(&fx.relay).await;
    assert!(synced.rejected.is_empty(), "{:?}", synced.rejected);
    let health = fx.relay.http.get(format!("{}/healthz", fx.relay.url)).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let metrics = fx.relay.metrics().await;
    for line in [
        "doorstep_http_requests_total{route=\"/v1/sync\",status=\"400\"} 11",
        "doorstep_http_requests_total{route=\"/v1/sync\",status=\"413\"} 2",
        "doorstep_http_requests_total{route=\"/v1/sync\",status=\"415\"} 2",
        "doorstep_sync_rejections_total{rule=\"not_held\"} 1",
        "doorstep_sync_rejections_total{rule=\"malformed\"} 1",
    ] {
        assert!(metrics.contains(line), "missing {line} in\n{metrics}");
    }

    // A writer header that names no actor is refused by name, before anything is taken.
    let request = fx.volunteers[0].message_for(fx.volunteers[0].doc_of(DocKind::Requests));
    for junk in ["not hex", "ab", "0123456789abcdef0123456789abcdef,,"] {
        let refused = relay
            .http
            .post(format!("{}/v1/sync", relay.url))
            .bearer_auth(&token)
            .header("content-type", "application/cbor")
            .header(doorstep_core::sync::writer_header::WRITER_HEADER, junk)
            .body(request.encode())
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{junk:?}");
        let reason = refused.text().await.unwrap();
        assert!(
            reason.contains("x-doorstep-writer") && reason.contains("32 hex digits"),
            "{junk:?}: {reason}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_over_its_rate_gets_429_with_retry_after() {
    let config = Config {
        limits: Limits { rate_per_second: 0.5, rate_burst: 3.0, ..Limits::default() },
        ..Config::default()
    };
    let relay = TestRelay::start_with(config).await;
    let empty = SyncRequest { version: WIRE_VERSION, documents_digest: None, messages: vec![] }.encode();
    for _ in 0..3 {
        let res = relay.sync_raw(Some(&relay.admin_token), Some("application/cbor"), empty.clone()).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    let res = relay.sync_raw(Some(&relay.admin_token), Some("application/cbor"), empty.clone()).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    let body = res.json_value().await.unwrap();
    assert_eq!(body["error"], "rate_limited");
    // Unauthenticated health checks are not limited.
    let health = relay.http.get(format!("{}/healthz", relay.url)).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutated_sync_messages_never_break_the_relay() {
    let limits = Limits { rate_per_second: 1000.0, rate_burst: 1000.0, ..Limits::default() };
    let mut fx = Fixture::with_config(Config { limits, ..Config::default() }).await;
    let token = fx.volunteers[0].token.clone();
    let household = fx.volunteers[0].compound().households()[0].id;
    fx.volunteers[0]
        .apply(&doorstep_core::Operation::EditNotes {
            household, notes: "三楼东户，敲门要大声".into()
        })
        .unwrap();
    let roster = fx.volunteers[0].doc_of(DocKind::Roster).clone();
    let valid = fx.volunteers[0].message_for(&roster);
    let original = valid.messages[0].message.clone();
    for round in 0..60 {
        let mut bytes = original.clone();
        match round % 3 {
            0 => bytes.truncate(usize::try_from(rand::random::<u32>()).unwrap() % bytes.len()),
            1 => {
                for _ in 0..3 {
                    let at = usize::try_from(rand::random::<u32>()).unwrap() % bytes.len();
                    bytes[at] ^= 1 << (rand::random::<u32>() % 8);
                }
            }
            _ => bytes.extend((0..64).map(|_| rand::random::<u8>())),
        }
        let request = SyncRequest {
            version: WIRE_VERSION,
            documents_digest: None,
            messages: vec![DocMessage { doc: roster.id(), message: bytes }],
        };
        let res = fx.relay.sync_raw(Some(&token), Some("application/cbor"), request.encode()).await;
        assert_eq!(
            res.status(),
            StatusCode::OK,
            "round {round}: per-document problems are rejections, not errors"
        );
    }
    // The relay still serves, and the phone's real change still goes through.
    let synced = fx.volunteers[0].sync(&fx.relay).await;
    assert!(synced.rejected.is_empty(), "{:?}", synced.rejected);
    fx.coordinator.sync(&fx.relay).await;
    let notes = fx.coordinator.compound().households().into_iter().find(|h| h.id == household).unwrap().notes;
    assert_eq!(notes, "三楼东户，敲门要大声");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asking_for_the_whole_document_in_a_loop_is_refused_for_that_document_only_and_transiently() {
    let mut fx = Fixture::new().await;
    let token = fx.volunteers[0].token.clone();
    let roster = fx.volunteers[0].doc_of(DocKind::Roster).id();
    let requests = fx.volunteers[0].doc_of(DocKind::Requests).id();
    // The message of a phone that holds nothing: no heads, nothing to compare, "send me all".
    let empty = doorstep_core::sync::generate(
        &automerge::Automerge::new(),
        &mut doorstep_core::sync::PeerState::new(),
    )
    .expect("a first message");
    let everything = SyncRequest {
        version: WIRE_VERSION,
        documents_digest: None,
        messages: vec![DocMessage { doc: roster, message: empty.clone() }],
    };
    // The phone's own first sync in the fixture fetched the roster whole once already.
    for _ in 1..doorstep_server::refetch_guard::FULL_FETCHES {
        let response = fx.relay.sync(&token, &everything).await;
        assert_eq!(response.messages.len(), 1, "a phone that lost its copy gets the document");
    }
    // One more whole fetch of the roster, alongside a normal message for another document: the
    // roster alone is refused, transiently, and the other document is answered.
    let mut state = doorstep_core::sync::PeerState::new();
    let other =
        doorstep_core::sync::generate(fx.volunteers[0].doc_of(DocKind::Requests).automerge(), &mut state)
            .expect("a message for the requests document");
    let both = SyncRequest {
        version: WIRE_VERSION,
        documents_digest: None,
        messages: vec![
            DocMessage { doc: roster, message: empty },
            DocMessage { doc: requests, message: other },
        ],
    };
    let response = fx.relay.sync(&token, &both).await;
    assert_eq!(response.rejected.len(), 1, "{:?}", response.rejected);
    let refused = &response.rejected[0];
    assert_eq!((refused.doc, refused.rule.as_str()), (roster, "refetch_loop"));
    assert!(refused.reason.contains(&roster.to_string()), "{}", refused.reason);
    assert!(refused.is_transient(), "the phone retries later and sets nothing aside");
    assert!(response.messages.iter().all(|m| m.doc != roster), "nothing of the roster is sent");
    assert!(response.messages.iter().any(|m| m.doc == requests), "the other document is served");

    // The same device's normal sync of its other documents, and other devices, go on.
    let other = fx.volunteers[1].sync(&fx.relay).await;
    assert!(other.rejected.is_empty(), "{:?}", other.rejected);
    let coordinator = fx.coordinator.sync(&fx.relay).await;
    assert!(coordinator.rejected.is_empty());
}

/// The routes that take JSON or an upload answer in the relay's format what they cannot read: a
/// body the link cut (408 `body_cut`, which phones retry, as a sync's: was 400 `malformed`), a
/// body in a `Content-Encoding` only a sync reads (415 naming it: was read as the body itself,
/// or said to be neither UTF-8 nor GB18030), and a method the route does not take (405 with a
/// reason: was an empty body).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_routes_refuse_a_cut_body_an_encoded_body_and_a_wrong_method_in_the_relay_format() {
    let fx = Fixture::new().await;
    let host = fx.relay.url.trim_start_matches("http://").to_owned();
    let cut = crate::request_pieces::cut_off(
        &fx.relay.url,
        &format!("POST /v1/join HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\ncontent-length: 400\r\n\r\n"),
        40,
    )
    .await;
    assert!(cut.starts_with("HTTP/1.1 408"), "{cut}");
    assert!(cut.contains("body_cut"), "{cut}");

    let client = reqwest::Client::new();
    let admin = &fx.relay.admin_token;
    for (path, content_type, body) in [
        ("/v1/join", "application/json", br#"{"invite_code":"x","device_name":"y"}"#.to_vec()),
        ("/v1/set-aside", "application/json", br#"{"items":[],"awaiting":[]}"#.to_vec()),
        (
            &*format!("/v1/compounds/{}/roster", fx.compound),
            "text/csv",
            "楼号,房号,户主\n1,101,甲\n".as_bytes().to_vec(),
        ),
    ] {
        for coding in ["gzip", "br", "x-bogus"] {
            let res = client
                .post(format!("{}{path}", fx.relay.url))
                .bearer_auth(admin)
                .header("content-type", content_type)
                .header("content-encoding", coding)
                .body(body.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "{path} {coding}");
            let answer = res.json_value().await.unwrap();
            assert_eq!(answer["error"], "unsupported_media_type", "{answer}");
            assert!(answer["reason"].as_str().unwrap().contains(coding), "{answer}");
        }
    }

    for (method, path) in [("PUT", "/v1/sync"), ("DELETE", "/v1/join"), ("POST", "/healthz")] {
        let res = client
            .request(method.parse().unwrap(), format!("{}{path}", fx.relay.url))
            .bearer_auth(admin)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        let answer = res.json_value().await.unwrap();
        assert_eq!(answer["error"], "method_not_allowed", "{answer}");
        assert!(answer["reason"].as_str().unwrap().contains(method), "{answer}");
    }
    assert_eq!(
        client.get(format!("{}/healthz", fx.relay.url)).send().await.unwrap().status(),
        StatusCode::OK
    );
}

/// A database file moved away under the running relay: every write since goes to a file nobody
/// opens again, so `/healthz` says so (it said ok, and those writes were gone at restart).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_fails_once_the_database_file_is_taken_from_under_the_relay() {
    let relay = TestRelay::start().await;
    let health = relay.http.get(format!("{}/healthz", relay.url)).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let db = relay.dir.path().join("relay.db");
    std::fs::rename(&db, relay.dir.path().join("elsewhere.db")).unwrap();
    let health = relay.http.get(format!("{}/healthz", relay.url)).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);
    let text = health.text().await.unwrap();
    assert!(text.contains("taken from under the relay") && text.contains("moved or deleted"), "{text}");
}
