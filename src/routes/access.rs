//! Reading a project's data, for every door that reads one (the JSON API, the project's pages):
//! the caller's standing is checked in the same connection before the read runs. A change to a
//! project is an operation of `ops`, which checks the same way on the writer.

use crate::auth::{Caller, Need};
use crate::db::{self, DbConnection};
use crate::domain::{ProjectId, UserId};
use crate::error::AppError;
use crate::state::AppState;

/// Runs `work` with a connection, the project's id and the caller's user id, once the caller
/// meets `need` on the project `id` (`Caller::with_project`: scope, then membership, then role,
/// the rule of `auth::permission`), so authorization errors come before validation errors.
/// For `work` that only reads, on the read pool.
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
        caller.with_project(conn, &id, need, work)
    })
    .await
}
