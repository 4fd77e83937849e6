//! The account's second factor (SPEC §3.1), for a dashboard session only: enrol an
//! authenticator app, confirm it with its first code (which answers the recovery codes), remove
//! it, make new recovery codes; register, list and remove passkeys. The operations are
//! `ops::second_factor`'s and `ops::passkeys`'.

use actix_session::Session;
use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Json;
use crate::auth::totp::RecoveryCode;
use crate::auth::SessionCaller;
use crate::db::models::second_factor::Passkey;
use crate::error::{AppError, ErrorBody};
use crate::ops::passkeys;
use crate::ops::second_factor as ops;
use crate::routes::requester;
use crate::state::AppState;

super::resource!(
    start_totp,
    confirm_totp,
    remove_totp,
    regenerate_recovery_codes,
    passkey_options,
    register_passkey,
    list_passkeys,
    remove_passkey
);

/// A started enrolment: add it to an authenticator app, then confirm it with its first code.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct TotpEnrolment {
    /// The secret, in base32, for typing into the app.
    #[schema(example = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")]
    secret: String,
    /// The same as an `otpauth://totp/…` URI (what the dashboard's QR code carries).
    otpauth_uri: String,
}

/// Add an authenticator app.
///
/// Starts an enrolment: a new TOTP secret (RFC 6238: SHA-1, 6 digits, 30 seconds), pending
/// until `POST /api/account/totp/confirm` gives its first code. Starting again replaces a
/// pending one. An account that already has an authenticator app answers 422: remove it first.
#[utoipa::path(
    tag = "account",
    security(("session" = [], "csrf" = [])),
    responses(
        (status = 201, description = "Pending until confirmed; shown once here, never \
            stored in clear.", body = TotpEnrolment),
        (status = 422, description = "`validation_failed`: the account already has an \
            authenticator app.", body = ErrorBody),
    ),
)]
#[post("/totp")]
async fn start_totp(
    SessionCaller(caller): SessionCaller,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let by = requester(&req, &caller.user.id)?;
    let enrolment = ops::start_totp(&state, &by, &caller.user.email).await?;
    Ok(HttpResponse::Created().json(TotpEnrolment {
        secret: enrolment.secret,
        otpauth_uri: enrolment.otpauth_uri,
    }))
}

#[derive(Deserialize, ToSchema)]
#[schema(as = TotpConfirmation)]
struct CodeBody {
    /// The 6-digit code the authenticator app shows now.
    #[schema(example = "123456", pattern = "^[0-9]{6}$")]
    code: Option<String>,
}

/// The recovery codes, shown once.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct RecoveryCodes {
    /// 10 one-time codes (`xxxx-xxxx-xxxx`), each usable once in place of a code. Only their
    /// hashes are kept: this is the one time they are shown.
    #[schema(example = json!(["7f3k-9q2m-x8vd"]))]
    recovery_codes: Vec<String>,
}

fn codes(codes: &[RecoveryCode]) -> HttpResponse {
    HttpResponse::Ok().json(RecoveryCodes {
        recovery_codes: codes.iter().map(RecoveryCode::display).collect(),
    })
}

/// Confirm the authenticator app.
///
/// With the code it shows now, the pending authenticator becomes the account's second factor:
/// logging in and re-authentication then ask for a code. Answers the 10 recovery codes, once.
/// Wrong codes are throttled like passwords (10 a minute).
#[utoipa::path(
    tag = "account",
    security(("session" = [], "csrf" = [])),
    responses(
        (status = 200, description = "The second factor is on.", body = RecoveryCodes),
        (status = 422, description = "`validation_failed`: the code is wrong, or nothing is \
            pending.", body = ErrorBody),
        (status = 429, description = "`rate_limited`: too many codes this minute.",
            body = ErrorBody),
    ),
)]
#[post("/totp/confirm")]
async fn confirm_totp(
    SessionCaller(caller): SessionCaller,
    req: HttpRequest,
    state: web::Data<AppState>,
    body: Json<CodeBody>,
) -> Result<HttpResponse, AppError> {
    let Json(body) = body;
    let code = body
        .code
        .ok_or_else(|| AppError::validation("code", "This field is required."))?;
    let by = requester(&req, &caller.user.id)?;
    Ok(codes(&ops::confirm_totp(&state, &by, &code).await?))
}

/// Remove the authenticator app.
///
/// Removes it and its recovery codes: logging in asks for the password alone again (unless the
/// account has a passkey, which stays its second factor). Needs the password (and a code)
/// entered within 10 minutes (`POST /api/session/reauthenticate`).
#[utoipa::path(
    tag = "account",
    security(("session" = [], "csrf" = [])),
    responses(
        (status = 204, description = "Removed."),
        (status = 404, description = "`not_found`: the account has no authenticator app.",
            body = ErrorBody),
    ),
)]
#[delete("/totp")]
async fn remove_totp(
    SessionCaller(caller): SessionCaller,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let by = requester(&req, &caller.user.id)?;
    ops::remove_totp(&state, &by).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Make new recovery codes.
///
/// Replaces every recovery code, used or not, with 10 new ones, shown once. Needs the password
/// and a code entered within 10 minutes (`POST /api/session/reauthenticate`).
#[utoipa::path(
    tag = "account",
    security(("session" = [], "csrf" = [])),
    responses(
        (status = 200, description = "The new codes; the old ones no longer work.",
            body = RecoveryCodes),
        (status = 404, description = "`not_found`: the account has no second factor.",
            body = ErrorBody),
    ),
)]
#[post("/recovery-codes")]
async fn regenerate_recovery_codes(
    SessionCaller(caller): SessionCaller,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let by = requester(&req, &caller.user.id)?;
    Ok(codes(&ops::regenerate_recovery_codes(&state, &by).await?))
}

