//! The second factor's pages (SPEC §3.1): the login's second step (`/login/verify`, the only
//! page a half-signed-in session may see) and `/settings/security` (enrol an authenticator app
//! with a QR code drawn here as SVG, confirm it, see the recovery codes once, make new ones,
//! remove it). The operations are `ops::second_factor`'s.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use chrono::{DateTime, Duration, NaiveDateTime};
use serde::Deserialize;

use super::accounts::{anonymous, anonymous_page, start_session};
use super::reauth::ensure_recent_password;
use super::{page, page_with_status, see_other, take_flash, Form, FormWithFields, Layout, FLASH};
use super::{CsrfOnly, DashboardUser, HtmlError};
use crate::auth::client;
use crate::auth::totp::RecoveryCode;
use crate::db;
use crate::db::models::second_factor as stored;
use crate::db::models::users::User;
use crate::domain::UserId;
use crate::error::AppError;
use crate::ops::second_factor::{self as ops, Enrolment};
use crate::routes::requester;
use crate::state::AppState;

super::pages!(
    GET "/login/verify" => verify_form,
    POST "/login/verify" => verify,
    GET "/settings/security" => security_page,
    POST "/settings/security/totp" => start_totp,
    POST "/settings/security/totp/confirm" => confirm_totp,
    POST "/settings/security/totp/remove" => remove_totp,
    POST "/settings/security/recovery-codes" => regenerate_codes,
);

/// The login's second step.
pub const VERIFY_PAGE: &str = "/login/verify";
const SECURITY_PAGE: &str = "/settings/security";

/// Session keys of the half-signed-in state: whose password was right, and when (Unix
/// seconds). The session has no `USER_ID` meanwhile, so it is nobody's to every other page
/// and to the API.
const PENDING_USER: &str = "pending_user";
const PENDING_AT: &str = "pending_at";
/// How long the second step waits (SPEC §3.1).
const PENDING_FOR: Duration = Duration::minutes(5);

/// The password of `user` was right and the account has a second factor: the session becomes
/// half-signed-in (a new id, nothing else in it) and the browser goes to the second step.
pub fn ask_for_second_factor(
    session: &Session,
    user: &User,
    now: NaiveDateTime,
) -> Result<HttpResponse, HtmlError> {
    session.clear();
    session.renew();
    session
        .insert(PENDING_USER, &user.id)
        .map_err(AppError::from)?;
    session
        .insert(PENDING_AT, now.and_utc().timestamp())
        .map_err(AppError::from)?;
    Ok(see_other(VERIFY_PAGE))
}

/// The account halfway signed in on this session, while its 5 minutes last.
pub fn pending_user(session: &Session, now: NaiveDateTime) -> Result<Option<UserId>, AppError> {
    let Some(user) = session.get::<UserId>(PENDING_USER)? else {
        return Ok(None);
    };
    let at = session
        .get::<i64>(PENDING_AT)?
        .and_then(|s| DateTime::from_timestamp(s, 0))
        .map(|t| t.naive_utc());
    Ok(at
        .filter(|at| *at <= now && now - *at < PENDING_FOR)
        .map(|_| user))
}

#[derive(Template)]
#[template(path = "accounts/verify.html")]
struct VerifyPage {
    layout: Layout,
    error: Option<&'static str>,
}

