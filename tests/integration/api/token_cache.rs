//! The bearer path's token cache (SQLite, `db::token_cache`): a token presented again is not
//! read again, and whatever any other connection commits is seen on the very next request.
//! PostgreSQL is not cached: there every request reads the row, which the same tests check.

use reqwest::StatusCode;

use crate::helpers::{TestApp, TestDb};

const LATEST_INVOICE: &str = "/api/billing/invoices/latest";

#[actix_web::test]
async fn a_token_presented_again_is_read_again_only_after_a_commit() {
    let app = TestApp::spawn().await;
    let user = app.with_user("cache@example.com").await;
    let token = user.with_token("ci", &["messages"], "1y").await;
    let requests = 20;
    let before = app.state.queries.get();
    for _ in 0..requests {
        let res = app.bearer_get("/api/me", &token.plaintext).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    let lookups = app.state.queries.get() - before;
    match *app.db {
        // The first request reads the row; the others are served from the cache, except
        // after a background flush (activity, last use) committed, which empties it.
        TestDb::Sqlite { .. } => assert!(
            lookups <= 4,
            "{lookups} lookups for {requests} requests: the cache is not used"
        ),
        TestDb::Postgres { .. } => assert_eq!(lookups, requests, "one lookup a request"),
    }
}

/// Commits made behind the app's back, on a connection of the test's own, as another process
/// on the same file (or another instance) would make them: each shows on the next request.
#[actix_web::test]
async fn every_commit_by_another_connection_shows_on_the_next_request() {
    let app = TestApp::spawn().await;
    let user = app.with_user("exact@example.com").await;
    let token = user
        .with_token("billing", &["billing.read", "messages"], "1y")
        .await;
    let id = &token.id;
    for round in 0..25 {
        // Granted: no invoice yet, so 404 after the scope check passed.
        app.db.execute(&format!(
            "UPDATE api_tokens SET scopes = 'billing.read,messages' WHERE id = '{id}'"
        ));
        for _ in 0..3 {
            let res = app.bearer_get(LATEST_INVOICE, &token.plaintext).await;
            assert_eq!(res.status(), StatusCode::NOT_FOUND, "round {round}: granted");
        }
        app.db.execute(&format!(
            "UPDATE api_tokens SET scopes = 'messages' WHERE id = '{id}'"
        ));
        let res = app.bearer_get(LATEST_INVOICE, &token.plaintext).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "round {round}: scope taken away");
    }
    // A revocation written by someone else holds on the very next request.
    let res = app.bearer_get("/api/me", &token.plaintext).await;
    assert_eq!(res.status(), StatusCode::OK);
    app.db.execute(&format!(
        "UPDATE api_tokens SET revoked_at = created_at, revoked_reason = 'user' WHERE id = '{id}'"
    ));
    let res = app.bearer_get("/api/me", &token.plaintext).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

/// Made-up tokens fill nothing: each is looked up every time it is presented.
#[actix_web::test]
async fn unknown_tokens_are_not_cached() {
    let app = TestApp::spawn().await;
    let unknown = "mm_pat_AAAAAAAAAAAAAAAAAAAAAAAAAA2dbXlp";
    let before = app.state.queries.get();
    for _ in 0..5 {
        let res = app.bearer_get("/api/me", unknown).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(app.state.queries.get() - before, 5, "one lookup each time");
}
