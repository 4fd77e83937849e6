//! Trusted CI (SPEC §8.8): a project's owners trust CI identities
//! (`/api/projects/{id}/trusted-ci`, session only, re-authentication for changes), and a CI
//! job exchanges its platform's OIDC token for a short-lived token (`POST /api/ci/exchange`).
//!
//! The exchange takes no credentials — the JWT is the credential — so it is registered ahead of
//! the `/api` scope and its authentication (`routes::configure`), with its full path, like the
//! leak reports; it is throttled per address before anything else, and its body is bounded.

use std::collections::BTreeMap;

use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::tokens::CreatedToken;
use super::{on_project, public_json, utc, Json};
use crate::auth::oidc::MAX_JWT_BYTES;
use crate::auth::{client, Need, SessionCaller};
use crate::db::models::trusted_ci::{self as model, TrustRow};
use crate::domain::trusted_ci::{Audience, CiLifetime, ClaimRules, IssuerUrl};
use crate::domain::{NewTrust, ProjectId, Role, Scope, Scopes, TrustId, UserId};
use crate::error::{AppError, ErrorBody};
use crate::ops;
use crate::routes::requester;
use crate::state::AppState;

super::resource!(list, add, remove, remove_all);
super::resource!(configure_exchange, ExchangeDoc: exchange);

/// A CI identity the project trusts.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = TrustedCi)]
struct TrustJson {
    id: TrustId,
    #[schema(value_type = String)]
    issuer: IssuerUrl,
    #[schema(value_type = String)]
    audience: Audience,
    /// Claim name → the exact string the CI's token must carry.
    #[schema(value_type = BTreeMap<String, String>)]
    claims: ClaimRules,
    scopes: Scopes,
    #[schema(value_type = i32, minimum = 1, maximum = 60)]
    lifetime_minutes: CiLifetime,
    /// The owner who set it up: the tokens minted under it are theirs.
    created_by: UserId,
    created_at: DateTime<Utc>,
}

impl From<TrustRow> for TrustJson {
    fn from(row: TrustRow) -> Self {
        TrustJson {
            id: row.id,
            issuer: row.issuer,
            audience: row.audience,
            claims: row.claims,
            scopes: row.scopes,
            lifetime_minutes: row.lifetime,
            created_by: row.created_by,
            created_at: utc(row.created_at),
        }
    }
}

/// List the CI identities a project trusts.
///
/// Owners only; needs a dashboard session.
#[utoipa::path(
    tag = "trusted-ci",
    params(("id" = ProjectId, Path, description = "The project's id.")),
    security(("session" = [])),
    responses((status = 200, description = "Oldest first (at most 20).", body = [TrustJson])),
)]
#[get("/{id}/trusted-ci")]
async fn list(
    SessionCaller(caller): SessionCaller,
    state: web::Data<AppState>,
    path: web::Path<ProjectId>,
) -> Result<HttpResponse, AppError> {
    let need = Need::role(Role::Owner);
    let rows = on_project(caller, &state, path.into_inner(), need, |conn, id, _| {
        model::list(conn, id)
    })
    .await?;
    let items: Vec<TrustJson> = rows.into_iter().map(TrustJson::from).collect();
    Ok(HttpResponse::Ok().json(items))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = NewTrustedCi)]
struct TrustBody {
    /// The OIDC issuer: `https://token.actions.githubusercontent.com` (GitHub Actions),
    /// `https://gitlab.com`, or any issuer's `https://` URL (`http://` only for 127.0.0.1, ::1
    /// or localhost).
    #[schema(schema_with = issuer_schema)]
    issuer: String,
    /// The `aud` the CI's token must carry. Absent: this server's public URL.
    #[schema(max_length = 200)]
    audience: Option<String>,
    /// Claims the token must carry with exactly these values, 1 to 10. GitHub: `repository`
    /// (`owner/repo`), optionally `workflow_ref`, `ref`, `environment`; GitLab:
    /// `project_path`, optionally `ref`, `environment`; another issuer: any claims but iss,
    /// aud, exp, nbf, iat and jti.
    #[schema(schema_with = claims_schema)]
    claims: BTreeMap<String, String>,
    /// The scopes of the tokens minted, at least one (`billing.read` is an account's, never a
    /// CI's).
    #[schema(schema_with = ci_scopes_schema)]
    scopes: Vec<String>,
    /// How long a minted token lives: 1 to 60 minutes, 15 by default.
    #[schema(minimum = 1, maximum = 60)]
    lifetime_minutes: Option<i64>,
}

/// `issuer`, from the rule `IssuerUrl` checks (the loopback exception for `http://` is the
/// server's to check; the description says it).
fn issuer_schema() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .pattern(Some(IssuerUrl::PATTERN))
        .max_length(Some(IssuerUrl::MAX_CHARS))
        .examples(["https://token.actions.githubusercontent.com"])
        .build()
}

/// `scopes`: a project's scopes, at least one (`NewTrust::validate` refuses `billing.read`).
fn ci_scopes_schema() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    let project_scopes = Scope::ALL
        .into_iter()
        .filter(|s| *s != Scope::BillingRead)
        .map(Scope::as_str);
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(project_scopes)),
        )
        .min_items(Some(1))
        .build()
}

/// `claims`, from the bounds `ClaimRules` checks.
fn claims_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Type};
    let value = ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(ClaimRules::MAX_VALUE_CHARS));
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property_names(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(ClaimRules::NAME_PATTERN)),
        ))
        .additional_properties(Some(AdditionalProperties::RefOr(value.into())))
        .min_properties(Some(1))
        .max_properties(Some(ClaimRules::MAX_RULES))
        .build()
}

