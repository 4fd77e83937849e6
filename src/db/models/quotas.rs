//! The shared state of the deployment's quotas (`auth::rate_limit`: a token's requests, an
//! address's bad credentials): GCRA, one theoretical arrival time per bucket, advanced a slice
//! of requests at a time. Times are Unix nanoseconds.

use diesel::prelude::*;

use crate::db::schema::quotas;
use crate::db::{write_transaction, DbConnection};

/// What a take got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Taken {
    /// Requests granted to the taker, 0 to `want`.
    pub granted: i64,
    /// The bucket's theoretical arrival time after the take.
    pub tat_ns: i64,
}

/// Takes up to `want` requests of `bucket`'s quota at `now_ns`: as many as fit before the
/// bucket (one request per `interval_ns`, at most `window_ns` ahead of now) is empty. One write
/// transaction; the row is locked from the read to the write (`FOR UPDATE` on PostgreSQL, the
/// write lock taken up front on SQLite), so no two takes anywhere grant the same requests.
pub fn take(
    conn: &mut DbConnection,
    bucket: &str,
    want: i64,
    interval_ns: i64,
    window_ns: i64,
    now_ns: i64,
) -> QueryResult<Taken> {
    write_transaction(conn, |conn| {
        let row = (quotas::bucket.eq(bucket), quotas::tat_ns.eq(now_ns));
        let find = quotas::table.find(bucket).select(quotas::tat_ns);
        let tat: i64 = match conn {
            DbConnection::Sqlite(c) => {
                diesel::insert_into(quotas::table)
                    .values(row)
                    .on_conflict_do_nothing()
                    .execute(c)?;
                find.get_result(c)?
            }
            DbConnection::Postgres(c) => {
                diesel::insert_into(quotas::table)
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
        diesel::update(quotas::table.find(bucket))
            .set(quotas::tat_ns.eq(tat_ns))
            .execute(conn)?;
        Ok(Taken { granted, tat_ns })
    })
}

/// Forgets buckets that are full again (their time has passed): the same as no row.
pub fn delete_full(conn: &mut DbConnection, now_ns: i64) -> QueryResult<usize> {
    diesel::delete(quotas::table.filter(quotas::tat_ns.le(now_ns))).execute(conn)
}
