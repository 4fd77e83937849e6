//! The one extractor that decides who is calling.
//!
//! An `Authorization` header decides alone: the cookie is then ignored, so a logged-in browser
//! can never widen a narrow token and a bad token never falls back to the cookie. Without the
//! header, the dashboard session cookie is the caller, with every scope; unsafe methods then
//! also need the CSRF checks. Handlers state their need in one line: `caller.require(scope)?`,
//! or they take `SessionCaller` / `DashboardUser` instead of `Caller`.
//!
//! Under `/api` the caller is decided by the `authenticate` middleware before the handler's
//! other extractors run, so a refused caller is answered before any body is read (a forged
//! or unauthenticated request never learns whether its body would have parsed).

use std::sync::Arc;

use actix_session::{Session, SessionExt};
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use chrono::NaiveDateTime;
use futures_util::future::LocalBoxFuture;

use super::{Context, Route};
use crate::auth::csrf;
use crate::auth::outcome::AuthOutcome;
use crate::auth::rate_limit::{Allowance, Refusal};
use crate::auth::session_store::{self, USER_ID};
use crate::db;
use crate::db::models::token_activity::NewRequest;
use crate::db::models::tokens::{self, TokenRow};
use crate::db::models::users::User;
use crate::domain::token::PlainToken;
use crate::domain::{cut_user_agent, RequestOutcome, RevokedReason, Scope, TokenId, UserId};
use crate::error::AppError;

#[derive(Clone, Debug)]
pub enum Credential {
    Session,
    /// The presented token's row, shared with the worker's token cache (`db::exact_cache`):
    /// a cached request copies no field of it. Whether it reaches only its chosen projects
    /// (`narrowing.restricted`) is decided in `auth::permission`, which ones only where a
    /// project is involved; where it may be used from, here, before any handler.
    Token(Arc<TokenRow>),
}

/// Who is calling, decided once per request.
#[derive(Clone, Debug)]
pub struct Caller {
    pub user: Arc<User>,
    pub credential: Credential,
}

impl Caller {
    /// A session holds every scope; a token only those it was given.
    pub fn require(&self, scope: Scope) -> Result<(), AppError> {
        match &self.credential {
            Credential::Session => Ok(()),
            Credential::Token(t) if t.scopes.contains(scope) => Ok(()),
            Credential::Token(_) => Err(AppError::InsufficientScope(scope)),
        }
    }
}

/// `Some(token)` for `Bearer <token>` (scheme case-insensitive), `None` for another scheme,
/// `InvalidRequest` for a malformed header.
fn bearer(value: &header::HeaderValue) -> Result<Option<&str>, AppError> {
    const MALFORMED: AppError = AppError::InvalidRequest("Malformed Authorization header.");
    // Visible ASCII and spaces only (0x20 to 0x7E); anything else cannot be a token or a
    // scheme. Every bearer request runs this: without an early exit the check is vectorised.
    let bytes = value.as_bytes();
    if !bytes
        .iter()
        .fold(true, |ok, &b| ok & (b.wrapping_sub(b' ') <= b'~' - b' '))
    {
        return Err(MALFORMED);
    }
    let (scheme, rest) = match bytes.iter().position(|&b| b == b' ') {
        Some(space) => (&bytes[..space], &bytes[space + 1..]),
        None => (bytes, &[][..]),
    };
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return Ok(None);
    }
    // Only spaces are left to trim: the check above admitted no other whitespace.
    let credentials = rest.trim_ascii();
    if credentials.is_empty() || credentials.contains(&b' ') {
        return Err(MALFORMED);
    }
    std::str::from_utf8(credentials)
        .map(Some)
        .map_err(|_| MALFORMED)
}

/// Why a bearer credential was refused.
enum Refused {
    /// A bad credential: answered as it is, and counted against the address.
    Bad(AuthOutcome, AppError),
    /// A good token whose hourly quota is used up.
    Limited(Refusal),
    /// The database failed: not the caller's doing, so not counted against anyone.
    Failed(AppError),
}

