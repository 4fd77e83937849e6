//! Leaked tokens (SPEC §8.4): anyone who finds a token in public may have it revoked
//! (`POST /api/credentials/revoke`), and GitHub's and GitLab's secret scanning report what
//! they find (`POST /api/secret-scanning/{github,gitlab}`), signed with their keys.
//!
//! The finder of a leaked token is not its owner, so these routes take no credentials: they
//! are registered ahead of the `/api` scope and its authentication (`routes::configure`), with
//! full paths. They are still JSON routes: errors have the one JSON shape. A report never
//! reaches a log: handlers log counts only, and the request line holds no body.

use actix_web::{post, web, HttpRequest, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::{parse_json, public_json, read_limited, JSON_LIMIT};
use crate::auth::client;
use crate::auth::partner_keys::PartnerKeys;
use crate::db::models::leaks::Reported;
use crate::domain::leak::{partner_findings, ReportError, ReportedCredentials};
use crate::domain::ReportChannel;
use crate::error::{AppError, ErrorBody};
use crate::ops;
use crate::state::AppState;

super::resource!(revoke_credentials, github_report, gitlab_report);

/// A partner's batch of up to a thousand findings, each with its URL, is larger than the
/// 64 KiB of other JSON bodies.
const REPORT_LIMIT: usize = 1024 * 1024;
/// The `token_type` of the feedback: the secret type registered with GitHub.
const TOKEN_TYPE: &str = "mantel_personal_access_token";

/// The public revoke endpoint answers no sooner than this after the body is read: revoking a
/// live token costs a durable write (an fsync) that a report of dead or made-up strings does
/// not, and the answer must not tell the two apart by its timing either.
const PUBLIC_ANSWER_AFTER: std::time::Duration = std::time::Duration::from_millis(250);

/// The body of a public report.
#[derive(ToSchema)]
#[allow(dead_code)]
struct RevokeRequest {
    /// 1 to 1000 strings, each of a token's shape; those that are not live tokens (their
    /// checksum, which no pattern can say, is wrong, or no such token is live) are ignored.
    #[schema(schema_with = credentials_schema)]
    credentials: Vec<String>,
}

/// `credentials`: from the same constants the body is checked with.
fn credentials_schema() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(crate::domain::token::TOKEN_PATTERN)),
        )
        .min_items(Some(1))
        .max_items(Some(crate::domain::leak::ReportedCredentials::MAX))
        .build()
}

/// One finding of a partner's report (GitHub's fields; GitLab sends `type`, `token`, `url`).
#[derive(ToSchema)]
#[allow(dead_code)]
struct Finding {
    /// The string found.
    token: String,
    /// The secret type the partner matched, `mantel_personal_access_token`.
    #[schema(rename = "type")]
    kind: String,
    /// Where it was found; shown to the token's owner.
    url: Option<String>,
    /// GitHub only: the kind of place (`content`, `commit`, `gist_content`, `npm` …).
    source: Option<String>,
}

/// GitHub's feedback on one finding.
#[derive(Serialize, ToSchema)]
struct Feedback {
    /// The SHA-256 of the reported string, in lowercase hex.
    token_hash: String,
    /// Always `mantel_personal_access_token`.
    token_type: &'static str,
    label: Label,
}

/// `true_positive`: a token this server issued (revoked now if it still worked);
/// `false_positive`: not one of ours.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum Label {
    TruePositive,
    FalsePositive,
}

