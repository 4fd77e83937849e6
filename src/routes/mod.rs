//! HTTP routes: `api/` answers JSON, `dashboard/` answers HTML, `health` answers probes.

pub mod api;
pub mod dashboard;
pub mod health;
pub mod methods;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::auth::csrf;
use crate::auth::outcome::AuthOutcome;
use crate::error::AppError;
use crate::state::AppState;
use dashboard::HtmlError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    // Before the `/api` scope, whose middleware would ask for credentials.
    cfg.configure(health::configure)
        .service(api::openapi::openapi_json)
        // Public: a leaked token's finder is not its owner (SPEC §8.4).
        .configure(api::leaks::configure)
        .configure(api::configure)
        .configure(dashboard::configure)
        .default_service(web::to(not_found));
}

fn is_api(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// An error written the way the path's clients read: JSON under `/api`, a page elsewhere.
fn error_for(path: &str, error: AppError) -> actix_web::Error {
    if is_api(path) {
        error.into()
    } else {
        HtmlError(error).into()
    }
}

/// Unknown paths. (A known path with a method it lacks is answered before routing,
/// `methods::answer`.)
async fn not_found(req: HttpRequest) -> Result<HttpResponse, actix_web::Error> {
    Err(error_for(req.path(), AppError::NotFound))
}

/// A change is answered only once no instance's token cache can still serve what it changed
/// (`db::cache_lease::settle`, PostgreSQL): after every successful unsafe request that is not a
/// bearer request — a token can change neither tokens nor users (SPEC §4), and everything that
/// can (the dashboard, the session API, leak reports) is covered without a list to forget.
pub async fn settle_changes(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let state = AppState::of(req.request()).clone();
    let settles = state.cache_lease.is_some()
        && !req.method().is_safe()
        && !req
            .headers()
            .contains_key(actix_web::http::header::AUTHORIZATION);
    let res = next.call(req).await?.map_into_boxed_body();
    if !settles || !(res.status().is_success() || res.status().is_redirection()) {
        return Ok(res);
    }
    let settled = crate::db::run(&state.pool, |conn| match conn {
        crate::db::DbConnection::Postgres(c) => {
            crate::db::cache_lease::settle(c).map_err(crate::db::DbError::from)
        }
        crate::db::DbConnection::Sqlite(_) => Ok(()),
    })
    .await;
    match settled {
        Ok(()) => Ok(res),
        // The change is made, but not known to be seen everywhere: not a success to report.
        Err(e) => {
            let (req, _) = res.into_parts();
            let error = error_for(req.path(), AppError::from(e));
            Ok(ServiceResponse::new(req, HttpResponse::from_error(error)))
        }
    }
}

/// Refuses a forged cross-site request (`auth::csrf`, layer 1) before routing, so no body is
/// read and the answer is the same whether or not the route exists.
pub async fn refuse_foreign(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let state = AppState::of(req.request());
    if let Err(e) = csrf::refuse_foreign(req.request(), &state.public_origin) {
        state.auth_outcomes.note(AuthOutcome::Csrf);
        let error = error_for(req.path(), e);
        return Ok(req.error_response(error));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}
