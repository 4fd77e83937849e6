//! The API tokens screen: list, create (the plaintext shown once), revoke with confirmation.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use chrono::{Duration, NaiveDateTime};
use serde::Deserialize;

use super::reauth::ensure_recent_password;
use super::{
    page, page_with_status, see_other, take_flash, DashboardUser, Form, FormWithFields, HtmlError,
    Layout, FLASH, TOKENS_PAGE,
};
use crate::auth::{client, reauth};
use crate::db::models::security_log;
use crate::db::{
    self,
    models::leaks::{self, LeakReport},
    models::projects,
    models::tokens::{self, NewToken, TokenRow, TokenStatus, Which},
    models::WriteError,
    DbConnection,
};
use crate::domain::{
    Expiry, LeakSource, PageRequest, ProjectId, ProjectName, RevokedReason, Scope, Scopes, TokenId,
    TokenName, TokenPolicy, UserId,
};
use crate::error::AppError;
use crate::state::AppState;

super::pages!(
    GET "/settings/tokens" => list,
    GET "/settings/tokens/inactive" => inactive_page,
    GET "/settings/tokens/new" => new_form,
    POST "/settings/tokens" => create,
    GET "/settings/tokens/{id}/created" => reveal,
    GET "/settings/tokens/{id}/regenerate" => regenerate_form,
    POST "/settings/tokens/{id}/regenerate" => regenerate,
    GET "/settings/tokens/{id}/revoke" => confirm_revoke,
    POST "/settings/tokens/{id}/revoke" => revoke,
);

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
    /// The names of the only projects it reaches; `None`: all its owner's.
    pub projects: Option<Vec<ProjectName>>,
    /// Where it may be used from, comma-separated; empty: anywhere.
    pub allowed_ips: String,
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

/// The projects chosen for each token shown, by token.
type Chosen = HashMap<TokenId, Vec<(ProjectId, ProjectName)>>;

/// The names of the projects a restricted token reaches, for the list and the reveal page.
fn chosen_names(row: &TokenRow, chosen: &Chosen) -> Option<Vec<ProjectName>> {
    row.narrowing.restricted.then(|| {
        chosen
            .get(&row.id)
            .map(|c| c.iter().map(|(_, name)| name.clone()).collect())
            .unwrap_or_default()
    })
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
    pub(super) fn new(row: &TokenRow, now: NaiveDateTime, chosen: &Chosen) -> Self {
        TokenView::linked(row, now, &HashMap::new(), chosen)
    }

    /// A row whose rotation links name the other token by its prefix, when `prefixes` (the
    /// rows shown with it) holds it.
    fn linked(
        row: &TokenRow,
        now: NaiveDateTime,
        prefixes: &HashMap<&TokenId, &str>,
        chosen: &Chosen,
    ) -> Self {
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
            projects: chosen_names(row, chosen),
            allowed_ips: row
                .narrowing
                .allowed_ips
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
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
    /// "Only these projects" rather than "All my projects".
    restrict: bool,
    /// The ids ticked.
    chosen: Vec<String>,
    /// The creator's projects, to choose from, with the token policy each would apply.
    projects: Vec<(ProjectId, ProjectName, TokenPolicy)>,
    /// Allowed addresses as typed: one per line (or comma-separated).
    allowed_ips: String,
    name_error: Option<String>,
    scopes_error: Option<String>,
    expiry_error: Option<String>,
    projects_error: Option<String>,
    allowed_ips_error: Option<String>,
    now: NaiveDateTime,
}

/// The projects a creator may choose from: the first this many of theirs, oldest first.
const PROJECTS_IN_FORM: i64 = 200;

/// The creator's projects, for the form's "Only these projects" and its policy warnings.
fn own_projects(
    conn: &mut DbConnection,
    user_id: &UserId,
) -> diesel::QueryResult<Vec<(ProjectId, ProjectName, TokenPolicy)>> {
    projects::policies_for(conn, user_id, PROJECTS_IN_FORM)
}

/// A project's choice in the form: what the person reads, and what app.js compares.
pub struct ProjectChoice<'a> {
    id: &'a ProjectId,
    name: &'a ProjectName,
    checked: bool,
    /// The policy in words, when there is one ("tokens of at most 30 days").
    rule: Option<String>,
    max_days: Option<u16>,
    require_restricted: bool,
}

