//! Many rows in one statement whatever their number: the rows go as one JSON document bound
//! to one parameter, which the database unpacks, so the statement's text — and the work of
//! preparing it — stays the same for one row or ten thousand. The background batches use it
//! (token activity, last use), where a fleet of tokens each calling now and then makes a batch
//! nearly as many rows as requests.

use diesel::prelude::*;

use crate::db::DbConnection;

/// Rows of one statement: a batch is one statement per table unless it is larger, which
/// bounds the document a statement carries.
pub const STATEMENT_ROWS: usize = 10_000;

/// Runs `sql` with one statement per `STATEMENT_ROWS` of `rows`: the rows go as one JSON array
/// of arrays, which the statement unpacks (`jsonb_each(?)` on SQLite,
/// `jsonb_array_elements($1::jsonb)` on PostgreSQL), each row's values being `value->>0`,
/// `value->>1`, … there. A multi-row `VALUES` cost SQLite a parse of every placeholder and
/// diesel a bind of every value, about 2 000 instructions a value and half of an activity
/// batch's work when each request is its own token's (W3; docs/benchmarks.md).
pub fn write_json<R: serde::Serialize>(
    conn: &mut DbConnection,
    sql: Statement,
    rows: &[R],
) -> QueryResult<()> {
    for chunk in rows.chunks(STATEMENT_ROWS) {
        execute(conn, sql, &document(chunk)?)?;
    }
    Ok(())
}

/// The JSON document of `rows`, for `execute`.
pub fn document<R: serde::Serialize>(rows: &[R]) -> QueryResult<String> {
    serde_json::to_string(rows).map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))
}

/// Runs `sql` with `document` bound: `write_json` for a document used twice.
pub fn execute(conn: &mut DbConnection, sql: Statement, document: &str) -> QueryResult<usize> {
    use diesel::sql_types::Text;
    match conn {
        DbConnection::Sqlite(c) => diesel::sql_query(sql.sqlite)
            .bind::<Text, _>(document)
            .execute(c),
        DbConnection::Postgres(c) => diesel::sql_query(sql.postgres)
            .bind::<Text, _>(document)
            .execute(c),
    }
}

/// One statement in each backend's words. SQLite takes each value as the JSON has it (its
/// timestamps are text: `db::timestamp::text`); PostgreSQL's `->>` answers text, which the
/// statement casts to the column's type.
#[derive(Clone, Copy)]
pub struct Statement {
    pub sqlite: &'static str,
    pub postgres: &'static str,
}
