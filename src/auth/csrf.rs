//! CSRF defences for cookie-authenticated requests. Forms carry a hidden `csrf_token`; API
//! calls made with the session cookie send it back as `X-CSRF-Token` and must come from our
//! own origin. Bearer requests need none of this: a browser never attaches them cross-site.

use actix_session::Session;
use actix_web::HttpRequest;
use rand::distributions::Alphanumeric;
use rand::Rng;

use crate::error::AppError;

const SESSION_KEY: &str = "csrf";
pub const HEADER: &str = "x-csrf-token";

/// This session's CSRF token, created on first use (also before login, for the login form).
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
fn matches(expected: Option<String>, submitted: Option<&str>) -> bool {
    match (expected, submitted) {
        (Some(e), Some(s)) if !e.is_empty() => {
            blake3::hash(e.as_bytes()) == blake3::hash(s.as_bytes())
        }
        _ => false,
    }
}

fn cross_site(req: &HttpRequest) -> bool {
    req.headers()
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"))
}

/// A dashboard form post: the hidden field must match the session's token.
pub fn check_form(
    req: &HttpRequest,
    session: &Session,
    submitted: Option<&str>,
) -> Result<(), AppError> {
    if cross_site(req) || !matches(session.get::<String>(SESSION_KEY)?, submitted) {
        return Err(AppError::CsrfFailed);
    }
    Ok(())
}

/// An unsafe API request made with the session cookie.
pub fn check_api(
    req: &HttpRequest,
    session: &Session,
    public_origin: &str,
) -> Result<(), AppError> {
    let foreign_origin = req
        .headers()
        .get("origin")
        .is_some_and(|origin| origin.as_bytes() != public_origin.as_bytes());
    let submitted = req.headers().get(HEADER).and_then(|v| v.to_str().ok());
    if foreign_origin || cross_site(req) || !matches(session.get::<String>(SESSION_KEY)?, submitted)
    {
        return Err(AppError::CsrfFailed);
    }
    Ok(())
}
