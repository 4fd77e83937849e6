//! The API tokens screen: list, create (the plaintext shown once), revoke with confirmation.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::reauth::ensure_recent_password;
use super::time::exact;
use super::token_form::{choices, new_token_form, policy_fields, CreateForm, NewTokenForm};
use super::token_view::{chosen_names, reported, Chosen, TokenView};
use super::{
    page, page_with_status, see_other, take_flash, DashboardUser, Form, FormWithFields, HtmlError,
    Layout, FLASH, TOKENS_PAGE,
};
use crate::db::{
    self,
    models::leaks,
    models::tokens::{self, TokenRow, Which},
};
use crate::domain::{NewToken, PageRequest, ProjectName, Scopes, TokenId, TokenName};
use crate::error::AppError;
use crate::ops::{self, tokens::Issued};
use crate::routes::requester;
use crate::state::AppState;

super::pages!(
    GET "/settings/tokens" => list,
    GET "/settings/tokens/inactive" => inactive_page,
    GET "/settings/tokens/new" => new_form,
    POST "/settings/tokens" => create,
    GET "/settings/tokens/{id}/created" => reveal,
    GET "/settings/tokens/{id}/revoke" => confirm_revoke,
    POST "/settings/tokens/{id}/revoke" => revoke,
);

#[derive(Template)]
#[template(path = "tokens/index.html")]
struct ListPage {
    layout: Layout,
    /// Active tokens, all of them.
    tokens: Vec<TokenView>,
    inactive: Vec<TokenView>,
    /// The cursor of the inactive page after those shown.
    more_inactive: Option<String>,
    /// Working tokens that expire within 7 days and have no replacement yet: the banner.
    expiring: Vec<TokenView>,
    flash: Option<String>,
    form: NewTokenForm,
}

#[derive(Template)]
#[template(path = "tokens/new.html")]
struct NewPage {
    layout: Layout,
    form: NewTokenForm,
}

#[derive(Template)]
#[template(path = "tokens/created.html")]
struct CreatedPage<'a> {
    layout: Layout,
    name: TokenName,
    /// `None` once it has been shown (a reload, Back, a second tab): it is gone for good.
    token: Option<&'a str>,
    scopes: Scopes,
    /// The only projects it reaches; `None`: all.
    projects: Option<Vec<ProjectName>>,
    expires: String,
    origin: &'a str,
}

#[derive(Template)]
#[template(path = "tokens/revoke.html")]
struct RevokePage {
    layout: Layout,
    token: TokenView,
}

async fn list(user: DashboardUser, state: web::Data<AppState>) -> Result<HttpResponse, HtmlError> {
    let (user_id, now) = (user.user.id.clone(), state.clock.now());
    // Every token that works (however many are in a rotation's grace), and the latest
    // inactive ones.
    let latest = PageRequest::first(INACTIVE_ON_LIST);
    let read = latest.clone();
    let (active, inactive, reports, chosen, own) = db::query(&state.pool, move |conn| {
        let active = tokens::working(conn, &user_id, now)?;
        let inactive = tokens::list(conn, &user_id, Which::Inactive(now), &read)?;
        let reports = leaks::reports_for(conn, reported(&inactive))?;
        let ids: Vec<_> = active
            .iter()
            .chain(&inactive)
            .map(|r| r.id.clone())
            .collect();
        let chosen = tokens::chosen_projects(conn, &ids)?;
        Ok((active, inactive, reports, chosen, choices(conn, &user_id)?))
    })
    .await?;
    let (inactive, more) = latest.cut(inactive, TokenRow::cursor);
    let prefixes: HashMap<&TokenId, &str> = active
        .iter()
        .chain(&inactive)
        .map(|row| (&row.id, row.prefix.as_str()))
        .collect();
    let view = |row: &TokenRow| TokenView::linked(row, now, &prefixes, &chosen).with_leak(&reports);
    let flash = take_flash(&user.session());
    page(&ListPage {
        layout: user.layout(),
        expiring: active
            .iter()
            .map(view)
            .filter(|t| t.badge == "expiring" && t.regenerable)
            .collect(),
        tokens: active.iter().map(view).collect(),
        inactive: inactive.iter().map(view).collect(),
        more_inactive: more.map(|c| c.encode()),
        flash,
        form: NewTokenForm::new(now, own),
    })
}

