//! The bearer path's token cache (`db::token_cache`): a token presented again is not read
//! again, and a change is seen on the very next request — on SQLite whoever commits it, on
//! PostgreSQL once it is settled (`db::cache_lease::settle`, which the app runs before it
//! answers any change; the multi-instance tests in `instances` prove that across processes).

use diesel::Connection;
use reqwest::StatusCode;

use crate::helpers::{TestApp, TestDb};

/// Commits `sql` behind the app's back, as another process would, and on PostgreSQL settles
/// it as the app does before answering a change.
fn change(app: &TestApp, sql: &str) {
    app.db.execute_settled(sql);
}

/// Waits until the instance's cache is in use (on PostgreSQL, once its lease is granted).
async fn until_cached(app: &TestApp, token: &str) {
    for _ in 0..100 {
        app.bearer_get("/api/me", token).await;
        let before = app.state.queries.get();
        app.bearer_get("/api/me", token).await;
        if app.state.queries.get() == before {
            return;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the token cache is never used");
}

const LATEST_INVOICE: &str = "/api/billing/invoices/latest";

#[actix_web::test]
async fn a_token_presented_again_is_read_again_only_after_a_change() {
    let app = TestApp::spawn().await;
    let user = app.with_user("cache@example.com").await;
    let token = user.with_token("ci", &["messages"], "1y").await;
    until_cached(&app, &token.plaintext).await;
    let requests = 20;
    let before = app.state.queries.get();
    for _ in 0..requests {
        let res = app.bearer_get("/api/me", &token.plaintext).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    // Served from the cache; a background flush (activity, last use) may run meanwhile.
    let lookups = app.state.queries.get() - before;
    assert!(
        lookups <= 3,
        "{lookups} lookups for {requests} requests: the cache is not used"
    );
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
    until_cached(&app, &token.plaintext).await;
    for round in 0..25 {
        // Granted: no invoice yet, so 404 after the scope check passed.
        change(
            &app,
            &format!("UPDATE api_tokens SET scopes = 'billing.read,messages' WHERE id = '{id}'"),
        );
        for _ in 0..3 {
            let res = app.bearer_get(LATEST_INVOICE, &token.plaintext).await;
            assert_eq!(
                res.status(),
                StatusCode::NOT_FOUND,
                "round {round}: granted"
            );
        }
        change(
            &app,
            &format!("UPDATE api_tokens SET scopes = 'messages' WHERE id = '{id}'"),
        );
        let res = app.bearer_get(LATEST_INVOICE, &token.plaintext).await;
        assert_eq!(
            res.status(),
            StatusCode::FORBIDDEN,
            "round {round}: scope taken away"
        );
    }
    // A revocation written by someone else holds on the very next request.
    let res = app.bearer_get("/api/me", &token.plaintext).await;
    assert_eq!(res.status(), StatusCode::OK);
    change(
        &app,
        &format!("UPDATE api_tokens SET revoked_at = created_at, revoked_reason = 'user' WHERE id = '{id}'"),
    );
    let res = app.bearer_get("/api/me", &token.plaintext).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

/// Made-up tokens fill nothing: each is looked up every time it is presented.
#[actix_web::test]
async fn unknown_tokens_are_not_cached() {
    // Bad tokens are not counted per address here: that count's background flush would add
    // its statements to the lookups counted.
    let no_count = |s: &mut mantel::config::Settings| s.bearer_failure_limit = 0;
    let app = TestApp::spawn_with(
        std::sync::Arc::new(TestDb::new()),
        mantel::clock::Clock::default(),
        no_count,
    )
    .await;
    let unknown = "mm_pat_AAAAAAAAAAAAAAAAAAAAAAAAAA2dbXlp";
    let before = app.state.queries.get();
    for _ in 0..5 {
        let res = app.bearer_get("/api/me", unknown).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(app.state.queries.get() - before, 5, "one lookup each time");
}

/// The many tokens of a CI fleet, each used now and then: the batches that write their
/// activity and last use commit every second but change nothing the cache holds, so they
/// leave it in place (on SQLite a generation that triggers move, not every commit, empties
/// it); otherwise every token would be read again after every batch. A change to one of them
/// still shows on its next request.
#[actix_web::test]
async fn writing_activity_and_last_use_keeps_the_cache() {
    let app = TestApp::spawn().await;
    let user = app.with_user("fleet-cache@example.com").await;
    let mut fleet = Vec::new();
    for i in 0..60 {
        fleet.push(
            user.with_token(&format!("runner {i}"), &["messages"], "1y")
                .await,
        );
    }
    for token in &fleet {
        until_cached(&app, &token.plaintext).await;
    }
    let state = &app.state;
    state.last_used.flush(&state.pool).await.unwrap();
    state
        .activity
        .flush(&state.pool, &state.notifier)
        .await
        .unwrap();
    // And the background writer's own batch, a second later.
    actix_web::rt::time::sleep(std::time::Duration::from_millis(1_200)).await;
    let before = state.queries.get();
    for token in &fleet {
        let res = app.bearer_get("/api/me", &token.plaintext).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    // What the background batches ran meanwhile is counted too: a few statements each.
    let statements = state.queries.get() - before;
    assert!(
        statements < 30,
        "{statements} statements for {} cached tokens: read again",
        fleet.len()
    );

    let id = &fleet[0].id;
    change(
        &app,
        &format!("UPDATE api_tokens SET revoked_at = created_at, revoked_reason = 'user' WHERE id = '{id}'"),
    );
    let res = app.bearer_get("/api/me", &fleet[0].plaintext).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

/// On SQLite the caches trust `cache_generation`, which a trigger moves on an update of any
/// token column but the last use: a column added to `api_tokens` without being added to that
/// trigger would change tokens unseen by the caches.
#[actix_web::test]
async fn every_token_column_but_the_last_use_moves_the_generation() {
    use diesel::sql_types::Text;
    use diesel::{QueryableByName, RunQueryDsl, SqliteConnection};
    #[derive(QueryableByName)]
    struct Named {
        #[diesel(sql_type = Text)]
        name: String,
    }
    let db = std::sync::Arc::new(TestDb::sqlite());
    // Spawned for its migrations.
    let _app = TestApp::spawn_on(db.clone(), mantel::clock::Clock::default()).await;
    let mut conn = SqliteConnection::establish(&db.url()).unwrap();
    let columns: Vec<Named> = diesel::sql_query("SELECT name FROM pragma_table_info('api_tokens')")
        .load(&mut conn)
        .unwrap();
    let trigger: Named = diesel::sql_query(
        "SELECT sql AS name FROM sqlite_master WHERE type = 'trigger' AND name = 'api_tokens_changed'",
    )
    .get_result(&mut conn)
    .unwrap();
    let watched: String = trigger.name.split(" ON ").next().unwrap().to_owned();
    let watched: Vec<&str> = watched
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .collect();
    for Named { name } in &columns {
        let last_use = name == "last_used_at" || name == "last_used_ip";
        assert_eq!(
            watched.contains(&name.as_str()),
            !last_use,
            "api_tokens.{name} in the trigger api_tokens_changed: {}",
            trigger.name
        );
    }
}
