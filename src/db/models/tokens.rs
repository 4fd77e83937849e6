//! API tokens: the rules for a new token, and every query on the table.

use std::sync::Arc;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::WriteError;
use crate::db::json_rows::{write_json, Statement};
use crate::db::models::users::User;
use crate::db::schema::{
    api_token_projects, api_tokens, ci_issued_tokens, project_members, projects, users,
};
use crate::db::{is_unique_violation, timestamp, write_transaction, DbConnection};
use crate::domain::{
    Cursor, Expiry, Grace, Narrowing, NewToken, PageRequest, PlainToken, ProjectId, ProjectName,
    ProjectSelection, RevokedReason, Scopes, SelectionError, TokenHash, TokenId, TokenName, UserId,
};

pub const MAX_LIVE_TOKENS: i64 = 100;
const NAME_TAKEN: &str = "You already have a token with this name.";

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = api_tokens)]
pub struct TokenRow {
    pub id: TokenId,
    pub user_id: UserId,
    pub name: TokenName,
    pub token_hash: TokenHash,
    pub prefix: String,
    pub scopes: Scopes,
    pub created_at: NaiveDateTime,
    pub expires_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
    pub last_used_at: Option<NaiveDateTime>,
    pub last_used_ip: Option<String>,
    pub revoked_reason: Option<RevokedReason>,
    /// The token that replaced this one by rotation.
    pub replaced_by: Option<TokenId>,
    /// The token this one replaced.
    pub rotated_from: Option<TokenId>,
    /// The expiry chosen at creation (absent for tokens made before it was kept).
    pub expiry: Option<Expiry>,
    /// Chosen projects (which: `api_token_projects`) and allowed addresses.
    pub narrowing: Narrowing,
}

crate::domain::string_enum! {
    /// Whether a token works now.
    pub enum TokenStatus {
        Active = "active",
        Expired = "expired",
        Revoked = "revoked",
    }
}

impl TokenRow {
    /// A token is expired from the instant `now >= expires_at`, and revoked from the instant
    /// `now >= revoked_at` (later than now while a replaced token's grace lasts).
    pub fn status(&self, now: NaiveDateTime) -> TokenStatus {
        if self.revoked_at.is_some_and(|at| now >= at) {
            TokenStatus::Revoked
        } else if self.expires_at.is_some_and(|at| now >= at) {
            TokenStatus::Expired
        } else {
            TokenStatus::Active
        }
    }
}

impl TokenRow {
    /// When it stopped working, if it has by `now`: revoked (or replaced), or expired.
    pub fn stopped_at(&self, now: NaiveDateTime) -> Option<NaiveDateTime> {
        match self.status(now) {
            TokenStatus::Active => None,
            TokenStatus::Revoked => self.revoked_at,
            TokenStatus::Expired => self.expires_at,
        }
    }
}

/// The bearer hot path: one indexed lookup by hash, joined with the owner.
pub fn find_by_hash(
    conn: &mut DbConnection,
    hash: &TokenHash,
) -> QueryResult<Option<(TokenRow, User)>> {
    macro_rules! query {
        () => {
            api_tokens::table
                .inner_join(users::table)
                .filter(api_tokens::token_hash.eq(hash))
                .select((TokenRow::as_select(), User::as_select()))
        };
    }
    // `get_result`, not `first`: the hash is UNIQUE, and SQLite recompiles a statement with
    // `LIMIT ?` each time the limit is bound, which diesel does on every execution
    // (measured: the parser ran on every bearer request; docs/benchmarks.md).
    // On the concrete connection: through `MultiConnection`, diesel renders the SQL text
    // again on every execution even when the prepared statement is cached (measured too).
    match conn {
        DbConnection::Sqlite(c) => query!().get_result(c).optional(),
        DbConnection::Postgres(c) => query!().get_result(c).optional(),
    }
}