/// Revoked and expired tokens shown under the active ones; the rest are a click away.
const INACTIVE_ON_LIST: i64 = 10;
/// Rows on each page of `/settings/tokens/inactive`.
const INACTIVE_PER_PAGE: i64 = 50;

#[derive(Template)]
#[template(path = "tokens/inactive.html")]
struct InactivePage {
    layout: Layout,
    tokens: Vec<TokenView>,
    more: Option<String>,
}

#[derive(Deserialize)]
struct InactiveQuery {
    cursor: Option<String>,
}

async fn inactive_page(
    user: DashboardUser,
    state: web::Data<AppState>,
    query: web::Query<InactiveQuery>,
) -> Result<HttpResponse, HtmlError> {
    let limit = INACTIVE_PER_PAGE.to_string();
    let request = PageRequest::parse(Some(&limit), query.cursor.as_deref())
        .map_err(|e| AppError::validation("cursor", e.to_string()))?;
    let (user_id, now, read) = (user.user.id.clone(), state.clock.now(), request.clone());
    let (rows, reports, chosen) = db::query(&state.pool, move |conn| {
        let rows = tokens::list(conn, &user_id, Which::Inactive(now), &read)?;
        let reports = leaks::reports_for(conn, reported(&rows))?;
        let ids: Vec<_> = rows.iter().map(|r| r.id.clone()).collect();
        Ok((rows, reports, tokens::chosen_projects(conn, &ids)?))
    })
    .await?;
    let (rows, more) = request.cut(rows, TokenRow::cursor);
    page(&InactivePage {
        layout: user.layout(),
        tokens: rows
            .iter()
            .map(|row| TokenView::new(row, now, &chosen).with_leak(&reports))
            .collect(),
        more: more.map(|c| c.encode()),
    })
}

