//! `GET /api/me`: who the credential belongs to, and which token it is.

use actix_web::{get, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::utc;
use crate::auth::{Caller, Credential};
use crate::domain::{Email, Scopes, TokenId, TokenName, UserId};

super::resource!(me);

// Fields in alphabetical order: the order this answer has always had.
#[derive(Serialize, ToSchema)]
#[schema(as = Me)]
pub struct MeJson {
    auth: AuthJson,
    user: UserJson,
}

#[derive(Serialize, ToSchema)]
#[schema(as = MeUser)]
pub struct UserJson {
    #[schema(value_type = String, format = Email)]
    email: Email,
    id: UserId,
}

#[derive(Serialize, ToSchema)]
#[schema(as = MeAuth)]
pub struct AuthJson {
    kind: AuthKind,
    /// The token presented; null for a session.
    token: Option<CallerTokenJson>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AuthKind {
    Session,
    Token,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = MeToken)]
pub struct CallerTokenJson {
    /// Null for a token that never expires.
    expires_at: Option<DateTime<Utc>>,
    id: TokenId,
    #[schema(value_type = String)]
    name: TokenName,
    prefix: String,
    scopes: Scopes,
}

/// Who is calling.
///
/// The account the credential belongs to and, for a bearer token, which token it is. Any
/// valid credential may ask; no scope is needed.
#[utoipa::path(
    tag = "account",
    security(("bearer" = []), ("session" = [])),
    responses((status = 200, description = "The caller.", body = MeJson)),
)]
#[get("/me")]
async fn me(caller: Caller) -> HttpResponse {
    let token = match &caller.credential {
        Credential::Session => None,
        Credential::Token(t) => Some(CallerTokenJson {
            expires_at: t.expires_at.map(utc),
            id: t.id.clone(),
            name: t.name.clone(),
            prefix: t.prefix.clone(),
            scopes: t.scopes.clone(),
        }),
    };
    let kind = match token {
        None => AuthKind::Session,
        Some(_) => AuthKind::Token,
    };
    HttpResponse::Ok().json(MeJson {
        auth: AuthJson { kind, token },
        user: UserJson {
            email: caller.user.email,
            id: caller.user.id,
        },
    })
}
