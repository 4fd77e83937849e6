//! Settings from flags and the environment. The cookie key is wrapped so it never prints.

use std::fmt;
use std::time::Duration;

use crate::notify::mail::MailSettings;

/// Where and how `mantel serve` runs.
#[derive(Clone, Debug)]
pub struct Settings {
    pub bind: String,
    pub database_url: String,
    pub public_url: String,
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

impl Settings {
    /// An `https` public URL turns on `Secure` (and `__Host-`) cookies.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.starts_with("https://")
    }

    /// `scheme://host[:port]` of the public URL: what a browser sends as `Origin`.
    pub fn public_origin(&self) -> String {
        let url = self.public_url.trim();
        let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        format!(
            "{}://{}",
            scheme.to_ascii_lowercase(),
            authority.to_ascii_lowercase()
        )
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
        let s = |url: &str| Settings {
            bind: String::new(),
            database_url: String::new(),
            public_url: url.into(),
            secret_key: None,
            token_rate_limit: 5000,
            bearer_failure_limit: 100,
            metrics_bind: None,
            github_scanning_keys: None,
            gitlab_scanning_keys: None,
            trusted_proxies: Vec::new(),
            proxy_header: Default::default(),
            mail: None,
            sweep_every: SWEEP_EVERY,
            activity_queue: 16,
        };
        assert_eq!(
            s("http://127.0.0.1:8080").public_origin(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            s("https://App.Example.com/base/").public_origin(),
            "https://app.example.com"
        );
        assert!(s("https://app.example.com").secure_cookies());
        assert!(!s("http://127.0.0.1:8080").secure_cookies());
    }
}
