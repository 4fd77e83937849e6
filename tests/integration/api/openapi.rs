//! `GET /api/openapi.json` (SPEC §8.6) documents every route of the JSON API, and `/docs/api`
//! shows the same document as a page.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{error_code, TestApp};

/// Every route of SPEC §6 and the token routes of §4 and §8, as the document must name them.
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/me"),
    ("POST", "/api/session/reauthenticate"),
    ("POST", "/api/account/totp"),
    ("POST", "/api/account/totp/confirm"),
    ("DELETE", "/api/account/totp"),
    ("POST", "/api/account/recovery-codes"),
    ("POST", "/api/session/passkey-options"),
    ("POST", "/api/account/passkey-options"),
    ("POST", "/api/account/passkeys"),
    ("GET", "/api/account/passkeys"),
    ("DELETE", "/api/account/passkeys/{id}"),
    ("GET", "/api/tokens"),
    ("POST", "/api/tokens"),
    ("GET", "/api/tokens/{id}"),
    ("GET", "/api/tokens/{id}/activity"),
    ("DELETE", "/api/tokens/{id}"),
    ("POST", "/api/tokens/{id}/rotate"),
    ("GET", "/api/projects"),
    ("POST", "/api/projects"),
    ("POST", "/api/projects/{id}/members"),
    ("DELETE", "/api/projects/{id}/members/{user_id}"),
    ("PUT", "/api/projects/{id}/token-policy"),
    ("GET", "/api/projects/{id}/trusted-ci"),
    ("POST", "/api/projects/{id}/trusted-ci"),
    ("DELETE", "/api/projects/{id}/trusted-ci"),
    ("DELETE", "/api/projects/{id}/trusted-ci/{trustId}"),
    ("POST", "/api/publish"),
    ("GET", "/api/projects/{id}/publishes"),
    ("POST", "/api/projects/{id}/messages"),
    ("GET", "/api/projects/{id}/messages"),
    ("PUT", "/api/projects/{id}/files/{name}"),
    ("GET", "/api/projects/{id}/files"),
    ("GET", "/api/projects/{id}/files/{name}"),
    ("DELETE", "/api/projects/{id}/files/{name}"),
    ("GET", "/api/projects/{id}/domain"),
    ("PUT", "/api/projects/{id}/domain"),
    ("DELETE", "/api/projects/{id}/domain"),
    ("GET", "/api/billing/invoices"),
    ("GET", "/api/billing/invoices/latest"),
    ("GET", "/api/security-log"),
    ("GET", "/api/admin/users"),
    ("POST", "/api/admin/users/{id}/suspend"),
    ("POST", "/api/admin/users/{id}/reactivate"),
    ("GET", "/api/admin/tokens"),
    ("POST", "/api/admin/tokens/revoke"),
    ("POST", "/api/admin/tokens/shorten"),
    ("DELETE", "/api/admin/users/{id}"),
    ("GET", "/api/admin/token-policy"),
    ("PUT", "/api/admin/token-policy"),
    ("GET", "/api/openapi.json"),
    ("POST", "/api/credentials/revoke"),
    ("POST", "/api/secret-scanning/github"),
    ("POST", "/api/secret-scanning/gitlab"),
    ("POST", "/api/ci/exchange"),
];

/// Routes that take no credentials: the document, the leak reports (SPEC §8.4) and the CI
/// token exchange, whose JWT is its credential (§8.8).
const PUBLIC: &[&str] = &[
    "/api/openapi.json",
    "/api/credentials/revoke",
    "/api/secret-scanning/github",
    "/api/secret-scanning/gitlab",
    "/api/ci/exchange",
];

fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "put", "post", "delete", "patch"] {
            if !item[method].is_null() {
                ops.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    ops
}

/// The scope a file's handlers are served under (`src/routes/api/mod.rs`: a scope per
/// collection).
fn scope_of(file: &str, path: &str) -> &'static str {
    match file {
        "tokens.rs" => "/api/tokens",
        "admin.rs" => "/api/admin",
        "account.rs" => "/api/account",
        "session.rs" => "/api/session",
        "billing.rs" => "/api/billing",
        "projects.rs" | "files.rs" | "domain.rs" | "trusted_ci.rs" => "/api/projects",
        "activity.rs" if path.starts_with("/{id}") => "/api/projects",
        _ => "/api",
    }
}

