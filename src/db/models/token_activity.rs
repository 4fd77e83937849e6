//! Per-token activity (SPEC §8.3): the requests, written in batches (`auth::activity`), and
//! two small aggregates kept up to date by each batch — the token's addresses and its requests
//! a day — so the token page reads a few rows however many requests there were.

use std::collections::HashMap;
use std::net::IpAddr;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::db::json_rows::{self, execute, write_json, Statement, STATEMENT_ROWS};
use crate::db::schema::{token_addresses, token_daily, token_requests};
use crate::db::{timestamp, write_transaction, DbConnection};
use crate::domain::{ip_text, Cursor, PageRequest, RequestOutcome, TokenId};

/// A request as the request path hands it over: the route template, never the raw path, and
/// nothing formatted yet — the address is written as text once per stored row, by the batch,
/// not once per request.
#[derive(Clone, Debug)]
pub struct NewRequest {
    pub token_id: TokenId,
    pub at: NaiveDateTime,
    /// `auth::activity::method_name`: one of a fixed set.
    pub method: &'static str,
    /// The route table's template (`auth::Route`): one of a fixed set.
    pub route: &'static str,
    pub status: i32,
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
    pub outcome: RequestOutcome,
    pub project_id: Option<String>,
    /// How many identical requests this row stands for (see `collapse`); 1 as recorded.
    pub count: i64,
}

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = token_requests)]
pub struct RequestRow {
    pub id: i64,
    pub token_id: TokenId,
    pub at: NaiveDateTime,
    pub method: String,
    pub route: String,
    pub status: i32,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub outcome: RequestOutcome,
    pub project_id: Option<String>,
    pub count: i64,
}

impl RequestRow {
    pub fn cursor(&self) -> Cursor {
        Cursor::new(Some(self.at), self.id.to_string())
    }
}

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = token_addresses)]
pub struct AddressRow {
    pub ip: String,
    pub first_seen_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
    pub count: i64,
}

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = token_daily)]
pub struct DayRow {
    pub day: String,
    pub count: i64,
    pub unrecorded: i64,
}

// Rows in the order given: SQLite's `jsonb_each` walks the array in order; PostgreSQL is told.
// SQLite's upsert needs a WHERE to parse.
const INSERT_REQUESTS: Statement = Statement {
    sqlite: "INSERT INTO token_requests \
             (token_id, at, method, route, status, ip, user_agent, outcome, project_id, count) \
             SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5, \
             value->>6, value->>7, value->>8, value->>9 FROM jsonb_each(?)",
    postgres: "INSERT INTO token_requests \
               (token_id, at, method, route, status, ip, user_agent, outcome, project_id, count) \
               SELECT value->>0, (value->>1)::timestamp, value->>2, value->>3, \
               (value->>4)::integer, value->>5, value->>6, value->>7, value->>8, \
               (value->>9)::bigint \
               FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS rows (value, n) ORDER BY n",
};

const UPSERT_DAYS: Statement = Statement {
    sqlite: "INSERT INTO token_daily (token_id, day, count, unrecorded) \
             SELECT value->>0, value->>1, value->>2, value->>3 FROM jsonb_each(?) WHERE true \
             ON CONFLICT (token_id, day) DO UPDATE SET \
             count = token_daily.count + excluded.count, \
             unrecorded = token_daily.unrecorded + excluded.unrecorded",
    postgres: "INSERT INTO token_daily (token_id, day, count, unrecorded) \
               SELECT value->>0, value->>1, (value->>2)::bigint, (value->>3)::bigint \
               FROM jsonb_array_elements($1::jsonb) \
               ON CONFLICT (token_id, day) DO UPDATE SET \
               count = token_daily.count + excluded.count, \
               unrecorded = token_daily.unrecorded + excluded.unrecorded",
};