async fn verify_form(
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HtmlError> {
    if pending_user(&session, state.clock.now())?.is_none() {
        return Ok(see_other("/login"));
    }
    let (layout, cookie) = anonymous(&req, &state);
    anonymous_page(
        &VerifyPage {
            layout,
            error: None,
        },
        StatusCode::OK,
        cookie,
    )
}

#[derive(Deserialize)]
struct CodeForm {
    #[serde(default)]
    code: String,
    csrf_token: Option<String>,
}

/// The second step: a right code (or an unused recovery code) signs the session in, as the
/// password alone does for an account without a second factor; a wrong one is logged as a
/// failed login and counts against the account's allowance of codes.
async fn verify(
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    Form(form): Form<CodeForm>,
) -> Result<HttpResponse, HtmlError> {
    state.form_csrf.check(&req, form.csrf_token.as_deref())?;
    let now = state.clock.now();
    let Some(user_id) = pending_user(&session, now)? else {
        return Ok(see_other("/login"));
    };
    let lookup = user_id.clone();
    let user = db::query(&state.pool, move |conn| User::find(conn, &lookup)).await?;
    let Some(user) = user.filter(|u| u.suspended_at.is_none() && u.second_factor) else {
        session.purge();
        return Ok(see_other("/login"));
    };
    let client = client::of(&req);
    if ops::log_in_second_step(&state, &user.id, &client, &form.code).await? {
        session.remove(PENDING_USER);
        session.remove(PENDING_AT);
        return start_session(&req, &session, &user, true);
    }
    let (layout, _) = anonymous(&req, &state);
    let page = VerifyPage {
        layout,
        error: Some("That code is not right. Enter the code your authenticator app shows now, or one of your recovery codes."),
    };
    page_with_status(&page, StatusCode::UNAUTHORIZED)
}

#[derive(Template)]
#[template(path = "accounts/security.html")]
struct SecurityPage {
    layout: Layout,
    flash: Option<String>,
    enabled: bool,
    recovery_left: i64,
    /// A started enrolment, waiting for its first code.
    pending: Option<PendingView>,
    code_error: Option<&'static str>,
}

/// A pending enrolment as the page shows it.
struct PendingView {
    secret: String,
    /// The QR code of the `otpauth://` URI, as an SVG document (our own markup, no input in it
    /// but the URI, which the encoder turns into modules).
    qr_svg: String,
}

impl PendingView {
    fn of(enrolment: Enrolment) -> PendingView {
        use qrcode::render::svg;
        let qr_svg = qrcode::QrCode::new(enrolment.otpauth_uri.as_bytes())
            .map(|code| {
                code.render::<svg::Color<'_>>()
                    .min_dimensions(200, 200)
                    .quiet_zone(true)
                    .build()
            })
            .unwrap_or_default();
        // The encoder's XML declaration is not for inline SVG.
        let qr_svg = match qr_svg.find("<svg") {
            Some(start) => qr_svg[start..].to_owned(),
            None => qr_svg,
        };
        PendingView {
            secret: enrolment.secret,
            qr_svg,
        }
    }
}

async fn security_view(
    user: &DashboardUser,
    state: &AppState,
    code_error: Option<&'static str>,
) -> Result<SecurityPage, HtmlError> {
    let user_id = user.user.id.clone();
    let (totp, left) = db::query(&state.pool, move |conn| {
        Ok::<_, diesel::result::Error>((
            stored::find_totp(conn, &user_id)?,
            stored::recovery_codes_left(conn, &user_id)?,
        ))
    })
    .await?;
    let enabled = totp.as_ref().is_some_and(|t| t.confirmed);
    let pending = match totp.filter(|t| !t.confirmed) {
        Some(t) => state
            .factor_keys
            .open(&user.user.id, &t.sealed)
            .map(|secret| {
                PendingView::of(Enrolment {
                    otpauth_uri: secret.otpauth_uri(user.user.email.as_str()),
                    secret: secret.base32(),
                })
            }),
        None => None,
    };
    Ok(SecurityPage {
        layout: user.layout(),
        flash: take_flash(&user.session()),
        enabled,
        recovery_left: left,
        pending,
        code_error,
    })
}

async fn security_page(
    user: DashboardUser,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HtmlError> {
    page(&security_view(&user, &state, None).await?)
}

async fn start_totp(
    user: DashboardUser,
    state: web::Data<AppState>,
    Form(form): Form<CsrfOnly>,
) -> Result<HttpResponse, HtmlError> {
    user.check_csrf(form.csrf_token.as_deref())?;
    let by = requester(user.request(), &user.user.id)?;
    ops::start_totp(&state, &by, &user.user.email).await?;
    Ok(see_other(SECURITY_PAGE))
}

#[derive(Template)]
#[template(path = "accounts/recovery_codes.html")]
struct RecoveryCodesPage {
    layout: Layout,
    codes: Vec<String>,
    /// Just enrolled (rather than new codes for an enrolled account).
    enrolled: bool,
}

fn codes_page(
    user: &DashboardUser,
    codes: &[RecoveryCode],
    enrolled: bool,
) -> Result<HttpResponse, HtmlError> {
    page(&RecoveryCodesPage {
        layout: user.layout(),
        codes: codes.iter().map(RecoveryCode::display).collect(),
        enrolled,
    })
}

async fn confirm_totp(
    user: DashboardUser,
    state: web::Data<AppState>,
    Form(form): Form<CodeForm>,
) -> Result<HttpResponse, HtmlError> {
    user.check_csrf(form.csrf_token.as_deref())?;
    let by = requester(user.request(), &user.user.id)?;
    match ops::confirm_totp(&state, &by, &form.code).await {
        Ok(codes) => codes_page(&user, &codes, true),
        Err(AppError::Validation(fields)) if fields.contains_key("code") => {
            let error = "That code is not right. Enter the 6-digit code your app shows now.";
            let view = security_view(&user, &state, Some(error)).await?;
            page_with_status(&view, StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(e) => Err(e.into()),
    }
}

async fn remove_totp(
    user: DashboardUser,
    state: web::Data<AppState>,
    FormWithFields(form, fields): FormWithFields<CsrfOnly>,
) -> Result<HttpResponse, HtmlError> {
    user.check_csrf(form.csrf_token.as_deref())?;
    let what = "Removing your authenticator app";
    let action = "/settings/security/totp/remove";
    let prompt = ensure_recent_password(&user, &state, what, action, SECURITY_PAGE, &fields);
    if let Some(prompt) = prompt.await? {
        return Ok(prompt);
    }
    let by = requester(user.request(), &user.user.id)?;
    ops::remove_totp(&state, &by).await?;
    user.session()
        .insert(
            FLASH,
            "Authenticator app removed: signing in asks for your password alone.",
        )
        .map_err(AppError::from)?;
    Ok(see_other(SECURITY_PAGE))
}

async fn regenerate_codes(
    user: DashboardUser,
    state: web::Data<AppState>,
    FormWithFields(form, fields): FormWithFields<CsrfOnly>,
) -> Result<HttpResponse, HtmlError> {
    user.check_csrf(form.csrf_token.as_deref())?;
    let what = "Making new recovery codes";
    let action = "/settings/security/recovery-codes";
    let prompt = ensure_recent_password(&user, &state, what, action, SECURITY_PAGE, &fields);
    if let Some(prompt) = prompt.await? {
        return Ok(prompt);
    }
    let by = requester(user.request(), &user.user.id)?;
    let codes = ops::regenerate_recovery_codes(&state, &by).await?;
    codes_page(&user, &codes, false)
}
