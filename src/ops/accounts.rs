//! An account's own operations (SPEC §3, §8.3): signing up, logging in, changing the password,
//! ending a session or this one (logging out). Each is throttled where SPEC §3 says, checks
//! its rules and writes with its security-log event in one transaction. The browser's session
//! itself (the cookie, its CSRF token, the recent-password mark) stays with the door that
//! holds it, which starts or ends it on the outcome.

use serde_json::json;

use crate::auth::password::Password;
use crate::db::models::security_log::{self, Client, NewSecurityEvent};
use crate::db::models::{sessions, users::User, FieldErrors, WriteError};
use crate::db::{self, DbError};
use crate::domain::{Email, SecurityKind};
use crate::error::AppError;
use crate::state::AppState;

use super::Requester;

/// Creates an account, logged as `signup`; its first session is no separate login. Counted
/// per address before anything else: each sign-up costs an argon2 hash and answers whether an
/// email has an account. Every field's problem at once (422 on `email` and `password`).
pub async fn sign_up(
    state: &AppState,
    client: &Client,
    email: &str,
    password: Password,
) -> Result<User, AppError> {
    let now = state.clock.now();
    let ip = format!("ip:{}", client.ip.as_deref().unwrap_or_default());
    let _ = state
        .throttles
        .signup
        .attempt(&state.pool, &[ip], now)
        .await?;
    let mut invalid = FieldErrors::new();
    let email = Email::parse(email).map_err(|e| invalid.insert("email", e.to_string()));
    if let Err(e) = password.validate_new() {
        invalid.insert("password", e);
    }
    let (Ok(email), true) = (email, invalid.is_empty()) else {
        return Err(AppError::Validation(invalid));
    };
    let hash = state.hashing.hash(password).await?;
    let client = client.clone();
    Ok(db::write(&state.pool, move |conn| {
        db::write_transaction(conn, |conn| {
            let user = User::create(conn, email, hash, now)?;
            let event = NewSecurityEvent::new(&user.id, SecurityKind::Signup, &client, json!({}));
            security_log::record(conn, &event, now)?;
            Ok::<_, WriteError>(user)
        })
    })
    .await?)
}

/// How a login attempt turned out.
#[derive(Debug)]
pub enum Login {
    /// The right password: the door starts the session (whose store logs `login`).
    Welcome(User),
    /// The right password for a suspended account (SPEC §9): no session.
    Suspended,
    /// A wrong password, or an email no account has: one answer for both.
    Refused,
}

/// Checks an email and password. Counted per email and per address before the password is
/// checked, so concurrent guesses count too; a right password gives its attempt back. The
/// password is verified for an unknown email too (same time, same answer); a wrong one is
/// logged as `login_failed` for the account it was tried on.
pub async fn log_in(
    state: &AppState,
    client: &Client,
    email: &str,
    password: Password,
) -> Result<Login, AppError> {
    let email = Email::normalize(email);
    let ip = client.ip.as_deref().unwrap_or_default();
    let keys = [format!("email:{email}"), format!("ip:{ip}")];
    let attempted_at = state.clock.now();
    let counted = state
        .throttles
        .login
        .attempt(&state.pool, &keys, attempted_at)
        .await?;
    let user = db::query(&state.pool, move |conn| User::find_by_email(conn, &email)).await?;
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let ok = state.hashing.verify(password, stored).await?;
    match user {
        Some(user) if ok && user.suspended_at.is_some() => Ok(Login::Suspended),
        Some(user) if ok => {
            state.throttles.login.forgive(&state.pool, counted).await;
            Ok(Login::Welcome(user))
        }
        found => {
            // A wrong password for an account is that account's business (an unknown email
            // has no log to write to). Logged before the answer: the failure is the event.
            if let Some(user) = found {
                let kind = SecurityKind::LoginFailed;
                let event = NewSecurityEvent::new(&user.id, kind, client, json!({}));
                db::write_query(&state.pool, move |conn| {
                    security_log::record(conn, &event, attempted_at)
                })
                .await?;
            }
            Ok(Login::Refused)
        }
    }
}

