//! Rotation with a grace period (SPEC §8.1) and the expiry header (§8.2).

use chrono::Duration;
use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{csrf_in, error_code, TestApp, PASSWORD};

async fn rotate(app: &TestApp, csrf: &str, id: &str, body: Value) -> reqwest::Response {
    app.session_request(Method::POST, &format!("/api/tokens/{id}/rotate"), csrf)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn token_json(app: &TestApp, csrf: &str, id: &str) -> Value {
    let list: Vec<Value> = app
        .session_request(Method::GET, "/api/tokens?limit=200", csrf)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    list.into_iter()
        .find(|t| t["id"] == id)
        .expect("the token is listed")
}

#[actix_web::test]
async fn a_rotated_token_works_through_its_grace_then_says_it_was_replaced() {
    let app = TestApp::spawn().await.with_user("rotor@example.com").await;
    let csrf = app.csrf.clone();
    let old = app
        .create_token("CI pipeline", &["publish", "files"], "6m")
        .await;
    let (old_id, old_token) = (old["id"].as_str().unwrap(), old["token"].as_str().unwrap());

    let res = rotate(&app, &csrf, old_id, json!({ "graceSeconds": 3600 })).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let new: Value = res.json().await.unwrap();
    let new_token = new["token"].as_str().unwrap();
    assert_eq!(new["rotatedFrom"], old_id);
    assert_eq!(new["name"], "CI pipeline");
    assert_eq!(new["scopes"], json!(["publish", "files"]));
    assert_ne!(new_token, old_token);
    // The expiry repeats the old choice: six months from now.
    let created: chrono::DateTime<chrono::Utc> =
        new["createdAt"].as_str().unwrap().parse().unwrap();
    let expires: chrono::DateTime<chrono::Utc> =
        new["expiresAt"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        expires.naive_utc(),
        created
            .naive_utc()
            .checked_add_months(chrono::Months::new(6))
            .unwrap()
    );

    for token in [old_token, new_token] {
        assert_eq!(
            app.bearer_get("/api/me", token).await.status(),
            StatusCode::OK
        );
    }
    let listed = token_json(&app, &csrf, old_id).await;
    assert_eq!(listed["replacedBy"], new["id"]);
    assert_eq!(listed["status"], "active", "still working during the grace");
    assert_eq!(
        token_json(&app, &csrf, new["id"].as_str().unwrap()).await["rotatedFrom"],
        old_id
    );

    app.clock.advance(Duration::seconds(3601));
    let res = app.bearer_get("/api/me", old_token).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body["error"]["message"],
        "This token was replaced by a newer one."
    );
    assert_eq!(
        app.bearer_get("/api/me", new_token).await.status(),
        StatusCode::OK
    );
    let listed = token_json(&app, &csrf, old_id).await;
    assert_eq!(
        (listed["status"].as_str(), listed["revokedReason"].as_str()),
        (Some("revoked"), Some("rotated"))
    );
}

#[actix_web::test]
async fn revoking_during_the_grace_ends_it_at_once_and_rotation_needs_a_session() {
    let app = TestApp::spawn()
        .await
        .with_user("graceful@example.com")
        .await;
    let csrf = app.csrf.clone();
    let old = app.create_token("deploy", &["publish"], "1y").await;
    let (old_id, old_token) = (old["id"].as_str().unwrap(), old["token"].as_str().unwrap());

    // A token cannot rotate itself, or any other.
    let res = app
        .bearer(
            Method::POST,
            &format!("/api/tokens/{old_id}/rotate"),
            old_token,
        )
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(res).await, "session_required");
    for bad in [
        json!({ "graceSeconds": -1 }),
        json!({ "graceSeconds": 86401 }),
        json!({ "expiry": "2y" }),
    ] {
        let res = rotate(&app, &csrf, old_id, bad.clone()).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }

    let res = rotate(
        &app,
        &csrf,
        old_id,
        json!({ "graceSeconds": 86400, "expiry": "never" }),
    )
    .await;
    let new: Value = res.json().await.unwrap();
    assert!(new["expiresAt"].is_null(), "the expiry asked for wins");
    let res = app
        .session_request(Method::DELETE, &format!("/api/tokens/{old_id}"), &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.bearer_get("/api/me", old_token).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        token_json(&app, &csrf, old_id).await["revokedReason"],
        "user"
    );
    // A replaced or revoked token cannot be rotated again.
    let res = rotate(&app, &csrf, old_id, json!({})).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[actix_web::test]
async fn concurrent_rotations_of_one_token_make_one_new_token() {
    let app = TestApp::spawn().await.with_user("racer@example.com").await;
    let csrf = app.csrf.clone();
    let old = app.create_token("raced", &["messages"], "1y").await;
    let old_id = old["id"].as_str().unwrap();
    let statuses: Vec<StatusCode> = join_all((0..8).map(|_| async {
        rotate(&app, &csrf, old_id, json!({ "graceSeconds": 60 }))
            .await
            .status()
    }))
    .await;
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1, "{statuses:?}");
    assert!(statuses
        .iter()
        .all(|s| *s == StatusCode::CREATED || *s == StatusCode::UNPROCESSABLE_ENTITY));
    let list: Vec<Value> = app
        .session_request(Method::GET, "/api/tokens", &csrf)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list.len(), 2, "the old token and one new one");
}

