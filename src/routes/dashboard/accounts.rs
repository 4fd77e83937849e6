//! Sign-up, login and logout.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::{page, page_with_status, see_other, Form, Layout};
use crate::auth::password::{self, Password};
use crate::auth::session_store::USER_ID;
use crate::auth::{csrf, DashboardUser};
use crate::db::models::sessions;
use crate::db::{
    self,
    models::users::{normalize_email, User},
};
use crate::error::{AppError, HtmlError};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(home)
        .service(signup_form)
        .service(signup)
        .service(login_form)
        .service(login)
        .service(logout)
        .service(password_form)
        .service(change_password);
}

const WHERE_TO_AFTER_LOGIN: &str = "/settings/tokens";

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

fn anonymous(session: &Session) -> Result<Layout, AppError> {
    Ok(Layout {
        csrf_token: csrf::token(session)?,
        user_email: None,
    })
}

#[get("/")]
async fn home(session: Session) -> Result<HttpResponse, HtmlError> {
    let logged_in = session
        .get::<String>(USER_ID)
        .map_err(AppError::from)?
        .is_some();
    Ok(see_other(if logged_in {
        WHERE_TO_AFTER_LOGIN
    } else {
        "/login"
    }))
}

#[get("/signup")]
async fn signup_form(session: Session) -> Result<HttpResponse, HtmlError> {
    page(&SignupPage {
        layout: anonymous(&session)?,
        email: String::new(),
        email_error: None,
        password_error: None,
    })
}

#[post("/signup")]
async fn signup(
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    Form(form): Form<Credentials>,
) -> Result<HttpResponse, HtmlError> {
    csrf::check_form(&req, &session, form.csrf_token.as_deref())?;
    let email = normalize_email(&form.email);
    let password = form
        .password
        .unwrap_or_else(|| Password::new(String::new()));
    let mut page = SignupPage {
        layout: anonymous(&session)?,
        email: email.clone(),
        email_error: None,
        password_error: None,
    };
    if !plausible_email(&email) {
        page.email_error = Some("Enter an email address like name@example.com.".into());
    }
    if let Err(AppError::Validation(fields)) = password.validate_new() {
        page.password_error = fields.into_values().next();
    }
    if page.email_error.is_some() || page.password_error.is_some() {
        return page_with_status(&page, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let now = state.clock.now();
    let hash = password::hash_off_thread(password).await?;
    let created = db::run(&state.pool, move |conn| {
        User::create(conn, &email, hash, now)
    })
    .await;
    match created {
        Ok(user) => start_session(&session, &user),
        Err(AppError::Validation(fields)) => {
            page.email_error = fields.into_values().next();
            page_with_status(&page, StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(e) => Err(e.into()),
    }
}

fn plausible_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Logs `user` in: a new session id (so one planted before login is useless), a new CSRF token.
fn start_session(session: &Session, user: &User) -> Result<HttpResponse, HtmlError> {
    session.renew();
    session.insert(USER_ID, &user.id).map_err(AppError::from)?;
    csrf::rotate(session)?;
    Ok(see_other(WHERE_TO_AFTER_LOGIN))
}

#[get("/login")]
async fn login_form(session: Session) -> Result<HttpResponse, HtmlError> {
    page(&LoginPage {
        layout: anonymous(&session)?,
        email: String::new(),
        error: None,
    })
}

#[post("/login")]
async fn login(
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    Form(form): Form<Credentials>,
) -> Result<HttpResponse, HtmlError> {
    csrf::check_form(&req, &session, form.csrf_token.as_deref())?;
    let email = normalize_email(&form.email);
    let ip = req
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    let keys = [format!("email:{email}"), format!("ip:{ip}")];
    state.throttle.check(&keys, state.clock.now())?;

    let password = form
        .password
        .unwrap_or_else(|| Password::new(String::new()));
    let lookup = email.clone();
    let user = db::run(&state.pool, move |conn| {
        Ok(User::find_by_email(conn, &lookup)?)
    })
    .await?;
    // Verified for unknown emails too: same time, same answer.
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let ok = password::verify_off_thread(password, stored).await?;
    match user.filter(|_| ok) {
        Some(user) => start_session(&session, &user),
        None => {
            state.throttle.record_failure(&keys, state.clock.now());
            let page = LoginPage {
                layout: anonymous(&session)?,
                email,
                error: Some("Wrong email or password.".into()),
            };
            page_with_status(&page, StatusCode::UNAUTHORIZED)
        }
    }
}

#[derive(Deserialize)]
struct CsrfOnly {
    csrf_token: Option<String>,
}

#[post("/logout")]
async fn logout(
    user: DashboardUser,
    Form(form): Form<CsrfOnly>,
) -> Result<HttpResponse, HtmlError> {
    user.check_csrf(form.csrf_token.as_deref())?;
    user.session().purge();
    Ok(see_other("/login"))
}

#[derive(Template)]
#[template(path = "accounts/password.html")]
struct PasswordPage {
    layout: Layout,
    current_error: Option<String>,
    new_error: Option<String>,
}

#[get("/settings/password")]
async fn password_form(user: DashboardUser) -> Result<HttpResponse, HtmlError> {
    let layout = Layout {
        csrf_token: user.csrf_token.clone(),
        user_email: Some(user.user.email.clone()),
    };
    page(&PasswordPage {
        layout,
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
#[post("/settings/password")]
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
    let mut page = PasswordPage {
        layout: Layout {
            csrf_token: user.csrf_token.clone(),
            user_email: Some(user.user.email.clone()),
        },
        current_error: None,
        new_error: None,
    };
    if !password::verify_off_thread(current, Some(user.user.password_hash.clone())).await? {
        page.current_error = Some("That is not your current password.".into());
    }
    if let Err(AppError::Validation(fields)) = new.validate_new() {
        page.new_error = fields.into_values().next();
    }
    if page.current_error.is_some() || page.new_error.is_some() {
        return page_with_status(&page, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let hash = password::hash_off_thread(new).await?;
    let user_id = user.user.id.clone();
    db::run(&state.pool, move |conn| {
        db::write_transaction(conn, |conn| {
            User::set_password_hash(conn, &user_id, &hash)?;
            sessions::delete_for_user(conn, &user_id)?;
            Ok::<_, AppError>(())
        })
    })
    .await?;
    // This browser keeps going in a fresh session; the deleted ones are gone for good.
    start_session(&user.session(), &user.user)?;
    user.session()
        .insert(
            super::FLASH,
            "Password changed. Every other session was signed out.",
        )
        .map_err(AppError::from)?;
    Ok(see_other(WHERE_TO_AFTER_LOGIN))
}
