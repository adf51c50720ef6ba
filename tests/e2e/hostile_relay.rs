//! What a broken or hostile relay (or a box on a plain-HTTP path) answers does not take the
//! phone's memory or send it elsewhere: a stand-in relay on loopback answers one canned response
//! per connection, and the phone's own transport reads it.

use std::io::{Read, Write};
use std::net::TcpListener;

use doorstep_replica::http::{RelayClient, SyncBody, TransportError};

/// A relay that answers every request with `answer` (head and body as bytes), then closes.
fn stand_in(answer: &'static [u8]) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let _ = stream.write_all(answer);
        }
    });
    format!("http://{address}")
}

fn sync_through(answer: &'static [u8]) -> Result<(), TransportError> {
    let client = RelayClient::new(&stand_in(answer), Some("dst_token".into())).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(client.exchange(&SyncBody::new(vec![0xa0], false))).map(|_| ())
}

#[test]
fn an_answer_declared_longer_than_a_phone_reads_is_refused_before_it_is_read() {
    // 300 MB declared, none sent: before, the phone would have waited to buffer all of it.
    let e = sync_through(
        b"HTTP/1.1 200 OK\r\ncontent-type: application/cbor\r\ncontent-length: 300000000\r\n\r\n",
    )
    .unwrap_err();
    assert!(matches!(e, TransportError::BadResponse(_)), "{e:?}");
    assert!(e.to_string().contains("longer than the 268435456 bytes a phone reads"), "{e}");
    assert!(e.to_string().contains("your work is kept"), "{e}");
}

fn leaked(answer: String) -> &'static [u8] {
    Box::leak(answer.into_bytes().into_boxed_slice())
}

#[test]
fn a_redirect_is_not_followed_and_says_where_it_leads() {
    // Followed, a 302 turned the sync's POST into a GET (405) and a 307 to another origin
    // dropped the token (401, "join again"). On the same host (http:// to https://) the
    // address is what to change.
    for status in ["302 Found", "307 Temporary Redirect", "301 Moved Permanently"] {
        let answer = leaked(format!(
            "HTTP/1.1 {status}\r\nlocation: https://127.0.0.1/v1/sync\r\ncontent-length: 0\r\n\r\n"
        ));
        let e = sync_through(answer).unwrap_err();
        assert!(matches!(e, TransportError::Refused { .. }), "{status}: {e:?}");
        assert!(e.to_string().contains("redirects to https://127.0.0.1/v1/sync"), "{status}: {e}");
    }
}

#[test]
fn a_redirect_to_another_host_is_a_networks_sign_in_page_not_a_new_relay_address() {
    // Before: "the relay's address redirects to http://captive.example/login; set the relay
    // address to where it leads", which sent the volunteer to point the phone at the portal.
    for location in ["http://captive.example/login?from=relay", "https://192.168.1.1:8443/portal"] {
        let answer =
            leaked(format!("HTTP/1.1 302 Found\r\nlocation: {location}\r\ncontent-length: 0\r\n\r\n"));
        let e = sync_through(answer).unwrap_err();
        assert!(matches!(e, TransportError::SignInToNetwork(_)), "{location}: {e:?}");
        let shown = e.to_string();
        assert!(shown.contains("sign in to it first") && shown.contains("先登录"), "{shown}");
        assert!(shown.contains("your work is kept"), "{shown}");
        assert!(!shown.contains("set the relay address"), "{shown}");
    }
}

/// A phone that has signed in, its replica in `dir`.
fn signed_in_phone(dir: &std::path::Path) -> std::sync::Mutex<doorstep_replica::Replica> {
    let mut replica = doorstep_replica::Replica::open(dir.join("phone.sqlite")).unwrap();
    replica.set_identity("01935f3e-0000-7000-8000-000000000001".parse().unwrap()).unwrap();
    std::sync::Mutex::new(replica)
}

#[test]
fn an_answer_that_does_not_decode_did_not_come_from_the_relay_and_the_work_is_kept() {
    // Before: "malformed sync batch: Syntax(0)" or "Io(Error { kind: UnexpectedEof … })", and in
    // the bindings "internal error: a bug or corrupt data: report it".
    let page = "<html><body>Free WiFi: accept the terms</body></html>";
    let answers = [
        (
            "an empty 200",
            "HTTP/1.1 200 OK\r\ncontent-type: application/cbor\r\ncontent-length: 0\r\n\r\n".to_owned(),
        ),
        (
            "a sign-in page labelled CBOR",
            format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/cbor\r\ncontent-length: {}\r\n\r\n{page}",
                page.len()
            ),
        ),
        (
            "a sign-in page with no type",
            format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{page}", page.len()),
        ),
        (
            "garbage",
            "HTTP/1.1 200 OK\r\ncontent-type: application/cbor\r\ncontent-length: 4\r\n\r\n\u{1}\u{2}xy"
                .to_owned(),
        ),
        // The head of a real answer (a map of 9 entries), cut, with a length that agrees.
        (
            "a cut answer",
            format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/cbor\r\ncontent-length: {}\r\n\r\n\u{a9}ab",
                "\u{a9}ab".len()
            ),
        ),
    ];
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    for (what, answer) in answers {
        let dir = tempfile::tempdir().unwrap();
        let replica = signed_in_phone(dir.path());
        let client = RelayClient::new(&stand_in(leaked(answer)), Some("dst_token".into())).unwrap();
        let e = runtime
            .block_on(doorstep_replica::http::sync_with(
                &replica,
                &client,
                || doorstep_core::Timestamp::from_millis(1_790_000_000_000),
                &doorstep_replica::RetryPolicy::none(),
            ))
            .unwrap_err();
        assert!(matches!(e, TransportError::NotTheRelay(_)), "{what}: {e:?}");
        let shown = e.to_string();
        assert!(
            shown.contains("did not come from the relay") && shown.contains("不是中继发出的"),
            "{what}: {shown}"
        );
        assert!(shown.contains("your work is kept") && shown.contains("try again"), "{what}: {shown}");
    }
    // An unreadable answer to a join says the same.
    for body in ["", "<html>sign in</html>", "{\"token\":"] {
        let dir = tempfile::tempdir().unwrap();
        let replica =
            std::sync::Mutex::new(doorstep_replica::Replica::open(dir.path().join("j.sqlite")).unwrap());
        let answer = leaked(format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        ));
        let client = RelayClient::new(&stand_in(answer), None).unwrap();
        let e = runtime
            .block_on(doorstep_replica::http::join(&replica, &client, "ABCD-EFGH", "phone"))
            .unwrap_err();
        assert!(matches!(e, TransportError::NotTheRelay(_)), "join {body:?}: {e:?}");
        assert!(e.to_string().contains("did not come from the relay"), "{e}");
    }
}

