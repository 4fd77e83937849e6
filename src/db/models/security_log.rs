//! The account security log (SPEC §8.3): one row per event, written by `record` in the
//! caller's transaction (so an event and what it records commit together or not at all),
//! read newest first by keyset, and deleted after a year.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use serde_json::{json, Value};

use crate::db::models::projects::Member;
use crate::db::models::tokens::TokenRow;
use crate::db::schema::security_events;
use crate::db::DbConnection;
use crate::domain::{
    cut_user_agent, Cursor, PageRequest, ProjectId, ProjectName, Role, SecurityKind, UserId,
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

/// What a membership event says: the project, the member, the role (and the role before, for
/// a change), and who made the change.
pub fn member_details(
    project: (&ProjectId, &ProjectName),
    member: &Member,
    previous_role: Option<Role>,
    actor_email: &str,
) -> Value {
    let mut details = json!({
        "projectId": project.0,
        "projectName": project.1.to_string(),
        "memberId": member.user_id,
        "memberEmail": member.email.to_string(),
        "role": member.role.as_str(),
        "by": actor_email,
    });
    if let Some(previous) = previous_role {
        details["previousRole"] = json!(previous.as_str());
    }
    details
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
