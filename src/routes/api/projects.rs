//! Projects and their members. Creating projects and managing members is session-only.

use actix_session::Session;
use actix_web::{delete, get, post, put, web, HttpResponse};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{on_project_write, required, utc, Json, Page};
use crate::auth::{reauth, Caller, Need, SessionCaller};
use crate::db::models::security_log::{self, Actor, Client};
use crate::db::models::users::User;
use crate::db::{self, models::projects};
use crate::domain::{Email, LifetimeDays, ProjectId, ProjectName, Role, TokenPolicy, UserId};
use crate::error::{AppError, ErrorBody};
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
    SessionCaller(caller): SessionCaller,
    state: web::Data<AppState>,
    body: Json<NewProject>,
) -> Result<HttpResponse, AppError> {
    let name = ProjectName::parse(required("name", body.name.as_deref())?)
        .map_err(|e| AppError::validation("name", e.to_string()))?;
    let now = state.clock.now();
    let project = db::write(&state.pool, move |conn| {
        projects::create(conn, &caller.user.id, name, now)
    })
    .await?;
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
    SessionCaller(caller): SessionCaller,
    session: Session,
    client: Client,
    state: web::Data<AppState>,
    path: web::Path<ProjectId>,
    body: Json<NewMember>,
) -> Result<HttpResponse, AppError> {
    let now = state.clock.now();
    state
        .throttles
        .members_attempt(&state.pool, &caller.user.id, now)
        .await?;
    let recent = reauth::is_recent(&session, now)?;
    let need = Need::role(Role::Owner);
    let actor = caller.user.clone();
    let member = on_project_write(
        caller,
        &state,
        path.into_inner(),
        need,
        move |conn, id, _| {
            let email = required("email", body.email.as_deref())?;
            let role = Role::parse(required("role", body.role.as_deref())?)
                .ok_or_else(|| AppError::validation("role", Role::EXPECTED))?;
            let before = projects::role_by_email(conn, id, email)?;
            reauth::check_membership(before, Some(role), recent)?;
            Ok::<_, AppError>((
                id.clone(),
                security_log::set_member(conn, id, email, role, &by(&actor, &client, now))?,
            ))
        },
    )
    .await?;
    let (project_id, member) = member;
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
    SessionCaller(caller): SessionCaller,
    session: Session,
    client: Client,
    state: web::Data<AppState>,
    path: web::Path<(ProjectId, UserId)>,
) -> Result<HttpResponse, AppError> {
    let (id, user_id) = path.into_inner();
    let (actor, now) = (caller.user.clone(), state.clock.now());
    let recent = reauth::is_recent(&session, now)?;
    on_project_write(
        caller,
        &state,
        id,
        Need::role(Role::Owner),
        move |conn, id, _| {
            let before = projects::role_of(conn, id, &user_id)?;
            reauth::check_membership(before, None, recent)?;
            Ok::<_, AppError>(security_log::remove_member(
                conn,
                id,
                &user_id,
                &by(&actor, &client, now),
            )?)
        },
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// JSON Schema's `integer` is any number with no fraction: `30.0` is 30.
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
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
    SessionCaller(caller): SessionCaller,
    session: Session,
    state: web::Data<AppState>,
    path: web::Path<ProjectId>,
    body: Json<TokenPolicyBody>,
) -> Result<HttpResponse, AppError> {
    let recent = reauth::is_recent(&session, state.clock.now())?;
    let Json(body) = body;
    let policy = on_project_write(
        caller,
        &state,
        path.into_inner(),
        Need::role(Role::Owner),
        move |conn, id, _| {
            let max_lifetime_days = body
                .max_lifetime_days
                .map(LifetimeDays::new)
                .transpose()
                .map_err(|e| AppError::validation("maxLifetimeDays", e.to_string()))?;
            if !recent {
                return Err(AppError::ReauthenticationRequired);
            }
            let policy = TokenPolicy {
                max_lifetime_days,
                require_restricted: body.require_restricted,
                require_second_factor: body.require_second_factor,
            };
            projects::set_policy(conn, id, &policy)?;
            Ok::<_, AppError>(policy)
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(policy))
}

/// The owner making a membership change, for its security log entries.
fn by<'a>(actor: &'a User, client: &'a Client, now: NaiveDateTime) -> Actor<'a> {
    Actor {
        user: actor,
        client,
        now,
    }
}
