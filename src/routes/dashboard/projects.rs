//! The projects screens: the list with a create form, and a project page with the id the
//! API needs, its members and its domain.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::reauth::ensure_recent_password;
use super::time::relative;
use super::{
    page, page_with_status, see_other, take_flash, DashboardUser, Form, FormWithFields, HtmlError,
    Layout, FLASH,
};
use crate::auth::{reauth, Need};
use crate::db::models::trusted_ci;
use crate::db::{self, models::projects, models::token_activity, models::tokens};
use crate::domain::{Email, LifetimeDaysError, PageRequest, ProjectId, ProjectName, Role, TokenId};
use crate::error::AppError;
use crate::ops::{self, projects::MemberChange};
use crate::routes::requester;
use crate::state::AppState;

super::pages!(
    GET "/projects" => list,
    POST "/projects" => create,
    GET "/projects/{id}" => show,
    GET "/projects/{id}/access" => access,
    POST "/projects/{id}/members" => set_member,
    GET "/projects/{id}/settings" => settings_form,
    POST "/projects/{id}/settings" => set_settings,
    POST "/projects/{id}/settings/trusted-ci" => add_trust,
    POST "/projects/{id}/settings/trusted-ci/{trust}/remove" => remove_trust,
);

struct ProjectRow {
    id: ProjectId,
    name: ProjectName,
    role: &'static str,
    created: String,
}

#[derive(Template)]
#[template(path = "projects/index.html")]
struct ListPage {
    layout: Layout,
    projects: Vec<ProjectRow>,
    /// The cursor of the next page, when there is one.
    more: Option<String>,
    name: String,
    name_error: Option<String>,
}

struct MemberRow {
    email: Email,
    role: &'static str,
    added: String,
}

#[derive(Template)]
#[template(path = "projects/show.html")]
struct ShowPage {
    layout: Layout,
    project: projects::Project,
    role: &'static str,
    is_owner: bool,
    members: Vec<MemberRow>,
    member_email: String,
    member_error: Option<String>,
}

/// Projects on each page of the list.
const PROJECTS_PER_PAGE: &str = "50";

async fn list_page(
    user: &DashboardUser,
    state: &AppState,
    cursor: Option<&str>,
    name: String,
    name_error: Option<String>,
) -> Result<ListPage, AppError> {
    let request = PageRequest::parse(Some(PROJECTS_PER_PAGE), cursor)
        .map_err(|e| AppError::validation("cursor", e.to_string()))?;
    let (user_id, read) = (user.user.id.clone(), request.clone());
    let rows = db::query(&state.pool, move |conn| {
        projects::list_for(conn, &user_id, None, &read)
    })
    .await?;
    let (rows, more) = request.cut(rows, |(p, _)| p.cursor());
    let now = state.clock.now();
    Ok(ListPage {
        layout: user.layout(),
        projects: rows
            .into_iter()
            .map(|(p, role)| ProjectRow {
                created: relative(p.created_at, now),
                id: p.id,
                name: p.name,
                role: role.as_str(),
            })
            .collect(),
        more: more.map(|c| c.encode()),
        name,
        name_error,
    })
}

