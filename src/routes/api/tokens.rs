//! Token management over JSON — dashboard session only, so a token can never mint or revoke one.

use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{utc, Json, Page};
use crate::auth::SessionCaller;
use crate::db::models::token_activity::{self, RequestRow};
use crate::db::models::trusted_ci::{self, IssuedTo};
use crate::db::{self, models::tokens, models::tokens::TokenRow};
use crate::domain::{
    AllowedIps, Expiry, NewToken, ProjectSelection, RequestOutcome, RevokedReason, Rotation, Scope,
    Scopes, TokenId, TokenName,
};
use crate::error::AppError;
use crate::ops::{self, tokens::Issued};
use crate::routes::requester;
use crate::state::AppState;

super::resource!(list, create, show, activity, revoke, rotate);

/// A token as its owner sees it in the list; never the secret.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Token)]
pub struct TokenJson {
    id: TokenId,
    #[schema(value_type = String)]
    name: TokenName,
    /// `mm_pat_` and the first 4 characters after it: enough to recognise the token.
    prefix: String,
    scopes: Scopes,
    created_at: DateTime<Utc>,
    /// Null for a token that never expires.
    expires_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
    last_used_ip: Option<String>,
    /// When it stopped working — or, while a replaced token's grace lasts, when it will.
    revoked_at: Option<DateTime<Utc>>,
    revoked_reason: Option<RevokedReason>,
    replaced_by: Option<TokenId>,
    rotated_from: Option<TokenId>,
    /// The projects it may reach.
    projects: ProjectSelection,
    /// Where it may be used from; empty: anywhere.
    allowed_ips: AllowedIps,
    status: tokens::TokenStatus,
    /// Set on a token minted for a CI job by `POST /api/ci/exchange`: whom it was issued to.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    issued_to: Option<IssuedToJson>,
}

/// Whom the exchange issued a token to (SPEC §8.8): the verified issuer and subject of the CI
/// platform's token, and the claims its trust configuration required.
#[derive(Serialize, ToSchema)]
#[schema(as = IssuedTo)]
pub struct IssuedToJson {
    issuer: String,
    subject: String,
    #[schema(value_type = Object)]
    claims: serde_json::Map<String, serde_json::Value>,
}

impl From<IssuedTo> for IssuedToJson {
    fn from(to: IssuedTo) -> Self {
        IssuedToJson {
            issuer: to.issuer,
            subject: to.subject,
            claims: to.claims,
        }
    }
}

impl TokenJson {
    pub(super) fn new(
        row: tokens::TokenRow,
        projects: ProjectSelection,
        now: NaiveDateTime,
    ) -> Self {
        TokenJson {
            projects,
            allowed_ips: row.narrowing.allowed_ips.clone(),
            status: row.status(now),
            scopes: row.scopes,
            created_at: utc(row.created_at),
            expires_at: row.expires_at.map(utc),
            last_used_at: row.last_used_at.map(utc),
            revoked_at: row.revoked_at.map(utc),
            revoked_reason: row.revoked_reason,
            replaced_by: row.replaced_by,
            rotated_from: row.rotated_from,
            last_used_ip: row.last_used_ip,
            id: row.id,
            name: row.name,
            prefix: row.prefix,
            issued_to: None,
        }
    }

    /// The same token, marked with whom the exchange issued it to, when it did.
    pub(super) fn issued_to(mut self, to: Option<IssuedTo>) -> Self {
        self.issued_to = to.map(IssuedToJson::from);
        self
    }
}

/// List your tokens.
///
/// Every token of the signed-in account, newest first, active or not; never a secret.
#[utoipa::path(
    tag = "tokens",
    params(Page),
    security(("session" = [])),
    responses((status = 200, description = "A page of tokens.", body = [TokenJson], headers(
        ("Link" = String, description = "`<…>; rel=\"next\"` while more remain."),
    ))),
)]
#[get("")]
async fn list(
    SessionCaller(caller): SessionCaller,
    state: web::Data<AppState>,
    page: Page,
) -> Result<HttpResponse, AppError> {
    let request = page.request()?;
    let (rows, chosen, mut ci) = db::query(&state.pool, move |conn| {
        let rows = tokens::list(conn, &caller.user.id, tokens::Which::All, &request)?;
        let ids: Vec<_> = rows.iter().map(|r| r.id.clone()).collect();
        let chosen = tokens::chosen_projects(conn, &ids)?;
        Ok((rows, chosen, trusted_ci::issued_to(conn, &ids)?))
    })
    .await?;
    let (rows, next) = page.cut(rows, TokenRow::cursor);
    let now = state.clock.now();
    let items: Vec<_> = rows
        .into_iter()
        .map(|row| {
            let projects = tokens::selection_of(&row, &chosen);
            let to = ci.remove(&row.id);
            TokenJson::new(row, projects, now).issued_to(to)
        })
        .collect();
    Ok(page.respond(&items, next))
}

