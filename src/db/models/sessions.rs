//! Rows of the server-side session store (see `auth::session_store`).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::models::users::User;
use crate::db::schema::{sessions, users};
use crate::db::timestamp::Stamp;
use crate::db::DbConnection;
use crate::domain::UserId;

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions)]
pub struct SessionRow {
    pub id: String,
    pub user_id: Option<UserId>,
    pub state: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub public_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub last_seen_at: Option<NaiveDateTime>,
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

/// A session as the store's `load` uses it: its limits, its state (parsed) and its user (none
/// for a session nobody is signed in to). Whether it is still live is decided by the store on
/// each request, not here, so one kept by the worker's cache (`db::exact_cache`) ends on time.
pub struct Loaded {
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub state: HashMap<String, String>,
    pub user: Option<Arc<User>>,
}

/// The columns `load` needs of the row (the rest are for the sessions page).
#[derive(Queryable, Selectable)]
#[diesel(table_name = sessions)]
struct LoadedRow {
    state: String,
    #[diesel(deserialize_as = Stamp)]
    created_at: NaiveDateTime,
    #[diesel(deserialize_as = Stamp)]
    expires_at: NaiveDateTime,
}

/// The session with this row id, live or not, and its user, in one query.
pub fn load(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Loaded>> {
    macro_rules! query {
        () => {
            sessions::table
                .left_join(users::table)
                .filter(sessions::id.eq(id))
                .select((LoadedRow::as_select(), Option::<User>::as_select()))
        };
    }
    // `get_result`, not `first`, and on the concrete connection: see `tokens::find_by_hash`.
    let found = match conn {
        DbConnection::Sqlite(c) => query!().get_result(c).optional(),
        DbConnection::Postgres(c) => query!().get_result(c).optional(),
    }?;
    let Some((row, user)) = found else {
        return Ok(None);
    };
    let state = serde_json::from_str(&row.state)
        .map_err(|e| diesel::result::Error::DeserializationError(e.into()))?;
    Ok(Some(Loaded {
        created_at: row.created_at,
        expires_at: row.expires_at,
        state,
        user: user.map(Arc::new),
    }))
}

pub fn insert(conn: &mut DbConnection, row: &SessionRow) -> QueryResult<()> {
    diesel::insert_into(sessions::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// Replaces the state of the live row `id`, with the expiry `expiry` gives for it. Without a
/// live row nothing is written: a session that was ended stays ended.
pub fn update_state(
    conn: &mut DbConnection,
    id: &str,
    user_id: Option<UserId>,
    state: String,
    expiry: impl FnOnce(&SessionRow) -> NaiveDateTime,
    now: NaiveDateTime,
) -> QueryResult<()> {
    let Some(row) = find_live(conn, id, now)? else {
        return Ok(());
    };
    let expires_at = expiry(&row);
    diesel::update(sessions::table.find(id))
        .set((
            sessions::user_id.eq(user_id),
            sessions::state.eq(state),
            sessions::expires_at.eq(expires_at),
            sessions::last_seen_at.eq(now),
        ))
        .execute(conn)
        .map(drop)
}

/// Moves the idle expiry of the live row `id` forward to `expires_at`, and notes the request
/// as its last sighting. It never moves the expiry back (a slower request that computed an
/// earlier one), and never brings back a row that was ended meanwhile: nothing matches then.
pub fn slide(
    conn: &mut DbConnection,
    id: &str,
    expires_at: NaiveDateTime,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(
        sessions::table
            .find(id)
            .filter(sessions::expires_at.gt(now))
            .filter(sessions::expires_at.lt(expires_at)),
    )
    .set((
        sessions::expires_at.eq(expires_at),
        sessions::last_seen_at.eq(now),
    ))
    .execute(conn)
    .map(drop)
}

pub fn delete(conn: &mut DbConnection, id: &str) -> QueryResult<()> {
    diesel::delete(sessions::table.find(id))
        .execute(conn)
        .map(drop)
}

/// Ends every session of `user_id` (a password change signs out every device; the browser
/// that changed it gets a fresh session right after).
pub fn delete_for_user(conn: &mut DbConnection, user_id: &UserId) -> QueryResult<usize> {
    diesel::delete(sessions::table.filter(sessions::user_id.eq(user_id))).execute(conn)
}

/// The live sessions of `user_id`, most recently seen first.
pub fn list_live(
    conn: &mut DbConnection,
    user_id: &UserId,
    now: NaiveDateTime,
) -> QueryResult<Vec<SessionRow>> {
    sessions::table
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::expires_at.gt(now))
        .order((sessions::last_seen_at.desc(), sessions::created_at.desc()))
        .select(SessionRow::as_select())
        .load(conn)
}

/// Ends one of `user_id`'s sessions, named by its public id. False when it is not theirs.
pub fn end(conn: &mut DbConnection, user_id: &UserId, public_id: &str) -> QueryResult<bool> {
    diesel::delete(
        sessions::table
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::public_id.eq(public_id)),
    )
    .execute(conn)
    .map(|n| n == 1)
}

pub fn delete_expired(conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(sessions::table.filter(sessions::expires_at.le(now))).execute(conn)
}
