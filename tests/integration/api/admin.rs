//! Instance admins (SPEC §9): made on the command line, and the only callers of
//! `/api/admin/...` — with a session, never a token.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{error_code, TestApp, User, PASSWORD};

/// `mantel user create --email E --admin`, then signed in through the form in a browser of
/// their own.
pub async fn admin(app: &TestApp, email: &str) -> User {
    let out = app.cli_with_stdin(
        &["user", "create", "--email", email, "--admin"],
        &format!("{PASSWORD}\n"),
    );
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.starts_with(&format!("created admin {email}")),
        "{stdout}"
    );
    let browser = app.new_browser();
    let res = browser.login(email, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "login of {email}");
    let csrf = browser.page_csrf().await;
    User {
        app: browser,
        email: email.to_owned(),
        csrf,
    }
}

async fn users(user: &User) -> reqwest::Response {
    user.get("/api/admin/users").await
}

#[actix_web::test]
async fn only_an_admin_session_reads_the_accounts() {
    let app = TestApp::spawn().await;
    let boss = admin(&app, "boss@example.com").await;
    let alice = app.with_user("alice@example.com").await;
    alice.with_token("ci", &["publish"], "1y").await;
    let revoked = alice.with_token("old", &["publish"], "1y").await;
    alice.revoke(&revoked.id).await;

    let res = users(&boss).await;
    assert_eq!(res.status(), StatusCode::OK);
    let list: Vec<Value> = res.json().await.unwrap();
    let row = |email: &str| {
        list.iter()
            .find(|u| u["email"] == email)
            .unwrap_or_else(|| panic!("{email} in {list:?}"))
            .clone()
    };
    assert_eq!(row("boss@example.com")["admin"], true);
    assert!(row("boss@example.com")["lastLoginAt"].is_string());
    let a = row("alice@example.com");
    assert_eq!(a["admin"], false);
    assert_eq!(a["tokenCount"], 1, "the revoked token is not counted");
    assert!(a["createdAt"].is_string());
    assert!(a["id"].is_string());

    // Someone else's session: forbidden, whatever they hold.
    let res = users(&alice).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(res).await, "forbidden");
    // The admin's own token never administers.
    let token = boss.with_token("admin's", &["publish"], "1y").await;
    let res = boss.bearer_get("/api/admin/users", &token.plaintext).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(res).await, "session_required");
    // Nobody.
    let res = app.new_browser().get("/api/admin/users").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn admin_grant_and_revoke_take_effect_on_the_next_request() {
    let app = TestApp::spawn().await;
    let alice = app.with_user("alice@example.com").await;
    assert_eq!(users(&alice).await.status(), StatusCode::FORBIDDEN);

    let out = alice.cli(&["admin", "grant", "ALICE@example.com"]);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("is now an instance admin"));
    assert_eq!(users(&alice).await.status(), StatusCode::OK);

    let out = alice.cli(&["admin", "revoke", "alice@example.com"]);
    assert!(out.status.success(), "{out:?}");
    let res = users(&alice).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(res).await, "forbidden");

    let out = alice.cli(&["admin", "grant", "nobody@example.com"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nobody@example.com"));
    // A plain `user create` makes no admin.
    let out = app.cli_with_stdin(
        &["user", "create", "--email", "bob@example.com"],
        &format!("{PASSWORD}\n"),
    );
    assert!(out.status.success(), "{out:?}");
    let bob = app.new_browser();
    bob.login("bob@example.com", PASSWORD).await;
    assert_eq!(
        bob.session_request(Method::GET, "/api/admin/users", "")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
}
