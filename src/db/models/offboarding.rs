//! Deleting an account (SPEC §9; the operation is `ops::admin::delete_account`). The row
//! stays, anonymised, as a tombstone: deleting it would cascade to what the person published,
//! wrote and uploaded in projects that other people keep, and to the history of the log.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::Text;

use crate::db::models::users::User;
use crate::db::schema::{notifications, outbox, project_members, security_events, users};
use crate::db::DbConnection;
use crate::domain::{Email, ProjectId, Role, UserId};

diesel::define_sql_function!(fn replace(s: Text, from: Text, to: Text) -> Text);

/// What the log says instead of a deleted account's email.
pub const DELETED: &str = "deleted account";

/// Whether the account was deleted (then, to every admin action, it does not exist).
pub fn is_deleted(conn: &mut DbConnection, id: &UserId) -> QueryResult<bool> {
    users::table
        .find(id)
        .select(users::deleted_at.is_not_null())
        .get_result(conn)
        .optional()
        .map(|d| d.unwrap_or(false))
}

/// How many working admin accounts there are besides `id`.
pub fn other_admins(conn: &mut DbConnection, id: &UserId) -> QueryResult<i64> {
    users::table
        .filter(users::admin.eq(true))
        .filter(users::deleted_at.is_null())
        .filter(users::suspended_at.is_null())
        .filter(users::id.ne(id))
        .count()
        .get_result(conn)
}

/// The accounts that may receive a deleted account's projects: working admins but `except`,
/// by email.
pub fn heirs(conn: &mut DbConnection, except: &UserId) -> QueryResult<Vec<User>> {
    users::table
        .filter(users::admin.eq(true))
        .filter(users::deleted_at.is_null())
        .filter(users::suspended_at.is_null())
        .filter(users::id.ne(except))
        .order(users::email.asc())
        .select(User::as_select())
        .load(conn)
}

/// The projects of which `user_id` is the only owner: they need a new one first.
pub fn sole_owned(conn: &mut DbConnection, user_id: &UserId) -> QueryResult<Vec<ProjectId>> {
    let mut owned: Vec<ProjectId> = project_members::table
        .filter(project_members::user_id.eq(user_id))
        .filter(project_members::role.eq(Role::Owner))
        .select(project_members::project_id)
        .load(conn)?;
    let shared: Vec<ProjectId> = project_members::table
        .filter(project_members::project_id.eq_any(&owned))
        .filter(project_members::role.eq(Role::Owner))
        .filter(project_members::user_id.ne(user_id))
        .select(project_members::project_id)
        .load(conn)?;
    owned.retain(|p| !shared.contains(p));
    Ok(owned)
}

/// Makes `to` an owner of the project (a member already is promoted).
pub fn hand_over(
    conn: &mut DbConnection,
    project_id: &ProjectId,
    to: &UserId,
    now: NaiveDateTime,
) -> QueryResult<()> {
    let promoted = diesel::update(project_members::table.find((project_id, to)))
        .set(project_members::role.eq(Role::Owner))
        .execute(conn)?;
    if promoted == 0 {
        diesel::insert_into(project_members::table)
            .values((
                project_members::project_id.eq(project_id),
                project_members::user_id.eq(to),
                project_members::role.eq(Role::Owner),
                project_members::created_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Anonymises the account: it leaves every project; its email becomes a name that is no
/// one's and that no mail reaches, its password one that nothing matches; it is suspended and
/// marked deleted. Its own log keeps what happened but not from where; every log stops naming
/// its email; its notifications and their unsent mail go.
pub fn anonymise(
    conn: &mut DbConnection,
    id: &UserId,
    email: &Email,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::delete(project_members::table.filter(project_members::user_id.eq(id))).execute(conn)?;
    diesel::update(users::table.find(id))
        .set((
            users::email.eq(format!("deleted-{}@deleted.invalid", id.as_str())),
            // Not a PHC string: no password verifies against it.
            users::password_hash.eq("!"),
            users::admin.eq(false),
            users::undeliverable_email.eq(None::<String>),
            users::suspended_at.eq(Some(now)),
            users::deleted_at.eq(Some(now)),
        ))
        .execute(conn)?;
    diesel::update(security_events::table.filter(security_events::user_id.eq(id)))
        .set((
            security_events::ip.eq(None::<String>),
            security_events::user_agent.eq(None::<String>),
        ))
        .execute(conn)?;
    // Emails are stored as JSON strings in the details; a plain addr-spec has no character
    // JSON escapes, so its quoted form is exact.
    let quoted = format!("\"{email}\"");
    diesel::update(
        security_events::table.filter(security_events::details.like(format!("%{quoted}%"))),
    )
    .set(security_events::details.eq(replace(
        security_events::details,
        quoted,
        format!("\"{DELETED}\""),
    )))
    .execute(conn)?;
    diesel::delete(outbox::table.filter(outbox::recipient.eq(email.to_string()))).execute(conn)?;
    diesel::delete(notifications::table.filter(notifications::user_id.eq(id))).execute(conn)?;
    Ok(())
}
