//! `/admin` (SPEC §9): an instance admin's screens — the credentials inventory (filter,
//! revoke with a reason, shorten to the policy's maximum), the accounts (suspend, reactivate,
//! delete with a heir for their projects) and the instance's token policy. Every page asks
//! `auth::admin::require_admin` first (403 for anyone else); every change is a form that asks
//! for the password when it is not recent (`reauth`) and calls `ops::admin`, as the JSON API
//! does.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::{Deserialize, Serialize};

use super::reauth::ensure_recent_password;
use super::time::When;
use super::token_view::TokenView;
use super::{
    page, page_with_status, see_other, take_flash, DashboardUser, FormWithFields, HtmlError,
    Layout, FLASH,
};
use crate::auth::admin::require_admin;
use crate::db::models::tokens::{self, TokenRow, TokenStatus};
use crate::db::models::users::{self, User};
use crate::db::models::{offboarding, settings};
use crate::db::{self};
use crate::domain::{
    AdminRevocation, Cursor, InstancePolicy, PageRequest, PolicyBreach, Scope, ScopeCount, TokenId,
    UserId,
};
use crate::error::AppError;
use crate::ops;
use crate::routes::inventory::inventory_query;
use crate::routes::requester;
use crate::state::AppState;

super::pages!(
    GET "/admin" => home,
    GET "/admin/tokens" => tokens_page,
    POST "/admin/tokens/revoke" => revoke_tokens,
    POST "/admin/tokens/shorten" => shorten_tokens,
    GET "/admin/users" => users_page,
    GET "/admin/users/{id}/suspend" => confirm_suspend,
    POST "/admin/users/{id}/suspend" => suspend,
    POST "/admin/users/{id}/reactivate" => reactivate,
    GET "/admin/users/{id}/delete" => confirm_delete,
    POST "/admin/users/{id}/delete" => delete,
    GET "/admin/settings" => settings_form,
    POST "/admin/settings" => set_settings,
);

const TOKENS: &str = "/admin/tokens";
const USERS: &str = "/admin/users";
const SETTINGS: &str = "/admin/settings";
/// Rows on each page of the inventory and of the accounts.
const PER_PAGE: i64 = 50;

/// The signed-in person, if an instance admin; else 403.
fn admin(user: &DashboardUser) -> Result<(), AppError> {
    require_admin(Arc::new(user.user.clone())).map(drop)
}

/// A page's request from `?cursor=`, fifty rows at a time.
fn page_of(cursor: Option<&str>) -> Result<PageRequest, AppError> {
    PageRequest::parse(Some(&PER_PAGE.to_string()), cursor)
        .map_err(|e| AppError::validation("cursor", e.to_string()))
}

/// The admin screens' tabs, the current one marked.
fn tabs(current: &str) -> Vec<(&'static str, &'static str, bool)> {
    [
        (TOKENS, "Tokens"),
        (USERS, "Accounts"),
        (SETTINGS, "Token policy"),
    ]
    .into_iter()
    .map(|(href, label)| (href, label, href == current))
    .collect()
}

async fn home(user: DashboardUser) -> Result<HttpResponse, HtmlError> {
    admin(&user)?;
    Ok(see_other(TOKENS))
}

/// The inventory's filters as typed, to fill the form again and to keep in the page links.
#[derive(Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct Filters {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    owner: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    status: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    scope: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    expires_within_days: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    never_expires: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    unused_for_days: String,
    #[serde(default, skip_serializing)]
    cursor: Option<String>,
}

struct InventoryRow {
    token: TokenView,
    owner: String,
    /// The rule of the instance's token policy it breaks, in short (working tokens only).
    exceeds: Option<String>,
    /// Whether "Shorten to the maximum" would fix it.
    shortenable: bool,
}