impl NewTokenForm {
    fn new(now: NaiveDateTime, projects: Vec<(ProjectId, ProjectName, TokenPolicy)>) -> Self {
        NewTokenForm {
            name: String::new(),
            scopes: Vec::new(),
            expiry: Expiry::default().as_str().to_owned(),
            restrict: false,
            chosen: Vec::new(),
            projects,
            allowed_ips: String::new(),
            name_error: None,
            scopes_error: None,
            expiry_error: None,
            projects_error: None,
            allowed_ips_error: None,
            now,
        }
    }

    /// Each of the creator's projects, whether it is ticked, and its token policy.
    fn project_choices(&self) -> Vec<ProjectChoice<'_>> {
        self.projects
            .iter()
            .map(|(id, name, policy)| {
                let max_days = policy.max_lifetime_days.map(|d| d.get());
                let rule = match (max_days, policy.require_restricted) {
                    (None, false) => None,
                    (Some(d), false) => Some(format!("accepts tokens of at most {d} days")),
                    (None, true) => Some("accepts only project-restricted tokens".to_owned()),
                    (Some(d), true) => Some(format!(
                        "accepts only project-restricted tokens of at most {d} days"
                    )),
                };
                ProjectChoice {
                    id,
                    name,
                    checked: self.chosen.iter().any(|c| c == id.as_str()),
                    rule,
                    max_days,
                    require_restricted: policy.require_restricted,
                }
            })
            .collect()
    }

    /// Each expiry's lifetime in seconds ("" for never), for app.js's policy warning: the
    /// same comparison as `TokenPolicy::check`.
    fn lifetimes(&self) -> Vec<(&'static str, String)> {
        Expiry::ALL
            .into_iter()
            .map(|e| {
                let secs = e
                    .expires_at(self.now)
                    .map(|at| (at - self.now).num_seconds());
                (e.as_str(), secs.map(|s| s.to_string()).unwrap_or_default())
            })
            .collect()
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
            ("projects-all", &self.projects_error),
            ("token-allowed-ips", &self.allowed_ips_error),
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
    /// The only projects it reaches; `None`: all.
    projects: Option<Vec<ProjectName>>,
    expires: String,
    origin: &'a str,
}

#[derive(Template)]
#[template(path = "tokens/revoke.html")]
struct RevokePage {
    layout: Layout,
    token: TokenView,
}

