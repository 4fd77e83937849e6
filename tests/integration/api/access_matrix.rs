//! Every endpoint of SPEC §6 × every kind of caller: right scope, wrong scope, session, session
//! without the CSRF header, a token restricted to the project and one restricted to another
//! (SPEC §8.5), and each role of a project (viewer, editor, owner, non-member).

use std::collections::HashMap;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{error_code, TestApp, User};

const ALL_SCOPES: [&str; 5] = ["publish", "messages", "files", "domain", "billing.read"];

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
            body: Some(json!({ "maxLifetimeDays": null, "requireRestricted": false })),
            session_only: true,
            ..e(
                Method::PUT,
                "/api/projects/{P}/token-policy",
                None,
                3,
                StatusCode::OK,
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
    user: User,
    /// 0 non-member, 1 viewer, 2 editor, 3 owner.
    role: u8,
    /// scope → a token with exactly that scope.
    tokens: HashMap<&'static str, String>,
    /// scope → a token with every scope but that one (owner only).
    all_but: HashMap<&'static str, String>,
    /// scope → a token restricted to the matrix's project (owner only).
    chosen: HashMap<&'static str, String>,
    /// scope → a token restricted to another project of the owner's (owner only).
    elsewhere: HashMap<&'static str, String>,
}

impl Person {
    async fn new(app: &TestApp, email: &str, role: u8, all_but: bool) -> Person {
        let user = app.with_user(email).await;
        let mut tokens = HashMap::new();
        let mut others = HashMap::new();
        for scope in ALL_SCOPES {
            tokens.insert(
                scope,
                user.with_token(scope, &[scope], "1y").await.plaintext,
            );
            if all_but {
                let rest: Vec<&str> = ALL_SCOPES.into_iter().filter(|s| *s != scope).collect();
                let t = user
                    .with_token(&format!("all but {scope}"), &rest, "1y")
                    .await;
                others.insert(scope, t.plaintext);
            }
        }
        let out = user.cli(&[
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
            user,
            role,
            tokens,
            all_but: others,
            chosen: HashMap::new(),
            elsewhere: HashMap::new(),
        }
    }
}

enum Credential<'a> {
    Token(&'a str),
    /// A token restricted to projects other than the one called.
    TokenElsewhere(&'a str),
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
    let is_token = matches!(
        credential,
        Credential::Token(_) | Credential::TokenElsewhere(_)
    );
    match credential {
        _ if is_token && ep.session_only => {
            return (StatusCode::FORBIDDEN, Some("session_required"))
        }
        _ if is_token && ep.scope.is_some_and(|s| !token_scopes.contains(&s)) => {
            return (StatusCode::FORBIDDEN, Some("insufficient_scope"))
        }
        // Another project of the owner's is, for this token, one that does not exist.
        Credential::TokenElsewhere(_) if ep.min_role > 0 => {
            return (StatusCode::NOT_FOUND, Some("not_found"))
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
        Credential::Token(t) | Credential::TokenElsewhere(t) => {
            person.user.bearer(ep.method.clone(), &path, t)
        }
        Credential::Session => person.user.session(ep.method.clone(), &path),
        Credential::SessionWithoutCsrf => person
            .user
            .client
            .request(ep.method.clone(), person.user.url(&path)),
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

/// The people of the matrix, on one project: its owner, an editor, a viewer, a stranger.
struct Matrix {
    owner: Person,
    editor: Person,
    viewer: Person,
    stranger: Person,
    project: String,
}

impl Matrix {
    async fn new() -> Matrix {
        let app = TestApp::spawn().await;
        let mut owner = Person::new(&app, "owner@example.com", 3, true).await;
        let project = owner.user.with_project("Matrix").await;
        let elsewhere = owner.user.with_project("Elsewhere").await;
        for scope in ALL_SCOPES {
            let user = &owner.user;
            let chosen = user
                .with_restricted_token(&format!("{scope} here"), &[scope], &[&project])
                .await;
            let other = user
                .with_restricted_token(&format!("{scope} elsewhere"), &[scope], &[&elsewhere])
                .await;
            owner.chosen.insert(scope, chosen.plaintext);
            owner.elsewhere.insert(scope, other.plaintext);
        }
        let editor = Person::new(&app, "editor@example.com", 2, false).await;
        let viewer = Person::new(&app, "viewer@example.com", 1, false).await;
        let stranger = Person::new(&app, "stranger@example.com", 0, false).await;
        // The member that the owner's "add a member" request adds.
        app.with_user("extra@example.com").await;
        let owner_user = &owner.user;
        owner_user
            .add_member(&project, "editor@example.com", "editor")
            .await;
        owner_user
            .add_member(&project, "viewer@example.com", "viewer")
            .await;
        owner.put_file(&project, "seed.txt").await;
        Matrix {
            owner,
            editor,
            viewer,
            stranger,
            project,
        }
    }

    /// The ten ways of calling `ep`: the owner with each kind of credential, then each role.
    fn cases(
        &self,
        ep: &Endpoint,
    ) -> Vec<(&'static str, &Person, Credential<'_>, Vec<&'static str>)> {
        let scope = ep.scope.unwrap_or("publish");
        let owner = &self.owner;
        let mut cases = vec![
            (
                "right scope",
                owner,
                Credential::Token(&owner.tokens[scope]),
                vec![scope],
            ),
            (
                "wrong scope",
                owner,
                Credential::Token(&owner.all_but[scope]),
                ALL_SCOPES.into_iter().filter(|s| *s != scope).collect(),
            ),
            (
                "token restricted to this project",
                owner,
                Credential::Token(&owner.chosen[scope]),
                vec![scope],
            ),
            (
                "token restricted to another project",
                owner,
                Credential::TokenElsewhere(&owner.elsewhere[scope]),
                vec![scope],
            ),
            ("session", owner, Credential::Session, vec![]),
            (
                "session without CSRF header",
                owner,
                Credential::SessionWithoutCsrf,
                vec![],
            ),
        ];
        for (label, person) in [
            ("viewer", &self.viewer),
            ("editor", &self.editor),
            ("owner", owner),
            ("non-member", &self.stranger),
        ] {
            // Session-only endpoints are reached with each person's session, the rest with their token.
            let credential = if ep.session_only {
                Credential::Session
            } else {
                Credential::Token(&person.tokens[scope])
            };
            cases.push((label, person, credential, vec![scope]));
        }
        cases
    }
}

impl Person {
    async fn put_file(&self, project: &str, name: &str) {
        let res = self
            .user
            .session(
                Method::PUT,
                &format!("/api/projects/{project}/files/{name}"),
            )
            .body(name.to_owned())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
    }
}

#[actix_web::test]
async fn every_endpoint_against_every_kind_of_caller() {
    let matrix = Matrix::new().await;
    let mut checked = 0;
    for ep in endpoints() {
        for (label, person, credential, scopes) in matrix.cases(&ep) {
            if ep.path.ends_with("doomed.txt") {
                matrix.owner.put_file(&matrix.project, "doomed.txt").await;
            }
            let (status, code) = expected(&ep, person, &credential, &scopes);
            let res = call(&ep, person, &matrix.project, &credential).await;
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
    assert_eq!(checked, 17 * 10);
}
