//! What a project's API produces: publishes and messages (project comments).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{messages, publishes};
use crate::db::DbConnection;
use crate::domain::{Cursor, PageRequest, ProjectId, UserId};

/// Lists return at most this many items, newest first.

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = publishes)]
pub struct Publish {
    pub id: String,
    pub project_id: ProjectId,
    pub created_by: UserId,
    pub status: String,
    pub created_at: NaiveDateTime,
}

pub fn publish(
    conn: &mut DbConnection,
    project_id: &ProjectId,
    user_id: &UserId,
    now: NaiveDateTime,
) -> QueryResult<Publish> {
    let row = Publish {
        id: uuid::Uuid::new_v4().to_string(),
        project_id: project_id.clone(),
        created_by: user_id.clone(),
        status: "published".to_owned(),
        created_at: now,
    };
    diesel::insert_into(publishes::table)
        .values(&row)
        .execute(conn)?;
    Ok(row)
}

/// A page of the project's publishes, newest first.
pub fn publishes(
    conn: &mut DbConnection,
    project_id: &ProjectId,
    page: &PageRequest,
) -> QueryResult<Vec<Publish>> {
    let mut query = publishes::table
        .filter(publishes::project_id.eq(project_id))
        .into_boxed();
    if let Some(Cursor { at: Some(at), key }) = &page.after {
        query = query.filter(
            publishes::created_at.lt(*at).or(publishes::created_at
                .eq(*at)
                .and(publishes::id.lt(key.clone()))),
        );
    }
    query
        .order((publishes::created_at.desc(), publishes::id.desc()))
        .limit(page.fetch())
        .select(Publish::as_select())
        .load(conn)
}

impl Publish {
    pub fn cursor(&self) -> Cursor {
        Cursor::new(Some(self.created_at), self.id.as_str())
    }
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = messages)]
pub struct Message {
    pub id: String,
    pub project_id: ProjectId,
    pub author_id: UserId,
    pub body: String,
    pub created_at: NaiveDateTime,
}

pub fn post_message(
    conn: &mut DbConnection,
    project_id: &ProjectId,
    author_id: &UserId,
    body: String,
    now: NaiveDateTime,
) -> QueryResult<Message> {
    let row = Message {
        id: uuid::Uuid::new_v4().to_string(),
        project_id: project_id.clone(),
        author_id: author_id.clone(),
        body,
        created_at: now,
    };
    diesel::insert_into(messages::table)
        .values(&row)
        .execute(conn)?;
    Ok(row)
}

/// A page of the project's messages, newest first.
pub fn messages(
    conn: &mut DbConnection,
    project_id: &ProjectId,
    page: &PageRequest,
) -> QueryResult<Vec<Message>> {
    let mut query = messages::table
        .filter(messages::project_id.eq(project_id))
        .into_boxed();
    if let Some(Cursor { at: Some(at), key }) = &page.after {
        query = query.filter(
            messages::created_at.lt(*at).or(messages::created_at
                .eq(*at)
                .and(messages::id.lt(key.clone()))),
        );
    }
    query
        .order((messages::created_at.desc(), messages::id.desc()))
        .limit(page.fetch())
        .select(Message::as_select())
        .load(conn)
}

impl Message {
    pub fn cursor(&self) -> Cursor {
        Cursor::new(Some(self.created_at), self.id.as_str())
    }
}
