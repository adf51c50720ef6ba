//! What a Kotlin or Swift caller is told when something on the way answers instead of the relay
//! (a Wi-Fi sign-in page, a cut or empty body, a captive portal's redirect, a box asking to wait
//! for years): a network problem, said in both languages, with the work kept, never "internal
//! error: report it". A stand-in relay on loopback answers one canned response per connection;
//! the bindings' own `Replica` joins and syncs through it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;

use doorstep_ffi::{DoorstepError, Replica};
use support::Keys;

/// A relay that answers every request with `answer` (head and body), then closes.
fn stand_in(answer: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut request = [0u8; 8192];
            let _ = stream.read(&mut request);
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    format!("http://{address}")
}

fn phone(dir: &tempfile::TempDir, answer: String) -> Arc<Replica> {
    let path = dir.path().join("phone.sqlite").display().to_string();
    Replica::open(path, stand_in(answer), Some("dst_token".into()), Arc::new(Keys), None).unwrap()
}

// One test: two at once would race to build the library's runtime inside a tokio context, where
// the loser's runtime may not be dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_not_from_the_relay_are_network_problems_that_keep_the_work() {
    unreadable_answers().await;
    a_captive_portal_and_a_relay_asking_for_years().await;
}

async fn unreadable_answers() {
    let page = "<html><body>Free WiFi: accept the terms</body></html>";
    let answers = [
        "HTTP/1.1 200 OK\r\ncontent-type: application/cbor\r\ncontent-length: 0\r\n\r\n".to_owned(),
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/cbor\r\ncontent-length: {}\r\n\r\n{page}",
            page.len()
        ),
        format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{page}", page.len()),
    ];
    for answer in answers {
        let dir = tempfile::tempdir().unwrap();
        let e = phone(&dir, answer.clone()).sync().await.unwrap_err();
        match e {
            DoorstepError::Network { reason, retry_after_secs: None } => {
                assert!(reason.contains("did not come from the relay"), "{reason}");
                assert!(
                    reason.contains("不是中继发出的") && reason.contains("your work is kept"),
                    "{reason}"
                );
            }
            other => panic!("{answer:?} became {other:?}"),
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let garbage = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 9\r\n\r\n{\"token\":"
        .to_owned();
    let e = phone(&dir, garbage).join("ABCD-EFGH".into(), "phone".into()).await.unwrap_err();
    assert!(
        matches!(&e, DoorstepError::Network { reason, .. } if reason.contains("did not come from the relay")),
        "{e:?}"
    );
}

async fn a_captive_portal_and_a_relay_asking_for_years() {
    let dir = tempfile::tempdir().unwrap();
    let portal = "HTTP/1.1 302 Found\r\nlocation: http://captive.example/login\r\ncontent-length: 0\r\n\r\n"
        .to_owned();
    let e = phone(&dir, portal).sync().await.unwrap_err();
    assert!(
        matches!(&e, DoorstepError::Network { reason, .. }
            if reason.contains("sign in to it first") && !reason.contains("set the relay address")),
        "{e:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    let body = "<html>Bad_gateway</html>";
    let busy = format!(
        "HTTP/1.1 503 Service Unavailable\r\nretry-after: 99999999\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    match phone(&dir, busy).sync().await.unwrap_err() {
        DoorstepError::Network { reason, retry_after_secs } => {
            assert_eq!(retry_after_secs, Some(3600), "a wait of years is taken as an hour");
            assert!(
                reason.contains("in about 60 minutes") && reason.contains("your work is kept"),
                "{reason}"
            );
            assert!(!reason.contains("<html>") && !reason.contains("99999999"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}
