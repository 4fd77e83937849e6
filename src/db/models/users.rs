//! Accounts.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::WriteError;
use crate::db::schema::users;
use crate::db::timestamp::Stamp;
use crate::db::{is_unique_violation, DbConnection};
use crate::domain::{Cursor, Email, PageRequest, SecurityKind, UserId};

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub password_hash: String,
    #[diesel(deserialize_as = Stamp)]
    pub created_at: NaiveDateTime,
    /// An instance admin (SPEC §9): may use `/admin` and `/api/admin`, with a session.
    pub admin: bool,
    /// When an admin suspended the account (SPEC §9); `None` while it may be used.
    pub suspended_at: Option<NaiveDateTime>,
    /// Whether the account has a confirmed second factor (SPEC §3.1): login and
    /// re-authentication then ask for it, and projects that require one let its tokens in.
    pub second_factor: bool,
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

    /// Makes the account of `email` an instance admin or not (`mantel admin grant|revoke`);
    /// `None` when no account has it.
    pub fn set_admin(
        conn: &mut DbConnection,
        email: &str,
        admin: bool,
    ) -> QueryResult<Option<User>> {
        let Some(user) = User::find_by_email(conn, email)? else {
            return Ok(None);
        };
        diesel::update(users::table.find(&user.id))
            .set(users::admin.eq(admin))
            .execute(conn)?;
        Ok(Some(User { admin, ..user }))
    }

    /// Suspends the account `id` (from `at`) or reactivates it (`None`); false when there is
    /// no such account.
    pub fn set_suspended(
        conn: &mut DbConnection,
        id: &UserId,
        at: Option<NaiveDateTime>,
    ) -> QueryResult<bool> {
        diesel::update(users::table.find(id))
            .set(users::suspended_at.eq(at))
            .execute(conn)
            .map(|n| n == 1)
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
            admin: false,
            suspended_at: None,
            second_factor: false,
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

/// Every account but deleted ones, newest first, a page at a time (`GET /api/admin/users`).
pub fn list(conn: &mut DbConnection, page: &PageRequest) -> QueryResult<Vec<User>> {
    let mut query = users::table
        .filter(users::deleted_at.is_null())
        .into_boxed();
    if let Some(Cursor { at: Some(at), key }) = &page.after {
        query = query.filter(
            users::created_at
                .lt(*at)
                .or(users::created_at.eq(*at).and(users::id.lt(key.clone()))),
        );
    }
    query
        .order((users::created_at.desc(), users::id.desc()))
        .limit(page.fetch())
        .select(User::as_select())
        .load(conn)
}

/// What an admin sees of each of `ids` besides the account: how many of its tokens are not
/// revoked, and its last login while the security log still remembers it.
pub fn overview(
    conn: &mut DbConnection,
    ids: &[UserId],
) -> QueryResult<HashMap<UserId, (i64, Option<NaiveDateTime>)>> {
    use crate::db::schema::{api_tokens, security_events};
    use diesel::dsl::{count_star, max};
    let counts: Vec<(UserId, i64)> = api_tokens::table
        .filter(api_tokens::user_id.eq_any(ids))
        .filter(api_tokens::revoked_at.is_null())
        .group_by(api_tokens::user_id)
        .select((api_tokens::user_id, count_star()))
        .load(conn)?;
    let logins: Vec<(UserId, Option<NaiveDateTime>)> = security_events::table
        .filter(security_events::user_id.eq_any(ids))
        .filter(security_events::kind.eq(SecurityKind::Login))
        .group_by(security_events::user_id)
        .select((security_events::user_id, max(security_events::at)))
        .load(conn)?;
    let mut overview: HashMap<UserId, (i64, Option<NaiveDateTime>)> = HashMap::new();
    for (id, n) in counts {
        overview.entry(id).or_default().0 = n;
    }
    for (id, at) in logins {
        overview.entry(id).or_default().1 = at;
    }
    Ok(overview)
}
