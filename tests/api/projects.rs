//! The API the tokens exist for (SPEC §6): every endpoint × every kind of caller, the seed's
//! publish flow, files byte for byte, and bad input.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{csrf_in, error_code, spawn_app, TestApp};

const ALL_SCOPES: [&str; 5] = ["publish", "messages", "files", "domain", "billing.read"];

/// Creates a project through the dashboard and reads its id off the project page.
pub async fn create_project(app: &TestApp, csrf: &str, name: &str) -> String {
    let res = app
        .post_form("/projects", &[("name", name), ("csrf_token", csrf)])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let page = app.get_html(&location).await;
    let marker = r#"id="project-id" type="text" readonly value=""#;
    let start = page.find(marker).expect("the project page shows the id") + marker.len();
    page[start..start + 36].to_owned()
}

async fn add_member(app: &TestApp, csrf: &str, project: &str, email: &str, role: &str) {
    let res = app
        .session_request(
            Method::POST,
            &format!("/api/projects/{project}/members"),
            csrf,
        )
        .json(&json!({ "email": email, "role": role }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED, "add {email} as {role}");
}

#[actix_web::test]
async fn the_seed_flow_publishes_with_a_bearer_token() {
    let app = spawn_app().await;
    let csrf = app.signup("ci@example.com").await;
    let project = create_project(&app, &csrf, "Marketing site").await;
    let token = app
        .create_token(&csrf, "CI pipeline", &["publish"], "1y")
        .await["token"]
        .as_str()
        .unwrap()
        .to_owned();

    // curl -X POST /api/publish -H "Authorization: Bearer …" -d '{"projectId": …}'
    let res = app
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

    let list: Vec<Value> = app
        .bearer_get(&format!("/api/projects/{project}/publishes"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], published["id"]);

    let projects: Vec<Value> = app
        .bearer_get("/api/projects", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(projects[0]["id"], project.as_str());
    assert_eq!(projects[0]["role"], "owner");
    // The token lacks `messages`: the matching endpoint refuses it even though the owner could.
    let res = app
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

/// One endpoint of SPEC §6, with what it needs.
struct Endpoint {
    method: Method,
    path: &'static str,
    body: Option<Value>,
    raw: Option<&'static [u8]>,
    /// None: any credential.
    scope: Option<&'static str>,
    /// 0: no project involved; 1 viewer, 2 editor, 3 owner.
    min_role: u8,
    session_only: bool,
    ok: StatusCode,
}

fn endpoints() -> Vec<Endpoint> {
    let e = |method: Method, path, scope, min_role, ok| Endpoint {
        method,
        path,
        body: None,
        raw: None,
        scope,
        min_role,
        session_only: false,
        ok,
    };
    vec![
        e(Method::GET, "/api/projects", None, 0, StatusCode::OK),
        Endpoint {
            body: Some(json!({ "name": "Another" })),
            session_only: true,
            ..e(Method::POST, "/api/projects", None, 0, StatusCode::CREATED)
        },
        Endpoint {
            body: Some(json!({ "email": "extra@example.com", "role": "viewer" })),
            session_only: true,
            ..e(
                Method::POST,
                "/api/projects/{P}/members",
                None,
                3,
                StatusCode::CREATED,
            )
        },
        Endpoint {
            body: Some(json!({ "projectId": "{P}" })),
            ..e(
                Method::POST,
                "/api/publish",
                Some("publish"),
                2,
                StatusCode::CREATED,
            )
        },
        e(
            Method::GET,
            "/api/projects/{P}/publishes",
            Some("publish"),
            1,
            StatusCode::OK,
        ),
        Endpoint {
            body: Some(json!({ "body": "Deployed from Slack" })),
            ..e(
                Method::POST,
                "/api/projects/{P}/messages",
                Some("messages"),
                2,
                StatusCode::CREATED,
            )
        },
        e(
            Method::GET,
            "/api/projects/{P}/messages",
            Some("messages"),
            1,
            StatusCode::OK,
        ),
        Endpoint {
            raw: Some(b"hello"),
            ..e(
                Method::PUT,
                "/api/projects/{P}/files/upload.txt",
                Some("files"),
                2,
                StatusCode::CREATED,
            )
        },
        e(
            Method::GET,
            "/api/projects/{P}/files",
            Some("files"),
            1,
            StatusCode::OK,
        ),
        e(
            Method::GET,
            "/api/projects/{P}/files/seed.txt",
            Some("files"),
            1,
            StatusCode::OK,
        ),
        e(
            Method::DELETE,
            "/api/projects/{P}/files/doomed.txt",
            Some("files"),
            2,
            StatusCode::NO_CONTENT,
        ),
        e(
            Method::GET,
            "/api/projects/{P}/domain",
            Some("domain"),
            1,
            StatusCode::OK,
        ),
        Endpoint {
            body: Some(json!({ "domain": "www.example.com" })),
            ..e(
                Method::PUT,
                "/api/projects/{P}/domain",
                Some("domain"),
                3,
                StatusCode::OK,
            )
        },
        e(
            Method::DELETE,
            "/api/projects/{P}/domain",
            Some("domain"),
            3,
            StatusCode::NO_CONTENT,
        ),
        e(
            Method::GET,
            "/api/billing/invoices",
            Some("billing.read"),
            0,
            StatusCode::OK,
        ),
        e(
            Method::GET,
            "/api/billing/invoices/latest",
            Some("billing.read"),
            0,
            StatusCode::OK,
        ),
    ]
}

/// A person in the matrix: their browser (logged in) and their tokens.
struct Person {
    app: TestApp,
    csrf: String,
    /// 0 non-member, 1 viewer, 2 editor, 3 owner.
    role: u8,
    /// scope → a token with exactly that scope.
    tokens: std::collections::HashMap<&'static str, String>,
    /// scope → a token with every scope but that one (owner only).
    all_but: std::collections::HashMap<&'static str, String>,
}

impl Person {
    async fn new(app: &TestApp, email: &str, role: u8, all_but: bool) -> Person {
        let app = app.new_browser();
        let csrf = app.signup(email).await;
        let mut tokens = std::collections::HashMap::new();
        let mut others = std::collections::HashMap::new();
        for scope in ALL_SCOPES {
            tokens.insert(
                scope,
                app.create_token(&csrf, scope, &[scope], "1y").await["token"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
            if all_but {
                let rest: Vec<&str> = ALL_SCOPES.into_iter().filter(|s| *s != scope).collect();
                let t = app
                    .create_token(&csrf, &format!("all but {scope}"), &rest, "1y")
                    .await;
                others.insert(scope, t["token"].as_str().unwrap().to_owned());
            }
        }
        let out = app.cli(&[
            "invoice",
            "add",
            "--email",
            email,
            "--amount-cents",
            "4200",
            "--period",
            "2026-10",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Person {
            app,
            csrf,
            role,
            tokens,
            all_but: others,
        }
    }
}

enum Credential<'a> {
    Token(&'a str),
    Session,
    SessionWithoutCsrf,
}

fn is_unsafe(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD)
}

/// What SPEC §5–§6 promise for this endpoint, person and credential.
fn expected(
    ep: &Endpoint,
    person: &Person,
    credential: &Credential,
    token_scopes: &[&str],
) -> (StatusCode, Option<&'static str>) {
    match credential {
        Credential::Token(_) if ep.session_only => {
            return (StatusCode::FORBIDDEN, Some("session_required"))
        }
        Credential::Token(_) if ep.scope.is_some_and(|s| !token_scopes.contains(&s)) => {
            return (StatusCode::FORBIDDEN, Some("insufficient_scope"))
        }
        Credential::SessionWithoutCsrf if is_unsafe(&ep.method) => {
            return (StatusCode::FORBIDDEN, Some("csrf_failed"))
        }
        _ => {}
    }
    if ep.min_role > 0 && person.role == 0 {
        return (StatusCode::NOT_FOUND, Some("not_found"));
    }
    if person.role < ep.min_role {
        return (StatusCode::FORBIDDEN, Some("forbidden"));
    }
    (ep.ok, None)
}

async fn call(
    ep: &Endpoint,
    person: &Person,
    project: &str,
    credential: &Credential<'_>,
) -> reqwest::Response {
    let path = ep.path.replace("{P}", project);
    let mut req = match credential {
        Credential::Token(t) => person.app.bearer(ep.method.clone(), &path, t),
        Credential::Session => person
            .app
            .session_request(ep.method.clone(), &path, &person.csrf),
        Credential::SessionWithoutCsrf => person
            .app
            .client
            .request(ep.method.clone(), person.app.url(&path)),
    };
    if let Some(body) = &ep.body {
        req = req.json(
            &serde_json::from_str::<Value>(&body.to_string().replace("{P}", project)).unwrap(),
        );
    }
    if let Some(raw) = ep.raw {
        req = req.header("Content-Type", "text/plain").body(raw.to_vec());
    }
    req.send().await.unwrap()
}

#[actix_web::test]
async fn every_endpoint_against_every_kind_of_caller() {
    let app = spawn_app().await;
    let owner = Person::new(&app, "owner@example.com", 3, true).await;
    let project = create_project(&owner.app, &owner.csrf, "Matrix").await;
    let editor = Person::new(&app, "editor@example.com", 2, false).await;
    let viewer = Person::new(&app, "viewer@example.com", 1, false).await;
    let stranger = Person::new(&app, "stranger@example.com", 0, false).await;
    let _extra = app.new_browser().signup("extra@example.com").await;
    add_member(
        &owner.app,
        &owner.csrf,
        &project,
        "editor@example.com",
        "editor",
    )
    .await;
    add_member(
        &owner.app,
        &owner.csrf,
        &project,
        "viewer@example.com",
        "viewer",
    )
    .await;
    let seed = owner
        .app
        .session_request(
            Method::PUT,
            &format!("/api/projects/{project}/files/seed.txt"),
            &owner.csrf,
        )
        .body("seed")
        .send()
        .await
        .unwrap();
    assert_eq!(seed.status(), StatusCode::CREATED);

    let mut checked = 0;
    for ep in endpoints() {
        let scope = ep.scope.unwrap_or("publish");
        let mut cases: Vec<(&str, &Person, Credential, Vec<&str>)> = vec![
            (
                "right scope",
                &owner,
                Credential::Token(&owner.tokens[scope]),
                vec![scope],
            ),
            (
                "wrong scope",
                &owner,
                Credential::Token(&owner.all_but[scope]),
                ALL_SCOPES.into_iter().filter(|s| *s != scope).collect(),
            ),
            ("session", &owner, Credential::Session, vec![]),
            (
                "session without CSRF header",
                &owner,
                Credential::SessionWithoutCsrf,
                vec![],
            ),
        ];
        for (label, person) in [
            ("viewer", &viewer),
            ("editor", &editor),
            ("owner", &owner),
            ("non-member", &stranger),
        ] {
            // Session-only endpoints are reached with each person's session, the rest with their token.
            let credential = if ep.session_only {
                Credential::Session
            } else {
                Credential::Token(&person.tokens[scope])
            };
            cases.push((label, person, credential, vec![scope]));
        }
        for (label, person, credential, scopes) in cases {
            if ep.path.ends_with("doomed.txt") {
                let put = owner
                    .app
                    .session_request(
                        Method::PUT,
                        &format!("/api/projects/{project}/files/doomed.txt"),
                        &owner.csrf,
                    )
                    .body("doomed")
                    .send()
                    .await
                    .unwrap();
                assert_eq!(put.status(), StatusCode::CREATED);
            }
            let (status, code) = expected(&ep, person, &credential, &scopes);
            let res = call(&ep, person, &project, &credential).await;
            assert_eq!(res.status(), status, "{} {} as {label}", ep.method, ep.path);
            if let Some(code) = code {
                assert_eq!(
                    error_code(res).await,
                    code,
                    "{} {} as {label}",
                    ep.method,
                    ep.path
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 16 * 8);
}

#[actix_web::test]
async fn losing_a_role_takes_the_access_from_every_token_on_the_next_request() {
    let app = spawn_app().await;
    let owner_csrf = app.signup("boss@example.com").await;
    let project = create_project(&app, &owner_csrf, "Team").await;
    let member = app.new_browser();
    let member_csrf = member.signup("member@example.com").await;
    let token = member
        .create_token(&member_csrf, "CI", &["publish"], "1y")
        .await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let publish = || {
        member
            .bearer(Method::POST, "/api/publish", &token)
            .json(&json!({ "projectId": project }))
            .send()
    };
    assert_eq!(
        publish().await.unwrap().status(),
        StatusCode::NOT_FOUND,
        "not a member yet"
    );
    add_member(&app, &owner_csrf, &project, "member@example.com", "editor").await;
    assert_eq!(publish().await.unwrap().status(), StatusCode::CREATED);
    add_member(&app, &owner_csrf, &project, "member@example.com", "viewer").await;
    let res = publish().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "downgraded to viewer");
    assert_eq!(error_code(res).await, "forbidden");
    assert_eq!(
        member
            .bearer_get(&format!("/api/projects/{project}/publishes"), &token)
            .await
            .status(),
        StatusCode::OK
    );

    let projects: Vec<Value> = app.get("/api/projects").await.json().await.unwrap();
    assert_eq!(projects[0]["role"], "owner");
    let members_page = app.get_html(&format!("/projects/{project}")).await;
    assert!(members_page.contains("member@example.com"));
    let member_id = member.get("/api/me").await.json::<Value>().await.unwrap()["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app
        .session_request(
            Method::DELETE,
            &format!("/api/projects/{project}/members/{member_id}"),
            &owner_csrf,
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

    // The last owner can neither leave nor be demoted.
    let owner_id = app.get("/api/me").await.json::<Value>().await.unwrap()["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app
        .session_request(
            Method::DELETE,
            &format!("/api/projects/{project}/members/{owner_id}"),
            &owner_csrf,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = app
        .session_request(
            Method::POST,
            &format!("/api/projects/{project}/members"),
            &owner_csrf,
        )
        .json(&json!({ "email": "boss@example.com", "role": "editor" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[actix_web::test]
async fn files_round_trip_byte_for_byte_and_oversize_uploads_are_refused() {
    let app = spawn_app().await;
    let csrf = app.signup("files@example.com").await;
    let project = create_project(&app, &csrf, "Files").await;
    let token = app.create_token(&csrf, "files", &["files"], "1y").await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = |name: &str| format!("/api/projects/{project}/files/{name}");

    // Every byte value, a NUL-heavy stretch and invalid UTF-8.
    let mut data: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
    data.extend([0u8; 1000]);
    data.extend(b"\xff\xfe\x00tail");
    let res = app
        .bearer(Method::PUT, &path("logo.bin"), &token)
        .header("Content-Type", "image/png")
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let info: Value = res.json().await.unwrap();
    assert_eq!(info["size"], data.len());
    assert_eq!(info["contentType"], "image/png");

    let res = app.bearer_get(&path("logo.bin"), &token).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "image/png");
    assert_eq!(
        res.bytes().await.unwrap().to_vec(),
        data,
        "byte-exact round trip"
    );

    let limit = 10 * 1024 * 1024;
    let res = app
        .bearer(Method::PUT, &path("big.bin"), &token)
        .body(vec![7u8; limit + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_code(res).await, "payload_too_large");
    // The same without a declared length (chunked): refused while streaming.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..11).map(|_| Ok(vec![1u8; 1024 * 1024])).collect();
    let stream = futures_util::stream::iter(chunks);
    let res = app
        .bearer(Method::PUT, &path("chunked.bin"), &token)
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let res = app
        .bearer(Method::PUT, &path("exact.bin"), &token)
        .body(vec![7u8; limit])
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "exactly 10 MiB is allowed"
    );

    let list: Vec<Value> = app
        .bearer_get(&format!("/api/projects/{project}/files"), &token)
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = list.iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["exact.bin", "logo.bin"],
        "the refused uploads were not stored"
    );
    for f in &list {
        assert!(
            f["size"].is_number() && f["contentType"].is_string() && f["uploadedAt"].is_string()
        );
    }

    assert_eq!(
        app.bearer(Method::DELETE, &path("logo.bin"), &token)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.bearer_get(&path("logo.bin"), &token).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.bearer(Method::DELETE, &path("logo.bin"), &token)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
}

#[actix_web::test]
async fn bad_input_gets_a_clear_error_and_changes_nothing() {
    let app = spawn_app().await;
    let csrf = app.signup("input@example.com").await;
    let project = create_project(&app, &csrf, "Input").await;
    let all = app.create_token(&csrf, "all", &ALL_SCOPES, "1y").await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let raw = |method: Method, path: &str, body: &'static str| {
        app.bearer(method, path, &all)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
    };

    let res = raw(Method::POST, "/api/publish", "{\"projectId\": ")
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(res).await, "bad_json");
    let res = raw(Method::POST, "/api/publish", "{}").await.unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let err: Value = res.json().await.unwrap();
    assert!(err["error"]["fields"]["projectId"].is_string(), "{err}");
    let res = raw(
        Method::POST,
        "/api/publish",
        r#"{"projectId": "not-a-uuid"}"#,
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = raw(
        Method::POST,
        "/api/publish",
        r#"{"projectId": "3f1c1a52-3c1f-4a8e-9a7e-2b5f0f6d1c11"}"#,
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND, "an unknown project");
    let res = raw(Method::POST, "/api/publish", r#"{"projectId": 42}"#)
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let messages = format!("/api/projects/{project}/messages");
    let res = app
        .bearer(Method::POST, &messages, &all)
        .json(&json!({ "body": "  " }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = app
        .bearer(Method::POST, &messages, &all)
        .json(&json!({ "body": "x".repeat(70 * 1024) }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::PAYLOAD_TOO_LARGE,
        "JSON bodies are capped at 64 KiB"
    );
    assert_eq!(
        app.bearer_get(&messages, &all)
            .await
            .json::<Vec<Value>>()
            .await
            .unwrap()
            .len(),
        0
    );
    for (body, text) in [("first", "first"), ("second", "second")] {
        let res = app
            .bearer(Method::POST, &messages, &all)
            .json(&json!({ "body": body }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        assert_eq!(res.json::<Value>().await.unwrap()["body"], text);
        app.clock.advance(chrono::Duration::seconds(1));
    }
    let listed: Vec<Value> = app.bearer_get(&messages, &all).await.json().await.unwrap();
    assert_eq!(listed[0]["body"], "second", "newest first");

    let domain = format!("/api/projects/{project}/domain");
    for bad in ["not a host", "localhost", "-x.com", "http://x.com"] {
        let res = app
            .bearer(Method::PUT, &domain, &all)
            .json(&json!({ "domain": bad }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert_eq!(error_code(res).await, "validation_failed");
    }
    assert_eq!(
        app.bearer_get(&domain, &all)
            .await
            .json::<Value>()
            .await
            .unwrap(),
        json!({ "domain": null })
    );
    let res = app
        .bearer(Method::PUT, &domain, &all)
        .json(&json!({ "domain": "WWW.Example.com" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        app.bearer_get(&domain, &all)
            .await
            .json::<Value>()
            .await
            .unwrap(),
        json!({ "domain": "www.example.com" })
    );

    for path in [
        "/api/projects/nope/messages",
        "/api/projects/3f1c1a52-3c1f-4a8e-9a7e-2b5f0f6d1c11/files",
        "/api/nothing/here",
    ] {
        let res = app.bearer_get(path, &all).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(error_code(res).await, "not_found");
    }
    let res = app
        .session_request(Method::POST, "/api/projects", &csrf)
        .json(&json!({ "name": "" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = app
        .session_request(
            Method::POST,
            &format!("/api/projects/{project}/members"),
            &csrf,
        )
        .json(&json!({ "email": "nobody@example.com", "role": "editor" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = app
        .session_request(
            Method::POST,
            &format!("/api/projects/{project}/members"),
            &csrf,
        )
        .json(&json!({ "email": "input@example.com", "role": "admin" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[actix_web::test]
async fn invoices_are_the_callers_own_newest_first() {
    let app = spawn_app().await;
    let csrf = app.signup("billing@example.com").await;
    let token = app
        .create_token(&csrf, "ops", &["billing.read"], "1y")
        .await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app.bearer_get("/api/billing/invoices/latest", &token).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND, "no invoice yet");
    assert_eq!(error_code(res).await, "not_found");
    assert_eq!(
        app.bearer_get("/api/billing/invoices", &token)
            .await
            .json::<Vec<Value>>()
            .await
            .unwrap(),
        Vec::<Value>::new()
    );

    for (period, cents) in [("2026-09", "1000"), ("2026-10", "2500")] {
        let out = app.cli(&[
            "invoice",
            "add",
            "--email",
            "billing@example.com",
            "--amount-cents",
            cents,
            "--period",
            period,
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        app.clock.advance(chrono::Duration::seconds(1));
    }
    let out = app.cli(&[
        "invoice",
        "add",
        "--email",
        "billing@example.com",
        "--amount-cents",
        "1",
        "--period",
        "2026-13",
    ]);
    assert!(!out.status.success(), "a bad period is refused");
    let other = app.new_browser();
    other.signup("someone-else@example.com").await;
    let out = app.cli(&[
        "invoice",
        "add",
        "--email",
        "someone-else@example.com",
        "--amount-cents",
        "99999",
        "--period",
        "2026-11",
    ]);
    assert!(out.status.success());

    let list: Vec<Value> = app
        .bearer_get("/api/billing/invoices", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list.len(), 2, "only the caller's own invoices");
    assert_eq!(list[0]["period"], "2026-10");
    assert_eq!(list[0]["amountCents"], 2500);
    let latest: Value = app
        .bearer_get("/api/billing/invoices/latest", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(latest, list[0]);
    let page = app.get_html("/settings/tokens").await;
    assert!(!csrf_in(&page).is_empty());
}
