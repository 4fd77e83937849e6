//! The token lifecycle (SPEC §4): created once, shown once, listed, expired, revoked — through
//! the JSON API and through the dashboard's forms.

use chrono::Duration;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{error_code, is_token, logs, TestApp, Token, User, PASSWORD};

#[actix_web::test]
async fn the_plaintext_is_shown_once_and_never_again() {
    let user = TestApp::spawn().await.with_user("once@example.com").await;
    let res = user
        .session(Method::POST, "/api/tokens")
        .json(&json!({ "name": "CI pipeline", "scopes": ["publish"], "expiry": "1y" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let created: Value = res.json().await.unwrap();
    let token = created["token"].as_str().unwrap().to_owned();
    assert!(is_token(&token), "{token}");
    assert_eq!(created["prefix"], &token[..11]);
    assert_eq!(created["name"], "CI pipeline");
    assert_eq!(created["scopes"], json!(["publish"]));
    for key in ["id", "createdAt", "expiresAt"] {
        assert!(created[key].is_string(), "{key} in {created}");
    }

    // Nothing reachable afterwards shows it: the JSON list, the page, the database, the logs.
    let list = user.get("/api/tokens").await.text().await.unwrap();
    assert!(list.contains(&token[..11]) && !list.contains(&token));
    let page = user.get_html("/settings/tokens").await;
    assert!(page.contains(&token[..11]) && !page.contains(&token));
    let stored = user.db.raw_contents();
    assert!(
        stored.contains(&token[..11]),
        "the prefix is stored (the dump is real)"
    );
    assert!(
        !stored.contains(&token),
        "the plaintext must never be stored"
    );
    assert!(!logs().contains(&token));
}

#[actix_web::test]
async fn the_new_token_page_preselects_one_year() {
    let user = TestApp::spawn().await.with_user("dash@example.com").await;
    let form = user.get_html("/settings/tokens/new").await;
    assert!(
        form.contains(r#"<option value="1y" selected>"#),
        "1 year is preselected"
    );
}

/// Posts the dashboard's form (no JavaScript) and returns where the token is shown.
async fn create_in_dashboard(user: &User) -> String {
    let res = user
        .post_form(
            "/settings/tokens",
            &[
                ("name", "Zapier — Slack"),
                ("scopes", "messages"),
                ("scopes", "files"),
                ("expiry", "6m"),
                ("csrf_token", &user.csrf),
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
    location
}

/// The first view of the reveal page, and the token it shows.
async fn reveal(user: &User, location: &str) -> String {
    let res = user.get(location).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let reveal = res.text().await.unwrap();
    assert!(reveal.contains("it will not be shown again"));
    let start = reveal.find("mm_pat_").unwrap();
    let token = reveal[start..start + 39].to_owned();
    assert!(is_token(&token));
    token
}

#[actix_web::test]
async fn the_dashboard_form_redirects_to_a_page_that_shows_the_token() {
    let user = TestApp::spawn().await.with_user("dash@example.com").await;
    let location = create_in_dashboard(&user).await;
    let token = reveal(&user, &location).await;
    let me: Value = user
        .bearer_get("/api/me", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["auth"]["token"]["scopes"], json!(["messages", "files"]));
    assert!(!user.db.raw_contents().contains(&token));
    assert!(!logs().contains(&token));
}

#[actix_web::test]
async fn the_reveal_page_shows_the_token_to_its_first_view_only() {
    let app = TestApp::spawn().await;
    let user = app.with_user("dash@example.com").await;
    let location = create_in_dashboard(&user).await;
    let token = reveal(&user, &location).await;
    // A second view (a reload, Back) says what happened, without the token; so does anyone
    // else's view, which finds nothing at all.
    let res = user.get(&location).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let again = res.text().await.unwrap();
    assert!(again.contains("can no longer be shown") && again.contains("Zapier — Slack"));
    assert!(!again.contains(&token) && !again.contains("it will not be shown again"));
    let other = app.with_user("other@example.com").await;
    assert_eq!(other.get(&location).await.status(), StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn the_dashboard_revokes_a_token_after_asking() {
    let user = TestApp::spawn().await.with_user("dash@example.com").await;
    let token = user
        .with_token("Zapier — Slack", &["messages", "files"], "6m")
        .await;
    let list = user.get_html("/settings/tokens").await;
    assert!(list.contains("Zapier — Slack") && !list.contains(&token.plaintext));
    let confirm = user
        .get_html(&format!("/settings/tokens/{}/revoke", token.id))
        .await;
    assert!(confirm.contains("Revoke"));

    let res = user
        .post_form(
            &format!("/settings/tokens/{}/revoke", token.id),
            &[("csrf_token", &user.csrf)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/settings/tokens");
    let list = user.get_html("/settings/tokens").await;
    assert!(
        list.contains("Revoked “Zapier — Slack”"),
        "a flash confirms the revocation"
    );
    assert!(list.contains(r#"class="badge revoked""#));
    assert_eq!(
        user.bearer_get("/api/me", &token.plaintext).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[actix_web::test]
async fn dashboard_validation_errors_keep_what_was_typed() {
    let user = TestApp::spawn().await.with_user("form@example.com").await;
    let res = user
        .post_form(
            "/settings/tokens",
            &[
                ("name", "<b>kept</b>"),
                ("expiry", "never"),
                ("csrf_token", &user.csrf),
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
    assert!(user.tokens().await.is_empty(), "nothing was created");
}

#[actix_web::test]
async fn names_render_as_text() {
    let user = TestApp::spawn().await.with_user("form@example.com").await;
    user.with_token("<script>alert(1)</script>", &["files"], "1m")
        .await;
    let page = user.get_html("/settings/tokens").await;
    assert!(
        !page.contains("<script>alert(1)</script>"),
        "a name is shown as text, never as HTML"
    );
}

#[actix_web::test]
async fn a_bearer_token_works_on_api_me() {
    let user = TestApp::spawn().await.with_user("me@example.com").await;
    let token = user
        .with_token("Ops dashboard", &["billing.read", "publish"], "never")
        .await;
    let res = user.bearer_get("/api/me", &token.plaintext).await;
    assert_eq!(res.status(), StatusCode::OK);
    let me: Value = res.json().await.unwrap();
    assert_eq!(me["user"]["email"], "me@example.com");
    assert_eq!(me["auth"]["kind"], "token");
    assert_eq!(me["auth"]["token"]["id"], token.id);
    assert_eq!(me["auth"]["token"]["name"], "Ops dashboard");
    assert_eq!(me["auth"]["token"]["prefix"], token.created["prefix"]);
    assert_eq!(
        me["auth"]["token"]["scopes"],
        json!(["publish", "billing.read"])
    );
    assert_eq!(me["auth"]["token"]["expiresAt"], Value::Null);

    // The scheme is case-insensitive.
    let res = crate::helpers::client()
        .get(user.url("/api/me"))
        .header("Authorization", format!("bearer {}", token.plaintext))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    let session: Value = user.get("/api/me").await.json().await.unwrap();
    assert_eq!(session["auth"]["kind"], "session");
}

#[actix_web::test]
async fn revocation_holds_on_the_very_next_request() {
    let user = TestApp::spawn().await.with_user("revoke@example.com").await;
    let token = user.with_token("CI", &["publish"], "1y").await;
    assert_eq!(
        user.bearer_get("/api/me", &token.plaintext).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        user.revoke(&token.id).await.status(),
        StatusCode::NO_CONTENT
    );

    let res = user.bearer_get("/api/me", &token.plaintext).await;
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
}

#[actix_web::test]
async fn revocation_is_final() {
    let user = TestApp::spawn().await.with_user("revoke@example.com").await;
    let token = user.with_token("CI", &["publish"], "1y").await;
    assert_eq!(
        user.revoke(&token.id).await.status(),
        StatusCode::NO_CONTENT
    );
    let listed = user.tokens().await;
    assert_eq!(listed[0]["status"], "revoked");
    assert!(listed[0]["revokedAt"].is_string());
    // Revoking again changes nothing and there is no way back.
    assert_eq!(
        user.revoke(&token.id).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(user.tokens().await[0]["revokedAt"], listed[0]["revokedAt"]);
}

#[actix_web::test]
async fn an_expired_token_is_refused_from_the_instant_of_expiry() {
    let user = TestApp::spawn().await.with_user("expiry@example.com").await;
    let Token {
        created,
        plaintext: token,
        ..
    } = user.with_token("short", &["publish"], "1m").await;
    let created_at =
        chrono::DateTime::parse_from_rfc3339(created["createdAt"].as_str().unwrap()).unwrap();
    let expires_at =
        chrono::DateTime::parse_from_rfc3339(created["expiresAt"].as_str().unwrap()).unwrap();
    let days = (expires_at - created_at).num_days();
    assert!(
        (28..=31).contains(&days),
        "one calendar month, got {days} days"
    );

    user.clock.advance(Duration::days(27));
    assert_eq!(
        user.bearer_get("/api/me", &token).await.status(),
        StatusCode::OK
    );
    user.clock.advance(Duration::days(5));
    let res = user.bearer_get("/api/me", &token).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.text().await.unwrap().contains("expired"));
    // A month later the dashboard session has long ended too: log in again to look.
    user.login("expiry@example.com", PASSWORD).await;
    assert_eq!(user.tokens().await[0]["status"], "expired");
    assert!(user.get_html("/settings/tokens").await.contains("Expired"));
}

#[actix_web::test]
async fn a_token_can_never_list_create_or_revoke_tokens() {
    let user = TestApp::spawn().await.with_user("mint@example.com").await;
    let leaked = user
        .with_token(
            "leaked",
            &["publish", "messages", "files", "domain", "billing.read"],
            "1y",
        )
        .await;
    let (token, id) = (leaked.plaintext.as_str(), leaked.id.as_str());

    let attempts = [
        user.bearer(Method::GET, "/api/tokens", token),
        user.bearer(Method::POST, "/api/tokens", token)
            .json(&json!({ "name": "more", "scopes": ["publish"] })),
        user.bearer(Method::DELETE, &format!("/api/tokens/{id}"), token),
        // The same, with the owner's valid session cookie and CSRF header alongside.
        user.session(Method::POST, "/api/tokens")
            .header("Authorization", format!("Bearer {token}"))
            .json(&json!({ "name": "more", "scopes": ["publish"] })),
        user.session(Method::DELETE, &format!("/api/tokens/{id}"))
            .header("Authorization", format!("Bearer {token}")),
    ];
    for attempt in attempts {
        let res = attempt.send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert_eq!(error_code(res).await, "session_required");
    }
    let dashboard = user
        .client
        .post(user.url("/settings/tokens"))
        .header("Authorization", format!("Bearer {token}"))
        .form(&[
            ("name", "more"),
            ("scopes", "publish"),
            ("csrf_token", user.csrf.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(dashboard.status(), StatusCode::FORBIDDEN);

    let list = user.tokens().await;
    assert_eq!(list.len(), 1, "no token was created");
    assert_eq!(list[0]["status"], "active", "the token was not revoked");
}

async fn post_token(user: &User, body: &Value) -> reqwest::Response {
    user.session(Method::POST, "/api/tokens")
        .json(body)
        .send()
        .await
        .unwrap()
}

#[actix_web::test]
async fn token_requests_are_validated_field_by_field() {
    let user = TestApp::spawn().await.with_user("valid@example.com").await;
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
        let res = post_token(&user, &body).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let err: Value = res.json().await.unwrap();
        assert_eq!(err["error"]["code"], "validation_failed");
        assert!(err["error"]["fields"][field].is_string(), "{err}");
    }
    assert!(user.tokens().await.is_empty());
}

#[actix_web::test]
async fn bad_json_and_oversize_token_requests_are_refused() {
    let user = TestApp::spawn().await.with_user("valid@example.com").await;
    let res = user
        .session(Method::POST, "/api/tokens")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(res).await, "bad_json");
    let res = user
        .session(Method::POST, "/api/tokens")
        .header("content-type", "application/json")
        .body(format!(r#"{{"name":"{}"}}"#, "x".repeat(70 * 1024)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_code(res).await, "payload_too_large");
    assert!(user.tokens().await.is_empty());
}

#[actix_web::test]
async fn names_are_trimmed_and_unique_among_live_tokens() {
    let user = TestApp::spawn().await.with_user("valid@example.com").await;
    let first = user.with_token(" CI ", &["publish"], "1y").await;
    assert_eq!(first.created["name"], "CI");
    let dup = post_token(&user, &json!({ "name": "CI", "scopes": ["files"] })).await;
    assert_eq!(dup.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // A revoked token frees its name.
    user.revoke(&first.id).await;
    user.with_token("CI", &["files"], "1y").await;
}

#[actix_web::test]
async fn at_most_100_live_tokens() {
    let user = TestApp::spawn().await.with_user("many@example.com").await;
    for i in 0..100 {
        user.with_token(&format!("token {i}"), &["publish"], "1m")
            .await;
    }
    let res = post_token(
        &user,
        &json!({ "name": "one too many", "scopes": ["publish"] }),
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(res).await, "validation_failed");
    let id = user.tokens().await[0]["id"].as_str().unwrap().to_owned();
    user.revoke(&id).await;
    user.with_token("one too many", &["publish"], "1m").await;
}

/// The tokens screen lists every token that still works: at the cap, plus tokens in a
/// rotation's grace, which the cap does not count.
#[actix_web::test]
async fn the_tokens_screen_shows_every_working_token_at_the_cap() {
    let user = TestApp::spawn().await.with_user("at-cap@example.com").await;
    let mut ids = Vec::new();
    for i in 0..100 {
        ids.push(
            user.with_token(&format!("token {i}"), &["publish"], "1m")
                .await
                .id,
        );
    }
    for old in ids.clone().iter().take(2) {
        let res = user
            .session(Method::POST, &format!("/api/tokens/{old}/rotate"))
            .json(&json!({ "graceSeconds": 3600 }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        let new: Value = res.json().await.unwrap();
        ids.push(new["id"].as_str().unwrap().to_owned());
    }
    let page = user.get_html("/settings/tokens").await;
    let missing: Vec<_> = ids
        .iter()
        .filter(|id| !page.contains(id.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of 102 working tokens not shown",
        missing.len()
    );
}

#[actix_web::test]
async fn someone_elses_token_is_not_found() {
    let app = TestApp::spawn().await;
    let alice = app.with_user("alice@example.com").await;
    let id = alice.with_token("alice's", &["publish"], "1y").await.id;
    let bob = app.with_user("bob@example.com").await;
    let res = bob.revoke(&id).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(res).await, "not_found");
    assert!(bob.tokens().await.is_empty());
    let res = bob
        .post_form(
            &format!("/settings/tokens/{id}/revoke"),
            &[("csrf_token", &bob.csrf)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn last_use_is_recorded_off_the_request_path_at_most_once_a_minute() {
    let user = TestApp::spawn()
        .await
        .with_user("lastused@example.com")
        .await;
    let token = user.with_token("CI", &["publish"], "1y").await.plaintext;
    assert_eq!(user.tokens().await[0]["lastUsedAt"], Value::Null);
    assert!(user
        .get_html("/settings/tokens")
        .await
        .contains("Never used"));

    assert_eq!(
        user.bearer_get("/api/me", &token).await.status(),
        StatusCode::OK
    );
    user.state.last_used.flush(&user.state.pool).await.unwrap();
    let first = user.tokens().await[0].clone();
    assert!(first["lastUsedAt"].is_string());
    assert_eq!(first["lastUsedIp"], "127.0.0.1");

    // Within the minute nothing is even noted, so no background flush can write meanwhile
    // and the count is exact: the request's one indexed read, and no write.
    user.clock.advance(Duration::seconds(30));
    let before = user.state.queries.get();
    user.bearer_get("/api/me", &token).await;
    assert_eq!(
        user.state.queries.get() - before,
        1,
        "a bearer request is one read, no write"
    );
    user.state.last_used.flush(&user.state.pool).await.unwrap();
    assert_eq!(
        user.tokens().await[0]["lastUsedAt"],
        first["lastUsedAt"],
        "within a minute: unchanged"
    );

    user.clock.advance(Duration::seconds(31));
    user.bearer_get("/api/me", &token).await;
    user.state.last_used.flush(&user.state.pool).await.unwrap();
    assert_ne!(
        user.tokens().await[0]["lastUsedAt"],
        first["lastUsedAt"],
        "after a minute: updated"
    );
}
