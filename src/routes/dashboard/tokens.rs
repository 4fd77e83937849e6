//! The API tokens screen: list, create (the plaintext shown once), revoke with confirmation.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use askama::Template;
use chrono::{Duration, NaiveDateTime};
use serde::Deserialize;

use super::{page, page_with_status, see_other, Form, Layout, FLASH};
use crate::auth::{DashboardUser, Scope};
use crate::db::{
    self,
    models::tokens::{self, Expiry, NewToken, TokenRow, TokenStatus},
};
use crate::error::{AppError, HtmlError};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list)
        .service(new_form)
        .service(create)
        .service(confirm_revoke)
        .service(revoke);
}

/// An active token this close to its expiry is flagged in the list.
const EXPIRES_SOON: Duration = Duration::days(7);

fn layout(user: &DashboardUser) -> Layout {
    Layout {
        csrf_token: user.csrf_token.clone(),
        user_email: Some(user.user.email.clone()),
    }
}

/// A list row, formatted for people.
pub struct TokenView {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub scopes: Vec<&'static str>,
    pub created: String,
    pub created_exact: String,
    pub expires: String,
    pub expires_exact: String,
    pub last_used: String,
    pub last_used_exact: String,
    /// `active`, `expiring` (within 7 days), `expired` or `revoked`: the badge's class.
    pub badge: &'static str,
    pub badge_label: &'static str,
    pub revocable: bool,
}

fn exact(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// "3 hours ago", "in 11 months", "just now".
pub fn relative(t: NaiveDateTime, now: NaiveDateTime) -> String {
    let delta = t - now;
    let secs = delta.num_seconds().abs();
    let (n, unit) = match secs {
        s if s < 60 => return "just now".to_owned(),
        s if s < 3_600 => (s / 60, "minute"),
        s if s < 86_400 => (s / 3_600, "hour"),
        s if s < 30 * 86_400 => (s / 86_400, "day"),
        s if s < 365 * 86_400 => (s / (30 * 86_400), "month"),
        s => (s / (365 * 86_400), "year"),
    };
    let plural = if n == 1 { "" } else { "s" };
    if delta.num_seconds() > 0 {
        format!("in {n} {unit}{plural}")
    } else {
        format!("{n} {unit}{plural} ago")
    }
}

impl TokenView {
    fn new(row: &TokenRow, now: NaiveDateTime) -> Self {
        let status = row.status(now);
        let (badge, badge_label) = match status {
            TokenStatus::Revoked => ("revoked", "Revoked"),
            TokenStatus::Expired => ("expired", "Expired"),
            TokenStatus::Active if row.expires_at.is_some_and(|at| at - now <= EXPIRES_SOON) => {
                ("expiring", "Expires soon")
            }
            TokenStatus::Active => ("active", "Active"),
        };
        TokenView {
            id: row.id.clone(),
            name: row.name.clone(),
            prefix: row.prefix.clone(),
            scopes: row.scopes().names(),
            created: relative(row.created_at, now),
            created_exact: exact(row.created_at),
            expires: match (row.expires_at, status) {
                (None, _) => "Never".to_owned(),
                (Some(_), TokenStatus::Expired) => "Expired".to_owned(),
                (Some(at), _) => relative(at, now),
            },
            expires_exact: row.expires_at.map(exact).unwrap_or_default(),
            last_used: row
                .last_used_at
                .map_or_else(|| "Never used".to_owned(), |t| relative(t, now)),
            last_used_exact: match (&row.last_used_at, &row.last_used_ip) {
                (Some(t), Some(ip)) => format!("{} from {ip}", exact(*t)),
                (Some(t), None) => exact(*t),
                _ => String::new(),
            },
            badge,
            badge_label,
            revocable: status != TokenStatus::Revoked,
        }
    }
}

#[derive(Template)]
#[template(path = "tokens/index.html")]
struct ListPage {
    layout: Layout,
    tokens: Vec<TokenView>,
    flash: Option<String>,
    form: NewTokenForm,
}

/// The Create token form, as typed, with its errors.
pub struct NewTokenForm {
    name: String,
    scopes: Vec<String>,
    expiry: String,
    name_error: Option<String>,
    scopes_error: Option<String>,
    expiry_error: Option<String>,
    now: NaiveDateTime,
}

impl NewTokenForm {
    fn new(now: NaiveDateTime) -> Self {
        NewTokenForm {
            name: String::new(),
            scopes: Vec::new(),
            expiry: Expiry::default().as_str().to_owned(),
            name_error: None,
            scopes_error: None,
            expiry_error: None,
            now,
        }
    }

    /// Each expiry choice with the date it leads to, and whether it is selected.
    fn expiry_options(&self) -> Vec<(&'static str, String, bool)> {
        Expiry::ALL
            .into_iter()
            .map(|e| {
                let label = match e.expires_at(self.now) {
                    Some(at) => format!("{} (until {})", e.label(), at.format("%b %-d, %Y")),
                    None => "Never (not recommended)".to_owned(),
                };
                (e.as_str(), label, e.as_str() == self.expiry)
            })
            .collect()
    }

    fn all_scopes(&self) -> Vec<(&'static str, &'static str, bool)> {
        Scope::ALL
            .into_iter()
            .map(|s| {
                (
                    s.as_str(),
                    s.description(),
                    self.scopes.iter().any(|c| c == s.as_str()),
                )
            })
            .collect()
    }
}

#[derive(Template)]
#[template(path = "tokens/new.html")]
struct NewPage {
    layout: Layout,
    form: NewTokenForm,
}

#[derive(Template)]
#[template(path = "tokens/created.html")]
struct CreatedPage<'a> {
    layout: Layout,
    name: String,
    token: &'a str,
    expires: String,
}

