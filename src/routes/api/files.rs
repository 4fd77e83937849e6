//! Project files (`files`): raw-body upload up to 10 MiB, list, download, delete.

use actix_web::http::header;
use actix_web::{delete, get, put, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::{on_project, project_page, read_limited, utc, Page};
use crate::auth::{Caller, Need};
use crate::db::models::files;
use crate::domain::{ProjectId, Role, Scope};
use crate::error::{AppError, ErrorBody};
use crate::ops;
use crate::state::AppState;

super::resource!(upload, list, download, remove);

/// A file's name in a path, as documented: `domain::file_name`'s pattern.
struct FileName;

impl utoipa::PartialSchema for FileName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(crate::domain::file_name::pattern()))
            .description(Some(
                "1 to 255 characters, not `.` or `..`, without `/`, `\\` or control characters.",
            ))
            .into()
    }
}

impl utoipa::ToSchema for FileName {}

/// A stored file, without its bytes. Fields in alphabetical order: the order this answer has
/// always had.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = FileInfo)]
pub struct FileJson {
    /// The `Content-Type` it was uploaded with.
    content_type: String,
    name: String,
    /// In bytes.
    size: i64,
    uploaded_at: DateTime<Utc>,
}

impl From<files::FileInfo> for FileJson {
    fn from(f: files::FileInfo) -> Self {
        FileJson {
            content_type: f.content_type,
            name: f.name,
            size: f.size,
            uploaded_at: utc(f.uploaded_at),
        }
    }
}

/// Upload a file.
///
/// The request body is the file, up to 10 MiB, stored with the request's `Content-Type`
/// (`application/octet-stream` when none); an existing file of that name is replaced. Needs
/// the `files` scope and the editor role (or owner).
#[utoipa::path(
    tag = "files",
    params(
        ("id" = ProjectId, Path, description = "The project's id."),
        ("name" = inline(FileName), Path, description = "The file's name."),
    ),
    request_body(
        description = "The file's bytes, in any media type; none: an empty file.",
        content((Option<String> = "application/octet-stream")),
    ),
    security(("bearer" = ["files"]), ("session" = [], "csrf" = [])),
    responses(
        (status = 201, description = "Stored.", body = FileJson),
        (status = 413, description = "`payload_too_large`: over 10 MiB.", body = ErrorBody),
        (status = 422, description = "`validation_failed`: a name that is not 1–255 characters \
            without slashes or control characters.", body = ErrorBody),
    ),
)]
#[put("/{id}/files/{name}")]
async fn upload(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<(ProjectId, String)>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, AppError> {
    let (id, name) = path.into_inner();
    files::validate_name(&name)?;
    // Checked before reading up to 10 MiB, so a viewer or a stranger uploads nothing…
    let need = ops::content::FILES;
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
    // …and again with the write, since the role may have changed during the upload.
    let upload = ops::content::Upload {
        name,
        content_type,
        data,
    };
    let info = ops::content::put_file(&state, caller, id, upload).await?;
    Ok(HttpResponse::Created().json(FileJson::from(info)))
}

/// List a project's files.
///
/// By name. Needs the `files` scope; any member may read.
#[utoipa::path(
    tag = "files",
    params(("id" = ProjectId, Path, description = "The project's id."), Page),
    security(("bearer" = ["files"]), ("session" = [])),
    responses((status = 200, description = "A page of files.", body = [FileJson], headers(
        ("Link" = String, description = "`<…>; rel=\"next\"` while more remain."),
    ))),
)]
#[get("/{id}/files")]
async fn list(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<ProjectId>,
    page: Page,
) -> Result<HttpResponse, AppError> {
    let need = Need::new(Scope::Files, Role::Viewer);
    project_page::<_, FileJson>(
        caller,
        &state,
        path.into_inner(),
        need,
        page,
        files::list,
        files::FileInfo::cursor,
    )
    .await
}

/// Download a file.
///
/// The bytes, with the `Content-Type` they were uploaded with, as an attachment. Needs the
/// `files` scope; any member may read.
#[utoipa::path(
    tag = "files",
    params(
        ("id" = ProjectId, Path, description = "The project's id."),
        ("name" = inline(FileName), Path, description = "The file's name."),
    ),
    security(("bearer" = ["files"]), ("session" = [])),
    responses((status = 200, description = "The file's bytes, in the media type it was uploaded with.",
        content((String = "application/octet-stream")))),
)]
#[get("/{id}/files/{name}")]
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

/// Delete a file.
///
/// Needs the `files` scope and the editor role (or owner).
#[utoipa::path(
    tag = "files",
    params(
        ("id" = ProjectId, Path, description = "The project's id."),
        ("name" = inline(FileName), Path, description = "The file's name."),
    ),
    security(("bearer" = ["files"]), ("session" = [], "csrf" = [])),
    responses((status = 204, description = "Deleted.")),
)]
#[delete("/{id}/files/{name}")]
async fn remove(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<(ProjectId, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, name) = path.into_inner();
    ops::content::delete_file(&state, caller, id, name).await?;
    Ok(HttpResponse::NoContent().finish())
}
