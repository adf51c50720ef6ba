//! A landing's link between a phone and the relay, on loopback: a TCP proxy that carries each
//! direction at a given rate (64 kbit/s: 8,000 bytes a second) with a given one-way delay (150
//! ms, for 300 ms round trips), costs a new connection one round trip before its first byte
//! (TCP's handshake), and can be cut: every connection dropped and new ones refused, as when a
//! volunteer climbs back into the stairwell.
//!
//! Each direction is paced by a reader that takes bytes off one socket no faster than the link
//! carries them and stamps each chunk with when its last byte has crossed, and a writer that
//! hands the chunk to the other socket once the delay has passed; so a long body takes its
//! length over the rate, plus the delay once, as on a real link.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// How the link carries bytes.
#[derive(Debug, Clone, Copy)]
pub struct LinkShape {
    /// Bytes a second in each direction.
    pub bytes_per_second: f64,
    /// Half a round trip.
    pub one_way: Duration,
}

impl LinkShape {
    /// A landing's cell: 64 kbit/s each way, 300 ms round trips.
    pub fn landing() -> Self {
        Self { bytes_per_second: 8000.0, one_way: Duration::from_millis(150) }
    }
}

/// A running slow link to one relay.
#[derive(Debug)]
pub struct SlowLink {
    /// The URL phones use instead of the relay's.
    pub url: String,
    up: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    down: Arc<AtomicUsize>,
}

impl SlowLink {
    /// Starts a link of `shape` to the relay at `relay` (an `http://` URL on loopback).
    pub async fn start(relay: &str, shape: LinkShape) -> anyhow::Result<Self> {
        let target: SocketAddr = relay.trim_start_matches("http://").trim_end_matches('/').parse()?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let (up, link_up) = watch::channel(true);
        let down = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(accept(listener, target, shape, link_up, Arc::clone(&down)));
        Ok(Self { url, up, task, down })
    }

    /// Bytes the link has delivered to phones so far.
    pub fn carried_down(&self) -> usize {
        self.down.load(Ordering::Relaxed)
    }

    /// Cuts the link: every connection is dropped, and new ones are closed at once.
    pub fn cut(&self) {
        let _ = self.up.send(false);
    }

    /// Brings the link back.
    pub fn restore(&self) {
        let _ = self.up.send(true);
    }
}

impl Drop for SlowLink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept(
    listener: TcpListener,
    target: SocketAddr,
    shape: LinkShape,
    link_up: watch::Receiver<bool>,
    down: Arc<AtomicUsize>,
) {
    while let Ok((phone, _)) = listener.accept().await {
        if !*link_up.borrow() {
            drop(phone);
            continue;
        }
        tokio::spawn(carry(phone, target, shape, link_up.clone(), Arc::clone(&down)));
    }
}

/// One connection, from its handshake to its end or the link's cut.
async fn carry(
    phone: TcpStream,
    target: SocketAddr,
    shape: LinkShape,
    mut link_up: watch::Receiver<bool>,
    down: Arc<AtomicUsize>,
) {
    let Ok(relay) = TcpStream::connect(target).await else { return };
    let _ = phone.set_nodelay(true);
    let _ = relay.set_nodelay(true);
    // The handshake: a round trip before the phone's first byte can leave.
    tokio::time::sleep(shape.one_way * 2).await;
    let (phone_read, phone_write) = phone.into_split();
    let (relay_read, relay_write) = relay.into_split();
    let both = async {
        let up = Arc::new(AtomicUsize::new(0));
        tokio::join!(
            direction(phone_read, relay_write, shape, up),
            direction(relay_read, phone_write, shape, down)
        );
    };
    tokio::select! {
        () = both => {}
        _ = link_up.wait_for(|up| !*up) => {}
    }
}

/// One direction of a connection: paced at the rate, delivered after the delay.
async fn direction(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    shape: LinkShape,
    delivered: Arc<AtomicUsize>,
) {
    let (tx, mut rx) = mpsc::channel::<(Instant, Vec<u8>)>(64);
    let reader = async move {
        let mut free_at = Instant::now();
        let mut buf = vec![0u8; 1400];
        loop {
            let n = match from.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let start = free_at.max(Instant::now());
            free_at = start + Duration::from_secs_f64(n as f64 / shape.bytes_per_second);
            // No faster than the link: the next chunk is read once this one has crossed.
            tokio::time::sleep_until(free_at).await;
            if tx.send((free_at + shape.one_way, buf[..n].to_vec())).await.is_err() {
                break;
            }
        }
    };
    let writer = async move {
        while let Some((at, chunk)) = rx.recv().await {
            tokio::time::sleep_until(at).await;
            if to.write_all(&chunk).await.is_err() {
                return;
            }
            delivered.fetch_add(chunk.len(), Ordering::Relaxed);
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(reader, writer);
}