#[derive(Template)]
#[template(path = "tokens/revoke.html")]
struct RevokePage {
    layout: Layout,
    token: TokenView,
}

#[get("/settings/tokens")]
async fn list(user: DashboardUser, state: web::Data<AppState>) -> Result<HttpResponse, HtmlError> {
    let user_id = user.user.id.clone();
    let rows = db::run(&state.pool, move |conn| Ok(tokens::list(conn, &user_id)?)).await?;
    let now = state.clock.now();
    let flash = user
        .session()
        .remove_as::<String>(FLASH)
        .and_then(Result::ok);
    page(&ListPage {
        layout: layout(&user),
        tokens: rows.iter().map(|row| TokenView::new(row, now)).collect(),
        flash,
        form: NewTokenForm::new(now),
    })
}

#[get("/settings/tokens/new")]
async fn new_form(
    user: DashboardUser,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HtmlError> {
    page(&NewPage {
        layout: layout(&user),
        form: NewTokenForm::new(state.clock.now()),
    })
}

#[derive(Deserialize)]
struct CreateForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    scopes: Vec<String>,
    expiry: Option<String>,
    csrf_token: Option<String>,
}

#[post("/settings/tokens")]
async fn create(
    user: DashboardUser,
    state: web::Data<AppState>,
    Form(form): Form<CreateForm>,
) -> Result<HttpResponse, HtmlError> {
    user.check_csrf(form.csrf_token.as_deref())?;
    let now = state.clock.now();
    let created = match NewToken::validate(&form.name, &form.scopes, form.expiry.as_deref()) {
        Ok(new) => {
            let user_id = user.user.id.clone();
            db::run(&state.pool, move |conn| {
                tokens::create(conn, &user_id, &new, now)
            })
            .await
        }
        Err(e) => Err(e),
    };
    match created {
        Ok((row, plain)) => {
            let page = CreatedPage {
                layout: layout(&user),
                expires: row.expires_at.map_or_else(
                    || "never expires".to_owned(),
                    |at| format!("expires {}", exact(at)),
                ),
                name: row.name,
                token: plain.expose(),
            };
            // The only page that shows the plaintext: nothing may cache it.
            let mut response = page_with_status(&page, StatusCode::OK)?;
            response.headers_mut().insert(
                actix_web::http::header::CACHE_CONTROL,
                actix_web::http::header::HeaderValue::from_static("no-store"),
            );
            Ok(response)
        }
        Err(AppError::Validation(mut fields)) => {
            let mut again = NewTokenForm::new(now);
            again.name_error = fields.remove("name");
            again.scopes_error = fields.remove("scopes");
            again.expiry_error = fields.remove("expiry");
            again.name = form.name;
            again.scopes = form.scopes;
            again.expiry = form.expiry.unwrap_or(again.expiry);
            page_with_status(
                &NewPage {
                    layout: layout(&user),
                    form: again,
                },
                StatusCode::UNPROCESSABLE_ENTITY,
            )
        }
        Err(e) => Err(e.into()),
    }
}

async fn find_mine(
    state: &AppState,
    user: &DashboardUser,
    id: String,
) -> Result<TokenRow, AppError> {
    let user_id = user.user.id.clone();
    let rows = db::run(&state.pool, move |conn| Ok(tokens::list(conn, &user_id)?)).await?;
    rows.into_iter()
        .find(|row| row.id == id)
        .ok_or(AppError::NotFound)
}

#[get("/settings/tokens/{id}/revoke")]
async fn confirm_revoke(
    user: DashboardUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, HtmlError> {
    let row = find_mine(&state, &user, id.into_inner()).await?;
    let token = TokenView::new(&row, state.clock.now());
    page(&RevokePage {
        layout: layout(&user),
        token,
    })
}

#[derive(Deserialize)]
struct RevokeForm {
    csrf_token: Option<String>,
}

#[post("/settings/tokens/{id}/revoke")]
async fn revoke(
    user: DashboardUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    Form(form): Form<RevokeForm>,
) -> Result<HttpResponse, HtmlError> {
    user.check_csrf(form.csrf_token.as_deref())?;
    let now = state.clock.now();
    let user_id = user.user.id.clone();
    let row = db::run(&state.pool, move |conn| {
        tokens::revoke(conn, &user_id, &id, now)
    })
    .await?;
    let message = format!(
        "Revoked “{}”. Any client still using it now gets 401.",
        row.name
    );
    user.session()
        .insert(FLASH, message)
        .map_err(AppError::from)?;
    Ok(see_other("/settings/tokens"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_times() {
        let now =
            NaiveDateTime::parse_from_str("2026-11-28 12:00:00", "%Y-%m-%d %H:%M:%S").unwrap();
        assert_eq!(relative(now - Duration::seconds(5), now), "just now");
        assert_eq!(relative(now - Duration::hours(3), now), "3 hours ago");
        assert_eq!(relative(now + Duration::days(334), now), "in 11 months");
        assert_eq!(relative(now - Duration::minutes(1), now), "1 minute ago");
        assert_eq!(relative(now + Duration::days(800), now), "in 2 years");
    }
}
