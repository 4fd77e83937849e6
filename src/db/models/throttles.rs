//! The shared counts of `auth::throttle`: one row per (hashed) key with its current window's
//! end and the attempts counted in it. Times are Unix milliseconds, compared as integers the
//! same way on both backends.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Binary};

use crate::db::schema::throttle_counts;
use crate::db::DbConnection;

/// A key's window after an attempt was counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, QueryableByName)]
pub struct Window {
    /// Attempts in the window, this one included.
    #[diesel(sql_type = BigInt)]
    pub count: i64,
    /// When the window ends (Unix milliseconds).
    #[diesel(sql_type = BigInt)]
    pub until_ms: i64,
}

/// Counts one attempt for `key` at `now_ms`, in one statement: a key without a window, or
/// whose window has ended, starts a new one of `window_ms` with this attempt; else the count
/// goes up. The row is locked by the statement on PostgreSQL (and the file by the writer on
/// SQLite), so concurrent attempts from any instance each see the count including their own.
pub fn count(
    conn: &mut DbConnection,
    key: &[u8],
    now_ms: i64,
    window_ms: i64,
) -> QueryResult<Window> {
    // `$n` on PostgreSQL; SQLite reads `?n` the same way (numbered parameters).
    const SQL: &str = "INSERT INTO throttle_counts (key, until_ms, count) VALUES ($1, $2, 1) \
         ON CONFLICT (key) DO UPDATE SET \
           count = CASE WHEN throttle_counts.until_ms <= $3 THEN 1 \
                   ELSE throttle_counts.count + 1 END, \
           until_ms = CASE WHEN throttle_counts.until_ms <= $3 THEN excluded.until_ms \
                      ELSE throttle_counts.until_ms END \
         RETURNING count, until_ms";
    macro_rules! query {
        ($sql:expr) => {
            diesel::sql_query($sql)
                .bind::<Binary, _>(key)
                .bind::<BigInt, _>(now_ms + window_ms)
                .bind::<BigInt, _>(now_ms)
        };
    }
    match conn {
        DbConnection::Sqlite(c) => query!(SQL.replace('$', "?")).get_result(c),
        DbConnection::Postgres(c) => query!(SQL).get_result(c),
    }
}

/// A key's window after `add` counted a batch for it.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct Added {
    #[diesel(sql_type = Binary)]
    pub key: Vec<u8>,
    /// Counted in the window, this batch included (by every instance).
    #[diesel(sql_type = BigInt)]
    pub count: i64,
    /// When the window ends (Unix milliseconds).
    #[diesel(sql_type = BigInt)]
    pub until_ms: i64,
}

/// Adds `n` to each key's count at `now_ms` (as `count` does, by `n`), in one statement for
/// the whole batch, and returns every key's window. The keys must be distinct; they are
/// written in sorted order so two instances adding overlapping batches on PostgreSQL lock
/// the rows in the same order and cannot deadlock.
pub fn add(
    conn: &mut DbConnection,
    batch: &[(Vec<u8>, i64)],
    now_ms: i64,
    window_ms: i64,
) -> QueryResult<Vec<Added>> {
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    let mut sorted: Vec<&(Vec<u8>, i64)> = batch.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    // $1: now, $2: a new window's end, then a key and its count per row.
    let rows: Vec<String> = (0..sorted.len())
        .map(|i| format!("(${}, $2, ${})", 3 + 2 * i, 4 + 2 * i))
        .collect();
    let sql = format!(
        "INSERT INTO throttle_counts (key, until_ms, count) VALUES {} \
         ON CONFLICT (key) DO UPDATE SET \
           count = CASE WHEN throttle_counts.until_ms <= $1 THEN excluded.count \
                   ELSE throttle_counts.count + excluded.count END, \
           until_ms = CASE WHEN throttle_counts.until_ms <= $1 THEN excluded.until_ms \
                      ELSE throttle_counts.until_ms END \
         RETURNING key, count, until_ms",
        rows.join(", ")
    );
    macro_rules! query {
        ($sql:expr, $backend:ty) => {{
            let mut q = diesel::sql_query($sql)
                .into_boxed::<$backend>()
                .bind::<BigInt, _>(now_ms)
                .bind::<BigInt, _>(now_ms + window_ms);
            for (key, n) in &sorted {
                q = q.bind::<Binary, _>(key.clone()).bind::<BigInt, _>(*n);
            }
            q
        }};
    }
    match conn {
        DbConnection::Sqlite(c) => query!(sql.replace('$', "?"), diesel::sqlite::Sqlite).load(c),
        DbConnection::Postgres(c) => query!(sql, diesel::pg::Pg).load(c),
    }
}

/// Takes back one attempt of `key`'s window that ends at `until_ms`, if that window is still
/// the current one (an ended window counts for nothing anyway).
pub fn uncount(conn: &mut DbConnection, key: &[u8], until_ms: i64) -> QueryResult<usize> {
    diesel::update(
        throttle_counts::table
            .filter(throttle_counts::key.eq(key))
            .filter(throttle_counts::until_ms.eq(until_ms))
            .filter(throttle_counts::count.gt(0)),
    )
    .set(throttle_counts::count.eq(throttle_counts::count - 1))
    .execute(conn)
}

/// Forgets windows that ended before `now_ms`.
pub fn delete_ended(conn: &mut DbConnection, now_ms: i64) -> QueryResult<usize> {
    diesel::delete(throttle_counts::table.filter(throttle_counts::until_ms.le(now_ms)))
        .execute(conn)
}
