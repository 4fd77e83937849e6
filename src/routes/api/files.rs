//! Project files (`files`): raw-body upload up to 10 MiB, list, download, delete.

use actix_web::http::header;
use actix_web::{delete, get, put, web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde_json::json;

use super::{on_project, utc, Page};
use crate::auth::{Caller, Need};
use crate::db::models::files;
use crate::domain::{ProjectId, Role, Scope};
use crate::error::AppError;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(upload)
        .service(list)
        .service(download)
        .service(remove);
}

fn info_json(f: files::FileInfo) -> serde_json::Value {
    json!({ "name": f.name, "size": f.size, "contentType": f.content_type, "uploadedAt": utc(f.uploaded_at) })
}

/// Reads the body, refusing (413) as soon as it passes the limit: a declared length that is
/// too big is refused before reading anything.
async fn read_limited(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<Vec<u8>, AppError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(AppError::PayloadTooLarge);
    }
    let mut body = Vec::with_capacity(declared.unwrap_or(0));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk?;
        if body.len() + chunk.len() > limit {
            return Err(AppError::PayloadTooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[put("/projects/{id}/files/{name}")]
async fn upload(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<(ProjectId, String)>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, AppError> {
    let (id, name) = path.into_inner();
    let need = Need::new(Scope::Files, Role::Editor);
    files::validate_name(&name)?;
    // Checked before reading up to 10 MiB, so a viewer or a stranger uploads nothing…
    on_project(caller.clone(), &state, id.clone(), need, |_, _, _| {
        Ok::<_, AppError>(())
    })
    .await?;
    let data = read_limited(&req, payload, files::MAX_SIZE).await?;
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 255)
        .unwrap_or("application/octet-stream")
        .to_owned();
    let now = state.clock.now();
    // …and again with the write, since the role may have changed during the upload.
    let info = on_project(caller, &state, id, need, move |conn, id, user_id| {
        files::put(conn, id, &name, &content_type, data, user_id, now)
    })
    .await?;
    Ok(HttpResponse::Created().json(info_json(info)))
}

#[get("/projects/{id}/files")]
async fn list(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<ProjectId>,
    page: Page,
) -> Result<HttpResponse, AppError> {
    let need = Need::new(Scope::Files, Role::Viewer);
    let request = page.request.clone();
    let rows = on_project(
        caller,
        &state,
        path.into_inner(),
        need,
        move |conn, id, _| files::list(conn, id, &request),
    )
    .await?;
    let (rows, next) = page.request.cut(rows, files::FileInfo::cursor);
    Ok(page.respond(&rows.into_iter().map(info_json).collect::<Vec<_>>(), next))
}

#[get("/projects/{id}/files/{name}")]
async fn download(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<(ProjectId, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, name) = path.into_inner();
    let need = Need::new(Scope::Files, Role::Viewer);
    let (content_type, data) = on_project(caller, &state, id, need, move |conn, id, _| {
        files::get(conn, id, &name)
    })
    .await?;
    // Uploaded bytes are served as an attachment in a sandbox, so an uploaded HTML file
    // cannot run script on our origin.
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::CONTENT_DISPOSITION, "attachment"))
        .insert_header((header::CONTENT_SECURITY_POLICY, "sandbox"))
        .body(data))
}

#[delete("/projects/{id}/files/{name}")]
async fn remove(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<(ProjectId, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, name) = path.into_inner();
    let need = Need::new(Scope::Files, Role::Editor);
    on_project(caller, &state, id, need, move |conn, id, _| {
        files::delete(conn, id, &name)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
