//! An account's second factor (SPEC §3.1), for every door: enrol an authenticator app (a
//! pending secret, confirmed by its first code, which gives the recovery codes), remove it,
//! make new recovery codes, and check what a person typed as their second factor (at login
//! and at re-authentication). Each change is logged in the security log and told to the owner
//! in the transaction that makes it.

use serde_json::json;

use crate::auth::password::Password;
use crate::auth::totp::{FactorInput, RecoveryCode, TotpCode, TotpSecret};
use crate::auth::{reauth, Source};
use crate::db::models::second_factor as stored;
use crate::db::models::security_log::{self, Client, NewSecurityEvent};
use crate::db::models::users::User;
use crate::db::{self, write_transaction};
use crate::domain::{Email, SecurityKind, UserId};
use crate::error::AppError;
use crate::notify::AccountNotice;
use crate::state::AppState;

use super::Requester;

/// A started enrolment: what the authenticator app needs, shown once (the QR code carries the
/// URI).
pub struct Enrolment {
    pub secret: String,
    pub otpauth_uri: String,
}

fn already_enrolled() -> AppError {
    AppError::validation(
        "totp",
        "Your account already has an authenticator app; remove it first to add another.",
    )
}

/// Starts an enrolment: a new secret, pending until `confirm_totp`. Starting again replaces a
/// pending one; an account with a confirmed authenticator must remove it first.
pub async fn start_totp(
    state: &AppState,
    by: &Requester,
    email: &Email,
) -> Result<Enrolment, AppError> {
    let secret = TotpSecret::generate();
    let sealed = state.factor_keys.seal(&by.user_id, &secret);
    let (user_id, now) = (by.user_id.clone(), state.clock.now());
    let started = db::write_query(&state.pool, move |conn| {
        stored::start_totp(conn, &user_id, &sealed, now)
    })
    .await?;
    if !started {
        return Err(already_enrolled());
    }
    Ok(Enrolment {
        otpauth_uri: secret.otpauth_uri(email.as_str()),
        secret: secret.base32(),
    })
}

fn wrong_code() -> AppError {
    AppError::validation(
        "code",
        "That code is not right. Enter the 6-digit code your authenticator app shows now.",
    )
}

/// Confirms the pending authenticator with its current code: the account then has a second
/// factor, and these 10 recovery codes (shown once: only their hashes are kept). Throttled like
/// a password (a wrong code counts).
pub async fn confirm_totp(
    state: &AppState,
    by: &Requester,
    code: &str,
) -> Result<Vec<RecoveryCode>, AppError> {
    let counted = state
        .throttles
        .second_factor
        .attempt(
            &state.pool,
            &[format!("account:{}", by.user_id)],
            state.clock.now(),
        )
        .await?;
    let code = TotpCode::parse(code).ok_or_else(wrong_code)?;
    let codes = RecoveryCode::generate_set();
    let hashes: Vec<Vec<u8>> = codes.iter().map(|c| state.factor_keys.hash(c)).collect();
    let now = state.clock.now();
    let (by_, notifier) = (by.clone(), state.notifier.clone());
    let keys = &state.factor_keys;
    let sealed = {
        let user_id = by.user_id.clone();
        db::query(&state.pool, move |conn| stored::find_totp(conn, &user_id)).await?
    };
    let totp = sealed.ok_or_else(|| {
        AppError::validation(
            "code",
            "There is no authenticator waiting to be confirmed: start again.",
        )
    })?;
    if totp.confirmed {
        return Err(already_enrolled());
    }
    let secret = keys
        .open(&by.user_id, &totp.sealed)
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("a TOTP secret does not open")))?;
    let step = secret.step_of(&code, now).ok_or_else(wrong_code)?;
    db::write(&state.pool, move |conn| {
        write_transaction(conn, |conn| {
            if !stored::take_step(conn, &by_.user_id, step)? {
                return Err(wrong_code());
            }
            stored::confirm_totp(conn, &by_.user_id, &hashes, now)?;
            let event = NewSecurityEvent::new(
                &by_.user_id,
                SecurityKind::SecondFactorAdded,
                &by_.client,
                json!({ "factor": "totp" }),
            );
            security_log::record(conn, &event, now)?;
            notifier.record_account(conn, &by_.user_id, AccountNotice::SecondFactorAdded, now)?;
            Ok::<_, AppError>(())
        })
    })
    .await?;
    state
        .throttles
        .second_factor
        .forgive(&state.pool, counted)
        .await;
    Ok(codes)
}

