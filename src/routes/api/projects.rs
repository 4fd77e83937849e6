//! Projects and their members. Creating projects and managing members is session-only.

use actix_web::{delete, get, post, put, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{required, utc, Json, Page};
use crate::auth::{Caller, SessionCaller};
use crate::db::{self, models::projects};
use crate::domain::{Email, ProjectId, ProjectName, Role, TokenPolicy, UserId};
use crate::error::{AppError, ErrorBody};
use crate::ops::{self, projects::MemberChange};
use crate::routes::requester;
use crate::state::AppState;

super::resource!(list, create, set_member, remove_member, set_token_policy);

// Fields in alphabetical order: the order these answers have always had.

/// A project the caller is a member of, with the caller's role on it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ProjectWithRole)]
pub struct ProjectJson {
    created_at: DateTime<Utc>,
    /// The custom domain; null when none is set.
    domain: Option<String>,
    id: ProjectId,
    #[schema(value_type = String)]
    name: ProjectName,
    role: Role,
}

#[derive(Serialize, ToSchema)]
#[schema(as = Project)]
pub struct CreatedProjectJson {
    id: ProjectId,
    #[schema(value_type = String)]
    name: ProjectName,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Member)]
pub struct MemberJson {
    #[schema(value_type = String, format = Email)]
    email: Email,
    project_id: ProjectId,
    role: Role,
    user_id: UserId,
}

/// List your projects.
///
/// The projects you are a member of, with your role on each. Any valid credential may ask;
/// a token restricted to chosen projects lists only those.
#[utoipa::path(
    tag = "projects",
    params(Page),
    security(("bearer" = []), ("session" = [])),
    responses((status = 200, description = "A page of projects.", body = [ProjectJson], headers(
        ("Link" = String, description = "`<…>; rel=\"next\"` while more remain."),
    ))),
)]
#[get("")]
async fn list(
    caller: Caller,
    state: web::Data<AppState>,
    page: Page,
) -> Result<HttpResponse, AppError> {
    let request = page.request()?;
    let rows = db::query(&state.pool, move |conn| {
        projects::list_for(conn, &caller.user.id, caller.reach(), &request)
    })
    .await?;
    let (rows, next) = page.cut(rows, |(p, _)| p.cursor());
    let items: Vec<_> = rows
        .into_iter()
        .map(|(p, role)| ProjectJson {
            created_at: utc(p.created_at),
            domain: p.domain,
            id: p.id,
            name: p.name,
            role,
        })
        .collect();
    Ok(page.respond(&items, next))
}

#[derive(Deserialize, ToSchema)]
struct NewProject {
    #[schema(schema_with = crate::domain::name::schema, required = true)]
    name: Option<String>,
}

/// Create a project.
///
/// You become its owner. Needs a dashboard session.
#[utoipa::path(
    tag = "projects",
    security(("session" = [], "csrf" = [])),
    responses((status = 201, description = "Created.", body = CreatedProjectJson)),
)]
#[post("")]
async fn create(
    req: HttpRequest,
    SessionCaller(caller): SessionCaller,
    state: web::Data<AppState>,
    body: Json<NewProject>,
) -> Result<HttpResponse, AppError> {
    let name = ProjectName::parse(required("name", body.name.as_deref())?)
        .map_err(|e| AppError::validation("name", e.to_string()))?;
    let by = requester(&req, &caller.user.id)?;
    let project = ops::projects::create(&state, &by, name).await?;
    Ok(HttpResponse::Created().json(CreatedProjectJson {
        id: project.id,
        name: project.name,
    }))
}

#[derive(Deserialize, ToSchema)]
struct NewMember {
    /// The email of an existing account (`domain::Email`: at most 254 bytes).
    #[schema(value_type = String, required = true, format = Email, max_length = 254)]
    email: Option<String>,
    #[schema(value_type = Role, required = true)]
    role: Option<String>,
}