/// Changes the requester's password and ends every session of the account (the door starts a
/// fresh one for itself), logged as `password_changed`. The current password is checked
/// throttled per account; 422 on `current_password` and `new_password`, both at once.
pub async fn change_password(
    state: &AppState,
    by: &Requester,
    current: Password,
    new: Password,
) -> Result<(), AppError> {
    let user_id = by.user_id.clone();
    let stored = db::query(&state.pool, move |conn| User::find(conn, &user_id))
        .await?
        .ok_or(AppError::Unauthenticated)?
        .password_hash;
    let account = [format!("account:{}", by.user_id)];
    let attempted_at = state.clock.now();
    let counted = state
        .throttles
        .password
        .attempt(&state.pool, &account, attempted_at)
        .await?;
    let mut invalid = FieldErrors::new();
    if state.hashing.verify(current, Some(stored)).await? {
        state.throttles.password.forgive(&state.pool, counted).await;
    } else {
        invalid.insert(
            "current_password",
            "That is not your current password.".into(),
        );
    }
    if let Err(e) = new.validate_new() {
        invalid.insert("new_password", e);
    }
    if !invalid.is_empty() {
        return Err(AppError::Validation(invalid));
    }
    let hash = state.hashing.hash(new).await?;
    let user_id = by.user_id.clone();
    let event = NewSecurityEvent::new(
        &user_id,
        SecurityKind::PasswordChanged,
        &by.client,
        json!({}),
    );
    let now = state.clock.now();
    Ok(db::write(&state.pool, move |conn| {
        db::write_transaction(conn, |conn| {
            User::set_password_hash(conn, &user_id, &hash)?;
            sessions::delete_for_user(conn, &user_id)?;
            security_log::record(conn, &event, now)?;
            Ok::<_, DbError>(())
        })
    })
    .await?)
}

/// Ends the requester's session `public_id` (another browser), logged as `session_ended`;
/// `not_found` when the account has no such live session.
pub async fn end_session(
    state: &AppState,
    by: &Requester,
    public_id: String,
) -> Result<(), AppError> {
    let event = NewSecurityEvent::new(
        &by.user_id,
        SecurityKind::SessionEnded,
        &by.client,
        json!({ "sessionId": public_id }),
    );
    let now = state.clock.now();
    let ended = db::write(&state.pool, move |conn| {
        db::write_transaction(conn, |conn| {
            let ended = sessions::end(conn, &event.user_id, &public_id)?;
            if ended {
                security_log::record(conn, &event, now)?;
            }
            Ok::<_, DbError>(ended)
        })
    })
    .await?;
    if ended {
        Ok(())
    } else {
        Err(AppError::NotFound)
    }
}

