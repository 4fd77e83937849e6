//! Access to a project for work on it, for every door that works on one (the JSON API, the
//! project's settings page): the caller's standing is checked in the same connection, on
//! SQLite's writer for a write, before the work runs.

use crate::auth::{Caller, Need};
use crate::db::{self, DbConnection};
use crate::domain::{ProjectId, UserId};
use crate::error::AppError;
use crate::state::AppState;

/// Runs `work` with a connection, the project's id and the caller's user id, once the caller
/// meets `need` on the project `id` (scope, then membership, then role: the rule of
/// `auth::permission`). Request bodies are validated inside `work`, so authorization errors
/// come before validation errors. For `work` that only reads; `on_project_write` for writes.
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
    db::run(&state.pool, checked(caller, id, need, work)).await
}

/// `on_project` for `work` that writes: the check and the write run on SQLite's writer
/// (`db::write`), one after the other with no other write between them.
pub async fn on_project_write<T, E, F>(
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
    db::write(&state.pool, checked(caller, id, need, work)).await
}

fn checked<T, E, F>(
    caller: Caller,
    id: ProjectId,
    need: Need,
    work: F,
) -> impl FnOnce(&mut DbConnection) -> Result<T, AppError> + Send + 'static
where
    F: FnOnce(&mut DbConnection, &ProjectId, &UserId) -> Result<T, E> + Send + 'static,
    T: 'static,
    E: 'static,
    AppError: From<E>,
{
    move |conn| {
        caller.require_on(conn, &id, need)?;
        Ok(work(conn, &id, &caller.user.id)?)
    }
}
