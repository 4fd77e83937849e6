//! Sign-up, login and logout, the password change, and the list of signed-in sessions.

use actix_session::Session;
use actix_web::cookie::Cookie;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::time::When;
use super::{page, page_with_status, see_other, take_flash, Form, Layout, FLASH, TOKENS_PAGE};
use super::{second_factor, CsrfOnly, DashboardUser, HtmlError};
use crate::auth::password::Password;
use crate::auth::session_store::{IP, LOG_LOGIN, PUBLIC_ID, USER_AGENT, USER_ID};
use crate::auth::{client, csrf, reauth};
use crate::db;
use crate::db::models::{sessions, users::User};
use crate::domain::Email;
use crate::error::AppError;
use crate::ops::{self, accounts::Login};
use crate::routes::requester;
use crate::state::AppState;

super::pages!(
    GET "/" => home,
    GET "/signup" => signup_form,
    POST "/signup" => signup,
    GET "/login" => login_form,
    POST "/login" => login,
    POST "/login/passkey" => passkey_login,
    POST "/logout" => logout,
    GET "/settings/password" => password_form,
    POST "/settings/password" => change_password,
    GET "/settings/sessions" => sessions_page,
    POST "/settings/sessions/{id}/end" => end_session,
);

#[derive(Template)]
#[template(path = "accounts/login.html")]
struct LoginPage {
    layout: Layout,
    email: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "accounts/signup.html")]
struct SignupPage {
    layout: Layout,
    email: String,
    email_error: Option<String>,
    password_error: Option<String>,
}

#[derive(Deserialize)]
struct Credentials {
    #[serde(default)]
    email: String,
    password: Option<Password>,
    csrf_token: Option<String>,
}

/// The layout of a page shown before login. Its CSRF token lives in a cookie, not a session:
/// a visitor who is not logged in costs the server no write.
pub(super) fn anonymous(req: &HttpRequest, state: &AppState) -> (Layout, Option<Cookie<'static>>) {
    let (csrf_token, cookie) = state.form_csrf.issue(req);
    let layout = Layout {
        csrf_token,
        user_email: None,
        unread: 0,
        admin: false,
    };
    (layout, cookie)
}

/// A page before login, setting the form's CSRF cookie when the visitor has none yet.
pub(super) fn anonymous_page(
    template: &impl Template,
    status: StatusCode,
    cookie: Option<Cookie<'static>>,
) -> Result<HttpResponse, HtmlError> {
    let mut res = page_with_status(template, status)?;
    if let Some(cookie) = cookie {
        res.add_cookie(&cookie)
            .map_err(|e| AppError::Internal(e.into()))?;
    }
    Ok(res)
}

/// Where `/` leads: the tokens when signed in, the login's second step when halfway (SPEC
/// §3.1: pages lead a half-signed-in session there), else the login.
async fn home(session: Session, state: web::Data<AppState>) -> Result<HttpResponse, HtmlError> {
    let logged_in = session
        .get::<String>(USER_ID)
        .map_err(AppError::from)?
        .is_some();
    let halfway = second_factor::pending_user(&session, state.clock.now())?.is_some();
    Ok(see_other(match (logged_in, halfway) {
        (true, _) => TOKENS_PAGE,
        (false, true) => second_factor::VERIFY_PAGE,
        (false, false) => "/login",
    }))
}

