//! A load balancer in the test: one address on 127.0.0.1 that hands each new connection to one
//! of several relays at random, and to another if that one is down, as a reverse proxy in
//! front of several relays does. Phones keep one relay URL and land on different relays.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// The balancer; it stops accepting when dropped.
pub struct Balancer {
    pub url: String,
    backends: Arc<Mutex<Vec<SocketAddr>>>,
    stop: Arc<AtomicBool>,
    addr: SocketAddr,
}

impl Balancer {
    /// Starts balancing over `backends` (relay URLs, `http://127.0.0.1:PORT`).
    pub fn start(backends: &[&str]) -> Balancer {
        Balancer::start_at("127.0.0.1:0", backends)
    }

    /// [`Balancer::start`] on the address `at` (`127.0.0.1:PORT`): a port a test named before
    /// anything listened on it.
    pub fn start_at(at: &str, backends: &[&str]) -> Balancer {
        let listener = TcpListener::bind(at).expect("bind the balancer");
        let addr = listener.local_addr().expect("balancer address");
        let backends: Vec<SocketAddr> = backends
            .iter()
            .map(|url| url.trim_start_matches("http://").parse().expect("relay address"))
            .collect();
        let backends = Arc::new(Mutex::new(backends));
        let stop = Arc::new(AtomicBool::new(false));
        let (b, s) = (Arc::clone(&backends), Arc::clone(&stop));
        thread::spawn(move || {
            let seed = AtomicU64::new(0x2545_F491_4F6C_DD1D);
            for client in listener.incoming() {
                if s.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(client) = client else { continue };
                let order = shuffled(&b.lock().unwrap(), &seed);
                thread::spawn(move || forward(client, &order));
            }
        });
        Balancer { url: format!("http://{addr}"), backends, stop, addr }
    }

    /// The relays it balances over.
    pub fn backends(&self) -> Vec<SocketAddr> {
        self.backends.lock().unwrap().clone()
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

/// The backends in a random order (xorshift; a test needs no better randomness).
fn shuffled(backends: &[SocketAddr], seed: &AtomicU64) -> Vec<SocketAddr> {
    let mut x = seed.load(Ordering::Relaxed);
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    seed.store(x, Ordering::Relaxed);
    let mut order = backends.to_vec();
    if !order.is_empty() {
        let first = usize::try_from(x % order.len() as u64).unwrap_or(0);
        order.rotate_left(first);
    }
    order
}

/// Connects to the first backend that answers and copies bytes both ways until either side
/// closes. A backend killed mid-request resets the client's connection, as a real proxy would.
fn forward(client: TcpStream, order: &[SocketAddr]) {
    let Some(backend) =
        order.iter().find_map(|addr| TcpStream::connect_timeout(addr, Duration::from_secs(2)).ok())
    else {
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    let (mut c_read, mut b_write) = (client.try_clone().expect("clone"), backend.try_clone().expect("clone"));
    let (mut b_read, mut c_write) = (backend, client);
    let up = thread::spawn(move || {
        copy(&mut c_read, &mut b_write);
        let _ = b_write.shutdown(Shutdown::Write);
    });
    copy(&mut b_read, &mut c_write);
    let _ = c_write.shutdown(Shutdown::Both);
    let _ = up.join();
}

fn copy(from: &mut TcpStream, to: &mut TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}
