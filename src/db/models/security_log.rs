//! The account security log (SPEC §8.3): one row per event, written by `record` in the
//! caller's transaction (so an event and what it records commit together or not at all),
//! read newest first by keyset, and deleted after a year. Also the logged forms of the changes
//! that two front doors make (the JSON API and the dashboard): `issued`, `revoke_token`,
//! `set_member`, `remove_member`, so neither can make the change without its event.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use serde_json::{json, Value};

use crate::db::models::projects::{self, Member};
use crate::db::models::tokens::{self, TokenRow};
use crate::db::models::users::User;
use crate::db::models::WriteError;
use crate::db::schema::security_events;
use crate::db::{write_transaction, DbConnection};
use crate::domain::{
    cut_user_agent, Cursor, PageRequest, ProjectId, ProjectName, RevokedReason, Role, SecurityKind,
    TokenId, UserId,
};

/// How long an event is kept (SPEC §8.3).
pub const KEPT: Duration = Duration::days(365);

/// An event to record. `details` is JSON the log shows as it is: never a secret (for a token
/// only its id, name and display prefix).
#[derive(Clone, Debug)]
pub struct NewSecurityEvent {
    pub user_id: UserId,
    pub kind: SecurityKind,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub details: Value,
}

/// Where a request came from, as events keep it: the client's address and user agent.
/// Events the server causes on its own (an expiry) have neither.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Client {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl NewSecurityEvent {
    pub fn new(user_id: &UserId, kind: SecurityKind, client: &Client, details: Value) -> Self {
        NewSecurityEvent {
            user_id: user_id.clone(),
            kind,
            ip: client.ip.clone(),
            user_agent: client.user_agent.clone(),
            details,
        }
    }

    /// An event about `token`, logged for its owner: its id, name and display prefix.
    pub fn token(kind: SecurityKind, token: &TokenRow, client: &Client) -> Self {
        NewSecurityEvent::new(&token.user_id, kind, client, token_details(token))
    }
}

/// What a token event says of its token: enough to recognise it, nothing to use it.
pub fn token_details(token: &TokenRow) -> Value {
    json!({
        "tokenId": token.id,
        "tokenName": token.name.to_string(),
        "prefix": token.prefix,
    })
}

/// Who made a change, from where, and when.
#[derive(Clone, Copy)]
pub struct Actor<'a> {
    pub user: &'a User,
    pub client: &'a Client,
    pub now: NaiveDateTime,
}

/// A membership event, logged for the member it changed and for the owner who changed it
/// (once when they are the same person): the project's id and name, the member's id, email
/// and role (and `previousRole` for a change), and `by`, the owner's email.
fn record_member_event(
    conn: &mut DbConnection,
    kind: SecurityKind,
    project_id: &ProjectId,
    member: &Member,
    previous_role: Option<Role>,
    by: &Actor,
) -> QueryResult<()> {
    let Actor {
        user: actor,
        client,
        now,
    } = *by;
    let project: ProjectName = projects::find(conn, project_id)?.name;
    let mut details = json!({
        "projectId": project_id,
        "projectName": project.to_string(),
        "memberId": member.user_id,
        "memberEmail": member.email.to_string(),
        "role": member.role.as_str(),
        "by": actor.email.to_string(),
    });
    if let Some(previous) = previous_role {
        details["previousRole"] = json!(previous.as_str());
    }
    let mut people = vec![&member.user_id];
    if actor.id != member.user_id {
        people.push(&actor.id);
    }
    for user_id in people {
        let event = NewSecurityEvent::new(user_id, kind, client, details.clone());
        record(conn, &event, now)?;
    }
    Ok(())
}

/// `projects::set_member` by the owner `actor`, logged in the same transaction:
/// `member_added` or `member_role_changed`; setting the role a member has logs nothing.
pub fn set_member(
    conn: &mut DbConnection,
    project_id: &ProjectId,
    email: &str,
    role: Role,
    by: &Actor,
) -> Result<Member, WriteError> {
    write_transaction(conn, |conn| {
        let (member, before) = projects::set_member(conn, project_id, email, role, by.now)?;
        let kind = match before {
            None => Some(SecurityKind::MemberAdded),
            Some(before) if before != role => Some(SecurityKind::MemberRoleChanged),
            Some(_) => None,
        };
        if let Some(kind) = kind {
            let previous = before.filter(|_| kind == SecurityKind::MemberRoleChanged);
            record_member_event(conn, kind, project_id, &member, previous, by)?;
        }
        Ok(member)
    })
}

