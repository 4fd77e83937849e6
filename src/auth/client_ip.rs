//! The client's address, decided once for everything that keeps or compares one (a token's
//! allowed addresses and last use, rate limits, throttles, the sessions page): the socket's
//! peer, or — only when that peer is a proxy the operator trusts (`--trusted-proxies`) — the
//! address the proxies report in the one header the operator names (`--proxy-header`):
//! `X-Forwarded-For` by default, or `Forwarded` (RFC 7239). The other header is never read,
//! whatever it says: a proxy that maintains one passes the other through from the client
//! untouched (nginx appends to `X-Forwarded-For` and forwards a client's `Forwarded` as is).
//!
//! The chain is read right to left and believed only as far as trusted hops wrote it: each
//! entry was appended by the hop to its right, so the first entry that is not a trusted proxy
//! is the client, and anything a client sends itself sits further left and is never read.
//!
//! An entry that cannot be read (`unknown`, an obfuscated name, garbage) written by a trusted
//! hop ends the walk with no address: that proxy did not know or would not say who its client
//! was, and nothing further left can be believed. It is *not* the proxy's own address: taking
//! it would put every such client behind one address, where one of them could spend the
//! bad-token allowance of all, and a token allowed from the proxy's range would pass. With no
//! address, a token with allowed addresses is refused (`ip_not_allowed`) and the per-address
//! bad-token limit counts nothing (docs/deploy.md). A trusted peer that sends no header at all
//! is its own client (a health check from the proxy host).

use std::net::{IpAddr, SocketAddr};

use actix_web::http::header::{self, HeaderMap};
use actix_web::HttpRequest;

use crate::domain::{canonical, Cidr};

/// Which header names the client behind a trusted proxy (`--proxy-header`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ProxyHeader {
    /// `X-Forwarded-For: client, proxy1, …`: what nginx
    /// (`proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for`), HAProxy
    /// (`option forwardfor`) and the cloud load balancers maintain.
    #[default]
    #[value(name = "x-forwarded-for")]
    XForwardedFor,
    /// `Forwarded: for=client, for=proxy1` (RFC 7239), for proxies that write it.
    #[value(name = "forwarded")]
    Forwarded,
}

/// The proxies whose forwarding header is believed (none by default), and which header that is.
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies {
    proxies: Vec<Cidr>,
    header: ProxyHeader,
}

impl TrustedProxies {
    pub fn new(proxies: Vec<Cidr>, header: ProxyHeader) -> Self {
        TrustedProxies { proxies, header }
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.proxies.iter().any(|c| c.contains(ip))
    }

    /// The client of a request that came from `peer` with these headers; `None` when it
    /// cannot be known (no peer, or a trusted hop wrote an entry that cannot be read).
    pub fn client(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = canonical(peer?);
        // The common case costs nothing: no proxy trusted, or not from one.
        if self.proxies.is_empty() || !self.trusts(peer) {
            return Some(peer);
        }
        let hops = match self.header {
            ProxyHeader::XForwardedFor => x_forwarded_for(headers),
            ProxyHeader::Forwarded => forwarded_for(headers),
        };
        let mut client = peer;
        for hop in hops.into_iter().rev() {
            // Written by the trusted hop to its right: believed. If it is a trusted proxy
            // too, read on; else it is the client.
            client = canonical(hop?);
            if !self.trusts(client) {
                break;
            }
        }
        Some(client)
    }
}

/// The client address of `req`, as `TrustedProxies` decides it (registered beside
/// `AppState` by `startup`).
pub fn client_ip(req: &HttpRequest) -> Option<IpAddr> {
    req.app_data::<actix_web::web::Data<TrustedProxies>>()
        .expect("TrustedProxies is registered by startup")
        .client(req.peer_addr().map(|a| a.ip()), req.headers())
}