#[derive(Deserialize, ToSchema)]
#[schema(as = NewToken)]
struct NewTokenBody {
    /// What the token is for: 1 to 100 characters, unique among your live tokens.
    #[serde(default)]
    #[schema(schema_with = crate::domain::name::schema, required = true)]
    name: String,
    /// At least one.
    #[serde(default)]
    #[schema(value_type = Vec<Scope>, min_items = 1, required = true)]
    scopes: Vec<String>,
    /// `1m`, `6m`, `1y` (the default) or `never`: calendar months from now, UTC.
    #[schema(schema_with = expiry_schema)]
    expiry: Option<String>,
    /// `"all"` (the default): every project you are a member of, now and later; or the ids of
    /// the only projects it may reach, each one you are a member of.
    #[serde(default)]
    #[schema(value_type = Option<ProjectSelection>)]
    projects: ProjectsBody,
    /// Up to 20 IPv4 or IPv6 addresses or CIDR ranges the token may be used from; from
    /// anywhere else it gets 403 `ip_not_allowed`. Empty or absent: anywhere.
    #[serde(default, rename = "allowedIps")]
    #[schema(value_type = AllowedIps)]
    allowed_ips: Vec<String>,
}

/// `projects` as sent: the word `all`, or a list of ids.
#[derive(Deserialize, Default)]
#[serde(untagged)]
enum ProjectsBody {
    #[default]
    Missing,
    Word(String),
    Ids(Vec<String>),
}

impl ProjectsBody {
    /// `None` for all projects; a word other than `all` is refused as a field.
    fn chosen(&self) -> Result<Option<&[String]>, AppError> {
        match self {
            ProjectsBody::Missing => Ok(None),
            ProjectsBody::Word(w) if w == "all" => Ok(None),
            ProjectsBody::Word(_) => Err(AppError::validation(
                "projects",
                "Send \"all\" or a list of project ids.",
            )),
            ProjectsBody::Ids(ids) => Ok(Some(ids)),
        }
    }
}

/// The new token, with its secret: the only time the secret is ever shown.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = CreatedToken)]
pub(super) struct CreatedToken<'a> {
    id: TokenId,
    #[schema(value_type = String)]
    name: TokenName,
    prefix: String,
    scopes: Scopes,
    created_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
    /// The secret, `mm_pat_…`. Store it now: it is never shown again.
    #[schema(pattern = "^mm_pat_[0-9A-Za-z]{32}$")]
    token: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    rotated_from: Option<TokenId>,
    projects: ProjectSelection,
    allowed_ips: AllowedIps,
    /// Set when `POST /api/ci/exchange` minted it: whom it was issued to.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    issued_to: Option<IssuedToJson>,
}

impl<'a> CreatedToken<'a> {
    /// The one response that carries a plaintext token; like every answer it is `no-store`.
    pub(super) fn new(issued: &'a Issued) -> Self {
        let Issued {
            token: row,
            plain,
            projects,
        } = issued;
        CreatedToken {
            projects: projects.clone(),
            allowed_ips: row.narrowing.allowed_ips.clone(),
            scopes: row.scopes.clone(),
            created_at: utc(row.created_at),
            expires_at: row.expires_at.map(utc),
            id: row.id.clone(),
            name: row.name.clone(),
            prefix: row.prefix.clone(),
            token: plain.expose(),
            rotated_from: row.rotated_from.clone(),
            issued_to: None,
        }
    }

    /// A token the exchange minted, with whom it was issued to.
    pub(super) fn issued_to(mut self, to: IssuedTo) -> Self {
        self.issued_to = Some(to.into());
        self
    }
}

