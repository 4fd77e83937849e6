//! Every list pages (SPEC §8.6): `?limit=`, an opaque `?cursor=`, `Link: <…>; rel="next"`
//! while more remain, and an order that holds while rows are inserted.

use std::collections::HashSet;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{error_code, TestApp};

/// The URL of `rel="next"`, if the answer has one.
fn next_link(res: &reqwest::Response) -> Option<String> {
    let link = res.headers().get("link")?.to_str().unwrap();
    let (url, rel) = link.split_once(';').unwrap();
    assert_eq!(rel.trim(), "rel=\"next\"", "{link}");
    Some(
        url.trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .to_owned(),
    )
}

async fn post_message(app: &TestApp, csrf: &str, project: &str, body: &str) -> String {
    let res = app
        .session_request(
            Method::POST,
            &format!("/api/projects/{project}/messages"),
            csrf,
        )
        .json(&json!({ "body": body }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[actix_web::test]
async fn a_list_of_250_is_walked_whole_while_rows_are_inserted() {
    let app = TestApp::spawn().await.with_user("pager@example.com").await;
    let csrf = app.csrf.clone();
    let project = app.with_project("Paged").await;
    let mut before = HashSet::new();
    for i in 0..250 {
        before.insert(post_message(&app, &csrf, &project, &format!("message {i}")).await);
    }

    let mut url = app.url(&format!("/api/projects/{project}/messages?limit=100"));
    let (mut seen, mut pages) = (Vec::new(), 0);
    loop {
        let res = app.client.get(&url).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let next = next_link(&res);
        let items: Vec<Value> = res.json().await.unwrap();
        assert!(items.len() <= 100);
        seen.extend(items.iter().map(|m| m["id"].as_str().unwrap().to_owned()));
        pages += 1;
        // Someone keeps posting while the list is read: newest first, they land before the
        // cursor and change nothing of the pages still to come.
        for i in 0..3 {
            post_message(&app, &csrf, &project, &format!("late {pages}.{i}")).await;
        }
        match next {
            Some(next) => url = next,
            None => break,
        }
    }
    assert_eq!(pages, 3, "100 + 100 + 50");
    let unique: HashSet<_> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "no row twice");
    assert_eq!(
        unique, before,
        "every row once, and only those that were there"
    );
}

#[actix_web::test]
async fn lists_default_to_50_and_refuse_a_bad_limit_or_cursor() {
    let app = TestApp::spawn().await.with_user("limits@example.com").await;
    let csrf = app.csrf.clone();
    let project = app.with_project("Limits").await;
    for i in 0..51 {
        post_message(&app, &csrf, &project, &format!("m{i}")).await;
    }
    let path = format!("/api/projects/{project}/messages");
    let res = app.get(&path).await;
    let next = next_link(&res).expect("a next page");
    assert!(next.starts_with(&app.url(&path)), "{next}");
    assert_eq!(res.json::<Vec<Value>>().await.unwrap().len(), 50);
    let last = app.client.get(&next).send().await.unwrap();
    assert!(next_link(&last).is_none(), "the last page links nowhere");
    assert_eq!(last.json::<Vec<Value>>().await.unwrap().len(), 1);

    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=ten", "limit"),
        // A sign is no part of an integer the document allows (`+` itself reads as a space).
        ("limit=%2B5", "limit"),
        ("limit=+5", "limit"),
        ("cursor=zz", "cursor"),
    ] {
        let res = app.get(&format!("{path}?{query}")).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "validation_failed");
        assert!(body["error"]["fields"][field].is_string(), "{body}");
    }
    let res = app.get("/api/tokens?limit=0").await;
    assert_eq!(error_code(res).await, "validation_failed");
}

