//! Rows of the server-side session store (see `auth::session_store`).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::sessions;
use crate::db::DbConnection;

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions)]
pub struct SessionRow {
    pub id: String,
    pub user_id: Option<String>,
    pub state: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

/// The live row with this id, if any.
pub fn find_live(
    conn: &mut DbConnection,
    id: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<SessionRow>> {
    sessions::table
        .find(id)
        .filter(sessions::expires_at.gt(now))
        .select(SessionRow::as_select())
        // `get_result`, not `first`: SQLite recompiles `LIMIT ?` (see `tokens::find_by_hash`).
        .get_result(conn)
        .optional()
}

pub fn insert(conn: &mut DbConnection, row: &SessionRow) -> QueryResult<()> {
    diesel::insert_into(sessions::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// Replaces the state; the expiry never moves past `absolute_end` of the row.
/// Returns false when no live row has this id.
pub fn update_state(
    conn: &mut DbConnection,
    id: &str,
    user_id: Option<String>,
    state: String,
    idle_end: NaiveDateTime,
    absolute_lifetime: chrono::Duration,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let Some(row) = find_live(conn, id, now)? else {
        return Ok(false);
    };
    let expires_at = idle_end.min(row.created_at + absolute_lifetime);
    diesel::update(sessions::table.find(id))
        .set((
            sessions::user_id.eq(user_id),
            sessions::state.eq(state),
            sessions::expires_at.eq(expires_at),
        ))
        .execute(conn)
        .map(|n| n == 1)
}

/// Slides the idle expiry forward, at most to the absolute end, and only when it moves by
/// more than `min_step` — so a busy dashboard does not write on every request.
pub fn touch(
    conn: &mut DbConnection,
    id: &str,
    idle_end: NaiveDateTime,
    absolute_lifetime: chrono::Duration,
    min_step: chrono::Duration,
    now: NaiveDateTime,
) -> QueryResult<()> {
    let Some(row) = find_live(conn, id, now)? else {
        return Ok(());
    };
    let expires_at = idle_end.min(row.created_at + absolute_lifetime);
    if expires_at - row.expires_at > min_step {
        diesel::update(sessions::table.find(id))
            .set(sessions::expires_at.eq(expires_at))
            .execute(conn)?;
    }
    Ok(())
}

pub fn delete(conn: &mut DbConnection, id: &str) -> QueryResult<()> {
    diesel::delete(sessions::table.find(id))
        .execute(conn)
        .map(drop)
}

/// Ends every session of `user_id` (a password change signs out every device; the browser
/// that changed it gets a fresh session right after).
pub fn delete_for_user(conn: &mut DbConnection, user_id: &str) -> QueryResult<usize> {
    diesel::delete(sessions::table.filter(sessions::user_id.eq(user_id))).execute(conn)
}

pub fn delete_expired(conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(sessions::table.filter(sessions::expires_at.le(now))).execute(conn)
}