/// Of a batch's (token, address) rows — the document `UPSERT_ADDRESSES` writes — those not
/// stored yet, each with whether its token has a stored address: few rows, where reading every
/// stored address of the batch's tokens cost a row each (W3).
const FRESH_ADDRESSES: Statement = Statement {
    sqlite: "SELECT value->>0 AS token_id, value->>1 AS ip, EXISTS \
             (SELECT 1 FROM token_addresses a WHERE a.token_id = value->>0) AS used \
             FROM jsonb_each(?) WHERE NOT EXISTS (SELECT 1 FROM token_addresses a \
             WHERE a.token_id = value->>0 AND a.ip = value->>1) ORDER BY key",
    postgres: "SELECT value->>0 AS token_id, value->>1 AS ip, EXISTS \
               (SELECT 1 FROM token_addresses a WHERE a.token_id = value->>0) AS used \
               FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS rows (value, n) \
               WHERE NOT EXISTS (SELECT 1 FROM token_addresses a \
               WHERE a.token_id = value->>0 AND a.ip = value->>1) ORDER BY n",
};

/// A row of `FRESH_ADDRESSES`.
#[derive(QueryableByName)]
struct Fresh {
    #[diesel(sql_type = diesel::sql_types::Text)]
    token_id: TokenId,
    #[diesel(sql_type = diesel::sql_types::Text)]
    ip: String,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    used: bool,
}

const UPSERT_ADDRESSES: Statement = Statement {
    sqlite: "INSERT INTO token_addresses (token_id, ip, first_seen_at, last_seen_at, count) \
             SELECT value->>0, value->>1, value->>2, value->>3, value->>4 \
             FROM jsonb_each(?) WHERE true \
             ON CONFLICT (token_id, ip) DO UPDATE SET \
             last_seen_at = excluded.last_seen_at, \
             count = token_addresses.count + excluded.count",
    postgres: "INSERT INTO token_addresses (token_id, ip, first_seen_at, last_seen_at, count) \
               SELECT value->>0, value->>1, (value->>2)::timestamp, (value->>3)::timestamp, \
               (value->>4)::bigint FROM jsonb_array_elements($1::jsonb) \
               ON CONFLICT (token_id, ip) DO UPDATE SET \
               last_seen_at = excluded.last_seen_at, \
               count = token_addresses.count + excluded.count",
};

/// Requests of one token a day that the full queue could not record.
pub type Unrecorded = HashMap<(TokenId, NaiveDate), i64>;

/// Folds identical requests of one token within the same second (same method, route,
/// status, address, user agent, outcome and project) into one record with their count, at
/// the first one's time. A client polling in a loop then costs a row a second instead of a
/// row a request, and the page reads "×1 500" where it would list 1 500 equal lines. The
/// order of first appearance is kept.
pub fn collapse(requests: &[NewRequest]) -> Vec<NewRequest> {
    type Key<'a> = (
        &'a TokenId,
        i64,
        &'a str,
        &'a str,
        i32,
        Option<IpAddr>,
        Option<&'a str>,
        RequestOutcome,
        Option<&'a str>,
    );
    fn key_of(r: &NewRequest) -> Key<'_> {
        (
            &r.token_id,
            r.at.and_utc().timestamp(),
            r.method,
            r.route,
            r.status,
            r.ip,
            r.user_agent.as_deref(),
            r.outcome,
            r.project_id.as_deref(),
        )
    }
    let mut rows: Vec<NewRequest> = Vec::new();
    let mut index: foldhash::HashMap<Key<'_>, usize> = Default::default();
    for r in requests {
        let key = key_of(r);
        // A client polling in a loop sends the same request again and again: the last row is
        // the likeliest match, and comparing with it costs less than hashing the key.
        let found = match rows.last() {
            Some(last) if key_of(last) == key => Some(rows.len() - 1),
            _ => index.get(&key).copied(),
        };
        match found {
            Some(i) => {
                let row = &mut rows[i];
                row.count += r.count;
                row.at = row.at.min(r.at);
            }
            None => {
                index.insert(key, rows.len());
                rows.push(r.clone());
            }
        }
    }
    rows
}

