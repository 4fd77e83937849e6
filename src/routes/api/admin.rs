//! `/api/admin/...` (SPEC §9): what an instance admin sees and does. Every handler takes an
//! `AdminCaller` (a session of an admin account: a token gets 403 `session_required`, anyone
//! else 403 `forbidden`); every change goes through `ops::admin`, which also asks for a recent
//! password.

use actix_web::{delete, get, post, put, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::security_log::csv_table;
use super::tokens::TokenJson;
use super::{utc, Json, Page};
use crate::auth::AdminCaller;
use crate::db::models::tokens::{self, TokenRow, TokenStatus};
use crate::db::models::{settings, users};
use crate::db::{self};
use crate::domain::{AdminRevocation, Cursor, Email, InstancePolicy, UserId};
use crate::error::AppError;
use crate::ops;
use crate::routes::inventory::{inventory_query, InventoryQuery};
use crate::state::AppState;

super::resource!(
    list_users,
    suspend,
    reactivate,
    delete_user,
    list_tokens,
    revoke_tokens,
    shorten_tokens,
    token_policy,
    set_token_policy
);

/// An account as an admin sees it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = AdminUser)]
pub struct AdminUserJson {
    id: UserId,
    #[schema(value_type = String, format = Email)]
    email: Email,
    created_at: DateTime<Utc>,
    /// The last sign-in the security log still remembers (a year); null if none.
    last_login_at: Option<DateTime<Utc>>,
    /// Its tokens that are not revoked.
    token_count: i64,
    /// An instance admin.
    admin: bool,
    /// When an admin suspended it; null while it may be used.
    suspended_at: Option<DateTime<Utc>>,
}

/// List every account.
///
/// Newest first, with its last sign-in, how many tokens it holds and whether it is an
/// admin. For instance admins, with a dashboard session.
#[utoipa::path(
    tag = "admin",
    params(Page),
    security(("session" = [])),
    responses((status = 200, description = "A page of accounts.", body = [AdminUserJson], headers(
        ("Link" = String, description = "`<…>; rel=\"next\"` while more remain."),
    ))),
)]
#[get("/users")]
async fn list_users(
    _admin: AdminCaller,
    state: web::Data<AppState>,
    page: Page,
) -> Result<HttpResponse, AppError> {
    let request = page.request()?;
    let (rows, overview) = db::query(&state.pool, move |conn| {
        let rows = users::list(conn, &request)?;
        let ids: Vec<UserId> = rows.iter().map(|u| u.id.clone()).collect();
        Ok::<_, diesel::result::Error>((rows, users::overview(conn, &ids)?))
    })
    .await?;
    let (rows, next) = page.cut(rows, |u| {
        Cursor::new(Some(u.created_at), u.id.as_str().to_owned())
    });
    let items: Vec<AdminUserJson> = rows
        .into_iter()
        .map(|u| {
            let (token_count, last_login) = overview.get(&u.id).copied().unwrap_or_default();
            AdminUserJson {
                created_at: utc(u.created_at),
                last_login_at: last_login.map(utc),
                token_count,
                admin: u.admin,
                suspended_at: u.suspended_at.map(utc),
                id: u.id,
                email: u.email,
            }
        })
        .collect();
    Ok(page.respond(&items, next))
}

/// A token in the credentials inventory: as its owner's list shows it, and whose it is.
#[derive(Serialize, ToSchema)]
#[schema(as = AdminToken)]
#[serde(rename_all = "camelCase")]
pub struct AdminTokenJson {
    #[serde(flatten)]
    token: TokenJson,
    owner: OwnerJson,
    /// For a working token that the instance's token policy would not let be made now: the
    /// rule it breaks; else null. "Shorten to the maximum" fixes a lifetime that is too long.
    exceeds_policy: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = TokenOwner)]
pub struct OwnerJson {
    id: UserId,
    #[schema(value_type = String, format = Email)]
    email: Email,
}