/// `presented` gets the token once it is identified, whatever the answer.
async fn token_caller(
    req: &HttpRequest,
    state: &Context<'_>,
    token: &str,
    presented: &mut Option<Presented>,
) -> Result<(Caller, Allowance), Refused> {
    use AuthOutcome::{Expired, Malformed, Revoked, Unknown};
    // Format and checksum first: a typo or a random guess costs no database work.
    let plain = PlainToken::parse(token)
        .map_err(|_| Refused::Bad(Malformed, AppError::InvalidToken("Malformed token.")))?;
    let hash = plain.hash();
    drop(plain);
    // From this worker's exact cache (`db::exact_cache`); on SQLite inline, on PostgreSQL
    // through the blocking pool.
    let found = if let Some(worker) = req.app_data::<std::rc::Rc<db::WorkerConnection>>() {
        worker.find_token(&hash)
    } else if let Some(leased) = req.app_data::<db::LeasedTokens>() {
        leased.find_token(state.pool, hash).await
    } else {
        db::query(state.pool, move |conn| tokens::find_by_hash(conn, &hash))
            .await
            .map(|found| found.map(tokens::shared))
    }
    .map_err(|e| Refused::Failed(e.into()))?;
    let now = state.clock.now();
    let Some((row, user)) = found else {
        return Err(Refused::Bad(
            Unknown,
            AppError::InvalidToken("Unknown token."),
        ));
    };
    // The client as `auth::client_ip` decides it: the same address everywhere.
    let ip = super::client_ip(req);
    let status = row.status(now);
    // The token is identified: whatever is answered now goes into its activity.
    *presented = Some(Presented {
        token_id: row.id.clone(),
        last_used_at: row.last_used_at,
        stopped: match (status, row.revoked_reason) {
            (tokens::TokenStatus::Active, _) => None,
            (tokens::TokenStatus::Expired, _) => Some(RequestOutcome::Expired),
            (_, Some(RevokedReason::Rotated)) => Some(RequestOutcome::Replaced),
            _ => Some(RequestOutcome::Revoked),
        },
        ip,
        at: now,
    });
    match status {
        tokens::TokenStatus::Active => {}
        tokens::TokenStatus::Revoked => {
            let reason = row.revoked_reason.unwrap_or(RevokedReason::User);
            let error = AppError::InvalidToken(reason.message());
            return Err(Refused::Bad(Revoked, error));
        }
        tokens::TokenStatus::Expired => {
            let error = AppError::InvalidToken("This token has expired.");
            return Err(Refused::Bad(Expired, error));
        }
    }
    // An admin suspended the account (SPEC §9): its owner row comes with the token, so the
    // caches stay exact — a suspension is a committed write like a revocation.
    if user.suspended_at.is_some() {
        return Err(Refused::Bad(
            AuthOutcome::Suspended,
            AppError::AccountSuspended,
        ));
    }
    // After the status (a revoked token is told so), before the quota and any handler work:
    // from elsewhere, a good token is refused as if it were a bad one.
    if !row.narrowing.allowed_ips.allows(ip) {
        let shown = ip.map_or_else(|| "an unknown address".to_owned(), |ip| ip.to_string());
        return Err(Refused::Bad(
            AuthOutcome::IpNotAllowed,
            AppError::IpNotAllowed(shown),
        ));
    }
    // After the status: a revoked token is told so, not that it is rate limited.
    let allowance = state
        .rate_limits
        .token_request(state.pool, &row.id, now)
        .await
        .map_err(|e| Refused::Failed(e.into()))?
        .map_err(Refused::Limited)?;
    let caller = Caller {
        user,
        credential: Credential::Token(row),
    };
    Ok((caller, allowance))
}

/// A `Bearer` header (`Err` when malformed): an address that keeps presenting bad ones is
/// refused before any work, and every answer carries its quota state (the token's, or for a
/// refused credential the address's).
async fn bearer_caller(
    req: &HttpRequest,
    state: &Context<'_>,
    credentials: Result<&str, AppError>,
    presented: &mut Option<Presented>,
) -> (Result<Caller, AppError>, Option<Allowance>) {
    let ip = super::client_ip(req);
    let limits = &state.rate_limits;
    if let Err(refusal) = limits.check_address(ip) {
        state.auth_outcomes.note(AuthOutcome::AddressBlocked);
        return (Err(refusal.error()), Some(refusal.allowance));
    }
    let result = match credentials {
        Ok(token) => token_caller(req, state, token, presented).await,
        Err(e) => Err(Refused::Bad(AuthOutcome::InvalidRequest, e)),
    };
    match result {
        Ok((caller, allowance)) => {
            state.auth_outcomes.note(AuthOutcome::Token);
            (Ok(caller), Some(allowance))
        }
        Err(Refused::Limited(refusal)) => {
            state.auth_outcomes.note(AuthOutcome::RateLimited);
            (Err(refusal.error()), Some(refusal.allowance))
        }
        Err(Refused::Bad(outcome, error)) => {
            state.auth_outcomes.note(outcome);
            match limits.failure(ip) {
                Ok(allowance) => (Err(error), allowance),
                Err(refusal) => (Err(refusal.error()), Some(refusal.allowance)),
            }
        }
        Err(Refused::Failed(error)) => (Err(error), None),
    }
}