/// Trust a CI identity on a project.
///
/// Its jobs may then exchange their platform's OIDC token for a token of this project
/// (`POST /api/ci/exchange`). Owners only; needs a dashboard session and the password entered
/// within the last 10 minutes.
#[utoipa::path(
    tag = "trusted-ci",
    params(("id" = ProjectId, Path, description = "The project's id.")),
    security(("session" = [], "csrf" = [])),
    responses((status = 201, description = "Trusted.", body = TrustJson)),
)]
#[post("/{id}/trusted-ci")]
async fn add(
    SessionCaller(caller): SessionCaller,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<ProjectId>,
    body: Json<TrustBody>,
) -> Result<HttpResponse, AppError> {
    let by = requester(&req, &caller.user.id)?;
    let new = NewTrust::validate(
        &body.issuer,
        body.audience.as_deref(),
        &body.claims,
        &body.scopes,
        body.lifetime_minutes,
    )
    .map_err(AppError::Validation);
    let row = ops::trusted_ci::add(&state, caller, &by, path.into_inner(), new).await?;
    Ok(HttpResponse::Created().json(TrustJson::from(row)))
}

/// Stop trusting a CI identity.
///
/// Tokens already minted under it keep their short lives (revoke them to end them sooner).
/// Owners only; needs a dashboard session and the password entered within the last 10 minutes.
#[utoipa::path(
    tag = "trusted-ci",
    params(
        ("id" = ProjectId, Path, description = "The project's id."),
        ("trustId" = TrustId, Path, description = "The trust configuration's id."),
    ),
    security(("session" = [], "csrf" = [])),
    responses((status = 204, description = "No longer trusted.")),
)]
#[delete("/{id}/trusted-ci/{trustId}")]
async fn remove(
    SessionCaller(caller): SessionCaller,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(ProjectId, TrustId)>,
) -> Result<HttpResponse, AppError> {
    let by = requester(&req, &caller.user.id)?;
    let (project, trust) = path.into_inner();
    ops::trusted_ci::remove(&state, caller, &by, project, trust).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Stop trusting every CI identity on the project.
///
/// No pipeline can exchange a token for this project afterwards; tokens already minted keep
/// their short lives. Owners only; needs a dashboard session and the password entered within
/// the last 10 minutes.
#[utoipa::path(
    tag = "trusted-ci",
    params(("id" = ProjectId, Path, description = "The project's id.")),
    security(("session" = [], "csrf" = [])),
    responses((status = 204, description = "No CI identity is trusted any more (also when none was).")),
)]
#[delete("/{id}/trusted-ci")]
async fn remove_all(
    SessionCaller(caller): SessionCaller,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<ProjectId>,
) -> Result<HttpResponse, AppError> {
    let by = requester(&req, &caller.user.id)?;
    ops::trusted_ci::remove_all(&state, caller, &by, path.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The body of an exchange.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CiExchange)]
struct ExchangeBody {
    /// The OIDC token (a JWT) the CI platform issued for this job.
    #[schema(
        max_length = 16384,
        pattern = r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$"
    )]
    token: String,
}

/// Exchange a CI job's OIDC token for a Mantel token.
///
/// No other credential: the platform's token (GitHub Actions' `ACTIONS_ID_TOKEN_REQUEST_*`,
/// GitLab's `id_tokens:`) is one. It must be signed (RS256 or ES256) by a key of its issuer's
/// JWKS (found by OpenID Connect discovery), carry the `iss`, `aud` and claims of exactly one
/// project's trust configuration, be unexpired (`exp`, `nbf`, `iat`, a minute of skew) and
/// never exchanged before (`jti`). The answer is a token of that project alone, with the
/// configuration's scopes, living its lifetime, owned by the owner who set it up, and marked
/// with whom it was issued to. Any refusal is 401 `invalid_token` with the reason, and the
/// project's owners find it in their security log. At most 60 exchanges a minute from one
/// address.
#[utoipa::path(
    tag = "trusted-ci",
    security(()),
    request_body(content = ExchangeBody, content_type = "application/json"),
    responses(
        (status = 201, description = "Minted; the body carries the secret.", body = CreatedToken),
        (status = 400, description = "`bad_json`: the body is not JSON.", body = ErrorBody),
        (status = 401, description = "`invalid_token`: refused, with the reason.", body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"mantel\", \
            error=\"invalid_token\", error_description=\"…\"`"))),
        (status = 413, description = "`payload_too_large`: a body over 17 KiB (a token of at most 16 KiB and the JSON around it).", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: not `application/json`.",
            body = ErrorBody),
        (status = 422, description = "`validation_failed`: not `{\"token\": \"…\"}`.",
            body = ErrorBody),
        (status = 429, description = "`rate_limited`: over 60 exchanges a minute from this \
            address; `Retry-After` says when to try again.", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait."))),
    ),
)]
#[post("/api/ci/exchange")]
async fn exchange(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, AppError> {
    // A JWT and the few bytes around it.
    let exchanges = &state.throttles.ci_exchanges;
    let value = public_json(&req, &state, exchanges, payload, MAX_JWT_BYTES + 1024).await?;
    if !value.is_object() {
        return Err(AppError::validation("body", "Send a JSON object."));
    }
    let body: ExchangeBody =
        serde_json::from_value(value).map_err(|e| AppError::validation("token", e.to_string()))?;
    let exchanged = ops::trusted_ci::exchange(&state, client::of(&req), &body.token).await?;
    let ops::trusted_ci::Exchanged { issued, issued_to } = exchanged;
    tracing::info!(token_id = %issued.token.id, "CI token exchanged");
    Ok(HttpResponse::Created().json(CreatedToken::new(&issued).issued_to(issued_to)))
}
