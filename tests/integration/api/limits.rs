//! Rate limits and metrics (SPEC §8.6): a token's hourly quota with its IETF draft fields,
//! bad tokens per address, and `GET /metrics` on its own address only.

use std::sync::Arc;

use mantel::clock::Clock;
use mantel::config::Settings;
use reqwest::{Response, StatusCode};

use crate::helpers::{client, error_code, TestApp, TestDb};

async fn spawn_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    TestApp::spawn_with(Arc::new(TestDb::new()), Clock::default(), adjust).await
}

/// `r` and `t` of a `RateLimit: "<policy>";r=…;t=…` field.
fn rate_limit(res: &Response, policy: &str) -> (u64, u64) {
    let value = res.headers()["ratelimit"].to_str().unwrap();
    let params = value
        .strip_prefix(&format!("\"{policy}\";"))
        .unwrap_or_else(|| panic!("policy {policy} in {value}"));
    let param = |name: &str| -> u64 {
        params
            .split(';')
            .find_map(|p| p.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name} in {value}"))
            .parse()
            .unwrap()
    };
    (param("r"), param("t"))
}

fn retry_after(res: &Response) -> u64 {
    res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[actix_web::test]
async fn a_token_gets_its_hourly_quota_then_429_with_retry_after() {
    let app = spawn_with(|s| s.token_rate_limit = 3).await;
    let user = app.with_user("quota@example.com").await;
    let token = user.with_token("CI", &["publish"], "never").await;
    let other = user.with_token("Other", &["publish"], "never").await;

    let mut left = Vec::new();
    for _ in 0..3 {
        let res = app.bearer_get("/api/me", &token.plaintext).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["ratelimit-policy"], r#""default";q=3;w=3600"#);
        let (r, t) = rate_limit(&res, "default");
        assert!((1..=3600).contains(&t), "t={t}");
        left.push(r);
    }
    assert_eq!(left, [2, 1, 0], "the quota counts down");

    // The fourth request in the hour.
    let res = app.bearer_get("/api/me", &token.plaintext).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait = retry_after(&res);
    // One request comes back every 20 minutes.
    assert!((1..=1200).contains(&wait), "{wait}");
    assert_eq!(res.headers()["ratelimit-policy"], r#""default";q=3;w=3600"#);
    assert_eq!(rate_limit(&res, "default"), (0, wait));
    assert_eq!(error_code(res).await, "rate_limited");

    // Another token of the same account has its own quota.
    let res = app.bearer_get("/api/me", &other.plaintext).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(rate_limit(&res, "default").0, 2);

    // A session caller is not limited per token and gets no such fields.
    let res = user.get("/api/me").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(!res.headers().contains_key("ratelimit"));
    assert!(!res.headers().contains_key("ratelimit-policy"));
}

#[actix_web::test]
async fn a_refusal_by_scope_still_counts_and_carries_the_quota() {
    let app = spawn_with(|s| s.token_rate_limit = 10).await;
    let user = app.with_user("narrow@example.com").await;
    let token = user.with_token("Narrow", &["publish"], "never").await;
    let res = app
        .bearer_get("/api/billing/invoices", &token.plaintext)
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(rate_limit(&res, "default").0, 9);
    assert_eq!(error_code(res).await, "insufficient_scope");
}

#[actix_web::test]
async fn an_address_presenting_bad_tokens_is_refused_before_any_lookup() {
    let app = spawn_with(|s| s.bearer_failure_limit = 3).await;
    let user = app.with_user("blocked@example.com").await;
    let good = user.with_token("Good", &["publish"], "never").await;
    // Well-formed (right checksum) but unknown, so each is looked up.
    let unknown = "mm_pat_AAAAAAAAAAAAAAAAAAAAAAAAAA2dbXlp";

    for left in [2, 1, 0] {
        let res = app.bearer_get("/api/me", unknown).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(res.headers()["ratelimit-policy"], r#""failures";q=3;w=60"#);
        assert_eq!(rate_limit(&res, "failures").0, left);
        assert_eq!(error_code(res).await, "invalid_token");
    }
    // The fourth failure is over the allowance: 429, and the address is blocked.
    let res = app.bearer_get("/api/me", unknown).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!((50..=60).contains(&retry_after(&res)));

    // Now refused before any lookup, a good token from this address included, until the
    // minute's window that began with the first failure ends.
    // The count's background flush (one statement a second while the address's window is
    // open) may fall between two readings: a round it touched is tried again, while a lookup
    // would show in every round.
    let mut statements = Vec::new();
    for _ in 0..3 {
        let before = app.state.queries.get();
        for token in [unknown, good.plaintext.as_str(), "mm_pat_short"] {
            let res = app.bearer_get("/api/me", token).await;
            assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
            let wait = retry_after(&res);
            assert!((50..=60).contains(&wait), "{wait}");
            assert_eq!(rate_limit(&res, "failures"), (0, wait));
            assert_eq!(error_code(res).await, "rate_limited");
        }
        statements.push(app.state.queries.get() - before);
        if statements.last() == Some(&0) {
            break;
        }
    }
    assert_eq!(
        statements.last(),
        Some(&0),
        "no lookup while blocked: {statements:?}"
    );

    // The dashboard session from the same address is not a bearer request: unaffected.
    assert_eq!(user.get("/api/me").await.status(), StatusCode::OK);
}

/// The value of one sample line (`name{labels} value`) in an OpenMetrics text body.
fn sample(body: &str, name_and_labels: &str) -> Option<f64> {
    body.lines()
        .find_map(|line| line.strip_prefix(name_and_labels)?.strip_prefix(' '))
        .map(|v| v.parse().unwrap())
}

#[actix_web::test]
async fn metrics_answer_on_their_own_address_only_and_count_requests() {
    let app = spawn_with(|s| s.metrics_bind = Some("127.0.0.1:0".into())).await;
    let metrics_url = format!("{}/metrics", app.metrics_address.as_ref().unwrap());
    let scrape = || async {
        let res = client().get(&metrics_url).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text"));
        res.text().await.unwrap()
    };
    let unknown_label = r#"mantel_auth_outcomes_total{outcome="invalid_token_unknown"}"#;
    let before = scrape().await;
    assert_eq!(sample(&before, unknown_label), Some(0.0), "{before}");

    let unknown = "mm_pat_AAAAAAAAAAAAAAAAAAAAAAAAAA2dbXlp";
    let res = app.bearer_get("/api/me", unknown).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let user = app.with_user("metered@example.com").await;
    let project = user.with_project("Metered").await;
    let res = user.get(&format!("/api/projects/{project}/messages")).await;
    assert_eq!(res.status(), StatusCode::OK);

    let after = scrape().await;
    assert_eq!(sample(&after, unknown_label), Some(1.0), "{after}");
    let sessions = r#"mantel_auth_outcomes_total{outcome="ok_session"}"#;
    assert!(sample(&after, sessions).unwrap() >= 2.0, "{after}");
    let messages = r#"mantel_http_requests_total{method="GET",route="/api/projects/{id}/messages",status="200"}"#;
    assert_eq!(sample(&after, messages), Some(1.0), "{after}");
    let latency = r#"mantel_http_request_duration_seconds_count{method="GET",route="/api/projects/{id}/messages"}"#;
    assert_eq!(sample(&after, latency), Some(1.0), "{after}");
    assert!(sample(&after, "mantel_db_pool_max_connections").unwrap() >= 1.0);
    assert!(sample(&after, "mantel_db_pool_checkouts_total").unwrap() >= 1.0);
    assert!(sample(&after, "mantel_last_used_backlog").is_some());
    // No raw path, id, token or email in any label.
    for secret in [project.as_str(), unknown, "metered@example.com"] {
        assert!(!after.contains(secret), "{secret} in the metrics");
    }

    // The main address does not serve them.
    let res = app.get("/metrics").await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}