#[actix_web::test]
async fn every_bearer_answer_says_when_the_token_expires() {
    let app = TestApp::spawn()
        .await
        .with_user("expiring@example.com")
        .await;
    let csrf = app.csrf.clone();
    let expiring = app.create_token("monthly", &["billing.read"], "1m").await;
    let forever = app
        .create_token("forever", &["billing.read"], "never")
        .await;
    let token = expiring["token"].as_str().unwrap();
    for path in [
        "/api/me",
        "/api/billing/invoices/latest",
        "/api/projects/not-a-project/files",
    ] {
        let res = app.bearer_get(path, token).await;
        assert_eq!(
            res.headers()["mantel-token-expiration"].to_str().unwrap(),
            expiring["expiresAt"].as_str().unwrap(),
            "{path} answered {}",
            res.status()
        );
    }
    let res = app
        .bearer_get("/api/me", forever["token"].as_str().unwrap())
        .await;
    assert!(
        !res.headers().contains_key("mantel-token-expiration"),
        "a token that never expires"
    );
    let res = app
        .session_request(Method::GET, "/api/me", &csrf)
        .send()
        .await
        .unwrap();
    assert!(!res.headers().contains_key("mantel-token-expiration"));
}

#[actix_web::test]
async fn the_dashboard_regenerates_with_the_old_choice_and_links_both_ways() {
    let app = TestApp::spawn()
        .await
        .with_user("clicker@example.com")
        .await;
    let old = app.create_token("Zapier", &["messages"], "6m").await;
    let old_id = old["id"].as_str().unwrap();
    // Six months on: the session is long gone, the token nearly so.
    app.clock.advance(Duration::days(180));
    assert_eq!(
        app.login("clicker@example.com", PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    let list = app.get_html("/settings/tokens").await;
    assert!(
        list.contains("expiry-banner"),
        "a token expiring within 7 days is announced"
    );
    assert!(list.contains(&format!("/settings/tokens/{old_id}/regenerate")));

    let form = app
        .get_html(&format!("/settings/tokens/{old_id}/regenerate"))
        .await;
    assert!(
        form.contains(r#"<option value="6m" selected"#),
        "the old expiry is preselected"
    );
    let res = app
        .post_form(
            &format!("/settings/tokens/{old_id}/regenerate"),
            &[
                ("expiry", "6m"),
                ("grace", "3600"),
                ("csrf_token", &csrf_in(&form)),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let reveal = app
        .get_html(res.headers()["location"].to_str().unwrap())
        .await;
    let start = reveal.find("mm_pat_").expect("the new token is shown once");
    let new_token = &reveal[start..start + 39];
    assert_eq!(
        app.bearer_get("/api/me", new_token).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.bearer_get("/api/me", old["token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::OK
    );

    let list = app.get_html("/settings/tokens").await;
    assert!(list.contains("replaced by <code>"), "{list}");
    assert!(list.contains("replaces <code>"));
    assert!(list.contains("Replaced, in grace"));
    assert!(
        !list.contains("expiry-banner"),
        "the replacement is not expiring, the old one is replaced"
    );
}

/// The JSON API and the form reach one operation (`ops::tokens`), so they refuse the same
/// input with the same field message, and accept the same input alike.
#[actix_web::test]
async fn the_form_and_the_api_answer_the_same_input_alike() {
    let app = TestApp::spawn().await.with_user("twins@example.com").await;
    let csrf = app.csrf.clone();
    let field =
        |body: &Value, name: &str| body["error"]["fields"][name].as_str().unwrap().to_owned();

    // Create with an expiry that does not exist.
    let res = app
        .post_token(&json!({ "name": "CI", "scopes": ["publish"], "expiry": "2y" }))
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let expiry_message = field(&res.json().await.unwrap(), "expiry");
    let form = app.get_html("/settings/tokens/new").await;
    let res = app
        .post_form(
            "/settings/tokens",
            &[
                ("name", "CI"),
                ("scopes", "publish"),
                ("expiry", "2y"),
                ("csrf_token", &csrf_in(&form)),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains(&expiry_message));

    // Rotate with an expiry that does not exist, or a grace beyond a day.
    let old = app.create_token("Deploy", &["publish"], "1m").await;
    let id = old["id"].as_str().unwrap();
    let page = format!("/settings/tokens/{id}/regenerate");
    for (json_body, form_fields, name) in [
        (
            json!({ "expiry": "2y" }),
            [("expiry", "2y"), ("grace", "0")],
            "expiry",
        ),
        (
            json!({ "graceSeconds": 86_401 }),
            [("expiry", "1m"), ("grace", "86401")],
            "graceSeconds",
        ),
    ] {
        let res = rotate(&app, &csrf, id, json_body).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let message = field(&res.json().await.unwrap(), name);
        let form = app.get_html(&page).await;
        let mut fields = form_fields.to_vec();
        let csrf_field = csrf_in(&form);
        fields.push(("csrf_token", &csrf_field));
        let res = app.post_form(&page, &fields).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        assert!(res.text().await.unwrap().contains(&message), "{message}");
    }
    assert_eq!(app.tokens().await.len(), 1, "nothing was issued");

    // Any grace the API takes, the form takes too (it used to fall back to none).
    let form = app.get_html(&page).await;
    let res = app
        .post_form(
            &page,
            &[
                ("expiry", "1m"),
                ("grace", "1800"),
                ("csrf_token", &csrf_in(&form)),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    app.clock.advance(Duration::minutes(29));
    let plain = old["token"].as_str().unwrap();
    assert_eq!(
        app.bearer_get("/api/me", plain).await.status(),
        StatusCode::OK
    );
    app.clock.advance(Duration::minutes(2));
    assert_eq!(
        app.bearer_get("/api/me", plain).await.status(),
        StatusCode::UNAUTHORIZED
    );
}
