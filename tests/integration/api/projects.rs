//! The API the tokens exist for (SPEC §6): the seed's publish flow, members and roles, files
//! byte for byte, messages, domains, invoices, and bad input.

use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{csrf_in, error_code, TestApp, User};

const ALL_SCOPES: [&str; 5] = ["publish", "messages", "files", "domain", "billing.read"];

#[actix_web::test]
async fn the_dashboard_form_creates_a_project_whose_page_shows_its_id() {
    let user = TestApp::spawn().await.with_user("form@example.com").await;
    let res = user
        .post_form(
            "/projects",
            &[("name", "Marketing site"), ("csrf_token", &user.csrf)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let page = user.get_html(&location).await;
    let marker = r#"id="project-id" type="text" readonly value=""#;
    let start = page.find(marker).expect("the project page shows the id") + marker.len();
    let projects: Vec<Value> = user.get("/api/projects").await.json().await.unwrap();
    assert_eq!(projects[0]["id"], &page[start..start + 36]);
}

/// Someone with a project and a token of these scopes: (them, the project id, the token).
async fn owner_with(email: &str, scopes: &[&str]) -> (User, String, String) {
    let user = TestApp::spawn().await.with_user(email).await;
    let project = user.with_project("Marketing site").await;
    let token = user.with_token("CI pipeline", scopes, "1y").await.plaintext;
    (user, project, token)
}

#[actix_web::test]
async fn the_seed_flow_publishes_with_a_bearer_token() {
    let (user, project, token) = owner_with("ci@example.com", &["publish"]).await;
    // curl -X POST /api/publish -H "Authorization: Bearer …" -d '{"projectId": …}'
    let res = user
        .bearer(Method::POST, "/api/publish", &token)
        .header("Content-Type", "application/json")
        .body(format!(r#"{{"projectId":"{project}"}}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let published: Value = res.json().await.unwrap();
    assert_eq!(published["projectId"], project.as_str());
    assert_eq!(published["status"], "published");
    assert!(published["id"].is_string() && published["createdAt"].is_string());

    let list: Vec<Value> = user
        .bearer_get(&format!("/api/projects/{project}/publishes"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], published["id"]);

    let projects: Vec<Value> = user
        .bearer_get("/api/projects", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(projects[0]["id"], project.as_str());
    assert_eq!(projects[0]["role"], "owner");
}

#[actix_web::test]
async fn a_token_without_the_scope_is_refused_even_though_its_owner_could() {
    let (user, project, token) = owner_with("ci@example.com", &["publish"]).await;
    let res = user
        .bearer(
            Method::POST,
            &format!("/api/projects/{project}/messages"),
            &token,
        )
        .json(&json!({ "body": "hi" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        res.headers()["www-authenticate"],
        r#"Bearer realm="mantel", error="insufficient_scope", scope="messages""#
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "insufficient_scope");
    assert_eq!(body["error"]["scope"], "messages");
}

/// A project's owner, and a member-to-be with a `publish` token.
async fn boss_and_member() -> (User, String, User, String) {
    let app = TestApp::spawn().await;
    let boss = app.with_user("boss@example.com").await;
    let project = boss.with_project("Team").await;
    let member = app.with_user("member@example.com").await;
    let token = member.with_token("CI", &["publish"], "1y").await.plaintext;
    (boss, project, member, token)
}

async fn publish(member: &User, token: &str, project: &str) -> reqwest::Response {
    member
        .bearer(Method::POST, "/api/publish", token)
        .json(&json!({ "projectId": project }))
        .send()
        .await
        .unwrap()
}

#[actix_web::test]
async fn a_role_change_holds_for_every_token_on_the_next_request() {
    let (boss, project, member, token) = boss_and_member().await;
    assert_eq!(
        publish(&member, &token, &project).await.status(),
        StatusCode::NOT_FOUND,
        "not a member yet"
    );
    boss.add_member(&project, "member@example.com", "editor")
        .await;
    assert_eq!(
        publish(&member, &token, &project).await.status(),
        StatusCode::CREATED
    );
    boss.add_member(&project, "member@example.com", "viewer")
        .await;
    let res = publish(&member, &token, &project).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "downgraded to viewer");
    assert_eq!(error_code(res).await, "forbidden");
    assert_eq!(
        member
            .bearer_get(&format!("/api/projects/{project}/publishes"), &token)
            .await
            .status(),
        StatusCode::OK
    );
}

#[actix_web::test]
async fn a_removed_member_loses_access_on_the_next_request() {
    let (boss, project, member, token) = boss_and_member().await;
    boss.add_member(&project, "member@example.com", "viewer")
        .await;
    let projects: Vec<Value> = boss.get("/api/projects").await.json().await.unwrap();
    assert_eq!(projects[0]["role"], "owner");
    let members_page = boss.get_html(&format!("/projects/{project}")).await;
    assert!(members_page.contains("member@example.com"));
    let member_id = member.id().await;
    let res = boss
        .session(
            Method::DELETE,
            &format!("/api/projects/{project}/members/{member_id}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        member
            .bearer_get(&format!("/api/projects/{project}/publishes"), &token)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}

#[actix_web::test]
async fn the_last_owner_can_neither_leave_nor_be_demoted() {
    let boss = TestApp::spawn().await.with_user("boss@example.com").await;
    let project = boss.with_project("Team").await;
    let owner_id = boss.id().await;
    let res = boss
        .session(
            Method::DELETE,
            &format!("/api/projects/{project}/members/{owner_id}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = boss
        .session(Method::POST, &format!("/api/projects/{project}/members"))
        .json(&json!({ "email": "boss@example.com", "role": "editor" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

/// Puts `body` as the file `name` of the project with a `files` token.
async fn put_file(
    user: &User,
    project: &str,
    token: &str,
    name: &str,
    body: reqwest::Body,
) -> reqwest::Response {
    user.bearer(
        Method::PUT,
        &format!("/api/projects/{project}/files/{name}"),
        token,
    )
    .body(body)
    .send()
    .await
    .unwrap()
}

#[actix_web::test]
async fn files_round_trip_byte_for_byte() {
    let (user, project, token) = owner_with("files@example.com", &["files"]).await;
    // Every byte value, a NUL-heavy stretch and invalid UTF-8.
    let mut data: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
    data.extend([0u8; 1000]);
    data.extend(b"\xff\xfe\x00tail");
    let res = user
        .bearer(
            Method::PUT,
            &format!("/api/projects/{project}/files/logo.bin"),
            &token,
        )
        .header("Content-Type", "image/png")
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let info: Value = res.json().await.unwrap();
    assert_eq!(info["size"], data.len());
    assert_eq!(info["contentType"], "image/png");

    let res = user
        .bearer_get(&format!("/api/projects/{project}/files/logo.bin"), &token)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "image/png");
    assert_eq!(
        res.bytes().await.unwrap().to_vec(),
        data,
        "byte-exact round trip"
    );
}

#[actix_web::test]
async fn uploads_over_10_mib_are_refused_and_not_stored() {
    let (user, project, token) = owner_with("files@example.com", &["files"]).await;
    let limit = 10 * 1024 * 1024;
    let res = put_file(
        &user,
        &project,
        &token,
        "big.bin",
        vec![7u8; limit + 1].into(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_code(res).await, "payload_too_large");
    // The same without a declared length (chunked): refused while streaming.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..11).map(|_| Ok(vec![1u8; 1024 * 1024])).collect();
    let stream = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let res = put_file(&user, &project, &token, "chunked.bin", stream).await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let res = put_file(
        &user,
        &project,
        &token,
        "exact.bin",
        vec![7u8; limit].into(),
    )
    .await;
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "exactly 10 MiB is allowed"
    );
    let list: Vec<Value> = user
        .bearer_get(&format!("/api/projects/{project}/files"), &token)
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = list.iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["exact.bin"], "the refused uploads were not stored");
}

#[actix_web::test]
async fn files_are_listed_with_their_details_and_deleted_once() {
    let (user, project, token) = owner_with("files@example.com", &["files"]).await;
    for name in ["logo.bin", "exact.bin"] {
        let res = put_file(&user, &project, &token, name, b"bytes".to_vec().into()).await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    let list: Vec<Value> = user
        .bearer_get(&format!("/api/projects/{project}/files"), &token)
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = list.iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["exact.bin", "logo.bin"], "listed by name");
    for f in &list {
        assert!(
            f["size"].is_number() && f["contentType"].is_string() && f["uploadedAt"].is_string()
        );
    }
    let path = format!("/api/projects/{project}/files/logo.bin");
    let delete = || user.bearer(Method::DELETE, &path, &token).send();
    assert_eq!(delete().await.unwrap().status(), StatusCode::NO_CONTENT);
    assert_eq!(
        user.bearer_get(&path, &token).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(delete().await.unwrap().status(), StatusCode::NOT_FOUND);
}

/// A bearer request with this raw JSON body.
async fn raw_json(
    user: &User,
    token: &str,
    method: Method,
    path: &str,
    body: &'static str,
) -> reqwest::Response {
    user.bearer(method, path, token)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
}

#[actix_web::test]
async fn a_bad_publish_request_gets_a_clear_error() {
    let (user, _, all) = owner_with("input@example.com", &ALL_SCOPES).await;
    let publish = |body| raw_json(&user, &all, Method::POST, "/api/publish", body);
    let res = publish("{\"projectId\": ").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(res).await, "bad_json");
    let res = publish("{}").await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let err: Value = res.json().await.unwrap();
    assert!(err["error"]["fields"]["projectId"].is_string(), "{err}");
    let res = publish(r#"{"projectId": "not-a-uuid"}"#).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = publish(r#"{"projectId": "3f1c1a52-3c1f-4a8e-9a7e-2b5f0f6d1c11"}"#).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND, "an unknown project");
    let res = publish(r#"{"projectId": 42}"#).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[actix_web::test]
async fn bad_messages_are_refused_and_the_rest_listed_newest_first() {
    let (user, project, all) = owner_with("input@example.com", &ALL_SCOPES).await;
    let messages = format!("/api/projects/{project}/messages");
    let post = |body: Value| {
        user.bearer(Method::POST, &messages, &all)
            .json(&body)
            .send()
    };
    let res = post(json!({ "body": "  " })).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // NUL (which PostgreSQL cannot store: a 500 before) and other control characters.
    for bad in ["before\u{0}after", "bell\u{7}"] {
        let res = post(json!({ "body": bad })).await.unwrap();
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad:?}");
    }
    let res = post(json!({ "body": "x".repeat(70 * 1024) }))
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::PAYLOAD_TOO_LARGE,
        "JSON bodies are capped at 64 KiB"
    );
    let list = || async {
        user.bearer_get(&messages, &all)
            .await
            .json::<Vec<Value>>()
            .await
            .unwrap()
    };
    assert_eq!(list().await.len(), 0);
    for (body, text) in [("first\n\tline", "first\n\tline"), ("second", "second")] {
        let res = post(json!({ "body": body })).await.unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        assert_eq!(res.json::<Value>().await.unwrap()["body"], text);
        user.clock.advance(chrono::Duration::seconds(1));
    }
    assert_eq!(list().await[0]["body"], "second", "newest first");
}

/// Many writers at once (issue 16): on SQLite they wait their turn for the one writer
/// connection rather than in SQLite's lock, so none is refused ("database is locked" was a
/// 500) and none is lost, whatever route they write through.
#[actix_web::test]
async fn many_concurrent_writers_all_get_their_write() {
    let (user, project, all) = owner_with("writers@example.com", &ALL_SCOPES).await;
    let messages = format!("/api/projects/{project}/messages");
    let posts = (0..32).map(|i| {
        user.bearer(Method::POST, &messages, &all)
            .json(&json!({ "body": format!("message {i}") }))
            .send()
    });
    let puts = (0..8).map(|i| {
        user.bearer(
            Method::PUT,
            &format!("/api/projects/{project}/files/note-{i}.txt"),
            &all,
        )
        .body(format!("file {i}"))
        .send()
    });
    let (posted, put) = futures_util::future::join(join_all(posts), join_all(puts)).await;
    for res in posted.into_iter().chain(put) {
        let res = res.unwrap();
        let status = res.status();
        assert_eq!(status, StatusCode::CREATED, "{}", res.text().await.unwrap());
    }

    let listed: Vec<Value> = user
        .bearer_get(&format!("{messages}?limit=100"), &all)
        .await
        .json()
        .await
        .unwrap();
    let mut bodies: Vec<String> = listed
        .iter()
        .map(|m| m["body"].as_str().unwrap().to_owned())
        .collect();
    bodies.sort();
    let mut expected: Vec<String> = (0..32).map(|i| format!("message {i}")).collect();
    expected.sort();
    assert_eq!(bodies, expected);
    let files: Vec<Value> = user
        .bearer_get(&format!("/api/projects/{project}/files"), &all)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(files.len(), 8);
}

#[actix_web::test]
async fn a_domain_must_be_a_host_name_and_is_kept_in_lower_case() {
    let (user, project, all) = owner_with("input@example.com", &ALL_SCOPES).await;
    let domain = format!("/api/projects/{project}/domain");
    let put = |host: &str| {
        user.bearer(Method::PUT, &domain, &all)
            .json(&json!({ "domain": host }))
            .send()
    };
    let get = || async {
        user.bearer_get(&domain, &all)
            .await
            .json::<Value>()
            .await
            .unwrap()
    };
    for bad in ["not a host", "localhost", "-x.com", "http://x.com"] {
        let res = put(bad).await.unwrap();
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert_eq!(error_code(res).await, "validation_failed");
    }
    assert_eq!(get().await, json!({ "domain": null }));
    assert_eq!(
        put("WWW.Example.com").await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(get().await, json!({ "domain": "www.example.com" }));
}

#[actix_web::test]
async fn unknown_paths_and_projects_are_not_found() {
    let (user, _, all) = owner_with("input@example.com", &ALL_SCOPES).await;
    for path in [
        "/api/projects/nope/messages",
        "/api/projects/3f1c1a52-3c1f-4a8e-9a7e-2b5f0f6d1c11/files",
        "/api/nothing/here",
    ] {
        let res = user.bearer_get(path, &all).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(error_code(res).await, "not_found");
    }
}

#[actix_web::test]
async fn bad_project_names_and_members_are_refused() {
    let user = TestApp::spawn().await.with_user("input@example.com").await;
    let project = user.with_project("Input").await;
    let res = user
        .session(Method::POST, "/api/projects")
        .json(&json!({ "name": "" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let members = format!("/api/projects/{project}/members");
    let add = |email: &str, role: &str| {
        user.session(Method::POST, &members)
            .json(&json!({ "email": email, "role": role }))
            .send()
    };
    let res = add("nobody@example.com", "editor").await.unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "not a user");
    let res = add("input@example.com", "admin").await.unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "not a role");
}

fn add_invoice(app: &TestApp, email: &str, cents: &str, period: &str) -> std::process::Output {
    app.cli(&[
        "invoice",
        "add",
        "--email",
        email,
        "--amount-cents",
        cents,
        "--period",
        period,
    ])
}

#[actix_web::test]
async fn without_invoices_the_latest_is_not_found() {
    let user = TestApp::spawn()
        .await
        .with_user("billing@example.com")
        .await;
    let token = user
        .with_token("ops", &["billing.read"], "1y")
        .await
        .plaintext;
    let res = user
        .bearer_get("/api/billing/invoices/latest", &token)
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND, "no invoice yet");
    assert_eq!(error_code(res).await, "not_found");
    assert_eq!(
        user.bearer_get("/api/billing/invoices", &token)
            .await
            .json::<Vec<Value>>()
            .await
            .unwrap(),
        Vec::<Value>::new()
    );
    let out = add_invoice(&user, "billing@example.com", "1", "2026-13");
    assert!(!out.status.success(), "a bad period is refused");
}

#[actix_web::test]
async fn invoices_are_the_callers_own_newest_first() {
    let app = TestApp::spawn().await;
    let user = app.with_user("billing@example.com").await;
    let token = user
        .with_token("ops", &["billing.read"], "1y")
        .await
        .plaintext;
    for (period, cents) in [("2026-09", "1000"), ("2026-10", "2500")] {
        let out = add_invoice(&app, "billing@example.com", cents, period);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        app.clock.advance(chrono::Duration::seconds(1));
    }
    app.with_user("someone-else@example.com").await;
    let out = add_invoice(&app, "someone-else@example.com", "99999", "2026-11");
    assert!(out.status.success());

    let list: Vec<Value> = user
        .bearer_get("/api/billing/invoices", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list.len(), 2, "only the caller's own invoices");
    assert_eq!(list[0]["period"], "2026-10");
    assert_eq!(list[0]["amountCents"], 2500);
    let latest: Value = user
        .bearer_get("/api/billing/invoices/latest", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(latest, list[0]);
    let page = user.get_html("/settings/tokens").await;
    assert!(!csrf_in(&page).is_empty());
}

/// The JSON API and the forms are two doors to the same operations (`ops::projects`): the same
/// bad member or policy is refused by both with 422 and the same words about the same field,
/// and neither changes anything.
#[actix_web::test]
async fn a_bad_member_or_policy_gets_the_same_answer_from_the_form_and_the_api() {
    let app = TestApp::spawn().await;
    let owner = app.with_user("doors@example.com").await;
    let project = owner.with_project("Doors").await;

    let members = format!("/api/projects/{project}/members");
    for (email, role, field) in [
        ("nobody@example.com", "editor", "email"),
        ("doors@example.com", "admin", "role"),
    ] {
        let res = owner
            .session(Method::POST, &members)
            .json(&json!({ "email": email, "role": role }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body: Value = res.json().await.unwrap();
        let message = body["error"]["fields"][field].as_str().unwrap().to_owned();

        let res = owner
            .post_form(
                &format!("/projects/{project}/members"),
                &[
                    ("email", email),
                    ("role", role),
                    ("csrf_token", &owner.csrf),
                ],
            )
            .await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{field}");
        let html = res.text().await.unwrap();
        assert!(html.contains(&message), "{message} not in {html}");
    }
    let page = owner.get_html(&format!("/projects/{project}")).await;
    assert!(!page.contains("nobody@example.com"));

    let res = owner
        .session(
            Method::PUT,
            &format!("/api/projects/{project}/token-policy"),
        )
        .json(&json!({ "maxLifetimeDays": 400 }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = res.json().await.unwrap();
    let message = body["error"]["fields"]["maxLifetimeDays"]
        .as_str()
        .unwrap()
        .to_owned();
    let settings = format!("/projects/{project}/settings");
    let res = owner
        .post_form(
            &settings,
            &[("max_lifetime_days", "400"), ("csrf_token", &owner.csrf)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(html.contains(&message), "{message} not in {html}");
    // Nothing was set: the form still shows no limit.
    assert!(!owner.get_html(&settings).await.contains("value=\"400\""));
}
