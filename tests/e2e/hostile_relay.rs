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

#[test]
fn a_redirect_is_not_followed_and_says_where_it_leads() {
    // Followed, a 302 turned the sync's POST into a GET (405) and a 307 to another origin
    // dropped the token (401, "join again").
    for status in ["302 Found", "307 Temporary Redirect"] {
        let answer: &'static [u8] = Box::leak(
            format!(
                "HTTP/1.1 {status}\r\nlocation: https://relay.example/v1/sync\r\ncontent-length: 0\r\n\r\n"
            )
            .into_bytes()
            .into_boxed_slice(),
        );
        let e = sync_through(answer).unwrap_err();
        assert!(matches!(e, TransportError::Refused { .. }), "{status}: {e:?}");
        assert!(e.to_string().contains("redirects to https://relay.example/v1/sync"), "{status}: {e}");
    }
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