/// Ends the session the requester asks from (`public_id`, when it has one): its row is deleted
/// in the same transaction as the `logout` event, so the store's own delete, when the door
/// purges the session, finds nothing left to do.
pub async fn log_out(
    state: &AppState,
    by: &Requester,
    public_id: Option<String>,
) -> Result<(), AppError> {
    let event = NewSecurityEvent::new(
        &by.user_id,
        SecurityKind::Logout,
        &by.client,
        json!({ "sessionId": public_id }),
    );
    let now = state.clock.now();
    Ok(db::write(&state.pool, move |conn| {
        db::write_transaction(conn, |conn| {
            if let Some(id) = &public_id {
                sessions::end(conn, &event.user_id, id)?;
            }
            security_log::record(conn, &event, now)?;
            Ok::<_, DbError>(())
        })
    })
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::models::security_log::SecurityEventRow;
    use crate::db::schema::security_events;
    use diesel::prelude::*;

    fn password(s: &str) -> Password {
        Password::new(s.into())
    }

    fn fields(e: AppError) -> Vec<&'static str> {
        match e {
            AppError::Validation(fields) => fields.into_keys().collect(),
            e => panic!("not a validation error: {e:?}"),
        }
    }

    async fn kinds(state: &AppState) -> Vec<SecurityKind> {
        db::query(&state.pool, |conn| {
            security_events::table
                .order(security_events::at)
                .select(SecurityEventRow::as_select())
                .load(conn)
        })
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect()
    }

    #[actix_web::test]
    async fn a_sign_up_names_every_bad_field_and_a_taken_email() {
        let (_dir, state) = crate::state::for_tests().await;
        let client = Client::default();
        let refused = sign_up(&state, &client, "not an email", password("short")).await;
        assert_eq!(fields(refused.unwrap_err()), ["email", "password"]);
        let user = sign_up(
            &state,
            &client,
            "New@Example.com",
            password("a long passphrase"),
        )
        .await
        .unwrap();
        assert_eq!(user.email.to_string(), "new@example.com");
        let taken = sign_up(
            &state,
            &client,
            "new@example.com",
            password("another long one"),
        );
        assert_eq!(fields(taken.await.unwrap_err()), ["email"]);
        assert_eq!(kinds(&state).await, [SecurityKind::Signup]);
    }

    #[actix_web::test]
    async fn a_login_welcomes_the_right_password_only_and_logs_a_wrong_one() {
        let (_dir, state) = crate::state::for_tests().await;
        let client = Client::default();
        let right = "a long passphrase";
        let user = sign_up(&state, &client, "me@example.com", password(right))
            .await
            .unwrap();
        let login = log_in(&state, &client, " ME@example.com ", password(right)).await;
        assert!(matches!(login, Ok(Login::Welcome(u)) if u.id == user.id));
        let login = log_in(&state, &client, "me@example.com", password("wrong")).await;
        assert!(matches!(login, Ok(Login::Refused)));
        let login = log_in(&state, &client, "nobody@example.com", password(right)).await;
        assert!(matches!(login, Ok(Login::Refused)));
        assert_eq!(
            kinds(&state).await,
            [SecurityKind::Signup, SecurityKind::LoginFailed]
        );

        let (id, now) = (user.id.clone(), state.clock.now());
        db::write_query(&state.pool, move |conn| {
            User::set_suspended(conn, &id, Some(now))
        })
        .await
        .unwrap();
        let login = log_in(&state, &client, "me@example.com", password(right)).await;
        assert!(matches!(login, Ok(Login::Suspended)));
    }

    #[actix_web::test]
    async fn a_password_change_needs_the_current_one_and_a_good_new_one() {
        let (_dir, state) = crate::state::for_tests().await;
        let (client, old) = (Client::default(), "a long passphrase");
        let user = sign_up(&state, &client, "me@example.com", password(old))
            .await
            .unwrap();
        let by = Requester {
            user_id: user.id,
            client: client.clone(),
            password_recent: true,
        };
        let refused = change_password(&state, &by, password("wrong"), password("short")).await;
        assert_eq!(
            fields(refused.unwrap_err()),
            ["current_password", "new_password"]
        );
        let new = "another long passphrase";
        change_password(&state, &by, password(old), password(new))
            .await
            .unwrap();
        let login = log_in(&state, &client, "me@example.com", password(new)).await;
        assert!(matches!(login, Ok(Login::Welcome(_))));
        assert_eq!(
            kinds(&state).await,
            [SecurityKind::Signup, SecurityKind::PasswordChanged]
        );
    }

    #[actix_web::test]
    async fn ending_a_session_the_account_does_not_have_is_not_found_and_logs_nothing() {
        let (_dir, state) = crate::state::for_tests().await;
        let user = sign_up(
            &state,
            &Client::default(),
            "me@example.com",
            password("a long one"),
        )
        .await
        .unwrap();
        let by = Requester {
            user_id: user.id,
            client: Client::default(),
            password_recent: false,
        };
        let ended = end_session(&state, &by, "someone else's".into()).await;
        assert!(matches!(ended, Err(AppError::NotFound)));
        log_out(&state, &by, None).await.unwrap();
        assert_eq!(
            kinds(&state).await,
            [SecurityKind::Signup, SecurityKind::Logout]
        );
    }
}