/// `projects::remove_member` by the owner `actor`, logged as `member_removed` in the same
/// transaction (with the role the member had).
pub fn remove_member(
    conn: &mut DbConnection,
    project_id: &ProjectId,
    user_id: &UserId,
    by: &Actor,
) -> Result<(), WriteError> {
    write_transaction(conn, |conn| {
        let member = projects::members(conn, project_id)?
            .into_iter()
            .find(|m| &m.user_id == user_id)
            .ok_or(diesel::result::Error::NotFound)?;
        projects::remove_member(conn, project_id, user_id)?;
        let kind = SecurityKind::MemberRemoved;
        record_member_event(conn, kind, project_id, &member, None, by)?;
        Ok(())
    })
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = security_events)]
pub struct SecurityEventRow {
    pub id: String,
    pub user_id: UserId,
    pub kind: SecurityKind,
    pub at: NaiveDateTime,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// JSON text.
    pub details: String,
}

impl SecurityEventRow {
    /// Where the next page starts when this row ends one.
    pub fn cursor(&self) -> Cursor {
        Cursor::new(Some(self.at), &self.id)
    }

    /// The stored details (an unreadable one reads as an empty object, never an error).
    pub fn details(&self) -> Value {
        serde_json::from_str(&self.details).unwrap_or_else(|_| json!({}))
    }
}

/// Records `event` at `now`, in the caller's transaction when there is one: call it inside the
/// same `write_transaction` as the change it records.
pub fn record(
    conn: &mut DbConnection,
    event: &NewSecurityEvent,
    now: NaiveDateTime,
) -> QueryResult<()> {
    let row = SecurityEventRow {
        id: uuid::Uuid::new_v4().to_string(),
        user_id: event.user_id.clone(),
        kind: event.kind,
        at: now,
        ip: event.ip.clone(),
        user_agent: event.user_agent.as_deref().map(cut_user_agent),
        details: event.details.to_string(),
    };
    diesel::insert_into(security_events::table)
        .values(&row)
        .execute(conn)
        .map(drop)
}

/// A page of the person's events, newest first, of one kind or all.
pub fn list(
    conn: &mut DbConnection,
    user_id: &UserId,
    kind: Option<SecurityKind>,
    page: &PageRequest,
) -> QueryResult<Vec<SecurityEventRow>> {
    let mut query = security_events::table
        .filter(security_events::user_id.eq(user_id))
        .into_boxed();
    if let Some(kind) = kind {
        query = query.filter(security_events::kind.eq(kind));
    }
    if let Some(Cursor { at: Some(at), key }) = &page.after {
        query = query.filter(
            security_events::at.lt(*at).or(security_events::at
                .eq(*at)
                .and(security_events::id.lt(key.clone()))),
        );
    }
    query
        .order((security_events::at.desc(), security_events::id.desc()))
        .limit(page.fetch())
        .select(SecurityEventRow::as_select())
        .load(conn)
}

/// Deletes events older than `KEPT`; the background sweep calls it. One statement: a single
/// write takes the lock as it starts and needs no transaction of its own.
pub fn delete_expired(conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(security_events::table.filter(security_events::at.lt(now - KEPT))).execute(conn)
}

/// Runs `issue` (a token's creation or rotation) and logs it in the same transaction:
/// `token_rotated` (with `rotatedFrom`) for a token that replaces another, else
/// `token_created`.
pub fn issued<T>(
    conn: &mut DbConnection,
    client: &Client,
    now: NaiveDateTime,
    issue: impl FnOnce(&mut DbConnection) -> Result<(TokenRow, T), WriteError>,
) -> Result<(TokenRow, T), WriteError> {
    write_transaction(conn, |conn| {
        let (token, plain) = issue(conn)?;
        let event = match &token.rotated_from {
            None => NewSecurityEvent::token(SecurityKind::TokenCreated, &token, client),
            Some(old) => {
                let mut event = NewSecurityEvent::token(SecurityKind::TokenRotated, &token, client);
                event.details["rotatedFrom"] = json!(old);
                event
            }
        };
        record(conn, &event, now)?;
        Ok((token, plain))
    })
}

/// `tokens::revoke`, logged as `token_revoked` in the same transaction when it revoked
/// something (revoking a revoked token changes nothing, and logs nothing).
pub fn revoke_token(
    conn: &mut DbConnection,
    user_id: &UserId,
    id: &TokenId,
    client: &Client,
    now: NaiveDateTime,
) -> QueryResult<TokenRow> {
    write_transaction(conn, |conn| {
        let before = tokens::find_mine(conn, user_id, id)?;
        let token = tokens::revoke(conn, user_id, id, now)?;
        // Still working until now (a replaced token's grace counts as working).
        if before.revoked_at.is_none_or(|at| at > now) {
            record(conn, &revoked(&token, RevokedReason::User, client), now)?;
        }
        Ok(token)
    })
}

/// The `token_revoked` event of `token`, with why (`user`, `inactive`, …).
pub fn revoked(token: &TokenRow, reason: RevokedReason, client: &Client) -> NewSecurityEvent {
    let mut event = NewSecurityEvent::token(SecurityKind::TokenRevoked, token, client);
    event.details["reason"] = json!(reason.as_str());
    event
}
