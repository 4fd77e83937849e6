//! The projects screens: the list with a create form, and a project page with the id the
//! API needs, its members and its domain.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::reauth::ensure_recent_password;
use super::tokens::relative;
use super::{
    page, page_with_status, see_other, DashboardUser, Form, FormWithFields, HtmlError, Layout,
};
use crate::auth::{reauth, Need};
use crate::db::{self, models::projects};
use crate::domain::{Email, PageRequest, ProjectId, ProjectName, Role};
use crate::error::AppError;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list)
        .service(create)
        .service(show)
        .service(set_member);
}

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

#[get("/projects")]
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

#[post("/projects")]
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
    let now = state.clock.now();
    let user_id = user.user.id.clone();
    let project = db::run(&state.pool, move |conn| {
        projects::create(conn, &user_id, name, now)
    })
    .await?;
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

#[get("/projects/{id}")]
async fn show(
    user: DashboardUser,
    state: web::Data<AppState>,
    id: web::Path<ProjectId>,
) -> Result<HttpResponse, HtmlError> {
    page(&show_page(&user, &state, id.into_inner(), String::new(), None).await?)
}

#[derive(Deserialize)]
struct MemberForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
    csrf_token: Option<String>,
}

#[post("/projects/{id}/members")]
async fn set_member(
    user: DashboardUser,
    state: web::Data<AppState>,
    id: web::Path<ProjectId>,
    FormWithFields(form, fields): FormWithFields<MemberForm>,
) -> Result<HttpResponse, HtmlError> {
    user.check_csrf(form.csrf_token.as_deref())?;
    let id = id.into_inner();
    if Role::parse(&form.role).is_some_and(reauth::role_needs_it) {
        // Asked only of an owner: anyone else is refused as always, without a prompt.
        let (caller, project) = (user.caller(), id.clone());
        db::run(&state.pool, move |conn| {
            caller.require_on(conn, &project, Need::role(Role::Owner))
        })
        .await?;
        let (action, back) = (format!("/projects/{id}/members"), format!("/projects/{id}"));
        let what = "Making someone an owner";
        let prompt = ensure_recent_password(&user, &state, what, &action, &back, &fields);
        if let Some(prompt) = prompt.await? {
            return Ok(prompt);
        }
    }
    state
        .throttles
        .members_attempt(&user.user.id, state.clock.now())?;
    let (caller, email, now) = (user.caller(), form.email.clone(), state.clock.now());
    let (project, role) = (id.clone(), Role::parse(&form.role));
    let result = db::run(&state.pool, move |conn| {
        caller.require_on(conn, &project, Need::role(Role::Owner))?;
        let role = role.ok_or_else(|| AppError::validation("role", Role::EXPECTED))?;
        Ok::<_, AppError>(projects::set_member(conn, &project, &email, role, now)?)
    })
    .await;
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
