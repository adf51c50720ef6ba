//! A TCP proxy on loopback between a phone and the relay, for tests of what a bad link does:
//! each connection the phone opens is joined to one of its own to the relay, and the test says
//! how bytes cross it (cut after so many, closed under the next request, …).

use std::future::Future;

use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// One connection through the proxy: the phone's side and the relay's, each split.
pub(crate) struct Joined {
    /// What the phone sends.
    pub from_phone: OwnedReadHalf,
    /// What reaches the phone.
    pub to_phone: OwnedWriteHalf,
    /// What the relay sends.
    pub from_relay: OwnedReadHalf,
    /// What reaches the relay.
    pub to_relay: OwnedWriteHalf,
}

/// Starts a proxy to the relay at `relay` (an `http://` URL) that hands each connection to
/// `carry`, on a task of its own; returns the proxy's URL.
pub(crate) async fn proxy<F, Fut>(relay: &str, carry: F) -> String
where
    F: Fn(Joined) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let target = relay.trim_start_matches("http://").to_owned();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((phone, _)) = listener.accept().await {
            let relay = tokio::net::TcpStream::connect(&target).await.unwrap();
            let (from_phone, to_phone) = phone.into_split();
            let (from_relay, to_relay) = relay.into_split();
            tokio::spawn(carry(Joined { from_phone, to_phone, from_relay, to_relay }));
        }
    });
    url
}
