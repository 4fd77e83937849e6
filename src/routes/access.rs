//! Reading a project's data, for every door that reads one (the JSON API, the project's pages):
//! the caller's standing is checked in the same connection before the read runs. A change to a
//! project is an operation of `ops`, which checks the same way on the writer.

use crate::auth::{Caller, Need};
use crate::db::{self, DbConnection};
use crate::domain::{ProjectId, UserId};
use crate::error::AppError;
use crate::state::AppState;

/// Runs `work` with a connection, the project's id and the caller's user id, once the caller
/// meets `need` on the project `id` (scope, then membership, then role: the rule of
/// `auth::permission`). What the request asks is judged inside `work`, so authorization errors
/// come before validation errors. For `work` that only reads.
pub async fn on_project<T, E, F>(
    caller: Caller,
    state: &AppState,
    id: ProjectId,
    need: Need,
    work: F,
) -> Result<T, AppError>
where
    F: FnOnce(&mut DbConnection, &ProjectId, &UserId) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: 'static,
    AppError: From<E>,
{
    db::run(&state.pool, move |conn| {
        caller.require_on(conn, &id, need)?;
        Ok(work(conn, &id, &caller.user.id)?)
    })
    .await
}