/// The logged-in user of this request's session, if any.
pub async fn session_user(
    pool: &db::Pool,
    session: &Session,
) -> Result<Option<Arc<User>>, AppError> {
    let Some(user_id) = session
        .get::<String>(USER_ID)?
        .and_then(|id| UserId::parse(&id))
    else {
        return Ok(None);
    };
    // Read with the session by the store, in the same query: no second one.
    let user = match session_store::loaded_user(session, &user_id) {
        Some(user) => Some(user),
        None => db::query(pool, move |conn| User::find(conn, &user_id))
            .await?
            .map(Arc::new),
    };
    // Suspended (SPEC §9): the suspension deleted its sessions; one read before that is over.
    let user = user.filter(|u| u.suspended_at.is_none());
    if user.is_none() {
        // The account is gone: forget it rather than ask again on every request.
        session.purge();
    }
    Ok(user)
}

/// Decides the caller, and for a bearer request the quota state its response carries.
/// `presented`: as `token_caller`. (No tracing span: it cost every `/api` request some 3 000
/// instructions, a tenth of authenticating, for a label on the rare event logged inside.)
async fn resolve(
    state: &Context<'_>,
    req: HttpRequest,
    presented: &mut Option<Presented>,
) -> (Result<Caller, AppError>, Option<Allowance>) {
    let mut authorization = req.headers().get_all(header::AUTHORIZATION);
    if let Some(value) = authorization.next() {
        // Two headers name two credentials: which one decides is not ours to guess (a proxy
        // may add one of its own), so neither does.
        let parsed = match authorization.next() {
            Some(_) => Err(AppError::InvalidRequest(
                "More than one Authorization header.",
            )),
            None => bearer(value),
        };
        return match parsed {
            Ok(Some(token)) => bearer_caller(&req, state, Ok(token), presented).await,
            Err(e) => bearer_caller(&req, state, Err(e), presented).await,
            Ok(None) => {
                state.auth_outcomes.note(AuthOutcome::Unauthenticated);
                (Err(AppError::Unauthenticated), None)
            }
        };
    }
    let caller = session_caller(&req, state).await;
    let outcome = match &caller {
        Ok(_) => Some(AuthOutcome::Session),
        Err(AppError::Unauthenticated) => Some(AuthOutcome::Unauthenticated),
        Err(AppError::CsrfFailed | AppError::ForeignOrigin(_)) => Some(AuthOutcome::Csrf),
        Err(_) => None,
    };
    if let Some(outcome) = outcome {
        state.auth_outcomes.note(outcome);
    }
    (caller, None)
}

async fn session_caller(req: &HttpRequest, state: &Context<'_>) -> Result<Caller, AppError> {
    let session = req.get_session();
    let user = session_user(state.pool, &session)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    if csrf::is_unsafe(req.method()) {
        // The origin checks ran before routing (`csrf::refuse_foreign`); this is the secret.
        csrf::check_api(req, &session)?;
    }
    Ok(Caller {
        user,
        credential: Credential::Session,
    })
}

/// `Mantel-Token-Expiration`: when the presented token expires (RFC 3339, UTC).
static EXPIRATION: header::HeaderName = header::HeaderName::from_static("mantel-token-expiration");

