//! The API tokens screen: list, create (the plaintext shown once), revoke with confirmation.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use askama::Template;
use chrono::{Duration, NaiveDateTime};
use serde::Deserialize;

use super::{
    page, page_with_status, see_other, DashboardUser, Form, HtmlError, Layout, FLASH, TOKENS_PAGE,
};
use crate::auth::client;
use crate::db::models::security_log;
use crate::db::{
    self,
    models::leaks::{self, LeakReport},
    models::tokens::{self, NewToken, TokenRow, TokenStatus, Which},
    models::WriteError,
};
use crate::domain::{
    Expiry, LeakSource, PageRequest, RevokedReason, Scope, Scopes, TokenId, TokenName,
};
use crate::error::AppError;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list)
        .service(inactive_page)
        .service(new_form)
        .service(create)
        .service(reveal)
        .service(regenerate_form)
        .service(regenerate)
        .service(confirm_revoke)
        .service(revoke);
}

/// An active token this close to its expiry is flagged in the list.
const EXPIRES_SOON: Duration = Duration::days(7);

/// A moment as the list shows it: relative for reading, exact on hover, ISO for machines.
pub struct When {
    pub text: String,
    pub exact: String,
    pub iso: String,
}

impl When {
    pub fn new(t: NaiveDateTime, now: NaiveDateTime) -> When {
        When {
            text: relative(t, now),
            exact: exact(t),
            iso: t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        }
    }
}

/// A list row, formatted for people.
pub struct TokenView {
    pub id: TokenId,
    pub name: TokenName,
    pub prefix: String,
    pub scopes: Scopes,
    pub created: When,
    /// None: the token never expires.
    pub expires: Option<When>,
    pub last_used: Option<When>,
    pub last_used_ip: String,
    /// When it stopped working, once it has.
    pub revoked: Option<When>,
    /// When a replaced token's grace ends, while it lasts.
    pub grace_ends: Option<When>,
    /// `active`, `expiring` (within 7 days, or replaced and in its grace), `expired` or
    /// `revoked`: the badge's class.
    pub badge: &'static str,
    pub badge_label: &'static str,
    pub revocable: bool,
    /// Working and not yet replaced: it can be regenerated.
    pub regenerable: bool,
    /// The display prefixes of the token this one replaced, and of its replacement.
    pub replaces: Option<String>,
    pub replaced_by: Option<String>,
    /// For a token revoked because it was reported public: where it was found.
    pub leak: Option<LeakNote>,
}

/// What the owner of a token reported public is shown: "found in a public commit:
/// <url> (reported by GitHub secret scanning)".
pub struct LeakNote {
    pub place: &'static str,
    pub url: Option<String>,
    pub by: &'static str,
}

impl LeakNote {
    fn new(report: &LeakReport) -> Self {
        LeakNote {
            place: LeakSource::place(report.source.as_deref()),
            url: report.url.clone(),
            by: report.channel.label(),
        }
    }
}

/// The ids of the rows revoked because they were reported public: those with a report to show.
pub(super) fn reported(rows: &[TokenRow]) -> Vec<TokenId> {
    rows.iter()
        .filter(|r| r.revoked_reason == Some(RevokedReason::ReportedPublic))
        .map(|r| r.id.clone())
        .collect()
}

/// The other token of a rotation, as the list names it.
fn label(prefixes: &HashMap<&TokenId, &str>, id: &TokenId) -> String {
    prefixes
        .get(id)
        .map_or_else(|| "another token".to_owned(), |p| format!("{p}…"))
}

fn exact(t: NaiveDateTime) -> String {
    t.format("%b %-d, %Y, %H:%M UTC").to_string()
}

