//! The dashboard's password prompt (SPEC §8.5, `auth::reauth`): when a form post needs a
//! recent password and there is none, the answer is a page that asks for it and posts the
//! original form again — the same action, the same fields as hidden inputs, plus the password
//! — so the person carries on where they were instead of starting over. An account with a
//! second factor is asked for its code as well (SPEC §3.1).

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use askama::Template;

use super::{page_with_status, DashboardUser, HtmlError, Layout};
use crate::auth::password::Password;
use crate::auth::reauth;
use crate::ops::second_factor::{reauthenticate, Factor, Reauthentication};
use crate::state::AppState;

/// The prompt's own fields; never posted on again.
const PASSWORD_FIELD: &str = "reauth_password";
/// Asked of an account with a second factor (SPEC §3.1): a code, or a passkey's answer (JSON,
/// filled in by `static/app.js`).
const CODE_FIELD: &str = "reauth_code";
const PASSKEY_FIELD: &str = "reauth_passkey";

#[derive(Template)]
#[template(path = "accounts/reauthenticate.html")]
struct PromptPage<'a> {
    layout: Layout,
    /// What is waiting, in a few words ("Creating this token").
    what: &'a str,
    action: &'a str,
    cancel: &'a str,
    fields: Vec<&'a (String, String)>,
    error: Option<&'static str>,
    /// The account has a second factor: its code is asked too.
    second_factor: bool,
    /// The account has passkeys: one may stand in for the code.
    passkeys: bool,
}

/// `None` when the action may go on: the password is recent, or was just entered right with
/// the form. Otherwise the prompt to answer instead (403 until the password is right).
pub async fn ensure_recent_password(
    user: &DashboardUser,
    state: &AppState,
    what: &str,
    action: &str,
    cancel: &str,
    fields: &[(String, String)],
) -> Result<Option<HttpResponse>, HtmlError> {
    let session = user.session();
    if reauth::is_recent(&session, state.clock.now())? {
        return Ok(None);
    }
    let field = |wanted: &str| {
        fields
            .iter()
            .find(|(name, value)| name == wanted && !value.is_empty())
            .map(|(_, value)| value.as_str())
    };
    let error = match field(PASSWORD_FIELD) {
        Some(password) => {
            let client = crate::auth::client::of(user.request());
            let password = Password::new(password.to_owned());
            let factor = match field(PASSKEY_FIELD) {
                Some(answer) => Factor::Passkey(answer),
                None => Factor::Code(field(CODE_FIELD).unwrap_or_default()),
            };
            match reauthenticate(state, &session, &user.user, &client, password, factor).await? {
                Reauthentication::Confirmed => return Ok(None),
                Reauthentication::WrongPassword => Some("That is not your password."),
                Reauthentication::WrongCode => Some(
                    "That code is not right: enter your authenticator app’s code, or a \
                     recovery code, or use a passkey.",
                ),
            }
        }
        None => None,
    };
    let prompt = PromptPage {
        layout: user.layout(),
        what,
        action,
        cancel,
        // Posted again as they came, but for the password and the CSRF token (the page's own).
        fields: fields
            .iter()
            .filter(|(name, _)| {
                ![PASSWORD_FIELD, CODE_FIELD, PASSKEY_FIELD, "csrf_token"].contains(&name.as_str())
            })
            .collect(),
        error,
        second_factor: user.user.second_factor,
        passkeys: user.user.second_factor
            && !crate::ops::passkeys::list(state, &user.user.id)
                .await?
                .is_empty(),
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::FORBIDDEN
    };
    Ok(Some(page_with_status(&prompt, status)?))
}
