//! Connections over real loopback sockets: a slowloris client is closed after the header-read
//! timeout, an idle connection after the idle timeout, and a flood of idle sockets (from one
//! address or many) can neither exceed the caps nor keep `/healthz` or an authenticated user out.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use doorstep_server::Config;
use doorstep_server::config::Connections;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::harness::TestRelay;

fn addr_of(relay: &TestRelay) -> SocketAddr {
    relay.url.trim_start_matches("http://").parse().unwrap()
}

/// A relay with these connection settings and the rest as default.
async fn relay_with(connections: Connections) -> TestRelay {
    TestRelay::start_with(Config { connections, ..Config::default() }).await
}

/// A relay with these header-read and idle timeouts and the rest as default.
async fn relay_with_timeouts(header_read_timeout: Duration, idle_timeout: Duration) -> TestRelay {
    relay_with(Connections { header_read_timeout, idle_timeout, ..Connections::default() }).await
}

/// A TCP connection to the relay from the loopback address `from` (any of 127.0.0.0/8).
pub async fn connect_from(relay: &TestRelay, from: [u8; 4]) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(IpAddr::from(from), 0)).unwrap();
    socket.connect(addr_of(relay)).await.unwrap()
}

/// Sends one request on `stream` and reads its response; returns the status, or `None` if the
/// connection was closed instead.
pub async fn request(stream: &mut TcpStream, path: &str, token: Option<&str>) -> Option<u16> {
    let auth = token.map(|t| format!("authorization: Bearer {t}\r\n")).unwrap_or_default();
    let head = format!("GET {path} HTTP/1.1\r\nhost: relay\r\n{auth}\r\n");
    stream.write_all(head.as_bytes()).await.ok()?;
    read_response(stream).await
}

/// Reads one response (head and a `content-length` body).
pub async fn read_response(stream: &mut TcpStream) -> Option<u16> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = tokio::time::timeout(Duration::from_secs(20), stream.read(&mut chunk)).await.ok()?.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(status)
}

/// Whether the relay closed `stream`: a read gives end-of-file or a reset within `wait`.
pub async fn closed_within(stream: &mut TcpStream, wait: Duration) -> bool {
    let mut byte = [0u8; 1];
    matches!(tokio::time::timeout(wait, stream.read(&mut byte)).await, Ok(Ok(0) | Err(_)))
}

