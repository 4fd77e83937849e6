//! Regenerate (SPEC §8.1): a new token with a working token's settings, the old one kept for
//! a grace the person picks, then the one-time reveal as after Create.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::reauth::ensure_recent_password;
use super::token_form::{policy_fields, Choices, NewTokenForm};
use super::token_view::TokenView;
use super::tokens::{find_mine_with_projects, reveal_once};
use super::{
    page, page_with_status, see_other, DashboardUser, FormWithFields, HtmlError, Layout,
    TOKENS_PAGE,
};
use crate::db::{self, models::settings};
use crate::domain::{Rotation, TokenId};
use crate::error::AppError;
use crate::ops;
use crate::routes::requester;
use crate::state::AppState;

super::pages!(
    GET "/settings/tokens/{id}/regenerate" => regenerate_form,
    POST "/settings/tokens/{id}/regenerate" => regenerate,
);

#[derive(Template)]
#[template(path = "tokens/regenerate.html")]
struct RegeneratePage {
    layout: Layout,
    token: TokenView,
    form: NewTokenForm,
    graces: [(i64, &'static str); 3],
    error: Option<String>,
}

/// The grace choices of the Regenerate page, in seconds.
const GRACES: [(i64, &str); 3] = [
    (0, "No longer: it stops now"),
    (3_600, "For 1 hour"),
    (86_400, "For 24 hours"),
];

async fn regenerate_page(
    user: &DashboardUser,
    state: &AppState,
    id: TokenId,
    error: Option<String>,
) -> Result<RegeneratePage, AppError> {
    let (row, chosen) = find_mine_with_projects(state, user, id).await?;
    let now = state.clock.now();
    let instance = db::query(&state.pool, settings::token_policy).await?;
    let mut form = NewTokenForm::new(
        now,
        Choices {
            projects: Vec::new(),
            instance,
        },
    );
    // The expiry chosen last time is chosen again unless changed (or no longer allowed).
    let last = row.expiry.unwrap_or_default();
    if instance.allows_expiry(last, now) {
        form.expiry = last.as_str().to_owned();
    }
    Ok(RegeneratePage {
        layout: user.layout(),
        token: TokenView::new(&row, now, &chosen),
        form,
        graces: GRACES,
        error,
    })
}

async fn regenerate_form(
    user: DashboardUser,
    state: web::Data<AppState>,
    id: web::Path<TokenId>,
) -> Result<HttpResponse, HtmlError> {
    let regen = regenerate_page(&user, &state, id.into_inner(), None).await?;
    if !regen.token.regenerable {
        return Ok(see_other(TOKENS_PAGE));
    }
    page(&regen)
}

#[derive(Deserialize)]
struct RegenerateForm {
    expiry: Option<String>,
    grace: Option<i64>,
    csrf_token: Option<String>,
}

async fn regenerate(
    user: DashboardUser,
    state: web::Data<AppState>,
    id: web::Path<TokenId>,
    FormWithFields(form, fields): FormWithFields<RegenerateForm>,
) -> Result<HttpResponse, HtmlError> {
    user.check_csrf(form.csrf_token.as_deref())?;
    let id = id.into_inner();
    let action = format!("{TOKENS_PAGE}/{id}/regenerate");
    let what = "Regenerating a token";
    let prompt = ensure_recent_password(&user, &state, what, &action, &action, &fields);
    if let Some(prompt) = prompt.await? {
        return Ok(prompt);
    }
    let rotated = match Rotation::validate(form.expiry.as_deref(), form.grace) {
        Ok(rotation) => {
            ops::tokens::rotate(
                &state,
                &requester(user.request(), &user.user.id)?,
                id.clone(),
                rotation,
            )
            .await
        }
        Err(fields) => Err(AppError::Validation(fields)),
    };
    // The instance's token policy refuses it: said on the page, like a bad choice.
    let rotated = rotated.map_err(|e| match e {
        AppError::TokenPolicy(breach) => AppError::Validation(policy_fields(breach)),
        e => e,
    });
    match rotated {
        // As after Create: post/redirect/get to the one-time reveal.
        Ok(issued) => Ok(reveal_once(&state, &user, issued).await?),
        Err(AppError::Validation(fields)) => {
            let message = fields.into_values().next();
            let regen = regenerate_page(&user, &state, id, message).await?;
            page_with_status(&regen, StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(e) => Err(e.into()),
    }
}
