//! Publishing a project's site (`publish`) and its comments (`messages`).

use actix_web::{get, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{project_page, required, utc, Json, Page};
use crate::auth::{Caller, Need};
use crate::db::models::activity;
use crate::domain::{MessageText, ProjectId, Role, Scope, UserId};
use crate::error::{AppError, ErrorBody};
use crate::ops;
use crate::state::AppState;

super::resource!(publish);
// Under `/api/projects`.
super::resource!(configure_project, ProjectDoc: publishes, post_message, messages);

// Fields in alphabetical order: the order these answers have always had.

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Publish)]
pub struct PublishJson {
    created_at: DateTime<Utc>,
    created_by: UserId,
    #[schema(format = Uuid)]
    id: String,
    project_id: ProjectId,
    #[schema(value_type = PublishStatus)]
    status: String,
}

#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum PublishStatus {
    Published,
}

impl From<activity::Publish> for PublishJson {
    fn from(p: activity::Publish) -> Self {
        PublishJson {
            created_at: utc(p.created_at),
            created_by: p.created_by,
            id: p.id,
            project_id: p.project_id,
            status: p.status,
        }
    }
}

/// A comment on a project.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Message)]
pub struct MessageJson {
    author_id: UserId,
    body: String,
    created_at: DateTime<Utc>,
    #[schema(format = Uuid)]
    id: String,
    project_id: ProjectId,
}

impl From<activity::Message> for MessageJson {
    fn from(m: activity::Message) -> Self {
        MessageJson {
            author_id: m.author_id,
            body: m.body,
            created_at: utc(m.created_at),
            id: m.id,
            project_id: m.project_id,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[schema(as = NewPublish)]
struct PublishBody {
    #[serde(rename = "projectId")]
    #[schema(value_type = ProjectId, required = true)]
    project_id: Option<String>,
}

/// Publish a project's site.
///
/// Needs the `publish` scope and the editor role (or owner) on the project.
#[utoipa::path(
    tag = "publish",
    security(("bearer" = ["publish"]), ("session" = [], "csrf" = [])),
    responses(
        (status = 201, description = "Published.", body = PublishJson),
        (status = 404, description = "`not_found`: no such project, or not yours.", body = ErrorBody),
    ),
)]
#[post("/publish")]
async fn publish(
    caller: Caller,
    state: web::Data<AppState>,
    body: Json<PublishBody>,
) -> Result<HttpResponse, AppError> {
    // The project comes in the body, so a bad id is a field error, not a missing page.
    caller.require(Scope::Publish)?;
    let id = ProjectId::parse(required("projectId", body.project_id.as_deref())?)
        .ok_or_else(|| AppError::validation("projectId", "Use the project's id, a UUID."))?;
    let row = ops::content::publish(&state, caller, id).await?;
    Ok(HttpResponse::Created().json(PublishJson::from(row)))
}

/// List a project's publishes.
///
/// Newest first. Needs the `publish` scope; any member may read.
#[utoipa::path(
    tag = "publish",
    params(("id" = ProjectId, Path, description = "The project's id."), Page),
    security(("bearer" = ["publish"]), ("session" = [])),
    responses((status = 200, description = "A page of publishes.", body = [PublishJson], headers(
        ("Link" = String, description = "`<…>; rel=\"next\"` while more remain."),
    ))),
)]
#[get("/{id}/publishes")]
async fn publishes(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<ProjectId>,
    page: Page,
) -> Result<HttpResponse, AppError> {
    let need = Need::new(Scope::Publish, Role::Viewer);
    project_page::<_, PublishJson>(
        caller,
        &state,
        path.into_inner(),
        need,
        page,
        activity::publishes,
        activity::Publish::cursor,
    )
    .await
}

#[derive(Deserialize, ToSchema)]
#[schema(as = NewMessage)]
struct MessageBody {
    /// The comment's text: at most 10000 characters, trimmed, not empty; no control characters
    /// but line breaks and tabs.
    #[schema(schema_with = message_schema, required = true)]
    body: Option<String>,
}

/// `body`, from the rule that checks it (`MessageText::parse`).
fn message_schema() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .max_length(Some(MessageText::MAX_CHARS))
        .pattern(Some(MessageText::PATTERN))
        .build()
}

/// Post a comment on a project.
///
/// Needs the `messages` scope and the editor role (or owner).
#[utoipa::path(
    tag = "messages",
    params(("id" = ProjectId, Path, description = "The project's id.")),
    security(("bearer" = ["messages"]), ("session" = [], "csrf" = [])),
    responses((status = 201, description = "The comment.", body = MessageJson)),
)]
#[post("/{id}/messages")]
async fn post_message(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<ProjectId>,
    body: Json<MessageBody>,
) -> Result<HttpResponse, AppError> {
    let text = required("body", body.body.as_deref())
        .and_then(|t| MessageText::parse(t).map_err(|e| AppError::validation("body", e)));
    let row = ops::content::post_message(&state, caller, path.into_inner(), text).await?;
    Ok(HttpResponse::Created().json(MessageJson::from(row)))
}

/// List a project's comments.
///
/// Newest first. Needs the `messages` scope; any member may read.
#[utoipa::path(
    tag = "messages",
    params(("id" = ProjectId, Path, description = "The project's id."), Page),
    security(("bearer" = ["messages"]), ("session" = [])),
    responses((status = 200, description = "A page of comments.", body = [MessageJson], headers(
        ("Link" = String, description = "`<…>; rel=\"next\"` while more remain."),
    ))),
)]
#[get("/{id}/messages")]
async fn messages(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<ProjectId>,
    page: Page,
) -> Result<HttpResponse, AppError> {
    let need = Need::new(Scope::Messages, Role::Viewer);
    project_page::<_, MessageJson>(
        caller,
        &state,
        path.into_inner(),
        need,
        page,
        activity::messages,
        activity::Message::cursor,
    )
    .await
}