/// The credentials inventory.
///
/// Every token of every account, newest first — active, expired or revoked, never a secret —
/// with its owner; narrowed by the filters given, paged, as JSON or (`?format=csv`) CSV. For
/// instance admins, with a dashboard session.
#[utoipa::path(
    tag = "admin",
    params(InventoryQuery, Page),
    security(("session" = [])),
    responses((status = 200, description = "A page of tokens, as JSON or CSV.",
        content(
            ([AdminTokenJson] = "application/json"),
            (String = "text/csv"),
        ),
        headers(("Link" = String, description = "`<…>; rel=\"next\"` while more remain.")),
    )),
)]
#[get("/tokens")]
async fn list_tokens(
    _admin: AdminCaller,
    req: HttpRequest,
    state: web::Data<AppState>,
    page: Page,
) -> Result<HttpResponse, AppError> {
    let (filter, csv) = inventory_query(&req)?;
    let request = page.request()?;
    let now = state.clock.now();
    let (rows, chosen, policy) = db::query(&state.pool, move |conn| {
        let rows = tokens::inventory(conn, &filter, &request, now)?;
        let ids: Vec<_> = rows.iter().map(|(t, _)| t.id.clone()).collect();
        let chosen = tokens::chosen_projects(conn, &ids)?;
        Ok::<_, diesel::result::Error>((rows, chosen, settings::token_policy(conn)?))
    })
    .await?;
    let (rows, next) = page.cut(rows, |(t, _)| TokenRow::cursor(t));
    let items: Vec<AdminTokenJson> = rows
        .into_iter()
        .map(|(token, owner)| {
            let projects = tokens::selection_of(&token, &chosen);
            let exceeds_policy = (token.status(now) == TokenStatus::Active)
                .then(|| {
                    let scopes = token.scopes.iter().count();
                    policy
                        .check(token.created_at, token.expires_at, scopes)
                        .err()
                })
                .flatten()
                .map(|breach| breach.to_string());
            AdminTokenJson {
                exceeds_policy,
                token: TokenJson::new(token, projects, now),
                owner: OwnerJson {
                    id: owner.id.clone(),
                    email: owner.email.clone(),
                },
            }
        })
        .collect();
    if !csv {
        return Ok(page.respond(&items, next));
    }
    Ok(page
        .respond_with(next)
        .content_type("text/csv; charset=utf-8")
        .insert_header(("Content-Disposition", "attachment; filename=\"tokens.csv\""))
        .body(inventory_csv(&items)?))
}

/// The inventory as CSV: each token's JSON fields as columns, lists as JSON.
fn inventory_csv(items: &[AdminTokenJson]) -> Result<String, AppError> {
    const COLUMNS: [&str; 15] = [
        "id",
        "ownerEmail",
        "name",
        "prefix",
        "scopes",
        "projects",
        "status",
        "createdAt",
        "expiresAt",
        "lastUsedAt",
        "lastUsedIp",
        "revokedAt",
        "revokedReason",
        "allowedIps",
        "exceedsPolicy",
    ];
    let mut rows = Vec::with_capacity(items.len());
    for item in items {
        let value = serde_json::to_value(item).map_err(|e| AppError::Internal(e.into()))?;
        let field = |name: &str| match &value[name] {
            serde_json::Value::Null => String::new(),
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let mut row: Vec<String> = COLUMNS.iter().map(|c| field(c)).collect();
        row[1] = item.owner.email.to_string();
        rows.push(row);
    }
    Ok(csv_table(&COLUMNS, rows.into_iter()))
}

#[derive(Deserialize, ToSchema)]
#[schema(as = AdminRevocation)]
struct RevocationBody {
    /// The tokens: 1 to 100 ids. Unknown ones and tokens already stopped are skipped.
    #[serde(default)]
    ids: Vec<String>,
    /// Why: 1 to 500 characters, told to each owner.
    #[serde(default)]
    reason: String,
}

#[derive(Serialize, ToSchema)]
#[schema(as = AdminRevoked)]
struct RevokedJson {
    /// How many tokens stopped working now.
    revoked: usize,
}

/// Revoke anyone's tokens.
///
/// Revokes those of the tokens that still work, at once on every instance; each owner gets a
/// notification and a mail with the reason, and the revocation is in their security log and
/// the admin's. Needs the password entered within 10 minutes.
#[utoipa::path(
    tag = "admin",
    request_body = RevocationBody,
    security(("session" = [], "csrf" = [])),
    responses((status = 200, description = "How many were revoked.", body = RevokedJson)),
)]
#[post("/tokens/revoke")]
async fn revoke_tokens(
    admin: AdminCaller,
    req: HttpRequest,
    state: web::Data<AppState>,
    body: Json<RevocationBody>,
) -> Result<HttpResponse, AppError> {
    let revocation = AdminRevocation::parse(&body.ids, &body.reason)
        .map_err(|(field, message)| AppError::validation(field, message))?;
    let by = super::super::requester(&req, &admin.user.id)?;
    let revoked = ops::admin::revoke_tokens(&state, &by, revocation).await?;
    Ok(HttpResponse::Ok().json(RevokedJson { revoked }))
}

