//! Project files, kept in the database so every instance serves the same bytes.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::WriteError;
use crate::db::schema::files;
use crate::db::{write_transaction, DbConnection};
use crate::domain::{Cursor, PageRequest, ProjectId, UserId};

/// Uploads larger than this are refused with 413.
pub const MAX_SIZE: usize = 10 * 1024 * 1024;

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = files)]
pub struct FileInfo {
    pub name: String,
    pub size: i64,
    pub content_type: String,
    pub uploaded_at: NaiveDateTime,
}

/// A file name is one path segment (`domain::file_name`).
pub fn validate_name(name: &str) -> Result<(), WriteError> {
    if !crate::domain::file_name::is_valid(name) {
        return Err(WriteError::field(
            "name",
            "Use 1–255 characters without slashes or control characters.",
        ));
    }
    Ok(())
}

/// Stores (or replaces) a file.
pub fn put(
    conn: &mut DbConnection,
    project_id: &ProjectId,
    name: &str,
    content_type: &str,
    data: Vec<u8>,
    user_id: &UserId,
    now: NaiveDateTime,
) -> Result<FileInfo, WriteError> {
    let size = data.len() as i64;
    write_transaction(conn, |conn| {
        diesel::delete(files::table.find((project_id, name))).execute(conn)?;
        diesel::insert_into(files::table)
            .values((
                files::project_id.eq(project_id),
                files::name.eq(name),
                files::content_type.eq(content_type),
                files::size.eq(size),
                files::data.eq(&data),
                files::uploaded_by.eq(user_id),
                files::uploaded_at.eq(now),
            ))
            .execute(conn)?;
        Ok::<_, WriteError>(())
    })?;
    Ok(FileInfo {
        name: name.to_owned(),
        size,
        content_type: content_type.to_owned(),
        uploaded_at: now,
    })
}

/// A page of the project's files, by name.
pub fn list(
    conn: &mut DbConnection,
    project_id: &ProjectId,
    page: &PageRequest,
) -> QueryResult<Vec<FileInfo>> {
    let mut query = files::table
        .filter(files::project_id.eq(project_id))
        .into_boxed();
    if let Some(after) = &page.after {
        query = query.filter(files::name.gt(after.key.clone()));
    }
    query
        .order(files::name)
        .limit(page.fetch())
        .select(FileInfo::as_select())
        .load(conn)
}

impl FileInfo {
    pub fn cursor(&self) -> Cursor {
        Cursor::new(None, self.name.as_str())
    }
}

/// The file's content type and bytes.
pub fn get(
    conn: &mut DbConnection,
    project_id: &ProjectId,
    name: &str,
) -> QueryResult<(String, Vec<u8>)> {
    files::table
        .find((project_id, name))
        .select((files::content_type, files::data))
        // `get_result`, not `first`: SQLite recompiles `LIMIT ?` (see `tokens::find_by_hash`).
        .get_result(conn)
}

/// Deletes the file; `NotFound` when there is none.
pub fn delete(
    conn: &mut DbConnection,
    project_id: &ProjectId,
    name: &str,
) -> Result<(), WriteError> {
    match diesel::delete(files::table.find((project_id, name))).execute(conn)? {
        0 => Err(diesel::result::Error::NotFound.into()),
        _ => Ok(()),
    }
}
