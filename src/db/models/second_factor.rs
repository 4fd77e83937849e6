//! An account's second factor (SPEC §3.1): its TOTP authenticator (sealed secret, pending or
//! confirmed, the last step accepted), its recovery codes (hashed), and the `second_factor`
//! flag on the user's row that the token lookup brings along (`auth::permission`).

use chrono::NaiveDateTime;
use diesel::dsl::count_star;
use diesel::prelude::*;

use crate::db::schema::{recovery_codes, totp_credentials, users};
use crate::db::DbConnection;
use crate::domain::UserId;

/// An account's authenticator as stored.
pub struct Totp {
    pub sealed: Vec<u8>,
    pub confirmed: bool,
}

pub fn find_totp(conn: &mut DbConnection, user_id: &UserId) -> QueryResult<Option<Totp>> {
    let row: Option<(Vec<u8>, bool)> = totp_credentials::table
        .find(user_id)
        .select((
            totp_credentials::sealed,
            totp_credentials::confirmed_at.is_not_null(),
        ))
        .get_result(conn)
        .optional()?;
    Ok(row.map(|(sealed, confirmed)| Totp { sealed, confirmed }))
}

/// Keeps a new, pending authenticator for the account, replacing a pending one (an enrolment
/// started again); `false`, and nothing written, when the account has a confirmed one.
pub fn start_totp(
    conn: &mut DbConnection,
    user_id: &UserId,
    sealed: &[u8],
    now: NaiveDateTime,
) -> QueryResult<bool> {
    if find_totp(conn, user_id)?.is_some_and(|t| t.confirmed) {
        return Ok(false);
    }
    diesel::delete(totp_credentials::table.find(user_id)).execute(conn)?;
    diesel::insert_into(totp_credentials::table)
        .values((
            totp_credentials::user_id.eq(user_id),
            totp_credentials::sealed.eq(sealed),
            totp_credentials::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(true)
}

/// Takes `step` as the last accepted one, if it is later than the last: `false` when a code of
/// this step or a later one was accepted already (a code is good once). One statement, so two
/// requests with one code, on two instances, cannot both pass.
pub fn take_step(conn: &mut DbConnection, user_id: &UserId, step: i64) -> QueryResult<bool> {
    let taken = diesel::update(
        totp_credentials::table
            .filter(totp_credentials::user_id.eq(user_id))
            .filter(
                totp_credentials::last_step
                    .is_null()
                    .or(totp_credentials::last_step.lt(step)),
            ),
    )
    .set(totp_credentials::last_step.eq(step))
    .execute(conn)?;
    Ok(taken == 1)
}

/// Confirms the pending authenticator, gives the account its recovery codes (replacing any)
/// and marks it as having a second factor.
pub fn confirm_totp(
    conn: &mut DbConnection,
    user_id: &UserId,
    recovery_hashes: &[Vec<u8>],
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(totp_credentials::table.find(user_id))
        .set(totp_credentials::confirmed_at.eq(now))
        .execute(conn)?;
    replace_recovery_codes(conn, user_id, recovery_hashes)?;
    set_flag(conn, user_id, true)
}

/// Removes the authenticator and the recovery codes: the account has no second factor left.
/// `false` when it had no confirmed authenticator.
pub fn remove(conn: &mut DbConnection, user_id: &UserId) -> QueryResult<bool> {
    let had = find_totp(conn, user_id)?.is_some_and(|t| t.confirmed);
    diesel::delete(totp_credentials::table.find(user_id)).execute(conn)?;
    diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id)))
        .execute(conn)?;
    set_flag(conn, user_id, false)?;
    Ok(had)
}

fn set_flag(conn: &mut DbConnection, user_id: &UserId, on: bool) -> QueryResult<()> {
    diesel::update(users::table.find(user_id))
        .set(users::second_factor.eq(on))
        .execute(conn)
        .map(drop)
}

/// Replaces every recovery code of the account, used or not, with these.
pub fn replace_recovery_codes(
    conn: &mut DbConnection,
    user_id: &UserId,
    hashes: &[Vec<u8>],
) -> QueryResult<()> {
    diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id)))
        .execute(conn)?;
    // One row at a time: the multi-backend connection has no batch insert for SQLite.
    for hash in hashes {
        diesel::insert_into(recovery_codes::table)
            .values((
                recovery_codes::user_id.eq(user_id),
                recovery_codes::code_hash.eq(hash),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Uses the recovery code of this hash, once: `false` when it is not one of the account's or
/// was used already. One statement, so a code cannot be used twice at once.
pub fn use_recovery_code(
    conn: &mut DbConnection,
    user_id: &UserId,
    hash: &[u8],
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let used = diesel::update(
        recovery_codes::table
            .filter(recovery_codes::user_id.eq(user_id))
            .filter(recovery_codes::code_hash.eq(hash))
            .filter(recovery_codes::used_at.is_null()),
    )
    .set(recovery_codes::used_at.eq(now))
    .execute(conn)?;
    Ok(used == 1)
}

/// How many of the account's recovery codes are still unused.
pub fn recovery_codes_left(conn: &mut DbConnection, user_id: &UserId) -> QueryResult<i64> {
    recovery_codes::table
        .filter(recovery_codes::user_id.eq(user_id))
        .filter(recovery_codes::used_at.is_null())
        .select(count_star())
        .get_result(conn)
}