/// Writes a batch of requests and the aggregates they change, in one transaction. Answers
/// the addresses each token was used from for the first time, except a token's very first
/// address (its first use is no news).
pub fn record_batch(
    conn: &mut DbConnection,
    requests: &[NewRequest],
    unrecorded: &Unrecorded,
) -> QueryResult<Vec<(TokenId, IpAddr)>> {
    let requests = &collapse(requests);
    write_transaction(conn, |conn| {
        let rows: Vec<_> = requests
            .iter()
            .map(|r| {
                (
                    &r.token_id,
                    timestamp::text(r.at),
                    r.method,
                    r.route,
                    r.status,
                    r.ip.map(ip_text),
                    r.user_agent.as_deref(),
                    r.outcome.as_str(),
                    r.project_id.as_deref(),
                    r.count,
                )
            })
            .collect();
        write_json(conn, INSERT_REQUESTS, &rows)?;
        let new_addresses = record_addresses(conn, requests)?;
        let mut days: foldhash::HashMap<(&TokenId, NaiveDate), (i64, i64)> = Default::default();
        for r in requests {
            days.entry((&r.token_id, r.at.date())).or_default().0 += r.count;
        }
        for ((token_id, day), n) in unrecorded {
            days.entry((token_id, *day)).or_default().1 += n;
        }
        // Each key once (the map), as PostgreSQL requires of one upsert.
        let days: Vec<_> = days
            .into_iter()
            .map(|((token_id, day), (count, lost))| (token_id, day.to_string(), count, lost))
            .collect();
        write_json(conn, UPSERT_DAYS, &days)?;
        Ok(new_addresses)
    })
}

/// Upserts each (token, address) of the batch; answers those not seen before for a token
/// that had been used from somewhere else.
fn record_addresses(
    conn: &mut DbConnection,
    requests: &[NewRequest],
) -> QueryResult<Vec<(TokenId, IpAddr)>> {
    // (first, last, count) per (token, address), in the order first seen.
    type Seen = (NaiveDateTime, NaiveDateTime, i64);
    let mut seen: Vec<((&TokenId, IpAddr), Seen)> = Vec::new();
    let mut index: foldhash::HashMap<(&TokenId, IpAddr), usize> = Default::default();
    for r in requests {
        let Some(ip) = r.ip else { continue };
        let key = (&r.token_id, ip);
        match index.get(&key) {
            Some(&i) => {
                let (first, last, count) = &mut seen[i].1;
                *first = (*first).min(r.at);
                *last = (*last).max(r.at);
                *count += r.count;
            }
            None => {
                index.insert(key, seen.len());
                seen.push((key, (r.at, r.at, r.count)));
            }
        }
    }
    if seen.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<_> = seen
        .into_iter()
        .map(|((token_id, ip), (first, last, count))| {
            (
                token_id,
                ip_text(ip),
                timestamp::text(first),
                timestamp::text(last),
                count,
            )
        })
        .collect();
    let mut new = Vec::new();
    // Tokens without a stored address whose first address came earlier in this batch.
    let mut first_used: foldhash::HashSet<TokenId> = Default::default();
    // Each (token, address) once (`index`), as for the days.
    for chunk in rows.chunks(STATEMENT_ROWS) {
        let document = json_rows::document(chunk)?;
        let fresh: Vec<Fresh> = match conn {
            DbConnection::Sqlite(c) => diesel::sql_query(FRESH_ADDRESSES.sqlite)
                .bind::<diesel::sql_types::Text, _>(&document)
                .load(c)?,
            DbConnection::Postgres(c) => diesel::sql_query(FRESH_ADDRESSES.postgres)
                .bind::<diesel::sql_types::Text, _>(&document)
                .load(c)?,
        };
        execute(conn, UPSERT_ADDRESSES, &document)?;
        for Fresh { token_id, ip, used } in fresh {
            let Ok(ip) = ip.parse::<IpAddr>() else {
                continue;
            };
            if used || !first_used.insert(token_id.clone()) {
                new.push((token_id, ip));
            }
        }
    }
    Ok(new)
}

/// A page of one token's requests, newest first.
pub fn list(
    conn: &mut DbConnection,
    token_id: &TokenId,
    page: &PageRequest,
) -> QueryResult<Vec<RequestRow>> {
    let mut query = token_requests::table
        .filter(token_requests::token_id.eq(token_id))
        .into_boxed();
    if let Some(Cursor { at: Some(at), key }) = &page.after {
        // A cursor this model wrote holds a row id; any other names no row.
        let id: i64 = key.parse().unwrap_or(i64::MIN);
        query = query.filter(
            token_requests::at
                .lt(*at)
                .or(token_requests::at.eq(*at).and(token_requests::id.lt(id))),
        );
    }
    query
        .order((token_requests::at.desc(), token_requests::id.desc()))
        .limit(page.fetch())
        .select(RequestRow::as_select())
        .load(conn)
}