/// Which of an owner's tokens a list shows.
#[derive(Clone, Copy, Debug)]
pub enum Which {
    All,
    /// Neither revoked nor expired at this instant.
    Active(NaiveDateTime),
    /// Revoked, or expired at this instant.
    Inactive(NaiveDateTime),
}

/// Every token of the owner that works now, newest first: the live ones (at most
/// `MAX_LIVE_TOKENS`) and those still in a rotation's grace, which the cap does not count
/// (each is a rotation of the last day at most).
pub fn working(
    conn: &mut DbConnection,
    user_id: &UserId,
    now: NaiveDateTime,
) -> QueryResult<Vec<TokenRow>> {
    list(
        conn,
        user_id,
        Which::Active(now),
        // No limit: a page's read asks for one row more than its limit.
        &PageRequest::first(i64::MAX - 1),
    )
}

/// A page of the owner's tokens, newest first.
pub fn list(
    conn: &mut DbConnection,
    user_id: &UserId,
    which: Which,
    page: &PageRequest,
) -> QueryResult<Vec<TokenRow>> {
    let mut query = api_tokens::table
        .filter(api_tokens::user_id.eq(user_id))
        .into_boxed();
    query = match which {
        Which::All => query,
        Which::Active(now) => query
            .filter(
                api_tokens::revoked_at
                    .is_null()
                    .or(api_tokens::revoked_at.gt(now)),
            )
            .filter(
                api_tokens::expires_at
                    .is_null()
                    .or(api_tokens::expires_at.gt(now)),
            ),
        Which::Inactive(now) => query.filter(
            api_tokens::revoked_at
                .le(now)
                .or(api_tokens::expires_at.le(now)),
        ),
    };
    if let Some(Cursor { at: Some(at), key }) = &page.after {
        query = query.filter(
            api_tokens::created_at.lt(*at).or(api_tokens::created_at
                .eq(*at)
                .and(api_tokens::id.lt(key.clone()))),
        );
    }
    query
        .order((api_tokens::created_at.desc(), api_tokens::id.desc()))
        .limit(page.fetch())
        .select(TokenRow::as_select())
        .load(conn)
}

/// A token's row and owner as the caches keep them (`db::exact_cache`): shared, not copied,
/// with every request that finds them, so a hit copies two pointers.
pub type Found = (Arc<TokenRow>, Arc<User>);

/// A row as `find_by_hash` reads it, made shareable.
pub fn shared((row, user): (TokenRow, User)) -> Found {
    (Arc::new(row), Arc::new(user))
}

impl TokenRow {
    /// Where the next page starts when this row ends one.
    pub fn cursor(&self) -> Cursor {
        Cursor::new(Some(self.created_at), self.id.as_str())
    }
}

/// Serializes an account's token writes, so the name check and the cap hold under concurrency.
/// SQLite's `BEGIN IMMEDIATE` already lets one writer in at a time; PostgreSQL under READ
/// COMMITTED would let two creates both count 99 live tokens, so the owner's row is locked.
fn lock_owner(conn: &mut DbConnection, user_id: &UserId) -> QueryResult<()> {
    if let DbConnection::Postgres(c) = conn {
        users::table
            .find(user_id)
            .select(users::id)
            .for_update()
            .get_result::<UserId>(c)?;
    }
    Ok(())
}

