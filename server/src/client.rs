//! Who is on the other end of a request: the client's address, whether the request came over
//! HTTPS, and which host it was sent to, as far as the relay can believe it.
//!
//! `X-Forwarded-For`, `X-Forwarded-Host`, `X-Forwarded-Proto` and `Forwarded` are believed only
//! when the TCP peer is a proxy the operator named with `--trusted-proxy`. From anyone else they
//! are ignored: any client can write them, and a relay that believed them would let a guesser
//! pick a fresh address for every `/v1/join` attempt, or a foreign page pass the dashboard's
//! Origin check by naming itself as the forwarded host.
//!
//! The connection loop ([`crate::connections`]) puts a [`Client`] on every request's
//! extensions; a request that reaches the router some other way (a test calling [`crate::app`]
//! directly) has none, and is treated as coming from an unknown, untrusted peer.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;

use axum::http::{HeaderMap, header};

/// A range of addresses, written `10.0.0.0/8`, `fd00::/8` or a single address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    network: IpAddr,
    prefix: u8,
}

/// Why an address range could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an address or a range like 10.0.0.0/8 or fd00::/8")]
pub struct BadIpRange(String);

impl FromStr for IpRange {
    type Err = BadIpRange;

    fn from_str(s: &str) -> Result<Self, BadIpRange> {
        let bad = || BadIpRange(s.to_owned());
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s.trim(), None),
        };
        let network: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(bad)?,
            None => max,
        };
        Ok(Self { network, prefix })
    }
}

