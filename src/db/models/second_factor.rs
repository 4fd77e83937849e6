//! An account's second factor (SPEC §3.1): its TOTP authenticator (sealed secret, pending or
//! confirmed, the last step accepted), its recovery codes (hashed), its passkeys (public keys
//! and counters), and the `second_factor` flag on the user's row that the token lookup brings
//! along (`auth::permission`). One rule sets the flag (`refresh_flag`): a confirmed
//! authenticator or at least one passkey.

use chrono::NaiveDateTime;
use diesel::dsl::count_star;
use diesel::prelude::*;

use crate::db::schema::{passkeys, recovery_codes, totp_credentials, users};
use crate::db::DbConnection;
use crate::domain::{PasskeyName, UserId};

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
    refresh_flag(conn, user_id)
}

/// Removes the authenticator and the recovery codes (its passkeys, if any, stay the account's
/// second factor). `false` when it had no confirmed authenticator.
pub fn remove(conn: &mut DbConnection, user_id: &UserId) -> QueryResult<bool> {
    let had = find_totp(conn, user_id)?.is_some_and(|t| t.confirmed);
    diesel::delete(totp_credentials::table.find(user_id)).execute(conn)?;
    diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id)))
        .execute(conn)?;
    refresh_flag(conn, user_id)?;
    Ok(had)
}

/// The one rule of "has a second factor" (SPEC §3.1), written to the user's row after every
/// change of factors: a confirmed authenticator app, or a passkey.
pub fn refresh_flag(conn: &mut DbConnection, user_id: &UserId) -> QueryResult<()> {
    let totp = find_totp(conn, user_id)?.is_some_and(|t| t.confirmed);
    let passkeys: i64 = passkeys::table
        .filter(passkeys::user_id.eq(user_id))
        .select(count_star())
        .get_result(conn)?;
    diesel::update(users::table.find(user_id))
        .set(users::second_factor.eq(totp || passkeys > 0))
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

/// A passkey as stored.
#[derive(Clone, Debug, Queryable)]
pub struct Passkey {
    pub id: String,
    pub user_id: UserId,
    pub credential_id: Vec<u8>,
    pub public_key: Vec<u8>,
    pub sign_count: i64,
    pub name: PasskeyName,
    pub created_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
}

type PasskeyColumns = (
    passkeys::id,
    passkeys::user_id,
    passkeys::credential_id,
    passkeys::public_key,
    passkeys::sign_count,
    passkeys::name,
    passkeys::created_at,
    passkeys::last_used_at,
);

const PASSKEY: PasskeyColumns = (
    passkeys::id,
    passkeys::user_id,
    passkeys::credential_id,
    passkeys::public_key,
    passkeys::sign_count,
    passkeys::name,
    passkeys::created_at,
    passkeys::last_used_at,
);

/// The account's passkeys, oldest first.
pub fn passkeys_of(conn: &mut DbConnection, user_id: &UserId) -> QueryResult<Vec<Passkey>> {
    passkeys::table
        .filter(passkeys::user_id.eq(user_id))
        .order((passkeys::created_at.asc(), passkeys::id.asc()))
        .select(PASSKEY)
        .load(conn)
}

/// The passkey of this credential id, whoever's it is (a passwordless sign-in learns the
/// account from it).
pub fn passkey_by_credential(
    conn: &mut DbConnection,
    credential_id: &[u8],
) -> QueryResult<Option<Passkey>> {
    passkeys::table
        .filter(passkeys::credential_id.eq(credential_id))
        .select(PASSKEY)
        .first(conn)
        .optional()
}

/// Keeps a new passkey and turns the account's second factor on; `false`, and nothing written,
/// when a passkey of this credential id is kept already.
pub fn add_passkey(conn: &mut DbConnection, passkey: &Passkey) -> QueryResult<bool> {
    if passkey_by_credential(conn, &passkey.credential_id)?.is_some() {
        return Ok(false);
    }
    diesel::insert_into(passkeys::table)
        .values((
            passkeys::id.eq(&passkey.id),
            passkeys::user_id.eq(&passkey.user_id),
            passkeys::credential_id.eq(&passkey.credential_id),
            passkeys::public_key.eq(&passkey.public_key),
            passkeys::sign_count.eq(passkey.sign_count),
            passkeys::name.eq(&passkey.name),
            passkeys::created_at.eq(passkey.created_at),
        ))
        .execute(conn)?;
    refresh_flag(conn, &passkey.user_id)?;
    Ok(true)
}

/// Removes one of the account's passkeys (its name, for the log); `None` when it has none of
/// that id.
pub fn remove_passkey(
    conn: &mut DbConnection,
    user_id: &UserId,
    id: &str,
) -> QueryResult<Option<PasskeyName>> {
    let name: Option<PasskeyName> = diesel::delete(
        passkeys::table
            .filter(passkeys::user_id.eq(user_id))
            .filter(passkeys::id.eq(id)),
    )
    .returning(passkeys::name)
    .get_result(conn)
    .optional()?;
    if name.is_some() {
        refresh_flag(conn, user_id)?;
    }
    Ok(name)
}

/// Notes a login with the passkey: its counter moves from `seen` (what the check was made
/// against) to `count`. One statement, so two logins checked against the same counter (one
/// signed answer replayed at once) cannot both pass: `false` for the second.
pub fn use_passkey(
    conn: &mut DbConnection,
    id: &str,
    seen: i64,
    count: i64,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let used = diesel::update(
        passkeys::table
            .filter(passkeys::id.eq(id))
            .filter(passkeys::sign_count.eq(seen)),
    )
    .set((
        passkeys::sign_count.eq(count),
        passkeys::last_used_at.eq(now),
    ))
    .execute(conn)?;
    Ok(used == 1)
}
