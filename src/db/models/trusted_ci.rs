//! Trusted CI (SPEC §8.8): a project's trust configurations, whom each minted token was issued
//! to, and the JWT ids already exchanged.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::WriteError;
use crate::db::schema::{ci_issued_tokens, ci_token_uses, project_members, trusted_ci};
use crate::db::{is_unique_violation, DbConnection};
use crate::domain::{
    Audience, CiLifetime, ClaimRules, IssuerUrl, ProjectId, Role, Scopes, TokenId, TrustId, UserId,
};

/// At most this many trust configurations per project: each is tried on every exchange for
/// its issuer.
pub const MAX_PER_PROJECT: i64 = 20;

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = trusted_ci)]
pub struct TrustRow {
    pub id: TrustId,
    pub project_id: ProjectId,
    pub created_by: UserId,
    pub issuer: IssuerUrl,
    pub audience: Audience,
    pub claims: ClaimRules,
    pub scopes: Scopes,
    #[diesel(column_name = lifetime_minutes)]
    pub lifetime: CiLifetime,
    pub created_at: NaiveDateTime,
}

/// Whom a token minted by the exchange was issued to (`"issuedTo"` in the API).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct IssuedTo {
    pub issuer: String,
    pub subject: String,
    /// The claims its trust configuration required, as the JWT carried them.
    pub claims: serde_json::Map<String, serde_json::Value>,
}

/// A project's configurations, oldest first.
pub fn list(conn: &mut DbConnection, project_id: &ProjectId) -> QueryResult<Vec<TrustRow>> {
    trusted_ci::table
        .filter(trusted_ci::project_id.eq(project_id))
        .order((trusted_ci::created_at, trusted_ci::id))
        .select(TrustRow::as_select())
        .load(conn)
}

/// Every configuration that trusts `issuer`, on any project.
pub fn for_issuer(conn: &mut DbConnection, issuer: &str) -> QueryResult<Vec<TrustRow>> {
    trusted_ci::table
        .filter(trusted_ci::issuer.eq(issuer))
        .order((trusted_ci::created_at, trusted_ci::id))
        .select(TrustRow::as_select())
        .load(conn)
}

/// Adds `row`, unless its project has `MAX_PER_PROJECT` already.
pub fn insert(conn: &mut DbConnection, row: &TrustRow) -> Result<(), WriteError> {
    let count: i64 = trusted_ci::table
        .filter(trusted_ci::project_id.eq(&row.project_id))
        .count()
        .get_result(conn)?;
    if count >= MAX_PER_PROJECT {
        return Err(WriteError::field(
            "issuer",
            format!("A project trusts at most {MAX_PER_PROJECT} CI identities; remove one first."),
        ));
    }
    diesel::insert_into(trusted_ci::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// Removes the project's configuration `id`; `None` when it has none such.
pub fn delete(
    conn: &mut DbConnection,
    project_id: &ProjectId,
    id: &TrustId,
) -> QueryResult<Option<TrustRow>> {
    let found = trusted_ci::table
        .filter(trusted_ci::project_id.eq(project_id))
        .filter(trusted_ci::id.eq(id))
        .select(TrustRow::as_select())
        .get_result(conn)
        .optional()?;
    if found.is_some() {
        diesel::delete(trusted_ci::table.filter(trusted_ci::id.eq(id))).execute(conn)?;
    }
    Ok(found)
}

/// Deletes every trust configuration of the project, and returns them (oldest first).
pub fn delete_all(conn: &mut DbConnection, project_id: &ProjectId) -> QueryResult<Vec<TrustRow>> {
    let found = list(conn, project_id)?;
    diesel::delete(trusted_ci::table.filter(trusted_ci::project_id.eq(project_id)))
        .execute(conn)?;
    Ok(found)
}

/// The project's owners now: told of refused exchanges.
pub fn owners(conn: &mut DbConnection, project_id: &ProjectId) -> QueryResult<Vec<UserId>> {
    project_members::table
        .filter(project_members::project_id.eq(project_id))
        .filter(project_members::role.eq(Role::Owner))
        .select(project_members::user_id)
        .load(conn)
}

/// Records `jti` of `issuer` as exchanged until `expires_at`, forgetting those that expired by
/// `now`. `false`: it was exchanged before (a replay). On PostgreSQL a replay breaks the
/// caller's transaction, which then must fail: it does, refusing the exchange.
pub fn use_once(
    conn: &mut DbConnection,
    issuer: &str,
    jti: &str,
    expires_at: NaiveDateTime,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::delete(ci_token_uses::table.filter(ci_token_uses::expires_at.le(now))).execute(conn)?;
    match diesel::insert_into(ci_token_uses::table)
        .values((
            ci_token_uses::issuer.eq(issuer),
            ci_token_uses::jti.eq(jti),
            ci_token_uses::expires_at.eq(expires_at),
        ))
        .execute(conn)
    {
        Ok(_) => Ok(true),
        Err(e) if is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Keeps whom the token `token_id` was issued to.
pub fn record_issued(
    conn: &mut DbConnection,
    token_id: &TokenId,
    to: &IssuedTo,
) -> QueryResult<()> {
    diesel::insert_into(ci_issued_tokens::table)
        .values((
            ci_issued_tokens::token_id.eq(token_id),
            ci_issued_tokens::issuer.eq(&to.issuer),
            ci_issued_tokens::subject.eq(&to.subject),
            ci_issued_tokens::claims.eq(serde_json::Value::Object(to.claims.clone()).to_string()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Whom each of these tokens was issued to, for those the exchange minted.
pub fn issued_to(
    conn: &mut DbConnection,
    ids: &[TokenId],
) -> QueryResult<HashMap<TokenId, IssuedTo>> {
    let rows: Vec<(TokenId, String, String, String)> = ci_issued_tokens::table
        .filter(ci_issued_tokens::token_id.eq_any(ids))
        .select((
            ci_issued_tokens::token_id,
            ci_issued_tokens::issuer,
            ci_issued_tokens::subject,
            ci_issued_tokens::claims,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, issuer, subject, claims)| {
            let claims = serde_json::from_str(&claims).unwrap_or_default();
            (
                id,
                IssuedTo {
                    issuer,
                    subject,
                    claims,
                },
            )
        })
        .collect())
}