async fn list(
    user: DashboardUser,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, HtmlError> {
    let cursor = query.cursor.as_deref();
    page(&list_page(&user, &state, cursor, String::new(), None).await?)
}

#[derive(Deserialize)]
struct ListQuery {
    cursor: Option<String>,
}

#[derive(Deserialize)]
struct NewProjectForm {
    #[serde(default)]
    name: String,
    csrf_token: Option<String>,
}

async fn create(
    user: DashboardUser,
    state: web::Data<AppState>,
    Form(form): Form<NewProjectForm>,
) -> Result<HttpResponse, HtmlError> {
    user.check_csrf(form.csrf_token.as_deref())?;
    let name = match ProjectName::parse(&form.name) {
        Ok(name) => name,
        Err(e) => {
            let page = list_page(&user, &state, None, form.name, Some(e.to_string())).await?;
            return page_with_status(&page, StatusCode::UNPROCESSABLE_ENTITY);
        }
    };
    let by = requester(user.request(), &user.user.id)?;
    let project = ops::projects::create(&state, &by, name).await?;
    Ok(see_other(&format!("/projects/{}", project.id)))
}

async fn show_page(
    user: &DashboardUser,
    state: &AppState,
    id: ProjectId,
    member_email: String,
    member_error: Option<String>,
) -> Result<ShowPage, AppError> {
    let caller = user.caller();
    let (project, role, members) = db::run(&state.pool, move |conn| {
        let role = caller.require_on(conn, &id, Need::role(Role::Viewer))?;
        let project = projects::find(conn, &id)?;
        Ok::<_, AppError>((project, role, projects::members(conn, &id)?))
    })
    .await?;
    let now = state.clock.now();
    Ok(ShowPage {
        layout: user.layout(),
        project,
        role: role.as_str(),
        is_owner: role == Role::Owner,
        members: members
            .into_iter()
            .map(|m| MemberRow {
                email: m.email,
                role: m.role.as_str(),
                added: relative(m.added_at, now),
            })
            .collect(),
        member_email,
        member_error,
    })
}

async fn show(
    user: DashboardUser,
    state: web::Data<AppState>,
    id: web::Path<ProjectId>,
) -> Result<HttpResponse, HtmlError> {
    page(&show_page(&user, &state, id.into_inner(), String::new(), None).await?)
}

/// A member's token that used the project, as its owners see it.
struct AccessRow {
    owner: Email,
    name: String,
    prefix: String,
    scopes: Vec<&'static str>,
    last_used: String,
    requests: i64,
}

#[derive(Template)]
#[template(path = "projects/access.html")]
struct AccessPage {
    layout: Layout,
    project: projects::Project,
    rows: Vec<AccessRow>,
    /// Whether the project requires a second factor of its members, and who has none.
    requires_second_factor: bool,
    without_second_factor: Vec<String>,
}

/// How far back the access page looks.
const ACCESS_DAYS: i64 = 30;

/// Which members' tokens used this project in the last 30 days (owners only), like an
/// organization owner's view of fine-grained tokens.
async fn access(
    user: DashboardUser,
    state: web::Data<AppState>,
    id: web::Path<ProjectId>,
) -> Result<HttpResponse, HtmlError> {
    let (caller, id, now) = (user.caller(), id.into_inner(), state.clock.now());
    let since = now - chrono::Duration::days(ACCESS_DAYS);
    let (project, used, tokens, policy, lacking) = db::run(&state.pool, move |conn| {
        caller.require_on(conn, &id, Need::role(Role::Owner))?;
        let project = projects::find(conn, &id)?;
        let used = token_activity::project_access(conn, id.as_str(), since)?;
        let ids: Vec<TokenId> = used.iter().map(|(t, _, _)| t.clone()).collect();
        let owners = tokens::with_owners(conn, &ids)?;
        let policy = projects::policy(conn, &id)?;
        let lacking = projects::without_second_factor(conn, &id)?;
        Ok::<_, AppError>((project, used, owners, policy, lacking))
    })
    .await?;
    let rows = used
        .into_iter()
        .filter_map(|(token_id, requests, last)| {
            let (token, owner) = tokens.iter().find(|(t, _)| t.id == token_id)?;
            Some(AccessRow {
                owner: owner.email.clone(),
                name: token.name.to_string(),
                prefix: token.prefix.clone(),
                scopes: token.scopes.names(),
                last_used: relative(last, now),
                requests,
            })
        })
        .collect();
    page(&AccessPage {
        layout: user.layout(),
        project,
        rows,
        requires_second_factor: policy.require_second_factor,
        without_second_factor: lacking.iter().map(ToString::to_string).collect(),
    })
}

#[derive(Deserialize)]
struct MemberForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
    csrf_token: Option<String>,
}

