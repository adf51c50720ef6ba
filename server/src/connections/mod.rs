//! The relay's accept loop: every TCP connection from accept to close, with the bounds that
//! `axum::serve` does not offer (SECURITY.md, "Connections").
//!
//! - **Header-read timeout** ([`Connections::header_read_timeout`]): a client must send a
//!   request's headers (and, on the TLS port, finish its handshake) within it, counted from the
//!   connection's opening for its first request and from the first byte of each later one; the
//!   connection is closed otherwise. This ends slowloris clients. It is this loop's and not
//!   hyper's: hyper counts from when it is ready for the next request, that is from when the
//!   last answer went into the socket's buffer, and on a landing's 64 kbit/s a 75 KB answer is
//!   still crossing the link ten seconds later; the phone's next request on that connection
//!   then met a connection closed under it. Between requests, the idle timeout applies.
//! - **Idle timeout** ([`Connections::idle_timeout`]): a connection on which no byte moved for
//!   that long, with no request being handled, is closed. An answer still draining from the
//!   socket to the client counts as bytes moving ([`send_queue`]): on a landing's link the
//!   phone receives a long answer well after the relay wrote it, and then sends its next request
//!   on the same connection. A client that stops reading drains nothing and is idle.
//! - **Caps**: at most [`Connections::max_connections`] connections (lowered at start to fit
//!   the open-file limit, see [`fd_limit`]) and [`Connections::max_per_address`] from one
//!   client address. A full table makes room by closing the idle connection least worth
//!   keeping ([`table`]), so `/healthz`, phones and dashboards still get in.
//! - **Graceful shutdown**: when the shutdown future completes the loop stops accepting, asks
//!   every connection to finish its request in flight, and drops those still open after
//!   [`Connections::shutdown_grace`].
//!
//! Why hyper's HTTP/1 server and not hyper-util's `auto::Builder`: `auto` needs hyper's HTTP/2
//! (the `h2` crate and its dependencies), and neither the phones' transport nor the dashboard
//! needs HTTP/2; the HTTP/1 builder has the same header-read timeout and keep-alive settings.
//!
//! Every request gets a [`Client`] extension: its address and scheme as far as the relay
//! believes them (trusted proxies only).

mod activity;
pub mod certificate_expiry;
pub mod fd_limit;
pub mod handshake_failures;
mod send_queue;
pub mod table;
pub mod tls;
mod unread_body;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::http::header::{CONNECTION, EXPECT};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tower_service::Service as _;

use self::activity::Watched;
use self::send_queue::SendQueue;
use self::table::{Lease, Made, Table};
use crate::client::Client;
use crate::config::Connections;

/// What the accept loop needs besides the listener.
#[derive(Clone)]
pub struct Serving {
    /// Timeouts, caps and trusted proxies.
    pub config: Connections,
    /// TLS, if the relay serves HTTPS itself.
    pub tls: Option<TlsAcceptor>,
    /// Where failed TLS handshakes are counted.
    pub handshake_failures: Arc<handshake_failures::HandshakeFailures>,
}

impl std::fmt::Debug for Serving {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Serving").field("config", &self.config).field("tls", &self.tls.is_some()).finish()
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then shuts down gracefully.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    serving: Serving,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let max = fd_limit::connections_under(fd_limit::raise(), serving.config.max_connections);
    let table = Table::new(max, serving.config.max_per_address, serving.config.trusted_proxies.clone());
    tracing::info!(
        max_connections = table.capacity(),
        max_per_address = serving.config.max_per_address,
        header_read_timeout_ms = millis(serving.config.header_read_timeout),
        idle_timeout_ms = millis(serving.config.idle_timeout),
        tls = serving.tls.is_some(),
        "accepting connections"
    );
    let serving = Arc::new(serving);
    let (stopping_tx, stopping) = watch::channel(false);
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of descriptors, or a connection reset before it was accepted: wait
                        // a moment rather than spin, as hyper's and axum's loops do.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let lease = match table.admit(crate::client::canonical(peer.ip())) {
                    Ok((lease, made)) => {
                        if let Made::Evicted { proven } = made {
                            tracing::debug!(%peer, closed_authenticated = proven, "connection table full: closed an idle connection");
                        }
                        lease
                    }
                    Err(refusal) => {
                        tracing::warn!(%peer, %refusal, "connection refused");
                        drop(stream);
                        continue;
                    }
                };
                tasks.spawn(connection(stream, peer, lease, Arc::clone(&serving), router.clone(), stopping.clone()));
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    drop(listener);
    let _ = stopping_tx.send(true);
    let grace = serving.config.shutdown_grace;
    let drained = tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(open = tasks.len(), "connections still open after the shutdown grace; closing them");
        tasks.shutdown().await;
    }
    Ok(())
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// One connection, from accept to close.
async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    lease: Lease,
    serving: Arc<Serving>,
    router: Router,
    stopping: watch::Receiver<bool>,
) {
    let config = &serving.config;
    // Phones' requests are small; waiting to fill a packet only adds latency.
    let _ = stream.set_nodelay(true);
    let slot = Arc::clone(lease.slot());
    let queue = SendQueue::of(&stream);
    match &serving.tls {
        None => {
            let io = Watched::new(stream, Arc::clone(&slot));
            http(io, queue, peer, false, &lease, &serving, router, stopping).await;
        }
        Some(acceptor) => {
            let handshake = async {
                if !tls::starts_like_tls(&mut stream).await {
                    return None;
                }
                match acceptor.accept(Watched::new(stream, Arc::clone(&slot))).await {
                    Ok(io) => Some(io),
                    Err(e) => {
                        serving.handshake_failures.failed(peer, &e);
                        None
                    }
                }
            };
            let evicted = slot.evicted();
            let tls = tokio::select! {
                tls = tokio::time::timeout(config.header_read_timeout, handshake) => tls.ok().flatten(),
                () = evicted => None,
            };
            match tls {
                Some(io) => http(io, queue, peer, true, &lease, &serving, router, stopping).await,
                None => tracing::debug!(%peer, "no TLS handshake; connection closed"),
            }
        }
    }
}

