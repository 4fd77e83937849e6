//! The one extractor (SPEC §5): how a request says who it is — a bearer token by RFC 6750's
//! rules, or the session cookie with CSRF proof — and what it refuses.

use reqwest::{Method, StatusCode};
use serde_json::json;

use std::sync::Arc;

use mantel::clock::Clock;

use crate::helpers::{client, error_code, TestApp, TestDb};

/// A server that does not count bad tokens per address: that count is written by a
/// background task every second, whose statements would race the counting of these tests.
async fn without_failure_counts() -> TestApp {
    let no_count = |s: &mut mantel::config::Settings| s.bearer_failure_limit = 0;
    TestApp::spawn_with(Arc::new(TestDb::new()), Clock::default(), no_count).await
}

#[actix_web::test]
async fn a_malformed_token_is_refused_without_touching_the_database() {
    let app = without_failure_counts().await;
    let bad_checksum = "mm_pat_AAAAAAAAAAAAAAAAAAAAAAAAAA2dbXlq";
    for bad in [
        bad_checksum,
        "mm_pat_short",
        "ghp_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ] {
        let before = app.state.queries.get();
        let res = app.bearer_get("/api/me", bad).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            app.state.queries.get(),
            before,
            "a malformed token must cost no query"
        );
        assert!(res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains(r#"error="invalid_token""#));
        assert_eq!(error_code(res).await, "invalid_token");
    }
}

#[actix_web::test]
async fn a_well_formed_unknown_token_costs_one_lookup() {
    let app = without_failure_counts().await;
    let good_shape = "mm_pat_AAAAAAAAAAAAAAAAAAAAAAAAAA2dbXlp";
    let before = app.state.queries.get();
    let res = app.bearer_get("/api/me", good_shape).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.state.queries.get(), before + 1, "one indexed lookup");
    assert_eq!(error_code(res).await, "invalid_token");
}

/// `GET /api/me` with this `Authorization` header and no cookies.
async fn me_with(app: &TestApp, value: reqwest::header::HeaderValue) -> reqwest::Response {
    client()
        .get(app.url("/api/me"))
        .header("Authorization", value)
        .send()
        .await
        .unwrap()
}

#[actix_web::test]
async fn another_scheme_is_no_credentials_at_all() {
    let app = TestApp::spawn().await;
    let res = me_with(&app, "Basic dXNlcjpwYXNz".parse().unwrap()).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        res.headers()["www-authenticate"],
        r#"Bearer realm="mantel""#
    );
    assert_eq!(error_code(res).await, "unauthenticated");
}

