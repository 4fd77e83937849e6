//! Passkeys (SPEC §3.1), for every door: the options a browser's `navigator.credentials` call
//! needs (each with a fresh challenge kept in the session), registering one under a name,
//! removing one, and checking a signed login — as the second factor after the password or at
//! re-authentication, or alone. The checks are `auth::webauthn`'s; each change and each use is
//! logged in the security log, and told to the owner, in the transaction that makes it.

use actix_session::Session;
use serde_json::{json, Value};

use super::accounts::Login;
use super::Requester;
use crate::auth::webauthn::{
    self, AssertionAnswer, NewCredentialAnswer, Purpose, Refusal, RelyingParty,
};
use crate::db::models::second_factor::{self as stored, Passkey};
use crate::db::models::security_log::{self, Client, NewSecurityEvent};
use crate::db::models::users::User;
use crate::db::{self, write_transaction};
use crate::domain::{PasskeyName, SecurityKind, UserId};
use crate::error::AppError;
use crate::notify::AccountNotice;
use crate::state::AppState;

/// How long the browser lets the person answer, in milliseconds.
const TIMEOUT_MS: u32 = 120_000;
/// What the browser shows as the site's name.
const RP_NAME: &str = "Mantel";

fn descriptors(passkeys: &[Passkey]) -> Vec<Value> {
    passkeys
        .iter()
        .map(|p| json!({ "type": "public-key", "id": webauthn::encode(&p.credential_id) }))
        .collect()
}

async fn passkeys_of(state: &AppState, user_id: &UserId) -> Result<Vec<Passkey>, AppError> {
    let user_id = user_id.clone();
    Ok(db::query(&state.pool, move |conn| stored::passkeys_of(conn, &user_id)).await?)
}

/// The account's passkeys, oldest first.
pub async fn list(state: &AppState, user_id: &UserId) -> Result<Vec<Passkey>, AppError> {
    passkeys_of(state, user_id).await
}

/// `PublicKeyCredentialCreationOptions` for a new passkey of `user`, in the JSON form of
/// `PublicKeyCredential.parseCreationOptionsFromJSON` (binary values in base64url): ES256 only,
/// no attestation, a discoverable credential (so it can sign in without the email), and the
/// account's passkeys excluded (an authenticator holds one per account).
pub async fn registration_options(
    state: &AppState,
    session: &Session,
    user: &User,
) -> Result<Value, AppError> {
    let existing = passkeys_of(state, &user.id).await?;
    let challenge = webauthn::issue_challenge(session, Purpose::Register, state.clock.now())?;
    let rp = &state.relying_party;
    Ok(json!({
        "challenge": challenge,
        "rp": { "id": rp.id, "name": RP_NAME },
        // The user handle: the account's id, random and stable, nothing personal.
        "user": {
            "id": webauthn::encode(user.id.as_str().as_bytes()),
            "name": user.email.as_str(),
            "displayName": user.email.as_str(),
        },
        "pubKeyCredParams": [{ "type": "public-key", "alg": webauthn::ES256 }],
        "timeout": TIMEOUT_MS,
        "attestation": "none",
        "authenticatorSelection": {
            "residentKey": "required",
            "requireResidentKey": true,
            "userVerification": "preferred",
        },
        "excludeCredentials": descriptors(&existing),
    }))
}

/// `PublicKeyCredentialRequestOptions` for a login: with `user`, that account's passkeys, as
/// its second factor (`Purpose::SecondFactor`); without, any discoverable passkey of this site,
/// which must verify its user (a PIN or a fingerprint: it stands for the password too).
pub async fn login_options(
    state: &AppState,
    session: &Session,
    user: Option<&UserId>,
) -> Result<Value, AppError> {
    let (purpose, allowed, verification) = match user {
        Some(user_id) => (
            Purpose::SecondFactor,
            descriptors(&passkeys_of(state, user_id).await?),
            "preferred",
        ),
        None => (Purpose::SignIn, Vec::new(), "required"),
    };
    let challenge = webauthn::issue_challenge(session, purpose, state.clock.now())?;
    Ok(json!({
        "challenge": challenge,
        "rpId": state.relying_party.id,
        "timeout": TIMEOUT_MS,
        "userVerification": verification,
        "allowCredentials": allowed,
    }))
}

