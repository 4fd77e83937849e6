//! The token lifecycle and the one extractor (SPEC §4, §5): every promise of the seed page.

use chrono::Duration;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{error_code, spawn_app, TestApp};

async fn logged_in(email: &str) -> (TestApp, String) {
    let app = spawn_app().await;
    let csrf = app.signup(email).await;
    (app, csrf)
}

async fn token_list(app: &TestApp) -> Vec<Value> {
    let res = app.get("/api/tokens").await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

fn is_well_formed(token: &str) -> bool {
    token.len() == 39
        && token.starts_with("mm_pat_")
        && token[7..].bytes().all(|b| b.is_ascii_alphanumeric())
}

#[actix_web::test]
async fn the_plaintext_is_shown_once_and_never_again() {
    let (app, csrf) = logged_in("once@example.com").await;
    let res = app
        .session_request(Method::POST, "/api/tokens", &csrf)
        .json(&json!({ "name": "CI pipeline", "scopes": ["publish"], "expiry": "1y" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let created: Value = res.json().await.unwrap();
    let token = created["token"].as_str().unwrap().to_owned();
    assert!(is_well_formed(&token), "{token}");
    assert_eq!(created["prefix"], &token[..11]);
    assert_eq!(created["name"], "CI pipeline");
    assert_eq!(created["scopes"], json!(["publish"]));
    for key in ["id", "createdAt", "expiresAt"] {
        assert!(created[key].is_string(), "{key} in {created}");
    }

    // Nothing reachable afterwards shows it: the JSON list, the page, the database, the logs.
    let list = app.get("/api/tokens").await.text().await.unwrap();
    assert!(list.contains(&token[..11]) && !list.contains(&token));
    let page = app.get_html("/settings/tokens").await;
    assert!(page.contains(&token[..11]) && !page.contains(&token));
    let stored = app.db.raw_contents();
    assert!(
        stored.contains(&token[..11]),
        "the prefix is stored (the dump is real)"
    );
    assert!(
        !stored.contains(&token),
        "the plaintext must never be stored"
    );
    assert!(!crate::helpers::logs().contains(&token));
}

#[actix_web::test]
async fn the_dashboard_creates_a_token_shows_it_once_and_revokes_it() {
    let (app, csrf) = logged_in("dash@example.com").await;
    let form = app.get_html("/settings/tokens/new").await;
    assert!(
        form.contains(r#"<option value="1y" selected>"#),
        "1 year is preselected"
    );
    let res = app
        .post_form(
            "/settings/tokens",
            &[
                ("name", "Zapier — Slack"),
                ("scopes", "messages"),
                ("scopes", "files"),
                ("expiry", "6m"),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    // Post/redirect/get: the POST answers with where the token is shown, never the token.
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with("/settings/tokens/") && location.ends_with("/created"),
        "{location}"
    );
    assert!(!res.text().await.unwrap().contains("mm_pat_"));
    let res = app.get(&location).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let reveal = res.text().await.unwrap();
    assert!(reveal.contains("it will not be shown again"));
    let start = reveal.find("mm_pat_").unwrap();
    let token = reveal[start..start + 39].to_owned();
    assert!(is_well_formed(&token));

    // A second view (a reload, Back) says what happened, without the token; so does anyone
    // else's view, which finds nothing at all.
    let res = app.get(&location).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let again = res.text().await.unwrap();
    assert!(again.contains("can no longer be shown") && again.contains("Zapier — Slack"));
    assert!(!again.contains(&token) && !again.contains("it will not be shown again"));
    let other = app.new_browser();
    other.signup("other@example.com").await;
    assert_eq!(other.get(&location).await.status(), StatusCode::NOT_FOUND);
    assert!(!app.db.raw_contents().contains(&token));
    assert!(!crate::helpers::logs().contains(&token));

    let me: Value = app
        .bearer_get("/api/me", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["auth"]["token"]["scopes"], json!(["messages", "files"]));

    let list = app.get_html("/settings/tokens").await;
    assert!(list.contains("Zapier — Slack") && !list.contains(&token));
    let id = token_list(&app).await[0]["id"].as_str().unwrap().to_owned();
    let confirm = app.get_html(&format!("/settings/tokens/{id}/revoke")).await;
    assert!(confirm.contains("Revoke"));

    let res = app
        .post_form(
            &format!("/settings/tokens/{id}/revoke"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/settings/tokens");
    let list = app.get_html("/settings/tokens").await;
    assert!(
        list.contains("Revoked “Zapier — Slack”"),
        "a flash confirms the revocation"
    );
    assert!(list.contains(r#"class="badge revoked""#));
    assert_eq!(
        app.bearer_get("/api/me", &token).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[actix_web::test]
async fn dashboard_validation_errors_keep_what_was_typed_and_names_render_as_text() {
    let (app, csrf) = logged_in("form@example.com").await;
    let res = app
        .post_form(
            "/settings/tokens",
            &[
                ("name", "<b>kept</b>"),
                ("expiry", "never"),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(html.contains("Pick at least one scope."));
    assert!(
        html.contains("value=\"&#60;b&#62;kept&#60;/b&#62;\"")
            || html.contains("value=\"&lt;b&gt;kept&lt;/b&gt;\""),
        "{html}"
    );
    assert!(html.contains(r#"<option value="never" selected>"#));
    assert!(token_list(&app).await.is_empty(), "nothing was created");

    app.create_token(&csrf, "<script>alert(1)</script>", &["files"], "1m")
        .await;
    let page = app.get_html("/settings/tokens").await;
    assert!(
        !page.contains("<script>alert(1)</script>"),
        "a name is shown as text, never as HTML"
    );
}

#[actix_web::test]
async fn a_bearer_token_works_on_api_me() {
    let (app, csrf) = logged_in("me@example.com").await;
    let created = app
        .create_token(
            &csrf,
            "Ops dashboard",
            &["billing.read", "publish"],
            "never",
        )
        .await;
    let token = created["token"].as_str().unwrap();
    let res = app.bearer_get("/api/me", token).await;
    assert_eq!(res.status(), StatusCode::OK);
    let me: Value = res.json().await.unwrap();
    assert_eq!(me["user"]["email"], "me@example.com");
    assert_eq!(me["auth"]["kind"], "token");
    assert_eq!(me["auth"]["token"]["id"], created["id"]);
    assert_eq!(me["auth"]["token"]["name"], "Ops dashboard");
    assert_eq!(me["auth"]["token"]["prefix"], created["prefix"]);
    assert_eq!(
        me["auth"]["token"]["scopes"],
        json!(["publish", "billing.read"])
    );
    assert_eq!(me["auth"]["token"]["expiresAt"], Value::Null);

    // The scheme is case-insensitive.
    let res = crate::helpers::client()
        .get(app.url("/api/me"))
        .header("Authorization", format!("bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    let session: Value = app.get("/api/me").await.json().await.unwrap();
    assert_eq!(session["auth"]["kind"], "session");
}

#[actix_web::test]
async fn revocation_holds_on_the_very_next_request() {
    let (app, csrf) = logged_in("revoke@example.com").await;
    let created = app.create_token(&csrf, "CI", &["publish"], "1y").await;
    let token = created["token"].as_str().unwrap();
    let id = created["id"].as_str().unwrap();
    assert_eq!(
        app.bearer_get("/api/me", token).await.status(),
        StatusCode::OK
    );

    let res = app
        .session_request(Method::DELETE, &format!("/api/tokens/{id}"), &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    let res = app.bearer_get("/api/me", token).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let www = res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        www.starts_with(r#"Bearer realm="mantel", error="invalid_token""#),
        "{www}"
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_token");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("revoked"));

    let listed = token_list(&app).await;
    assert_eq!(listed[0]["status"], "revoked");
    assert!(listed[0]["revokedAt"].is_string());
    // Revocation is final: revoking again changes nothing and there is no way back.
    let again = app
        .session_request(Method::DELETE, &format!("/api/tokens/{id}"), &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        token_list(&app).await[0]["revokedAt"],
        listed[0]["revokedAt"]
    );
}

#[actix_web::test]
async fn an_expired_token_is_refused_from_the_instant_of_expiry() {
    let (app, csrf) = logged_in("expiry@example.com").await;
    let created = app.create_token(&csrf, "short", &["publish"], "1m").await;
    let token = created["token"].as_str().unwrap();
    let created_at =
        chrono::DateTime::parse_from_rfc3339(created["createdAt"].as_str().unwrap()).unwrap();
    let expires_at =
        chrono::DateTime::parse_from_rfc3339(created["expiresAt"].as_str().unwrap()).unwrap();
    let days = (expires_at - created_at).num_days();
    assert!(
        (28..=31).contains(&days),
        "one calendar month, got {days} days"
    );

    app.clock.advance(Duration::days(27));
    assert_eq!(
        app.bearer_get("/api/me", token).await.status(),
        StatusCode::OK
    );
    app.clock.advance(Duration::days(5));
    let res = app.bearer_get("/api/me", token).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.text().await.unwrap().contains("expired"));
    // A month later the dashboard session has long ended too: log in again to look.
    app.login("expiry@example.com", crate::helpers::PASSWORD)
        .await;
    let list = app
        .get("/api/tokens")
        .await
        .json::<Vec<Value>>()
        .await
        .unwrap();
    assert_eq!(list[0]["status"], "expired");
    assert!(app.get_html("/settings/tokens").await.contains("Expired"));
}

#[actix_web::test]
async fn a_token_can_never_list_create_or_revoke_tokens() {
    let (app, csrf) = logged_in("mint@example.com").await;
    let created = app
        .create_token(
            &csrf,
            "leaked",
            &["publish", "messages", "files", "domain", "billing.read"],
            "1y",
        )
        .await;
    let token = created["token"].as_str().unwrap();
    let id = created["id"].as_str().unwrap();

    let attempts = [
        app.bearer(Method::GET, "/api/tokens", token),
        app.bearer(Method::POST, "/api/tokens", token)
            .json(&json!({ "name": "more", "scopes": ["publish"] })),
        app.bearer(Method::DELETE, &format!("/api/tokens/{id}"), token),
        // The same, with the owner's valid session cookie and CSRF header alongside.
        app.session_request(Method::POST, "/api/tokens", &csrf)
            .header("Authorization", format!("Bearer {token}"))
            .json(&json!({ "name": "more", "scopes": ["publish"] })),
        app.session_request(Method::DELETE, &format!("/api/tokens/{id}"), &csrf)
            .header("Authorization", format!("Bearer {token}")),
    ];
    for attempt in attempts {
        let res = attempt.send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert_eq!(error_code(res).await, "session_required");
    }
    let dashboard = app
        .client
        .post(app.url("/settings/tokens"))
        .header("Authorization", format!("Bearer {token}"))
        .form(&[
            ("name", "more"),
            ("scopes", "publish"),
            ("csrf_token", csrf.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(dashboard.status(), StatusCode::FORBIDDEN);

    let list = token_list(&app).await;
    assert_eq!(list.len(), 1, "no token was created");
    assert_eq!(list[0]["status"], "active", "the token was not revoked");
}

#[actix_web::test]
async fn a_malformed_token_is_refused_without_touching_the_database() {
    let app = spawn_app().await;
    let good_shape = "mm_pat_AAAAAAAAAAAAAAAAAAAAAAAAAA2dbXlp";
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
    // The control: a well-formed token is looked up (and is unknown).
    let before = app.state.queries.get();
    let res = app.bearer_get("/api/me", good_shape).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.state.queries.get(), before + 1, "one indexed lookup");
    assert_eq!(error_code(res).await, "invalid_token");
}

#[actix_web::test]
async fn authorization_header_rules_of_rfc_6750() {
    let (app, _) = logged_in("rfc@example.com").await;
    let send = |value: &'static str| {
        let url = app.url("/api/me");
        async move {
            crate::helpers::client()
                .get(url)
                .header("Authorization", value)
                .send()
                .await
                .unwrap()
        }
    };
    // Another scheme is no credentials at all.
    let res = send("Basic dXNlcjpwYXNz").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        res.headers()["www-authenticate"],
        r#"Bearer realm="mantel""#
    );
    assert_eq!(error_code(res).await, "unauthenticated");
    for malformed in ["Bearer", "Bearer a b"] {
        let res = send(malformed).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{malformed}");
        assert!(res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains(r#"error="invalid_request""#));
        assert_eq!(error_code(res).await, "invalid_request");
    }
    let res = crate::helpers::client()
        .get(app.url("/api/me"))
        .header(
            "Authorization",
            reqwest::header::HeaderValue::from_bytes(b"Bearer mm_pat_\xff").unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    // No credentials: 401 without an error code in the challenge.
    let res = crate::helpers::client()
        .get(app.url("/api/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        res.headers()["www-authenticate"],
        r#"Bearer realm="mantel""#
    );
    // Tokens in the query string are not accepted.
    let csrf = app.page_csrf().await;
    let token = app.create_token(&csrf, "query", &["publish"], "1m").await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = crate::helpers::client()
        .get(app.url(&format!("/api/me?access_token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(res).await, "unauthenticated");
}

#[actix_web::test]
async fn a_bad_bearer_never_falls_back_to_a_valid_cookie() {
    let (app, _) = logged_in("fallback@example.com").await;
    assert_eq!(
        app.get("/api/me").await.status(),
        StatusCode::OK,
        "the cookie alone works"
    );
    for value in [
        "Bearer mm_pat_AAAAAAAAAAAAAAAAAAAAAAAAAA2dbXlp",
        "Bearer mm_pat_nope",
        "Basic Zm9vOmJhcg==",
    ] {
        let res = app
            .client
            .get(app.url("/api/me"))
            .header("Authorization", value)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{value}");
    }
}

#[actix_web::test]
async fn cookie_writes_need_the_csrf_header_and_our_origin() {
    let (app, csrf) = logged_in("csrf@example.com").await;
    let body = json!({ "name": "x", "scopes": ["publish"] });
    let post = || app.client.post(app.url("/api/tokens")).json(&body);
    let refused = [
        post(),
        post().header("X-CSRF-Token", "wrong"),
        post()
            .header("X-CSRF-Token", &csrf)
            .header("Origin", "https://evil.example"),
        post()
            .header("X-CSRF-Token", &csrf)
            .header("Sec-Fetch-Site", "cross-site"),
    ];
    for attempt in refused {
        let res = attempt.send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert_eq!(error_code(res).await, "csrf_failed");
    }
    assert!(token_list(&app).await.is_empty(), "nothing was created");
    let ok = post()
        .header("X-CSRF-Token", &csrf)
        .header("Origin", &app.address)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::CREATED);
}

#[actix_web::test]
async fn token_requests_are_validated_field_by_field() {
    let (app, csrf) = logged_in("valid@example.com").await;
    let post = |body: Value| {
        app.session_request(Method::POST, "/api/tokens", &csrf)
            .json(&body)
            .send()
    };
    let cases = [
        (json!({ "name": "  ", "scopes": ["publish"] }), "name"),
        (
            json!({ "name": "x".repeat(101), "scopes": ["publish"] }),
            "name",
        ),
        (json!({ "name": "ok", "scopes": [] }), "scopes"),
        (json!({ "name": "ok", "scopes": ["admin"] }), "scopes"),
        (
            json!({ "name": "ok", "scopes": ["publish"], "expiry": "2y" }),
            "expiry",
        ),
    ];
    for (body, field) in cases {
        let res = post(body.clone()).await.unwrap();
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let err: Value = res.json().await.unwrap();
        assert_eq!(err["error"]["code"], "validation_failed");
        assert!(err["error"]["fields"][field].is_string(), "{err}");
    }
    let res = app
        .session_request(Method::POST, "/api/tokens", &csrf)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(res).await, "bad_json");
    let res = app
        .session_request(Method::POST, "/api/tokens", &csrf)
        .header("content-type", "application/json")
        .body(format!(r#"{{"name":"{}"}}"#, "x".repeat(70 * 1024)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_code(res).await, "payload_too_large");
    assert!(token_list(&app).await.is_empty());

    // Names are trimmed and unique among live tokens; a revoked token frees its name.
    let first = app.create_token(&csrf, " CI ", &["publish"], "1y").await;
    assert_eq!(first["name"], "CI");
    let dup = post(json!({ "name": "CI", "scopes": ["files"] }))
        .await
        .unwrap();
    assert_eq!(dup.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let id = first["id"].as_str().unwrap();
    app.session_request(Method::DELETE, &format!("/api/tokens/{id}"), &csrf)
        .send()
        .await
        .unwrap();
    app.create_token(&csrf, "CI", &["files"], "1y").await;
}

#[actix_web::test]
async fn at_most_100_live_tokens() {
    let (app, csrf) = logged_in("many@example.com").await;
    for i in 0..100 {
        app.create_token(&csrf, &format!("token {i}"), &["publish"], "1m")
            .await;
    }
    let res = app
        .session_request(Method::POST, "/api/tokens", &csrf)
        .json(&json!({ "name": "one too many", "scopes": ["publish"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(res).await, "validation_failed");
    let id = token_list(&app).await[0]["id"].as_str().unwrap().to_owned();
    app.session_request(Method::DELETE, &format!("/api/tokens/{id}"), &csrf)
        .send()
        .await
        .unwrap();
    app.create_token(&csrf, "one too many", &["publish"], "1m")
        .await;
}

#[actix_web::test]
async fn someone_elses_token_is_not_found() {
    let (alice, alice_csrf) = logged_in("alice@example.com").await;
    let id = alice
        .create_token(&alice_csrf, "alice's", &["publish"], "1y")
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let bob = TestApp {
        client: crate::helpers::client(),
        ..alice
    };
    let bob_csrf = bob.signup("bob@example.com").await;
    let res = bob
        .session_request(Method::DELETE, &format!("/api/tokens/{id}"), &bob_csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(res).await, "not_found");
    assert!(token_list(&bob).await.is_empty());
    let res = bob
        .post_form(
            &format!("/settings/tokens/{id}/revoke"),
            &[("csrf_token", &bob_csrf)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn last_use_is_recorded_off_the_request_path_at_most_once_a_minute() {
    let (app, csrf) = logged_in("lastused@example.com").await;
    let token = app.create_token(&csrf, "CI", &["publish"], "1y").await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(token_list(&app).await[0]["lastUsedAt"], Value::Null);
    assert!(app
        .get_html("/settings/tokens")
        .await
        .contains("Never used"));

    assert_eq!(
        app.bearer_get("/api/me", &token).await.status(),
        StatusCode::OK
    );
    app.state.last_used.flush(&app.state.pool).await.unwrap();
    let first = token_list(&app).await[0].clone();
    assert!(first["lastUsedAt"].is_string());
    assert_eq!(first["lastUsedIp"], "127.0.0.1");

    // Within the minute nothing is even noted, so no background flush can write meanwhile
    // and the count is exact: the request's one indexed read, and no write.
    app.clock.advance(Duration::seconds(30));
    let before = app.state.queries.get();
    app.bearer_get("/api/me", &token).await;
    assert_eq!(
        app.state.queries.get() - before,
        1,
        "a bearer request is one read, no write"
    );
    app.state.last_used.flush(&app.state.pool).await.unwrap();
    assert_eq!(
        token_list(&app).await[0]["lastUsedAt"],
        first["lastUsedAt"],
        "within a minute: unchanged"
    );

    app.clock.advance(Duration::seconds(31));
    app.bearer_get("/api/me", &token).await;
    app.state.last_used.flush(&app.state.pool).await.unwrap();
    assert_ne!(
        token_list(&app).await[0]["lastUsedAt"],
        first["lastUsedAt"],
        "after a minute: updated"
    );
}