impl std::fmt::Display for IpRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl IpRange {
    /// Whether `addr` is in the range. An IPv4 address mapped into IPv6 (`::ffff:10.0.0.1`)
    /// counts as the IPv4 address.
    pub fn contains(&self, addr: IpAddr) -> bool {
        match (self.network, canonical(addr)) {
            (IpAddr::V4(net), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(a)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// Whether `addr` is the relay's own host (`127.0.0.1` or `::1`): the operator's tools, a
/// benchmark, or a reverse proxy on the same machine. Such peers are not capped per address and
/// their joins are not throttled, since behind a same-host proxy every client would share the
/// address; name that proxy with `--trusted-proxy 127.0.0.1` so each client is counted on its
/// own. The rest of the loopback range (`127.0.0.2`…) counts as ordinary addresses.
pub fn is_own_host(addr: IpAddr) -> bool {
    match canonical(addr) {
        IpAddr::V4(v4) => v4 == Ipv4Addr::LOCALHOST,
        IpAddr::V6(v6) => v6 == std::net::Ipv6Addr::LOCALHOST,
    }
}

/// `addr` with an IPv4-mapped IPv6 address turned back into IPv4.
pub fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

/// The request's other end, as the relay believes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// The client's address: the TCP peer, or behind a trusted proxy the address the proxy
    /// says it forwarded for.
    pub addr: IpAddr,
    /// Whether the request came over HTTPS: this relay's TLS, or a trusted proxy's.
    pub https: bool,
    /// The host the browser sent the request to, as a trusted proxy forwarded it (its
    /// `Host` header is then the proxy's upstream name). `None` when the peer is no trusted proxy.
    pub forwarded_host: Option<String>,
}

impl Default for Client {
    /// An unknown peer: no address to tell it from others, no trust.
    fn default() -> Self {
        Self { addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED), https: false, forwarded_host: None }
    }
}

impl Client {
    /// The client of a request that arrived from `peer` (over TLS if `tls`), with `headers`.
    pub fn resolve(peer: SocketAddr, tls: bool, headers: &HeaderMap, trusted: &[IpRange]) -> Self {
        let peer_ip = canonical(peer.ip());
        let is_trusted = |ip: IpAddr| trusted.iter().any(|r| r.contains(ip));
        if !is_trusted(peer_ip) {
            return Self { addr: peer_ip, https: tls, forwarded_host: None };
        }
        // Walk the forwarded chain from the nearest hop back: the first address that is not one
        // of our proxies is the client (everything before it was written by the client itself).
        let chain = forwarded_for(headers);
        let addr = chain.iter().rev().copied().map(canonical).find(|ip| !is_trusted(*ip)).unwrap_or(peer_ip);
        let proto = nearest_value(headers, "x-forwarded-proto")
            .or_else(|| forwarded_param(headers, "proto"))
            .is_some_and(|p| p.eq_ignore_ascii_case("https"));
        let forwarded_host =
            nearest_value(headers, "x-forwarded-host").or_else(|| forwarded_param(headers, "host"));
        Self { addr, https: tls || proto, forwarded_host }
    }

    /// The client of a request: what the connection loop recorded, or an unknown peer.
    pub fn of(extensions: &axum::http::Extensions) -> Self {
        extensions.get::<Client>().cloned().unwrap_or_default()
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Client::of(&parts.extensions))
    }
}

/// The addresses of `X-Forwarded-For` and of `Forwarded: for=`, oldest hop first.
fn forwarded_for(headers: &HeaderMap) -> Vec<IpAddr> {
    let mut chain: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| parse_node(a.trim()))
        .collect();
    if chain.is_empty() {
        chain = headers
            .get_all(header::FORWARDED)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .flat_map(|element| element.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .filter(|(name, _)| name.trim().eq_ignore_ascii_case("for"))
            .filter_map(|(_, value)| parse_node(value.trim().trim_matches('"')))
            .collect();
    }
    chain
}

/// An address as a forwarding header writes it: `1.2.3.4`, `1.2.3.4:5678`, `[::1]:80`, `::1`.
fn parse_node(text: &str) -> Option<IpAddr> {
    if let Ok(ip) = text.parse() {
        return Some(ip);
    }
    if let Ok(sock) = text.parse::<SocketAddr>() {
        return Some(sock.ip());
    }
    text.strip_prefix('[').and_then(|t| t.split(']').next()).and_then(|t| t.parse().ok())
}

/// The last (nearest proxy's) value of a comma-separated header.
fn nearest_value(headers: &HeaderMap, name: &str) -> Option<String> {
    let value = headers.get_all(name).iter().rev().find_map(|v| v.to_str().ok())?;
    let last = value.rsplit(',').next()?.trim();
    (!last.is_empty()).then(|| last.to_owned())
}

/// A parameter of the nearest element of the `Forwarded` header.
fn forwarded_param(headers: &HeaderMap, param: &str) -> Option<String> {
    let value = headers.get_all(header::FORWARDED).iter().rev().find_map(|v| v.to_str().ok())?;
    let nearest = value.rsplit(',').next()?;
    nearest
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case(param))
        .map(|(_, v)| v.trim().trim_matches('"').to_owned())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(*name, HeaderValue::from_static(value));
        }
        h
    }

    fn peer(ip: &str) -> SocketAddr {
        SocketAddr::new(ip.parse().unwrap(), 40000)
    }

    #[test]
    fn ranges_are_read_and_matched() {
        let r: IpRange = "10.1.0.0/16".parse().unwrap();
        assert!(r.contains("10.1.200.3".parse().unwrap()));
        assert!(r.contains("::ffff:10.1.0.9".parse().unwrap()), "IPv4-mapped");
        assert!(!r.contains("10.2.0.1".parse().unwrap()));
        assert!(!r.contains("::1".parse().unwrap()));
        let one: IpRange = "127.0.0.1".parse().unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()) && !one.contains("127.0.0.2".parse().unwrap()));
        let v6: IpRange = "fd00::/8".parse().unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()) && !v6.contains("fe80::1".parse().unwrap()));
        assert!("0.0.0.0/0".parse::<IpRange>().unwrap().contains("8.8.8.8".parse().unwrap()));
        for bad in ["", "10.0.0.0/33", "::/129", "example.org", "10.0.0.0/x"] {
            assert!(bad.parse::<IpRange>().is_err(), "{bad}");
        }
    }

    #[test]
    fn forwarded_headers_from_an_untrusted_peer_are_ignored() {
        let h = headers(&[
            ("x-forwarded-for", "9.9.9.9"),
            ("x-forwarded-host", "evil.example"),
            ("x-forwarded-proto", "https"),
            ("forwarded", "for=8.8.8.8;host=evil.example;proto=https"),
        ]);
        let client = Client::resolve(peer("203.0.113.7"), false, &h, &[]);
        assert_eq!(
            client,
            Client { addr: "203.0.113.7".parse().unwrap(), https: false, forwarded_host: None }
        );
    }

    #[test]
    fn a_trusted_proxy_names_the_client_and_spoofed_hops_are_skipped() {
        let trusted = ["10.0.0.0/8".parse().unwrap()];
        // The client wrote "1.1.1.1" itself; the proxy appended the address it saw.
        let h = headers(&[
            ("x-forwarded-for", "1.1.1.1, 198.51.100.4"),
            ("x-forwarded-host", "doorstep.example.org"),
            ("x-forwarded-proto", "https"),
        ]);
        let client = Client::resolve(peer("10.0.0.2"), false, &h, &trusted);
        assert_eq!(client.addr, "198.51.100.4".parse::<IpAddr>().unwrap());
        assert!(client.https);
        assert_eq!(client.forwarded_host.as_deref(), Some("doorstep.example.org"));

        let h = headers(&[("forwarded", "for=\"[2001:db8::7]:443\";proto=https;host=d.example")]);
        let client = Client::resolve(peer("10.0.0.2"), false, &h, &trusted);
        assert_eq!(client.addr, "2001:db8::7".parse::<IpAddr>().unwrap());
        assert_eq!(client.forwarded_host.as_deref(), Some("d.example"));

        // A trusted proxy that forwarded nothing is itself the client.
        let client = Client::resolve(peer("10.0.0.2"), true, &HeaderMap::new(), &trusted);
        assert_eq!(client.addr, "10.0.0.2".parse::<IpAddr>().unwrap());
        assert!(client.https);
    }
}
