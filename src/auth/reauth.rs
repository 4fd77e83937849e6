//! Re-authentication ("sudo mode", SPEC §8.5): a few changes need the password entered within
//! the last 10 minutes, so a browser left signed in cannot make them — a token that never
//! expires or may change a domain or read invoices, a rotation, a project's token policy,
//! making, demoting or removing an owner. Signing up and logging in count as entering it. An
//! account with a second factor enters its code too (SPEC §3.1). The time lives in the session
//! (server-side, `auth::session_store`), so it ends with the session.

use actix_session::Session;
use chrono::{DateTime, Duration, NaiveDateTime};

use serde_json::json;

use crate::auth::password::Password;
use crate::db;
use crate::db::models::security_log::{self, NewSecurityEvent};
use crate::domain::{Expiry, Role, Scope, Scopes, SecurityKind};
use crate::error::AppError;

/// How long an entered password counts.
pub const WINDOW: Duration = Duration::minutes(10);

/// The session key: when the password was last entered, in Unix seconds.
const PASSWORD_AT: &str = "password_at";

/// Remembers that the password was entered now (login, sign-up, re-authentication).
pub fn note_password(session: &Session, now: NaiveDateTime) -> Result<(), AppError> {
    session.insert(PASSWORD_AT, now.and_utc().timestamp())?;
    Ok(())
}

/// Whether the password was entered within `WINDOW` before `now`. A time in the future (a
/// clock moved back) does not count: better one more prompt than a window that never ends.
pub fn is_recent(session: &Session, now: NaiveDateTime) -> Result<bool, AppError> {
    let at = session
        .get::<i64>(PASSWORD_AT)?
        .and_then(|s| DateTime::from_timestamp(s, 0))
        .map(|t| t.naive_utc());
    Ok(at.is_some_and(|at| at <= now && now - at < WINDOW))
}

/// `reauthentication_required` unless the password is recent.
pub fn require_recent(session: &Session, now: NaiveDateTime) -> Result<(), AppError> {
    if is_recent(session, now)? {
        Ok(())
    } else {
        Err(AppError::ReauthenticationRequired)
    }
}

/// Which new tokens need it: one that never expires, or that may change a project's domain or
/// read invoices.
pub fn token_needs_it(scopes: &Scopes, expiry: Expiry) -> bool {
    expiry == Expiry::Never || scopes.contains(Scope::Domain) || scopes.contains(Scope::BillingRead)
}

/// Which membership changes need it, from the role `before` to the role `after` (`None`: not
/// a member): any that makes an owner (who can then do all of this) or lowers or removes one
/// (who could otherwise be pushed out of their own project by a browser left signed in).
pub fn membership_needs_it(before: Option<Role>, after: Option<Role>) -> bool {
    before == Some(Role::Owner) || after == Some(Role::Owner)
}

/// `reauthentication_required` for a membership change that needs it (`membership_needs_it`)
/// when the password is not `recent`. Checked where the change is written, with `before` read
/// there, so a role changed meanwhile is judged as it is.
pub fn check_membership(
    before: Option<Role>,
    after: Option<Role>,
    recent: bool,
) -> Result<(), AppError> {
    if membership_needs_it(before, after) && !recent {
        Err(AppError::ReauthenticationRequired)
    } else {
        Ok(())
    }
}

/// Checks the account's password again, throttled per account like the current-password check
/// of a password change (SPEC §3). Only checks: `confirmed` starts the window, once every
/// factor the account has was right (`ops::second_factor::reauthenticate`).
pub async fn check_password(
    state: &super::Context<'_>,
    user: &crate::db::models::users::User,
    password: Password,
) -> Result<bool, AppError> {
    let account = [format!("account:{}", user.id)];
    let attempted_at = state.clock.now();
    let counted = state
        .throttles
        .password
        .attempt(state.pool, &account, attempted_at)
        .await?;
    let stored = Some(user.password_hash.clone());
    if !state.hashing.verify(password, stored).await? {
        return Ok(false);
    }
    state.throttles.password.forgive(state.pool, counted).await;
    Ok(true)
}

/// The account proved itself again: the window starts now and the security log says so
/// (`reauthenticated`).
pub async fn confirmed(
    state: &super::Context<'_>,
    session: &Session,
    user: &crate::db::models::users::User,
    client: &security_log::Client,
) -> Result<(), AppError> {
    let now = state.clock.now();
    let event = NewSecurityEvent::new(&user.id, SecurityKind::Reauthenticated, client, json!({}));
    db::write_query(state.pool, move |conn| {
        security_log::record(conn, &event, now)
    })
    .await?;
    note_password(session, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_tokens_need_a_recent_password() {
        let s = |list: &[Scope]| Scopes::new(list.to_vec());
        assert!(!token_needs_it(
            &s(&[Scope::Publish, Scope::Files]),
            Expiry::OneYear
        ));
        assert!(token_needs_it(&s(&[Scope::Publish]), Expiry::Never));
        assert!(token_needs_it(&s(&[Scope::Domain]), Expiry::OneMonth));
        assert!(token_needs_it(&s(&[Scope::BillingRead]), Expiry::SixMonths));
    }

    #[test]
    fn which_membership_changes_need_a_recent_password() {
        use Role::*;
        for (before, after) in [
            (None, Some(Viewer)),
            (None, Some(Editor)),
            (Some(Viewer), Some(Editor)),
            (Some(Editor), Some(Viewer)),
            (Some(Editor), None),
        ] {
            assert!(
                !membership_needs_it(before, after),
                "{before:?} -> {after:?}"
            );
        }
        for (before, after) in [
            (None, Some(Owner)),
            (Some(Editor), Some(Owner)),
            (Some(Owner), Some(Editor)),
            (Some(Owner), Some(Viewer)),
            (Some(Owner), None),
        ] {
            assert!(
                membership_needs_it(before, after),
                "{before:?} -> {after:?}"
            );
        }
    }
}
