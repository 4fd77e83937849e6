//! The session path's cache (`db::exact_cache`, SQLite): a signed-in browser's session and
//! account are not read again on every request, and whatever anyone commits — the session
//! ended, its account changed — shows on the very next one. On PostgreSQL sessions are read
//! every time, and the same changes must show just the same.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{TestApp, TestDb, User};

async fn me(user: &User) -> (StatusCode, Value) {
    let res = user.session(Method::GET, "/api/me").send().await.unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Statements the app ran for `requests` of `/api/me` in this session.
async fn statements_for(user: &User, requests: u64) -> u64 {
    let before = user.state.queries.get();
    for _ in 0..requests {
        assert_eq!(me(user).await.0, StatusCode::OK);
    }
    user.state.queries.get() - before
}

#[actix_web::test]
async fn a_session_presented_again_is_read_again_only_after_a_commit() {
    let app = TestApp::spawn().await;
    let user = app.with_user("cached-session@example.com").await;
    let requests = 20;
    let statements = statements_for(&user, requests).await;
    if let TestDb::Postgres { .. } = *app.db {
        // Background tasks may run statements of their own meanwhile.
        assert!(
            statements >= requests,
            "PostgreSQL reads the session each time"
        );
        return;
    }
    // The first request may read, and a background commit (a sweep) empties the cache.
    assert!(
        statements <= 3,
        "{statements} statements for {requests} requests: the cache is not used"
    );
}

/// Commits made on a connection of the test's own, as another process on the same file would
/// make them, each show on the next request.
#[actix_web::test]
async fn every_commit_by_another_connection_shows_on_the_next_request() {
    let app = TestApp::spawn().await;
    let user = app.with_user("exact-session@example.com").await;
    let id = me(&user).await.1["user"]["id"].as_str().unwrap().to_owned();
    for round in 0..10 {
        statements_for(&user, 2).await;
        let email = format!("renamed-{round}@example.com");
        app.db.execute(&format!(
            "UPDATE users SET email = '{email}' WHERE id = '{id}'"
        ));
        let (status, body) = me(&user).await;
        assert_eq!(status, StatusCode::OK, "round {round}");
        assert_eq!(body["user"]["email"], email.as_str(), "round {round}");
    }
    // Ended behind the app's back (as "sign out everywhere" on another instance does): the
    // cookie no longer signs anyone in, from the very next request.
    app.db.execute("DELETE FROM sessions");
    assert_eq!(me(&user).await.0, StatusCode::UNAUTHORIZED);
}

/// A session ended through another instance on the same database is over on this one at once,
/// though this one had just served it.
#[actix_web::test]
async fn signing_out_on_one_instance_ends_the_session_on_another() {
    let a = TestApp::spawn().await;
    let b = TestApp::spawn_on(a.db.clone(), a.clock.clone()).await;
    let user = a.with_user("two-instances@example.com").await;
    statements_for(&user, 3).await;
    // The browser's cookie jar is not kept per port: B gets the session's cookie, as it would
    // behind a load balancer.
    let res = user
        .client
        .post(b.url("/logout"))
        .form(&[("csrf_token", user.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(me(&user).await.0, StatusCode::UNAUTHORIZED);
}
