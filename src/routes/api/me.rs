//! `GET /api/me`: who the credential belongs to, and which token it is.

use actix_web::{get, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::utc;
use crate::auth::{Caller, Credential};
use crate::db::{self, models::tokens};
use crate::domain::{AllowedIps, Email, ProjectSelection, Scopes, TokenId, TokenName, UserId};
use crate::error::AppError;
use crate::state::AppState;

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
    /// Where it may be used from; empty: anywhere.
    allowed_ips: AllowedIps,
    /// Null for a token that never expires.
    expires_at: Option<DateTime<Utc>>,
    id: TokenId,
    #[schema(value_type = String)]
    name: TokenName,
    prefix: String,
    /// The projects it may reach.
    projects: ProjectSelection,
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
async fn me(caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let token = match &caller.credential {
        Credential::Session => None,
        Credential::Token(t) => {
            // Which projects: looked up here, for a restricted token only, not on every request.
            let projects = match caller.reach() {
                None => ProjectSelection::All,
                Some(id) => {
                    let ids = [id.clone()];
                    let chosen =
                        db::query(&state.pool, move |conn| tokens::chosen_projects(conn, &ids))
                            .await?;
                    let ids = chosen.into_values().flatten().map(|(id, _)| id).collect();
                    ProjectSelection::from_parts(true, ids)
                }
            };
            Some(CallerTokenJson {
                allowed_ips: t.narrowing.allowed_ips.clone(),
                expires_at: t.expires_at.map(utc),
                id: t.id.clone(),
                name: t.name.clone(),
                prefix: t.prefix.clone(),
                projects,
                scopes: t.scopes.clone(),
            })
        }
    };
    let kind = match token {
        None => AuthKind::Session,
        Some(_) => AuthKind::Token,
    };
    Ok(HttpResponse::Ok().json(MeJson {
        auth: AuthJson { kind, token },
        user: UserJson {
            email: caller.user.email.clone(),
            id: caller.user.id.clone(),
        },
    }))
}
