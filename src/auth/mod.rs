//! Who is calling and what they may do: the one extractor that decides the caller, the
//! permission rule, passwords, sessions, CSRF, throttles, and last-use bookkeeping.

pub mod caller;
pub mod csrf;
pub mod last_used;
pub mod password;
pub mod permission;
pub mod reveal;
pub mod session_store;
pub mod throttle;

pub use caller::{Caller, Credential, SessionCaller};
pub use permission::Need;