/// The addresses a token was used from, most recent first.
pub fn addresses(conn: &mut DbConnection, token_id: &TokenId) -> QueryResult<Vec<AddressRow>> {
    token_addresses::table
        .filter(token_addresses::token_id.eq(token_id))
        .order(token_addresses::last_seen_at.desc())
        .limit(100)
        .select(AddressRow::as_select())
        .load(conn)
}

/// Requests a day from `since` on, oldest first.
pub fn daily(
    conn: &mut DbConnection,
    token_id: &TokenId,
    since: NaiveDate,
) -> QueryResult<Vec<DayRow>> {
    token_daily::table
        .filter(token_daily::token_id.eq(token_id))
        .filter(token_daily::day.ge(since.to_string()))
        .order(token_daily::day)
        .select(DayRow::as_select())
        .load(conn)
}

/// Requests the full queue could not record, over the days kept.
pub fn unrecorded(conn: &mut DbConnection, token_id: &TokenId) -> QueryResult<i64> {
    let lost: Vec<i64> = token_daily::table
        .filter(token_daily::token_id.eq(token_id))
        .select(token_daily::unrecorded)
        .load(conn)?;
    Ok(lost.into_iter().sum())
}

/// The user agents among the token's latest requests, with how often each was seen there.
pub fn user_agents(conn: &mut DbConnection, token_id: &TokenId) -> QueryResult<Vec<(String, i64)>> {
    let agents: Vec<(Option<String>, i64)> = token_requests::table
        .filter(token_requests::token_id.eq(token_id))
        .order((token_requests::at.desc(), token_requests::id.desc()))
        .limit(500)
        .select((token_requests::user_agent, token_requests::count))
        .load(conn)?;
    let mut counts: Vec<(String, i64)> = Vec::new();
    for (agent, n) in agents {
        let agent = agent.unwrap_or_default();
        match counts.iter_mut().find(|(a, _)| *a == agent) {
            Some((_, total)) => *total += n,
            None => counts.push((agent, n)),
        }
    }
    counts.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    Ok(counts)
}

/// The requests the selected rows stand for (a row counts `count` requests), as BIGINT on
/// both backends (PostgreSQL's SUM of a BIGINT is NUMERIC).
fn total_count() -> diesel::expression::SqlLiteral<diesel::sql_types::BigInt> {
    diesel::dsl::sql("CAST(COALESCE(SUM(count), 0) AS BIGINT)")
}

/// How often the token was presented after it stopped working (from `since`), and the
/// latest such request.
pub fn presented_after_stop(
    conn: &mut DbConnection,
    token_id: &TokenId,
    since: NaiveDateTime,
) -> QueryResult<(i64, Option<RequestRow>)> {
    let stopped = [
        RequestOutcome::Revoked,
        RequestOutcome::Expired,
        RequestOutcome::Replaced,
    ];
    let count = token_requests::table
        .filter(token_requests::token_id.eq(token_id))
        .filter(token_requests::at.ge(since))
        .filter(token_requests::outcome.eq_any(stopped))
        .select(total_count())
        .get_result(conn)?;
    let latest = token_requests::table
        .filter(token_requests::token_id.eq(token_id))
        .filter(token_requests::at.ge(since))
        .filter(token_requests::outcome.eq_any(stopped))
        .order((token_requests::at.desc(), token_requests::id.desc()))
        .select(RequestRow::as_select())
        .first(conn)
        .optional()?;
    Ok((count, latest))
}

