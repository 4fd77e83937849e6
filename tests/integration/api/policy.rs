//! A project's token policy (SPEC §8.5): blocks, not revokes, the tokens that break it there.

use chrono::Duration;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{error_code, TestApp, User};

async fn set_policy(user: &User, project: &str, body: Value) -> reqwest::Response {
    user.session(
        Method::PUT,
        &format!("/api/projects/{project}/token-policy"),
    )
    .json(&body)
    .send()
    .await
    .unwrap()
}

async fn publishes(user: &User, project: &str, token: &str) -> reqwest::Response {
    user.bearer_get(&format!("/api/projects/{project}/publishes"), token)
        .await
}

#[actix_web::test]
async fn a_token_that_breaks_the_policy_is_blocked_there_until_it_changes() {
    let app = TestApp::spawn().await;
    let owner = app.with_user("policy@example.com").await;
    let strict = owner.with_project("Strict").await;
    let relaxed = owner.with_project("Relaxed").await;
    let year = owner
        .with_token("a year", &["publish"], "1y")
        .await
        .plaintext;
    let month = owner
        .with_token("a month", &["publish"], "1m")
        .await
        .plaintext;
    let narrow = owner
        .with_restricted_token("strict only", &["publish"], &[&strict])
        .await
        .plaintext;

    let res = set_policy(
        &owner,
        &strict,
        json!({ "maxLifetimeDays": 31, "requireRestricted": false }),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({ "maxLifetimeDays": 31, "requireRestricted": false, "requireSecondFactor": false })
    );
    let blocked = publishes(&owner, &strict, &year).await;
    assert_eq!(blocked.status(), StatusCode::FORBIDDEN);
    let body: Value = blocked.json().await.unwrap();
    assert_eq!(body["error"]["code"], "token_policy");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("31 days"),
        "{body}"
    );
    assert_eq!(
        publishes(&owner, &strict, &month).await.status(),
        StatusCode::OK
    );
    // Blocked, not revoked: it works elsewhere, and the list says it is active.
    assert_eq!(
        publishes(&owner, &relaxed, &year).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        owner.bearer_get("/api/me", &year).await.status(),
        StatusCode::OK
    );
    // The session is not a token: the policy does not apply.
    assert_eq!(
        owner
            .get(&format!("/api/projects/{strict}/publishes"))
            .await
            .status(),
        StatusCode::OK
    );

    let res = set_policy(
        &owner,
        &strict,
        json!({ "maxLifetimeDays": null, "requireRestricted": true }),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        publishes(&owner, &strict, &year).await.status(),
        StatusCode::FORBIDDEN
    );
    let res = publishes(&owner, &strict, &month).await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "token_policy");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("restricted"),
        "{body}"
    );
    assert_eq!(
        publishes(&owner, &strict, &narrow).await.status(),
        StatusCode::OK
    );

    // Relaxed again: the same tokens work again.
    let res = set_policy(
        &owner,
        &strict,
        json!({ "maxLifetimeDays": null, "requireRestricted": false }),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        publishes(&owner, &strict, &year).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        publishes(&owner, &strict, &month).await.status(),
        StatusCode::OK
    );
}

#[actix_web::test]
async fn only_owners_set_a_policy_with_a_session_a_recent_password_and_valid_days() {
    let app = TestApp::spawn().await;
    let owner = app.with_user("owner@example.com").await;
    let editor = app.with_user("editor@example.com").await;
    let project = owner.with_project("Site").await;
    owner
        .add_member(&project, "editor@example.com", "editor")
        .await;
    let ok = json!({ "maxLifetimeDays": 30, "requireRestricted": true });

    let res = set_policy(&editor, &project, ok.clone()).await;
    assert_eq!(error_code(res).await, "forbidden");
    let token = owner.with_token("CI", &["publish"], "1m").await.plaintext;
    let res = owner
        .bearer(
            Method::PUT,
            &format!("/api/projects/{project}/token-policy"),
            &token,
        )
        .json(&ok)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res).await, "session_required");
    for bad in [
        json!({ "maxLifetimeDays": 0 }),
        json!({ "maxLifetimeDays": 367 }),
        json!({ "maxLifetimeDays": "30" }),
        json!({ "maxLifetimeDays": 30, "requireRestricted": "yes" }),
    ] {
        let res = set_policy(&owner, &project, bad.clone()).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    // Nothing changed: a one-month unrestricted token still works.
    assert_eq!(
        publishes(&owner, &project, &token).await.status(),
        StatusCode::OK
    );

    owner.clock.advance(Duration::minutes(11));
    let res = set_policy(&owner, &project, ok.clone()).await;
    assert_eq!(error_code(res).await, "reauthentication_required");
    assert_eq!(
        publishes(&owner, &project, &token).await.status(),
        StatusCode::OK
    );
}

#[actix_web::test]
async fn the_settings_page_sets_the_policy_and_the_form_names_it() {
    let app = TestApp::spawn().await;
    let owner = app.with_user("pages@example.com").await;
    let project = owner.with_project("Docs").await;
    let path = format!("/projects/{project}/settings");
    let html = owner.get_html(&path).await;
    assert!(html.contains("Longest token lifetime"));
    assert!(owner
        .get_html(&format!("/projects/{project}"))
        .await
        .contains(&path));

    let res = owner
        .post_form(
            &path,
            &[("max_lifetime_days", "400"), ("csrf_token", &owner.csrf)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = owner
        .post_form(
            &path,
            &[
                ("max_lifetime_days", "30"),
                ("require_restricted", "true"),
                ("csrf_token", &owner.csrf),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let html = owner.get_html(&path).await;
    assert!(
        html.contains("value=\"30\"") && html.contains("Token policy saved."),
        "{html}"
    );

    // The create form says what each project accepts.
    let form = owner.get_html("/settings/tokens/new").await;
    assert!(
        form.contains("This project accepts only project-restricted tokens of at most 30 days."),
        "{form}"
    );

    // Someone who is not an owner cannot see it.
    let stranger = app.with_user("stranger@example.com").await;
    assert_eq!(stranger.get(&path).await.status(), StatusCode::NOT_FOUND);
}
