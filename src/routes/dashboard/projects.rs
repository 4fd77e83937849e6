//! The projects screens: the list with a create form, and a project page with the id the
//! API needs, its members and its domain.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::tokens::relative;
use super::{page, page_with_status, see_other, Form, Layout};
use crate::auth::{DashboardUser, Need, Role};
use crate::db::{self, models::projects};
use crate::error::{AppError, HtmlError};
use crate::routes::api::project_id;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list)
        .service(create)
        .service(show)
        .service(set_member);
}

fn layout(user: &DashboardUser) -> Layout {
    Layout {
        csrf_token: user.csrf_token.clone(),
        user_email: Some(user.user.email.clone()),
    }
}

struct ProjectRow {
    id: String,
    name: String,
    role: &'static str,
    created: String,
}

#[derive(Template)]
#[template(path = "projects/index.html")]
struct ListPage {
    layout: Layout,
    projects: Vec<ProjectRow>,
    name: String,
    name_error: Option<String>,
}

struct MemberRow {
    email: String,
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

async fn list_page(
    user: &DashboardUser,
    state: &AppState,
    name: String,
    name_error: Option<String>,
) -> Result<ListPage, AppError> {
    let user_id = user.user.id.clone();
    let rows = db::run(&state.pool, move |conn| {
        Ok(projects::list_for(conn, &user_id)?)
    })
    .await?;
    let now = state.clock.now();
    Ok(ListPage {
        layout: layout(user),
        projects: rows
            .into_iter()
            .map(|(p, role)| ProjectRow {
                created: relative(p.created_at, now),
                id: p.id,
                name: p.name,
                role: role.as_str(),
            })
            .collect(),
        name,
        name_error,
    })
}

#[get("/projects")]
async fn list(user: DashboardUser, state: web::Data<AppState>) -> Result<HttpResponse, HtmlError> {
    page(&list_page(&user, &state, String::new(), None).await?)
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
    let name = match projects::validate_name(&form.name) {
        Ok(name) => name,
        Err(AppError::Validation(mut fields)) => {
            let page = list_page(&user, &state, form.name, fields.remove("name")).await?;
            return page_with_status(&page, StatusCode::UNPROCESSABLE_ENTITY);
        }
        Err(e) => return Err(e.into()),
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
    raw_id: &str,
    member_email: String,
    member_error: Option<String>,
) -> Result<ShowPage, AppError> {
    let id = project_id(raw_id)?;
    let caller = user.caller();
    let (project, role, members) = db::run(&state.pool, move |conn| {
        let role = caller.require_on(conn, &id, Need::role(Role::Viewer))?;
        Ok((
            projects::find(conn, &id)?,
            role,
            projects::members(conn, &id)?,
        ))
    })
    .await?;
    let now = state.clock.now();
    Ok(ShowPage {
        layout: layout(user),
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
    id: web::Path<String>,
) -> Result<HttpResponse, HtmlError> {
    page(&show_page(&user, &state, &id, String::new(), None).await?)
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
    raw_id: web::Path<String>,
    Form(form): Form<MemberForm>,
) -> Result<HttpResponse, HtmlError> {
    user.check_csrf(form.csrf_token.as_deref())?;
    let id = project_id(&raw_id)?;
    state
        .throttles
        .members_attempt(&user.user.id, state.clock.now())?;
    let role = Role::parse(&form.role)
        .ok_or_else(|| AppError::validation("role", "Use owner, editor or viewer."));
    let (caller, email, now) = (user.caller(), form.email.clone(), state.clock.now());
    let result = match role {
        Ok(role) => {
            let project = id.clone();
            db::run(&state.pool, move |conn| {
                caller.require_on(conn, &project, Need::role(Role::Owner))?;
                projects::set_member(conn, &project, &email, role, now)
            })
            .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(see_other(&format!("/projects/{id}"))),
        Err(AppError::Validation(fields)) => {
            let message = fields.into_values().next();
            let page = show_page(&user, &state, &id, form.email, message).await?;
            page_with_status(&page, StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(e) => Err(e.into()),
    }
}
