//! `GET /api/openapi.json` (SPEC §8.6): the OpenAPI 3.1 document of the JSON API, generated
//! from the code — each resource's handlers and their `#[utoipa::path]` (`resource!`), the
//! bodies' types — plus what every route shares, added here once: the security schemes and the
//! error answers that the extractors and `AppError` give on every route.

use std::sync::OnceLock;

use actix_web::{get, HttpResponse};
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::request_body::RequestBody;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, Ref, RefOr};
use utoipa::{Modify, OpenApi};

use super::JSON_LIMIT;
use crate::error::{ErrorBody, ErrorCode};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Mantel API",
        description = "Projects, publishes, messages, files, domains and invoices, for people \
                       (a dashboard session) and machines (`Authorization: Bearer mm_pat_…`). \
                       The contract a client author reads is `docs/api.md`; a page per \
                       operation is at `/docs/api`.",
    ),
    paths(openapi_json),
    nest(
        (path = "/api", api = super::me::Doc),
        (path = "/api/session", api = super::session::Doc),
        (path = "/api/account", api = super::account::Doc),
        (path = "/api/tokens", api = super::tokens::Doc),
        (path = "/api/projects", api = super::projects::Doc),
        (path = "/api", api = super::activity::Doc),
        (path = "/api/projects", api = super::activity::ProjectDoc),
        (path = "/api/projects", api = super::files::Doc),
        (path = "/api/projects", api = super::domain::Doc),
        (path = "/api/projects", api = super::trusted_ci::Doc),
        (path = "/api/billing", api = super::billing::Doc),
        (path = "/api", api = super::security_log::Doc),
        (path = "/api/admin", api = super::admin::Doc),
    ),
    components(schemas(ErrorBody, ErrorCode)),
    modifiers(&Shared),
)]
struct ApiDoc;

/// The document, built once.
pub fn document() -> &'static Document {
    static DOCUMENT: OnceLock<Document> = OnceLock::new();
    // The leak reports are merged, not nested: their paths are whole, as they are served
    // ahead of the `/api` scope, without credentials.
    DOCUMENT.get_or_init(|| {
        ApiDoc::openapi()
            .merge_from(super::leaks::Doc::openapi())
            .merge_from(super::trusted_ci::ExchangeDoc::openapi())
    })
}

/// This document.
///
/// OpenAPI 3.1 of every route of the JSON API. No authentication.
#[utoipa::path(
    tag = "meta",
    security(()),
    responses((status = 200, description = "The OpenAPI document.", body = serde_json::Value)),
)]
#[get("/api/openapi.json")]
pub async fn openapi_json() -> HttpResponse {
    static JSON: OnceLock<String> = OnceLock::new();
    let body = JSON.get_or_init(|| document().to_json().expect("the document serializes"));
    HttpResponse::Ok()
        .content_type("application/json")
        .body(body.as_str())
}

/// The security schemes, and the error answers every route shares.
struct Shared;

/// Reusable responses, by name (`#/components/responses/…`).
const BAD_REQUEST: &str = "BadRequest";
const UNAUTHORIZED: &str = "Unauthorized";
const FORBIDDEN: &str = "Forbidden";
const NOT_FOUND: &str = "NotFound";
const TOO_LARGE: &str = "PayloadTooLarge";
const NOT_JSON: &str = "UnsupportedMediaType";
const INVALID: &str = "ValidationFailed";
const RATE_LIMITED: &str = "RateLimited";