fn refused(refusal: &Refusal) -> AppError {
    tracing::info!(%refusal, "passkey refused");
    AppError::validation(
        "passkey",
        "That passkey could not be checked. Try again, or use another passkey.",
    )
}

/// How many passkeys an account may keep.
pub const MAX_PER_ACCOUNT: usize = 20;

/// Registers the passkey `answer` made for the session's registration challenge, under `name`.
/// A validation error on `name` (its rule is `PasskeyName`'s) or `passkey` (no challenge
/// waiting, a refused answer, a passkey registered already, `MAX_PER_ACCOUNT` kept already).
pub async fn register(
    state: &AppState,
    session: &Session,
    by: &Requester,
    name: &str,
    answer: &str,
) -> Result<Passkey, AppError> {
    let name = PasskeyName::parse(name).map_err(|e| AppError::validation("name", e.to_string()))?;
    let answer: NewCredentialAnswer =
        serde_json::from_str(answer).map_err(|_| refused(&Refusal::Malformed("JSON")))?;
    let now = state.clock.now();
    let challenge =
        webauthn::take_challenge(session, Purpose::Register, now)?.ok_or_else(|| {
            AppError::validation(
                "passkey",
                "This passkey was not asked for, or too long ago: add it again.",
            )
        })?;
    let made = webauthn::register(&state.relying_party, &challenge, &answer, false)
        .map_err(|r| refused(&r))?;
    let passkey = Passkey {
        id: uuid::Uuid::new_v4().to_string(),
        user_id: by.user_id.clone(),
        credential_id: made.credential_id,
        public_key: made.public_key,
        sign_count: i64::from(made.sign_count),
        name,
        created_at: now,
        last_used_at: None,
    };
    let (row, by, notifier) = (passkey.clone(), by.clone(), state.notifier.clone());
    db::write(&state.pool, move |conn| {
        write_transaction(conn, |conn| {
            // Each is listed in every sign-in's options: an account's list stays short.
            if stored::passkeys_of(conn, &row.user_id)?.len() >= MAX_PER_ACCOUNT {
                return Err(AppError::validation(
                    "passkey",
                    format!(
                        "An account keeps at most {MAX_PER_ACCOUNT} passkeys; remove one first."
                    ),
                ));
            }
            if !stored::add_passkey(conn, &row)? {
                return Err(AppError::validation(
                    "passkey",
                    "This passkey is registered already.",
                ));
            }
            let event = NewSecurityEvent::new(
                &by.user_id,
                SecurityKind::PasskeyAdded,
                &by.client,
                json!({ "passkey": row.name.as_str() }),
            );
            security_log::record(conn, &event, now)?;
            let notice = AccountNotice::PasskeyAdded(row.name.to_string());
            notifier.record_account(conn, &by.user_id, notice, now)?;
            Ok(())
        })
    })
    .await?;
    Ok(passkey)
}

/// Removes one of the account's passkeys (needs a recent password, like removing the
/// authenticator app). `not_found` when the account has no passkey of that id.
pub async fn remove(state: &AppState, by: &Requester, id: &str) -> Result<(), AppError> {
    if !by.password_recent {
        return Err(AppError::ReauthenticationRequired);
    }
    let now = state.clock.now();
    let (by, id, notifier) = (by.clone(), id.to_owned(), state.notifier.clone());
    db::write(&state.pool, move |conn| {
        write_transaction(conn, |conn| {
            let name = stored::remove_passkey(conn, &by.user_id, &id)?.ok_or(AppError::NotFound)?;
            let event = NewSecurityEvent::new(
                &by.user_id,
                SecurityKind::PasskeyRemoved,
                &by.client,
                json!({ "passkey": name.as_str() }),
            );
            security_log::record(conn, &event, now)?;
            let notice = AccountNotice::PasskeyRemoved(name.to_string());
            notifier.record_account(conn, &by.user_id, notice, now)?;
            Ok(())
        })
    })
    .await
}

