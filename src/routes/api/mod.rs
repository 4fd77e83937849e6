//! The JSON API. Every handler takes its caller from `auth::Caller` (or `SessionCaller`) and
//! returns `Result<_, AppError>`, so errors have one shape.

pub mod account;
pub mod activity;
pub mod admin;
pub mod billing;
pub mod domain;
pub mod files;
pub mod leaks;
pub mod me;
pub mod openapi;
pub mod projects;
pub mod security_log;
pub mod session;
pub mod tokens;
pub mod trusted_ci;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::middleware::from_fn;
use actix_web::HttpResponse;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use chrono::{DateTime, NaiveDateTime, Utc};
use futures_util::future::LocalBoxFuture;
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::auth::{Caller, Need};
use crate::db::DbConnection;
use crate::domain::{Cursor, PageError, PageRequest, ProjectId, DEFAULT_LIMIT};
use crate::error::AppError;
use crate::state::AppState;

/// JSON request bodies are capped at 64 KiB.
pub const JSON_LIMIT: usize = 64 * 1024;

/// A resource's handlers: `configure` registers them and `Doc` documents the same list, so no
/// route is served without its entry in `/api/openapi.json` (each handler needs its
/// `#[utoipa::path]`, or this does not compile).
/// `resource!(a, b)` names them `configure` and `Doc`; `resource!(cfg, Doc2: a, b)` chooses.
macro_rules! resource {
    ($($handler:ident),+ $(,)?) => {
        $crate::routes::api::resource!(configure, Doc: $($handler),+);
    };
    ($configure:ident, $doc:ident: $($handler:ident),+ $(,)?) => {
        pub fn $configure(cfg: &mut actix_web::web::ServiceConfig) {
            $(cfg.service($handler);)+
        }

        #[derive(utoipa::OpenApi)]
        #[openapi(paths($($handler),+))]
        pub struct $doc;
    };
}
pub(crate) use resource;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api")
            .wrap(from_fn(crate::auth::caller::authenticate))
            .app_data(
                web::JsonConfig::default()
                    .limit(JSON_LIMIT)
                    .error_handler(|e, _| AppError::from(e).into()),
            )
            .app_data(web::PathConfig::default().error_handler(|_, _| AppError::NotFound.into()))
            // A scope per collection: a request is routed by one cheap prefix comparison per
            // collection, not by trying every route's pattern in turn (a pattern with an `{id}`
            // is a regular expression; measured in docs/benchmarks.md).
            .configure(me::configure)
            .service(web::scope("/session").configure(session::configure))
            .service(web::scope("/account").configure(account::configure))
            .service(web::scope("/tokens").configure(tokens::configure))
            .service(
                web::scope("/projects")
                    .configure(projects::configure)
                    .configure(activity::configure_project)
                    .configure(files::configure)
                    .configure(domain::configure)
                    .configure(trusted_ci::configure),
            )
            .configure(activity::configure)
            .service(web::scope("/billing").configure(billing::configure))
            .configure(security_log::configure)
            .service(web::scope("/admin").configure(admin::configure))
            .default_service(web::to(|| async {
                Err::<actix_web::HttpResponse, _>(AppError::NotFound)
            })),
    );
}

/// A JSON request body. SPEC §8.6: the body must say it is JSON — `application/json` or an
/// `application/…+json` type — or the answer is 415 before anything is read. (actix's own
/// check also takes `text/json`.)
pub struct Json<T>(pub T);

impl<T> std::ops::Deref for Json<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

pub(crate) fn is_json(req: &HttpRequest) -> bool {
    use actix_web::mime;
    matches!(req.mime_type(), Ok(Some(m)) if m.type_() == mime::APPLICATION
        && (m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON)))
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        if !is_json(req) {
            return Box::pin(std::future::ready(Err(
                AppError::UnsupportedMediaType.into()
            )));
        }
        let body = web::Json::<serde_json::Value>::from_request(req, payload);
        Box::pin(async move {
            // An object, as every body's schema says: serde would also read a struct from an
            // array of its fields (`[null, null]`).
            let value = body.await?.into_inner();
            if !value.is_object() {
                return Err(AppError::validation("body", "Send a JSON object.").into());
            }
            serde_json::from_value(value)
                .map(Json)
                .map_err(|e| AppError::validation("body", e.to_string()).into())
        })
    }
}

