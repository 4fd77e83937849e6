//! Projects and their members. Creating projects and managing members is session-only.

use actix_web::{delete, get, post, web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::{on_project, required, utc, Json, Page};
use crate::auth::{Caller, Need, SessionCaller};
use crate::db::{self, models::projects};
use crate::domain::{ProjectId, ProjectName, Role, UserId};
use crate::error::AppError;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list)
        .service(create)
        .service(set_member)
        .service(remove_member);
}

#[get("/projects")]
async fn list(
    caller: Caller,
    state: web::Data<AppState>,
    page: Page,
) -> Result<HttpResponse, AppError> {
    let request = page.request.clone();
    let rows = db::query(&state.pool, move |conn| {
        projects::list_for(conn, &caller.user.id, &request)
    })
    .await?;
    let (rows, next) = page.request.cut(rows, |(p, _)| p.cursor());
    let items: Vec<_> = rows
        .into_iter()
        .map(|(p, role)| {
            json!({ "id": p.id, "name": p.name, "role": role.as_str(), "domain": p.domain, "createdAt": utc(p.created_at) })
        })
        .collect();
    Ok(page.respond(&items, next))
}

#[derive(Deserialize)]
struct NewProject {
    name: Option<String>,
}

#[post("/projects")]
async fn create(
    SessionCaller(caller): SessionCaller,
    state: web::Data<AppState>,
    body: Json<NewProject>,
) -> Result<HttpResponse, AppError> {
    let name = ProjectName::parse(required("name", body.name.as_deref())?)
        .map_err(|e| AppError::validation("name", e.to_string()))?;
    let now = state.clock.now();
    let project = db::run(&state.pool, move |conn| {
        projects::create(conn, &caller.user.id, name, now)
    })
    .await?;
    Ok(HttpResponse::Created().json(json!({ "id": project.id, "name": project.name })))
}

#[derive(Deserialize)]
struct NewMember {
    email: Option<String>,
    role: Option<String>,
}

/// Adds a member by email, or changes an existing member's role (owner only).
#[post("/projects/{id}/members")]
async fn set_member(
    SessionCaller(caller): SessionCaller,
    state: web::Data<AppState>,
    path: web::Path<ProjectId>,
    body: Json<NewMember>,
) -> Result<HttpResponse, AppError> {
    let now = state.clock.now();
    state.throttles.members_attempt(&caller.user.id, now)?;
    let need = Need::role(Role::Owner);
    let member = on_project(
        caller,
        &state,
        path.into_inner(),
        need,
        move |conn, id, _| {
            let email = required("email", body.email.as_deref())?;
            let role = Role::parse(required("role", body.role.as_deref())?)
                .ok_or_else(|| AppError::validation("role", Role::EXPECTED))?;
            Ok::<_, AppError>((
                id.clone(),
                projects::set_member(conn, id, email, role, now)?,
            ))
        },
    )
    .await?;
    let (project_id, member) = member;
    Ok(HttpResponse::Created().json(json!({
        "projectId": project_id,
        "userId": member.user_id,
        "email": member.email,
        "role": member.role.as_str(),
    })))
}

#[delete("/projects/{id}/members/{user_id}")]
async fn remove_member(
    SessionCaller(caller): SessionCaller,
    state: web::Data<AppState>,
    path: web::Path<(ProjectId, UserId)>,
) -> Result<HttpResponse, AppError> {
    let (id, user_id) = path.into_inner();
    on_project(
        caller,
        &state,
        id,
        Need::role(Role::Owner),
        move |conn, id, _| projects::remove_member(conn, id, &user_id),
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