/// A passkey of the account.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct PasskeyView {
    #[schema(example = "0b7f0f5e-3a51-4c3e-9d3e-2f1b8c1f4a20")]
    id: String,
    /// The name it was given.
    #[schema(example = "Laptop")]
    name: String,
    created_at: DateTime<Utc>,
    /// When it last signed in (alone or as the second factor).
    last_used_at: Option<DateTime<Utc>>,
}

impl PasskeyView {
    fn of(passkey: Passkey) -> PasskeyView {
        PasskeyView {
            id: passkey.id,
            name: passkey.name.to_string(),
            created_at: passkey.created_at.and_utc(),
            last_used_at: passkey.last_used_at.map(|at| at.and_utc()),
        }
    }
}

/// Start adding a passkey.
///
/// The options for `navigator.credentials.create` (binary values in base64url, as
/// `PublicKeyCredential.parseCreationOptionsFromJSON` reads them): ES256, no attestation, a
/// discoverable credential, the account's passkeys excluded. Its challenge is good for 5
/// minutes and one answer, sent to `POST /api/account/passkeys`.
#[utoipa::path(
    tag = "account",
    security(("session" = [], "csrf" = [])),
    responses(
        (status = 200, description = "`PublicKeyCredentialCreationOptions`.", body = Object),
    ),
)]
#[post("/passkey-options")]
async fn passkey_options(
    SessionCaller(caller): SessionCaller,
    session: Session,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let options = passkeys::registration_options(&state, &session, &caller.user).await?;
    Ok(HttpResponse::Ok().json(options))
}

#[derive(Deserialize, ToSchema)]
#[schema(as = NewPasskey)]
struct NewPasskeyBody {
    /// What to call it, to tell it from the others.
    #[schema(example = "Laptop", max_length = 100)]
    name: Option<String>,
    /// What `navigator.credentials.create` answered, as its `toJSON()` writes it (`rawId`,
    /// `response.clientDataJSON`, `response.attestationObject`, in base64url).
    #[schema(value_type = Object)]
    credential: Option<serde_json::Value>,
}

/// Add a passkey.
///
/// Checks the answer to the options of `POST /api/account/passkey-options` (the challenge,
/// this site's origin and RP ID, an ES256 key) and keeps the passkey under its name. The
/// account then has a second factor: signing in asks for it after the password, and the
/// passkey can sign in alone.
#[utoipa::path(
    tag = "account",
    security(("session" = [], "csrf" = [])),
    responses(
        (status = 201, description = "Added.", body = PasskeyView),
        (status = 422, description = "`validation_failed`: no name, or the passkey's answer \
            is refused (no challenge waiting, another origin, already registered).",
            body = ErrorBody),
    ),
)]
#[post("/passkeys")]
async fn register_passkey(
    SessionCaller(caller): SessionCaller,
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    body: Json<NewPasskeyBody>,
) -> Result<HttpResponse, AppError> {
    let Json(body) = body;
    let credential = body
        .credential
        .ok_or_else(|| AppError::validation("credential", "This field is required."))?;
    let name = body.name.unwrap_or_default();
    let by = requester(&req, &caller.user.id)?;
    let passkey = passkeys::register(&state, &session, &by, &name, &credential.to_string()).await?;
    Ok(HttpResponse::Created().json(PasskeyView::of(passkey)))
}

/// List your passkeys.
#[utoipa::path(
    tag = "account",
    security(("session" = [])),
    responses((status = 200, description = "Oldest first.", body = [PasskeyView])),
)]
#[get("/passkeys")]
async fn list_passkeys(
    SessionCaller(caller): SessionCaller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let list = passkeys::list(&state, &caller.user.id).await?;
    let list: Vec<PasskeyView> = list.into_iter().map(PasskeyView::of).collect();
    Ok(HttpResponse::Ok().json(list))
}

/// Remove a passkey.
///
/// It no longer signs in. Needs the password (and the second factor) entered within 10
/// minutes (`POST /api/session/reauthenticate`).
#[utoipa::path(
    tag = "account",
    security(("session" = [], "csrf" = [])),
    params(("id" = String, Path, description = "The passkey's id.")),
    responses(
        (status = 204, description = "Removed."),
        (status = 404, description = "`not_found`: no passkey of yours has this id.",
            body = ErrorBody),
    ),
)]
#[delete("/passkeys/{id}")]
async fn remove_passkey(
    SessionCaller(caller): SessionCaller,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let by = requester(&req, &caller.user.id)?;
    passkeys::remove(&state, &by, &path.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
