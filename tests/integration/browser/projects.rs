//! The seed's whole flow in the browser: sign up, create a project, copy its id, create a
//! `publish` token — then the CI pipeline's curl, from the test.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::browser::tokens::sign_up;
use crate::helpers::browser::Browser;
use crate::helpers::TestApp;

#[actix_web::test]
async fn a_person_creates_a_project_copies_its_id_and_ci_publishes_to_it() {
    let app = TestApp::spawn().await;
    let Some(b) = Browser::open(&app.address).await else {
        return;
    };
    sign_up(&b, "site@example.com").await;

    b.click("nav a[href='/projects']").await;
    b.arrive("/projects").await;
    assert!(b.text(".empty").await.contains("No projects yet"));
    b.screenshot("20-projects-empty").await;
    b.type_into("#project-name", "Marketing site").await;
    b.click("form[action='/projects'] button[type=submit]")
        .await;
    b.find("#project-id").await;
    assert!(b.path().await.starts_with("/projects/"));
    assert_eq!(b.text("h1").await, "Marketing site");
    let project_id = b.value("#project-id").await;
    assert_eq!(
        uuid::Uuid::parse_str(&project_id).unwrap().to_string(),
        project_id
    );
    assert!(b.text("table").await.contains("site@example.com"));

    // Copy puts the id on the clipboard, as the token's Copy does.
    b.grant_clipboard_read().await;
    b.click("[data-copy='project-id']").await;
    b.wait_until(
        "the copy status",
        "return document.getElementById('project-id-status').textContent === 'Copied to the clipboard.'",
    )
    .await;
    let clipboard = b
        .client
        .execute_async("navigator.clipboard.readText().then(arguments[0])", vec![])
        .await
        .unwrap();
    assert_eq!(clipboard, json!(project_id));
    b.screenshot("21-project-page").await;

    b.click("nav a[href='/settings/tokens']").await;
    b.click("#create-token").await;
    b.type_into("#token-name", "CI pipeline").await;
    b.click("#scope-publish").await;
    b.click("#create-dialog button[type=submit]").await;
    let token = crate::browser::tokens::revealed_token(&b).await;
    b.close().await;

    // The seed's curl, as the CI pipeline runs it.
    let res = reqwest::Client::new()
        .post(app.url("/api/publish"))
        .header("Authorization", format!("Bearer {token}"))
        .header("Content-Type", "application/json")
        .body(format!(r#"{{"projectId":"{project_id}"}}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let published: Value = res.json().await.unwrap();
    assert_eq!(published["status"], "published");
    assert_eq!(published["projectId"], json!(project_id));
}
