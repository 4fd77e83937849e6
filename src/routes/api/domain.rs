//! A project's custom domain (`domain`): anyone on the project reads it, owners change it.

use actix_web::{delete, get, put, web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::{on_project, required, Json};
use crate::auth::{Caller, Need};
use crate::db::models::projects;
use crate::domain::{ProjectId, Role, Scope};
use crate::error::AppError;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get_domain)
        .service(set_domain)
        .service(remove_domain);
}

#[get("/projects/{id}/domain")]
async fn get_domain(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<ProjectId>,
) -> Result<HttpResponse, AppError> {
    let need = Need::new(Scope::Domain, Role::Viewer);
    let project = on_project(caller, &state, path.into_inner(), need, |conn, id, _| {
        projects::find(conn, id)
    })
    .await?;
    Ok(HttpResponse::Ok().json(json!({ "domain": project.domain })))
}

#[derive(Deserialize)]
struct DomainBody {
    domain: Option<String>,
}

#[put("/projects/{id}/domain")]
async fn set_domain(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<ProjectId>,
    body: Json<DomainBody>,
) -> Result<HttpResponse, AppError> {
    let need = Need::new(Scope::Domain, Role::Owner);
    let domain = on_project(
        caller,
        &state,
        path.into_inner(),
        need,
        move |conn, id, _| {
            let domain = projects::validate_domain(required("domain", body.domain.as_deref())?)?;
            projects::set_domain(conn, id, Some(domain.clone()))?;
            Ok::<_, AppError>(domain)
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(json!({ "domain": domain })))
}

#[delete("/projects/{id}/domain")]
async fn remove_domain(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<ProjectId>,
) -> Result<HttpResponse, AppError> {
    let need = Need::new(Scope::Domain, Role::Owner);
    on_project(caller, &state, path.into_inner(), need, |conn, id, _| {
        projects::set_domain(conn, id, None)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