/// Suspend an account.
///
/// Its sessions end now, every one of its tokens answers 401 `account_suspended` from the
/// very next request on every instance, and its sign-ins are refused, until it is
/// reactivated. Not your own account (422). Needs the password entered within 10 minutes.
#[utoipa::path(
    tag = "admin",
    params(("id" = String, Path, format = Uuid, description = "The account.")),
    security(("session" = [], "csrf" = [])),
    responses(
        (status = 204, description = "Suspended (or already was)."),
        (status = 404, description = "No such account."),
    ),
)]
#[post("/users/{id}/suspend")]
async fn suspend(
    admin: AdminCaller,
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    suspension(admin, req, state, id, true).await
}

/// Reactivate a suspended account.
///
/// Its tokens work again and it may sign in. Needs the password entered within 10 minutes.
#[utoipa::path(
    tag = "admin",
    params(("id" = String, Path, format = Uuid, description = "The account.")),
    security(("session" = [], "csrf" = [])),
    responses(
        (status = 204, description = "Reactivated (or was not suspended)."),
        (status = 404, description = "No such account."),
    ),
)]
#[post("/users/{id}/reactivate")]
async fn reactivate(
    admin: AdminCaller,
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    suspension(admin, req, state, id, false).await
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = AdminDeletion)]
struct DeletionBody {
    /// Another admin's account, to receive the projects this one alone owns; needed only
    /// when there are any.
    #[schema(value_type = Option<String>, format = Uuid)]
    #[serde(default)]
    transfer_to: Option<String>,
}

/// Delete an account.
///
/// Its working tokens are revoked at once on every instance, its sessions end, the projects
/// it alone owns go to the admin named by `transferTo`, it leaves every other project, and it
/// is anonymised: no security log names its email any more, its own keeps no addresses. What
/// it made in projects stays. Not your own account, nor the last admin (422); 422 naming
/// `transferTo` while it alone owns projects and no other working admin account is named.
/// Needs the password entered within 10 minutes.
#[utoipa::path(
    tag = "admin",
    params(("id" = String, Path, format = Uuid, description = "The account.")),
    request_body = DeletionBody,
    security(("session" = [], "csrf" = [])),
    responses(
        (status = 204, description = "Deleted."),
        (status = 404, description = "No such account (or already deleted)."),
    ),
)]
#[delete("/users/{id}")]
async fn delete_user(
    admin: AdminCaller,
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: Json<DeletionBody>,
) -> Result<HttpResponse, AppError> {
    let id = UserId::parse(&id).ok_or(AppError::NotFound)?;
    let transfer_to = match body.transfer_to.as_deref() {
        None => None,
        Some(raw) => Some(
            UserId::parse(raw)
                .ok_or_else(|| AppError::validation("transferTo", "Name an account by its id."))?,
        ),
    };
    let by = crate::routes::requester(&req, &admin.user.id)?;
    ops::admin::delete_account(&state, &by, id, transfer_to).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn suspension(
    admin: AdminCaller,
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    suspended: bool,
) -> Result<HttpResponse, AppError> {
    let id = UserId::parse(&id).ok_or(AppError::NotFound)?;
    let by = crate::routes::requester(&req, &admin.user.id)?;
    ops::admin::set_suspended(&state, &by, id, suspended).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, ToSchema)]
#[schema(as = AdminShortening)]
struct ShorteningBody {
    /// The tokens: 1 to 100 ids. Unknown ones, stopped ones and those within the maximum are
    /// skipped.
    #[serde(default)]
    ids: Vec<String>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = AdminShortened)]
