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

/// Carries `link`: the relay's bytes down as they come, the phone's up as `allow` lets them.
/// `allow(n)` is told each read of the phone's bytes (up to 4 KiB) and says how many of them go
/// up; fewer than all drops the connection both ways, whatever was on its way, as a link that
/// stops does.
pub(crate) async fn carry_up_as_allowed(mut link: Joined, mut allow: impl FnMut(usize) -> usize) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut from_relay, mut to_phone) = (link.from_relay, link.to_phone);
    let down = tokio::spawn(async move { tokio::io::copy(&mut from_relay, &mut to_phone).await });
    let mut buf = vec![0_u8; 4096];
    while let Ok(n @ 1..) = link.from_phone.read(&mut buf).await {
        let taken = allow(n).min(n);
        if (taken > 0 && link.to_relay.write_all(&buf[..taken]).await.is_err()) || taken < n {
            break;
        }
    }
    down.abort();
}