fn invalid(e: ReportError) -> AppError {
    AppError::validation(e.field, e.message)
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Report leaked tokens.
///
/// For anyone who finds Mantel tokens in public: each one that still works is revoked at once
/// (reason `reported_public`) and its owner is told. No authentication. The answer is `202 {}`
/// whatever the strings were — live, revoked, unknown or not tokens at all — so it tells
/// nothing about them. At most 60 requests an hour from one address.
#[utoipa::path(
    tag = "leaks",
    security(()),
    request_body(content = RevokeRequest, content_type = "application/json"),
    responses(
        (status = 202, description = "Accepted; every live token among them is revoked.",
            body = Object, example = json!({})),
        (status = 400, description = "`bad_json`: the body is not JSON.", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: a body over 64 KiB.", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: not `application/json`.",
            body = ErrorBody),
        (status = 422, description = "`validation_failed`: not `{\"credentials\": […]}` with \
            1 to 1000 strings.", body = ErrorBody),
        (status = 429, description = "`rate_limited`: over 60 reports an hour from this \
            address; `Retry-After` says when to try again.", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait."))),
    ),
)]
#[post("/api/credentials/revoke")]
async fn revoke_credentials(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, AppError> {
    // Counted first: each report may cost a thousand lookups, and needs no credentials.
    let reports = &state.throttles.reports;
    let body = public_json(&req, &state, reports, payload, JSON_LIMIT).await?;
    let credentials = ReportedCredentials::from_json(&body).map_err(invalid)?;
    drop(body);
    let reported = credentials
        .hashes()
        .iter()
        .map(|hash| Reported {
            hash: *hash,
            url: None,
            source: None,
        })
        .collect();
    // Everything is looked up (and what works revoked) before answering, and the answer is
    // the same whatever was found, in body and in time.
    let answer_at = actix_web::rt::time::Instant::now() + PUBLIC_ANSWER_AFTER;
    ops::tokens::revoke_reported(&state, client::of(&req), ReportChannel::Public, reported).await?;
    actix_web::rt::time::sleep_until(answer_at).await;
    Ok(HttpResponse::Accepted().json(serde_json::json!({})))
}

/// A signed partner report: its headers checked first (signed, by a known key), so that a
/// stranger's report is refused before its body is read; then verified over the raw body with
/// the key it names, then each finding that is one of our tokens revoked; the outcome for each
/// finding, in order (a string that is not a well-formed token is `Unknown` without a lookup).
async fn partner_report(
    req: &HttpRequest,
    state: &AppState,
    payload: web::Payload,
    channel: ReportChannel,
    keys: Option<&PartnerKeys>,
    headers: [&str; 2],
) -> Result<Vec<(String, bool)>, AppError> {
    let keys = keys.ok_or(AppError::BadSignature(
        "This server has no keys for this partner's reports.",
    ))?;
    let signed = keys.signed_by(header(req, headers[0]), header(req, headers[1]))?;
    let body = read_limited(req, payload, REPORT_LIMIT).await?;
    signed.verify(&body)?;
    let findings = partner_findings(&parse_json(&body)?).map_err(invalid)?;
    let mut reported = Vec::new();
    let mut index = Vec::with_capacity(findings.len());
    for finding in &findings {
        index.push(finding.token().map(|token| {
            reported.push(Reported {
                hash: token.hash(),
                url: finding.url.clone(),
                source: finding.source.clone(),
            });
            reported.len() - 1
        }));
    }
    let outcomes = ops::tokens::revoke_reported(state, client::of(req), channel, reported).await?;
    Ok(findings
        .iter()
        .zip(index)
        .map(|(finding, i)| {
            let ours = i.is_some_and(|i| outcomes[i].is_ours());
            (finding.sha256_hex(), ours)
        })
        .collect())
}

/// GitHub secret scanning.
///
/// GitHub's secret scanning partner endpoint: GitHub posts the Mantel tokens it finds in
/// public repositories, gists, issues and packages, signed (ECDSA P-256 with SHA-256, base64
/// DER, over the raw body) with the key named by `Github-Public-Key-Identifier`, from the file
/// of `MANTEL_GITHUB_SCANNING_KEYS`. Tokens that still work are revoked (`reported_public`),
/// the `url` is kept and shown to the owner. A repeated report changes nothing more.
#[utoipa::path(
    tag = "leaks",
    security(()),
    params(
        ("Github-Public-Key-Identifier" = String, Header,
            description = "Which of GitHub's keys signed the body."),
        ("Github-Public-Key-Signature" = String, Header,
            description = "Base64 DER ECDSA P-256 / SHA-256 signature of the raw body."),
    ),
    request_body(content = Vec<Finding>, content_type = "application/json"),
    responses(
        (status = 200, description = "One label per finding, in order.", body = [Feedback]),
        (status = 400, description = "`bad_json`: a signed body that is not JSON.",
            body = ErrorBody),
        (status = 401, description = "`unauthenticated`: the signature is missing, malformed, \
            by an unknown key or wrong. Nothing was done.", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: a body over 1 MiB.", body = ErrorBody),
        (status = 422, description = "`validation_failed`: not an array of objects with a \
            string `token`.", body = ErrorBody),
    ),
)]
#[post("/api/secret-scanning/github")]
async fn github_report(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, AppError> {
    let results = partner_report(
        &req,
        &state,
        payload,
        ReportChannel::Github,
        state.scanning.github.as_ref(),
        [
            "github-public-key-identifier",
            "github-public-key-signature",
        ],
    )
    .await?;
    let feedback: Vec<Feedback> = results
        .into_iter()
        .map(|(token_hash, ours)| Feedback {
            token_hash,
            token_type: TOKEN_TYPE,
            label: if ours {
                Label::TruePositive
            } else {
                Label::FalsePositive
            },
        })
        .collect();
    Ok(HttpResponse::Ok().json(feedback))
}

/// GitLab secret detection.
///
/// The same for GitLab: findings `[{"type", "token", "url"}]`, signed with the key named by
/// `Gitlab-Public-Key-Identifier` (signature in `Gitlab-Public-Key-Signature`), from the file
/// of `MANTEL_GITLAB_SCANNING_KEYS`. Answers 204.
#[utoipa::path(
    tag = "leaks",
    security(()),
    params(
        ("Gitlab-Public-Key-Identifier" = String, Header,
            description = "Which of GitLab's keys signed the body."),
        ("Gitlab-Public-Key-Signature" = String, Header,
            description = "Base64 DER ECDSA P-256 / SHA-256 signature of the raw body."),
    ),
    request_body(content = Vec<Finding>, content_type = "application/json"),
    responses(
        (status = 204, description = "Received; every live token among them is revoked."),
        (status = 400, description = "`bad_json`: a signed body that is not JSON.",
            body = ErrorBody),
        (status = 401, description = "`unauthenticated`: the signature is missing, malformed, \
            by an unknown key or wrong. Nothing was done.", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: a body over 1 MiB.", body = ErrorBody),
        (status = 422, description = "`validation_failed`: not an array of objects with a \
            string `token`.", body = ErrorBody),
    ),
)]
#[post("/api/secret-scanning/gitlab")]
async fn gitlab_report(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, AppError> {
    partner_report(
        &req,
        &state,
        payload,
        ReportChannel::Gitlab,
        state.scanning.gitlab.as_ref(),
        [
            "gitlab-public-key-identifier",
            "gitlab-public-key-signature",
        ],
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
