//! PostgreSQL's token-cache lease (`db::cache_lease`) when its listener's connection dies: the
//! instance stops trusting its cache at once, a revocation made meanwhile is still exact, and
//! the cache comes back once the listener has reconnected. Needs PostgreSQL.

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use reqwest::StatusCode;

use crate::helpers::{TestApp, TestDb};

/// Until `cond` holds, checking every millisecond; false after `limit`.
async fn within(limit: Duration, cond: impl Fn() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        actix_web::rt::time::sleep(Duration::from_millis(1)).await;
    }
    cond()
}

#[actix_web::test]
async fn a_dead_listener_fences_the_cache_and_revocation_stays_exact() {
    let app = TestApp::spawn().await;
    let TestDb::Postgres { base, .. } = &*app.db else {
        crate::helpers::skipped("the token-cache lease is PostgreSQL's (MANTEL_TEST_POSTGRES_URL)");
        return;
    };
    let lease = app
        .state
        .cache_lease
        .clone()
        .expect("PostgreSQL has a lease");
    assert!(
        within(Duration::from_secs(10), || lease.trusted()).await,
        "lease granted"
    );
    let user = app.with_user("fenced@example.com").await;
    let token = user.with_token("ci", &["messages"], "1y").await;
    let me = app.bearer_get("/api/me", &token.plaintext).await;
    assert_eq!(me.status(), StatusCode::OK);

    // The listener's connection dies (a failover, a network cut, an administrator).
    PgConnection::establish(base)
        .unwrap()
        .batch_execute(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = 'mantel cache lease {}'",
            lease.instance()
        ))
        .unwrap();
    assert!(
        within(Duration::from_secs(2), || !lease.trusted()).await,
        "the cache is still trusted after its listener died"
    );
    // Meanwhile every request reads the token.
    let before = app.state.queries.get();
    let me = app.bearer_get("/api/me", &token.plaintext).await;
    assert_eq!(me.status(), StatusCode::OK);
    if !lease.trusted() {
        assert_eq!(app.state.queries.get(), before + 1, "read, not cached");
    }

    // A revocation made while the listener is down or just back holds on the next request.
    assert_eq!(
        user.revoke(&token.id).await.status(),
        StatusCode::NO_CONTENT
    );
    let me = app.bearer_get("/api/me", &token.plaintext).await;
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);

    // Reconnected, the cache is trusted and used again.
    assert!(
        within(Duration::from_secs(10), || lease.trusted()).await,
        "lease regained"
    );
    let fresh = user.with_token("ci 2", &["messages"], "1y").await;
    let mut cached = false;
    for _ in 0..50 {
        app.bearer_get("/api/me", &fresh.plaintext).await;
        let before = app.state.queries.get();
        app.bearer_get("/api/me", &fresh.plaintext).await;
        if app.state.queries.get() == before {
            cached = true;
            break;
        }
    }
    assert!(
        cached,
        "the cache is used again after the listener reconnected"
    );
}
