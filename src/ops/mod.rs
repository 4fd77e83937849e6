//! The product's operations, each written once: both front doors (the JSON API under
//! `routes/api` and the forms under `routes/dashboard`, and any door added later) parse what
//! they were sent into domain types, call one function here, and render its outcome. A
//! function here checks the rules (re-authentication included), writes, logs the security
//! event and records the notification in one transaction; handlers never write to the database
//! or the security log themselves.

pub mod accounts;
pub mod admin;
pub mod passkeys;
pub mod projects;
pub mod second_factor;
pub mod sweep;
pub mod tokens;
pub mod trusted_ci;

use crate::db::models::security_log::Client;
use crate::domain::UserId;

/// Who asks for an operation, as every front door knows them: the signed-in account, the
/// request's address and user agent (for the security log), and whether the password was
/// entered recently (SPEC §8.5; `auth::reauth::is_recent`).
#[derive(Clone, Debug)]
pub struct Requester {
    pub user_id: UserId,
    pub client: Client,
    pub password_recent: bool,
}
