//! The per-token quota's shared state (`auth::rate_limit`): GCRA, one theoretical arrival time
//! per token, advanced a slice of requests at a time. Times are Unix nanoseconds.

use diesel::prelude::*;

use crate::db::schema::token_quotas;
use crate::db::{write_transaction, DbConnection};
use crate::domain::TokenId;

/// What a take got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Taken {
    /// Requests granted to the taker, 0 to `want`.
    pub granted: i64,
    /// The token's theoretical arrival time after the take.
    pub tat_ns: i64,
}

/// Takes up to `want` requests of `token_id`'s quota at `now_ns`: as many as fit before the
/// bucket (one request per `interval_ns`, at most `window_ns` ahead of now) is empty. One write
/// transaction; the row is locked from the read to the write (`FOR UPDATE` on PostgreSQL, the
/// write lock taken up front on SQLite), so no two takes anywhere grant the same requests.
pub fn take(
    conn: &mut DbConnection,
    token_id: &TokenId,
    want: i64,
    interval_ns: i64,
    window_ns: i64,
    now_ns: i64,
) -> QueryResult<Taken> {
    write_transaction(conn, |conn| {
        let row = (
            token_quotas::token_id.eq(token_id.as_str()),
            token_quotas::tat_ns.eq(now_ns),
        );
        let find = token_quotas::table
            .find(token_id.as_str())
            .select(token_quotas::tat_ns);
        let tat: i64 = match conn {
            DbConnection::Sqlite(c) => {
                diesel::insert_into(token_quotas::table)
                    .values(row)
                    .on_conflict_do_nothing()
                    .execute(c)?;
                find.get_result(c)?
            }
            DbConnection::Postgres(c) => {
                diesel::insert_into(token_quotas::table)
                    .values(row)
                    .on_conflict_do_nothing()
                    .execute(c)?;
                find.for_update().get_result(c)?
            }
        };
        let base = tat.max(now_ns);
        let fits = (now_ns + window_ns - base).max(0) / interval_ns.max(1);
        let granted = fits.min(want);
        if granted == 0 {
            return Ok(Taken {
                granted,
                tat_ns: tat,
            });
        }
        let tat_ns = base + granted * interval_ns;
        diesel::update(token_quotas::table.find(token_id.as_str()))
            .set(token_quotas::tat_ns.eq(tat_ns))
            .execute(conn)?;
        Ok(Taken { granted, tat_ns })
    })
}

/// Forgets tokens whose bucket is full again (their time has passed): the same as no row.
pub fn delete_full(conn: &mut DbConnection, now_ns: i64) -> QueryResult<usize> {
    diesel::delete(token_quotas::table.filter(token_quotas::tat_ns.le(now_ns))).execute(conn)
}