/// The access decision comes before the page: a token without a list's scope is told 403
/// whatever `limit` it sent, and a caller that is not a member 404; only one allowed to read
/// the list learns that its `limit` is wrong.
#[actix_web::test]
async fn a_bad_limit_is_judged_only_for_a_caller_allowed_to_read_the_list() {
    let app = TestApp::spawn().await;
    let owner = app.with_user("owner@example.com").await;
    let project = owner.with_project("Paged").await;
    let stranger = app.with_user("stranger@example.com").await;
    let narrow = owner.with_token("narrow", &["publish"], "1y").await;
    let wide = owner
        .with_token("wide", &["messages", "billing.read", "files"], "1y")
        .await;
    let outsider = stranger.with_token("outsider", &["messages"], "1y").await;
    let cases = [
        (
            &narrow,
            format!("/api/projects/{project}/messages"),
            StatusCode::FORBIDDEN,
        ),
        (
            &narrow,
            format!("/api/projects/{project}/files"),
            StatusCode::FORBIDDEN,
        ),
        (
            &narrow,
            "/api/billing/invoices".to_owned(),
            StatusCode::FORBIDDEN,
        ),
        (
            &outsider,
            format!("/api/projects/{project}/messages"),
            StatusCode::NOT_FOUND,
        ),
        (
            &wide,
            format!("/api/projects/{project}/messages"),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            &wide,
            format!("/api/projects/{project}/files"),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            &wide,
            "/api/billing/invoices".to_owned(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ];
    for (token, path, status) in cases {
        let res = app
            .bearer_get(&format!("{path}?limit=ten"), &token.plaintext)
            .await;
        assert_eq!(
            res.status(),
            status,
            "{path} with the token {}",
            token.created["name"]
        );
    }
    // The publishes of a project: the `publish` scope reads them.
    let res = app
        .bearer_get(
            &format!("/api/projects/{project}/publishes?limit=ten"),
            &narrow.plaintext,
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = app
        .bearer_get(
            &format!("/api/projects/{project}/publishes?limit=ten"),
            &wide.plaintext,
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

#[actix_web::test]
async fn tokens_projects_and_files_page_too() {
    let app = TestApp::spawn().await.with_user("many@example.com").await;
    let csrf = app.csrf.clone();
    for i in 0..5 {
        app.create_token(&format!("t{i}"), &["files"], "1y").await;
    }
    let project = app.with_project("Files").await;
    app.with_project("Second").await;
    for name in ["a.txt", "b.txt", "c.txt"] {
        let res = app
            .session_request(
                Method::PUT,
                &format!("/api/projects/{project}/files/{name}"),
                &csrf,
            )
            .body("x")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    for (path, limit, total, key) in [
        ("/api/tokens".to_owned(), 2, 5, "name"),
        ("/api/projects".to_owned(), 1, 2, "name"),
        (format!("/api/projects/{project}/files"), 2, 3, "name"),
    ] {
        let mut url = app.url(&format!("{path}?limit={limit}"));
        let mut names = Vec::new();
        loop {
            let res = app.client.get(&url).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::OK, "{url}");
            let next = next_link(&res);
            let items: Vec<Value> = res.json().await.unwrap();
            assert!(items.len() <= limit, "{url}");
            names.extend(items.iter().map(|i| i[key].as_str().unwrap().to_owned()));
            match next {
                Some(next) => url = next,
                None => break,
            }
        }
        assert_eq!(names.len(), total, "{path}: {names:?}");
        assert_eq!(
            names.iter().collect::<HashSet<_>>().len(),
            total,
            "{path}: {names:?}"
        );
    }
}

#[actix_web::test]
async fn the_tokens_screen_keeps_revoked_tokens_in_an_inactive_section() {
    let app = TestApp::spawn().await.with_user("tidy@example.com").await;
    let csrf = app.csrf.clone();
    let keep = app.create_token("still in use", &["publish"], "1y").await;
    for i in 0..12 {
        let id = app
            .create_token(&format!("old {i:02}"), &["publish"], "1y")
            .await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let res = app
            .session_request(Method::DELETE, &format!("/api/tokens/{id}"), &csrf)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
    }
    let page = app.get_html("/settings/tokens").await;
    let (active, inactive) = page
        .split_once("id=\"inactive-title\"")
        .expect("an Inactive section");
    assert!(active.contains(keep["id"].as_str().unwrap()));
    assert!(
        !active.contains("old 11"),
        "revoked tokens are not in the main list"
    );
    // The newest ten inactive tokens, then a link to the rest.
    assert!(inactive.contains("old 11") && inactive.contains("old 02"));
    assert!(!inactive.contains("old 01"));
    let marker = "href=\"/settings/tokens/inactive?cursor=";
    let start = inactive
        .find(marker)
        .expect("a link to older inactive tokens")
        + "href=\"".len();
    let link = &inactive[start..start + inactive[start..].find('"').unwrap()];
    let older = app.get_html(link).await;
    assert!(older.contains("old 01") && older.contains("old 00"));
    assert!(
        !older.contains("old 02"),
        "the next page starts after the last one shown"
    );
}

/// A cursor as the server writes one (`domain::Cursor::encode`): hex of `micros|key`.
fn cursor(micros: &str, key: &str) -> String {
    hex::encode(format!("{micros}|{key}"))
}

/// A cursor is opaque, but a client can still forge one: a time before any database's first
/// year (PostgreSQL refused it with an error: 500 on its lists) or after SQLite's last: more
/// digits than the cursor's pattern allows. Every list, JSON or page, answers 422 and nothing
/// else.
#[actix_web::test]
async fn a_forged_cursor_is_refused_on_every_list() {
    let app = TestApp::spawn().await.with_user("forger@example.com").await;
    let project = app.with_project("Forged").await;
    let token = app.with_token("forged", &["publish"], "1y").await;
    let micros = |year: i32| {
        chrono::NaiveDate::from_ymd_opt(year, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp_micros()
            .to_string()
    };
    let id = "00000000-0000-0000-0000-000000000000";
    let forged = [
        cursor(&micros(-200_000), id),
        cursor(&micros(-4714), id),
        cursor(&micros(0), id),
        cursor(&micros(10_000), id),
        cursor(&micros(200_000), "1"),
    ];
    let json_lists = [
        "/api/tokens".to_owned(),
        format!("/api/tokens/{}/activity", token.id),
        "/api/projects".to_owned(),
        format!("/api/projects/{project}/publishes"),
        format!("/api/projects/{project}/messages"),
        format!("/api/projects/{project}/files"),
        "/api/billing/invoices".to_owned(),
        "/api/security-log".to_owned(),
    ];
    let pages = [
        "/settings/tokens/inactive".to_owned(),
        format!("/settings/tokens/{}", token.id),
        "/projects".to_owned(),
        "/settings/notifications".to_owned(),
        "/settings/security-log".to_owned(),
    ];
    for cursor in &forged {
        for path in &json_lists {
            let res = app.get(&format!("{path}?cursor={cursor}")).await;
            assert_eq!(
                res.status(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "{path} {cursor}"
            );
            let body: Value = res.json().await.unwrap();
            assert_eq!(body["error"]["code"], "validation_failed", "{path}");
            assert!(body["error"]["fields"]["cursor"].is_string(), "{body}");
        }
        for path in &pages {
            let res = app.get(&format!("{path}?cursor={cursor}")).await;
            assert_eq!(
                res.status(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "{path} {cursor}"
            );
        }
    }
    // The first and last instants a cursor may name (16 digits of microseconds either side of
    // 1970, as the document's pattern says) still page, to an empty page on both databases.
    for edge in [
        cursor("-9999999999999999", id),
        cursor("9999999999999999", id),
    ] {
        for path in &json_lists {
            let res = app.get(&format!("{path}?cursor={edge}")).await;
            assert_eq!(res.status(), StatusCode::OK, "{path} {edge}");
        }
    }
}
