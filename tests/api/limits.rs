//! Rate limits and metrics (SPEC §8.6): a token's hourly quota with its IETF draft fields,
//! bad tokens per address, and `GET /metrics` on its own address only.

use std::sync::Arc;

use mantel::clock::Clock;
use reqwest::{Method, Response, StatusCode};
use serde_json::Value;

use crate::helpers::{client, error_code, spawn_with, TestApp, TestDb};

/// `r` and `t` of a `RateLimit: "default";r=…;t=…` field.
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

async fn signed_up(adjust: impl FnOnce(&mut mantel::config::Settings)) -> (TestApp, String) {
    let app = spawn_with(Arc::new(TestDb::new()), Clock::default(), adjust).await;
    let csrf = app.signup("limits@example.com").await;
    (app, csrf)
}

#[actix_web::test]
async fn a_token_gets_its_hourly_quota_then_429_with_retry_after() {
    let (app, csrf) = signed_up(|s| s.token_rate_limit = 3).await;
    let token = app.create_token(&csrf, "CI", &["publish"], "never").await;
    let token = token["token"].as_str().unwrap().to_owned();
    let other = app
        .create_token(&csrf, "Other", &["publish"], "never")
        .await;
    let other = other["token"].as_str().unwrap().to_owned();

    let mut left = Vec::new();
    for _ in 0..3 {
        let res = app.bearer_get("/api/me", &token).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["ratelimit-policy"], r#""default";q=3;w=3600"#);
        let (r, t) = rate_limit(&res, "default");
        assert!((1..=3600).contains(&t), "t={t}");
        left.push(r);
    }
    assert_eq!(left, [2, 1, 0], "the quota counts down");

    // The fourth request in the hour.
    let res = app.bearer_get("/api/me", &token).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // One request comes back every 20 minutes.
    assert!((1..=1200).contains(&retry_after), "{retry_after}");
    assert_eq!(res.headers()["ratelimit-policy"], r#""default";q=3;w=3600"#);
    assert_eq!(rate_limit(&res, "default"), (0, retry_after));
    assert_eq!(error_code(res).await, "rate_limited");

    // Another token of the same account has its own quota.
    let res = app.bearer_get("/api/me", &other).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(rate_limit(&res, "default").0, 2);

    // A session caller is not rate limited per token and gets no such fields.
    let res = app.get("/api/me").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(!res.headers().contains_key("ratelimit"));
    assert!(!res.headers().contains_key("ratelimit-policy"));
}

#[actix_web::test]
async fn insufficient_scope_and_errors_still_carry_the_quota() {
    let (app, csrf) = signed_up(|s| s.token_rate_limit = 10).await;
    let token = app
        .create_token(&csrf, "Narrow", &["publish"], "never")
        .await;
    let token = token["token"].as_str().unwrap().to_owned();
    let res = app.bearer_get("/api/billing/invoices", &token).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(rate_limit(&res, "default").0, 9);
    assert_eq!(error_code(res).await, "insufficient_scope");
}

#[actix_web::test]
async fn an_address_presenting_bad_tokens_is_refused_before_any_lookup() {
    let (app, csrf) = signed_up(|s| s.bearer_failure_limit = 3).await;
    let good = app.create_token(&csrf, "Good", &["publish"], "never").await;
    let good = good["token"].as_str().unwrap().to_owned();
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
    assert!(res.headers().contains_key("retry-after"));

    // Now refused before any lookup, a good token from this address included (a block of
    // about 20 seconds: one failure comes back every 60 / 3).
    let before = app.state.queries.get();
    for token in [unknown, good.as_str(), "mm_pat_short"] {
        let res = app.bearer_get("/api/me", token).await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "{token:.10}");
        let retry_after: u64 = res.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=20).contains(&retry_after), "{retry_after}");
        assert_eq!(rate_limit(&res, "failures"), (0, retry_after));
        assert_eq!(error_code(res).await, "rate_limited");
    }
    assert_eq!(app.state.queries.get(), before, "no lookup while blocked");

    // The dashboard session of the same address is not a bearer request: unaffected.
    assert_eq!(app.get("/api/me").await.status(), StatusCode::OK);
}

/// The value of one sample line (`name{labels} value`) in an OpenMetrics text body.
fn sample(body: &str, name_and_labels: &str) -> Option<f64> {
    body.lines()
        .find_map(|line| line.strip_prefix(name_and_labels)?.strip_prefix(' '))
        .map(|v| v.parse().unwrap())
}

#[actix_web::test]
async fn metrics_answer_on_their_own_address_only_and_count_requests() {
    let (app, csrf) = signed_up(|s| s.metrics_bind = Some("127.0.0.1:0".into())).await;
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
    assert_eq!(
        app.bearer_get("/api/me", unknown).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let res = app
        .session_request(Method::POST, "/api/projects", &csrf)
        .json(&serde_json::json!({ "name": "Metered" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let project: Value = res.json().await.unwrap();
    let project = project["id"].as_str().unwrap();
    let res = app.get(&format!("/api/projects/{project}/messages")).await;
    assert_eq!(res.status(), StatusCode::OK);

    let after = scrape().await;
    assert_eq!(sample(&after, unknown_label), Some(1.0), "{after}");
    assert!(
        sample(
            &after,
            r#"mantel_auth_outcomes_total{outcome="ok_session"}"#
        )
        .unwrap()
            >= 2.0,
        "{after}"
    );
    let messages = r#"mantel_http_requests_total{method="GET",route="/api/projects/{id}/messages",status="200"}"#;
    assert_eq!(sample(&after, messages), Some(1.0), "{after}");
    assert!(after.contains(
        r#"mantel_http_request_duration_seconds_count{method="GET",route="/api/projects/{id}/messages"} 1"#
    ));
    assert!(sample(&after, "mantel_db_pool_max_connections").unwrap() >= 1.0);
    assert!(sample(&after, "mantel_db_pool_checkouts_total").unwrap() >= 1.0);
    assert!(sample(&after, "mantel_last_used_backlog").is_some());
    // No raw path, id, token or email in any label.
    for secret in [project, unknown, "limits@example.com", "127.0.0.1"] {
        assert!(!after.contains(secret), "{secret} in the metrics");
    }

    // The main address does not serve them.
    let res = app.get("/metrics").await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}
