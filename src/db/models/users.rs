//! Accounts.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::users;
use crate::db::{is_unique_violation, DbConnection};
use crate::error::AppError;

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: String,
    pub email: String,
    pub password_hash: String,
    pub created_at: NaiveDateTime,
}

/// Emails compare case-insensitively, so they are stored trimmed and lower-cased.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

impl User {
    pub fn find_by_email(conn: &mut DbConnection, email: &str) -> QueryResult<Option<User>> {
        users::table
            .filter(users::email.eq(normalize_email(email)))
            .select(User::as_select())
            .first(conn)
            .optional()
    }

    pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<User>> {
        // `get_result`, not `first`: SQLite recompiles `LIMIT ?` (see `tokens::find_by_hash`).
        users::table
            .find(id)
            .select(User::as_select())
            .get_result(conn)
            .optional()
    }

    pub fn set_password_hash(conn: &mut DbConnection, id: &str, hash: &str) -> QueryResult<()> {
        diesel::update(users::table.find(id))
            .set(users::password_hash.eq(hash))
            .execute(conn)
            .map(drop)
    }

    /// Inserts the user; a taken email is a validation error on the `email` field.
    pub fn create(
        conn: &mut DbConnection,
        email: &str,
        password_hash: String,
        now: NaiveDateTime,
    ) -> Result<User, AppError> {
        let user = User {
            id: uuid::Uuid::new_v4().to_string(),
            email: normalize_email(email),
            password_hash,
            created_at: now,
        };
        match diesel::insert_into(users::table)
            .values(&user)
            .execute(conn)
        {
            Ok(_) => Ok(user),
            Err(e) if is_unique_violation(&e) => Err(AppError::validation(
                "email",
                "An account with this email already exists.",
            )),
            Err(e) => Err(e.into()),
        }
    }
}
