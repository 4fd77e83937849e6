//! Tokens reported found in public (SPEC §8.4): revoking them, and what the owner is shown.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::models::tokens::TokenRow;
use crate::db::schema::{api_tokens, token_leak_reports};
use crate::db::{write_transaction, DbConnection};
use crate::domain::{LeakSource, LeakUrl, ReportChannel, RevokedReason, TokenHash, TokenId};

/// The report that revoked a token, as its owner is shown it.
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = token_leak_reports)]
pub struct LeakReport {
    pub token_id: TokenId,
    pub channel: ReportChannel,
    pub url: Option<String>,
    pub source: Option<String>,
    pub reported_at: NaiveDateTime,
}

/// One reported token: its hash, and where a partner says it was found.
#[derive(Debug)]
pub struct Reported {
    pub hash: TokenHash,
    pub url: Option<LeakUrl>,
    pub source: Option<LeakSource>,
}

/// What became of one reported token.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// No token of ours has this hash.
    Unknown,
    /// Ours, and already revoked or expired (or revoked by an earlier line of this report):
    /// nothing changes.
    AlreadyInactive,
    /// Ours and working until this report, which revoked it: the token as it is now, and
    /// the URL it was reported at, for its owner's notification.
    Revoked {
        token: Box<TokenRow>,
        url: Option<String>,
    },
}

impl Outcome {
    /// A token this server issued, whatever became of it.
    pub fn is_ours(&self) -> bool {
        !matches!(self, Outcome::Unknown)
    }
}

/// Revokes each reported token that still works, with reason `reported_public`, and keeps
/// the report; answers one outcome per entry of `reported`, in order. The caller records
/// each `Outcome::Revoked` owner's notification in the same transaction. One transaction: one
/// lookup for the whole batch (a partner sends up to a thousand at once and waits at most 30
/// seconds), then one update and one insert per token that still worked, which in practice
/// are few. The update re-checks that the token still works, so of two concurrent reports of
/// one token exactly one revokes it (PostgreSQL re-evaluates the condition on the updated
/// row; SQLite has one writer at a time), and a repeated report changes nothing.
pub fn revoke_reported(
    conn: &mut DbConnection,
    channel: ReportChannel,
    reported: &[Reported],
    now: NaiveDateTime,
) -> QueryResult<Vec<Outcome>> {
    write_transaction(conn, |conn| {
        let hashes: Vec<TokenHash> = reported.iter().map(|r| r.hash).collect();
        let found: HashMap<TokenHash, (TokenId, bool)> = find_all(conn, hashes, now)?
            .into_iter()
            .map(|(id, hash, live)| (hash, (id, live)))
            .collect();
        let mut outcomes = Vec::with_capacity(reported.len());
        for report in reported {
            let outcome = match found.get(&report.hash) {
                None => Outcome::Unknown,
                Some((_, false)) => Outcome::AlreadyInactive,
                Some((id, true)) => {
                    if revoke_one(conn, id, channel, report, now)? {
                        let token = api_tokens::table
                            .find(id)
                            .select(TokenRow::as_select())
                            .get_result(conn)?;
                        Outcome::Revoked {
                            token: Box::new(token),
                            url: report.url.as_ref().map(|u| u.as_str().to_owned()),
                        }
                    } else {
                        Outcome::AlreadyInactive
                    }
                }
            };
            outcomes.push(outcome);
        }
        Ok(outcomes)
    })
}

/// The tokens with these hashes: id, hash, and whether each works at `now`.
fn find_all(
    conn: &mut DbConnection,
    hashes: Vec<TokenHash>,
    now: NaiveDateTime,
) -> QueryResult<Vec<(TokenId, TokenHash, bool)>> {
    if hashes.is_empty() {
        return Ok(Vec::new());
    }
    type Row = (
        TokenId,
        TokenHash,
        Option<NaiveDateTime>,
        Option<NaiveDateTime>,
    );
    macro_rules! query {
        () => {
            api_tokens::table
                .filter(api_tokens::token_hash.eq_any(hashes))
                .select((
                    api_tokens::id,
                    api_tokens::token_hash,
                    api_tokens::revoked_at,
                    api_tokens::expires_at,
                ))
        };
    }
    // On the concrete connection: `IN (…)` of a thousand binds renders per backend.
    let rows: Vec<Row> = match conn {
        DbConnection::Sqlite(c) => query!().load(c)?,
        DbConnection::Postgres(c) => query!().load(c)?,
    };
    Ok(rows
        .into_iter()
        .map(|(id, hash, revoked_at, expires_at)| {
            let live = revoked_at.is_none_or(|at| at > now) && expires_at.is_none_or(|at| at > now);
            (id, hash, live)
        })
        .collect())
}

/// Revokes one token if it still works (also one in a rotation's grace: a leaked token stops
/// now), and keeps the report; whether this call revoked it.
fn revoke_one(
    conn: &mut DbConnection,
    id: &TokenId,
    channel: ReportChannel,
    report: &Reported,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let live = api_tokens::table.filter(api_tokens::id.eq(id)).filter(
        api_tokens::revoked_at
            .is_null()
            .or(api_tokens::revoked_at.gt(now)),
    );
    let changed = diesel::update(live)
        .set((
            api_tokens::revoked_at.eq(now),
            api_tokens::revoked_reason.eq(RevokedReason::ReportedPublic),
        ))
        .execute(conn)?;
    if changed == 0 {
        return Ok(false);
    }
    diesel::insert_into(token_leak_reports::table)
        .values(LeakReport {
            token_id: id.clone(),
            channel,
            url: report.url.as_ref().map(|u| u.as_str().to_owned()),
            source: report.source.as_ref().map(|s| s.as_str().to_owned()),
            reported_at: now,
        })
        .execute(conn)?;
    Ok(true)
}

/// The reports that revoked these tokens (those that have one), by token.
pub fn reports_for(
    conn: &mut DbConnection,
    ids: Vec<TokenId>,
) -> QueryResult<HashMap<TokenId, LeakReport>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<LeakReport> = token_leak_reports::table
        .filter(token_leak_reports::token_id.eq_any(ids))
        .select(LeakReport::as_select())
        .load(conn)?;
    Ok(rows.into_iter().map(|r| (r.token_id.clone(), r)).collect())
}