/// The routes the handlers declare (`#[get("/…")]` and the like in `src/routes/api/`), so a
/// handler added without its `#[utoipa::path]` fails here even if it is registered by hand.
fn declared_in_source() -> BTreeSet<(String, String)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/routes/api");
    let mut routes = BTreeSet::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let file = path.file_name().unwrap().to_str().unwrap().to_owned();
        let source = std::fs::read_to_string(&path).unwrap();
        for line in source.lines().map(str::trim) {
            for method in ["get", "put", "post", "delete", "patch"] {
                if let Some(rest) = line.strip_prefix(&format!("#[{method}(\"")) {
                    let path = &rest[..rest.find('"').unwrap()];
                    let path = if path.starts_with("/api/") {
                        path.to_owned()
                    } else {
                        format!("{}{path}", scope_of(&file, path))
                    };
                    routes.insert((method.to_uppercase(), path));
                }
            }
        }
    }
    routes
}

#[actix_web::test]
async fn openapi_json_documents_every_route_without_authentication() {
    let app = TestApp::spawn().await;
    let res = app.get("/api/openapi.json").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/json");
    let doc: Value = res.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");

    let expected: BTreeSet<_> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    let ops = documented(&doc);
    assert_eq!(ops, expected, "documented routes against SPEC's list");
    let declared = declared_in_source();
    assert!(declared.len() >= ROUTES.len() - 1, "{declared:?}");
    for route in &declared {
        assert!(
            ops.contains(route),
            "{route:?} is served but not documented"
        );
    }

    // Both ways in: a bearer token, and the session cookie with its CSRF header.
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["type"], "http");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["session"]["type"], "apiKey");
    assert_eq!(schemes["session"]["in"], "cookie");
    assert_eq!(schemes["session"]["name"], "mm_session");
    assert_eq!(schemes["csrf"]["in"], "header");
    assert_eq!(schemes["csrf"]["name"], "X-CSRF-Token");

    // The error shape, with SPEC §5's codes.
    let schemas = &doc["components"]["schemas"];
    let codes: Vec<&str> = schemas["ErrorCode"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    for code in [
        "invalid_token",
        "insufficient_scope",
        "validation_failed",
        "internal",
    ] {
        assert!(codes.contains(&code), "{code}");
    }
    assert!(schemas["ErrorDetail"]["properties"]["fields"].is_object());

    for (method, path) in &ops {
        let op = &doc["paths"][path][method.to_lowercase()];
        let responses = op["responses"].as_object().unwrap();
        if PUBLIC.contains(&path.as_str()) {
            continue;
        }
        let security = op["security"].as_array().unwrap();
        assert!(
            security.iter().any(|r| r.get("session").is_some()),
            "{method} {path}"
        );
        for status in ["401", "403", "429"] {
            assert!(responses.contains_key(status), "{method} {path} {status}");
        }
        // A session needs the CSRF header on unsafe methods, and only there.
        let needs_csrf = security.iter().any(|r| r.get("csrf").is_some());
        assert_eq!(needs_csrf, method != "GET", "{method} {path}");
        // Every path parameter is documented.
        for name in path.split('{').skip(1).map(|s| &s[..s.find('}').unwrap()]) {
            let params = op["parameters"].as_array().unwrap();
            assert!(
                params
                    .iter()
                    .any(|p| p["name"] == name && p["in"] == "path"),
                "{method} {path} {name}"
            );
        }
        if path.contains('{') {
            assert!(responses.contains_key("404"), "{method} {path}");
        }
    }

    // Lists document their paging, and the Link header.
    let list = &doc["paths"]["/api/projects/{id}/messages"]["get"];
    let names: Vec<&str> = list["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"limit") && names.contains(&"cursor"),
        "{names:?}"
    );
    assert!(list["responses"]["200"]["headers"]["Link"].is_object());
    assert!(list["responses"].get("422").is_some());
    // A scope is named on the bearer requirement.
    assert_eq!(list["security"][0]["bearer"][0], "messages");
    // A JSON body can be refused for what it is.
    let create = &doc["paths"]["/api/tokens"]["post"];
    for status in ["413", "415", "422"] {
        assert!(create["responses"].get(status).is_some(), "{status}");
    }
    assert!(
        doc["paths"]["/api/projects/{id}/files/{name}"]["put"]["responses"]
            .get("413")
            .is_some()
    );
}

