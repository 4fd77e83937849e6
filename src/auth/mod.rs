//! Who is calling and what they may do: the one extractor that decides the caller, the
//! permission rule, passwords, sessions, CSRF, throttles and rate limits, last-use
//! bookkeeping, and the count of how authentication turned out.

pub mod activity;
pub mod admin;
pub mod caller;
pub mod client;
pub mod client_ip;
pub mod csrf;
pub mod last_used;
pub mod oidc;
pub mod outcome;
pub mod partner_keys;
pub mod password;
pub mod permission;
pub mod rate_limit;
pub mod reauth;
pub mod reveal;
pub mod session_store;
pub mod throttle;
pub mod totp;
pub mod webauthn;

pub use admin::AdminCaller;
pub use caller::{Caller, Credential, SessionCaller};
pub use client_ip::client_ip;
pub use permission::{Need, Route};

/// What the caller's extractor and middleware and the password re-check use of the app's
/// shared state, borrowed from it: `state` holds auth's pieces, so auth is handed these rather
/// than importing it (the layer rule, `tests/integration/layers.rs`).
pub struct Context<'a> {
    pub pool: &'a crate::db::Pool,
    pub clock: &'a crate::clock::Clock,
    pub throttles: &'a throttle::Throttles,
    pub hashing: &'a password::Hashing,
    pub rate_limits: &'a rate_limit::RateLimits,
    pub auth_outcomes: &'a outcome::AuthOutcomes,
    pub activity: &'a activity::Activity,
    pub last_used: &'a last_used::LastUsed,
}

/// Where a request's `Context` comes from: the app's state, registered by `startup` as
/// `web::Data<dyn Source>` beside itself.
pub trait Source: Send + Sync + 'static {
    fn auth(&self) -> Context<'_>;
}

/// The `Source` of the app serving `req`.
pub fn source(req: &actix_web::HttpRequest) -> actix_web::web::Data<dyn Source> {
    req.app_data::<actix_web::web::Data<dyn Source>>()
        .expect("the auth source is registered by startup")
        .clone()
}