/// The `/api` middleware: decides the caller once, before routing's extractors, and answers
/// a refusal itself. A bearer response, refused or not, carries `RateLimit-Policy` and
/// `RateLimit`.
pub async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let source = super::source(req.request());
    let state = source.auth();
    let mut presented = None;
    let (caller, allowance) = resolve(&state, req.request().clone(), &mut presented).await;
    let mut res = match caller {
        Ok(caller) => {
            let expires_at = match &caller.credential {
                Credential::Token(token) => token.expires_at,
                Credential::Session => None,
            };
            // The route's scope (SPEC §6) before routing, as the credential was: a token
            // without it is refused at the cost of a refusal without credentials and learns
            // nothing of the route (`auth::permission::Route`). The handler's own need
            // (`caller.require(scope)?`, `Need`) stays the last decision.
            let route_scope = Route::of(req.request()).and_then(|route| route.scope);
            let mut res = match route_scope.map(|scope| caller.require(scope)) {
                Some(Err(refused)) => req.error_response(refused),
                _ => {
                    req.extensions_mut().insert(caller);
                    next.call(req).await?.map_into_boxed_body()
                }
            };
            let refused = res
                .response()
                .error()
                .and_then(|e| e.as_error::<AppError>());
            if let Some(AppError::InsufficientScope(_)) = refused {
                state.auth_outcomes.note(AuthOutcome::InsufficientScope);
            }
            // SPEC §8.2: a client learns its token's end from every answer, in time to rotate.
            if let Some(at) = expires_at {
                let value = at
                    .and_utc()
                    .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
                if let Ok(value) = header::HeaderValue::try_from(value) {
                    res.headers_mut().insert(EXPIRATION.clone(), value);
                }
            }
            res
        }
        Err(e) => req.error_response(e),
    };
    if let Some(allowance) = allowance {
        allowance.write_headers(res.headers_mut());
    }
    if let Some(presented) = presented {
        let (stored, ip) = (presented.last_used_at, presented.ip);
        let record = presented.record(&res);
        // Only a request the token was allowed to make is use of it (SPEC §8.7): a refused
        // one is in its activity, never in its last use.
        if record.outcome == RequestOutcome::Ok {
            state
                .last_used
                .note(&record.token_id, stored, record.at, ip);
        }
        state.activity.push(record);
    }
    Ok(res)
}

/// The token a bearer request presented, once it is identified by its hash (working or not):
/// its activity gets a record of the answer.
struct Presented {
    token_id: TokenId,
    /// Its last use as stored, so that a busy token notes nothing new (`auth::last_used`).
    last_used_at: Option<NaiveDateTime>,
    /// Why it no longer works, if it does not.
    stopped: Option<RequestOutcome>,
    ip: Option<std::net::IpAddr>,
    /// When it was presented (the request's one reading of the clock).
    at: NaiveDateTime,
}

impl Presented {
    fn record(self, res: &ServiceResponse<BoxBody>) -> NewRequest {
        let req = res.request();
        let status = res.status();
        // Refused by an access rule, before or in the handler (a 404 for a project it may not
        // see included); any other answer, an error or not, was the token's to have.
        let refused = res
            .response()
            .error()
            .and_then(|e| e.as_error::<AppError>())
            .is_some_and(AppError::is_refusal);
        let outcome = self.stopped.unwrap_or(if refused {
            RequestOutcome::Denied
        } else {
            RequestOutcome::Ok
        });
        // The template, never the raw path: a path may hold anything, a token included.
        let route = Route::of(req).map_or("(no route)", |route| route.template);
        // A project is named only where the request was allowed: a refused one is not use of
        // it, and must not put a stranger's token on its access page.
        let project_id = (outcome == RequestOutcome::Ok && route.starts_with("/api/projects/{id}"))
            .then(|| req.match_info().get("id").map(str::to_owned))
            .flatten();
        let user_agent = req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(cut_user_agent);
        NewRequest {
            token_id: self.token_id,
            at: self.at,
            method: super::activity::method_name(req.method()),
            route,
            status: i32::from(status.as_u16()),
            ip: self.ip,
            user_agent,
            outcome,
            project_id,
            count: 1,
        }
    }
}

impl FromRequest for Caller {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        // Decided by `authenticate` under `/api`; anywhere else, decided here.
        match req.extensions_mut().remove::<Caller>() {
            Some(caller) => Box::pin(std::future::ready(Ok(caller))),
            None => {
                let req = req.clone();
                Box::pin(async move {
                    let source = super::source(&req);
                    resolve(&source.auth(), req, &mut None).await.0
                })
            }
        }
    }
}

/// Session-only routes (token management, the dashboard) refuse any `Authorization` header
/// before it is even looked at, so a leaked token can never mint or revoke tokens.
pub fn refuse_authorization(req: &HttpRequest) -> Result<(), AppError> {
    if req.headers().contains_key(header::AUTHORIZATION) {
        return Err(AppError::SessionRequired(session_only(req)));
    }
    Ok(())
}

