//! Sealed one-time reveals (`auth::reveal`): ciphertext only, taken at most once.

use diesel::prelude::*;

use crate::db::schema::sealed_reveals;
use crate::db::DbConnection;
use crate::domain::{TokenId, UserId};

/// Keeps `sealed` for `token_id` until `expires_ms` (a token is revealed once: a second hold
/// for one id replaces nothing and fails).
pub fn insert(
    conn: &mut DbConnection,
    token_id: &TokenId,
    owner: &UserId,
    sealed: &[u8],
    expires_ms: i64,
) -> QueryResult<usize> {
    diesel::insert_into(sealed_reveals::table)
        .values((
            sealed_reveals::token_id.eq(token_id.as_str()),
            sealed_reveals::owner.eq(owner.as_str()),
            sealed_reveals::sealed.eq(sealed),
            sealed_reveals::expires_ms.eq(expires_ms),
        ))
        .execute(conn)
}

/// Deletes the owner's reveal of `token_id` and answers what it held, in one statement, so two
/// views racing through two instances cannot both have it. Expired: deleted, `None`.
pub fn take(
    conn: &mut DbConnection,
    token_id: &TokenId,
    owner: &UserId,
    now_ms: i64,
) -> QueryResult<Option<Vec<u8>>> {
    macro_rules! query {
        () => {
            diesel::delete(
                sealed_reveals::table
                    .filter(sealed_reveals::token_id.eq(token_id.as_str()))
                    .filter(sealed_reveals::owner.eq(owner.as_str())),
            )
            .returning((sealed_reveals::sealed, sealed_reveals::expires_ms))
        };
    }
    let taken: Option<(Vec<u8>, i64)> = match conn {
        DbConnection::Sqlite(c) => query!().get_result(c).optional()?,
        DbConnection::Postgres(c) => query!().get_result(c).optional()?,
    };
    Ok(taken.and_then(|(sealed, expires_ms)| (expires_ms > now_ms).then_some(sealed)))
}

/// Forgets reveals that expired before `now_ms`.
pub fn delete_expired(conn: &mut DbConnection, now_ms: i64) -> QueryResult<usize> {
    diesel::delete(sealed_reveals::table.filter(sealed_reveals::expires_ms.le(now_ms)))
        .execute(conn)
}