/// A page of a list (`domain::PageRequest`), read from `?limit=&cursor=`, and what the answer
/// needs to point at the next one. Documented as those two query parameters (`IntoParams`).
///
/// Extracting it never fails: a malformed `limit` or `cursor` is answered (422) only when
/// the handler asks for the page with `request`, after the caller's access was decided —
/// so a token without the list's scope is told 403, whatever it sent (SPEC §5).
pub struct Page {
    /// The page asked for; the first page when `invalid` says what is wrong with it.
    request: PageRequest,
    invalid: Option<(&'static str, String)>,
    /// This list's URL with its other query parameters, for the `Link` header.
    base: String,
}

/// A query string's parameters as sent: an empty value (`?cursor=`) is itself, not absent,
/// so it is checked like any other (the document says what each parameter may be).
pub struct QueryParams(Vec<(String, String)>);

/// A parameter sent more than once.
#[derive(Debug)]
pub struct Repeated;

impl QueryParams {
    /// `None` when the query string is not form-encoded.
    pub fn of(req: &HttpRequest) -> Option<QueryParams> {
        serde_html_form::from_str(req.query_string())
            .ok()
            .map(QueryParams)
    }

    /// The value of `key`, if sent once.
    pub fn one(&self, key: &str) -> Result<Option<&str>, Repeated> {
        let mut values = self.0.iter().filter(|(k, _)| k == key).map(|(_, v)| v);
        match (values.next(), values.next()) {
            (first, None) => Ok(first.map(String::as_str)),
            _ => Err(Repeated),
        }
    }
}

impl FromRequest for Page {
    type Error = AppError;
    type Future = std::future::Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Ok(Page::of(req)))
    }
}

impl utoipa::IntoParams for Page {
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        use crate::domain::{CURSOR_PATTERN, DEFAULT_LIMIT, MAX_LIMIT, MIN_LIMIT};
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        vec![
            ParameterBuilder::new()
                .name("limit")
                .parameter_in(ParameterIn::Query)
                .description(Some(format!(
                    "How many items a page holds: {MIN_LIMIT} to {MAX_LIMIT}, {DEFAULT_LIMIT} by \
                     default."
                )))
                .schema(Some(
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(MIN_LIMIT))
                        .maximum(Some(MAX_LIMIT))
                        .default(Some(DEFAULT_LIMIT.into())),
                ))
                .build(),
            ParameterBuilder::new()
                .name("cursor")
                .parameter_in(ParameterIn::Query)
                .description(Some(
                    "Where the page starts: copied from the previous page's `Link: <…>; \
                     rel=\"next\"` header, never built by hand (a cursor that was edited \
                     is refused with 422).",
                ))
                .schema(Some(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .pattern(Some(CURSOR_PATTERN)),
                ))
                .build(),
        ]
    }
}

impl Page {
    fn of(req: &HttpRequest) -> Page {
        let parsed = QueryParams::of(req).ok_or(PageError::Limit).and_then(|q| {
            PageRequest::parse(
                q.one("limit").map_err(|_| PageError::Limit)?,
                q.one("cursor").map_err(|_| PageError::Cursor)?,
            )
        });
        let (request, invalid) = match parsed {
            Ok(request) => (request, None),
            Err(e) => {
                let field = match e {
                    PageError::Limit => "limit",
                    PageError::Cursor => "cursor",
                };
                (
                    PageRequest::first(DEFAULT_LIMIT),
                    Some((field, e.to_string())),
                )
            }
        };
        // The other parameters (a filter, say) stay as they were sent, still encoded.
        let others: Vec<&str> = req
            .query_string()
            .split('&')
            .filter(|p| !p.is_empty() && !p.starts_with("limit=") && !p.starts_with("cursor="))
            .collect();
        let mut base = format!("{}{}?", AppState::of(req).public_origin, req.path());
        for p in others {
            base.push_str(p);
            base.push('&');
        }
        Page {
            request,
            invalid,
            base,
        }
    }

    /// The page asked for, or 422 when `limit` or `cursor` is malformed. Ask for it after the
    /// caller's access is decided (`on_project` runs its work after its checks).
    pub fn request(&self) -> Result<PageRequest, AppError> {
        match &self.invalid {
            Some((field, message)) => Err(AppError::validation(field, message.clone())),
            None => Ok(self.request.clone()),
        }
    }

