//! A project's custom domain (`domain`): anyone on the project reads it, owners change it.

use actix_web::{delete, get, put, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{on_project, required, Json};
use crate::auth::{Caller, Need};
use crate::db::models::projects;
use crate::domain::{Hostname, ProjectId, Role, Scope};
use crate::error::AppError;
use crate::ops;
use crate::state::AppState;

super::resource!(get_domain, set_domain, remove_domain);

#[derive(Serialize, ToSchema)]
#[schema(as = Domain)]
pub struct DomainJson {
    /// The project's custom domain (a hostname); null when none is set.
    domain: Option<String>,
}

/// Read a project's custom domain.
///
/// Needs the `domain` scope; any member may read.
#[utoipa::path(
    tag = "domain",
    params(("id" = ProjectId, Path, description = "The project's id.")),
    security(("bearer" = ["domain"]), ("session" = [])),
    responses((status = 200, description = "The domain, or null.", body = DomainJson)),
)]
#[get("/{id}/domain")]
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
    Ok(HttpResponse::Ok().json(DomainJson {
        domain: project.domain,
    }))
}

#[derive(Deserialize, ToSchema)]
#[schema(as = NewDomain)]
struct DomainBody {
    /// A hostname, such as `www.example.com`.
    #[schema(schema_with = domain_schema, required = true)]
    domain: Option<String>,
}

/// `domain`, from the rule that checks it (`Hostname::parse`).
fn domain_schema() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .pattern(Some(Hostname::PATTERN))
        .max_length(Some(Hostname::MAX_LEN))
        .examples(["www.example.com"])
        .build()
}

/// Set a project's custom domain.
///
/// Needs the `domain` scope and the owner role. Anything but a valid hostname is 422.
#[utoipa::path(
    tag = "domain",
    params(("id" = ProjectId, Path, description = "The project's id.")),
    security(("bearer" = ["domain"]), ("session" = [], "csrf" = [])),
    responses((status = 200, description = "The domain as stored.", body = DomainJson)),
)]
#[put("/{id}/domain")]
async fn set_domain(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<ProjectId>,
    body: Json<DomainBody>,
) -> Result<HttpResponse, AppError> {
    let domain = required("domain", body.domain.as_deref()).and_then(|d| {
        Hostname::parse(d).ok_or_else(|| AppError::validation("domain", Hostname::EXPECTED))
    });
    let domain = ops::content::set_domain(&state, caller, path.into_inner(), domain).await?;
    Ok(HttpResponse::Ok().json(DomainJson {
        domain: Some(domain),
    }))
}

/// Remove a project's custom domain.
///
/// Needs the `domain` scope and the owner role.
#[utoipa::path(
    tag = "domain",
    params(("id" = ProjectId, Path, description = "The project's id.")),
    security(("bearer" = ["domain"]), ("session" = [], "csrf" = [])),
    responses((status = 204, description = "Removed (or there was none).")),
)]
#[delete("/{id}/domain")]
async fn remove_domain(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<ProjectId>,
) -> Result<HttpResponse, AppError> {
    ops::content::remove_domain(&state, caller, path.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
