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

pub use admin::AdminCaller;
pub use caller::{Caller, Credential, SessionCaller};
pub use client_ip::client_ip;
pub use permission::Need;
