//! Per-token activity (SPEC §8.3): recorded off the request path within a flush interval,
//! presentations after revocation on the token's page, new-address and after-revocation
//! notices once, the full-queue path, paging, privacy between accounts, and the 90-day limit.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration as Wait;

use chrono::Duration;
use mantel::clock::Clock;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{error_code, TestApp, TestDb, User, PASSWORD};

/// Quotes and a backslash: the batch hands its rows to the database as JSON.
const AGENT: &str = r#"nightly-export/2.1 (+https://ci.example; "quoted" \path)"#;

/// The requests a list of activity entries stands for (an entry counts `count` of them).
fn total(items: &[Value]) -> i64 {
    items.iter().map(|r| r["count"].as_i64().unwrap()).sum()
}

/// `GET /api/tokens/{id}`: the token with its addresses and requests a day.
async fn token_detail(user: &User, token_id: &str) -> Value {
    user.get(&format!("/api/tokens/{token_id}"))
        .await
        .json()
        .await
        .unwrap()
}

/// The token's requests once at least `n` are recorded (the queue is written every second;
/// an entry stands for `count` identical requests).
async fn activity(user: &User, token_id: &str, n: i64) -> Vec<Value> {
    for _ in 0..100 {
        let res = user
            .get(&format!("/api/tokens/{token_id}/activity?limit=200"))
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        let items: Vec<Value> = res.json().await.unwrap();
        if total(&items) >= n {
            return items;
        }
        actix_web::rt::time::sleep(Wait::from_millis(100)).await;
    }
    panic!("fewer than {n} requests recorded for {token_id}");
}

/// A bearer GET with a user agent, from `from` (any 127.x address reaches the server).
async fn call(app: &TestApp, path: &str, token: &str, from: Ipv4Addr) -> reqwest::Response {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(from))
        .build()
        .unwrap()
        .get(app.url(path))
        .bearer_auth(token)
        .header("User-Agent", AGENT)
        .send()
        .await
        .unwrap()
}

const HOME: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
const ELSEWHERE: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

