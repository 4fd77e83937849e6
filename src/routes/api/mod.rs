//! The JSON API. Every handler takes its caller from `auth::Caller` (or `SessionCaller`) and
//! returns `Result<_, AppError>`, so errors have one shape.

pub mod activity;
pub mod billing;
pub mod domain;
pub mod files;
pub mod me;
pub mod projects;
pub mod tokens;

use actix_web::web;
use chrono::{DateTime, NaiveDateTime, Utc};

use crate::auth::{Caller, Need};
use crate::db::{self, DbConnection};
use crate::error::AppError;
use crate::state::AppState;

/// JSON request bodies are capped at 64 KiB.
pub const JSON_LIMIT: usize = 64 * 1024;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api")
            .app_data(
                web::JsonConfig::default()
                    .limit(JSON_LIMIT)
                    .error_handler(|e, _| AppError::from(e).into()),
            )
            .app_data(web::PathConfig::default().error_handler(|_, _| AppError::NotFound.into()))
            .configure(me::configure)
            .configure(tokens::configure)
            .configure(projects::configure)
            .configure(activity::configure)
            .configure(files::configure)
            .configure(domain::configure)
            .configure(billing::configure)
            .default_service(web::to(|| async {
                Err::<web::Json<()>, _>(AppError::NotFound)
            })),
    );
}

/// Stored times are UTC; the API writes them as RFC 3339.
pub fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

/// Runs `work` with a connection, the project's id and the caller's user id, once the caller
/// meets `need` on the project `raw_id` names (scope, then membership, then role: the rule of
/// `auth::permission`). Request bodies are validated inside `work`, so authorization errors
/// come before validation errors.
pub async fn on_project<T, F>(
    caller: Caller,
    state: &AppState,
    raw_id: &str,
    need: Need,
    work: F,
) -> Result<T, AppError>
where
    F: FnOnce(&mut DbConnection, &str, &str) -> Result<T, AppError> + Send + 'static,
    T: Send + 'static,
{
    let id = project_id(raw_id)?;
    db::run(&state.pool, move |conn| {
        caller.require_on(conn, &id, need)?;
        work(conn, &id, &caller.user.id)
    })
    .await
}

/// A project id from a path: anything that is not a UUID names no project.
pub fn project_id(raw: &str) -> Result<String, AppError> {
    uuid::Uuid::parse_str(raw)
        .map(|id| id.hyphenated().to_string())
        .map_err(|_| AppError::NotFound)
}

/// A field the body must carry.
pub fn required<'a>(field: &'static str, value: Option<&'a str>) -> Result<&'a str, AppError> {
    value.ok_or_else(|| AppError::validation(field, "This field is required."))
}
