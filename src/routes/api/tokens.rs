//! Token management over JSON — dashboard session only, so a token can never mint or revoke one.

use actix_web::{delete, get, post, web, HttpResponse};
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{utc, Json, Page};
use crate::auth::SessionCaller;
use crate::db::{self, models::tokens, models::tokens::TokenRow};
use crate::domain::{Expiry, PlainToken, RevokedReason, Scopes, TokenId, TokenName};
use crate::error::AppError;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list)
        .service(create)
        .service(revoke)
        .service(rotate);
}

/// A token as its owner sees it in the list; never the secret.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenJson {
    id: TokenId,
    name: TokenName,
    prefix: String,
    scopes: Scopes,
    created_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
    last_used_ip: Option<String>,
    /// When it stopped working — or, while a replaced token's grace lasts, when it will.
    revoked_at: Option<DateTime<Utc>>,
    revoked_reason: Option<RevokedReason>,
    replaced_by: Option<TokenId>,
    rotated_from: Option<TokenId>,
    status: &'static str,
}

impl TokenJson {
    fn new(row: tokens::TokenRow, now: NaiveDateTime) -> Self {
        TokenJson {
            status: row.status(now).as_str(),
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
        }
    }
}

#[get("/tokens")]
async fn list(
    SessionCaller(caller): SessionCaller,
    state: web::Data<AppState>,
    page: Page,
) -> Result<HttpResponse, AppError> {
    let request = page.request.clone();
    let rows = db::query(&state.pool, move |conn| {
        tokens::list(conn, &caller.user.id, tokens::Which::All, &request)
    })
    .await?;
    let (rows, next) = page.request.cut(rows, TokenRow::cursor);
    let now = state.clock.now();
    let items: Vec<_> = rows
        .into_iter()
        .map(|row| TokenJson::new(row, now))
        .collect();
    Ok(page.respond(&items, next))
}

#[derive(Deserialize)]
struct NewTokenBody {
    #[serde(default)]
    name: String,
    #[serde(default)]
    scopes: Vec<String>,
    expiry: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CreatedToken<'a> {
    id: TokenId,
    name: TokenName,
    prefix: String,
    scopes: Scopes,
    created_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
    token: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    rotated_from: Option<TokenId>,
}

impl<'a> CreatedToken<'a> {
    /// The one response that carries a plaintext token; like every answer it is `no-store`.
    fn new(row: tokens::TokenRow, plain: &'a PlainToken) -> Self {
        CreatedToken {
            scopes: row.scopes,
            created_at: utc(row.created_at),
            expires_at: row.expires_at.map(utc),
            id: row.id,
            name: row.name,
            prefix: row.prefix,
            token: plain.expose(),
            rotated_from: row.rotated_from,
        }
    }
}

#[post("/tokens")]
async fn create(
    SessionCaller(caller): SessionCaller,
    state: web::Data<AppState>,
    body: Json<NewTokenBody>,
) -> Result<HttpResponse, AppError> {
    let new = tokens::NewToken::validate(&body.name, &body.scopes, body.expiry.as_deref())?;
    let now = state.clock.now();
    let (row, plain) = db::run(&state.pool, move |conn| {
        tokens::create(conn, &caller.user.id, &new, now)
    })
    .await?;
    Ok(HttpResponse::Created().json(CreatedToken::new(row, &plain)))
}

#[delete("/tokens/{id}")]
async fn revoke(
    SessionCaller(caller): SessionCaller,
    state: web::Data<AppState>,
    id: web::Path<TokenId>,
) -> Result<HttpResponse, AppError> {
    let now = state.clock.now();
    db::query(&state.pool, move |conn| {
        tokens::revoke(conn, &caller.user.id, &id, now)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RotateBody {
    expiry: Option<String>,
    grace_seconds: Option<i64>,
}

/// The longest grace a replaced token may keep working (SPEC §8.1).
pub const MAX_GRACE_SECONDS: i64 = 86_400;

/// Regenerates a token: a new one with the same settings, the old one working for
/// `graceSeconds` more (SPEC §8.1).
#[post("/tokens/{id}/rotate")]
async fn rotate(
    SessionCaller(caller): SessionCaller,
    state: web::Data<AppState>,
    id: web::Path<TokenId>,
    body: Json<RotateBody>,
) -> Result<HttpResponse, AppError> {
    let expiry = body
        .expiry
        .as_deref()
        .map(|e| Expiry::parse(e).ok_or_else(|| AppError::validation("expiry", Expiry::EXPECTED)))
        .transpose()?;
    let grace = body.grace_seconds.unwrap_or(0);
    if !(0..=MAX_GRACE_SECONDS).contains(&grace) {
        return Err(AppError::validation(
            "graceSeconds",
            format!("Use 0 to {MAX_GRACE_SECONDS} seconds."),
        ));
    }
    let now = state.clock.now();
    let (row, plain) = db::run(&state.pool, move |conn| {
        tokens::rotate(
            conn,
            &caller.user.id,
            &id,
            expiry,
            Duration::seconds(grace),
            now,
        )
    })
    .await?;
    Ok(HttpResponse::Created().json(CreatedToken::new(row, &plain)))
}