/// Issues a token: the plaintext is returned once and only its hash is stored.
pub fn create(
    conn: &mut DbConnection,
    user_id: &UserId,
    new: &NewToken,
    now: NaiveDateTime,
) -> Result<(TokenRow, PlainToken), WriteError> {
    let plain = PlainToken::generate();
    let row = TokenRow {
        id: TokenId::new(),
        user_id: user_id.clone(),
        name: new.name.clone(),
        token_hash: plain.hash(),
        prefix: plain.display_prefix().to_owned(),
        scopes: new.scopes.clone(),
        created_at: now,
        expires_at: new.expires_at(now),
        revoked_at: None,
        last_used_at: None,
        last_used_ip: None,
        revoked_reason: None,
        replaced_by: None,
        rotated_from: None,
        expiry: new.kept_expiry(),
        narrowing: Narrowing {
            restricted: new.projects.is_restricted(),
            allowed_ips: new.allowed_ips.clone(),
        },
    };
    write_transaction(conn, |conn| {
        lock_owner(conn, user_id)?;
        let live = api_tokens::table
            .filter(api_tokens::user_id.eq(user_id))
            .filter(api_tokens::revoked_at.is_null());
        // A token minted for a CI job that has run out is done for good (it is never
        // regenerated: the next job exchanges its own), so it does not hold a place; otherwise
        // a trusted pipeline would stop at its hundredth run.
        let spent_ci = ci_issued_tokens::table.select(ci_issued_tokens::token_id);
        let count: i64 = live
            .filter(
                api_tokens::expires_at
                    .gt(now)
                    .or(api_tokens::expires_at.is_null())
                    .or(api_tokens::id.ne_all(spent_ci)),
            )
            .count()
            .get_result(conn)?;
        if count >= MAX_LIVE_TOKENS {
            return Err(WriteError::field(
                "name",
                format!("You have {MAX_LIVE_TOKENS} tokens; revoke one before creating another."),
            ));
        }
        let taken: i64 = live
            .filter(api_tokens::name.eq(&row.name))
            .count()
            .get_result(conn)?;
        if taken > 0 {
            return Err(WriteError::field("name", NAME_TAKEN));
        }
        diesel::insert_into(api_tokens::table)
            .values(&row)
            .execute(conn)
            .map_err(|e| match e {
                // Only reachable if a writer bypassed `lock_owner`; still the user's mistake.
                e if is_unique_violation(&e) => WriteError::field("name", NAME_TAKEN),
                e => e.into(),
            })?;
        let chosen = new.projects.ids();
        // Only projects the creator is a member of now; the same refusal for a project that
        // does not exist, so the answer never tells whether someone else's does.
        let mine: i64 = project_members::table
            .filter(project_members::user_id.eq(user_id))
            .filter(project_members::project_id.eq_any(chosen))
            .count()
            .get_result(conn)?;
        if mine != chosen.len() as i64 {
            return Err(WriteError::field(
                "projects",
                SelectionError::NotYours.to_string(),
            ));
        }
        choose_projects(conn, &row.id, chosen)?;
        Ok(())
    })?;
    Ok((row, plain))
}

