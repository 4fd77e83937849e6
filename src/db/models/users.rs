//! Accounts.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::WriteError;
use crate::db::schema::users;
use crate::db::timestamp::Stamp;
use crate::db::{is_unique_violation, DbConnection};
use crate::domain::{Email, UserId};

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub password_hash: String,
    #[diesel(deserialize_as = Stamp)]
    pub created_at: NaiveDateTime,
}

impl User {
    /// The account of `email` as typed (normalized, not judged: an implausible email simply
    /// has no account).
    pub fn find_by_email(conn: &mut DbConnection, email: &str) -> QueryResult<Option<User>> {
        let email = Email::normalize(email);
        // Stored emails were parsed (`Email::parse`: no control characters), so such an email
        // is nobody's; and PostgreSQL refuses a NUL in text outright, which would be a 500.
        if email.chars().any(char::is_control) {
            return Ok(None);
        }
        users::table
            .filter(users::email.eq(email))
            .select(User::as_select())
            // `get_result`, not `first`: SQLite recompiles `LIMIT ?` (see `tokens::find_by_hash`).
            .get_result(conn)
            .optional()
    }

    pub fn find(conn: &mut DbConnection, id: &UserId) -> QueryResult<Option<User>> {
        users::table
            .find(id)
            .select(User::as_select())
            .get_result(conn)
            .optional()
    }

    pub fn set_password_hash(conn: &mut DbConnection, id: &UserId, hash: &str) -> QueryResult<()> {
        diesel::update(users::table.find(id))
            .set(users::password_hash.eq(hash))
            .execute(conn)
            .map(drop)
    }

    /// Inserts the user; a taken email is a validation error on the `email` field.
    pub fn create(
        conn: &mut DbConnection,
        email: Email,
        password_hash: String,
        now: NaiveDateTime,
    ) -> Result<User, WriteError> {
        let user = User {
            id: UserId::new(),
            email,
            password_hash,
            created_at: now,
        };
        match diesel::insert_into(users::table)
            .values(&user)
            .execute(conn)
        {
            Ok(_) => Ok(user),
            Err(e) if is_unique_violation(&e) => Err(WriteError::field(
                "email",
                "An account with this email already exists.",
            )),
            Err(e) => Err(e.into()),
        }
    }
}