#[test]
fn a_busy_or_failing_relay_says_the_work_is_kept_and_a_bounded_wait_never_its_raw_page() {
    // Before: "the relay failed (502): <html>Bad_gateway</html>", "retry in 99999999 s", and a
    // negative Retry-After taken as a wait of 1 s.
    let cases: [(&str, Option<u64>, &str); 6] = [
        ("503 Service Unavailable\r\nretry-after: 99999999", Some(3600), "in about 60 minutes"),
        ("429 Too Many Requests\r\nretry-after: 99999999", Some(3600), "in about 60 minutes"),
        ("503 Service Unavailable\r\nretry-after: 20", Some(20), "in about 20 s"),
        ("503 Service Unavailable\r\nretry-after: 150", Some(150), "in about 3 minutes"),
        ("503 Service Unavailable\r\nretry-after: -5", None, "later"),
        ("429 Too Many Requests\r\nretry-after: soon", None, "later"),
    ];
    for (head, wait, said) in cases {
        let body = "<html>Bad_gateway</html>";
        let answer = leaked(format!("HTTP/1.1 {head}\r\ncontent-length: {}\r\n\r\n{body}", body.len()));
        let e = sync_through(answer).unwrap_err();
        let asked = match &e {
            TransportError::Server { retry_after_secs, .. }
            | TransportError::RateLimited { retry_after_secs } => *retry_after_secs,
            other => panic!("{head}: {other:?}"),
        };
        assert_eq!(asked, wait, "{head}");
        let shown = e.to_string();
        assert!(shown.contains(said), "{head}: {shown}");
        assert!(
            shown.contains("your work is kept") && shown.contains("工作已保存在手机上"),
            "{head}: {shown}"
        );
        assert!(!shown.contains('<') && !shown.contains("99999999"), "{head}: {shown}");
    }
    // The relay's own reason, in words, is still said.
    let body = r#"{"error":"relay_fault","reason":"storage is busy"}"#;
    let answer =
        leaked(format!("HTTP/1.1 500 Internal Server Error\r\ncontent-length: {}\r\n\r\n{body}", body.len()));
    let shown = sync_through(answer).unwrap_err().to_string();
    assert!(shown.contains("(500: storage is busy)") && shown.contains("sync again later"), "{shown}");
}

#[test]
fn a_wifi_sign_in_page_is_named_as_one_not_as_a_malformed_answer() {
    // Before: "malformed sync batch: Syntax(0)", and in the bindings "a bug: report it".
    let e = sync_through(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: 52\r\n\r\n<html><body>Free WiFi: accept the terms</body></html>",
    )
    .unwrap_err();
    assert!(matches!(e, TransportError::BadResponse(_)), "{e:?}");
    assert!(e.to_string().contains("a web page, not the relay's"), "{e}");
    assert!(e.to_string().contains("your work is kept"), "{e}");
}

#[test]
fn a_relay_that_says_it_holds_more_of_a_request_than_it_is_long_is_not_believed() {
    use doorstep_replica::request_in_pieces::RequestInPieces;
    // Before: "the relay keeps its first 99999999999 bytes" of a 4 KB request.
    let client = RelayClient::new(
        &stand_in(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 34\r\n\r\n{\"held\":99999999999,\"taken\":false}"),
        Some("dst_token".into()),
    )
    .unwrap();
    let request = RequestInPieces::new(vec![7; 4096], false, None, Vec::new());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let e = runtime.block_on(client.pieces_held(&request)).unwrap_err();
    assert!(matches!(e, TransportError::BadResponse(_)), "{e:?}");
    assert!(e.to_string().contains("holds 99999999999 bytes of a request of 4096"), "{e}");
}

#[test]
fn a_join_answered_for_another_request_does_not_sign_the_phone_in() {
    // Another phone's join answer, replayed by a box on the path: it names that phone's request.
    let body = r#"{"token":"dst_someone_else","person":"01935f3e-0000-7000-8000-000000000009","device":"d","compounds":[]}"#;
    let answer = leaked(format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-doorstep-answer-to: 0123456789abcdef\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    ));
    let client = RelayClient::new(&stand_in(answer), None).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let e = runtime.block_on(client.join("ABCD-EFGH", "phone", Some("李强"), None)).unwrap_err();
    assert!(
        matches!(e, TransportError::NotTheRelay(ref detail) if detail.contains("not to this one")),
        "{e:?}"
    );
}
