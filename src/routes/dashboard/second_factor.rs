//! The second factor's pages (SPEC §3.1): the login's second step (`/login/verify`, the only
//! page a half-signed-in session may see; a code or a passkey), the passkey options of the login
//! pages, and `/settings/security` (enrol an authenticator app with a QR code drawn here as
//! SVG, confirm it, see the recovery codes once, make new ones, remove it; add and remove
//! passkeys). The operations are `ops::second_factor`'s and `ops::passkeys`'.

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
use crate::ops::passkeys;
use crate::ops::second_factor::{self as ops, Enrolment, Factor};
use crate::routes::requester;
use crate::state::AppState;

super::pages!(
    GET "/login/verify" => verify_form,
    POST "/login/verify" => verify,
    POST "/login/passkey/options" => login_passkey_options,
    GET "/settings/security" => security_page,
    POST "/settings/security/totp" => start_totp,
    POST "/settings/security/totp/confirm" => confirm_totp,
    POST "/settings/security/totp/remove" => remove_totp,
    POST "/settings/security/recovery-codes" => regenerate_codes,
    POST "/settings/security/passkeys" => add_passkey,
    POST "/settings/security/passkeys/{id}/remove" => remove_passkey,
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
    /// A passkey's answer, as JSON (filled in by `static/app.js`), in place of the code.
    #[serde(default)]
    passkey: String,
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
    let factor = match form.passkey.as_str() {
        "" => Factor::Code(&form.code),
        answer => Factor::Passkey(answer),
    };
    if ops::log_in_second_step(&state, &session, &user.id, &client, factor).await? {
        session.remove(PENDING_USER);
        session.remove(PENDING_AT);
        return start_session(&req, &session, &user, true);
    }
    let (layout, _) = anonymous(&req, &state);
    let page = VerifyPage {
        layout,
        error: Some(match factor {
            Factor::Code(_) => "That code is not right. Enter the code your authenticator app shows now, or one of your recovery codes.",
            Factor::Passkey(_) => "That passkey did not confirm it is you. Try again, or enter a code.",
        }),
    };
    page_with_status(&page, StatusCode::UNAUTHORIZED)
}

/// The options of `navigator.credentials.get` for the login pages: while half-signed-in, the
/// account's passkeys as its second factor; otherwise any passkey of this site, to sign in
/// without the password (`accounts::passkey_login`). A form post (the login pages' CSRF
/// cookie), answered in JSON for `static/app.js`.
async fn login_passkey_options(
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    Form(form): Form<CsrfOnly>,
) -> Result<HttpResponse, HtmlError> {
    state.form_csrf.check(&req, form.csrf_token.as_deref())?;
    let now = state.clock.now();
    let pending = pending_user(&session, now)?;
    if pending.is_none() {
        // Anyone may begin a sign-in, and its challenge is a new session row: counted per
        // address, so a stranger cannot fill the sessions table.
        let key = format!("ip:{}", client::ip(&req));
        let sign_ins = &state.throttles.passkey_sign_ins;
        let _ = sign_ins.attempt(&state.pool, &[key], now).await?;
    }
    let options = passkeys::login_options(&state, &session, pending.as_ref()).await?;
    Ok(HttpResponse::Ok().json(options))
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
    passkeys: Vec<PasskeyRow>,
    /// Why the passkey just added was not (its name, or its answer).
    passkey_error: Option<String>,
    passkey_name: String,
}

/// A passkey as the page lists it.
struct PasskeyRow {
    id: String,
    name: String,
    created: String,
    last_used: String,
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
    let (totp, left, keys) = db::query(&state.pool, move |conn| {
        Ok::<_, diesel::result::Error>((
            stored::find_totp(conn, &user_id)?,
            stored::recovery_codes_left(conn, &user_id)?,
            stored::passkeys_of(conn, &user_id)?,
        ))
    })
    .await?;
    let when = |at: NaiveDateTime| at.format("%b %-d, %Y, %H:%M UTC").to_string();
    let passkeys = keys
        .into_iter()
        .map(|p| PasskeyRow {
            created: when(p.created_at),
            last_used: p.last_used_at.map_or_else(|| "never".to_owned(), when),
            id: p.id,
            name: p.name.to_string(),
        })
        .collect();
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
        passkeys,
        passkey_error: None,
        passkey_name: String::new(),
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
    let flash = if !passkeys::list(&state, &by.user_id).await?.is_empty() {
        "Authenticator app removed: your passkeys remain your second factor."
    } else {
        "Authenticator app removed: signing in asks for your password alone."
    };
    user.session()
        .insert(FLASH, flash)
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

#[derive(Deserialize)]
struct NewPasskeyForm {
    #[serde(default)]
    name: String,
    /// What `navigator.credentials.create` answered, as JSON (filled in by `static/app.js`).
    #[serde(default)]
    passkey: String,
    csrf_token: Option<String>,
}

async fn add_passkey(
    user: DashboardUser,
    state: web::Data<AppState>,
    Form(form): Form<NewPasskeyForm>,
) -> Result<HttpResponse, HtmlError> {
    user.check_csrf(form.csrf_token.as_deref())?;
    let by = requester(user.request(), &user.user.id)?;
    let session = user.session();
    match passkeys::register(&state, &session, &by, &form.name, &form.passkey).await {
        Ok(passkey) => {
            let flash = format!("Passkey “{}” added.", passkey.name);
            session.insert(FLASH, flash).map_err(AppError::from)?;
            Ok(see_other(SECURITY_PAGE))
        }
        Err(AppError::Validation(mut fields)) => {
            let mut view = security_view(&user, &state, None).await?;
            view.passkey_error = fields.remove("name").or_else(|| fields.remove("passkey"));
            view.passkey_name = form.name;
            page_with_status(&view, StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(e) => Err(e.into()),
    }
}

async fn remove_passkey(
    user: DashboardUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
    FormWithFields(form, fields): FormWithFields<CsrfOnly>,
) -> Result<HttpResponse, HtmlError> {
    user.check_csrf(form.csrf_token.as_deref())?;
    let id = path.into_inner();
    let what = "Removing a passkey";
    let action = format!("/settings/security/passkeys/{id}/remove");
    let prompt = ensure_recent_password(&user, &state, what, &action, SECURITY_PAGE, &fields);
    if let Some(prompt) = prompt.await? {
        return Ok(prompt);
    }
    let by = requester(user.request(), &user.user.id)?;
    passkeys::remove(&state, &by, &id).await?;
    user.session()
        .insert(FLASH, "Passkey removed: it no longer signs in.")
        .map_err(AppError::from)?;
    Ok(see_other(SECURITY_PAGE))
}
