//! Notifications (SPEC §8.2) and the mail outbox. A notification is recorded once per
//! occasion, whoever comes upon it; its mail waits in the outbox, written in the same
//! transaction, until a sender on some instance claims it.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use crate::db::schema::{notifications, outbox, users};
use crate::db::{write_transaction, DbConnection};
use crate::domain::{Cursor, Email, NoticeKind, PageRequest, TokenId, UserId};

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = notifications)]
pub struct NotificationRow {
    pub id: String,
    pub user_id: UserId,
    pub token_id: Option<TokenId>,
    pub kind: NoticeKind,
    /// The occasion: one notification per key, ever.
    pub dedupe_key: String,
    /// JSON, read by `notify::Notice`.
    pub details: String,
    pub created_at: NaiveDateTime,
    pub read_at: Option<NaiveDateTime>,
}

impl NotificationRow {
    /// Where the next page starts when this row ends one.
    pub fn cursor(&self) -> Cursor {
        Cursor::new(Some(self.created_at), &self.id)
    }
}

/// A mail as the outbox keeps it: rendered when its notification is recorded.
#[derive(Clone, Debug)]
pub struct Mail {
    pub recipient: Email,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
}

/// Records `row` unless its occasion is recorded already, and queues `mail` (rendered for the
/// owner's address) with it in the same transaction, unless that address is flagged
/// undeliverable (the notification is still recorded, for the dashboard). True when recorded
/// now. ON CONFLICT, not a caught unique violation: on PostgreSQL a violation would abort the
/// caller's transaction.
pub fn record_once(
    conn: &mut DbConnection,
    row: &NotificationRow,
    mail: Option<&dyn Fn(&Email) -> Mail>,
) -> QueryResult<bool> {
    write_transaction(conn, |conn| {
        let inserted = match conn {
            DbConnection::Sqlite(c) => diesel::insert_into(notifications::table)
                .values(row)
                .on_conflict(notifications::dedupe_key)
                .do_nothing()
                .execute(c)?,
            DbConnection::Postgres(c) => diesel::insert_into(notifications::table)
                .values(row)
                .on_conflict(notifications::dedupe_key)
                .do_nothing()
                .execute(c)?,
        };
        if inserted == 0 {
            return Ok(false);
        }
        if let Some(render) = mail {
            let (email, undeliverable): (Email, Option<String>) = users::table
                .find(&row.user_id)
                .select((users::email, users::undeliverable_email))
                .get_result(conn)?;
            // Flagged by the plain-email migration: no mail until the address is changed.
            if undeliverable.as_deref() == Some(email.as_str()) {
                return Ok(true);
            }
            let mail = render(&email);
            diesel::insert_into(outbox::table)
                .values((
                    outbox::id.eq(uuid::Uuid::new_v4().to_string()),
                    outbox::notification_id.eq(&row.id),
                    outbox::recipient.eq(&mail.recipient),
                    outbox::subject.eq(&mail.subject),
                    outbox::text_body.eq(&mail.text_body),
                    outbox::html_body.eq(&mail.html_body),
                    outbox::created_at.eq(row.created_at),
                    outbox::attempts.eq(0),
                    outbox::next_attempt_at.eq(row.created_at),
                ))
                .execute(conn)?;
        }
        Ok(true)
    })
}

/// Which occasions among `keys` are recorded already (the sweeps skip those).
pub fn recorded_keys(conn: &mut DbConnection, keys: &[String]) -> QueryResult<Vec<String>> {
    let mut found = Vec::new();
    // Bounded IN lists: SQLite allows at most 32766 bound values a statement.
    for chunk in keys.chunks(500) {
        found.extend(
            notifications::table
                .filter(notifications::dedupe_key.eq_any(chunk))
                .select(notifications::dedupe_key)
                .load::<String>(conn)?,
        );
    }
    Ok(found)
}

/// When the occasion `key` was recorded, if it was.
pub fn recorded_at(conn: &mut DbConnection, key: &str) -> QueryResult<Option<NaiveDateTime>> {
    notifications::table
        .filter(notifications::dedupe_key.eq(key))
        .select(notifications::created_at)
        .get_result(conn)
        .optional()
}

/// A page of the person's notifications, newest first.
pub fn list(
    conn: &mut DbConnection,
    user_id: &UserId,
    page: &PageRequest,
) -> QueryResult<Vec<NotificationRow>> {
    let mut query = notifications::table
        .filter(notifications::user_id.eq(user_id))
        .into_boxed();
    if let Some(Cursor { at: Some(at), key }) = &page.after {
        query = query.filter(
            notifications::created_at
                .lt(*at)
                .or(notifications::created_at
                    .eq(*at)
                    .and(notifications::id.lt(key.clone()))),
        );
    }
    query
        .order((notifications::created_at.desc(), notifications::id.desc()))
        .limit(page.fetch())
        .select(NotificationRow::as_select())
        .load(conn)
}