#[actix_web::test]
async fn a_malformed_bearer_header_is_a_bad_request() {
    let app = TestApp::spawn().await;
    for malformed in ["Bearer", "Bearer a b"] {
        let res = me_with(&app, malformed.parse().unwrap()).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{malformed}");
        assert!(res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains(r#"error="invalid_request""#));
        assert_eq!(error_code(res).await, "invalid_request");
    }
    let not_text = reqwest::header::HeaderValue::from_bytes(b"Bearer mm_pat_\xff").unwrap();
    let res = me_with(&app, not_text).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

/// Two `Authorization` headers name two credentials: neither decides, even when both are the
/// same good token.
#[actix_web::test]
async fn two_authorization_headers_are_a_bad_request() {
    let app = TestApp::spawn().await;
    let user = app.with_user("twice@example.com").await;
    let token = user.with_token("ci", &["publish"], "1m").await;
    let bearer = format!("Bearer {}", token.plaintext);
    for second in [bearer.as_str(), "Basic dXNlcjpwYXNz"] {
        let res = client()
            .get(app.url("/api/me"))
            .header("Authorization", &bearer)
            .header("Authorization", second)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{second}");
        assert!(res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains(r#"error="invalid_request""#));
        assert_eq!(error_code(res).await, "invalid_request");
    }
    assert_eq!(
        app.bearer_get("/api/me", &token.plaintext).await.status(),
        StatusCode::OK,
        "one is fine"
    );
}

/// A method HTTP does not define is refused before anything records it: not in the token's
/// activity, and not in the request log.
#[actix_web::test]
async fn an_unknown_method_is_refused_before_it_is_recorded() {
    let app = TestApp::spawn().await;
    let user = app.with_user("methods@example.com").await;
    let token = user.with_token("ci", &["publish"], "1m").await;
    let odd_method = || Method::from_bytes(("X".repeat(40) + "METHODMARKER").as_bytes()).unwrap();
    let res = app
        .bearer(odd_method(), "/api/me", &token.plaintext)
        .send()
        .await
        .unwrap();
    // A path the server has says which methods it takes, as for any method it lacks.
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(!res.headers().contains_key("www-authenticate"));
    assert_eq!(res.headers()["allow"], "GET, OPTIONS");
    assert_eq!(error_code(res).await, "method_not_allowed");
    // Elsewhere it is a bad request.
    let res = app
        .bearer(odd_method(), "/api/nothing-here", &token.plaintext)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(res).await, "invalid_request");
    // Known methods are routed as before.
    assert_eq!(
        app.bearer_get("/api/me", &token.plaintext).await.status(),
        StatusCode::OK
    );

    let state = &app.state;
    state
        .activity
        .flush(&state.pool, &state.notifier)
        .await
        .unwrap();
    let items: Vec<serde_json::Value> = user
        .get(&format!("/api/tokens/{}/activity", token.id))
        .await
        .json()
        .await
        .unwrap();
    let methods: Vec<_> = items
        .iter()
        .map(|r| r["method"].as_str().unwrap())
        .collect();
    assert_eq!(methods, ["GET"]);
    assert!(!crate::helpers::logs::logs().contains("METHODMARKER"));
}

#[actix_web::test]
async fn no_credentials_get_a_challenge_without_an_error_code() {
    let app = TestApp::spawn().await;
    let res = client().get(app.url("/api/me")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        res.headers()["www-authenticate"],
        r#"Bearer realm="mantel""#
    );
}

#[actix_web::test]
async fn a_token_in_the_query_string_is_not_accepted() {
    let user = TestApp::spawn().await.with_user("rfc@example.com").await;
    let token = user.with_token("query", &["publish"], "1m").await.plaintext;
    let res = client()
        .get(user.url(&format!("/api/me?access_token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(res).await, "unauthenticated");
}

#[actix_web::test]
async fn a_bad_bearer_never_falls_back_to_a_valid_cookie() {
    let user = TestApp::spawn()
        .await
        .with_user("fallback@example.com")
        .await;
    assert_eq!(
        user.get("/api/me").await.status(),
        StatusCode::OK,
        "the cookie alone works"
    );
    for value in [
        "Bearer mm_pat_AAAAAAAAAAAAAAAAAAAAAAAAAA2dbXlp",
        "Bearer mm_pat_nope",
        "Basic Zm9vOmJhcg==",
    ] {
        let res = user
            .client
            .get(user.url("/api/me"))
            .header("Authorization", value)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{value}");
    }
}

#[actix_web::test]
async fn cookie_writes_need_the_csrf_header_and_our_origin() {
    let user = TestApp::spawn().await.with_user("csrf@example.com").await;
    let body = json!({ "name": "x", "scopes": ["publish"] });
    let post = || user.client.post(user.url("/api/tokens")).json(&body);
    let refused = [
        post(),
        post().header("X-CSRF-Token", "wrong"),
        post()
            .header("X-CSRF-Token", &user.csrf)
            .header("Origin", "https://evil.example"),
        post()
            .header("X-CSRF-Token", &user.csrf)
            .header("Sec-Fetch-Site", "cross-site"),
    ];
    for attempt in refused {
        let res = attempt.send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert_eq!(error_code(res).await, "csrf_failed");
    }
    assert!(user.tokens().await.is_empty(), "nothing was created");
    let ok = user
        .session_request(Method::POST, "/api/tokens", &user.csrf)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::CREATED);
}

/// A token without its route's scope is refused before routing (SPEC §6; scope first,
/// `auth::permission`): it learns nothing of the route — not whether the project exists, nor
/// whether its body would have parsed — and the answer still carries its expiry and quota.
#[actix_web::test]
async fn a_token_without_the_routes_scope_learns_nothing_of_the_route() {
    let app = TestApp::spawn().await;
    let user = app.with_user("scope-first@example.com").await;
    let project = user.with_project("Site").await;
    let narrow = user.with_token("narrow", &["publish"], "1y").await;
    let wide = user.with_token("wide", &["messages"], "1y").await;
    let post = |path: String, token: &str, body: &'static str| {
        app.bearer(Method::POST, &path, token)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
    };
    let unknown = "/api/projects/00000000-0000-4000-8000-000000000000/messages";
    let asked = [
        (format!("/api/projects/{project}/messages"), "{not json"),
        (unknown.to_owned(), r#"{"body": "hi"}"#),
        ("/api/projects/not-a-uuid/messages".to_owned(), "{}"),
    ];
    for (path, body) in asked.clone() {
        let res = post(path.clone(), &narrow.plaintext, body).await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path}");
        assert_eq!(
            res.headers()["www-authenticate"],
            r#"Bearer realm="mantel", error="insufficient_scope", scope="messages""#
        );
        assert!(res.headers().contains_key("mantel-token-expiration"));
        assert!(res.headers().contains_key("ratelimit"));
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "insufficient_scope", "{path}");
        assert_eq!(body["error"]["scope"], "messages");
    }
    // With the scope, the same requests reach the route and are told what is wrong there.
    let told: Vec<String> = {
        let mut told = Vec::new();
        for (path, body) in asked {
            told.push(error_code(post(path, &wide.plaintext, body).await.unwrap()).await);
        }
        told
    };
    assert_eq!(told, ["bad_json", "not_found", "not_found"]);
    let res = app
        .bearer_get(
            &format!("/api/projects/{project}/messages"),
            &wide.plaintext,
        )
        .await;
    let messages: Vec<serde_json::Value> = res.json().await.unwrap();
    assert!(messages.is_empty(), "nothing was posted: {messages:?}");
}