/// The `for=` of each element of every `Forwarded` header, in order. An element without a
/// readable address is `None` in the list.
fn forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let mut hops = Vec::new();
    for value in headers.get_all(header::FORWARDED) {
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
    hops
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

/// Each entry of every `X-Forwarded-For` header, in order: an address, or one with a port as
/// some load balancers write it (`192.0.2.60:4711`, `[2001:db8::17]:4711`); anything else is
/// `None`.
fn x_forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let mut hops = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let Ok(value) = value.to_str() else {
            hops.push(None);
            continue;
        };
        hops.extend(value.split(',').map(|hop| {
            let hop = hop.trim();
            hop.parse()
                .ok()
                .or_else(|| hop.parse::<SocketAddr>().ok().map(|a| a.ip()))
        }));
    }
    hops
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

    fn proxies(header: ProxyHeader, list: &[&str]) -> TrustedProxies {
        TrustedProxies::new(
            list.iter().map(|c| Cidr::parse(c).unwrap()).collect(),
            header,
        )
    }

    const XFF: ProxyHeader = ProxyHeader::XForwardedFor;
    const FORWARDED: ProxyHeader = ProxyHeader::Forwarded;

    #[test]
    fn by_default_the_socket_is_the_client() {
        let spoofed = headers(&[("x-forwarded-for", "1.2.3.4"), ("forwarded", "for=1.2.3.4")]);
        let none = TrustedProxies::default();
        assert_eq!(
            none.client(Some(ip("198.51.100.7")), &spoofed),
            Some(ip("198.51.100.7"))
        );
        // A proxy is trusted, but this request did not come through it.
        for header in [XFF, FORWARDED] {
            let trusted = proxies(header, &["10.0.0.0/8"]);
            assert_eq!(
                trusted.client(Some(ip("198.51.100.7")), &spoofed),
                Some(ip("198.51.100.7"))
            );
        }
        assert_eq!(none.client(None, &spoofed), None);
    }

    #[test]
    fn x_forwarded_for_is_read_right_to_left_as_far_as_trusted_hops_wrote_it() {
        let trusted = proxies(XFF, &["10.0.0.0/8", "2001:db8:ff::/48"]);
        let peer = Some(ip("10.0.0.2"));
        let client = |pairs| trusted.client(peer, &headers(pairs));
        // The client put a fake address first; the proxy appended the real one.
        assert_eq!(
            client(&[("x-forwarded-for", "6.6.6.6, 203.0.113.9")]),
            Some(ip("203.0.113.9"))
        );
        // Two trusted proxies in a row.
        assert_eq!(
            client(&[("x-forwarded-for", "6.6.6.6, 203.0.113.9, 10.0.0.5")]),
            Some(ip("203.0.113.9"))
        );
        // Several header lines are one list, in order.
        assert_eq!(
            client(&[
                ("x-forwarded-for", "6.6.6.6"),
                ("x-forwarded-for", "203.0.113.9")
            ]),
            Some(ip("203.0.113.9"))
        );
        // Bare IPv6, and addresses with a port as some load balancers write them.
        assert_eq!(
            client(&[("x-forwarded-for", "2001:db8::17")]),
            Some(ip("2001:db8::17"))
        );
        assert_eq!(
            client(&[("x-forwarded-for", "[2001:db8::17]:4711")]),
            Some(ip("2001:db8::17"))
        );
        assert_eq!(
            client(&[("x-forwarded-for", "203.0.113.9:4711")]),
            Some(ip("203.0.113.9"))
        );
        // `Forwarded` is not the configured header: ignored, whatever it says.
        assert_eq!(
            client(&[
                ("forwarded", "for=198.51.100.1"),
                ("x-forwarded-for", "203.0.113.9")
            ]),
            Some(ip("203.0.113.9"))
        );
        assert_eq!(client(&[("forwarded", "for=198.51.100.1")]), peer);
        // No header at all: the proxy itself.
        assert_eq!(client(&[]), peer);
        // Every hop trusted: the leftmost.
        assert_eq!(
            client(&[("x-forwarded-for", "10.9.9.9")]),
            Some(ip("10.9.9.9"))
        );
    }

    #[test]
    fn forwarded_is_read_right_to_left_as_far_as_trusted_hops_wrote_it() {
        let trusted = proxies(FORWARDED, &["10.0.0.0/8"]);
        let peer = Some(ip("10.0.0.2"));
        let client = |pairs| trusted.client(peer, &headers(pairs));
        // Quoted IPv6 with a port, among other parameters.
        assert_eq!(
            client(&[(
                "forwarded",
                "for=6.6.6.6, for=\"[2001:db8::17]:4711\";proto=https"
            )]),
            Some(ip("2001:db8::17"))
        );
        assert_eq!(
            client(&[("forwarded", "For=\"203.0.113.9:1234\";by=10.0.0.2")]),
            Some(ip("203.0.113.9"))
        );
        assert_eq!(
            client(&[("forwarded", "for=6.6.6.6, for=203.0.113.9, for=10.0.0.5")]),
            Some(ip("203.0.113.9"))
        );
        // `X-Forwarded-For` is not the configured header: ignored, whatever it says.
        assert_eq!(
            client(&[
                ("x-forwarded-for", "198.51.100.1"),
                ("forwarded", "for=203.0.113.9")
            ]),
            Some(ip("203.0.113.9"))
        );
        assert_eq!(client(&[("x-forwarded-for", "198.51.100.1")]), peer);
    }

    /// An entry a trusted hop wrote but that names no address ends the walk with no client:
    /// neither what lies further left (the client could have written it) nor the proxy's own
    /// address (every such client would share it).
    #[test]
    fn an_unreadable_entry_leaves_the_client_unknown() {
        let peer = Some(ip("10.0.0.2"));
        let xff = proxies(XFF, &["10.0.0.0/8"]);
        for value in [
            "unknown",
            "203.0.113.9, unknown",
            "203.0.113.9, nonsense, 10.0.0.5",
            "203.0.113.9, ",
        ] {
            let found = xff.client(peer, &headers(&[("x-forwarded-for", value)]));
            assert_eq!(found, None, "{value}");
        }
        let forwarded = proxies(FORWARDED, &["10.0.0.0/8"]);
        for value in [
            "for=unknown",
            "for=203.0.113.9, for=unknown",
            "for=203.0.113.9, for=_hidden",
            "for=203.0.113.9, proto=https",
        ] {
            let found = forwarded.client(peer, &headers(&[("forwarded", value)]));
            assert_eq!(found, None, "{value}");
        }
        // To the left of the client, nothing is read: garbage there changes nothing.
        let found = xff.client(
            peer,
            &headers(&[("x-forwarded-for", "unknown, 203.0.113.9")]),
        );
        assert_eq!(found, Some(ip("203.0.113.9")));
    }
}
