//! HTTP routes: `api/` answers JSON, `dashboard/` answers HTML, `health` answers probes.

pub mod access;
pub mod api;
pub mod dashboard;
pub mod deadline;
pub mod health;
pub mod inventory;
pub mod methods;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest, HttpResponse};

use actix_session::SessionExt;

use crate::auth::outcome::AuthOutcome;
use crate::auth::{client, csrf, reauth};
use crate::domain::UserId;
use crate::error::AppError;
use crate::ops::Requester;
use crate::state::AppState;
use dashboard::HtmlError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    // Before the `/api` scope, whose middleware would ask for credentials.
    cfg.app_data(web::Data::new(dashboard::ApiDocument(
        api::openapi::document(),
    )))
    .configure(health::configure)
    .service(api::openapi::openapi_json)
    // Public: a leaked token's finder is not its owner (SPEC §8.4).
    .configure(api::leaks::configure)
    // Public: a CI job's OIDC token is its only credential (SPEC §8.8).
    .configure(api::trusted_ci::configure_exchange)
    .configure(api::configure)
    .configure(dashboard::configure)
    .default_service(web::to(not_found));
}

/// Who asks for an operation (`ops`), whichever door they came through: the account, the
/// request's address and user agent, and whether the session's password is recent.
pub(crate) fn requester(req: &HttpRequest, user_id: &UserId) -> Result<Requester, AppError> {
    let now = AppState::of(req).clock.now();
    Ok(Requester {
        user_id: user_id.clone(),
        client: client::of(req),
        password_recent: reauth::is_recent(&req.get_session(), now)?,
    })
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

/// actix-session answers any failure of its store with an empty 500; when the store could not
/// reach the database (restarting, its connections dropped) that is 503 `unavailable` with
/// `Retry-After` instead, like every other request that meets it (`AppError`'s `From<DbError>`).
/// Wraps the session middleware.
pub async fn session_unavailable(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let path = req.path().to_owned();
    let (res, unreached) = crate::auth::session_store::noting_unreached(next.call(req)).await;
    match res {
        Err(_) if unreached => Err(error_for(&path, crate::db::DbError::Unreachable.into())),
        res => Ok(res?.map_into_boxed_body()),
    }
}

/// A change is answered only once no instance's cache can still serve what it changed
/// (`db::cache_lease::settle`, PostgreSQL): after every successful unsafe request that is not a
/// bearer request — a token can change neither tokens nor users (SPEC §4), and everything that
/// can (the dashboard, the session API, leak reports) is covered without a list to forget —
/// and after every request whose session store wrote a session row (a login, a logout, a
/// flash message, a safe request that slid the idle expiry), whatever its method and status.
/// Wraps the session middleware, whose writes come after the handler's answer.
pub async fn settle_changes(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    use crate::db::cache_lease::Scope;
    let state = AppState::of(req.request()).clone();
    if state.cache_lease.is_none() {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let changes = !req.method().is_safe()
        && !req
            .headers()
            .contains_key(actix_web::http::header::AUTHORIZATION);
    let (res, wrote_session) = crate::auth::session_store::noting_writes(next.call(req)).await;
    let res = res?.map_into_boxed_body();
    let scope = if changes && (res.status().is_success() || res.status().is_redirection()) {
        Scope::All
    } else if wrote_session {
        Scope::Sessions
    } else {
        return Ok(res);
    };
    match crate::db::cache_lease::settled(&state.pool, scope).await {
        Ok(()) => Ok(res),
        // The change is made, but not known to be seen everywhere: not a success to report.
        Err(e) => {
            let (req, _) = res.into_parts();
            let error = error_for(req.path(), AppError::from(e));
            Ok(ServiceResponse::new(req, HttpResponse::from_error(error)))
        }
    }
}

/// Refuses a method HTTP does not define (RFC 9110 §9 and PATCH; `QUERY` and other extension
/// methods) before anything records it:
/// no route here has one, and an extension method is any token up to the head's size limit,
/// which would otherwise reach the request log and a token's activity as written. (501 is
/// what RFC 9110 suggests, but no input gets a 5xx other than 503: SPEC §5.)
pub async fn refuse_unknown_method(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    use actix_web::http::Method;
    let known = matches!(
        *req.method(),
        Method::GET
            | Method::HEAD
            | Method::POST
            | Method::PUT
            | Method::PATCH
            | Method::DELETE
            | Method::OPTIONS
            | Method::TRACE
            | Method::CONNECT
    );
    if !known {
        let path = crate::domain::token::mask_in(req.path()).into_owned();
        tracing::warn!(%path, "refused a request with an unknown method");
        // A path the server routes answers as for any method it lacks (RFC 9110 §15.5.6:
        // 405 with `Allow`, from `methods`' one table); elsewhere the request is just bad.
        let error = match methods::allow(req.path()) {
            Some(allow) => AppError::MethodNotAllowed(allow),
            None => AppError::UnknownMethod,
        };
        let error = error_for(req.path(), error);
        return Ok(req.error_response(error));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
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

/// Every JSON answer — a handler's, an extractor's refusal, any `AppError` — ends with a
/// newline, so what `curl` prints does not run into the prompt. Added here, once, because
/// `HttpResponse::json` (which all of them use) writes none. An error still on its way out
/// (an inner middleware's) gets the same treatment through the response it will become.
pub async fn end_json_with_newline(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    match next.call(req).await {
        Ok(res) => {
            let res = res.map_into_boxed_body();
            if !is_json(res.headers()) {
                return Ok(res);
            }
            Ok(res.map_body(|_, body| newline_ended(body)))
        }
        Err(error) => {
            let res = error.error_response();
            if !is_json(res.headers()) {
                return Err(error);
            }
            let res = res.map_body(|_, body| newline_ended(body));
            Err(actix_web::error::InternalError::from_response(error, res).into())
        }
    }
}

fn is_json(headers: &actix_web::http::header::HeaderMap) -> bool {
    headers
        .get(actix_web::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"))
}

fn newline_ended(body: BoxBody) -> BoxBody {
    match body.try_into_bytes() {
        Ok(bytes) if !bytes.is_empty() && !bytes.ends_with(b"\n") => {
            BoxBody::new([&bytes[..], b"\n"].concat())
        }
        Ok(bytes) => BoxBody::new(bytes),
        // A streamed body (none is JSON today) goes as it is.
        Err(body) => body,
    }
}
