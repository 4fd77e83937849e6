//! What a project's API produces: publishes and messages (project comments).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{messages, publishes};
use crate::db::DbConnection;
use crate::error::AppError;

pub const MESSAGE_MAX_CHARS: usize = 10_000;
/// Lists return at most this many items, newest first.
pub const LIST_LIMIT: i64 = 100;

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = publishes)]
pub struct Publish {
    pub id: String,
    pub project_id: String,
    pub created_by: String,
    pub status: String,
    pub created_at: NaiveDateTime,
}

pub fn publish(
    conn: &mut DbConnection,
    project_id: &str,
    user_id: &str,
    now: NaiveDateTime,
) -> QueryResult<Publish> {
    let row = Publish {
        id: uuid::Uuid::new_v4().to_string(),
        project_id: project_id.to_owned(),
        created_by: user_id.to_owned(),
        status: "published".to_owned(),
        created_at: now,
    };
    diesel::insert_into(publishes::table)
        .values(&row)
        .execute(conn)?;
    Ok(row)
}

pub fn publishes(conn: &mut DbConnection, project_id: &str) -> QueryResult<Vec<Publish>> {
    publishes::table
        .filter(publishes::project_id.eq(project_id))
        .order((publishes::created_at.desc(), publishes::id.desc()))
        .limit(LIST_LIMIT)
        .select(Publish::as_select())
        .load(conn)
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = messages)]
pub struct Message {
    pub id: String,
    pub project_id: String,
    pub author_id: String,
    pub body: String,
    pub created_at: NaiveDateTime,
}

pub fn validate_body(body: &str) -> Result<String, AppError> {
    let body = body.trim();
    match body.chars().count() {
        0 => Err(AppError::validation("body", "Write a message.")),
        n if n > MESSAGE_MAX_CHARS => Err(AppError::validation(
            "body",
            format!("Use at most {MESSAGE_MAX_CHARS} characters."),
        )),
        _ => Ok(body.to_owned()),
    }
}

pub fn post_message(
    conn: &mut DbConnection,
    project_id: &str,
    author_id: &str,
    body: String,
    now: NaiveDateTime,
) -> QueryResult<Message> {
    let row = Message {
        id: uuid::Uuid::new_v4().to_string(),
        project_id: project_id.to_owned(),
        author_id: author_id.to_owned(),
        body,
        created_at: now,
    };
    diesel::insert_into(messages::table)
        .values(&row)
        .execute(conn)?;
    Ok(row)
}

pub fn messages(conn: &mut DbConnection, project_id: &str) -> QueryResult<Vec<Message>> {
    messages::table
        .filter(messages::project_id.eq(project_id))
        .order((messages::created_at.desc(), messages::id.desc()))
        .limit(LIST_LIMIT)
        .select(Message::as_select())
        .load(conn)
}