/// Per token, the requests that named `project_id` since `since`: (token, requests, last).
pub fn project_access(
    conn: &mut DbConnection,
    project_id: &str,
    since: NaiveDateTime,
) -> QueryResult<Vec<(TokenId, i64, NaiveDateTime)>> {
    let rows: Vec<(TokenId, NaiveDateTime, i64)> = token_requests::table
        .filter(token_requests::project_id.eq(project_id))
        .filter(token_requests::at.ge(since))
        .filter(token_requests::outcome.eq(RequestOutcome::Ok))
        .select((
            token_requests::token_id,
            token_requests::at,
            token_requests::count,
        ))
        .load(conn)?;
    let mut by_token: HashMap<TokenId, (i64, NaiveDateTime)> = HashMap::new();
    for (token_id, at, n) in rows {
        let entry = by_token.entry(token_id).or_insert((0, at));
        entry.0 += n;
        entry.1 = entry.1.max(at);
    }
    let mut access: Vec<_> = by_token
        .into_iter()
        .map(|(t, (n, last))| (t, n, last))
        .collect();
    access.sort_by_key(|(_, _, last)| std::cmp::Reverse(*last));
    Ok(access)
}

/// Forgets activity older than `cutoff` (SPEC §8.3: kept 90 days).
pub fn delete_before(conn: &mut DbConnection, cutoff: NaiveDateTime) -> QueryResult<usize> {
    let requests = diesel::delete(token_requests::table.filter(token_requests::at.lt(cutoff)))
        .execute(conn)?;
    diesel::delete(token_daily::table.filter(token_daily::day.lt(cutoff.date().to_string())))
        .execute(conn)?;
    diesel::delete(token_addresses::table.filter(token_addresses::last_seen_at.lt(cutoff)))
        .execute(conn)?;
    Ok(requests)
}

/// Days the token page's chart covers.
pub const CHART_DAYS: u32 = 30;

/// What the token page and `GET /api/tokens/{id}` show of a token's use.
pub struct Summary {
    pub addresses: Vec<AddressRow>,
    /// One entry a day for the last `CHART_DAYS` days, oldest first, zero where none.
    pub per_day: Vec<(NaiveDate, i64)>,
    pub unrecorded: i64,
    pub user_agents: Vec<(String, i64)>,
    /// Since it stopped working, if it has: how often it was presented, and the latest time.
    pub after_stop: Option<(i64, Option<RequestRow>)>,
}

/// Reads the summary of `token_id`'s activity; `stopped_at` is when it stopped working.
pub fn summary(
    conn: &mut DbConnection,
    token_id: &TokenId,
    stopped_at: Option<NaiveDateTime>,
    now: NaiveDateTime,
) -> QueryResult<Summary> {
    let today = now.date();
    let first = today - chrono::Duration::days(i64::from(CHART_DAYS) - 1);
    let counted: HashMap<String, i64> = daily(conn, token_id, first)?
        .into_iter()
        .map(|d| (d.day, d.count))
        .collect();
    let per_day = first
        .iter_days()
        .take(CHART_DAYS as usize)
        .map(|day| (day, counted.get(&day.to_string()).copied().unwrap_or(0)))
        .collect();
    Ok(Summary {
        addresses: addresses(conn, token_id)?,
        per_day,
        unrecorded: unrecorded(conn, token_id)?,
        user_agents: user_agents(conn, token_id)?,
        after_stop: stopped_at
            .map(|at| presented_after_stop(conn, token_id, at))
            .transpose()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Identical requests of one second fold into their first one, also when other requests
    /// come between them; the order of first appearance is kept.
    #[test]
    fn collapse_folds_identical_requests_of_a_second_in_order() {
        let token = TokenId::new();
        let at = NaiveDateTime::default();
        let request = |route: &'static str, millis: i64| NewRequest {
            token_id: token.clone(),
            at: at + chrono::Duration::milliseconds(millis),
            method: "GET",
            route,
            status: 200,
            ip: Some(IpAddr::from([192, 0, 2, 1])),
            user_agent: None,
            outcome: RequestOutcome::Ok,
            project_id: None,
            count: 1,
        };
        let rows = collapse(&[
            request("/api/me", 300),
            request("/api/me", 100),
            request("/api/projects", 200),
            request("/api/me", 400),
            request("/api/me", 1_000),
        ]);
        let seen: Vec<_> = rows.iter().map(|r| (r.route, r.count, r.at - at)).collect();
        let ms = chrono::Duration::milliseconds;
        assert_eq!(
            seen,
            [
                ("/api/me", 3, ms(100)),
                ("/api/projects", 1, ms(200)),
                ("/api/me", 1, ms(1_000)),
            ]
        );
    }
}