/// "3 hours ago", "in 11 months", "just now". Minutes and hours count whole units passed;
/// days and longer round to the nearest, so a 1-year token reads "in 1 year", not "in 12 months".
pub fn relative(t: NaiveDateTime, now: NaiveDateTime) -> String {
    let delta = (t - now).num_seconds();
    let secs = delta.abs();
    let days = secs as f64 / 86_400.0;
    let (n, unit) = match secs {
        s if s < 60 => return "just now".to_owned(),
        s if s < 3_600 => (s / 60, "minute"),
        s if s < 86_400 => (s / 3_600, "hour"),
        _ if days.round() < 28.0 => (days.round() as i64, "day"),
        _ if (days / 30.44).round() < 12.0 => ((days / 30.44).round() as i64, "month"),
        _ => ((days / 365.25).round().max(1.0) as i64, "year"),
    };
    let plural = if n == 1 { "" } else { "s" };
    if delta > 0 {
        format!("in {n} {unit}{plural}")
    } else {
        format!("{n} {unit}{plural} ago")
    }
}

impl TokenView {
    pub(super) fn new(row: &TokenRow, now: NaiveDateTime) -> Self {
        TokenView::linked(row, now, &HashMap::new())
    }

    /// A row whose rotation links name the other token by its prefix, when `prefixes` (the
    /// rows shown with it) holds it.
    fn linked(row: &TokenRow, now: NaiveDateTime, prefixes: &HashMap<&TokenId, &str>) -> Self {
        let status = row.status(now);
        let in_grace = status == TokenStatus::Active && row.revoked_at.is_some();
        let (badge, badge_label) = match status {
            TokenStatus::Revoked => match row.revoked_reason {
                Some(RevokedReason::Rotated) => ("revoked", "Replaced"),
                Some(RevokedReason::ReportedPublic) => ("revoked", "Revoked: reported public"),
                Some(RevokedReason::Inactive) => ("revoked", "Revoked: unused for a year"),
                _ => ("revoked", "Revoked"),
            },
            TokenStatus::Expired => ("expired", "Expired"),
            TokenStatus::Active if in_grace => ("expiring", "Replaced, in grace"),
            TokenStatus::Active if row.expires_at.is_some_and(|at| at - now <= EXPIRES_SOON) => {
                ("expiring", "Expires soon")
            }
            TokenStatus::Active => ("active", "Active"),
        };
        TokenView {
            id: row.id.clone(),
            name: row.name.clone(),
            prefix: row.prefix.clone(),
            scopes: row.scopes.clone(),
            created: When::new(row.created_at, now),
            expires: row.expires_at.map(|t| When::new(t, now)),
            last_used: row.last_used_at.map(|t| When::new(t, now)),
            last_used_ip: row.last_used_ip.clone().unwrap_or_default(),
            revoked: row
                .revoked_at
                .filter(|_| !in_grace)
                .map(|t| When::new(t, now)),
            grace_ends: row
                .revoked_at
                .filter(|_| in_grace)
                .map(|t| When::new(t, now)),
            badge,
            badge_label,
            revocable: status != TokenStatus::Revoked,
            regenerable: status == TokenStatus::Active && row.replaced_by.is_none(),
            replaces: row.rotated_from.as_ref().map(|id| label(prefixes, id)),
            replaced_by: row.replaced_by.as_ref().map(|id| label(prefixes, id)),
            leak: None,
        }
    }

    /// The row with the report that revoked it, if `reports` has one.
    pub(super) fn with_leak(mut self, reports: &HashMap<TokenId, LeakReport>) -> Self {
        self.leak = reports.get(&self.id).map(LeakNote::new);
        self
    }

    pub(super) fn is_expired(&self) -> bool {
        self.badge == "expired"
    }
}

#[derive(Template)]
#[template(path = "tokens/index.html")]
struct ListPage {
    layout: Layout,
    /// Active tokens, all of them.
    tokens: Vec<TokenView>,
    inactive: Vec<TokenView>,
    /// The cursor of the inactive page after those shown.
    more_inactive: Option<String>,
    /// Working tokens that expire within 7 days and have no replacement yet: the banner.
    expiring: Vec<TokenView>,
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

    /// Each expiry choice, labelled with the date it leads to, and whether it is selected.
    fn expiry_options(&self) -> Vec<(&'static str, String, bool)> {
        Expiry::ALL
            .into_iter()
            .map(|e| {
                let label = match e.expires_at(self.now) {
                    Some(at) => format!("{} ({})", e.label(), at.format("%b %-d, %Y")),
                    None => "Never".to_owned(),
                };
                (e.as_str(), label, e.as_str() == self.expiry)
            })
            .collect()
    }

