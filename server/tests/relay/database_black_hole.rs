//! A network between the relay and PostgreSQL that drops idle connections silently (a firewall,
//! a NAT, a cloud load balancer): the relay's sockets stay open and nothing sent on them is ever
//! answered. Before, the pool handed such a connection out again and again and every request
//! that drew it was answered 408 after 30 s, for about 15 minutes. Now a connection idle for a
//! while must answer an empty query within two seconds before it is used, so the first request
//! after the quiet spell is answered within seconds, on a new connection.
//!
//! The black hole is a TCP relay in the test: connections opened before the switch keep their
//! sockets and forward nothing more; new ones pass. Needs `DOORSTEP_TEST_POSTGRES` (run under
//! `scripts/with-postgres`); without it the test says it was skipped.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use doorstep_server::config::Config;
use doorstep_server::storage::postgres::scratch::ScratchDatabase;
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::harness::TestRelay;

/// Copies `from` to `to` while the link's generation is `born`; after that, reads and drops.
async fn pass_while(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    generation: Arc<AtomicU64>,
    born: u64,
) {
    let mut buffer = vec![0; 16 * 1024];
    while let Ok(n) = from.read(&mut buffer).await {
        if n == 0 {
            return;
        }
        if generation.load(Ordering::SeqCst) == born && to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}

/// A TCP relay to `server` whose connections go silent, without closing, when `generation`
/// moves on.
fn black_hole_link(listener: TcpListener, server: SocketAddr, generation: Arc<AtomicU64>) {
    tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            let born = generation.load(Ordering::SeqCst);
            let generation = Arc::clone(&generation);
            tokio::spawn(async move {
                let Ok(outbound) = TcpStream::connect(server).await else { return };
                let (in_read, in_write) = inbound.into_split();
                let (out_read, out_write) = outbound.into_split();
                tokio::join!(
                    pass_while(in_read, out_write, Arc::clone(&generation), born),
                    pass_while(out_read, in_write, generation, born),
                );
            });
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_the_network_dropped_silently_do_not_hold_requests() {
    let Some(db) = ScratchDatabase::from_env().await else { return };
    let pg: tokio_postgres::Config = db.url().parse().unwrap();
    let tokio_postgres::config::Host::Tcp(host) = &pg.get_hosts()[0] else { panic!("{:?}", pg.get_hosts()) };
    let server: SocketAddr = format!("{host}:{}", pg.get_ports()[0]).parse().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let link = listener.local_addr().unwrap();
    let generation = Arc::new(AtomicU64::new(0));
    black_hole_link(listener, server, Arc::clone(&generation));
    let url = format!("postgres://{}@{link}/{}", pg.get_user().unwrap(), pg.get_dbname().unwrap());
    let relay = TestRelay::start_on(&url, Config::default()).await;
    let me = |relay: &TestRelay| {
        let request = relay.http.get(format!("{}/v1/me", relay.url)).bearer_auth(&relay.admin_token);
        async move {
            let started = Instant::now();
            let status = request.send().await.unwrap().status();
            (status, started.elapsed())
        }
    };
    let (status, _) = me(&relay).await;
    assert_eq!(status, StatusCode::OK);

    // Every connection open now goes silent; the relay sits idle past the check's threshold.
    generation.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(11)).await;
    let (status, took) = me(&relay).await;
    println!("the first request after the connections went silent: {status} in {took:?}");
    assert_eq!(status, StatusCode::OK, "answered on a new connection");
    assert!(took < Duration::from_secs(8), "within seconds, not the request's 30 s timeout: {took:?}");
    let (status, took) = me(&relay).await;
    assert_eq!(status, StatusCode::OK);
    assert!(took < Duration::from_secs(2), "the next one at once: {took:?}");
}