/// Create a token.
///
/// Answers the token's secret once; at most 100 live tokens per account. A token that never
/// expires or has the `domain` or `billing.read` scope needs the password entered within the
/// last 10 minutes (`POST /api/session/reauthenticate`), or the answer is 403
/// `reauthentication_required`.
#[utoipa::path(
    tag = "tokens",
    security(("session" = [], "csrf" = [])),
    responses((status = 201, description = "Created; the body carries the secret.", body = CreatedToken)),
)]
#[post("")]
async fn create(
    SessionCaller(caller): SessionCaller,
    req: HttpRequest,
    state: web::Data<AppState>,
    body: Json<NewTokenBody>,
) -> Result<HttpResponse, AppError> {
    let new = NewToken::validate(
        &body.name,
        &body.scopes,
        body.expiry.as_deref(),
        body.projects.chosen()?,
        &body.allowed_ips,
    )?;
    let by = requester(&req, &caller.user.id)?;
    let issued = ops::tokens::issue(&state, &by, new).await?;
    Ok(HttpResponse::Created().json(CreatedToken::new(&issued)))
}

/// An address a token was used from.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct AddressJson {
    ip: String,
    first_seen_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    count: i64,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct DayJson {
    /// `YYYY-MM-DD`, UTC.
    day: String,
    requests: i64,
}

/// Presentations of a token after it stopped working.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct AfterStopJson {
    count: i64,
    last_at: Option<DateTime<Utc>>,
    last_ip: Option<String>,
}

/// One token with its use (SPEC §8.3).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = TokenDetail)]
struct TokenDetail {
    #[serde(flatten)]
    token: TokenJson,
    /// Each address it was used from in the last 90 days, most recent first.
    addresses: Vec<AddressJson>,
    /// Requests a day over the last 30 days, oldest first.
    requests_per_day: Vec<DayJson>,
    /// Requests not recorded because the activity queue was full.
    unrecorded_requests: i64,
    /// Set once the token no longer works.
    presented_after_stop: Option<AfterStopJson>,
}

/// A token and its use.
///
/// Its settings, the addresses it was used from, its requests a day over 30 days and, once
/// it stopped working, how often it was still presented.
#[utoipa::path(
    tag = "tokens",
    params(("id" = TokenId, Path, description = "The token's id.")),
    security(("session" = [])),
    responses((status = 200, description = "The token.", body = TokenDetail)),
)]
#[get("/{id}")]
async fn show(
    SessionCaller(caller): SessionCaller,
    state: web::Data<AppState>,
    id: web::Path<TokenId>,
) -> Result<HttpResponse, AppError> {
    let now = state.clock.now();
    let (row, summary, chosen, mut ci) = db::query(&state.pool, move |conn| {
        let row = tokens::find_mine(conn, &caller.user.id, &id)?;
        let summary = token_activity::summary(conn, &row.id, row.stopped_at(now), now)?;
        let ids = std::slice::from_ref(&row.id);
        let chosen = tokens::chosen_projects(conn, ids)?;
        let ci = trusted_ci::issued_to(conn, ids)?;
        Ok((row, summary, chosen, ci))
    })
    .await?;
    let projects = tokens::selection_of(&row, &chosen);
    let to = ci.remove(&row.id);
    Ok(HttpResponse::Ok().json(TokenDetail {
        token: TokenJson::new(row, projects, now).issued_to(to),
        addresses: summary
            .addresses
            .into_iter()
            .map(|a| AddressJson {
                ip: a.ip,
                first_seen_at: utc(a.first_seen_at),
                last_seen_at: utc(a.last_seen_at),
                count: a.count,
            })
            .collect(),
        requests_per_day: summary
            .per_day
            .into_iter()
            .map(|(day, requests)| DayJson {
                day: day.to_string(),
                requests,
            })
            .collect(),
        unrecorded_requests: summary.unrecorded,
        presented_after_stop: summary.after_stop.map(|(count, last)| AfterStopJson {
            count,
            last_at: last.as_ref().map(|r| utc(r.at)),
            last_ip: last.and_then(|r| r.ip),
        }),
    }))
}