#[derive(Template)]
#[template(path = "admin/tokens.html")]
struct TokensPage {
    layout: Layout,
    tabs: Vec<(&'static str, &'static str, bool)>,
    rows: Vec<InventoryRow>,
    filters: Filters,
    statuses: [&'static str; 3],
    scopes: Vec<&'static str>,
    /// The filters as a query (`owner=…&`), for the links.
    query: String,
    more: Option<String>,
    flash: Option<String>,
    error: Option<String>,
    /// The revocation's reason as typed, after a refusal.
    reason: String,
}

async fn inventory(
    user: &DashboardUser,
    state: &AppState,
    req: &HttpRequest,
    error: Option<String>,
) -> Result<TokensPage, AppError> {
    admin(user)?;
    let (filter, _) = inventory_query(req)?;
    let filters: Filters = serde_html_form::from_str(req.query_string()).unwrap_or_default();
    let request = page_of(filters.cursor.as_deref())?;
    let (now, read) = (state.clock.now(), request.clone());
    let (rows, chosen, policy) = db::query(&state.pool, move |conn| {
        let rows = tokens::inventory(conn, &filter, &read, now)?;
        let ids: Vec<_> = rows.iter().map(|(t, _)| t.id.clone()).collect();
        let chosen = tokens::chosen_projects(conn, &ids)?;
        Ok::<_, diesel::result::Error>((rows, chosen, settings::token_policy(conn)?))
    })
    .await?;
    let (rows, more) = request.cut(rows, |(t, _)| TokenRow::cursor(t));
    let rows = rows
        .iter()
        .map(|(token, owner)| {
            let working = token.status(now) == TokenStatus::Active;
            let breach = policy
                .check(
                    token.created_at,
                    token.expires_at,
                    token.scopes.iter().count(),
                )
                .err()
                .filter(|_| working);
            let outlives = policy
                .latest_expiry(token.created_at)
                .is_some_and(|latest| token.expires_at.is_none_or(|at| at > latest));
            InventoryRow {
                token: TokenView::new(token, now, &chosen),
                owner: owner.email.to_string(),
                shortenable: working && outlives,
                exceeds: breach.map(beyond),
            }
        })
        .collect();
    let query = serde_html_form::to_string(&filters)
        .map(|q| if q.is_empty() { q } else { q + "&" })
        .unwrap_or_default();
    Ok(TokensPage {
        layout: user.layout(),
        tabs: tabs(TOKENS),
        rows,
        filters,
        statuses: ["active", "expired", "revoked"],
        scopes: Scope::ALL.map(Scope::as_str).to_vec(),
        query,
        more: more.map(|c| c.encode()),
        flash: take_flash(&user.session()),
        error,
        reason: String::new(),
    })
}

/// The rule a token breaks, in the few words an inventory row has room for.
fn beyond(breach: PolicyBreach) -> String {
    match breach {
        PolicyBreach::InstanceTooLong(days) => format!("lives longer than {days} days"),
        PolicyBreach::InstanceNever => "never expires".to_owned(),
        PolicyBreach::TooManyScopes(n) => format!("more than {n} scopes"),
        other => other.to_string(),
    }
}

async fn tokens_page(
    user: DashboardUser,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, HtmlError> {
    page(&inventory(&user, &state, &req, None).await?)
}

/// Both inventory forms: the tokens chosen, and for a revocation its reason (the shorten form
/// sends none).
#[derive(Deserialize)]
struct TokensForm {
    #[serde(default)]
    ids: Vec<String>,
    #[serde(default)]
    reason: String,
    csrf_token: Option<String>,
}

async fn revoke_tokens(
    user: DashboardUser,
    state: web::Data<AppState>,
    req: HttpRequest,
    FormWithFields(form, fields): FormWithFields<TokensForm>,
) -> Result<HttpResponse, HtmlError> {
    let change = AdminRevocation::parse(&form.ids, &form.reason).map(TokensChange::Revoke);
    change_tokens(
        user,
        &state,
        &req,
        &fields,
        form.csrf_token,
        change,
        form.reason,
    )
    .await
}

async fn shorten_tokens(
    user: DashboardUser,
    state: web::Data<AppState>,
    req: HttpRequest,
    FormWithFields(form, fields): FormWithFields<TokensForm>,
) -> Result<HttpResponse, HtmlError> {
    let change = AdminRevocation::token_ids(&form.ids).map(TokensChange::Shorten);
    change_tokens(
        user,
        &state,
        &req,
        &fields,
        form.csrf_token,
        change,
        form.reason,
    )
    .await
}

/// What the inventory's forms do to the tokens chosen.
enum TokensChange {
    Revoke(AdminRevocation),
    Shorten(Vec<TokenId>),
}

/// Both inventory forms: admins only, the CSRF token, the form's fields as read, the password
/// when it is not recent, then the change; on success back to the inventory with what was
/// done, on a field error the inventory again with it (and the reason as typed).
async fn change_tokens(
    user: DashboardUser,
    state: &AppState,
    req: &HttpRequest,
    fields: &[(String, String)],
    csrf_token: Option<String>,
    change: Result<TokensChange, (&'static str, &'static str)>,
    reason: String,
) -> Result<HttpResponse, HtmlError> {
    admin(&user)?;
    user.check_csrf(csrf_token.as_deref())?;
    let done = match change {
        Ok(change) => {
            let (what, action) = match change {
                TokensChange::Revoke(_) => ("Revoking these tokens", format!("{TOKENS}/revoke")),
                TokensChange::Shorten(_) => ("Shortening this token", format!("{TOKENS}/shorten")),
            };
            let prompt = ensure_recent_password(&user, state, what, &action, TOKENS, fields);
            if let Some(prompt) = prompt.await? {
                return Ok(prompt);
            }
            let by = requester(user.request(), &user.user.id)?;
            match change {
                TokensChange::Revoke(revocation) => {
                    ops::admin::revoke_tokens(state, &by, revocation)
                        .await
                        .map(|n| format!("Revoked {n} token(s); each owner was told why."))
                }
                TokensChange::Shorten(ids) => ops::admin::shorten_tokens(state, &by, ids)
                    .await
                    .map(|n| format!("Shortened {n} token(s) to the policy's maximum lifetime.")),
            }
        }
        Err((field, message)) => Err(AppError::validation(field, message)),
    };
    match done {
        Ok(message) => {
            user.session()
                .insert(FLASH, message)
                .map_err(AppError::from)?;
            Ok(see_other(TOKENS))
        }
        Err(AppError::Validation(fields)) => {
            let error = fields.into_values().next();
            let mut again = inventory(&user, state, req, error).await?;
            again.reason = reason;
            page_with_status(&again, StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(e) => Err(e.into()),
    }
}

struct AccountRow {
    id: UserId,
    email: String,
    created: When,
    last_login: Option<When>,
    tokens: i64,
    admin: bool,
    suspended: bool,
    /// The admin's own row: no suspend or delete.
    me: bool,
}

#[derive(Template)]
#[template(path = "admin/users.html")]
struct UsersPage {
    layout: Layout,
    tabs: Vec<(&'static str, &'static str, bool)>,
    rows: Vec<AccountRow>,
    more: Option<String>,
    flash: Option<String>,
}

#[derive(Deserialize)]
struct CursorQuery {
    cursor: Option<String>,
}

async fn users_page(
    user: DashboardUser,
    state: web::Data<AppState>,
    query: web::Query<CursorQuery>,
) -> Result<HttpResponse, HtmlError> {
    admin(&user)?;
    let request = page_of(query.cursor.as_deref())?;
    let (now, read) = (state.clock.now(), request.clone());
    let (rows, overview) = db::query(&state.pool, move |conn| {
        let rows = users::list(conn, &read)?;
        let ids: Vec<UserId> = rows.iter().map(|u| u.id.clone()).collect();
        Ok::<_, diesel::result::Error>((rows, users::overview(conn, &ids)?))
    })
    .await?;
    let (rows, more) = request.cut(rows, |u| {
        Cursor::new(Some(u.created_at), u.id.as_str().to_owned())
    });
    let rows = rows
        .into_iter()
        .map(|u| {
            let (tokens, last_login) = overview.get(&u.id).copied().unwrap_or_default();
            AccountRow {
                email: u.email.to_string(),
                created: When::new(u.created_at, now),
                last_login: last_login.map(|at| When::new(at, now)),
                tokens,
                admin: u.admin,
                suspended: u.suspended_at.is_some(),
                me: u.id == user.user.id,
                id: u.id,
            }
        })
        .collect();
    page(&UsersPage {
        layout: user.layout(),
        tabs: tabs(USERS),
        rows,
        more: more.map(|c| c.encode()),
        flash: take_flash(&user.session()),
    })
}

/// The account an admin acts on; a deleted one is not found.
async fn account(state: &AppState, id: &str) -> Result<User, AppError> {
    let id = UserId::parse(id).ok_or(AppError::NotFound)?;
    db::query(&state.pool, move |conn| {
        if offboarding::is_deleted(conn, &id)? {
            return Ok(None);
        }
        User::find(conn, &id)
    })
    .await?
    .ok_or(AppError::NotFound)
}

#[derive(Template)]
#[template(path = "admin/suspend.html")]
struct SuspendPage {
    layout: Layout,
    account: User,
}

async fn confirm_suspend(
    user: DashboardUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, HtmlError> {
    admin(&user)?;
    let account = account(&state, &id).await?;
    page(&SuspendPage {
        layout: user.layout(),
        account,
    })
}

#[derive(Deserialize)]
struct ButtonForm {
    csrf_token: Option<String>,
}

async fn suspend(
    user: DashboardUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    form: FormWithFields<ButtonForm>,
) -> Result<HttpResponse, HtmlError> {
    suspension(user, state, id, form, true).await
}

async fn reactivate(
    user: DashboardUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    form: FormWithFields<ButtonForm>,
) -> Result<HttpResponse, HtmlError> {
    suspension(user, state, id, form, false).await
}

async fn suspension(
    user: DashboardUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    FormWithFields(form, fields): FormWithFields<ButtonForm>,
    suspend: bool,
) -> Result<HttpResponse, HtmlError> {
    admin(&user)?;
    user.check_csrf(form.csrf_token.as_deref())?;
    let account = account(&state, &id).await?;
    let (what, verb) = if suspend {
        ("Suspending this account", "suspend")
    } else {
        ("Reactivating this account", "reactivate")
    };
    let action = format!("{USERS}/{}/{verb}", account.id);
    let prompt = ensure_recent_password(&user, &state, what, &action, USERS, &fields);
    if let Some(prompt) = prompt.await? {
        return Ok(prompt);
    }
    let by = requester(user.request(), &user.user.id)?;
    ops::admin::set_suspended(&state, &by, account.id.clone(), suspend).await?;
    let done = if suspend { "suspended" } else { "reactivated" };
    let message = format!("{} is {done}.", account.email);
    user.session()
        .insert(FLASH, message)
        .map_err(AppError::from)?;
    Ok(see_other(USERS))
}

#[derive(Template)]
#[template(path = "admin/delete.html")]
struct DeletePage {
    layout: Layout,
    account: User,
    /// How many projects it alone owns: they need a heir.
    orphans: usize,
    heirs: Vec<User>,
    error: Option<String>,
}

async fn delete_page(
    user: &DashboardUser,
    state: &AppState,
    id: &str,
    error: Option<String>,
) -> Result<DeletePage, AppError> {
    admin(user)?;
    let account = account(state, id).await?;
    let target = account.id.clone();
    let (orphans, heirs) = db::query(&state.pool, move |conn| {
        let orphans = offboarding::sole_owned(conn, &target)?.len();
        Ok::<_, diesel::result::Error>((orphans, offboarding::heirs(conn, &target)?))
    })
    .await?;
    Ok(DeletePage {
        layout: user.layout(),
        account,
        orphans,
        heirs,
        error,
    })
}

async fn confirm_delete(
    user: DashboardUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, HtmlError> {
    page(&delete_page(&user, &state, &id, None).await?)
}

#[derive(Deserialize)]
struct DeleteForm {
    transfer_to: Option<String>,
    csrf_token: Option<String>,
}

async fn delete(
    user: DashboardUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    FormWithFields(form, fields): FormWithFields<DeleteForm>,
) -> Result<HttpResponse, HtmlError> {
    admin(&user)?;
    user.check_csrf(form.csrf_token.as_deref())?;
    let account = account(&state, &id).await?;
    let action = format!("{USERS}/{}/delete", account.id);
    let prompt = ensure_recent_password(
        &user,
        &state,
        "Deleting this account",
        &action,
        USERS,
        &fields,
    );
    if let Some(prompt) = prompt.await? {
        return Ok(prompt);
    }
    let transfer_to = form
        .transfer_to
        .as_deref()
        .filter(|t| !t.is_empty())
        .and_then(UserId::parse);
    let by = requester(user.request(), &user.user.id)?;
    match ops::admin::delete_account(&state, &by, account.id.clone(), transfer_to).await {
        Ok(()) => {
            let message = format!("{} is deleted.", account.email);
            user.session()
                .insert(FLASH, message)
                .map_err(AppError::from)?;
            Ok(see_other(USERS))
        }
        Err(AppError::Validation(fields)) => {
            let error = fields.into_values().next();
            let again = delete_page(&user, &state, &id, error).await?;
            page_with_status(&again, StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "admin/settings.html")]
struct SettingsPage {
    layout: Layout,
    tabs: Vec<(&'static str, &'static str, bool)>,
    max_lifetime_days: String,
    allow_never: bool,
    require_second_factor: bool,
    max_scopes: String,
    most_scopes: usize,
    /// The field refused, and why.
    error: Option<(&'static str, String)>,
    flash: Option<String>,
}

impl SettingsPage {
    fn field_error(&self, field: &str) -> Option<&str> {
        self.error
            .as_ref()
            .filter(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
    }
}

async fn settings_form(
    user: DashboardUser,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HtmlError> {
    admin(&user)?;
    let policy = db::query(&state.pool, settings::token_policy).await?;
    page(&SettingsPage {
        layout: user.layout(),
        tabs: tabs(SETTINGS),
        max_lifetime_days: policy
            .max_lifetime_days
            .map(|d| d.get().to_string())
            .unwrap_or_default(),
        allow_never: policy.allow_never,
        require_second_factor: policy.require_second_factor,
        max_scopes: policy
            .max_scopes
            .map(|n| n.get().to_string())
            .unwrap_or_default(),
        most_scopes: ScopeCount::MAX,
        error: None,
        flash: take_flash(&user.session()),
    })
}

#[derive(Deserialize)]
struct SettingsForm {
    #[serde(default)]
    max_lifetime_days: String,
    /// A checkbox: present when ticked.
    allow_never: Option<String>,
    /// A checkbox: present when ticked.
    require_second_factor: Option<String>,
    #[serde(default)]
    max_scopes: String,
    csrf_token: Option<String>,
}

/// An optional whole number as typed: empty is none; anything else but a number is the
/// field's error.
fn number(field: &'static str, raw: &str) -> Result<Option<i64>, (&'static str, String)> {
    match raw.trim() {
        "" => Ok(None),
        n => n
            .parse()
            .map(Some)
            .map_err(|_| (field, "Use a whole number, or leave it empty.".to_owned())),
    }
}

async fn set_settings(
    user: DashboardUser,
    state: web::Data<AppState>,
    FormWithFields(form, fields): FormWithFields<SettingsForm>,
) -> Result<HttpResponse, HtmlError> {
    admin(&user)?;
    user.check_csrf(form.csrf_token.as_deref())?;
    let allow_never = form.allow_never.is_some();
    let require_second_factor = form.require_second_factor.is_some();
    let policy = number("maxLifetimeDays", &form.max_lifetime_days).and_then(|days| {
        let scopes = number("maxScopes", &form.max_scopes)?;
        InstancePolicy::new(days, allow_never, scopes, require_second_factor)
    });
    let policy = match policy {
        Ok(policy) => policy,
        Err(error) => {
            let again = SettingsPage {
                layout: user.layout(),
                tabs: tabs(SETTINGS),
                max_lifetime_days: form.max_lifetime_days,
                allow_never,
                require_second_factor,
                max_scopes: form.max_scopes,
                most_scopes: ScopeCount::MAX,
                error: Some(error),
                flash: None,
            };
            return page_with_status(&again, StatusCode::UNPROCESSABLE_ENTITY);
        }
    };
    let what = "Changing the instance's token policy";
    let prompt = ensure_recent_password(&user, &state, what, SETTINGS, SETTINGS, &fields);
    if let Some(prompt) = prompt.await? {
        return Ok(prompt);
    }
    let by = requester(user.request(), &user.user.id)?;
    ops::admin::set_token_policy(&state, &by, policy).await?;
    let message = "Saved: new and regenerated tokens follow this policy.".to_owned();
    user.session()
        .insert(FLASH, message)
        .map_err(AppError::from)?;
    Ok(see_other(SETTINGS))
}
