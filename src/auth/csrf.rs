//! CSRF defences for cookie-authenticated requests, in two layers.
//!
//! 1. Before anything else (`refuse_foreign`, run by a middleware ahead of routing and body
//!    reading): an unsafe request without an `Authorization` header is refused when the browser
//!    says it is cross-site (`Sec-Fetch-Site`) or names another origin (`Origin`).
//! 2. A secret the page carries: signed-in pages use the session's token (hidden `csrf_token`
//!    fields, `X-CSRF-Token` for the API); the login and sign-up forms, which have no session
//!    and must not create one, use a signed double-submit cookie (`FormCsrf`).
//!
//! Bearer requests need none of this: a browser never attaches them cross-site.

use actix_session::Session;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::{header, Method};
use actix_web::HttpRequest;
use rand::distributions::Alphanumeric;
use rand::{Rng, RngCore};

use crate::error::AppError;

const SESSION_KEY: &str = "csrf";
pub const HEADER: &str = "x-csrf-token";

/// This session's CSRF token, created on first use (at login, by `rotate`).
pub fn token(session: &Session) -> Result<String, AppError> {
    if let Some(token) = session.get::<String>(SESSION_KEY)? {
        return Ok(token);
    }
    let token: String = rand::rngs::OsRng
        .sample_iter(&Alphanumeric)
        .take(43)
        .map(char::from)
        .collect();
    session.insert(SESSION_KEY, &token)?;
    Ok(token)
}

/// Replaces the token, as at login, so one seen before login is useless after it.
pub fn rotate(session: &Session) -> Result<String, AppError> {
    session.remove(SESSION_KEY);
    token(session)
}

/// Compares in constant time: BLAKE3 hashes compare without early exit.
fn matches(expected: Option<&str>, submitted: Option<&str>) -> bool {
    match (expected, submitted) {
        (Some(e), Some(s)) if !e.is_empty() => {
            blake3::hash(e.as_bytes()) == blake3::hash(s.as_bytes())
        }
        _ => false,
    }
}

/// POST, PUT, PATCH, DELETE …: the methods a forged request uses to change something.
pub fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Layer 1, decided from the headers alone so that no body is read and no route is revealed
/// for a forged request.
pub fn refuse_foreign(req: &HttpRequest, public_origin: &str) -> Result<(), AppError> {
    if !is_unsafe(req.method()) || req.headers().contains_key(header::AUTHORIZATION) {
        return Ok(());
    }
    let headers = req.headers();
    let foreign_origin = headers
        .get(header::ORIGIN)
        .is_some_and(|origin| origin.as_bytes() != public_origin.as_bytes());
    if foreign_origin {
        return Err(AppError::ForeignOrigin(public_origin.to_owned()));
    }
    let cross_site = headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"));
    if cross_site {
        return Err(AppError::CsrfFailed);
    }
    Ok(())
}

/// A signed-in dashboard form post: the hidden field must match the session's token.
pub fn check_form(session: &Session, submitted: Option<&str>) -> Result<(), AppError> {
    if !matches(session.get::<String>(SESSION_KEY)?.as_deref(), submitted) {
        return Err(AppError::CsrfFailed);
    }
    Ok(())
}

/// An unsafe API request made with the session cookie: `X-CSRF-Token` must match.
pub fn check_api(req: &HttpRequest, session: &Session) -> Result<(), AppError> {
    let submitted = req.headers().get(HEADER).and_then(|v| v.to_str().ok());
    if !matches(session.get::<String>(SESSION_KEY)?.as_deref(), submitted) {
        return Err(AppError::CsrfFailed);
    }
    Ok(())
}

/// The CSRF protection of the forms shown before login. A visitor gets a cookie holding a
/// random nonce; the form carries a keyed BLAKE3 of that nonce. A forged post has neither the
/// cookie's nonce (cross-site pages cannot read it) nor a way to compute the field without
/// the server's key. Nothing is stored on the server: an anonymous page view writes nothing.
pub struct FormCsrf {
    key: [u8; 32],
    cookie_name: &'static str,
    secure: bool,
}

impl FormCsrf {
    /// `secret` is the server's cookie-sealing key material; a key for this purpose alone is
    /// derived from it.
    pub fn new(secret: &[u8], secure: bool) -> Self {
        FormCsrf {
            key: blake3::derive_key("mantel 2026-11 anonymous form csrf", secret),
            // `__Host-` makes the browser insist on Secure, Path=/ and no Domain.
            cookie_name: if secure { "__Host-mm_csrf" } else { "mm_csrf" },
            secure,
        }
    }

    fn nonce<'a>(&self, req: &'a HttpRequest) -> Option<Cookie<'a>> {
        req.cookie(self.cookie_name)
            .filter(|c| c.value().len() == 64 && hex::decode(c.value()).is_ok())
    }

    fn field_for(&self, nonce: &str) -> String {
        blake3::keyed_hash(&self.key, nonce.as_bytes())
            .to_hex()
            .to_string()
    }

    /// The form field for this visitor, and the cookie to set when they have none yet.
    pub fn issue(&self, req: &HttpRequest) -> (String, Option<Cookie<'static>>) {
        if let Some(cookie) = self.nonce(req) {
            return (self.field_for(cookie.value()), None);
        }
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let nonce = hex::encode(bytes);
        let cookie = Cookie::build(self.cookie_name, nonce.clone())
            .path("/")
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Lax)
            .finish();
        (self.field_for(&nonce), Some(cookie))
    }

    pub fn check(&self, req: &HttpRequest, submitted: Option<&str>) -> Result<(), AppError> {
        let expected = self.nonce(req).map(|c| self.field_for(c.value()));
        if !matches(expected.as_deref(), submitted) {
            return Err(AppError::CsrfFailed);
        }
        Ok(())
    }
}
