//! The seed's whole flow in the browser: sign up, create a project, copy its id, create a
//! `publish` token — then the CI pipeline's curl, from the test.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::browser::steps::{create_in_dialog, logged_in};
use crate::helpers::browser::Browser;

/// Creates a project from the empty projects page and lands on its page.
async fn create_project(b: &Browser, name: &str) {
    b.click("nav a[href='/projects']").await;
    b.arrive("/projects").await;
    assert!(b.text(".empty").await.contains("No projects yet"));
    b.screenshot("20-projects-empty").await;
    b.type_into("#project-name", name).await;
    b.click("form[action='/projects'] button[type=submit]")
        .await;
    b.find("#project-id").await;
}

#[actix_web::test]
async fn a_project_page_shows_its_id_and_copy_puts_it_on_the_clipboard() {
    let Some((_app, _user, b)) = logged_in("site@example.com", true).await else {
        return;
    };
    create_project(&b, "Marketing site").await;
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
    b.close().await;
}

#[actix_web::test]
async fn ci_publishes_with_the_id_and_the_token_a_person_copied_from_the_browser() {
    let Some((app, _user, b)) = logged_in("site@example.com", true).await else {
        return;
    };
    create_project(&b, "Marketing site").await;
    let project_id = b.value("#project-id").await;
    b.click("nav a[href='/settings/tokens']").await;
    let token = create_in_dialog(&b, "CI pipeline", &["publish"]).await;
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
