//! What a project's API produces: publishes and messages (project comments).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::WriteError;
use crate::db::schema::{messages, publishes};
use crate::db::DbConnection;
use crate::domain::{Cursor, PageRequest, ProjectId, UserId};

pub const MESSAGE_MAX_CHARS: usize = 10_000;
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

/// `validate_body` as `/api/openapi.json` states it (with `maxLength` = `MESSAGE_MAX_CHARS`):
/// no control character but line breaks and tabs, and one that is neither a control character
/// nor white space (`char::is_whitespace`, what `trim` drops).
pub const MESSAGE_PATTERN: &str = "^[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f]*\
    [^\\x00-\\x20\\x7f-\\xa0\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]\
    [^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f]*$";

/// A message's text: at most `MESSAGE_MAX_CHARS` as sent, trimmed, not empty, no control
/// character but line breaks and tabs (anywhere, ends included: the document's pattern).
pub fn validate_body(raw: &str) -> Result<String, WriteError> {
    let body = raw.trim();
    let sent = raw.chars().count();
    match body.chars().count() {
        0 => Err(WriteError::field("body", "Write a message.")),
        _ if sent > MESSAGE_MAX_CHARS => Err(WriteError::field(
            "body",
            format!("Use at most {MESSAGE_MAX_CHARS} characters."),
        )),
        // Line breaks and tabs are text; other control characters are not (and PostgreSQL
        // cannot store NUL at all: found by the contract test as a 500).
        _ if raw
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) =>
        {
            Err(WriteError::field(
                "body",
                "The message cannot contain control characters.",
            ))
        }
        _ => Ok(body.to_owned()),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_pattern_accepts_what_validate_body_does() {
        let pattern = regex_lite::Regex::new(MESSAGE_PATTERN).unwrap();
        for c in (0..0x3100u32).filter_map(char::from_u32) {
            for s in [c.to_string(), format!("a{c}"), format!(" {c} ")] {
                let ok = validate_body(&s).is_ok();
                assert_eq!(pattern.is_match(&s), ok, "{:?}", c as u32);
            }
        }
    }
}