/// A request made with a token.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct RequestJson {
    at: DateTime<Utc>,
    method: String,
    /// The route template (`/api/projects/{id}/files`), never the raw path.
    route: String,
    status: i32,
    ip: Option<String>,
    user_agent: Option<String>,
    outcome: RequestOutcome,
    /// How many identical requests this entry stands for: equal requests (method, route,
    /// status, address, user agent, outcome) within one second are recorded once, counted.
    count: i64,
}

/// A token's requests.
///
/// Newest first, kept 90 days, including presentations after it stopped working. Recorded
/// in batches: a request shows up here within a few seconds.
#[utoipa::path(
    tag = "tokens",
    params(("id" = TokenId, Path, description = "The token's id."), Page),
    security(("session" = [])),
    responses((status = 200, description = "A page of requests.", body = [RequestJson], headers(
        ("Link" = String, description = "`<…>; rel=\"next\"` while more remain."),
    ))),
)]
#[get("/{id}/activity")]
async fn activity(
    SessionCaller(caller): SessionCaller,
    state: web::Data<AppState>,
    id: web::Path<TokenId>,
    page: Page,
) -> Result<HttpResponse, AppError> {
    let request = page.request()?;
    let rows = db::query(&state.pool, move |conn| {
        let row = tokens::find_mine(conn, &caller.user.id, &id)?;
        token_activity::list(conn, &row.id, &request)
    })
    .await?;
    let (rows, next) = page.cut(rows, RequestRow::cursor);
    let items: Vec<_> = rows
        .into_iter()
        .map(|r| RequestJson {
            at: utc(r.at),
            method: r.method,
            route: r.route,
            status: r.status,
            ip: r.ip,
            user_agent: r.user_agent,
            outcome: r.outcome,
            count: r.count,
        })
        .collect();
    Ok(page.respond(&items, next))
}

/// Revoke a token.
///
/// Immediate and final: its very next request gets 401.
#[utoipa::path(
    tag = "tokens",
    params(("id" = TokenId, Path, description = "The token's id.")),
    security(("session" = [], "csrf" = [])),
    responses((status = 204, description = "Revoked.")),
)]
#[delete("/{id}")]
async fn revoke(
    SessionCaller(caller): SessionCaller,
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<TokenId>,
) -> Result<HttpResponse, AppError> {
    let by = requester(&req, &caller.user.id)?;
    ops::tokens::revoke(&state, &by, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = Rotation)]
struct RotateBody {
    /// `1m`, `6m`, `1y` or `never`; by default the old token's original choice.
    #[schema(schema_with = expiry_schema)]
    expiry: Option<String>,
    /// How long the old token keeps working: 0 (the default) to 86400.
    #[schema(minimum = 0, maximum = 86400)] // Grace::MAX_SECONDS
    grace_seconds: Option<i64>,
}

/// An `expiry` in a body: one of `Expiry`'s names, or null for the default.
fn expiry_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{SchemaType, Type};
    let names = Expiry::ALL.map(|e| serde_json::Value::from(e.as_str()));
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .enum_values(Some(names.into_iter().chain([serde_json::Value::Null])))
        .build()
}

/// Rotate a token.
///
/// Regenerates a token: a new one with the same settings, the old one working for
/// `graceSeconds` more (SPEC §8.1). Answers the new token with its secret, once, and `rotatedFrom`; the new token keeps the old
/// one's name, scopes, projects and allowed addresses. Needs the password entered within the
/// last 10 minutes, like every change that mints a credential without saying how.
#[utoipa::path(
    tag = "tokens",
    params(("id" = TokenId, Path, description = "The token to replace.")),
    security(("session" = [], "csrf" = [])),
    responses((status = 201, description = "The new token; the body carries its secret.", body = CreatedToken)),
)]
#[post("/{id}/rotate")]
async fn rotate(
    SessionCaller(caller): SessionCaller,
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<TokenId>,
    body: Json<RotateBody>,
) -> Result<HttpResponse, AppError> {
    let rotation = Rotation::validate(body.expiry.as_deref(), body.grace_seconds)?;
    let by = requester(&req, &caller.user.id)?;
    let issued = ops::tokens::rotate(&state, &by, id.into_inner(), rotation).await?;
    Ok(HttpResponse::Created().json(CreatedToken::new(&issued)))
}