struct ShortenedJson {
    /// How many tokens now expire earlier.
    shortened: usize,
}

/// Shorten tokens to the instance's maximum lifetime.
///
/// Each working token that outlives the maximum lifetime of the instance's token policy now
/// expires at its creation plus that maximum — at once, if that has passed. Logged for each
/// owner and for the admin. 422 while the policy has no maximum lifetime. Needs the password
/// entered within 10 minutes.
#[utoipa::path(
    tag = "admin",
    request_body = ShorteningBody,
    security(("session" = [], "csrf" = [])),
    responses((status = 200, description = "How many were shortened.", body = ShortenedJson)),
)]
#[post("/tokens/shorten")]
async fn shorten_tokens(
    admin: AdminCaller,
    req: HttpRequest,
    state: web::Data<AppState>,
    body: Json<ShorteningBody>,
) -> Result<HttpResponse, AppError> {
    let ids = AdminRevocation::token_ids(&body.ids)
        .map_err(|(field, message)| AppError::validation(field, message))?;
    let by = crate::routes::requester(&req, &admin.user.id)?;
    let shortened = ops::admin::shorten_tokens(&state, &by, ids).await?;
    Ok(HttpResponse::Ok().json(ShortenedJson { shortened }))
}

/// The instance's token policy as the API shows it: SPEC §9's fields.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = InstanceTokenPolicy)]
struct PolicyJson {
    #[serde(flatten)]
    policy: InstancePolicy,
}

impl From<InstancePolicy> for PolicyJson {
    fn from(policy: InstancePolicy) -> Self {
        PolicyJson { policy }
    }
}

/// The instance's token policy.
///
/// What every new or regenerated token must respect. For instance admins, with a dashboard
/// session.
#[utoipa::path(
    tag = "admin",
    security(("session" = [])),
    responses((status = 200, description = "The policy.", body = PolicyJson)),
)]
#[get("/token-policy")]
async fn token_policy(
    _admin: AdminCaller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let policy = db::query(&state.pool, settings::token_policy).await?;
    Ok(HttpResponse::Ok().json(PolicyJson::from(policy)))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = InstanceTokenPolicyChange)]
struct PolicyBody {
    /// The longest a new or regenerated token may live: 1 to 366 days; null or absent: no
    /// limit.
    #[schema(minimum = 1, maximum = 366)]
    #[serde(default, deserialize_with = "super::projects::whole_number")]
    max_lifetime_days: Option<i64>,
    /// Whether a token may never expire; absent: true. Must be false with a maximum lifetime.
    #[serde(default = "yes")]
    allow_never: bool,
    /// The most scopes one token may hold: 1 to 5; null or absent: no limit.
    #[schema(minimum = 1, maximum = 5)]
    #[serde(default, deserialize_with = "super::projects::whole_number")]
    max_scopes: Option<i64>,
    /// Whether only accounts with a second factor (SPEC §3.1) may be given new or regenerated
    /// tokens; absent: false.
    #[serde(default)]
    require_second_factor: bool,
}

fn yes() -> bool {
    true
}

/// Set the instance's token policy.
///
/// From now on a token that breaks it is not made: creating or regenerating one answers 403
/// `token_policy` naming the rule. Tokens made before keep working; the inventory marks those
/// that exceed it (`exceedsPolicy`). Needs the password entered within 10 minutes.
#[utoipa::path(
    tag = "admin",
    request_body = PolicyBody,
    security(("session" = [], "csrf" = [])),
    responses((status = 200, description = "The policy now.", body = PolicyJson)),
)]
#[put("/token-policy")]
async fn set_token_policy(
    admin: AdminCaller,
    req: HttpRequest,
    state: web::Data<AppState>,
    body: Json<PolicyBody>,
) -> Result<HttpResponse, AppError> {
    let policy = InstancePolicy::new(
        body.max_lifetime_days,
        body.allow_never,
        body.max_scopes,
        body.require_second_factor,
    )
    .map_err(|(field, message)| AppError::validation(field, message))?;
    let by = crate::routes::requester(&req, &admin.user.id)?;
    ops::admin::set_token_policy(&state, &by, policy).await?;
    Ok(HttpResponse::Ok().json(PolicyJson::from(policy)))
}