/// Checks `answer` against the session's challenge of `purpose` and the stored passkey it
/// names, and moves the passkey's counter on: the passkey that signed, or why not.
async fn check(
    state: &AppState,
    session: &Session,
    purpose: Purpose,
    answer: &str,
    owner: Option<&UserId>,
) -> Result<Result<Passkey, Refusal>, AppError> {
    let now = state.clock.now();
    // Taken first: an answer, right or wrong, uses its challenge up.
    let challenge = webauthn::take_challenge(session, purpose, now)?;
    let Ok(answer) = serde_json::from_str::<AssertionAnswer>(answer) else {
        return Ok(Err(Refusal::Malformed("JSON")));
    };
    let Some(challenge) = challenge else {
        return Ok(Err(Refusal::WrongChallenge));
    };
    let credential_id = match answer.credential_id() {
        Ok(id) => id,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let found = db::query(&state.pool, move |conn| {
        stored::passkey_by_credential(conn, &credential_id)
    })
    .await?;
    let Some(passkey) = found.filter(|p| owner.is_none_or(|owner| *owner == p.user_id)) else {
        return Ok(Err(Refusal::Malformed("unknown passkey")));
    };
    let rp: &RelyingParty = &state.relying_party;
    let stored_count = u32::try_from(passkey.sign_count).unwrap_or(u32::MAX);
    let verification = purpose == Purpose::SignIn;
    let count = match webauthn::authenticate(
        rp,
        &challenge,
        &answer,
        &passkey.public_key,
        stored_count,
        verification,
    ) {
        Ok(count) => i64::from(count),
        Err(refusal) => return Ok(Err(refusal)),
    };
    let (id, seen) = (passkey.id.clone(), passkey.sign_count);
    let moved = db::write_query(&state.pool, move |conn| {
        stored::use_passkey(conn, &id, seen, count, now)
    })
    .await?;
    if !moved {
        return Ok(Err(Refusal::CounterWentBack));
    }
    Ok(Ok(passkey))
}

fn log_use(
    state: &AppState,
    passkey: &Passkey,
    client: &Client,
    passwordless: bool,
) -> impl FnOnce(&mut db::DbConnection) -> Result<(), AppError> {
    let (notifier, now) = (state.notifier.clone(), state.clock.now());
    let (user_id, name, client) = (
        passkey.user_id.clone(),
        passkey.name.to_string(),
        client.clone(),
    );
    move |conn| {
        write_transaction(conn, |conn| {
            let event = NewSecurityEvent::new(
                &user_id,
                SecurityKind::PasskeyUsed,
                &client,
                json!({ "passkey": name, "passwordless": passwordless }),
            );
            security_log::record(conn, &event, now)?;
            // A sign-in without the password is told; the second factor after it is not, as
            // an authenticator app's code is not.
            if passwordless {
                notifier.record_account(conn, &user_id, AccountNotice::PasskeySignIn(name), now)?;
            }
            Ok(())
        })
    }
}

/// Whether `answer` is a passkey of `user_id` signing the session's second-factor challenge
/// (after the password, or at re-authentication). Throttled per account with the codes.
pub async fn verify_second_factor(
    state: &AppState,
    session: &Session,
    user_id: &UserId,
    client: &Client,
    answer: &str,
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
    let passkey = match check(state, session, Purpose::SecondFactor, answer, Some(user_id)).await? {
        Ok(passkey) => passkey,
        Err(refusal) => {
            tracing::info!(%refusal, "passkey refused");
            return Ok(false);
        }
    };
    db::write(&state.pool, log_use(state, &passkey, client, false)).await?;
    state
        .throttles
        .second_factor
        .forgive(&state.pool, counted)
        .await;
    Ok(true)
}

/// Signs in with a passkey alone: `answer` must sign the session's sign-in challenge with a
/// passkey that verified its user. `Login::Welcome` with the account it belongs to (the door
/// starts the session), `Suspended`, or `Refused`.
pub async fn sign_in(
    state: &AppState,
    session: &Session,
    client: &Client,
    answer: &str,
) -> Result<Login, AppError> {
    let passkey = match check(state, session, Purpose::SignIn, answer, None).await? {
        Ok(passkey) => passkey,
        Err(refusal) => {
            tracing::info!(%refusal, "passkey refused");
            return Ok(Login::Refused);
        }
    };
    let user_id = passkey.user_id.clone();
    let user = db::query(&state.pool, move |conn| User::find(conn, &user_id)).await?;
    let Some(user) = user else {
        return Ok(Login::Refused);
    };
    if user.suspended_at.is_some() {
        return Ok(Login::Suspended);
    }
    db::write(&state.pool, log_use(state, &passkey, client, true)).await?;
    Ok(Login::Welcome(user))
}