/// Add a member, or change a member's role.
///
/// Adds the account with this email to the project, or changes the role of a member it
/// already has. Owners only; needs a dashboard session; at most 60 an hour per account.
/// Making someone an owner, or lowering an owner's role, needs the password entered within
/// the last 10 minutes.
#[utoipa::path(
    tag = "projects",
    params(("id" = ProjectId, Path, description = "The project's id.")),
    security(("session" = [], "csrf" = [])),
    responses(
        (status = 201, description = "The member, as added or changed.", body = MemberJson),
        (status = 429, description = "`rate_limited`: too many additions; see `Retry-After`.",
            body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait."))),
    ),
)]
#[post("/{id}/members")]
async fn set_member(
    req: HttpRequest,
    SessionCaller(caller): SessionCaller,
    state: web::Data<AppState>,
    path: web::Path<ProjectId>,
    body: Json<NewMember>,
) -> Result<HttpResponse, AppError> {
    let change = MemberChange::parse(body.email.as_deref(), body.role.as_deref());
    let by = requester(&req, &caller.user.id)?;
    let project_id = path.into_inner();
    let member = ops::projects::set_member(&state, &by, project_id.clone(), change).await?;
    Ok(HttpResponse::Created().json(MemberJson {
        email: member.email,
        project_id,
        role: member.role,
        user_id: member.user_id,
    }))
}

/// Remove a member.
///
/// Owners only; needs a dashboard session. Removing an owner needs the password entered within
/// the last 10 minutes.
#[utoipa::path(
    tag = "projects",
    params(
        ("id" = ProjectId, Path, description = "The project's id."),
        ("user_id" = UserId, Path, description = "The member's account id."),
    ),
    security(("session" = [], "csrf" = [])),
    responses(
        (status = 204, description = "Removed."),
        (status = 422, description = "`validation_failed`: the project's last owner (a project \
            needs one).", body = ErrorBody),
    ),
)]
#[delete("/{id}/members/{user_id}")]
async fn remove_member(
    req: HttpRequest,
    SessionCaller(caller): SessionCaller,
    state: web::Data<AppState>,
    path: web::Path<(ProjectId, UserId)>,
) -> Result<HttpResponse, AppError> {
    let (id, user_id) = path.into_inner();
    let by = requester(&req, &caller.user.id)?;
    ops::projects::remove_member(&state, &by, id, user_id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// JSON Schema's `integer` is any number with no fraction: `30.0` is 30.
pub(super) fn whole_number<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<i64>, D::Error> {
    let n = Option::<serde_json::Number>::deserialize(d)?;
    n.map(|n| {
        n.as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 1e15)
                    .map(|f| f as i64)
            })
            .ok_or_else(|| serde::de::Error::custom("expected a whole number of days"))
    })
    .transpose()
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = TokenPolicyChange)]
struct TokenPolicyBody {
    /// The longest a token may live (from creation to expiry) to be used on this project:
    /// 1 to 366 days; null or absent: no limit.
    #[schema(minimum = 1, maximum = 366)]
    #[serde(default, deserialize_with = "whole_number")]
    max_lifetime_days: Option<i64>,
    /// Only tokens restricted to chosen projects may be used on this project. Absent: false.
    #[serde(default)]
    require_restricted: bool,
    /// Only tokens of members whose account has a second factor may be used on this project;
    /// any other member's token answers 403 `second_factor_required` here. Absent: false.
    #[serde(default)]
    require_second_factor: bool,
}

/// Set the project's token policy.
///
/// What the project asks of the tokens used on it (SPEC §8.5). A token that breaks it gets
/// 403 `token_policy` on this project, with a message naming the rule; it is blocked, not
/// revoked, and works again if the policy changes. Owners only; needs a dashboard session and
/// the password entered within the last 10 minutes.
#[utoipa::path(
    tag = "projects",
    params(("id" = ProjectId, Path, description = "The project's id.")),
    security(("session" = [], "csrf" = [])),
    responses((status = 200, description = "The policy now.", body = TokenPolicy)),
)]
#[put("/{id}/token-policy")]
async fn set_token_policy(
    req: HttpRequest,
    SessionCaller(caller): SessionCaller,
    state: web::Data<AppState>,
    path: web::Path<ProjectId>,
    body: Json<TokenPolicyBody>,
) -> Result<HttpResponse, AppError> {
    let policy = ops::projects::token_policy(
        body.max_lifetime_days,
        body.require_restricted,
        body.require_second_factor,
    );
    let by = requester(&req, &caller.user.id)?;
    let policy = ops::projects::set_token_policy(&state, &by, path.into_inner(), policy).await?;
    Ok(HttpResponse::Ok().json(policy))
}
