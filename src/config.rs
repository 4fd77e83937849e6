//! Settings from flags and the environment. The cookie key is wrapped so it never prints.

use std::fmt;
use std::time::Duration;

use crate::notify::mail::MailSettings;

/// Where and how `mantel serve` runs.
#[derive(Clone, Debug)]
pub struct Settings {
    pub bind: String,
    pub database_url: String,
    /// `--public-url`; `None`: the address actually bound (`domain::PublicUrl::new`).
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