#[actix_web::test]
async fn the_api_reference_page_is_rendered_from_the_document_without_login() {
    let app = TestApp::spawn().await;
    let res = app.get("/docs/api").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = res.text().await.unwrap();
    for (method, path) in ROUTES {
        assert!(
            html.contains(&format!("{method} {path}")),
            "{method} {path}"
        );
    }
    assert!(html.contains("bearer token with publish"));
    assert!(html.contains("session cookie + X-CSRF-Token"));
    // No inline script or style: the page lives under the CSP like every other.
    assert!(!html.contains("<script>") && !html.contains("<style") && !html.contains(" style="));

    // Linked from the tokens page.
    app.signup("reader@example.com").await;
    let tokens = app.get_html("/settings/tokens").await;
    assert!(tokens.contains("href=\"/docs/api\""));
}

/// Found by `scripts/contract-test` on PostgreSQL, which refuses a NUL in text outright: each
/// was a 500. Each now gets the answer any other bad value of that field gets.
#[actix_web::test]
async fn a_nul_character_is_a_client_error_not_a_500() {
    let app = TestApp::spawn().await;
    let owner = app.with_user("nul@example.com").await;
    let project = owner.with_project("Nul").await;

    // A member's email: no account has it.
    let res = owner
        .session(Method::POST, &format!("/api/projects/{project}/members"))
        .json(&serde_json::json!({ "email": "a\u{0}@example.com", "role": "editor" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(res).await, "validation_failed");

    // A message's body.
    let res = owner
        .session(Method::POST, &format!("/api/projects/{project}/messages"))
        .json(&serde_json::json!({ "body": "a\u{0}b" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = res.json().await.unwrap();
    assert!(body["error"]["fields"]["body"].is_string(), "{body}");

    // A cursor: well-formed hex, but its key carries a NUL.
    let cursor: String = "|a\u{0}b".bytes().map(|b| format!("{b:02x}")).collect();
    let res = owner
        .get(&format!("/api/projects/{project}/files?cursor={cursor}"))
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = res.json().await.unwrap();
    assert!(body["error"]["fields"]["cursor"].is_string(), "{body}");

    // The login form: the same answer as any unknown email.
    let stranger = app.new_browser();
    let unknown = stranger
        .login("nobody@example.com", "a long password")
        .await;
    let nul = stranger
        .login("a\u{0}@example.com", "a long password")
        .await;
    assert_eq!(nul.status(), unknown.status());
    assert_ne!(nul.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

/// SPEC §5, §8.6: a method a path lacks is 405 with `Allow`, in the error shape of the path's
/// clients, whoever asks; an unknown path is still 404.
#[actix_web::test]
async fn a_method_a_path_lacks_is_405_with_allow_on_the_api_and_the_dashboard() {
    let app = TestApp::spawn().await;
    let trace = Method::from_bytes(b"TRACE").unwrap();

    // Without credentials, and with a malformed `Authorization`: the method is about the
    // resource, so it is answered before the caller is.
    for auth in [None, Some("Bearer a b")] {
        let mut req = app.client.request(trace.clone(), app.url("/api/me"));
        if let Some(auth) = auth {
            req = req.header("Authorization", auth);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED, "{auth:?}");
        assert_eq!(res.headers()["allow"], "GET, OPTIONS");
        assert_eq!(error_code(res).await, "method_not_allowed");
    }
    let res = app
        .client
        .delete(app.url("/api/projects/7f1c2f2e-0b7e-4c52-9a43-5d2f2f0c9a10/files"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(res.headers()["allow"], "GET, OPTIONS");
    assert_eq!(error_code(res).await, "method_not_allowed");

    // The dashboard: the error page a browser shows, with the same status and `Allow`.
    let res = app
        .client
        .put(app.url("/settings/tokens"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(res.headers()["allow"], "GET, POST, OPTIONS");
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(res.text().await.unwrap().contains("405"));

    // A path no route has is not found, whatever the method.
    for (method, path) in [(trace, "/nowhere"), (Method::PUT, "/settings/nowhere")] {
        let res = app
            .client
            .request(method, app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(res.headers().get("allow").is_none());
    }
}

/// `OPTIONS` says which methods a path takes: 204 and `Allow`, from the same route table as
/// `/api/openapi.json`.
#[actix_web::test]
async fn options_answers_204_with_the_methods_the_document_lists() {
    let app = TestApp::spawn().await;
    let doc: Value = app.get("/api/openapi.json").await.json().await.unwrap();
    for (path, concrete) in [
        (
            "/api/projects/{id}/files/{name}",
            "/api/projects/7f1c2f2e-0b7e-4c52-9a43-5d2f2f0c9a10/files/report.pdf",
        ),
        ("/api/tokens", "/api/tokens"),
        ("/api/credentials/revoke", "/api/credentials/revoke"),
    ] {
        let res = app
            .client
            .request(Method::OPTIONS, app.url(concrete))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NO_CONTENT, "{path}");
        let allow = res.headers()["allow"].to_str().unwrap().to_owned();
        let mut documented: Vec<String> = ["get", "post", "put", "patch", "delete"]
            .into_iter()
            .filter(|m| !doc["paths"][path][m].is_null())
            .map(str::to_uppercase)
            .collect();
        documented.push("OPTIONS".into());
        assert_eq!(allow, documented.join(", "), "{path}");
    }
    let res = app
        .client
        .request(Method::OPTIONS, app.url("/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(res.headers()["allow"], "GET, POST, OPTIONS");
}

/// SPEC §8.6: the document states what the server checks, from the same constants, and the
/// server refuses what the document excludes.
#[actix_web::test]
async fn the_document_states_the_patterns_and_bounds_the_server_checks() {
    let app = TestApp::spawn().await;
    let doc: Value = app.get("/api/openapi.json").await.json().await.unwrap();
    let params = doc["paths"]["/api/projects/{id}/messages"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let param = |name: &str| {
        params
            .iter()
            .find(|p| p["name"] == name)
            .map(|p| p["schema"].clone())
            .unwrap()
    };
    let limit = param("limit");
    assert_eq!(limit["minimum"], mantel::domain::MIN_LIMIT);
    assert_eq!(limit["maximum"], mantel::domain::MAX_LIMIT);
    assert_eq!(
        (limit["minimum"].clone(), limit["maximum"].clone()),
        (1.into(), 200.into())
    );
    assert_eq!(param("cursor")["pattern"], mantel::domain::CURSOR_PATTERN);

    let report = &doc["components"]["schemas"]["RevokeRequest"]["properties"]["credentials"];
    assert_eq!(report["items"]["pattern"], "^mm_pat_[0-9A-Za-z]{32}$");
    assert_eq!(
        report["items"]["pattern"],
        mantel::domain::token::TOKEN_PATTERN
    );
    assert_eq!(
        (report["minItems"].clone(), report["maxItems"].clone()),
        (1.into(), 1000.into())
    );
    let ranges = &doc["components"]["schemas"]["AllowedIps"];
    assert_eq!(ranges["items"]["pattern"], mantel::domain::cidr::pattern());
    assert_eq!(ranges["maxItems"], 20);
    assert_eq!(
        doc["components"]["schemas"]["NewToken"]["properties"]["allowedIps"]["$ref"],
        "#/components/schemas/AllowedIps"
    );
    let member = &doc["components"]["schemas"]["NewMember"]["properties"]["email"];
    assert_eq!(member["format"], "email");

    // What the patterns exclude is refused: an empty or edited cursor, a credential that is
    // not a token's shape (one with a wrong checksum is only ignored: no pattern says that).
    let owner = app.with_user("patterns@example.com").await;
    let project = owner.with_project("Patterns").await;
    for cursor in ["", "zz", "7C6B"] {
        let res = owner
            .get(&format!("/api/projects/{project}/messages?cursor={cursor}"))
            .await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{cursor:?}");
        assert_eq!(error_code(res).await, "validation_failed");
    }
    let res = owner
        .get(&format!("/api/projects/{project}/messages?limit="))
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let report = |credential: &str| {
        app.client
            .post(app.url("/api/credentials/revoke"))
            .json(&serde_json::json!({ "credentials": [credential] }))
            .send()
    };
    let res = report("not a token").await.unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = report("mm_pat_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
}

/// `/docs/api` shows the same limits, so a person reading it knows a valid request too.
#[actix_web::test]
async fn the_api_reference_page_shows_the_patterns_and_bounds() {
    let app = TestApp::spawn().await;
    let html = app.get_html("/docs/api").await;
    assert!(html.contains("integer, 1 to 200"), "limit bounds");
    let escaped = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    assert!(
        html.contains(&escaped(mantel::domain::CURSOR_PATTERN)),
        "cursor pattern"
    );
    assert!(
        html.contains("matching ^mm_pat_[0-9A-Za-z]{32}$"),
        "token pattern"
    );
}