/// HTTP/1 on an established byte stream (whose socket's unsent bytes `queue` tells), until the
/// client leaves, the connection idles out, the table evicts it, or the relay shuts down.
#[expect(clippy::too_many_arguments, reason = "the connection's parts, each used once")]
async fn http<I>(
    io: I,
    queue: SendQueue,
    peer: SocketAddr,
    tls: bool,
    lease: &Lease,
    serving: &Serving,
    router: Router,
    mut stopping: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let config = &serving.config;
    let slot = Arc::clone(lease.slot());
    let trusted = config.trusted_proxies.clone();
    let service_slot = Arc::clone(&slot);
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        let mut router = router.clone();
        let slot = Arc::clone(&service_slot);
        let client = Client::resolve(peer, tls, request.headers(), &trusted);
        async move {
            let busy = slot.begin();
            request.extensions_mut().insert(client);
            request.extensions_mut().insert(table::CredentialAccepted::for_slot(&slot));
            let (request, ended) = {
                let (parts, body) = request.into_parts();
                // A body the answer leaves unread is read on after it, unless the client asked
                // to be told whether to send it (`Expect: 100-continue`).
                let read_on = !parts.headers.contains_key(EXPECT);
                let (body, ended) = unread_body::watch(body, read_on);
                (Request::from_parts(parts, axum::body::Body::new(body)), ended)
            };
            let mut response = router.call(request).await?;
            // A connection whose request body was left unread is closed after it: say so.
            if !ended.read_to_end() {
                response.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
            }
            drop(busy);
            Ok::<_, Infallible>(response)
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    // No header timeout of hyper's: see the module's note; this loop applies it.
    builder.timer(TokioTimer::new()).header_read_timeout(None).keep_alive(true);
    let connection = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(connection);
    let idle = config.idle_timeout;
    let mut draining = *stopping.borrow();
    if draining {
        connection.as_mut().graceful_shutdown();
    }
    let head_timeout = config.header_read_timeout;
    // What the socket still held at the last look: a different figure means bytes moved.
    let mut unsent_seen = 0;
    loop {
        let unsent = drained(queue, &mut unsent_seen, &slot);
        let check_at = if slot.in_flight() > 0 {
            tokio::time::Instant::now() + idle
        } else if unsent > 0 {
            // Look again soon, so that the idle timeout after the last byte left is nearly whole.
            tokio::time::Instant::now() + idle / 8
        } else {
            let idle_at = slot.last_active() + idle;
            let head_at = slot.head_since().map(|since| since + head_timeout);
            tokio::time::Instant::from_std(head_at.map_or(idle_at, |at| at.min(idle_at)))
        };
        tokio::select! {
            served = connection.as_mut() => {
                if let Err(e) = served {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            () = slot.evicted() => {
                tracing::debug!(%peer, "connection evicted to make room");
                return;
            }
            // A request's head began: the deadline is set from it on the next turn.
            () = slot.head_began() => {}
            () = tokio::time::sleep_until(check_at) => {
                if slot.in_flight() > 0 {
                    continue;
                }
                drained(queue, &mut unsent_seen, &slot);
                if slot.head_since().is_some_and(|since| since.elapsed() >= head_timeout) {
                    tracing::debug!(%peer, "request headers not complete in time; connection closed");
                    return;
                }
                if slot.last_active().elapsed() >= idle {
                    tracing::debug!(%peer, "idle connection closed");
                    return;
                }
            }
            changed = stopping.changed(), if !draining => {
                // A dropped sender also means the loop is going away.
                let _ = changed;
                connection.as_mut().graceful_shutdown();
                draining = true;
            }
        }
    }
}

/// Records on `slot` that bytes moved if the socket's unsent bytes changed since `seen`, which it
/// updates; returns them.
fn drained(queue: SendQueue, seen: &mut usize, slot: &table::Slot) -> usize {
    let unsent = queue.unsent();
    if unsent != *seen {
        slot.touch();
        *seen = unsent;
    }
    unsent
}