async fn set_member(
    user: DashboardUser,
    state: web::Data<AppState>,
    id: web::Path<ProjectId>,
    FormWithFields(form, fields): FormWithFields<MemberForm>,
) -> Result<HttpResponse, HtmlError> {
    user.check_csrf(form.csrf_token.as_deref())?;
    let id = id.into_inner();
    let change = MemberChange::parse(Some(&form.email), Some(&form.role));
    if let Ok(change) = &change {
        // Asked only of an owner: anyone else is refused as always, without a prompt.
        let by = requester(user.request(), &user.user.id)?;
        let (project, email) = (id.clone(), change.email.clone());
        let before = ops::projects::role_before(&state, &by, project, email).await?;
        if reauth::membership_needs_it(before, Some(change.role)) {
            let (action, back) = (format!("/projects/{id}/members"), format!("/projects/{id}"));
            let what = if before == Some(Role::Owner) {
                "Changing an owner's role"
            } else {
                "Making someone an owner"
            };
            let prompt = ensure_recent_password(&user, &state, what, &action, &back, &fields);
            if let Some(prompt) = prompt.await? {
                return Ok(prompt);
            }
        }
    }
    // The password may have been entered with this very post.
    let by = requester(user.request(), &user.user.id)?;
    let result = ops::projects::set_member(&state, &by, id.clone(), change).await;
    match result {
        Ok(_) => Ok(see_other(&format!("/projects/{id}"))),
        Err(AppError::Validation(fields)) => {
            let message = fields.into_values().next();
            let page = show_page(&user, &state, id, form.email, message).await?;
            page_with_status(&page, StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "projects/settings.html")]
struct SettingsPage {
    layout: Layout,
    project: projects::Project,
    /// As typed, or as stored ("" for no limit).
    max_lifetime_days: String,
    require_restricted: bool,
    require_second_factor: bool,
    error: Option<String>,
    flash: Option<String>,
    /// The CI identities it trusts (SPEC §8.8), and the form to trust another.
    trusts: Vec<TrustView>,
    trust_form: TrustForm,
    trust_errors: crate::domain::FieldErrors,
    /// The audience a trust gets when none is given: the public URL.
    default_audience: String,
}

impl SettingsPage {
    /// What is wrong with a field of the Trust a CI identity form, if anything.
    fn trust_error(&self, field: &str) -> Option<&str> {
        self.trust_errors.get(field).map(String::as_str)
    }
}

/// A trust configuration as the settings page shows it.
struct TrustView {
    id: crate::domain::TrustId,
    issuer: String,
    audience: String,
    claims: Vec<(String, String)>,
    scopes: String,
    lifetime_minutes: i32,
}

impl From<trusted_ci::TrustRow> for TrustView {
    fn from(row: trusted_ci::TrustRow) -> Self {
        TrustView {
            id: row.id,
            issuer: row.issuer.to_string(),
            audience: row.audience.as_str().to_owned(),
            claims: row
                .claims
                .iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            scopes: row.scopes.names().join(", "),
            lifetime_minutes: row.lifetime.minutes(),
        }
    }
}

/// The Trust a CI identity form, as typed: claims one `name=value` a line.
#[derive(Deserialize, Default)]
struct TrustForm {
    #[serde(default)]
    issuer: String,
    #[serde(default)]
    audience: String,
    #[serde(default)]
    claims: String,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    lifetime_minutes: String,
    csrf_token: Option<String>,
}

impl TrustForm {
    /// Every rule of `NewTrust`; a claim line without `=` or a lifetime that is not a number
    /// is named like any other broken field.
    fn parse(&self) -> Result<crate::domain::NewTrust, crate::domain::FieldErrors> {
        let mut claims = std::collections::BTreeMap::new();
        let mut broken = crate::domain::FieldErrors::new();
        for line in self.claims.lines().map(str::trim).filter(|l| !l.is_empty()) {
            match line.split_once('=') {
                Some((k, v)) => {
                    claims.insert(k.trim().to_owned(), v.trim().to_owned());
                }
                None => {
                    broken.insert(
                        "claims",
                        "Write one claim a line, as name=value.".to_owned(),
                    );
                }
            }
        }
        let lifetime = match self.lifetime_minutes.trim() {
            "" => None,
            t => Some(t.parse::<i64>().unwrap_or(0)),
        };
        let audience = Some(self.audience.as_str());
        let parsed = crate::domain::NewTrust::validate(
            &self.issuer,
            audience,
            &claims,
            &self.scopes,
            lifetime,
        );
        match parsed {
            Ok(new) if broken.is_empty() => Ok(new),
            Ok(_) => Err(broken),
            Err(mut fields) => {
                fields.append(&mut broken);
                Err(fields)
            }
        }
    }

    /// Whether the scope is ticked, for the form as typed.
    fn has(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

/// The project and its policy, for its owners only (anyone else: as for any owner-only page).
async fn settings_page(
    user: &DashboardUser,
    state: &AppState,
    id: ProjectId,
) -> Result<SettingsPage, AppError> {
    let caller = user.caller();
    let (project, policy, trusts) = db::run(&state.pool, move |conn| {
        caller.require_on(conn, &id, Need::role(Role::Owner))?;
        let project = projects::find(conn, &id)?;
        Ok::<_, AppError>((
            project,
            projects::policy(conn, &id)?,
            trusted_ci::list(conn, &id)?,
        ))
    })
    .await?;
    let flash = take_flash(&user.session());
    Ok(SettingsPage {
        layout: user.layout(),
        project,
        max_lifetime_days: policy
            .max_lifetime_days
            .map(|d| d.get().to_string())
            .unwrap_or_default(),
        require_restricted: policy.require_restricted,
        require_second_factor: policy.require_second_factor,
        error: None,
        flash,
        trusts: trusts.into_iter().map(TrustView::from).collect(),
        trust_form: TrustForm {
            lifetime_minutes: crate::domain::CiLifetime::DEFAULT.minutes().to_string(),
            scopes: vec!["publish".to_owned()],
            ..TrustForm::default()
        },
        trust_errors: Default::default(),
        default_audience: state.public_origin.clone(),
    })
}

async fn settings_form(
    user: DashboardUser,
    state: web::Data<AppState>,
    id: web::Path<ProjectId>,
) -> Result<HttpResponse, HtmlError> {
    page(&settings_page(&user, &state, id.into_inner()).await?)
}

#[derive(Deserialize)]
struct SettingsForm {
    #[serde(default)]
    max_lifetime_days: String,
    require_restricted: Option<String>,
    require_second_factor: Option<String>,
    csrf_token: Option<String>,
}

async fn set_settings(
    user: DashboardUser,
    state: web::Data<AppState>,
    id: web::Path<ProjectId>,
    FormWithFields(form, fields): FormWithFields<SettingsForm>,
) -> Result<HttpResponse, HtmlError> {
    user.check_csrf(form.csrf_token.as_deref())?;
    let id = id.into_inner();
    // Owners only, before anything is asked or checked.
    let mut page = settings_page(&user, &state, id.clone()).await?;
    let typed = form.max_lifetime_days.trim();
    let require_restricted = form.require_restricted.is_some();
    let require_second_factor = form.require_second_factor.is_some();
    let days = match typed {
        "" => Ok(None),
        t => t.parse::<i64>().map(Some).map_err(|_| LifetimeDaysError),
    };
    let policy = days.and_then(|days| {
        ops::projects::token_policy(days, require_restricted, require_second_factor)
    });
    if policy.is_ok() {
        let action = format!("/projects/{id}/settings");
        let what = "Changing a project's token policy";
        let prompt = ensure_recent_password(&user, &state, what, &action, &action, &fields);
        if let Some(prompt) = prompt.await? {
            return Ok(prompt);
        }
    }
    let by = requester(user.request(), &user.user.id)?;
    match ops::projects::set_token_policy(&state, &by, id.clone(), policy).await {
        Ok(_) => {
            user.session()
                .insert(FLASH, "Token policy saved.")
                .map_err(AppError::from)?;
            Ok(see_other(&format!("/projects/{id}/settings")))
        }
        Err(AppError::Validation(fields)) => {
            page.max_lifetime_days = typed.to_owned();
            page.require_restricted = require_restricted;
            page.require_second_factor = require_second_factor;
            page.error = fields.into_values().next();
            page_with_status(&page, StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(e) => Err(e.into()),
    }
}

/// Trusts a CI identity (owners; the password first when it is not recent).
async fn add_trust(
    user: DashboardUser,
    state: web::Data<AppState>,
    id: web::Path<ProjectId>,
    FormWithFields(form, fields): FormWithFields<TrustForm>,
) -> Result<HttpResponse, HtmlError> {
    user.check_csrf(form.csrf_token.as_deref())?;
    let id = id.into_inner();
    let mut page = settings_page(&user, &state, id.clone()).await?;
    let new = match form.parse() {
        Ok(new) => new,
        Err(errors) => {
            page.trust_form = form;
            page.trust_errors = errors;
            return page_with_status(&page, StatusCode::UNPROCESSABLE_ENTITY);
        }
    };
    let back = format!("/projects/{id}/settings");
    let action = format!("{back}/trusted-ci");
    let what = "Trusting a CI identity";
    if let Some(prompt) =
        ensure_recent_password(&user, &state, what, &action, &back, &fields).await?
    {
        return Ok(prompt);
    }
    let by = requester(user.request(), &user.user.id)?;
    match ops::trusted_ci::add(&state, user.caller(), &by, id, Ok(new)).await {
        Ok(_) => {}
        Err(AppError::Validation(errors)) => {
            page.trust_form = form;
            page.trust_errors = errors;
            return page_with_status(&page, StatusCode::UNPROCESSABLE_ENTITY);
        }
        Err(e) => return Err(e.into()),
    }
    user.session()
        .insert(FLASH, "CI identity trusted.")
        .map_err(AppError::from)?;
    Ok(see_other(&back))
}

#[derive(Deserialize)]
struct RemoveTrustForm {
    csrf_token: Option<String>,
}

/// Stops trusting a CI identity (owners; the password first when it is not recent).
async fn remove_trust(
    user: DashboardUser,
    state: web::Data<AppState>,
    path: web::Path<(ProjectId, crate::domain::TrustId)>,
    FormWithFields(form, fields): FormWithFields<RemoveTrustForm>,
) -> Result<HttpResponse, HtmlError> {
    user.check_csrf(form.csrf_token.as_deref())?;
    let (id, trust) = path.into_inner();
    settings_page(&user, &state, id.clone()).await?;
    let back = format!("/projects/{id}/settings");
    let action = format!("{back}/trusted-ci/{trust}/remove");
    let what = "Removing a trusted CI identity";
    if let Some(prompt) =
        ensure_recent_password(&user, &state, what, &action, &back, &fields).await?
    {
        return Ok(prompt);
    }
    let by = requester(user.request(), &user.user.id)?;
    ops::trusted_ci::remove(&state, user.caller(), &by, id, trust).await?;
    user.session()
        .insert(FLASH, "CI identity no longer trusted.")
        .map_err(AppError::from)?;
    Ok(see_other(&back))
}