async fn list(user: DashboardUser, state: web::Data<AppState>) -> Result<HttpResponse, HtmlError> {
    let (user_id, now) = (user.user.id.clone(), state.clock.now());
    // Every token that works (however many are in a rotation's grace), and the latest
    // inactive ones.
    let latest = PageRequest::first(INACTIVE_ON_LIST);
    let read = latest.clone();
    let (active, inactive, reports, chosen, own) = db::query(&state.pool, move |conn| {
        let active = tokens::working(conn, &user_id, now)?;
        let inactive = tokens::list(conn, &user_id, Which::Inactive(now), &read)?;
        let reports = leaks::reports_for(conn, reported(&inactive))?;
        let ids: Vec<_> = active
            .iter()
            .chain(&inactive)
            .map(|r| r.id.clone())
            .collect();
        let chosen = tokens::chosen_projects(conn, &ids)?;
        Ok((
            active,
            inactive,
            reports,
            chosen,
            own_projects(conn, &user_id)?,
        ))
    })
    .await?;
    let (inactive, more) = latest.cut(inactive, TokenRow::cursor);
    let prefixes: HashMap<&TokenId, &str> = active
        .iter()
        .chain(&inactive)
        .map(|row| (&row.id, row.prefix.as_str()))
        .collect();
    let view = |row: &TokenRow| TokenView::linked(row, now, &prefixes, &chosen).with_leak(&reports);
    let flash = take_flash(&user.session());
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
        form: NewTokenForm::new(now, own),
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

async fn inactive_page(
    user: DashboardUser,
    state: web::Data<AppState>,
    query: web::Query<InactiveQuery>,
) -> Result<HttpResponse, HtmlError> {
    let limit = INACTIVE_PER_PAGE.to_string();
    let request = PageRequest::parse(Some(&limit), query.cursor.as_deref())
        .map_err(|e| AppError::validation("cursor", e.to_string()))?;
    let (user_id, now, read) = (user.user.id.clone(), state.clock.now(), request.clone());
    let (rows, reports, chosen) = db::query(&state.pool, move |conn| {
        let rows = tokens::list(conn, &user_id, Which::Inactive(now), &read)?;
        let reports = leaks::reports_for(conn, reported(&rows))?;
        let ids: Vec<_> = rows.iter().map(|r| r.id.clone()).collect();
        Ok((rows, reports, tokens::chosen_projects(conn, &ids)?))
    })
    .await?;
    let (rows, more) = request.cut(rows, TokenRow::cursor);
    page(&InactivePage {
        layout: user.layout(),
        tokens: rows
            .iter()
            .map(|row| TokenView::new(row, now, &chosen).with_leak(&reports))
            .collect(),
        more: more.map(|c| c.encode()),
    })
}

/// A fresh form with the creator's projects to choose from.
async fn new_token_form(state: &AppState, user: &DashboardUser) -> Result<NewTokenForm, AppError> {
    let user_id = user.user.id.clone();
    let own = db::query(&state.pool, move |conn| own_projects(conn, &user_id)).await?;
    Ok(NewTokenForm::new(state.clock.now(), own))
}

async fn new_form(
    user: DashboardUser,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HtmlError> {
    page(&NewPage {
        layout: user.layout(),
        form: new_token_form(&state, &user).await?,
    })
}

#[derive(Deserialize)]
struct CreateForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    scopes: Vec<String>,
    expiry: Option<String>,
    /// `all` (the default) or `only`.
    projects: Option<String>,
    /// The projects ticked, for `only`.
    #[serde(default)]
    project_ids: Vec<String>,
    /// Allowed addresses, one per line or comma-separated.
    #[serde(default)]
    allowed_ips: String,
    csrf_token: Option<String>,
}

impl CreateForm {
    /// The allowed addresses typed, one per line or separated by commas or spaces.
    fn allowed_ips(&self) -> Vec<String> {
        self.allowed_ips
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }

    fn restricts(&self) -> bool {
        self.projects.as_deref() == Some("only")
    }

    /// The chosen ids for `only`; for "All my projects", a form with projects ticked is
    /// refused rather than read either way (a person who ticked some may have meant them).
    fn chosen(&self) -> Result<Option<&[String]>, &'static str> {
        match (self.restricts(), self.project_ids.is_empty()) {
            (true, _) => Ok(Some(&self.project_ids)),
            (false, true) => Ok(None),
            (false, false) => Err("You ticked projects but chose “All my projects”: pick \
                 “Only these projects”, or untick them."),
        }
    }
}