/// What a session-only route is for, as its `session_required` message names it: the one
/// table of them, by route template (the first prefix that matches).
fn session_only(req: &HttpRequest) -> &'static str {
    const ROUTES: [(&str, &str); 8] = [
        ("/api/tokens", "Managing tokens"),
        ("/api/account", "Managing your second factor"),
        ("/api/security-log", "The security log"),
        ("/api/session", "Confirming your password"),
        (
            "/api/projects/{id}/token-policy",
            "A project's token policy",
        ),
        ("/api/projects/{id}/members", "Managing a project's members"),
        ("/api/projects", "Creating a project"),
        ("/api", "This route"),
    ];
    let route = Route::of(req).map_or(req.path(), |route| route.template);
    ROUTES
        .iter()
        .find(|(prefix, _)| {
            route
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
        .map_or("The dashboard", |(_, what)| what)
}

/// A caller that must be a dashboard session: token management. Any `Authorization` header
/// is refused before it is even looked at, so a leaked token can never mint or revoke tokens.
#[derive(Clone, Debug)]
pub struct SessionCaller(pub Caller);

impl FromRequest for SessionCaller {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            refuse_authorization(&req)?;
            Caller::extract(&req).await.map(SessionCaller)
        })
    }
}

/// Callers for the unit tests of the rules that take one.
#[cfg(test)]
impl Caller {
    fn test_user() -> User {
        User {
            id: UserId::new(),
            email: crate::domain::Email::parse("a@example.com").unwrap(),
            password_hash: String::new(),
            created_at: NaiveDateTime::default(),
            admin: false,
            suspended_at: None,
            second_factor: false,
        }
    }

    pub(crate) fn test_session() -> Caller {
        Caller {
            user: Arc::new(Caller::test_user()),
            credential: Credential::Session,
        }
    }

    pub(crate) fn test_token(scopes: &[Scope]) -> Caller {
        Caller::test_token_reaching(scopes, false)
    }

    pub(crate) fn test_restricted_token(scopes: &[Scope]) -> Caller {
        Caller::test_token_reaching(scopes, true)
    }

    fn test_token_reaching(scopes: &[Scope], restricted: bool) -> Caller {
        let user = Caller::test_user();
        let mut row = TokenRow {
            user_id: user.id.clone(),
            scopes: crate::domain::Scopes::new(scopes.to_vec()),
            ..TokenRow::for_test()
        };
        row.narrowing.restricted = restricted;
        Caller {
            user: Arc::new(user),
            credential: Credential::Token(Arc::new(row)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use header::HeaderValue;

    fn parse(v: &'static str) -> Result<Option<&'static str>, &'static str> {
        let hv: &'static HeaderValue = Box::leak(Box::new(HeaderValue::from_static(v)));
        bearer(hv).map_err(|e| e.code().as_str())
    }

    #[test]
    fn authorization_header_forms() {
        assert_eq!(parse("Bearer abc"), Ok(Some("abc")));
        assert_eq!(parse("bEaReR abc"), Ok(Some("abc")));
        assert_eq!(parse("Basic dXNlcjpwYXNz"), Ok(None));
        assert_eq!(parse("Bearer"), Err("invalid_request"));
        assert_eq!(parse("Bearer "), Err("invalid_request"));
        assert_eq!(parse("Bearer a b"), Err("invalid_request"));
        assert_eq!(parse("Bearer a\tb"), Err("invalid_request"));
        assert_eq!(parse("  Bearer  abc  "), Ok(None));
        assert_eq!(parse("Bearer  abc  "), Ok(Some("abc")));
        assert_eq!(parse("Bearer abc "), Ok(Some("abc")));
        assert_eq!(parse("Bearer a  b"), Err("invalid_request"));
        // Bytes past ASCII, in any scheme.
        let latin = HeaderValue::from_bytes(b"Basic caf\xe9").unwrap();
        assert!(matches!(bearer(&latin), Err(AppError::InvalidRequest(_))));
    }

    /// Every scope against every single-scope token, a two-scope token and a session.
    #[test]
    fn scope_matrix() {
        for granted in Scope::ALL {
            let token = Caller::test_token(&[granted]);
            for needed in Scope::ALL {
                let result = token.require(needed);
                if needed == granted {
                    assert!(result.is_ok(), "{granted} should allow {needed}");
                } else {
                    assert!(matches!(result, Err(AppError::InsufficientScope(s)) if s == needed));
                }
            }
        }
        let two = Caller::test_token(&[Scope::Publish, Scope::Messages]);
        let allowed: Vec<_> = Scope::ALL
            .into_iter()
            .filter(|s| two.require(*s).is_ok())
            .collect();
        assert_eq!(allowed, [Scope::Publish, Scope::Messages]);
        let session = Caller::test_session();
        assert!(Scope::ALL.into_iter().all(|s| session.require(s).is_ok()));
    }
}