    /// The sentence under the select for each choice; only the selected one is shown
    /// (app.js switches them). `None` is the choice that never expires: a warning instead.
    fn expiry_notes(&self) -> Vec<(&'static str, Option<String>, bool)> {
        Expiry::ALL
            .into_iter()
            .map(|e| {
                let note = e.expires_at(self.now).map(|at| {
                    at.format("The token will expire on %A, %B %-d, %Y at %H:%M UTC.")
                        .to_string()
                });
                (e.as_str(), note, e.as_str() == self.expiry)
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

    /// The problems, in the order of the fields, with the id of the field to jump to.
    fn errors(&self) -> Vec<(&'static str, &str)> {
        [
            ("token-name", &self.name_error),
            ("scope-publish", &self.scopes_error),
            ("token-expiry", &self.expiry_error),
        ]
        .into_iter()
        .filter_map(|(id, e)| e.as_deref().map(|e| (id, e)))
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
    name: TokenName,
    /// `None` once it has been shown (a reload, Back, a second tab): it is gone for good.
    token: Option<&'a str>,
    scopes: Scopes,
    expires: String,
    origin: &'a str,
}

#[derive(Template)]
#[template(path = "tokens/revoke.html")]
struct RevokePage {
    layout: Layout,
    token: TokenView,
}

#[get("/settings/tokens")]
async fn list(user: DashboardUser, state: web::Data<AppState>) -> Result<HttpResponse, HtmlError> {
    let (user_id, now) = (user.user.id.clone(), state.clock.now());
    // Every active token (at most 100: the cap), and the latest inactive ones.
    let latest = PageRequest::first(INACTIVE_ON_LIST);
    let read = latest.clone();
    let (active, inactive, reports) = db::query(&state.pool, move |conn| {
        let all = PageRequest::first(tokens::MAX_LIVE_TOKENS);
        let active = tokens::list(conn, &user_id, Which::Active(now), &all)?;
        let inactive = tokens::list(conn, &user_id, Which::Inactive(now), &read)?;
        let reports = leaks::reports_for(conn, reported(&inactive))?;
        Ok((active, inactive, reports))
    })
    .await?;
    let (inactive, more) = latest.cut(inactive, TokenRow::cursor);
    let prefixes: HashMap<&TokenId, &str> = active
        .iter()
        .chain(&inactive)
        .map(|row| (&row.id, row.prefix.as_str()))
        .collect();
    let view = |row: &TokenRow| TokenView::linked(row, now, &prefixes).with_leak(&reports);
    let flash = user
        .session()
        .remove_as::<String>(FLASH)
        .and_then(Result::ok);
    page(&ListPage {
        layout: user.layout(),
        expiring: active
            .iter()
            .map(view)
            .filter(|t| t.badge == "expiring" && t.regenerable)
            .collect(),
        tokens: active.iter().map(view).collect(),
        inactive: inactive.iter().map(view).collect(),
        more_inactive: more.map(|c| c.encode()),
        flash,
        form: NewTokenForm::new(now),
    })
}

/// Revoked and expired tokens shown under the active ones; the rest are a click away.
const INACTIVE_ON_LIST: i64 = 10;
/// Rows on each page of `/settings/tokens/inactive`.
const INACTIVE_PER_PAGE: i64 = 50;

#[derive(Template)]
#[template(path = "tokens/inactive.html")]
struct InactivePage {
    layout: Layout,
    tokens: Vec<TokenView>,
    more: Option<String>,
}

#[derive(Deserialize)]
struct InactiveQuery {
    cursor: Option<String>,
}

#[get("/settings/tokens/inactive")]
async fn inactive_page(
    user: DashboardUser,
    state: web::Data<AppState>,
    query: web::Query<InactiveQuery>,
) -> Result<HttpResponse, HtmlError> {
    let limit = INACTIVE_PER_PAGE.to_string();
    let request = PageRequest::parse(Some(&limit), query.cursor.as_deref())
        .map_err(|e| AppError::validation("cursor", e.to_string()))?;
    let (user_id, now, read) = (user.user.id.clone(), state.clock.now(), request.clone());
    let (rows, reports) = db::query(&state.pool, move |conn| {
        let rows = tokens::list(conn, &user_id, Which::Inactive(now), &read)?;
        let reports = leaks::reports_for(conn, reported(&rows))?;
        Ok((rows, reports))
    })
    .await?;
    let (rows, more) = request.cut(rows, TokenRow::cursor);
    page(&InactivePage {
        layout: user.layout(),
        tokens: rows
            .iter()
            .map(|row| TokenView::new(row, now).with_leak(&reports))
            .collect(),
        more: more.map(|c| c.encode()),
    })
}

#[get("/settings/tokens/new")]
async fn new_form(
    user: DashboardUser,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HtmlError> {
    page(&NewPage {
        layout: user.layout(),
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
            let (user_id, notifier) = (user.user.id.clone(), state.notifier.clone());
            let client = client::of(user.request());
            db::run(&state.pool, move |conn| {
                Ok(notifier.issue(conn, now, |conn| {
                    security_log::issued(conn, &client, now, |conn| {
                        tokens::create(conn, &user_id, &new, now)
                    })
                })?)
            })
            .await
        }
        Err(fields) => Err(AppError::Validation(fields)),
    };
    match created {
        // Post/redirect/get: a reload of the reveal page is a harmless GET, never a second
        // POST that would fail on the now-taken name. The plaintext waits in memory only.
        Ok((row, plain)) => {
            state.reveals.hold(&user.user.id, &row.id, plain);
            Ok(see_other(&format!("{TOKENS_PAGE}/{}/created", row.id)))
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
                    layout: user.layout(),
                    form: again,
                },
                StatusCode::UNPROCESSABLE_ENTITY,
            )
        }
        Err(e) => Err(e.into()),
    }
}

/// The reveal page: the plaintext on the first view, and only then.
#[get("/settings/tokens/{id}/created")]
async fn reveal(
    user: DashboardUser,
    state: web::Data<AppState>,
    id: web::Path<TokenId>,
) -> Result<HttpResponse, HtmlError> {
    let row = find_mine(&state, &user, id.into_inner()).await?;
    let plain = state.reveals.take(&user.user.id, &row.id);
    let created = CreatedPage {
        layout: user.layout(),
        scopes: row.scopes,
        expires: row.expires_at.map_or_else(|| "Never".to_owned(), exact),
        name: row.name,
        token: plain.as_ref().map(|p| p.expose()),
        origin: &state.public_origin,
    };
    // The only page that shows the plaintext; like every answer it is `no-store`, so a later
    // view must come back here to find it gone.
    page(&created)
}

async fn find_mine(
    state: &AppState,
    user: &DashboardUser,
    id: TokenId,
) -> Result<TokenRow, AppError> {
    let user_id = user.user.id.clone();
    Ok(db::query(&state.pool, move |conn| {
        tokens::find_mine(conn, &user_id, &id)
    })
    .await?)
}

#[get("/settings/tokens/{id}/revoke")]
async fn confirm_revoke(
    user: DashboardUser,
    state: web::Data<AppState>,
    id: web::Path<TokenId>,
) -> Result<HttpResponse, HtmlError> {
    let row = find_mine(&state, &user, id.into_inner()).await?;
    let token = TokenView::new(&row, state.clock.now());
    // Nothing left to confirm: the list says it is revoked.
    if !token.revocable {
        return Ok(see_other(TOKENS_PAGE));
    }
    page(&RevokePage {
        layout: user.layout(),
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
    id: web::Path<TokenId>,
    Form(form): Form<RevokeForm>,
) -> Result<HttpResponse, HtmlError> {
    user.check_csrf(form.csrf_token.as_deref())?;
    let now = state.clock.now();
    let (user_id, client) = (user.user.id.clone(), client::of(user.request()));
    let row = db::query(&state.pool, move |conn| {
        security_log::revoke_token(conn, &user_id, &id, &client, now)
    })
    .await?;
    let message = format!(
        "Revoked “{}”. Any client still using it now gets 401.",
        row.name
    );
    user.session()
        .insert(FLASH, message)
        .map_err(AppError::from)?;
    Ok(see_other(TOKENS_PAGE))
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
        assert_eq!(
            relative(now + Duration::days(365) - Duration::seconds(3), now),
            "in 1 year"
        );
        assert_eq!(relative(now + Duration::days(181), now), "in 6 months");
        assert_eq!(relative(now + Duration::days(30), now), "in 1 month");
        assert_eq!(
            relative(now + Duration::days(5) - Duration::seconds(3), now),
            "in 5 days"
        );
    }
}

#[derive(Template)]
#[template(path = "tokens/regenerate.html")]
struct RegeneratePage {
    layout: Layout,
    token: TokenView,
    form: NewTokenForm,
    graces: [(i64, &'static str); 3],
    error: Option<String>,
}

/// The grace choices of the Regenerate page, in seconds.
const GRACES: [(i64, &str); 3] = [
    (0, "No longer: it stops now"),
    (3_600, "For 1 hour"),
    (86_400, "For 24 hours"),
];

async fn regenerate_page(
    user: &DashboardUser,
    state: &AppState,
    id: TokenId,
    error: Option<String>,
) -> Result<RegeneratePage, AppError> {
    let row = find_mine(state, user, id).await?;
    let now = state.clock.now();
    let mut form = NewTokenForm::new(now);
    // The expiry chosen last time is chosen again unless changed.
    form.expiry = row.expiry.unwrap_or_default().as_str().to_owned();
    Ok(RegeneratePage {
        layout: user.layout(),
        token: TokenView::new(&row, now),
        form,
        graces: GRACES,
        error,
    })
}

#[get("/settings/tokens/{id}/regenerate")]
async fn regenerate_form(
    user: DashboardUser,
    state: web::Data<AppState>,
    id: web::Path<TokenId>,
) -> Result<HttpResponse, HtmlError> {
    let regen = regenerate_page(&user, &state, id.into_inner(), None).await?;
    if !regen.token.regenerable {
        return Ok(see_other(TOKENS_PAGE));
    }
    page(&regen)
}

#[derive(Deserialize)]
struct RegenerateForm {
    expiry: Option<String>,
    grace: Option<i64>,
    csrf_token: Option<String>,
}

#[post("/settings/tokens/{id}/regenerate")]
async fn regenerate(
    user: DashboardUser,
    state: web::Data<AppState>,
    id: web::Path<TokenId>,
    Form(form): Form<RegenerateForm>,
) -> Result<HttpResponse, HtmlError> {
    user.check_csrf(form.csrf_token.as_deref())?;
    let id = id.into_inner();
    let expiry = form.expiry.as_deref().and_then(Expiry::parse);
    let grace = form
        .grace
        .filter(|g| GRACES.iter().any(|(s, _)| s == g))
        .unwrap_or(0);
    let (user_id, now, old) = (user.user.id.clone(), state.clock.now(), id.clone());
    let (notifier, client) = (state.notifier.clone(), client::of(user.request()));
    let rotated = db::run(&state.pool, move |conn| {
        notifier.issue(conn, now, |conn| {
            security_log::issued(conn, &client, now, |conn| {
                tokens::rotate(conn, &user_id, &old, expiry, Duration::seconds(grace), now)
            })
        })
    })
    .await;
    match rotated {
        // As after Create: post/redirect/get to the one-time reveal.
        Ok((row, plain)) => {
            state.reveals.hold(&user.user.id, &row.id, plain);
            Ok(see_other(&format!("{TOKENS_PAGE}/{}/created", row.id)))
        }
        Err(WriteError::Invalid(fields)) => {
            let message = fields.into_values().next();
            let regen = regenerate_page(&user, &state, id, message).await?;
            page_with_status(&regen, StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(e) => Err(e.into()),
    }
}
