//! Narrower tokens in the browser (SPEC §8.5): choosing projects in the create dialog, and the
//! password prompt that then finishes what was started.

use chrono::Duration;
use serde_json::json;

use crate::browser::steps::{logged_in, revealed_token};
use crate::helpers::{is_token, PASSWORD};

#[actix_web::test]
async fn the_dialog_restricts_a_token_to_the_projects_ticked() {
    let Some((_app, user, b)) = logged_in("choose@example.com", true).await else {
        return;
    };
    let docs = user.with_project("Docs site").await;
    user.with_project("Shop").await;
    b.goto("/settings/tokens").await;
    b.click("#create-token").await;
    assert!(b.visible("#projects-all").await);
    assert_eq!(
        b.js("return document.querySelector('#projects-all').checked")
            .await,
        true
    );
    b.type_into("#token-name", "Docs deploy").await;
    b.click("#scope-publish").await;
    // Ticking a project chooses "Only these projects" by itself. (Scrolled to first, as a
    // person would: the dialog's footer stays in view over the form.)
    let tick = format!("#project-{docs}");
    b.js(&format!(
        "document.querySelector('{tick}').scrollIntoView({{ block: 'center' }})"
    ))
    .await;
    b.click(&tick).await;
    assert_eq!(
        b.js("return document.querySelector('#projects-only').checked")
            .await,
        true
    );
    b.screenshot("30-create-dialog-projects").await;
    b.click("#create-dialog button[type=submit]").await;
    assert!(is_token(&revealed_token(&b).await));
    assert_eq!(b.text("#create-dialog .reveal-projects").await, "Docs site");
    let tokens = user.tokens().await;
    assert_eq!(tokens[0]["projects"], json!([docs]));
    b.close().await;
}

#[actix_web::test]
async fn after_ten_minutes_the_password_prompt_finishes_the_creation() {
    let Some((app, user, b)) = logged_in("sudo-browser@example.com", true).await else {
        return;
    };
    app.clock.advance(Duration::minutes(11));
    b.goto("/settings/tokens").await;
    b.click("#create-token").await;
    b.type_into("#token-name", "DNS bot").await;
    b.click("#scope-domain").await;
    b.click("#create-dialog button[type=submit]").await;
    // The API said a recent password is needed: the page flow asks for it.
    b.wait_visible("#reauth-password").await;
    assert!(user.tokens().await.is_empty());
    b.screenshot("31-reauthenticate").await;
    b.type_into("#reauth-password", PASSWORD).await;
    b.click(".reauth-form button[type=submit]").await;
    b.wait_visible("#new-token").await;
    assert!(b.path().await.ends_with("/created"));
    assert!(is_token(&b.value("#new-token").await));
    let tokens = user.tokens().await;
    assert_eq!(tokens[0]["name"], "DNS bot");
    assert_eq!(tokens[0]["scopes"], json!(["domain"]));
    b.close().await;
}

#[actix_web::test]
async fn the_dialog_warns_when_a_project_policy_would_block_the_token() {
    let Some((_app, user, b)) = logged_in("warned@example.com", true).await else {
        return;
    };
    let strict = user.with_project("Strict site").await;
    let res = user
        .session(
            reqwest::Method::PUT,
            &format!("/api/projects/{strict}/token-policy"),
        )
        .json(&json!({ "maxLifetimeDays": 31, "requireRestricted": false }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    b.goto("/settings/tokens").await;
    b.click("#create-token").await;
    // "All my projects" for a year: blocked on the strict one, and said so before creating.
    assert!(b.visible("#policy-warning").await);
    assert!(b
        .text("#policy-warning")
        .await
        .contains("blocked on Strict site (tokens of at most 31 days)"));
    b.find("#token-expiry")
        .await
        .select_by_value("1m")
        .await
        .unwrap();
    assert!(!b.visible("#policy-warning").await, "a month fits");
    b.close().await;
}
