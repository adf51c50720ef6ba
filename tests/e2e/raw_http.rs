//! Just enough HTTP/1.1 over a `TcpStream` to sign in to the dashboard and follow its live
//! stream, so the end-to-end tests need no HTTP client library.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// A response: status, headers (lower-case names) and body.
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    /// The `name=value` part of the session cookie the response sets.
    pub fn session_cookie(&self) -> Option<String> {
        self.headers
            .iter()
            .filter(|(n, _)| n == "set-cookie")
            .filter_map(|(_, v)| v.split(';').next())
            .find(|pair| pair.starts_with("doorstep_session=") && pair.len() > "doorstep_session=".len())
            .map(str::to_owned)
    }
}

fn connect(base: &str) -> (TcpStream, String) {
    let host = base.trim_start_matches("http://").to_owned();
    let stream = TcpStream::connect(&host).expect("connect to the relay");
    stream.set_read_timeout(Some(Duration::from_secs(30))).expect("read timeout");
    (stream, host)
}

/// Sends one request and reads the whole response (`Connection: close`).
pub fn request(base: &str, method: &str, path: &str, cookie: Option<&str>, json: Option<&str>) -> Response {
    let body = json.map(|json| ("application/json", json.as_bytes()));
    send(base, method, path, cookie.map(|c| format!("Cookie: {c}")).as_deref(), body)
}

/// [`request`] with a device token (`Authorization: Bearer`) instead of a cookie.
pub fn request_as(base: &str, method: &str, path: &str, token: &str, json: Option<&str>) -> Response {
    let body = json.map(|json| ("application/json", json.as_bytes()));
    send(base, method, path, Some(&format!("Authorization: Bearer {token}")), body)
}

/// `POST path` with a session cookie and a body of `content_type` (an uploaded file).
pub fn post_file(base: &str, path: &str, cookie: &str, content_type: &str, body: &[u8]) -> Response {
    send(base, "POST", path, Some(&format!("Cookie: {cookie}")), Some((content_type, body)))
}

fn send(
    base: &str,
    method: &str,
    path: &str,
    credential: Option<&str>,
    body: Option<(&str, &[u8])>,
) -> Response {
    let (mut stream, host) = connect(base);
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    if let Some(credential) = credential {
        head.push_str(&format!("{credential}\r\n"));
    }
    if let Some((content_type, body)) = body {
        head.push_str(&format!("Content-Type: {content_type}\r\nContent-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("send request");
    stream.write_all(body.map_or(&[][..], |(_, body)| body)).expect("send body");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read response");
    parse(&String::from_utf8_lossy(&raw))
}

fn parse(raw: &str) -> Response {
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Response { status, headers, body: body.to_owned() }
}

/// An open server-sent events stream.
pub struct EventStream {
    stream: TcpStream,
    seen: String,
}

impl EventStream {
    /// Opens `GET path` as a stream; panics unless the relay answers 200.
    pub fn open(base: &str, path: &str, cookie: &str) -> EventStream {
        let (mut stream, host) = connect(base);
        let head = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\nAccept: text/event-stream\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).expect("send request");
        stream.set_read_timeout(Some(Duration::from_millis(200))).expect("read timeout");
        let mut events = EventStream { stream, seen: String::new() };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !events.seen.contains("\r\n\r\n") {
            assert!(Instant::now() < deadline, "no response head: {:?}", events.seen);
            events.read_some();
        }
        assert!(events.seen.starts_with("HTTP/1.1 200"), "the stream was refused: {}", events.seen);
        events
    }

    fn read_some(&mut self) {
        let mut buf = [0u8; 4096];
        match self.stream.read(&mut buf) {
            Ok(0) => panic!("the stream closed: {}", self.seen),
            Ok(n) => self.seen.push_str(&String::from_utf8_lossy(&buf[..n])),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(e) => panic!("reading the stream failed: {e}"),
        }
    }

    /// Reads and forgets whatever arrives within `time`.
    pub fn drain(&mut self, time: Duration) {
        let start = Instant::now();
        while start.elapsed() < time {
            self.read_some();
        }
        self.seen.clear();
    }

    /// Waits until the stream has carried `needle` (after what earlier waits consumed), up to
    /// `limit`; returns how long it took, or `None` if it did not come.
    pub fn wait_for(&mut self, needle: &str, limit: Duration) -> Option<Duration> {
        let start = Instant::now();
        loop {
            if let Some(at) = self.seen.find(needle) {
                self.seen.drain(..at + needle.len());
                return Some(start.elapsed());
            }
            if start.elapsed() > limit {
                return None;
            }
            self.read_some();
        }
    }
}
