//! Who is calling and what they may do: token format and hashing, scopes, passwords,
//! sessions, CSRF, and the one extractor that decides the caller.

pub mod caller;
pub mod csrf;
pub mod last_used;
pub mod password;
pub mod permission;
pub mod reveal;
pub mod session_store;
pub mod throttle;
pub mod token;

pub use caller::{Caller, Credential, SessionCaller};
pub use permission::Need;