async fn new_form(
    user: DashboardUser,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HtmlError> {
    page(&NewPage {
        layout: user.layout(),
        form: new_token_form(&state, &user).await?,
    })
}

async fn create(
    user: DashboardUser,
    state: web::Data<AppState>,
    FormWithFields(form, fields): FormWithFields<CreateForm>,
) -> Result<HttpResponse, HtmlError> {
    user.check_csrf(form.csrf_token.as_deref())?;
    let validated = form
        .chosen()
        .map_err(|e| AppError::validation("projects", e))
        .and_then(|chosen| {
            let ips = form.allowed_ips();
            NewToken::validate(
                &form.name,
                &form.scopes,
                form.expiry.as_deref(),
                chosen,
                &ips,
            )
            .map_err(AppError::Validation)
        });
    let created = match validated {
        Ok(new) => {
            if ops::tokens::needs_recent_password(&new) {
                let what =
                    "Creating a token that never expires, or may change a domain or read invoices,";
                let prompt =
                    ensure_recent_password(&user, &state, what, TOKENS_PAGE, TOKENS_PAGE, &fields);
                if let Some(prompt) = prompt.await? {
                    return Ok(prompt);
                }
            }
            ops::tokens::issue(&state, &requester(user.request(), &user.user.id)?, new).await
        }
        Err(e) => Err(e),
    };
    // The instance's token policy refuses what was chosen: the form says which field.
    let created = created.map_err(|e| match e {
        AppError::TokenPolicy(breach) => AppError::Validation(policy_fields(breach)),
        e => e,
    });
    match created {
        // Post/redirect/get: a reload of the reveal page is a harmless GET, never a second
        // POST that would fail on the now-taken name. The plaintext waits sealed, its key in
        // the browser only (`auth::reveal`).
        Ok(issued) => Ok(reveal_once(&state, &user, issued).await?),
        Err(AppError::Validation(mut fields)) => {
            let mut again = new_token_form(&state, &user).await?;
            again.name_error = fields.remove("name");
            again.scopes_error = fields.remove("scopes");
            again.expiry_error = fields.remove("expiry");
            again.projects_error = fields.remove("projects");
            again.allowed_ips_error = fields.remove("allowedIps");
            again.restrict = form.restricts();
            again.allowed_ips = form.allowed_ips;
            again.name = form.name;
            again.scopes = form.scopes;
            again.chosen = form.project_ids;
            again.expiry = form.expiry.unwrap_or(again.expiry);
            page_with_status(
                &NewPage {
                    layout: user.layout(),
                    form: again,
                },
                StatusCode::UNPROCESSABLE_ENTITY,
            )
        }
        Err(e) => Err(e.into()),
    }
}

/// The reveal page: the plaintext on the first view, and only then.
async fn reveal(
    user: DashboardUser,
    state: web::Data<AppState>,
    id: web::Path<TokenId>,
) -> Result<HttpResponse, HtmlError> {
    let (row, chosen) = find_mine_with_projects(&state, &user, id.into_inner()).await?;
    let (plain, removal) = state
        .reveals
        .take(
            &state.pool,
            user.request(),
            &user.user.id,
            &row.id,
            state.clock.now(),
        )
        .await?;
    let created = CreatedPage {
        layout: user.layout(),
        projects: chosen_names(&row, &chosen),
        scopes: row.scopes,
        expires: row.expires_at.map_or_else(|| "Never".to_owned(), exact),
        name: row.name,
        token: plain.as_ref().map(|p| p.expose()),
        origin: &state.public_origin,
    };
    // The only page that shows the plaintext; like every answer it is `no-store`, so a later
    // view must come back here to find it gone.
    let mut res = page(&created)?;
    if let Some(removal) = removal {
        res.add_cookie(&removal)
            .map_err(|e| AppError::Internal(e.into()))?;
    }
    Ok(res)
}

/// One of the user's tokens with the projects chosen for it.
pub(super) async fn find_mine_with_projects(
    state: &AppState,
    user: &DashboardUser,
    id: TokenId,
) -> Result<(TokenRow, Chosen), AppError> {
    let user_id = user.user.id.clone();
    Ok(db::query(&state.pool, move |conn| {
        let row = tokens::find_mine(conn, &user_id, &id)?;
        let chosen = tokens::chosen_projects(conn, std::slice::from_ref(&row.id))?;
        Ok((row, chosen))
    })
    .await?)
}

async fn confirm_revoke(
    user: DashboardUser,
    state: web::Data<AppState>,
    id: web::Path<TokenId>,
) -> Result<HttpResponse, HtmlError> {
    let (row, chosen) = find_mine_with_projects(&state, &user, id.into_inner()).await?;
    let token = TokenView::new(&row, state.clock.now(), &chosen);
    // Nothing left to confirm: the list says it is revoked.
    if !token.revocable {
        return Ok(see_other(TOKENS_PAGE));
    }
    page(&RevokePage {
        layout: user.layout(),
        token,
    })
}

#[derive(Deserialize)]
struct RevokeForm {
    csrf_token: Option<String>,
}

async fn revoke(
    user: DashboardUser,
    state: web::Data<AppState>,
    id: web::Path<TokenId>,
    Form(form): Form<RevokeForm>,
) -> Result<HttpResponse, HtmlError> {
    user.check_csrf(form.csrf_token.as_deref())?;
    let row = ops::tokens::revoke(
        &state,
        &requester(user.request(), &user.user.id)?,
        id.into_inner(),
    )
    .await?;
    let message = format!(
        "Revoked “{}”. Any client still using it now gets 401.",
        row.name
    );
    user.session()
        .insert(FLASH, message)
        .map_err(AppError::from)?;
    Ok(see_other(TOKENS_PAGE))
}

/// Post/redirect/get to the reveal page, which shows the plaintext once: sealed in the
/// database, its key in a cookie only the browser holds (`auth::reveal`).
pub(super) async fn reveal_once(
    state: &AppState,
    user: &DashboardUser,
    issued: Issued,
) -> Result<HttpResponse, AppError> {
    let id = &issued.token.id;
    let now = state.clock.now();
    let key = state
        .reveals
        .hold(&state.pool, &user.user.id, id, issued.plain, now)
        .await?;
    Ok(HttpResponse::SeeOther()
        .insert_header(("Location", crate::auth::reveal::page(id)))
        .cookie(key)
        .finish())
}