/// Removes the authenticator and its recovery codes (needs a recent password, SPEC §3.1).
/// `not_found` when the account has none.
pub async fn remove_totp(state: &AppState, by: &Requester) -> Result<(), AppError> {
    if !by.password_recent {
        return Err(AppError::ReauthenticationRequired);
    }
    let now = state.clock.now();
    let (by, notifier) = (by.clone(), state.notifier.clone());
    db::write(&state.pool, move |conn| {
        write_transaction(conn, |conn| {
            if !stored::remove(conn, &by.user_id)? {
                return Err(AppError::NotFound);
            }
            let event = NewSecurityEvent::new(
                &by.user_id,
                SecurityKind::SecondFactorRemoved,
                &by.client,
                json!({ "factor": "totp" }),
            );
            security_log::record(conn, &event, now)?;
            notifier.record_account(conn, &by.user_id, AccountNotice::SecondFactorRemoved, now)?;
            Ok(())
        })
    })
    .await
}

/// Replaces the recovery codes with 10 new ones, shown once (needs a recent password, which
/// asks for the second factor too). `not_found` when the account has no second factor.
pub async fn regenerate_recovery_codes(
    state: &AppState,
    by: &Requester,
) -> Result<Vec<RecoveryCode>, AppError> {
    if !by.password_recent {
        return Err(AppError::ReauthenticationRequired);
    }
    let codes = RecoveryCode::generate_set();
    let hashes: Vec<Vec<u8>> = codes.iter().map(|c| state.factor_keys.hash(c)).collect();
    let now = state.clock.now();
    let (by, notifier) = (by.clone(), state.notifier.clone());
    db::write(&state.pool, move |conn| {
        write_transaction(conn, |conn| {
            if !stored::find_totp(conn, &by.user_id)?.is_some_and(|t| t.confirmed) {
                return Err(AppError::NotFound);
            }
            stored::replace_recovery_codes(conn, &by.user_id, &hashes)?;
            let event = NewSecurityEvent::new(
                &by.user_id,
                SecurityKind::RecoveryCodesRegenerated,
                &by.client,
                json!({}),
            );
            security_log::record(conn, &event, now)?;
            let notice = AccountNotice::RecoveryCodesRegenerated;
            notifier.record_account(conn, &by.user_id, notice, now)?;
            Ok(())
        })
    })
    .await?;
    Ok(codes)
}

/// How a re-authentication turned out.
#[derive(Debug, PartialEq, Eq)]
pub enum Reauthentication {
    /// Every factor was right: the window of `auth::reauth` starts now.
    Confirmed,
    WrongPassword,
    /// The password was right, the second factor (asked of accounts that have one) was not.
    WrongCode,
}

