//! The server over HTTP, as a script, a form post or a thief would speak to it.

mod access_matrix;
mod accounts;
mod admin;
mod authentication;
mod cache_lease;
mod exact_revocation;
mod failover;
mod hardening;
mod instances;
mod leaks;
mod limits;
mod migrations;
mod narrower;
mod notifications;
mod openapi;
mod operations;
mod paging;
mod policy;
mod projects;
mod reauth;
mod rotation;
mod security_log;
mod session_cache;
mod token_activity;
mod token_cache;
mod tokens;
