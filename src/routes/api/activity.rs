//! Publishing a project's site (`publish`) and its comments (`messages`).

use actix_web::{get, post, web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::{on_project, required, utc, Json, Page};
use crate::auth::{Caller, Need};
use crate::db::models::activity;
use crate::domain::{ProjectId, Role, Scope};
use crate::error::AppError;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(publish)
        .service(publishes)
        .service(post_message)
        .service(messages);
}

fn publish_json(p: activity::Publish) -> serde_json::Value {
    json!({
        "id": p.id,
        "projectId": p.project_id,
        "status": p.status,
        "createdAt": utc(p.created_at),
        "createdBy": p.created_by,
    })
}

fn message_json(m: activity::Message) -> serde_json::Value {
    json!({
        "id": m.id,
        "projectId": m.project_id,
        "authorId": m.author_id,
        "body": m.body,
        "createdAt": utc(m.created_at),
    })
}

#[derive(Deserialize)]
struct PublishBody {
    #[serde(rename = "projectId")]
    project_id: Option<String>,
}

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
    let now = state.clock.now();
    let need = Need::new(Scope::Publish, Role::Editor);
    let row = on_project(caller, &state, id, need, move |conn, id, user_id| {
        activity::publish(conn, id, user_id, now)
    })
    .await?;
    Ok(HttpResponse::Created().json(publish_json(row)))
}

#[get("/projects/{id}/publishes")]
async fn publishes(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<ProjectId>,
    page: Page,
) -> Result<HttpResponse, AppError> {
    let need = Need::new(Scope::Publish, Role::Viewer);
    let request = page.request.clone();
    let rows = on_project(
        caller,
        &state,
        path.into_inner(),
        need,
        move |conn, id, _| activity::publishes(conn, id, &request),
    )
    .await?;
    let (rows, next) = page.request.cut(rows, activity::Publish::cursor);
    Ok(page.respond(
        &rows.into_iter().map(publish_json).collect::<Vec<_>>(),
        next,
    ))
}

#[derive(Deserialize)]
struct MessageBody {
    body: Option<String>,
}

#[post("/projects/{id}/messages")]
async fn post_message(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<ProjectId>,
    body: Json<MessageBody>,
) -> Result<HttpResponse, AppError> {
    let now = state.clock.now();
    let need = Need::new(Scope::Messages, Role::Editor);
    let row = on_project(
        caller,
        &state,
        path.into_inner(),
        need,
        move |conn, id, user_id| {
            let text = activity::validate_body(required("body", body.body.as_deref())?)?;
            Ok::<_, AppError>(activity::post_message(conn, id, user_id, text, now)?)
        },
    )
    .await?;
    Ok(HttpResponse::Created().json(message_json(row)))
}

#[get("/projects/{id}/messages")]
async fn messages(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<ProjectId>,
    page: Page,
) -> Result<HttpResponse, AppError> {
    let need = Need::new(Scope::Messages, Role::Viewer);
    let request = page.request.clone();
    let rows = on_project(
        caller,
        &state,
        path.into_inner(),
        need,
        move |conn, id, _| activity::messages(conn, id, &request),
    )
    .await?;
    let (rows, next) = page.request.cut(rows, activity::Message::cursor);
    Ok(page.respond(
        &rows.into_iter().map(message_json).collect::<Vec<_>>(),
        next,
    ))
}
