//! The URL people use (SPEC §2), known once the listener is bound.

use std::net::SocketAddr;

/// The URL people use (SPEC §2): `--public-url`, or when it is not set the address the server
/// actually bound, so `--bind 127.0.0.1:0` works in a browser. Known only once the listener is
/// bound; CSRF checks compare `Origin` with its origin, and mail links start with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicUrl(String);

impl PublicUrl {
    pub fn new(configured: Option<&str>, bound: SocketAddr) -> PublicUrl {
        match configured {
            Some(url) => PublicUrl(url.trim().trim_end_matches('/').to_owned()),
            None => PublicUrl(format!("http://{}", Self::reachable(bound))),
        }
    }

    /// The bound address, except that one bound on every address (`0.0.0.0`, `::`) is
    /// reached from this machine through the loopback of its family: a browser cannot open
    /// `http://0.0.0.0:PORT` everywhere, and the origin must be one it sends.
    fn reachable(bound: SocketAddr) -> SocketAddr {
        let ip = match bound.ip() {
            ip if !ip.is_unspecified() => ip,
            std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        };
        SocketAddr::new(ip, bound.port())
    }

    /// Whether no `--public-url` was given for a server listening on every address: people
    /// then come by some other name, which only `--public-url` can tell (start-up warns).
    pub fn guessed_for(configured: Option<&str>, bound: SocketAddr) -> bool {
        configured.is_none() && bound.ip().is_unspecified()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// An `https` public URL turns on `Secure` (and `__Host-`) cookies.
    pub fn secure_cookies(&self) -> bool {
        self.0.starts_with("https://")
    }

    /// `scheme://host[:port]`: what a browser sends as `Origin`.
    pub fn origin(&self) -> String {
        let (scheme, _) = self.0.split_once("://").unwrap_or(("http", ""));
        format!(
            "{}://{}",
            scheme.to_ascii_lowercase(),
            self.authority().to_ascii_lowercase()
        )
    }

    /// The host, without its port (an IPv6 literal keeps its brackets).
    pub fn host(&self) -> &str {
        let authority = self.authority();
        match authority.strip_prefix('[') {
            Some(v6) => &authority[..v6.find(']').map_or(authority.len(), |end| end + 2)],
            None => authority.split(':').next().unwrap_or_default(),
        }
    }

    fn authority(&self) -> &str {
        let rest = self
            .0
            .split_once("://")
            .map_or(self.0.as_str(), |(_, rest)| rest);
        rest.split(['/', '?', '#']).next().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_of_the_public_url() {
        let bound: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let url = |url: &str| PublicUrl::new(Some(url), bound);
        assert_eq!(
            url("http://127.0.0.1:8080").origin(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            url("https://App.Example.com/base/").origin(),
            "https://app.example.com"
        );
        assert!(url("https://app.example.com").secure_cookies());
        assert!(!url("http://127.0.0.1:8080").secure_cookies());
        assert_eq!(
            url("https://app.example.com:8443/x").host(),
            "app.example.com"
        );
        assert_eq!(url("http://[::1]:8080").host(), "[::1]");
    }

    #[test]
    fn without_a_public_url_the_bound_address() {
        let url = |bound: &str| PublicUrl::new(None, bound.parse().unwrap());
        // The default bind gives the default public URL, as before.
        assert_eq!(url("127.0.0.1:8080").as_str(), "http://127.0.0.1:8080");
        assert_eq!(url("127.0.0.1:41234").origin(), "http://127.0.0.1:41234");
        assert_eq!(url("0.0.0.0:8080").as_str(), "http://127.0.0.1:8080");
        assert_eq!(url("[::]:8080").as_str(), "http://[::1]:8080");
        assert_eq!(url("[::1]:9000").origin(), "http://[::1]:9000");
        assert!(PublicUrl::guessed_for(None, "0.0.0.0:80".parse().unwrap()));
        assert!(!PublicUrl::guessed_for(
            None,
            "127.0.0.1:80".parse().unwrap()
        ));
        assert!(!PublicUrl::guessed_for(
            Some("https://x.example"),
            "0.0.0.0:80".parse().unwrap()
        ));
    }
}
