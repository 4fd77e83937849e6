//! The server-rendered dashboard: accounts and sessions, the API tokens screen, projects,
//! and an instance admin's screens (`/admin`).
//! Handlers take a `DashboardUser` (or none, before login) and return
//! `Result<_, HtmlError>`, so errors render as pages; forms carry a hidden `csrf_token`.

pub mod accounts;
mod admin;
mod api_docs;
mod error_page;
mod notifications;
pub mod projects;
mod reauth;
mod regenerate;
mod second_factor;
mod security_log;
mod time;
mod token_form;
mod token_page;
mod token_view;
pub mod tokens;
mod user;

pub use api_docs::ApiDocument;
pub use error_page::HtmlError;
pub use user::DashboardUser;

use actix_web::{dev::Payload, web, FromRequest, HttpRequest, HttpResponse};
use askama::Template;
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use crate::error::AppError;

/// A module's pages: `pages!(GET "/login" => login_form, POST "/login" => login)` registers
/// each handler for its method and path (`configure`) and lists them (`PAGES`), so the methods
/// `routes::methods` says a path takes (`Allow`) are the ones it is served with.
macro_rules! pages {
    ($($method:ident $path:literal => $handler:ident),+ $(,)?) => {
        pub const PAGES: &[(&str, &str)] = &[$((stringify!($method), $path)),+];

        pub fn configure(cfg: &mut actix_web::web::ServiceConfig) {
            $(cfg.route(
                $path,
                actix_web::web::method(actix_web::http::Method::$method).to($handler),
            );)+
        }
    };
}
pub(crate) use pages;

mod shared {
    use super::{api_docs::api_reference, script, stylesheet};
    super::pages!(
        GET "/static/app.css" => stylesheet,
        GET "/static/app.js" => script,
        GET "/docs/api" => api_reference,
    );
}

/// A module's `configure` and its `PAGES`.
type Module = (
    fn(&mut web::ServiceConfig),
    &'static [(&'static str, &'static str)],
);

/// The dashboard's modules, in the order their routes are tried (`tokens` before
/// `token_page`: `/settings/tokens/new` and `/inactive` are not token ids).
const MODULES: [Module; 10] = [
    (shared::configure, shared::PAGES),
    (accounts::configure, accounts::PAGES),
    (tokens::configure, tokens::PAGES),
    (regenerate::configure, regenerate::PAGES),
    (token_page::configure, token_page::PAGES),
    (notifications::configure, notifications::PAGES),
    (projects::configure, projects::PAGES),
    (security_log::configure, security_log::PAGES),
    (admin::configure, admin::PAGES),
    (second_factor::configure, second_factor::PAGES),
];

pub fn configure(cfg: &mut web::ServiceConfig) {
    // An id in a path that does not parse names nothing: the same page as any unknown path.
    cfg.app_data(
        web::PathConfig::default().error_handler(|_, _| HtmlError(AppError::NotFound).into()),
    );
    for (configure, _) in MODULES {
        configure(cfg);
    }
}

/// Every page's method and path (`GET`, `/login`), for `routes::methods`.
pub fn all_pages() -> impl Iterator<Item = &'static (&'static str, &'static str)> {
    MODULES.iter().flat_map(|(_, pages)| pages.iter())
}

/// The API tokens screen: where login lands and most forms return to.
pub const TOKENS_PAGE: &str = "/settings/tokens";

/// The session key of a one-time message shown on the next page (after a redirect).
pub const FLASH: &str = "flash";

/// Takes the one-time message, if there is one. Only a message that is there is removed:
/// a removal marks the session changed, and a changed session writes its row, so a page
/// view without a message would write on every request.
pub fn take_flash(session: &actix_session::Session) -> Option<String> {
    if !session.entries().contains_key(FLASH) {
        return None;
    }
    session.remove_as::<String>(FLASH).and_then(Result::ok)
}

/// What the base layout needs on every page.
pub struct Layout {
    pub csrf_token: String,
    pub user_email: Option<String>,
    /// Unread notifications, counted in the top bar.
    pub unread: i64,
    /// An instance admin: the top bar links to `/admin`.
    pub admin: bool,
}

/// Renders a page as a 200 HTML response.
pub fn page(template: &impl Template) -> Result<HttpResponse, HtmlError> {
    page_with_status(template, actix_web::http::StatusCode::OK)
}

pub fn page_with_status(
    template: &impl Template,
    status: actix_web::http::StatusCode,
) -> Result<HttpResponse, HtmlError> {
    let body = template.render().map_err(AppError::from)?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body))
}

/// `303 See Other` to `location`: where a form post lands.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("Location", location))
        .finish()
}

/// A form of a button alone: nothing but its CSRF token.
#[derive(serde::Deserialize)]
pub struct CsrfOnly {
    pub csrf_token: Option<String>,
}

/// A URL-encoded form whose repeated fields (`scopes=a&scopes=b`) fill a `Vec`.
pub struct Form<T>(pub T);

/// Forms are small; anything bigger is not one of ours.
const FORM_LIMIT: usize = 16 * 1024;

impl<T: DeserializeOwned + 'static> FromRequest for Form<T> {
    type Error = HtmlError;
    type Future = LocalBoxFuture<'static, Result<Self, HtmlError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let bytes = body.await.map_err(|_| AppError::PayloadTooLarge)?;
            if bytes.len() > FORM_LIMIT {
                return Err(AppError::PayloadTooLarge.into());
            }
            serde_html_form::from_bytes(&bytes)
                .map(Form)
                .map_err(|_| AppError::BadJson("Malformed form data.".into()).into())
        })
    }
}

/// A form, and its fields as they were sent: what a password prompt posts again to finish
/// the original action (`reauth`).
pub struct FormWithFields<T>(pub T, pub Vec<(String, String)>);

impl<T: DeserializeOwned + 'static> FromRequest for FormWithFields<T> {
    type Error = HtmlError;
    type Future = LocalBoxFuture<'static, Result<Self, HtmlError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let bytes = body.await.map_err(|_| AppError::PayloadTooLarge)?;
            if bytes.len() > FORM_LIMIT {
                return Err(AppError::PayloadTooLarge.into());
            }
            let malformed = || AppError::BadJson("Malformed form data.".into());
            let form = serde_html_form::from_bytes(&bytes).map_err(|_| malformed())?;
            let fields = serde_html_form::from_bytes(&bytes).map_err(|_| malformed())?;
            Ok(FormWithFields(form, fields))
        })
    }
}

async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(include_str!("../../../static/app.css"))
}

async fn script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(include_str!("../../../static/app.js"))
}