async fn signup_form(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HtmlError> {
    let (layout, cookie) = anonymous(&req, &state);
    let page = SignupPage {
        layout,
        email: String::new(),
        email_error: None,
        password_error: None,
    };
    anonymous_page(&page, StatusCode::OK, cookie)
}

async fn signup(
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    Form(form): Form<Credentials>,
) -> Result<HttpResponse, HtmlError> {
    state.form_csrf.check(&req, form.csrf_token.as_deref())?;
    let password = form
        .password
        .unwrap_or_else(|| Password::new(String::new()));
    let created = ops::accounts::sign_up(&state, &client::of(&req), &form.email, password).await;
    match created {
        // The sign-up is the account's first event; its first session is not a separate login.
        Ok(user) => start_session(&req, &session, &user, false),
        Err(AppError::Validation(mut fields)) => {
            let (layout, _) = anonymous(&req, &state);
            let page = SignupPage {
                layout,
                email: Email::normalize(&form.email),
                email_error: fields.remove("email"),
                password_error: fields.remove("password"),
            };
            page_with_status(&page, StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(e) => Err(e.into()),
    }
}

/// Logs `user` in: a new session id (so one planted before login is useless), a new CSRF
/// token, what the sessions page shows of this browser, and the password just entered (it
/// counts as a re-authentication: `auth::reauth`). With `log_login`, the session store writes
/// the `login` event of the security log in the same transaction as the session itself: a
/// session that exists was logged, and a failed save logs nothing.
pub(super) fn start_session(
    req: &HttpRequest,
    session: &Session,
    user: &User,
    log_login: bool,
) -> Result<HttpResponse, HtmlError> {
    session.renew();
    if log_login {
        session.insert(LOG_LOGIN, true).map_err(AppError::from)?;
    }
    session.insert(USER_ID, &user.id).map_err(AppError::from)?;
    session
        .insert(PUBLIC_ID, uuid::Uuid::new_v4().to_string())
        .map_err(AppError::from)?;
    session
        .insert(IP, client::ip(req))
        .map_err(AppError::from)?;
    if let Some(agent) = client::user_agent(req) {
        session.insert(USER_AGENT, agent).map_err(AppError::from)?;
    }
    csrf::rotate(session)?;
    reauth::note_password(session, AppState::of(req).clock.now())?;
    Ok(see_other(TOKENS_PAGE))
}

async fn login_form(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HtmlError> {
    let (layout, cookie) = anonymous(&req, &state);
    let page = LoginPage {
        layout,
        email: String::new(),
        error: None,
    };
    anonymous_page(&page, StatusCode::OK, cookie)
}

async fn login(
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    Form(form): Form<Credentials>,
) -> Result<HttpResponse, HtmlError> {
    state.form_csrf.check(&req, form.csrf_token.as_deref())?;
    let password = form
        .password
        .unwrap_or_else(|| Password::new(String::new()));
    let login = ops::accounts::log_in(&state, &client::of(&req), &form.email, password).await?;
    let (status, error) = match login {
        Login::Welcome(user) if user.second_factor => {
            return second_factor::ask_for_second_factor(&session, &user, state.clock.now());
        }
        Login::Welcome(user) => return start_session(&req, &session, &user, true),
        Login::Suspended => (
            StatusCode::FORBIDDEN,
            "This account is suspended. Ask an administrator.",
        ),
        Login::Refused => (StatusCode::UNAUTHORIZED, "Wrong email or password."),
    };
    let (layout, _) = anonymous(&req, &state);
    let page = LoginPage {
        layout,
        email: Email::normalize(&form.email),
        error: Some(error.into()),
    };
    page_with_status(&page, status)
}

#[derive(Deserialize)]
struct PasskeyForm {
    /// What `navigator.credentials.get` answered, as JSON (filled in by `static/app.js`).
    #[serde(default)]
    passkey: String,
    csrf_token: Option<String>,
}

/// Signs in with a passkey alone (SPEC §3.1): one that verified its user stands for the
/// password and the second factor.
async fn passkey_login(
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    Form(form): Form<PasskeyForm>,
) -> Result<HttpResponse, HtmlError> {
    state.form_csrf.check(&req, form.csrf_token.as_deref())?;
    let client = client::of(&req);
    let (status, error) =
        match ops::passkeys::sign_in(&state, &session, &client, &form.passkey).await? {
            Login::Welcome(user) => return start_session(&req, &session, &user, true),
            Login::Suspended => (
                StatusCode::FORBIDDEN,
                "This account is suspended. Ask an administrator.",
            ),
            Login::Refused => (
                StatusCode::UNAUTHORIZED,
                "That passkey did not sign you in. Try again, or use your email and password.",
            ),
        };
    let (layout, _) = anonymous(&req, &state);
    let page = LoginPage {
        layout,
        email: String::new(),
        error: Some(error.into()),
    };
    page_with_status(&page, status)
}

/// Ends this session: its row is deleted in the same transaction as the `logout` event (the
/// store's own delete then finds nothing left to do).
async fn logout(
    user: DashboardUser,
    state: web::Data<AppState>,
    Form(form): Form<CsrfOnly>,
) -> Result<HttpResponse, HtmlError> {
    user.check_csrf(form.csrf_token.as_deref())?;
    let session = user.session();
    let public_id = session.get::<String>(PUBLIC_ID).map_err(AppError::from)?;
    let by = requester(user.request(), &user.user.id)?;
    ops::accounts::log_out(&state, &by, public_id).await?;
    session.purge();
    Ok(see_other("/login"))
}

#[derive(Template)]
#[template(path = "accounts/password.html")]
struct PasswordPage {
    layout: Layout,
    current_error: Option<String>,
    new_error: Option<String>,
}

async fn password_form(user: DashboardUser) -> Result<HttpResponse, HtmlError> {
    page(&PasswordPage {
        layout: user.layout(),
        current_error: None,
        new_error: None,
    })
}

#[derive(Deserialize)]
struct PasswordForm {
    current_password: Option<Password>,
    new_password: Option<Password>,
    csrf_token: Option<String>,
}

/// Changes the password and ends every other session of the account: whoever else was
/// logged in with the old password is out.
async fn change_password(
    user: DashboardUser,
    state: web::Data<AppState>,
    Form(form): Form<PasswordForm>,
) -> Result<HttpResponse, HtmlError> {
    user.check_csrf(form.csrf_token.as_deref())?;
    let empty = || Password::new(String::new());
    let (current, new) = (
        form.current_password.unwrap_or_else(empty),
        form.new_password.unwrap_or_else(empty),
    );
    let by = requester(user.request(), &user.user.id)?;
    match ops::accounts::change_password(&state, &by, current, new).await {
        Ok(()) => {}
        Err(AppError::Validation(mut fields)) => {
            let page = PasswordPage {
                layout: user.layout(),
                current_error: fields.remove("current_password"),
                new_error: fields.remove("new_password"),
            };
            return page_with_status(&page, StatusCode::UNPROCESSABLE_ENTITY);
        }
        Err(e) => return Err(e.into()),
    }
    // This browser keeps going in a fresh session (not a new login); the deleted ones are
    // gone for good.
    start_session(user.request(), &user.session(), &user.user, false)?;
    user.session()
        .insert(
            FLASH,
            "Password changed. Every other session was signed out.",
        )
        .map_err(AppError::from)?;
    Ok(see_other(TOKENS_PAGE))
}

/// One signed-in browser, as the sessions page shows it.
struct SessionView {
    id: String,
    user_agent: String,
    ip: String,
    created: When,
    last_seen: When,
    current: bool,
}

#[derive(Template)]
#[template(path = "accounts/sessions.html")]
struct SessionsPage {
    layout: Layout,
    sessions: Vec<SessionView>,
    flash: Option<String>,
}

/// ASVS 5.0 §7.5.2: see every session of the account, and end any of them.
async fn sessions_page(
    user: DashboardUser,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HtmlError> {
    let now = state.clock.now();
    let user_id = user.user.id.clone();
    let rows = db::query(&state.pool, move |conn| {
        sessions::list_live(conn, &user_id, now)
    })
    .await?;
    let session = user.session();
    let this_one = session.get::<String>(PUBLIC_ID).map_err(AppError::from)?;
    let flash = take_flash(&session);
    let sessions = rows
        .into_iter()
        .filter_map(|row| {
            let id = row.public_id?;
            Some(SessionView {
                current: this_one.as_deref() == Some(id.as_str()),
                id,
                user_agent: row.user_agent.unwrap_or_else(|| "Unknown browser".into()),
                ip: row.ip.unwrap_or_default(),
                created: When::new(row.created_at, now),
                last_seen: When::new(row.last_seen_at.unwrap_or(row.created_at), now),
            })
        })
        .collect();
    page(&SessionsPage {
        layout: user.layout(),
        sessions,
        flash,
    })
}

async fn end_session(
    user: DashboardUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
    Form(form): Form<CsrfOnly>,
) -> Result<HttpResponse, HtmlError> {
    user.check_csrf(form.csrf_token.as_deref())?;
    let by = requester(user.request(), &user.user.id)?;
    ops::accounts::end_session(&state, &by, path.into_inner()).await?;
    user.session()
        .insert(FLASH, "Session ended: that browser is signed out.")
        .map_err(AppError::from)?;
    Ok(see_other("/settings/sessions"))
}
