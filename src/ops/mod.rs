//! The product's operations, each written once: both front doors (the JSON API under
//! `routes/api` and the forms under `routes/dashboard`, and any door added later) parse what
//! they were sent into domain types, call one function here, and render its outcome. A
//! function here checks the rules (re-authentication included), writes, logs the security
//! event and records the notification in one transaction; handlers never write to the database
//! or the security log themselves.

pub mod accounts;
pub mod admin;
pub mod content;
pub mod notifications;
pub mod passkeys;
pub mod projects;
pub mod second_factor;
pub mod sweep;
pub mod tokens;
pub mod trusted_ci;

use crate::auth::{Caller, Need};
use crate::db::models::security_log::Client;
use crate::db::{self, DbConnection};
use crate::domain::{ProjectId, UserId};
use crate::error::AppError;
use crate::state::AppState;

/// Who asks for an operation, as every front door knows them: the signed-in account, the
/// request's address and user agent (for the security log), and whether the password was
/// entered recently (SPEC §8.5; `auth::reauth::is_recent`).
#[derive(Clone, Debug)]
pub struct Requester {
    pub user_id: UserId,
    pub client: Client,
    pub password_recent: bool,
}

/// Runs `work` on SQLite's writer (`db::write`) once `caller` meets `need` on `project`
/// (`Caller::with_project`: scope, then membership, then role), the check and the write one
/// after the other with no other write between them. What the request sent is judged inside
/// `work`, so a refusal comes before a field error, as the API has always answered.
async fn on_project_write<T, F>(
    state: &AppState,
    caller: Caller,
    project: ProjectId,
    need: Need,
    work: F,
) -> Result<T, AppError>
where
    F: FnOnce(&mut DbConnection, &ProjectId, &UserId) -> Result<T, AppError> + Send + 'static,
    T: Send + 'static,
{
    db::write(&state.pool, move |conn| {
        caller.with_project(conn, &project, need, work)
    })
    .await
}
