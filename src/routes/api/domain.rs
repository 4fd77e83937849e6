//! A project's custom domain (`domain`): anyone on the project reads it, owners change it.

use actix_web::{delete, get, put, web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::{project_id, required};
use crate::auth::{Caller, Need, Role, Scope};
use crate::db::{self, models::projects};
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
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = project_id(&path)?;
    let project = db::run(&state.pool, move |conn| {
        caller.require_on(conn, &id, Need::new(Scope::Domain, Role::Viewer))?;
        Ok(projects::find(conn, &id)?)
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
    path: web::Path<String>,
    body: web::Json<DomainBody>,
) -> Result<HttpResponse, AppError> {
    caller.require(Scope::Domain)?;
    let id = project_id(&path)?;
    let domain = projects::validate_domain(required("domain", body.domain.as_deref())?)?;
    let stored = domain.clone();
    db::run(&state.pool, move |conn| {
        caller.require_on(conn, &id, Need::new(Scope::Domain, Role::Owner))?;
        Ok(projects::set_domain(conn, &id, Some(stored))?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(json!({ "domain": domain })))
}

#[delete("/projects/{id}/domain")]
async fn remove_domain(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = project_id(&path)?;
    db::run(&state.pool, move |conn| {
        caller.require_on(conn, &id, Need::new(Scope::Domain, Role::Owner))?;
        Ok(projects::set_domain(conn, &id, None)?)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
