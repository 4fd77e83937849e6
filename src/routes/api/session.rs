//! The dashboard session itself: re-authentication (SPEC §8.5, `auth::reauth`).

use actix_session::Session;
use actix_web::{post, web, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;

use super::Json;
use crate::auth::password::Password;
use crate::auth::SessionCaller;
use crate::db::models::security_log::Client;
use crate::error::{AppError, ErrorBody};
use crate::ops::passkeys;
use crate::ops::second_factor::{self, Factor, Reauthentication};
use crate::state::AppState;

super::resource!(reauthenticate, passkey_options);

#[derive(Deserialize, ToSchema)]
#[schema(as = Reauthentication)]
struct ReauthBody {
    /// Your account's password.
    #[schema(value_type = String, required = true, format = Password)]
    password: Option<Password>,
    /// The code of your authenticator app, or one of your recovery codes: required when your
    /// account has a second factor.
    #[schema(example = "123456")]
    code: Option<String>,
    /// Or, in place of `code`, what `navigator.credentials.get` answered (its `toJSON()`) for
    /// the options of `POST /api/session/passkey-options`.
    #[schema(value_type = Option<Object>)]
    passkey: Option<serde_json::Value>,
}

/// Enter your password again.
///
/// Creating a token that never expires or has the `domain` or `billing.read` scope, rotating
/// a token, changing a project's token policy and adding an owner need the password entered
/// within the last 10 minutes (signing up or logging in counts); without it they answer 403
/// `reauthentication_required`. An account with a second factor sends its `code` too. Checked
/// like the password change: at most 10 wrong a minute (passwords and codes each).
#[utoipa::path(
    tag = "account",
    security(("session" = [], "csrf" = [])),
    responses(
        (status = 204, description = "The password was right: for 10 minutes, those changes \
            need no password."),
        (status = 503, description = "`unavailable`: too many passwords are being checked at \
            once; `Retry-After` says when to try again.", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait."))),
    ),
)]
#[post("/reauthenticate")]
async fn reauthenticate(
    SessionCaller(caller): SessionCaller,
    session: Session,
    client: Client,
    state: web::Data<AppState>,
    body: Json<ReauthBody>,
) -> Result<HttpResponse, AppError> {
    let Json(body) = body;
    let password = body
        .password
        .ok_or_else(|| AppError::validation("password", "This field is required."))?;
    let passkey = body.passkey.map(|answer| answer.to_string());
    let factor = match &passkey {
        Some(answer) => Factor::Passkey(answer),
        None => Factor::Code(body.code.as_deref().unwrap_or_default()),
    };
    let user = &caller.user;
    match second_factor::reauthenticate(&state, &session, user, &client, password, factor).await? {
        Reauthentication::Confirmed => Ok(HttpResponse::NoContent().finish()),
        Reauthentication::WrongPassword => Err(AppError::validation(
            "password",
            "That is not your password.",
        )),
        Reauthentication::WrongCode => Err(AppError::validation(
            "code",
            "Enter the code of your authenticator app, or one of your recovery codes.",
        )),
    }
}

/// Ask a passkey to confirm it is you.
///
/// The options for `navigator.credentials.get` (binary values in base64url, as
/// `PublicKeyCredential.parseRequestOptionsFromJSON` reads them) with a new challenge, good
/// for 5 minutes and one answer: send the answer as `passkey` to
/// `POST /api/session/reauthenticate`.
#[utoipa::path(
    tag = "account",
    security(("session" = [], "csrf" = [])),
    responses(
        (status = 200, description = "`PublicKeyCredentialRequestOptions` for the account's \
            passkeys.", body = Object),
    ),
)]
#[post("/passkey-options")]
async fn passkey_options(
    SessionCaller(caller): SessionCaller,
    session: Session,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let options = passkeys::login_options(&state, &session, Some(&caller.user.id)).await?;
    Ok(HttpResponse::Ok().json(options))
}
