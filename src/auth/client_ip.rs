//! The client's address, decided once for everything that keeps or compares one (a token's
//! allowed addresses and last use, rate limits, throttles, the sessions page): the socket's
//! peer, or — only when that peer is a proxy the operator trusts (`--trusted-proxies`) — the
//! address the proxies report in `Forwarded` (RFC 7239) or else `X-Forwarded-For`. The chain
//! is read right to left and believed only as far as trusted hops wrote it: anything a client
//! sends itself sits to the left of the first untrusted hop and is never read.

use std::net::IpAddr;

use actix_web::http::header::{self, HeaderMap};
use actix_web::HttpRequest;

use crate::domain::{canonical, Cidr};
use crate::state::AppState;

/// The proxies whose forwarding headers are believed; none by default.
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(Vec<Cidr>);

impl TrustedProxies {
    pub fn new(proxies: Vec<Cidr>) -> Self {
        TrustedProxies(proxies)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|c| c.contains(ip))
    }

    /// The client of a request that came from `peer` with these headers.
    pub fn client(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = canonical(peer?);
        // The common case costs nothing: no proxy trusted, or not from one.
        if self.0.is_empty() || !self.trusts(peer) {
            return Some(peer);
        }
        let hops = forwarded_for(headers).or_else(|| x_forwarded_for(headers));
        let mut client = peer;
        for hop in hops.unwrap_or_default().into_iter().rev() {
            match hop {
                // Written by a trusted hop: believed. If it is a trusted proxy too, read on.
                Some(ip) => {
                    client = canonical(ip);
                    if !self.trusts(client) {
                        break;
                    }
                }
                // `unknown`, an obfuscated name or garbage: the last address believed stands.
                None => break,
            }
        }
        Some(client)
    }
}

/// The client address of `req`, as `TrustedProxies` decides it.
pub fn client_ip(req: &HttpRequest) -> Option<IpAddr> {
    AppState::of(req)
        .trusted_proxies
        .client(req.peer_addr().map(|a| a.ip()), req.headers())
}

/// The `for=` of each element of every `Forwarded` header, in order; `None` when there is no
/// such header. An element without a readable address is `None` in the list.
fn forwarded_for(headers: &HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    let mut hops = Vec::new();
    let mut seen = false;
    for value in headers.get_all(header::FORWARDED) {
        seen = true;
        let Ok(value) = value.to_str() else {
            hops.push(None);
            continue;
        };
        for element in value.split(',') {
            let node = element.split(';').find_map(|pair| {
                let (key, value) = pair.split_once('=')?;
                key.trim()
                    .eq_ignore_ascii_case("for")
                    .then_some(value.trim())
            });
            hops.push(node.and_then(node_address));
        }
    }
    seen.then_some(hops)
}

/// A `Forwarded` node: `192.0.2.60`, `"192.0.2.60:4711"`, `"[2001:db8::17]:4711"`.
fn node_address(node: &str) -> Option<IpAddr> {
    let node = node.trim_matches('"');
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    let host = node.split_once(':').map_or(node, |(h, _)| h);
    host.parse().ok()
}

fn x_forwarded_for(headers: &HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    let mut hops = Vec::new();
    let mut seen = false;
    for value in headers.get_all("x-forwarded-for") {
        seen = true;
        let Ok(value) = value.to_str() else {
            hops.push(None);
            continue;
        };
        hops.extend(value.split(',').map(|hop| hop.trim().parse().ok()));
    }
    seen.then_some(hops)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        map
    }

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies::new(list.iter().map(|c| Cidr::parse(c).unwrap()).collect())
    }

    #[test]
    fn by_default_the_socket_is_the_client() {
        let spoofed = headers(&[("x-forwarded-for", "1.2.3.4"), ("forwarded", "for=1.2.3.4")]);
        let none = TrustedProxies::default();
        assert_eq!(
            none.client(Some(ip("198.51.100.7")), &spoofed),
            Some(ip("198.51.100.7"))
        );
        // A proxy is trusted, but this request did not come through it.
        let trusted = proxies(&["10.0.0.0/8"]);
        assert_eq!(
            trusted.client(Some(ip("198.51.100.7")), &spoofed),
            Some(ip("198.51.100.7"))
        );
        assert_eq!(none.client(None, &spoofed), None);
    }

    #[test]
    fn only_trusted_hops_are_believed_right_to_left() {
        let trusted = proxies(&["10.0.0.0/8", "2001:db8:ff::/48"]);
        let peer = Some(ip("10.0.0.2"));
        // The client put a fake address first; the proxy appended the real one.
        let xff = headers(&[("x-forwarded-for", "6.6.6.6, 203.0.113.9")]);
        assert_eq!(trusted.client(peer, &xff), Some(ip("203.0.113.9")));
        // Two trusted proxies in a row.
        let chain = headers(&[("x-forwarded-for", "6.6.6.6, 203.0.113.9, 10.0.0.5")]);
        assert_eq!(trusted.client(peer, &chain), Some(ip("203.0.113.9")));
        // Several header lines are one list, in order.
        let lines = headers(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-for", "203.0.113.9"),
        ]);
        assert_eq!(trusted.client(peer, &lines), Some(ip("203.0.113.9")));
        // `Forwarded` wins over `X-Forwarded-For`; quoted IPv6 with a port.
        let both = headers(&[
            (
                "forwarded",
                "for=6.6.6.6, for=\"[2001:db8::17]:4711\";proto=https",
            ),
            ("x-forwarded-for", "7.7.7.7"),
        ]);
        assert_eq!(trusted.client(peer, &both), Some(ip("2001:db8::17")));
        let v4 = headers(&[("forwarded", "For=\"203.0.113.9:1234\";by=10.0.0.2")]);
        assert_eq!(trusted.client(peer, &v4), Some(ip("203.0.113.9")));
        // An unreadable hop: the last address believed (the proxy that wrote it) stands.
        let unknown = headers(&[("forwarded", "for=6.6.6.6, for=unknown")]);
        assert_eq!(trusted.client(peer, &unknown), peer);
        // No header at all: the proxy itself.
        assert_eq!(trusted.client(peer, &HeaderMap::new()), peer);
        // Every hop trusted: the leftmost.
        let inner = headers(&[("x-forwarded-for", "10.9.9.9")]);
        assert_eq!(trusted.client(peer, &inner), Some(ip("10.9.9.9")));
    }
}