    /// `PageRequest::cut` of the page asked for (rows are only read once `request` passed).
    pub fn cut<T>(
        &self,
        rows: Vec<T>,
        cursor_of: impl Fn(&T) -> Cursor,
    ) -> (Vec<T>, Option<Cursor>) {
        self.request.cut(rows, cursor_of)
    }

    /// 200 with the items as a JSON array (SPEC §8.6: the body stays an array) and, while
    /// more remain, `Link: <…>; rel="next"` (RFC 8288).
    pub fn respond<T: Serialize>(&self, items: &[T], next: Option<Cursor>) -> HttpResponse {
        self.respond_with(next).json(items)
    }

    /// A 200 that points at the next page while more remain, for a body of another type (the
    /// security log's CSV).
    pub fn respond_with(&self, next: Option<Cursor>) -> actix_web::HttpResponseBuilder {
        let mut res = HttpResponse::Ok();
        if let Some(next) = next {
            let link = format!(
                "<{}limit={}&cursor={}>; rel=\"next\"",
                self.base,
                self.request.limit,
                next.encode()
            );
            res.insert_header((header::LINK, link));
        }
        res
    }
}

pub use super::access::on_project;

/// Stored times are UTC; the API writes them as RFC 3339.
pub fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

/// A page of one of a project's lists (publishes, comments, files) answered as `J`: access to
/// the project first (`on_project`), then the page asked for (`Page::request`), read by `read`.
pub async fn project_page<R, J>(
    caller: Caller,
    state: &AppState,
    id: ProjectId,
    need: Need,
    page: Page,
    read: fn(&mut DbConnection, &ProjectId, &PageRequest) -> diesel::QueryResult<Vec<R>>,
    cursor: fn(&R) -> Cursor,
) -> Result<HttpResponse, AppError>
where
    R: Send + 'static,
    J: From<R> + Serialize,
{
    let request = page.request();
    let rows = on_project(caller, state, id, need, move |conn, id, _| {
        Ok::<_, AppError>(read(conn, id, &request?)?)
    })
    .await?;
    let (rows, next) = page.cut(rows, cursor);
    Ok(page.respond(&rows.into_iter().map(J::from).collect::<Vec<_>>(), next))
}

/// Reads the body, refusing (413) as soon as it passes the limit: a declared length that is
/// too big is refused before reading anything.
pub async fn read_limited(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<Vec<u8>, AppError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(AppError::PayloadTooLarge);
    }
    let mut body = Vec::with_capacity(declared.unwrap_or(0));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk?;
        if body.len() + chunk.len() > limit {
            return Err(AppError::PayloadTooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The body of a public route (no credentials: a leak report, a CI token exchange) as JSON:
/// the client address is counted against `throttle` first (each may cost real work), then the
/// body must say it is JSON (415), stay within `limit` bytes (413) and be JSON (400).
pub async fn public_json(
    req: &HttpRequest,
    state: &AppState,
    throttle: &crate::auth::throttle::Throttle,
    payload: web::Payload,
    limit: usize,
) -> Result<serde_json::Value, AppError> {
    let ip = crate::auth::client::ip(req);
    let _ = throttle
        .attempt(&state.pool, &[format!("ip:{ip}")], state.clock.now())
        .await?;
    if !is_json(req) {
        return Err(AppError::UnsupportedMediaType);
    }
    parse_json(&read_limited(req, payload, limit).await?)
}

/// A body read by `read_limited`, as JSON (400 `bad_json` when it is not). Not the `Json`
/// extractor: the public routes are outside the `/api` scope and its JSON settings, and a
/// signed report must be checked over its raw bytes before it is parsed. A syntax error's
/// message gives a line and column, never the text.
pub fn parse_json(body: &[u8]) -> Result<serde_json::Value, AppError> {
    serde_json::from_slice(body).map_err(|e| AppError::BadJson(format!("Malformed JSON: {e}")))
}

/// A field the body must carry.
pub fn required<'a>(field: &'static str, value: Option<&'a str>) -> Result<&'a str, AppError> {
    value.ok_or_else(|| AppError::validation(field, "This field is required."))
}