pub fn unread_count(conn: &mut DbConnection, user_id: &UserId) -> QueryResult<i64> {
    notifications::table
        .filter(notifications::user_id.eq(user_id))
        .filter(notifications::read_at.is_null())
        .count()
        .get_result(conn)
}

/// Marks every notification of the person read.
pub fn mark_all_read(
    conn: &mut DbConnection,
    user_id: &UserId,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        notifications::table
            .filter(notifications::user_id.eq(user_id))
            .filter(notifications::read_at.is_null()),
    )
    .set(notifications::read_at.eq(now))
    .execute(conn)
}

/// A queued mail, claimed for sending.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = outbox)]
pub struct OutboxMail {
    pub id: String,
    /// As written, not trusted: the sender parses it as an `Email` before sending.
    pub recipient: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    pub created_at: NaiveDateTime,
    pub attempts: i32,
}

/// How long a claim keeps other senders off a mail: a sender that dies mid-send lets it go
/// after this, and the mail is sent again (at least once, never lost).
pub const CLAIM: Duration = Duration::minutes(2);

/// Claims up to `limit` due mails for this sender. Two senders never claim the same mail:
/// PostgreSQL skips rows another transaction has locked (`FOR UPDATE SKIP LOCKED`); SQLite's
/// `BEGIN IMMEDIATE` lets one writer at a time read and mark them.
pub fn claim_due(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<OutboxMail>> {
    macro_rules! due {
        () => {
            outbox::table
                .filter(outbox::sent_at.is_null())
                .filter(outbox::failed_at.is_null())
                .filter(outbox::next_attempt_at.le(now))
                .filter(
                    outbox::claimed_until
                        .is_null()
                        .or(outbox::claimed_until.le(now)),
                )
                .order(outbox::next_attempt_at)
                .limit(limit)
                .select(OutboxMail::as_select())
        };
    }
    // A cheap read first: most polls find nothing, and need no write lock to find it.
    let any: i64 = outbox::table
        .filter(outbox::sent_at.is_null())
        .filter(outbox::failed_at.is_null())
        .filter(outbox::next_attempt_at.le(now))
        .count()
        .get_result(conn)?;
    if any == 0 {
        return Ok(Vec::new());
    }
    write_transaction(conn, |conn| {
        let mails = match conn {
            DbConnection::Sqlite(c) => due!().load(c)?,
            DbConnection::Postgres(c) => due!().for_update().skip_locked().load(c)?,
        };
        let ids: Vec<&str> = mails.iter().map(|m| m.id.as_str()).collect();
        diesel::update(outbox::table.filter(outbox::id.eq_any(&ids)))
            .set(outbox::claimed_until.eq(now + CLAIM))
            .execute(conn)?;
        Ok(mails)
    })
}

pub fn mark_sent(conn: &mut DbConnection, id: &str, now: NaiveDateTime) -> QueryResult<()> {
    diesel::update(outbox::table.find(id))
        .set((
            outbox::sent_at.eq(now),
            outbox::claimed_until.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)
        .map(drop)
}

/// A failed attempt: tried again at `retry_at`. `error` is the SMTP server's answer, which
/// holds no secret of ours.
pub fn retry_later(
    conn: &mut DbConnection,
    id: &str,
    retry_at: NaiveDateTime,
    error: &str,
) -> QueryResult<()> {
    diesel::update(outbox::table.find(id))
        .set((
            outbox::attempts.eq(outbox::attempts + 1),
            outbox::next_attempt_at.eq(retry_at),
            outbox::claimed_until.eq(None::<NaiveDateTime>),
            outbox::last_error.eq(error),
        ))
        .execute(conn)
        .map(drop)
}

/// A mail given up on (refused for good, or failing for too long): never tried again, and
/// counted by `failed_count`. `error` as for `retry_later`.
pub fn mark_failed(
    conn: &mut DbConnection,
    id: &str,
    now: NaiveDateTime,
    error: &str,
) -> QueryResult<()> {
    diesel::update(outbox::table.find(id))
        .set((
            outbox::attempts.eq(outbox::attempts + 1),
            outbox::failed_at.eq(now),
            outbox::claimed_until.eq(None::<NaiveDateTime>),
            outbox::last_error.eq(error),
        ))
        .execute(conn)
        .map(drop)
}

/// How many mails were given up on, ever (for `/metrics`).
pub fn failed_count(conn: &mut DbConnection) -> QueryResult<i64> {
    outbox::table
        .filter(outbox::failed_at.is_not_null())
        .count()
        .get_result(conn)
}
