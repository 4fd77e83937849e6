//! The dashboard's password prompt (SPEC §8.5, `auth::reauth`): when a form post needs a
//! recent password and there is none, the answer is a page that asks for it and posts the
//! original form again — the same action, the same fields as hidden inputs, plus the password
//! — so the person carries on where they were instead of starting over.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use askama::Template;

use super::{page_with_status, DashboardUser, HtmlError, Layout};
use crate::auth::password::Password;
use crate::auth::{reauth, Source};
use crate::state::AppState;

/// The prompt's own field; never posted on again.
const PASSWORD_FIELD: &str = "reauth_password";

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
    let entered = fields
        .iter()
        .find(|(name, value)| name == PASSWORD_FIELD && !value.is_empty())
        .map(|(_, value)| Password::new(value.clone()));
    let error = match entered {
        Some(password) => {
            let client = crate::auth::client::of(user.request());
            if reauth::confirm(&state.auth(), &session, &user.user, &client, password).await? {
                return Ok(None);
            }
            Some("That is not your password.")
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
            .filter(|(name, _)| name != PASSWORD_FIELD && name != "csrf_token")
            .collect(),
        error,
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::FORBIDDEN
    };
    Ok(Some(page_with_status(&prompt, status)?))
}