#[actix_web::test]
async fn every_request_is_recorded_with_its_route_template_and_outcome() {
    let app = TestApp::spawn().await;
    let user = app.with_user("recorded@example.com").await;
    let project = user.with_project("Site").await;
    let token = user.with_token("export", &["messages"], "1y").await;

    assert_eq!(
        call(&app, "/api/me", &token.plaintext, HOME).await.status(),
        StatusCode::OK
    );
    let path = format!("/api/projects/{project}/messages");
    assert_eq!(
        call(&app, &path, &token.plaintext, HOME).await.status(),
        StatusCode::OK
    );
    let denied = call(&app, "/api/billing/invoices/latest", &token.plaintext, HOME).await;
    assert_eq!(denied.status(), StatusCode::FORBIDDEN);

    let items = activity(&user, &token.id, 3).await;
    let routes: Vec<(&str, &str, i64, &str)> = items
        .iter()
        .map(|r| {
            (
                r["method"].as_str().unwrap(),
                r["route"].as_str().unwrap(),
                r["status"].as_i64().unwrap(),
                r["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        routes,
        [
            ("GET", "/api/billing/invoices/latest", 403, "denied"),
            ("GET", "/api/projects/{id}/messages", 200, "ok"),
            ("GET", "/api/me", 200, "ok"),
        ],
        "newest first, templates not paths"
    );
    for r in &items {
        assert_eq!(r["ip"], "127.0.0.1");
        assert_eq!(r["userAgent"], AGENT);
        assert!(!r.to_string().contains(&project), "no raw path: {r}");
    }

    // The token JSON: one address, today's three requests.
    let detail = token_detail(&user, &token.id).await;
    assert_eq!(detail["name"], "export");
    assert_eq!(detail["addresses"][0]["ip"], "127.0.0.1");
    assert_eq!(detail["addresses"][0]["count"], 3);
    let days = detail["requestsPerDay"].as_array().unwrap();
    assert_eq!(days.len(), 30);
    assert_eq!(days.last().unwrap()["requests"], 3);
    assert_eq!(detail["unrecordedRequests"], 0);
    assert!(detail["presentedAfterStop"].is_null());

    // Paged like every list.
    let res = user
        .get(&format!("/api/tokens/{}/activity?limit=2", token.id))
        .await;
    let link = res.headers()["link"].to_str().unwrap().to_owned();
    let first: Vec<Value> = res.json().await.unwrap();
    assert_eq!(first.len(), 2);
    let next = link.trim_start_matches('<').split('>').next().unwrap();
    let rest: Vec<Value> = user
        .client
        .get(next)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0]["route"], "/api/me");
}

/// A client polling in a loop: identical requests within a second are one entry with their
/// count, on the API and the page, and every one of them is counted everywhere.
#[actix_web::test]
async fn identical_requests_within_a_second_are_one_entry_with_their_count() {
    let app = TestApp::spawn().await;
    let user = app.with_user("poller@example.com").await;
    let token = user.with_token("poller", &["messages"], "1y").await;
    let sent = 30;
    for _ in 0..sent {
        let res = call(&app, "/api/me", &token.plaintext, HOME).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    let items = activity(&user, &token.id, sent).await;
    let counts: Vec<i64> = items.iter().map(|r| r["count"].as_i64().unwrap()).collect();
    assert_eq!(total(&items), sent, "{items:?}");
    // 30 requests take well under a second: at most a second's and a batch's boundary apart.
    assert!(items.len() <= 4, "not folded: {items:?}");
    let detail = token_detail(&user, &token.id).await;
    assert_eq!(detail["addresses"][0]["count"], sent);
    assert_eq!(
        detail["requestsPerDay"].as_array().unwrap().last().unwrap()["requests"],
        sent
    );
    let page = user
        .get_html(&format!("/settings/tokens/{}", token.id))
        .await;
    let biggest = counts.iter().max().unwrap();
    assert!(page.contains(&format!("×{biggest}")), "{page}");
}

#[actix_web::test]
async fn a_revoked_token_still_presented_shows_on_its_page_and_is_told_once() {
    let app = TestApp::spawn().await;
    let user = app.with_user("stillused@example.com").await;
    let token = user.with_token("old laptop", &["publish"], "1y").await;
    call(&app, "/api/me", &token.plaintext, HOME).await;
    assert_eq!(
        user.revoke(&token.id).await.status(),
        StatusCode::NO_CONTENT
    );
    for _ in 0..3 {
        let res = call(&app, "/api/me", &token.plaintext, ELSEWHERE).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let items = activity(&user, &token.id, 4).await;
    assert_eq!(items[0]["outcome"], "revoked");
    assert_eq!(items[0]["status"], 401);
    assert_eq!(items[0]["ip"], "127.0.0.2");

    let page = user
        .get_html(&format!("/settings/tokens/{}", token.id))
        .await;
    assert!(
        page.contains("Still presented 3 times since it was revoked, last from 127.0.0.2"),
        "{page}"
    );
    let detail = token_detail(&user, &token.id).await;
    assert_eq!(detail["presentedAfterStop"]["count"], 3);
    assert_eq!(detail["presentedAfterStop"]["lastIp"], "127.0.0.2");

    let told = |kind: &str| {
        app.db.count(&format!(
            "SELECT COUNT(*) AS n FROM notifications WHERE kind = '{kind}'"
        ))
    };
    assert_eq!(told("token_used_after_revocation"), 1, "at most daily");
    assert_eq!(
        told("token_used_from_new_ip"),
        0,
        "127.0.0.2 was new, but a stopped token is only told it is still presented"
    );
    // The next day, told again.
    app.clock.advance(Duration::days(1));
    user.login("stillused@example.com", PASSWORD).await;
    call(&app, "/api/me", &token.plaintext, ELSEWHERE).await;
    activity(&user, &token.id, 5).await;
    assert_eq!(told("token_used_after_revocation"), 2);
}

#[actix_web::test]
async fn a_new_address_is_told_once_and_the_first_is_no_news() {
    let app = TestApp::spawn().await;
    let user = app.with_user("roaming@example.com").await;
    let token = user.with_token("deploy", &["publish"], "1y").await;
    let told = "SELECT COUNT(*) AS n FROM notifications WHERE kind = 'token_used_from_new_ip'";
    call(&app, "/api/me", &token.plaintext, HOME).await;
    activity(&user, &token.id, 1).await;
    assert_eq!(app.db.count(told), 0, "its first address is no news");
    for _ in 0..2 {
        call(&app, "/api/me", &token.plaintext, ELSEWHERE).await;
    }
    call(&app, "/api/me", &token.plaintext, HOME).await;
    activity(&user, &token.id, 4).await;
    assert_eq!(app.db.count(told), 1);
    let page = user.get_html("/settings/notifications").await;
    assert!(
        page.contains("Your API token “deploy” was used from a new address")
            && page.contains("127.0.0.2"),
        "{page}"
    );
    let detail = token_detail(&user, &token.id).await;
    let counts: Vec<(String, i64)> = detail["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["ip"].as_str().unwrap().to_owned(),
                a["count"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        counts,
        [("127.0.0.1".to_owned(), 2), ("127.0.0.2".to_owned(), 2)]
    );
}

#[actix_web::test]
async fn a_full_queue_drops_and_counts_without_slowing_a_request() {
    let app = TestApp::spawn_with(Arc::new(TestDb::new()), Clock::default(), |s| {
        s.activity_queue = 2;
        s.metrics_bind = Some("127.0.0.1:0".into());
    })
    .await;
    let user = app.with_user("busy@example.com").await;
    let token = user.with_token("firehose", &["publish"], "1y").await;
    let sent = 40;
    for _ in 0..sent {
        // Every request is answered, recorded or not.
        assert_eq!(
            call(&app, "/api/me", &token.plaintext, HOME).await.status(),
            StatusCode::OK
        );
    }
    let mut detail = Value::Null;
    for _ in 0..50 {
        actix_web::rt::time::sleep(Wait::from_millis(100)).await;
        detail = token_detail(&user, &token.id).await;
        let recorded = detail["requestsPerDay"].as_array().unwrap().last().unwrap()["requests"]
            .as_i64()
            .unwrap();
        if recorded + detail["unrecordedRequests"].as_i64().unwrap() == sent {
            break;
        }
    }
    let unrecorded = detail["unrecordedRequests"].as_i64().unwrap();
    assert!(unrecorded > 0, "{detail}");
    let recorded = detail["requestsPerDay"].as_array().unwrap().last().unwrap()["requests"]
        .as_i64()
        .unwrap();
    assert_eq!(
        recorded + unrecorded,
        sent,
        "each request recorded or counted: {detail}"
    );
    let page = user
        .get_html(&format!("/settings/tokens/{}", token.id))
        .await;
    assert!(
        page.contains(&format!("{unrecorded} requests not recorded")),
        "{page}"
    );
    let metrics = reqwest::get(format!("{}/metrics", app.metrics_address.as_ref().unwrap()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(&format!("token_activity_dropped_total {unrecorded}")),
        "{metrics}"
    );
}

#[actix_web::test]
async fn nobody_else_sees_a_tokens_activity_and_no_token_does() {
    let app = TestApp::spawn().await;
    let owner = app.with_user("owner@example.com").await;
    let other = app.with_user("other@example.com").await;
    let token = owner.with_token("private", &["publish"], "1y").await;
    for path in [
        format!("/api/tokens/{}", token.id),
        format!("/api/tokens/{}/activity", token.id),
    ] {
        let res = other.get(&path).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        let res = call(&app, &path, &token.plaintext, HOME).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path}");
        assert_eq!(error_code(res).await, "session_required");
    }
    let res = other.get(&format!("/settings/tokens/{}", token.id)).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = other
        .session(Method::GET, "/settings/tokens/not-a-token-id")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn activity_is_kept_90_days() {
    let app = TestApp::spawn_with(Arc::new(TestDb::new()), Clock::default(), |s| {
        s.sweep_every = Wait::from_millis(100);
    })
    .await;
    let user = app.with_user("forgetful@example.com").await;
    let token = user.with_token("quarterly", &["publish"], "never").await;
    call(&app, "/api/me", &token.plaintext, HOME).await;
    activity(&user, &token.id, 1).await;
    let rows = "SELECT COUNT(*) AS n FROM token_requests";
    app.clock.advance(Duration::days(89));
    actix_web::rt::time::sleep(Wait::from_millis(400)).await;
    assert_eq!(app.db.count(rows), 1, "kept within 90 days");
    app.clock.advance(Duration::days(2));
    for _ in 0..50 {
        if app.db.count(rows) == 0 {
            break;
        }
        actix_web::rt::time::sleep(Wait::from_millis(100)).await;
    }
    assert_eq!(app.db.count(rows), 0, "gone after 90 days");
    assert_eq!(app.db.count("SELECT COUNT(*) AS n FROM token_addresses"), 0);
}

#[actix_web::test]
async fn project_owners_see_which_members_tokens_used_the_project() {
    let app = TestApp::spawn().await;
    let owner = app.with_user("lead@example.com").await;
    let member = app.with_user("dev@example.com").await;
    let stranger = app.with_user("stranger@example.com").await;
    let project = owner.with_project("Storefront").await;
    owner
        .add_member(&project, "dev@example.com", "editor")
        .await;
    let token = member.with_token("dev laptop", &["messages"], "1y").await;
    let elsewhere = member.with_token("unrelated", &["messages"], "1y").await;
    let path = format!("/api/projects/{project}/messages");
    for _ in 0..2 {
        assert_eq!(
            call(&app, &path, &token.plaintext, HOME).await.status(),
            StatusCode::OK
        );
    }
    call(&app, "/api/me", &elsewhere.plaintext, HOME).await;
    activity(&member, &token.id, 2).await;
    activity(&member, &elsewhere.id, 1).await;

    let access = format!("/projects/{project}/access");
    let page = owner.get_html(&access).await;
    assert!(page.contains("dev@example.com"), "{page}");
    assert!(
        page.contains("dev laptop") && page.contains(token.created["prefix"].as_str().unwrap())
    );
    assert!(
        page.contains("<td data-label=\"Requests\">2</td>"),
        "{page}"
    );
    assert!(
        !page.contains("unrelated"),
        "a token that did not use the project"
    );
    assert_eq!(
        member.get(&access).await.status(),
        StatusCode::FORBIDDEN,
        "editors do not"
    );
    assert_eq!(stranger.get(&access).await.status(), StatusCode::NOT_FOUND);
}

/// A stranger's token that a project refuses (404, as if it did not exist) six times, and
/// once more for a scope it lacks: its activity says so, but it is no use of the project (not
/// on the access page, whose counts stay the owner's) nor of the token (`lastUsedAt` null).
#[actix_web::test]
async fn refused_requests_are_not_use_of_a_project_or_a_token() {
    let app = TestApp::spawn().await;
    let owner = app.with_user("keeper@example.com").await;
    let stranger = app.with_user("prober@example.com").await;
    let project = owner.with_project("Storefront").await;
    let own = owner.with_token("storefront ci", &["messages"], "1y").await;
    let probe = stranger
        .with_token("probe-token", &["messages"], "1y")
        .await;
    let path = format!("/api/projects/{project}/messages");
    assert_eq!(
        call(&app, &path, &own.plaintext, HOME).await.status(),
        StatusCode::OK
    );
    for _ in 0..6 {
        let res = call(&app, &path, &probe.plaintext, HOME).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
    }
    let lacking = call(&app, "/api/billing/invoices/latest", &probe.plaintext, HOME).await;
    assert_eq!(lacking.status(), StatusCode::FORBIDDEN);

    let items = activity(&stranger, &probe.id, 7).await;
    assert!(
        items.iter().all(|r| r["outcome"] == "denied"),
        "recorded as refused: {items:#?}"
    );
    activity(&owner, &own.id, 1).await;
    let page = owner.get_html(&format!("/projects/{project}/access")).await;
    assert!(
        !page.contains("prober@example.com") && !page.contains("probe-token"),
        "{page}"
    );
    assert!(page.contains("storefront ci"), "{page}");
    assert!(
        page.contains("<td data-label=\"Requests\">1</td>"),
        "{page}"
    );

    let state = &app.state;
    state.last_used.flush(&state.pool).await.unwrap();
    let listed = stranger.tokens().await;
    let row = listed.iter().find(|t| t["id"] == probe.id).unwrap();
    assert!(row["lastUsedAt"].is_null(), "{row}");
    assert!(row["lastUsedIp"].is_null(), "{row}");
    let listed = owner.tokens().await;
    let row = listed.iter().find(|t| t["id"] == own.id).unwrap();
    assert!(row["lastUsedAt"].is_string(), "{row}");
}

/// The realistic fleet: many tokens each used a few times, so one batch holds nearly as many
/// tokens as requests and is written as multi-row statements. Every token still shows its own
/// last use (time and address), its addresses with their counts and its requests a day; the
/// once-a-minute guard holds per token within the one statement.
#[actix_web::test]
async fn many_tokens_in_one_batch_each_show_their_own_use() {
    let app = TestApp::spawn().await;
    let user = app.with_user("fleet@example.com").await;
    let mut fleet = Vec::new();
    for i in 0..24 {
        fleet.push(
            user.with_token(&format!("runner {i}"), &["publish"], "1y")
                .await,
        );
    }
    let state = &app.state;
    let sent = |i: usize| i as i64 % 3 + 1;
    for (i, token) in fleet.iter().enumerate() {
        // Each token's first request a second after the previous token's: its own last use.
        app.clock.advance(Duration::seconds(1));
        for _ in 0..sent(i) {
            let res = call(&app, "/api/me", &token.plaintext, HOME).await;
            assert_eq!(res.status(), StatusCode::OK);
        }
        if i % 2 == 1 {
            let res = call(&app, "/api/me", &token.plaintext, ELSEWHERE).await;
            assert_eq!(res.status(), StatusCode::OK);
        }
    }
    state.last_used.flush(&state.pool).await.unwrap();
    state
        .activity
        .flush(&state.pool, &state.notifier)
        .await
        .unwrap();

    let last_used = |listed: &[Value], id: &str| {
        let row = listed.iter().find(|t| t["id"] == id).unwrap().clone();
        (row["lastUsedAt"].clone(), row["lastUsedIp"].clone())
    };
    let listed = user.tokens().await;
    let firsts: Vec<_> = fleet.iter().map(|t| last_used(&listed, &t.id)).collect();
    for (i, (at, ip)) in firsts.iter().enumerate() {
        assert!(at.is_string(), "runner {i}: {at}");
        assert_eq!(ip, "127.0.0.1", "runner {i}: the first use's address");
        if i > 0 {
            assert!(
                at.as_str() > firsts[i - 1].0.as_str(),
                "runner {i}'s own time, after runner {}'s: {firsts:?}",
                i - 1
            );
        }
    }
    for (i, token) in fleet.iter().enumerate() {
        let detail = token_detail(&user, &token.id).await;
        let from_elsewhere = i64::from(i % 2 == 1);
        let days = detail["requestsPerDay"].as_array().unwrap();
        let per_day: i64 = days.iter().map(|d| d["requests"].as_i64().unwrap()).sum();
        assert_eq!(per_day, sent(i) + from_elsewhere, "runner {i}: {detail}");
        let addresses: Vec<(&str, i64)> = detail["addresses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| (a["ip"].as_str().unwrap(), a["count"].as_i64().unwrap()))
            .collect();
        let mut expected = vec![("127.0.0.1", sent(i))];
        if from_elsewhere == 1 {
            expected.insert(0, ("127.0.0.2", 1));
        }
        assert_eq!(addresses, expected, "runner {i}, most recent first");
    }

    // Half a minute on, the even runners again: within the minute, nothing is written. A
    // minute on, the odd ones: each of theirs moves, and no even one does.
    app.clock.advance(Duration::seconds(30));
    for token in fleet.iter().step_by(2) {
        call(&app, "/api/me", &token.plaintext, HOME).await;
    }
    state.last_used.flush(&state.pool).await.unwrap();
    app.clock.advance(Duration::seconds(31));
    for token in fleet.iter().skip(1).step_by(2) {
        call(&app, "/api/me", &token.plaintext, ELSEWHERE).await;
    }
    state.last_used.flush(&state.pool).await.unwrap();
    let listed = user.tokens().await;
    for (i, token) in fleet.iter().enumerate() {
        let (at, ip) = last_used(&listed, &token.id);
        if i % 2 == 0 {
            assert_eq!((&at, &ip), (&firsts[i].0, &firsts[i].1), "runner {i}");
        } else {
            assert!(at.as_str() > firsts[i].0.as_str(), "runner {i}: {at}");
            assert_eq!(ip, "127.0.0.2", "runner {i}");
        }
    }
}