fn choose_projects(
    conn: &mut DbConnection,
    token_id: &TokenId,
    chosen: &[ProjectId],
) -> QueryResult<()> {
    // One row at a time: a batch insert does not go through `MultiConnection` on SQLite, and
    // a selection is at most `ProjectSelection::MAX` rows, inside the caller's transaction.
    for project_id in chosen {
        diesel::insert_into(api_token_projects::table)
            .values((
                api_token_projects::token_id.eq(token_id),
                api_token_projects::project_id.eq(project_id),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// The projects chosen for each of these tokens, with their names, by name; a token that is
/// not restricted has none.
pub fn chosen_projects(
    conn: &mut DbConnection,
    ids: &[TokenId],
) -> QueryResult<std::collections::HashMap<TokenId, Vec<(ProjectId, ProjectName)>>> {
    let mut chosen = std::collections::HashMap::<_, Vec<_>>::new();
    // A page of tokens is at most 200 ids: one bound parameter each, well inside both limits.
    let rows: Vec<(TokenId, ProjectId, ProjectName)> = api_token_projects::table
        .inner_join(projects::table)
        .filter(api_token_projects::token_id.eq_any(ids))
        .order((projects::name, projects::id))
        .select((api_token_projects::token_id, projects::id, projects::name))
        .load(conn)?;
    for (token, id, name) in rows {
        chosen.entry(token).or_default().push((id, name));
    }
    Ok(chosen)
}

/// What `row` reaches, as the API shows it.
pub fn selection_of(
    row: &TokenRow,
    chosen: &std::collections::HashMap<TokenId, Vec<(ProjectId, ProjectName)>>,
) -> ProjectSelection {
    let ids = chosen
        .get(&row.id)
        .map(|c| c.iter().map(|(id, _)| id.clone()).collect())
        .unwrap_or_default();
    ProjectSelection::from_parts(row.narrowing.restricted, ids)
}

/// Revokes one of the owner's tokens at once, also one still in its grace after a rotation.
/// Someone else's token is `NotFound`, as if it did not exist; revoking a revoked token
/// changes nothing.
pub fn revoke(
    conn: &mut DbConnection,
    user_id: &UserId,
    id: &TokenId,
    now: NaiveDateTime,
) -> QueryResult<TokenRow> {
    write_transaction(conn, |conn| {
        let live = api_tokens::table
            .filter(api_tokens::id.eq(id))
            .filter(api_tokens::user_id.eq(user_id))
            .filter(
                api_tokens::revoked_at
                    .is_null()
                    .or(api_tokens::revoked_at.gt(now)),
            );
        diesel::update(live)
            .set((
                api_tokens::revoked_at.eq(now),
                api_tokens::revoked_reason.eq(RevokedReason::User),
            ))
            .execute(conn)?;
        find_mine(conn, user_id, id)
    })
}

/// Issues a token with the settings of the owner's live token `id`, which keeps working for
/// `grace` and is then revoked as `rotated`. Serialized per owner like `create`, so two
/// concurrent rotations of one token make one new token: the second finds it replaced.
pub fn rotate(
    conn: &mut DbConnection,
    user_id: &UserId,
    id: &TokenId,
    expiry: Option<Expiry>,
    grace: Grace,
    now: NaiveDateTime,
) -> Result<(TokenRow, PlainToken), WriteError> {
    write_transaction(conn, |conn| {
        lock_owner(conn, user_id)?;
        let old = find_mine(conn, user_id, id)?;
        if old.status(now) != TokenStatus::Active {
            return Err(WriteError::field(
                "id",
                "Only a working token can be regenerated.",
            ));
        }
        if old.replaced_by.is_some() {
            return Err(WriteError::field(
                "id",
                "This token was already replaced by a newer one.",
            ));
        }
        let minted_for_ci: i64 = ci_issued_tokens::table
            .find(&old.id)
            .count()
            .get_result(conn)?;
        if minted_for_ci > 0 {
            return Err(WriteError::field(
                "id",
                "A token minted for a CI job is not regenerated: each job exchanges its own.",
            ));
        }
        let expiry = expiry.or(old.expiry).unwrap_or_default();
        let plain = PlainToken::generate();
        let new = TokenRow {
            id: TokenId::new(),
            token_hash: plain.hash(),
            prefix: plain.display_prefix().to_owned(),
            created_at: now,
            expires_at: expiry.expires_at(now),
            last_used_at: None,
            last_used_ip: None,
            revoked_at: None,
            revoked_reason: None,
            replaced_by: None,
            rotated_from: Some(old.id.clone()),
            expiry: Some(expiry),
            ..old.clone()
        };
        // The old token leaves the live set (its name is free for the new one) and stops
        // working when the grace ends.
        diesel::update(api_tokens::table.find(&old.id))
            .set((
                api_tokens::revoked_at.eq(now + grace.duration()),
                api_tokens::revoked_reason.eq(RevokedReason::Rotated),
                api_tokens::replaced_by.eq(&new.id),
            ))
            .execute(conn)?;
        diesel::insert_into(api_tokens::table)
            .values(&new)
            .execute(conn)?;
        // The same projects (those not deleted since); `restricted` came with `..old`.
        let chosen: Vec<ProjectId> = api_token_projects::table
            .filter(api_token_projects::token_id.eq(&old.id))
            .select(api_token_projects::project_id)
            .load(conn)?;
        choose_projects(conn, &new.id, &chosen)?;
        Ok((new, plain))
    })
}

/// Moves a token's expiry earlier, to `expires_at` (an admin's "shorten to the maximum" of the
/// instance's token policy); a time already past stops it at once.
pub fn shorten(
    conn: &mut DbConnection,
    id: &TokenId,
    expires_at: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(api_tokens::table.find(id))
        .set(api_tokens::expires_at.eq(expires_at))
        .execute(conn)?;
    Ok(())
}

/// A token by id, whoever owns it (background work only: handlers use `find_mine`).
pub fn find(conn: &mut DbConnection, id: &TokenId) -> QueryResult<Option<TokenRow>> {
    api_tokens::table
        .find(id)
        .select(TokenRow::as_select())
        .get_result(conn)
        .optional()
}

/// These tokens with their owners (the project access page: other members' tokens).
pub fn with_owners(conn: &mut DbConnection, ids: &[TokenId]) -> QueryResult<Vec<(TokenRow, User)>> {
    api_tokens::table
        .inner_join(users::table)
        .filter(api_tokens::id.eq_any(ids))
        .select((TokenRow::as_select(), User::as_select()))
        .load(conn)
}

/// One of the owner's tokens; someone else's is `NotFound`, as if it did not exist.
pub fn find_mine(conn: &mut DbConnection, user_id: &UserId, id: &TokenId) -> QueryResult<TokenRow> {
    api_tokens::table
        .filter(api_tokens::id.eq(id))
        .filter(api_tokens::user_id.eq(user_id))
        .select(TokenRow::as_select())
        .get_result(conn)
}

/// Tokens not revoked whose expiry falls in `from..=to`: the expiry sweep's candidates.
pub fn expiring_between(
    conn: &mut DbConnection,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> QueryResult<Vec<TokenRow>> {
    api_tokens::table
        .filter(api_tokens::revoked_at.is_null())
        .filter(api_tokens::expires_at.ge(from))
        .filter(api_tokens::expires_at.le(to))
        .select(TokenRow::as_select())
        .load(conn)
}

/// Working tokens unused since `cutoff` (counted from creation when never used).
pub fn idle_since_before(
    conn: &mut DbConnection,
    cutoff: NaiveDateTime,
    now: NaiveDateTime,
) -> QueryResult<Vec<TokenRow>> {
    api_tokens::table
        .filter(api_tokens::revoked_at.is_null())
        .filter(
            api_tokens::expires_at
                .is_null()
                .or(api_tokens::expires_at.gt(now)),
        )
        .filter(
            api_tokens::last_used_at
                .le(cutoff)
                .or(api_tokens::last_used_at
                    .is_null()
                    .and(api_tokens::created_at.le(cutoff))),
        )
        .select(TokenRow::as_select())
        .load(conn)
}

/// Revokes `token` for inactivity, if it is still live and still unused since it was read
/// (a use noted meanwhile, or another instance's sweep, makes this change nothing).
pub fn revoke_inactive(
    conn: &mut DbConnection,
    token: &TokenRow,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let live = api_tokens::table
        .find(&token.id)
        .filter(api_tokens::revoked_at.is_null());
    let revoke = (
        api_tokens::revoked_at.eq(now),
        api_tokens::revoked_reason.eq(RevokedReason::Inactive),
    );
    let changed = match token.last_used_at {
        Some(at) => diesel::update(live.filter(api_tokens::last_used_at.eq(at)))
            .set(revoke)
            .execute(conn)?,
        None => diesel::update(live.filter(api_tokens::last_used_at.is_null()))
            .set(revoke)
            .execute(conn)?,
    };
    Ok(changed == 1)
}

/// A token's last use is written at most this often (SPEC §7).
pub const LAST_USED_RESOLUTION: chrono::Duration = chrono::Duration::minutes(1);

/// A use of a token, noted off the request path (`auth::last_used`).
#[derive(Debug)]
pub struct LastUse {
    pub id: TokenId,
    pub at: NaiveDateTime,
    pub ip: Option<String>,
}

/// Writes collected last-use records in one transaction, one statement for them all
/// (`db::json_rows`; the many tokens of a CI fleet each call now and then, so a flush holds
/// nearly as many tokens as uses). The guard in the WHERE clause keeps it to one write a
/// minute per token even when several instances record the same token. It sets only the
/// last-use columns, which the cache triggers do not watch.
pub fn record_last_used(conn: &mut DbConnection, uses: &[LastUse]) -> QueryResult<()> {
    // Each row: the token, its use, the address, and the instant a stored use must be older
    // than (`LAST_USED_RESOLUTION` before this one).
    const UPDATE: Statement = Statement {
        sqlite: "UPDATE api_tokens SET last_used_at = v.at, last_used_ip = v.ip \
                 FROM (SELECT value->>0 AS id, value->>1 AS at, value->>2 AS ip, \
                 value->>3 AS stale FROM jsonb_each(?)) AS v \
                 WHERE api_tokens.id = v.id \
                 AND (api_tokens.last_used_at IS NULL OR api_tokens.last_used_at <= v.stale)",
        postgres: "UPDATE api_tokens SET last_used_at = v.at, last_used_ip = v.ip \
                   FROM (SELECT value->>0 AS id, (value->>1)::timestamp AS at, \
                   value->>2 AS ip, (value->>3)::timestamp AS stale \
                   FROM jsonb_array_elements($1::jsonb)) AS v \
                   WHERE api_tokens.id = v.id \
                   AND (api_tokens.last_used_at IS NULL OR api_tokens.last_used_at <= v.stale)",
    };
    let rows: Vec<_> = uses
        .iter()
        .map(|u| {
            let stale = timestamp::text(u.at - LAST_USED_RESOLUTION);
            (&u.id, timestamp::text(u.at), u.ip.as_deref(), stale)
        })
        .collect();
    write_transaction(conn, |conn| write_json(conn, UPDATE, &rows))
}

/// A live token for the unit tests of the rules that take one: `publish` only, made at the
/// epoch, never expiring, narrowed in no way. Tests change the fields they are about.
#[cfg(test)]
impl TokenRow {
    pub(crate) fn for_test() -> TokenRow {
        TokenRow {
            id: TokenId::new(),
            user_id: UserId::new(),
            name: TokenName::parse("ci").unwrap(),
            token_hash: PlainToken::generate().hash(),
            prefix: "mm_pat_AAAA".into(),
            scopes: Scopes::new(vec![crate::domain::Scope::Publish]),
            created_at: NaiveDateTime::default(),
            expires_at: None,
            revoked_at: None,
            last_used_at: None,
            last_used_ip: None,
            revoked_reason: None,
            replaced_by: None,
            rotated_from: None,
            expiry: None,
            narrowing: Narrowing::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn expired_from_the_instant_of_expiry() {
        let row = TokenRow {
            created_at: at("2026-01-01 00:00:00"),
            expires_at: Some(at("2026-02-01 00:00:00")),
            expiry: Some(Expiry::OneMonth),
            ..TokenRow::for_test()
        };
        assert_eq!(row.status(at("2026-01-31 23:59:59")), TokenStatus::Active);
        assert_eq!(row.status(at("2026-02-01 00:00:00")), TokenStatus::Expired);
        let revoked = TokenRow {
            revoked_at: Some(at("2026-01-02 00:00:00")),
            ..row
        };
        assert_eq!(
            revoked.status(at("2026-01-03 00:00:00")),
            TokenStatus::Revoked
        );
        // A replaced token in its grace still works until the instant the grace ends.
        assert_eq!(
            revoked.status(at("2026-01-01 23:59:59")),
            TokenStatus::Active
        );
    }
}

/// What the credentials inventory (SPEC §9) is narrowed to; every filter given must hold.
#[derive(Clone, Debug, Default)]
pub struct InventoryFilter {
    /// The owner's email, as typed (normalized here).
    pub owner: Option<String>,
    pub status: Option<TokenStatus>,
    pub scope: Option<crate::domain::Scope>,
    /// Working and expiring within this many days.
    pub expires_within_days: Option<i64>,
    pub never_expires: bool,
    /// Not used (or, never used, not created) within this many days.
    pub unused_for_days: Option<i64>,
}

/// Every token of every account, newest first, with its owner: the credentials inventory.
pub fn inventory(
    conn: &mut DbConnection,
    filter: &InventoryFilter,
    page: &PageRequest,
    now: NaiveDateTime,
) -> QueryResult<Vec<(TokenRow, User)>> {
    use chrono::Duration;
    use diesel::sql_types::{Bool, Text};
    let mut query = api_tokens::table.inner_join(users::table).into_boxed();
    if let Some(owner) = &filter.owner {
        let email = crate::domain::Email::normalize(owner);
        query = query.filter(users::email.eq(email));
    }
    let revoked = api_tokens::revoked_at.le(now);
    let not_revoked = api_tokens::revoked_at
        .is_null()
        .or(api_tokens::revoked_at.gt(now));
    let not_expired = api_tokens::expires_at
        .is_null()
        .or(api_tokens::expires_at.gt(now));
    query = match filter.status {
        None => query,
        Some(TokenStatus::Revoked) => query.filter(revoked),
        Some(TokenStatus::Expired) => query
            .filter(not_revoked)
            .filter(api_tokens::expires_at.le(now)),
        Some(TokenStatus::Active) => query.filter(not_revoked).filter(not_expired),
    };
    if let Some(scope) = filter.scope {
        // Stored as `a,b,c` (`Scopes::to_db`); scope names hold no LIKE wildcards.
        query = query.filter(
            diesel::dsl::sql::<Bool>("(',' || api_tokens.scopes || ',') LIKE ")
                .bind::<Text, _>(format!("%,{},%", scope.as_str())),
        );
    }
    if let Some(days) = filter.expires_within_days {
        query = query
            .filter(api_tokens::expires_at.gt(now))
            .filter(api_tokens::expires_at.le(now + Duration::days(days)));
    }
    if filter.never_expires {
        query = query.filter(api_tokens::expires_at.is_null());
    }
    if let Some(days) = filter.unused_for_days {
        let since = now - Duration::days(days);
        query = query.filter(
            api_tokens::last_used_at
                .le(since)
                .or(api_tokens::last_used_at
                    .is_null()
                    .and(api_tokens::created_at.le(since))),
        );
    }
    if let Some(Cursor { at: Some(at), key }) = &page.after {
        query = query.filter(
            api_tokens::created_at.lt(*at).or(api_tokens::created_at
                .eq(*at)
                .and(api_tokens::id.lt(key.clone()))),
        );
    }
    query
        .order((api_tokens::created_at.desc(), api_tokens::id.desc()))
        .limit(page.fetch())
        .select((TokenRow::as_select(), User::as_select()))
        .load(conn)
}

/// Revokes those of `ids` that still work (a replaced token's grace counts as working), as
/// revoked by an admin; answers them as they are now, with their owners. Unknown ids and
/// stopped tokens are left as they are.
pub fn revoke_by_admin(
    conn: &mut DbConnection,
    ids: &[TokenId],
    now: NaiveDateTime,
) -> QueryResult<Vec<(TokenRow, User)>> {
    write_transaction(conn, |conn| {
        let live: Vec<TokenId> = api_tokens::table
            .filter(api_tokens::id.eq_any(ids))
            .filter(
                api_tokens::revoked_at
                    .is_null()
                    .or(api_tokens::revoked_at.gt(now)),
            )
            .select(api_tokens::id)
            .load(conn)?;
        diesel::update(api_tokens::table.filter(api_tokens::id.eq_any(&live)))
            .set((
                api_tokens::revoked_at.eq(now),
                api_tokens::revoked_reason.eq(RevokedReason::Admin),
            ))
            .execute(conn)?;
        api_tokens::table
            .inner_join(users::table)
            .filter(api_tokens::id.eq_any(&live))
            .select((TokenRow::as_select(), User::as_select()))
            .load(conn)
    })
}
