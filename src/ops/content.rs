//! A project's content (SPEC §6): publishing its site, its comments, its files and its custom
//! domain. Each change is asked by a member (a token with the resource's scope, or a session)
//! and is the project's alone: no security-log event and no notification. The access check
//! and the write run together on the writer (`super::on_project_write`), and a field the door
//! could not parse is reported only after it, so a stranger learns nothing from a bad body.

use crate::auth::{Caller, Need};
use crate::db::models::activity::{self, Message, Publish};
use crate::db::models::files::{self, FileInfo};
use crate::db::models::projects;
use crate::domain::{Hostname, MessageText, ProjectId, Role, Scope};
use crate::error::AppError;
use crate::state::AppState;

use super::on_project_write;

/// Who may publish a project's site.
pub const PUBLISH: Need = Need::new(Scope::Publish, Role::Editor);
/// Who may post a comment on a project.
pub const COMMENT: Need = Need::new(Scope::Messages, Role::Editor);
/// Who may upload or delete a project's files: a door reading a large body asks this before
/// reading it, and the write asks it again (the role may change during the upload).
pub const FILES: Need = Need::new(Scope::Files, Role::Editor);
/// Who may set or remove a project's custom domain.
pub const DOMAIN: Need = Need::new(Scope::Domain, Role::Owner);

/// Publishes the project's site, as the caller.
pub async fn publish(
    state: &AppState,
    caller: Caller,
    project: ProjectId,
) -> Result<Publish, AppError> {
    let now = state.clock.now();
    on_project_write(state, caller, project, PUBLISH, move |conn, id, user_id| {
        Ok(activity::publish(conn, id, user_id, now)?)
    })
    .await
}

/// Posts a comment on the project: `text` as the door read it (`MessageText`, or why not).
pub async fn post_message(
    state: &AppState,
    caller: Caller,
    project: ProjectId,
    text: Result<MessageText, AppError>,
) -> Result<Message, AppError> {
    let now = state.clock.now();
    on_project_write(state, caller, project, COMMENT, move |conn, id, user_id| {
        let text = text?.into_string();
        Ok(activity::post_message(conn, id, user_id, text, now)?)
    })
    .await
}

/// A file as uploaded: its name (checked by the door with `files::validate_name` before the
/// body is read), its `Content-Type` and its bytes.
pub struct Upload {
    pub name: String,
    pub content_type: String,
    pub data: Vec<u8>,
}

/// Stores the file (an existing one of that name is replaced).
pub async fn put_file(
    state: &AppState,
    caller: Caller,
    project: ProjectId,
    upload: Upload,
) -> Result<FileInfo, AppError> {
    let now = state.clock.now();
    on_project_write(state, caller, project, FILES, move |conn, id, user_id| {
        let Upload {
            name,
            content_type,
            data,
        } = upload;
        Ok(files::put(
            conn,
            id,
            &name,
            &content_type,
            data,
            user_id,
            now,
        )?)
    })
    .await
}

/// Deletes the file (404 when the project has none of that name).
pub async fn delete_file(
    state: &AppState,
    caller: Caller,
    project: ProjectId,
    name: String,
) -> Result<(), AppError> {
    on_project_write(state, caller, project, FILES, move |conn, id, _| {
        Ok(files::delete(conn, id, &name)?)
    })
    .await
}

/// Sets the project's custom domain to `domain` as the door read it (a `Hostname`, or why
/// not); answers the domain as stored.
pub async fn set_domain(
    state: &AppState,
    caller: Caller,
    project: ProjectId,
    domain: Result<Hostname, AppError>,
) -> Result<String, AppError> {
    on_project_write(state, caller, project, DOMAIN, move |conn, id, _| {
        let domain = domain?.into_string();
        projects::set_domain(conn, id, Some(domain.clone()))?;
        Ok(domain)
    })
    .await
}

/// Removes the project's custom domain (none set: nothing to do, and no error).
pub async fn remove_domain(
    state: &AppState,
    caller: Caller,
    project: ProjectId,
) -> Result<(), AppError> {
    on_project_write(state, caller, project, DOMAIN, move |conn, id, _| {
        Ok(projects::set_domain(conn, id, None)?)
    })
    .await
}