async fn create(
    user: DashboardUser,
    state: web::Data<AppState>,
    FormWithFields(form, fields): FormWithFields<CreateForm>,
) -> Result<HttpResponse, HtmlError> {
    user.check_csrf(form.csrf_token.as_deref())?;
    let now = state.clock.now();
    let validated = form
        .chosen()
        .map_err(|e| AppError::validation("projects", e))
        .and_then(|chosen| {
            let ips = form.allowed_ips();
            NewToken::validate(
                &form.name,
                &form.scopes,
                form.expiry.as_deref(),
                chosen,
                &ips,
            )
            .map_err(AppError::Validation)
        });
    let created = match validated {
        Ok(new) => {
            if reauth::token_needs_it(&new.scopes, new.expiry) {
                let what =
                    "Creating a token that never expires, or may change a domain or read invoices,";
                let prompt =
                    ensure_recent_password(&user, &state, what, TOKENS_PAGE, TOKENS_PAGE, &fields);
                if let Some(prompt) = prompt.await? {
                    return Ok(prompt);
                }
            }
            let (user_id, notifier) = (user.user.id.clone(), state.notifier.clone());
            let client = client::of(user.request());
            db::write(&state.pool, move |conn| {
                Ok(notifier.issue(conn, now, |conn| {
                    security_log::issued(conn, &client, now, |conn| {
                        tokens::create(conn, &user_id, &new, now)
                    })
                })?)
            })
            .await
        }
        Err(e) => Err(e),
    };
    match created {
        // Post/redirect/get: a reload of the reveal page is a harmless GET, never a second
        // POST that would fail on the now-taken name. The plaintext waits in memory only.
        Ok((row, plain)) => {
            state.reveals.hold(&user.user.id, &row.id, plain);
            Ok(see_other(&format!("{TOKENS_PAGE}/{}/created", row.id)))
        }
        Err(AppError::Validation(mut fields)) => {
            let mut again = new_token_form(&state, &user).await?;
            again.name_error = fields.remove("name");
            again.scopes_error = fields.remove("scopes");
            again.expiry_error = fields.remove("expiry");
            again.projects_error = fields.remove("projects");
            again.allowed_ips_error = fields.remove("allowedIps");
            again.restrict = form.restricts();
            again.allowed_ips = form.allowed_ips;
            again.name = form.name;
            again.scopes = form.scopes;
            again.chosen = form.project_ids;
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
async fn reveal(
    user: DashboardUser,
    state: web::Data<AppState>,
    id: web::Path<TokenId>,
) -> Result<HttpResponse, HtmlError> {
    let (row, chosen) = find_mine_with_projects(&state, &user, id.into_inner()).await?;
    let plain = state.reveals.take(&user.user.id, &row.id);
    let created = CreatedPage {
        layout: user.layout(),
        projects: chosen_names(&row, &chosen),
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

/// One of the user's tokens with the projects chosen for it.
async fn find_mine_with_projects(
    state: &AppState,
    user: &DashboardUser,
    id: TokenId,
) -> Result<(TokenRow, Chosen), AppError> {
    let user_id = user.user.id.clone();
    Ok(db::query(&state.pool, move |conn| {
        let row = tokens::find_mine(conn, &user_id, &id)?;
        let chosen = tokens::chosen_projects(conn, std::slice::from_ref(&row.id))?;
        Ok((row, chosen))
    })
    .await?)
}

async fn confirm_revoke(
    user: DashboardUser,
    state: web::Data<AppState>,
    id: web::Path<TokenId>,
) -> Result<HttpResponse, HtmlError> {
    let (row, chosen) = find_mine_with_projects(&state, &user, id.into_inner()).await?;
    let token = TokenView::new(&row, state.clock.now(), &chosen);
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

async fn revoke(
    user: DashboardUser,
    state: web::Data<AppState>,
    id: web::Path<TokenId>,
    Form(form): Form<RevokeForm>,
) -> Result<HttpResponse, HtmlError> {
    user.check_csrf(form.csrf_token.as_deref())?;
    let now = state.clock.now();
    let (user_id, client) = (user.user.id.clone(), client::of(user.request()));
    let row = db::write_query(&state.pool, move |conn| {
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
    let (row, chosen) = find_mine_with_projects(state, user, id).await?;
    let now = state.clock.now();
    let mut form = NewTokenForm::new(now, Vec::new());
    // The expiry chosen last time is chosen again unless changed.
    form.expiry = row.expiry.unwrap_or_default().as_str().to_owned();
    Ok(RegeneratePage {
        layout: user.layout(),
        token: TokenView::new(&row, now, &chosen),
        form,
        graces: GRACES,
        error,
    })
}

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

async fn regenerate(
    user: DashboardUser,
    state: web::Data<AppState>,
    id: web::Path<TokenId>,
    FormWithFields(form, fields): FormWithFields<RegenerateForm>,
) -> Result<HttpResponse, HtmlError> {
    user.check_csrf(form.csrf_token.as_deref())?;
    let id = id.into_inner();
    let action = format!("{TOKENS_PAGE}/{id}/regenerate");
    let what = "Regenerating a token";
    let prompt = ensure_recent_password(&user, &state, what, &action, &action, &fields);
    if let Some(prompt) = prompt.await? {
        return Ok(prompt);
    }
    let expiry = form.expiry.as_deref().and_then(Expiry::parse);
    let grace = form
        .grace
        .filter(|g| GRACES.iter().any(|(s, _)| s == g))
        .unwrap_or(0);
    let (user_id, now, old) = (user.user.id.clone(), state.clock.now(), id.clone());
    let (notifier, client) = (state.notifier.clone(), client::of(user.request()));
    let rotated = db::write(&state.pool, move |conn| {
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