impl Modify for Shared {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("mm_pat_…")
                    .description(Some(
                        "An API token, `Authorization: Bearer mm_pat_…`. The scopes listed on \
                         an operation are the ones the token needs. Every answer to a bearer \
                         request carries `RateLimit-Policy` and `RateLimit` (the IETF httpapi \
                         rate-limit header fields draft).",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "mm_session",
                "The dashboard's session cookie (`__Host-mm_session` behind https). It holds \
                 every scope; unsafe methods also need `csrf`.",
            ))),
        );
        components.add_security_scheme(
            "csrf",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-CSRF-Token",
                "With a session, on POST, PUT, PATCH and DELETE: the `content` of the \
                 dashboard's `<meta name=\"csrf-token\">`.",
            ))),
        );

        let error = |description: &str| {
            ResponseBuilder::new().description(description).content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
        };
        let www_authenticate = HeaderBuilder::new()
            .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
            .description(Some(
                "`Bearer realm=\"mantel\"`, with `error=\"invalid_token\"` and an \
                 `error_description` for a bad token.",
            ))
            .build();
        let responses = [
            (
                BAD_REQUEST,
                error(
                    "`invalid_request`: a malformed `Authorization` header; `bad_json`: a \
                     body that is not JSON.",
                )
                .build(),
            ),
            (
                UNAUTHORIZED,
                error(
                    "`unauthenticated`: no credentials; `invalid_token`: an unknown, revoked \
                     or expired token, or one that is not `mm_pat_` and 32 characters with \
                     a valid checksum.",
                )
                .header("WWW-Authenticate", www_authenticate)
                .build(),
            ),
            (
                FORBIDDEN,
                error(
                    "`insufficient_scope`: the token lacks the scope (named in `scope` and \
                     `WWW-Authenticate`); `forbidden`: your role on the project is too low; \
                     `session_required`: a bearer token on a session-only route; \
                     `csrf_failed`: a session request without a valid `X-CSRF-Token`, or \
                     from another site; `ip_not_allowed`: the token may not be used from \
                     this address; `reauthentication_required`: this change needs the \
                     password entered within 10 minutes (`POST /api/session/reauthenticate`); \
                     `token_policy`: the project's token policy blocks this token; \
                     `second_factor_required`: the project requires its members to have a \
                     second factor, and this token's owner has none.",
                )
                .build(),
            ),
            (
                NOT_FOUND,
                error(
                    "`not_found`: no such thing, or a project you are not a member of \
                     (the two are not told apart).",
                )
                .build(),
            ),
            (
                TOO_LARGE,
                error(&format!(
                    "`payload_too_large`: a JSON body over {} KiB.",
                    JSON_LIMIT / 1024
                ))
                .build(),
            ),
            (
                NOT_JSON,
                error(
                    "`unsupported_media_type`: the body's `Content-Type` is not \
                     `application/json` (or `…+json`).",
                )
                .build(),
            ),
            (
                INVALID,
                error(
                    "`validation_failed`: `fields` names each invalid field (or `limit`, \
                     `cursor`, `body`) and says what is wrong.",
                )
                .build(),
            ),
            (
                RATE_LIMITED,
                error(
                    "`rate_limited`: the token used its hourly quota, or this address sent too \
                     many bad tokens; try again after `Retry-After` seconds.",
                )
                .header(
                    "Retry-After",
                    HeaderBuilder::new()
                        .schema(Some(ObjectBuilder::new().schema_type(Type::Integer)))
                        .description(Some("Seconds to wait."))
                        .build(),
                )
                .build(),
            ),
        ];
        for (name, response) in responses {
            components
                .responses
                .insert(name.to_owned(), response.into());
        }

        for (path, item) in doc.paths.paths.iter_mut() {
            let operations = [
                item.get.as_mut(),
                item.put.as_mut(),
                item.post.as_mut(),
                item.delete.as_mut(),
                item.patch.as_mut(),
            ];
            for op in operations.into_iter().flatten() {
                shared_errors(path, op);
            }
        }
    }
}

/// The errors a route can answer because of what it takes: credentials, path parameters, a
/// page, a JSON body. A route's own `responses(…)` win over these.
fn shared_errors(path: &str, op: &mut Operation) {
    let authenticated = op
        .security
        .as_ref()
        .is_some_and(|s| !s.is_empty() && s.iter().any(|r| *r != Default::default()));
    if !authenticated {
        return;
    }
    let mut add = |status: &str, name: &str| {
        op.responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::Ref(Ref::from_response_name(name)));
    };
    add("400", BAD_REQUEST);
    add("401", UNAUTHORIZED);
    add("403", FORBIDDEN);
    add("429", RATE_LIMITED);
    if path.contains('{') {
        add("404", NOT_FOUND);
    }
    let pages = op.parameters.iter().flatten().any(|p| match p {
        RefOr::T(p) => p.name == "limit" && p.parameter_in == ParameterIn::Query,
        RefOr::Ref(_) => false,
    });
    let json_body = matches!(&op.request_body, Some(RefOr::T(RequestBody { content, .. }))
        if content.contains_key("application/json"));
    if json_body {
        add("413", TOO_LARGE);
        add("415", NOT_JSON);
    }
    if json_body || pages {
        add("422", INVALID);
    }
}

#[cfg(test)]
mod tests {
    use utoipa::openapi::schema::Schema;

    use super::*;

    /// The document lists exactly the codes of `AppError`'s table (SPEC §5), in its order.
    #[test]
    fn the_document_lists_every_error_code() {
        let schemas = &document().components.as_ref().unwrap().schemas;
        let RefOr::T(Schema::Object(codes)) = &schemas["ErrorCode"] else {
            panic!("ErrorCode is a string enum");
        };
        let listed: Vec<_> = codes.enum_values.iter().flatten().collect();
        let table: Vec<_> = ErrorCode::ALL.map(|c| serde_json::json!(c.as_str())).into();
        assert_eq!(listed, table.iter().collect::<Vec<_>>());
    }
}