/// The second factor as given: a typed code (of the authenticator app, or a recovery code),
/// or a passkey's signed answer (`ops::passkeys`), as JSON.
#[derive(Clone, Copy, Debug)]
pub enum Factor<'a> {
    Code(&'a str),
    Passkey(&'a str),
}

/// Re-authentication (SPEC §8.5): the password, and the second factor when the account has
/// one (§3.1); each throttled like a login's. Only when both are right does the window start
/// (and the security log say `reauthenticated`).
pub async fn reauthenticate(
    state: &AppState,
    session: &actix_session::Session,
    user: &User,
    client: &Client,
    password: Password,
    factor: Factor<'_>,
) -> Result<Reauthentication, AppError> {
    if !reauth::check_password(&state.auth(), user, password).await? {
        return Ok(Reauthentication::WrongPassword);
    }
    if user.second_factor && !check_factor(state, session, &user.id, client, factor).await? {
        return Ok(Reauthentication::WrongCode);
    }
    reauth::confirmed(&state.auth(), session, user, client).await?;
    Ok(Reauthentication::Confirmed)
}

/// The second step of a login (SPEC §3.1): whether `factor` is the account's second factor
/// (`check_factor`); a wrong one is logged as a failed login (`secondFactor`) for the account.
pub async fn log_in_second_step(
    state: &AppState,
    session: &actix_session::Session,
    user_id: &UserId,
    client: &Client,
    factor: Factor<'_>,
) -> Result<bool, AppError> {
    if check_factor(state, session, user_id, client, factor).await? {
        return Ok(true);
    }
    let event = NewSecurityEvent::new(
        user_id,
        SecurityKind::LoginFailed,
        client,
        json!({ "secondFactor": true }),
    );
    let now = state.clock.now();
    db::write_query(&state.pool, move |conn| {
        security_log::record(conn, &event, now)
    })
    .await?;
    Ok(false)
}

/// Whether `factor` is the account's second factor now: `verify` for a code, a passkey of the
/// account signing the session's challenge.
pub async fn check_factor(
    state: &AppState,
    session: &actix_session::Session,
    user_id: &UserId,
    client: &Client,
    factor: Factor<'_>,
) -> Result<bool, AppError> {
    match factor {
        Factor::Code(typed) => verify(state, user_id, client, typed).await,
        Factor::Passkey(answer) => {
            super::passkeys::verify_second_factor(state, session, user_id, client, answer).await
        }
    }
}

/// Whether `typed` is the account's second factor now: a code of its authenticator not used
/// before, or one of its unused recovery codes (then used up, logged and told). Throttled per
/// account like a password: the 11th attempt in a minute is 429 whatever it is.
pub async fn verify(
    state: &AppState,
    user_id: &UserId,
    client: &Client,
    typed: &str,
) -> Result<bool, AppError> {
    let counted = state
        .throttles
        .second_factor
        .attempt(
            &state.pool,
            &[format!("account:{user_id}")],
            state.clock.now(),
        )
        .await?;
    let Some(input) = FactorInput::parse(typed) else {
        return Ok(false);
    };
    let now = state.clock.now();
    let (user, client_, notifier) = (user_id.clone(), client.clone(), state.notifier.clone());
    let ok = match input {
        FactorInput::Totp(code) => {
            let id = user.clone();
            let totp = db::query(&state.pool, move |conn| stored::find_totp(conn, &id)).await?;
            let step = totp
                .filter(|t| t.confirmed)
                .and_then(|t| state.factor_keys.open(&user, &t.sealed))
                .and_then(|secret| secret.step_of(&code, now));
            match step {
                Some(step) => {
                    db::write_query(&state.pool, move |conn| {
                        stored::take_step(conn, &user, step)
                    })
                    .await?
                }
                None => false,
            }
        }
        FactorInput::Recovery(code) => {
            let hash = state.factor_keys.hash(&code);
            db::write(&state.pool, move |conn| {
                write_transaction(conn, |conn| {
                    if !stored::use_recovery_code(conn, &user, &hash, now)? {
                        return Ok(false);
                    }
                    let left = stored::recovery_codes_left(conn, &user)?;
                    let event = NewSecurityEvent::new(
                        &user,
                        SecurityKind::RecoveryCodeUsed,
                        &client_,
                        json!({ "left": left }),
                    );
                    security_log::record(conn, &event, now)?;
                    let left = u32::try_from(left).unwrap_or(0);
                    let notice = AccountNotice::RecoveryCodeUsed { left };
                    notifier.record_account(conn, &user, notice, now)?;
                    Ok::<_, AppError>(true)
                })
            })
            .await?
        }
    };
    if ok {
        state
            .throttles
            .second_factor
            .forgive(&state.pool, counted)
            .await;
    }
    Ok(ok)
}
