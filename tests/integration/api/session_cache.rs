//! The session path's cache (`db::exact_cache`): a signed-in browser's session and account are
//! not read again on every request, and whatever anyone commits — the session ended, its
//! account changed, its state written — shows on the very next one, on every instance. On
//! SQLite by the header of the file's WAL index; on PostgreSQL under the instance's lease
//! (`db::cache_lease`), where a request that changed a session settles before its answer
//! leaves, and `TestDb::execute_settled` settles as an instance would.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{TestApp, TestDb, User, PASSWORD};

async fn me(user: &User) -> (StatusCode, Value) {
    let res = user.session(Method::GET, "/api/me").send().await.unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// `GET path` at `instance` in `user`'s browser (its cookie jar is not kept per port: the
/// instance gets the session's cookie, as it would behind a load balancer).
async fn get_at(user: &TestApp, instance: &TestApp, path: &str) -> reqwest::Response {
    user.client.get(instance.url(path)).send().await.unwrap()
}

/// Statements the app ran for `requests` of `/api/me` in this session.
async fn statements_for(user: &User, requests: u64) -> u64 {
    let before = user.state.queries.get();
    for _ in 0..requests {
        assert_eq!(me(user).await.0, StatusCode::OK);
    }
    user.state.queries.get() - before
}

/// On PostgreSQL, until every instance holds its lease, so that their caches are in play (a
/// test of exactness proves nothing while every request reads the database).
async fn leased(instances: &[&TestApp]) {
    let start = Instant::now();
    for app in instances {
        let Some(lease) = &app.state.cache_lease else {
            continue;
        };
        while !lease.trusted() {
            assert!(start.elapsed() < Duration::from_secs(10), "lease granted");
            actix_web::rt::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

#[actix_web::test]
async fn a_session_presented_again_is_read_again_only_after_a_commit() {
    let app = TestApp::spawn().await;
    leased(&[&app]).await;
    let user = app.with_user("cached-session@example.com").await;
    let requests = 20;
    // The first request may read, and a background commit (a sweep, a batch of token
    // activity) may empty the cache: the best of a few rounds.
    let mut best = u64::MAX;
    for _ in 0..5 {
        best = best.min(statements_for(&user, requests).await);
        if best <= 1 {
            break;
        }
    }
    assert!(
        best <= 3,
        "{best} statements for {requests} requests: the cache is not used"
    );
}

/// Commits made on a connection of the test's own, as another process on the same database
/// would make them, each show on the next request.
#[actix_web::test]
async fn every_commit_by_another_connection_shows_on_the_next_request() {
    let app = TestApp::spawn().await;
    leased(&[&app]).await;
    let user = app.with_user("exact-session@example.com").await;
    let id = me(&user).await.1["user"]["id"].as_str().unwrap().to_owned();
    for round in 0..10 {
        statements_for(&user, 2).await;
        let email = format!("renamed-{round}@example.com");
        app.db.execute_settled(&format!(
            "UPDATE users SET email = '{email}' WHERE id = '{id}'"
        ));
        let (status, body) = me(&user).await;
        assert_eq!(status, StatusCode::OK, "round {round}");
        assert_eq!(body["user"]["email"], email.as_str(), "round {round}");
    }
    // The session's own state, changed behind the app's back: the next request sees it.
    statements_for(&user, 2).await;
    app.db.execute_settled(
        "UPDATE sessions SET state = replace(state, '\"user_id\"', '\"user_id_gone\"')",
    );
    assert_eq!(
        me(&user).await.0,
        StatusCode::UNAUTHORIZED,
        "state read again"
    );
    app.db.execute_settled(
        "UPDATE sessions SET state = replace(state, '\"user_id_gone\"', '\"user_id\"')",
    );
    assert_eq!(me(&user).await.0, StatusCode::OK);
    // Ended behind the app's back (as "sign out everywhere" on another instance does): the
    // cookie no longer signs anyone in, from the very next request.
    app.db.execute_settled("DELETE FROM sessions");
    assert_eq!(me(&user).await.0, StatusCode::UNAUTHORIZED);
}

/// Three instances on one database, each just having served the session from its cache.
async fn three_instances(email: &str) -> (User, TestApp, TestApp) {
    let a = TestApp::spawn().await;
    let b = TestApp::spawn_on(a.db.clone(), a.clock.clone()).await;
    let c = TestApp::spawn_on(a.db.clone(), a.clock.clone()).await;
    leased(&[&a, &b, &c]).await;
    let user = a.with_user(email).await;
    for instance in [&user.app, &b, &c] {
        for _ in 0..3 {
            let res = get_at(&user, instance, "/api/me").await;
            assert_eq!(res.status(), StatusCode::OK);
        }
    }
    (user, b, c)
}

/// A session ended through another instance on the same database is over on every other one
/// at once, though each had just served it.
#[actix_web::test]
async fn signing_out_on_one_instance_ends_the_session_on_the_others() {
    let (user, b, c) = three_instances("two-instances@example.com").await;
    let res = user
        .client
        .post(b.url("/logout"))
        .form(&[("csrf_token", user.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(me(&user).await.0, StatusCode::UNAUTHORIZED, "at A");
    let res = get_at(&user, &c, "/api/me").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "at C");
}

/// "End this session" and a password change, made through A, end the other browser's session
/// on B and C on their very next request; and the flash message the change left, taken on A's
/// page (a safe request that writes its session), is not shown again by B.
#[actix_web::test]
async fn ended_sessions_and_taken_flash_messages_show_on_every_instance() {
    let (laptop, b, c) = three_instances("ended@example.com").await;
    let phone = laptop.new_browser();
    let tablet = laptop.new_browser();
    for other in [&phone, &tablet] {
        assert_eq!(
            other.login("ended@example.com", PASSWORD).await.status(),
            StatusCode::SEE_OTHER
        );
        for instance in [&b, &c] {
            let res = get_at(other, instance, "/api/me").await;
            assert_eq!(res.status(), StatusCode::OK);
        }
    }

    // One of the other browsers' sessions, ended from the laptop's sessions page at A (which
    // of the two does not matter: exactly that browser is signed out).
    let sessions = laptop.get_html("/settings/sessions").await;
    let marker = "action=\"/settings/sessions/";
    let start = sessions.find(marker).expect("another session") + marker.len();
    let ended = &sessions[start..start + sessions[start..].find('/').unwrap()];
    let res = laptop
        .post_form(
            &format!("/settings/sessions/{ended}/end"),
            &[("csrf_token", &laptop.csrf)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let mut statuses = Vec::new();
    for other in [&phone, &tablet] {
        statuses.push(get_at(other, &b, "/api/me").await.status());
    }
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::UNAUTHORIZED)
            .count(),
        1,
        "exactly the ended browser is signed out at B: {statuses:?}"
    );

    // The password changed at A: every other session is over at B and C at once.
    let res = laptop
        .post_form(
            "/settings/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", "a brand new password"),
                ("csrf_token", &laptop.csrf),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    for instance in [&b, &c] {
        for other in [&phone, &tablet] {
            let res = get_at(other, instance, "/api/me").await;
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        }
    }

    // The laptop goes on in a fresh session holding the flash message. B serves it (and
    // keeps it) without taking the message; A's page takes it.
    let res = get_at(&laptop, &b, "/api/me").await;
    assert_eq!(res.status(), StatusCode::OK);
    let page = laptop.get_html("/settings/tokens").await;
    assert!(page.contains("Password changed"), "A shows the message");
    let page = get_at(&laptop, &b, "/settings/tokens")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !page.contains("Password changed"),
        "B showed a flash message A had already taken"
    );
}

/// The idle expiry slid by a request at A is B's too on the next request: B, which had
/// cached the session before the slide, does not end it at the old expiry.
#[actix_web::test]
async fn a_slide_on_one_instance_shows_on_another() {
    let (user, b, _c) = three_instances("slid@example.com").await;
    // 11 hours on, a request at A slides the 12-hour idle expiry (a safe request that
    // writes), and settles.
    user.clock.advance(chrono::Duration::hours(11));
    assert_eq!(me(&user).await.0, StatusCode::OK);
    // Past the old expiry, within the new one.
    user.clock.advance(chrono::Duration::hours(2));
    let res = get_at(&user, &b, "/api/me").await;
    assert_eq!(res.status(), StatusCode::OK, "B ended a session A had slid");
}

/// While the lease cannot be held (the listener's connection is gone), sessions are read on
/// every request and still end exactly. PostgreSQL only.
#[actix_web::test]
async fn without_the_lease_sessions_are_read_and_end_exactly() {
    let a = TestApp::spawn().await;
    let TestDb::Postgres { base, .. } = &*a.db else {
        crate::helpers::skipped("the cache lease is PostgreSQL's (MANTEL_TEST_POSTGRES_URL)");
        return;
    };
    let b = TestApp::spawn_on(a.db.clone(), a.clock.clone()).await;
    leased(&[&a, &b]).await;
    let user = a.with_user("unleased@example.com").await;
    for instance in [&user.app, &b] {
        assert_eq!(
            get_at(&user, instance, "/api/me").await.status(),
            StatusCode::OK
        );
    }
    // B's listener dies (a failover, a network cut, an administrator).
    let lease = b.state.cache_lease.clone().unwrap();
    {
        use diesel::connection::SimpleConnection;
        use diesel::Connection;
        diesel::PgConnection::establish(base)
            .unwrap()
            .batch_execute(&format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE application_name = 'mantel cache lease {}'",
                lease.instance()
            ))
            .unwrap();
    }
    let start = Instant::now();
    while lease.trusted() {
        assert!(start.elapsed() < Duration::from_secs(2), "still trusted");
        actix_web::rt::time::sleep(Duration::from_millis(1)).await;
    }
    let before = b.state.queries.get();
    assert_eq!(get_at(&user, &b, "/api/me").await.status(), StatusCode::OK);
    if !lease.trusted() {
        assert!(b.state.queries.get() > before, "read, not cached");
    }
    // Signed out through A: B, without its lease, ends the session on the next request.
    let res = user
        .client
        .post(user.url("/logout"))
        .form(&[("csrf_token", user.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        get_at(&user, &b, "/api/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
}
