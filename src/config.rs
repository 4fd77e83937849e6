//! Settings from flags and the environment. The cookie key is wrapped so it never prints.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use crate::notify::mail::MailSettings;

/// Where and how `mantel serve` runs.
#[derive(Clone, Debug)]
pub struct Settings {
    pub bind: String,
    pub database_url: String,
    /// `--public-url`; `None`: the address actually bound (`PublicUrl::new`).
    pub public_url: Option<String>,
    /// From `MANTEL_SECRET_KEY`; when absent the key is generated once and kept in the database.
    pub secret_key: Option<SecretKey>,
    /// Bearer requests an hour per token (SPEC §8.6), counted by each instance on its own.
    pub token_rate_limit: u32,
    /// Bad bearer credentials an address may present a minute before it gets 429 without a
    /// lookup; 0: no such limit.
    pub bearer_failure_limit: u32,
    /// Where `GET /metrics` answers; `None` (the default) serves no metrics.
    pub metrics_bind: Option<String>,
    /// The key files of the secret-scanning partners (SPEC §8.4); without one, that partner's
    /// reports are refused.
    pub github_scanning_keys: Option<std::path::PathBuf>,
    pub gitlab_scanning_keys: Option<std::path::PathBuf>,
    /// Proxies whose forwarding header names the client; none by default.
    pub trusted_proxies: Vec<crate::domain::Cidr>,
    /// Which header that is: `X-Forwarded-For` by default, or `Forwarded`.
    pub proxy_header: crate::auth::client_ip::ProxyHeader,
    /// Where notification mail goes; `None`: notifications are in the dashboard only.
    pub mail: Option<MailSettings>,
    /// How often this instance looks for expiring and idle tokens, and for mail to send.
    pub sweep_every: Duration,
    /// Bearer requests the activity queue holds between two writes (`auth::activity`).
    pub activity_queue: usize,
}

/// The sweeps' period outside tests.
pub const SWEEP_EVERY: Duration = Duration::from_secs(60);

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

#[derive(Clone)]
pub struct SecretKey(String);

impl SecretKey {
    /// At least 32 bytes: the cookie key is derived from it.
    pub fn new(s: String) -> Result<Self, String> {
        if s.len() < 32 {
            return Err("MANTEL_SECRET_KEY must be at least 32 characters".into());
        }
        Ok(SecretKey(s))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
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