/// Starts a request and sends its header lines one every 200 ms, up to `lines`; returns how many
/// went before the relay closed the connection, or `None` if it never did.
async fn dribble_headers(stream: &mut TcpStream, lines: usize) -> Option<usize> {
    stream.write_all(b"GET /healthz HTTP/1.1\r\nhost: relay\r\n").await.ok()?;
    for i in 0..lines {
        if stream.write_all(format!("x-slow-{i}: a\r\n").as_bytes()).await.is_err()
            || closed_within(stream, Duration::from_millis(200)).await
        {
            return Some(i);
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slowloris_client_is_closed_after_the_header_timeout() {
    let relay = relay_with_timeouts(Duration::from_millis(800), Duration::from_secs(60)).await;
    let mut slow = connect_from(&relay, [127, 0, 0, 1]).await;
    // A header line every 200 ms, for up to 10 s: far past the timeout.
    let sent = dribble_headers(&mut slow, 50).await;
    assert!(sent.is_some(), "the relay still waits for headers after 50 dribbled lines");
    // Meanwhile, and afterwards, the relay answers others.
    let mut other = connect_from(&relay, [127, 0, 0, 1]).await;
    assert_eq!(request(&mut other, "/healthz", None).await, Some(200));
}

/// The header timeout counts from a request's first byte, not from the previous answer: on a
/// landing's link a phone is still receiving a long answer well after the relay wrote it into
/// the socket, and its next request on the same connection must find it open. Between
/// requests, only the idle timeout applies; a second request dribbled slowly is still closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_alive_connection_waits_past_the_header_timeout_for_its_next_request() {
    let relay = relay_with_timeouts(Duration::from_millis(800), Duration::from_secs(60)).await;
    let mut phone = connect_from(&relay, [127, 0, 0, 1]).await;
    assert_eq!(request(&mut phone, "/healthz", None).await, Some(200));
    // The answer "still crossing the link": twice the header timeout without a byte.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert_eq!(request(&mut phone, "/healthz", None).await, Some(200), "the connection was kept");

    // A slowloris on the same kind of connection: its second request's head never completes.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let sent = dribble_headers(&mut phone, 25).await;
    assert!(sent.is_some(), "a head dribbled for 5 s past an 800 ms timeout is closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_is_closed_and_a_busy_one_is_kept() {
    let relay = relay_with_timeouts(Duration::from_secs(60), Duration::from_millis(700)).await;
    let mut idle = connect_from(&relay, [127, 0, 0, 1]).await;
    assert_eq!(request(&mut idle, "/healthz", None).await, Some(200));
    assert!(
        closed_within(&mut idle, Duration::from_secs(15)).await,
        "an idle keep-alive connection stays open"
    );

    // Never sending a byte is idle too.
    let mut silent = connect_from(&relay, [127, 0, 0, 1]).await;
    assert!(closed_within(&mut silent, Duration::from_secs(15)).await, "a silent connection stays open");

    // A connection that keeps making requests is not idle, however long it lives.
    let mut busy = connect_from(&relay, [127, 0, 0, 1]).await;
    for _ in 0..8 {
        assert_eq!(request(&mut busy, "/healthz", None).await, Some(200));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// An answer still crossing a slow link is not idleness. The relay writes a whole answer into
/// the socket's buffer at once; on a landing's 64 kbit/s the phone is still receiving it long
/// after, and its next request comes on the same connection. Counted from the last write, the
/// idle timeout closed that connection under the phone. A reader that stops reading altogether
/// is still closed after the idle timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_whose_answer_is_still_draining_to_a_slow_reader_is_not_idle() {
    let relay = relay_with_timeouts(Duration::from_secs(60), Duration::from_secs(1)).await;
    // A small receive buffer, so that the answer waits in the relay's socket, as it does on a
    // slow link, and not in ours. (Loopback opens the window a half buffer at a time, every
    // quarter second at the rate read here: the steps the relay sees the answer drain by.)
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut phone = socket.connect(addr_of(&relay)).await.unwrap();
    let path = "/dashboard/assets/i18n.js";
    let head = format!("GET {path} HTTP/1.1\r\nhost: relay\r\naccept-encoding: identity\r\n\r\n");
    phone.write_all(head.as_bytes()).await.unwrap();
    // Read it at 16 KiB a second: a 29 KB file takes almost two seconds, past the idle timeout.
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    let mut chunk = [0u8; 1024];
    let complete = |answer: &[u8]| {
        let end = answer.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
        let head = String::from_utf8_lossy(&answer[..end]).to_lowercase();
        let length: usize =
            head.lines().find_map(|l| l.strip_prefix("content-length:"))?.trim().parse().ok()?;
        (answer.len() >= end + length).then_some(length)
    };
    let length = loop {
        if let Some(length) = complete(&answer) {
            break length;
        }
        let n = phone.read(&mut chunk).await.unwrap();
        assert!(n > 0, "the relay closed the connection {:?} into its answer", started.elapsed());
        answer.extend_from_slice(&chunk[..n]);
        tokio::time::sleep(Duration::from_millis(62)).await;
    };
    assert!(length > 20_000, "a long enough answer: {length} B");
    assert!(started.elapsed() > Duration::from_millis(1500), "{:?}", started.elapsed());
    // The next request on the same connection is answered.
    assert_eq!(request(&mut phone, "/healthz", None).await, Some(200), "the connection was kept");

    // A reader that stops: closed once nothing has drained for the idle timeout.
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stopped = socket.connect(addr_of(&relay)).await.unwrap();
    stopped.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut drained = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), stopped.read_to_end(&mut drained)).await;
    assert!(closed.is_ok(), "a reader that stopped is closed after the idle timeout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_connections_from_one_address_are_capped_and_healthz_still_answers() {
    let relay = relay_with(Connections {
        max_per_address: 8,
        header_read_timeout: Duration::from_secs(60),
        idle_timeout: Duration::from_secs(60),
        ..Connections::default()
    })
    .await;
    let mut flood = Vec::new();
    for _ in 0..40 {
        flood.push(connect_from(&relay, [127, 0, 0, 2]).await);
    }
    // Another address is not affected at all.
    let mut other = connect_from(&relay, [127, 0, 0, 3]).await;
    assert_eq!(request(&mut other, "/healthz", None).await, Some(200));
    // The same address still gets in: its oldest idle connections made room.
    let mut same = connect_from(&relay, [127, 0, 0, 2]).await;
    assert_eq!(request(&mut same, "/healthz", None).await, Some(200));
    let mut still_open = 0;
    for stream in &mut flood {
        if !closed_within(stream, Duration::from_millis(50)).await {
            still_open += 1;
        }
    }
    assert!(still_open <= 8, "{still_open} of the flood's 40 connections are still open; the cap is 8");

    // The relay's own host (127.0.0.1: its operator, a same-host proxy) is not capped per address.
    let mut local = Vec::new();
    for _ in 0..20 {
        local.push(connect_from(&relay, [127, 0, 0, 1]).await);
    }
    for stream in &mut local {
        assert_eq!(request(stream, "/healthz", None).await, Some(200));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_relay_keeps_its_authenticated_users_and_answers_healthz() {
    // 24 slots, flooded by 200 idle sockets from 50 addresses: the relay's descriptors stay
    // bounded, an authenticated connection survives the flood, and newcomers still get in.
    let relay = relay_with(Connections {
        max_connections: 24,
        max_per_address: 8,
        header_read_timeout: Duration::from_secs(60),
        idle_timeout: Duration::from_secs(60),
        ..Connections::default()
    })
    .await;
    let mut member = connect_from(&relay, [127, 0, 0, 9]).await;
    assert_eq!(request(&mut member, "/v1/me", Some(&relay.admin_token)).await, Some(200));
    let mut stranger = connect_from(&relay, [127, 0, 0, 9]).await;
    assert_eq!(request(&mut stranger, "/v1/me", Some("dst_not_a_token")).await, Some(401));

    let mut flood = Vec::new();
    for i in 0..200u32 {
        let host = u8::try_from(10 + i % 50).unwrap();
        flood.push(connect_from(&relay, [127, 0, 1, host]).await);
    }
    let mut health = connect_from(&relay, [127, 0, 0, 5]).await;
    assert_eq!(request(&mut health, "/healthz", None).await, Some(200), "healthz answers a full relay");
    assert_eq!(
        request(&mut member, "/v1/me", Some(&relay.admin_token)).await,
        Some(200),
        "the authenticated connection was kept through the flood"
    );
    assert!(closed_within(&mut stranger, Duration::from_secs(5)).await, "a refused token proves nothing");
    let mut still_open = 0;
    for stream in &mut flood {
        if !closed_within(stream, Duration::from_millis(20)).await {
            still_open += 1;
        }
    }
    assert!(still_open <= 24, "{still_open} flood connections open; the relay holds at most 24");
    // A fresh authenticated client gets in as well.
    let (status, _) = relay.json("GET", "/v1/me", &relay.admin_token, None).await;
    assert_eq!(status.as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_sending_bodies_a_byte_at_a_time_cannot_keep_healthz_or_a_member_out() {
    // 16 slots, all taken by join requests whose bodies never finish (a stranger needs no
    // token): they were requests in progress, never closed to make room, and /healthz failed
    // for as long as they kept coming. A member's request in progress is still never closed.
    let relay = relay_with(Connections {
        max_connections: 16,
        max_per_address: 16,
        header_read_timeout: Duration::from_secs(60),
        idle_timeout: Duration::from_secs(60),
        ..Connections::default()
    })
    .await;
    let mut slow = Vec::new();
    for i in 0..24u8 {
        let mut stream = connect_from(&relay, [127, 0, 2, 1 + i % 3]).await;
        let head = "POST /v1/join HTTP/1.1\r\nhost: relay\r\ncontent-type: application/json\r\ncontent-length: 16000\r\n\r\n{";
        // A connection the table closed at once refuses the write; the flood goes on.
        let _ = stream.write_all(head.as_bytes()).await;
        slow.push(stream);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut health = connect_from(&relay, [127, 0, 0, 5]).await;
    assert_eq!(request(&mut health, "/healthz", None).await, Some(200), "healthz answers");
    let (status, _) = relay.json("GET", "/v1/me", &relay.admin_token, None).await;
    assert_eq!(status.as_u16(), 200, "a member gets in");
    let mut still_open = 0;
    for stream in &mut slow {
        if !closed_within(stream, Duration::from_millis(20)).await {
            still_open += 1;
        }
    }
    assert!(still_open < 16, "{still_open} slow bodies still hold slots");
}

/// A member's request in progress is never closed to make room, so one token sending bodies a
/// byte at a time, within its rate limit, held a slot per request until the request limit: three
/// tokens took a relay whole. Now a person holds at most `requests_in_hand::PER_PERSON` requests
/// at once; the next is refused at once (429 `requests_in_progress`), so `/healthz` and another
/// member still get in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_members_bodies_sent_a_byte_at_a_time_hold_no_more_than_their_share_of_the_relay() {
    use doorstep_server::requests_in_hand::PER_PERSON;
    let connections = Connections {
        max_connections: 40,
        max_per_address: 40,
        header_read_timeout: Duration::from_secs(60),
        idle_timeout: Duration::from_secs(60),
        ..Connections::default()
    };
    // The token's rate limit out of the way: the share is what is tried here.
    let mut config = Config { connections, ..Config::default() };
    config.limits.rate_per_second = 1000.0;
    config.limits.rate_burst = 1000.0;
    let relay = TestRelay::start_with(config).await;
    let compound = relay.create_compound("香樟苑").await;
    let volunteer = relay.phone(compound, doorstep_core::Role::Volunteer, "李强").await;
    let mut held = Vec::new();
    for i in 0..PER_PERSON {
        let mut stream = connect_from(&relay, [127, 0, 3, 1 + u8::try_from(i % 4).unwrap()]).await;
        // The body's first byte, then nothing more for as long as the relay waits.
        let head = format!(
            "POST /v1/set-aside HTTP/1.1\r\nhost: relay\r\nauthorization: Bearer {}\r\ncontent-type: application/json\r\ncontent-length: 200000\r\n\r\n{{",
            volunteer.token
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        held.push(stream);
    }
    // The slow bodies' heads reach the relay in their own time (on a loaded machine, after a
    // request sent later would): asked before all are in hand, that request would take the place
    // of one of them.
    let hands = relay.state.as_ref().expect("an in-process relay").requests_in_hand.clone();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while hands.held_by(&volunteer.person) < PER_PERSON {
        assert!(std::time::Instant::now() < deadline, "in hand: {}", hands.held_by(&volunteer.person));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Past the share, any request of the same person is answered at once, whatever its route.
    let (status, body) = relay.json("GET", "/v1/me", &volunteer.token, None).await;
    assert_eq!(status.as_u16(), 429, "{body}");
    assert_eq!(body["error"], "requests_in_progress", "{body}");
    let mut health = connect_from(&relay, [127, 0, 0, 5]).await;
    assert_eq!(request(&mut health, "/healthz", None).await, Some(200), "healthz answers");
    let (status, _) = relay.json("GET", "/v1/me", &relay.admin_token, None).await;
    assert_eq!(status.as_u16(), 200, "another member gets in");
    // The held ones end (the client gives up); the person's share comes back.
    drop(held);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (status, _) = relay.json("GET", "/v1/me", &volunteer.token, None).await;
        if status.as_u16() == 200 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the share did not come back: {status}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
