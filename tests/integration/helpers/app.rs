//! The server under test and the people using it: `TestApp::spawn()` starts the real server on
//! port 0 with a database of its own; `with_user` signs someone up through the real form, in a
//! browser (cookie jar) of their own; `with_token` and `with_project` make what a test needs
//! through the JSON API, so every id comes from a JSON answer.

use std::io::Write;
use std::net::TcpListener;
use std::ops::Deref;
use std::sync::Arc;

use actix_web::web;
use mantel::clock::Clock;
use mantel::config::Settings;
use mantel::startup::Application;
use mantel::state::AppState;
use reqwest::{redirect::Policy, Method, Response, StatusCode};
use serde_json::{json, Value};

use super::db::TestDb;

pub const PASSWORD: &str = "correct horse battery";

/// A running server, and one browser (a cookie jar, nobody logged in yet) pointed at it.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub state: web::Data<AppState>,
    pub clock: Clock,
    pub db: Arc<TestDb>,
    /// `http://127.0.0.1:PORT` of `GET /metrics`, when the settings asked for it.
    pub metrics_address: Option<String>,
}

/// A fresh cookie jar that does not follow redirects, so tests see every 303.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .build()
        .unwrap()
}

impl TestApp {
    /// The server on a fresh database: a temp SQLite file, or a schema of its own in
    /// `MANTEL_TEST_POSTGRES_URL`.
    pub async fn spawn() -> TestApp {
        TestApp::spawn_on(Arc::new(TestDb::new()), Clock::default()).await
    }

    /// Another server on the same database (a restart, or a second instance).
    pub async fn spawn_on(db: Arc<TestDb>, clock: Clock) -> TestApp {
        TestApp::spawn_with(db, clock, |_| {}).await
    }

    /// A server whose settings the test adjusts (a small rate limit, a metrics address).
    pub async fn spawn_with(
        db: Arc<TestDb>,
        clock: Clock,
        adjust: impl FnOnce(&mut Settings),
    ) -> TestApp {
        TestApp::spawn_named(db, clock, None, adjust).await
    }

    /// A server whose public URL is `http://localhost:PORT`: passkeys need a domain for their
    /// relying party, and browsers refuse an IP address there.
    pub async fn spawn_at_localhost() -> TestApp {
        let db = Arc::new(TestDb::new());
        TestApp::spawn_named(db, Clock::default(), Some("localhost"), |_| {}).await
    }

    async fn spawn_named(
        db: Arc<TestDb>,
        clock: Clock,
        host: Option<&str>,
        adjust: impl FnOnce(&mut Settings),
    ) -> TestApp {
        super::logs::init();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let address = format!("http://{}:{port}", host.unwrap_or("127.0.0.1"));
        let mut settings = Settings {
            bind: "127.0.0.1:0".into(),
            database_url: db.url(),
            // Without a host, as `mantel serve` without `--public-url`: the address bound,
            // `address`.
            public_url: host.map(|_| address.clone()),
            secret_key: None,
            token_rate_limit: 5000,
            bearer_failure_limit: 100,
            metrics_bind: None,
            github_scanning_keys: None,
            gitlab_scanning_keys: None,
            trusted_proxies: Vec::new(),
            proxy_header: Default::default(),
            mail: None,
            sweep_every: mantel::config::SWEEP_EVERY,
            activity_queue: mantel::auth::activity::CAPACITY,
        };
        adjust(&mut settings);
        let app = Application::build_with_listener(settings, listener, clock.clone())
            .await
            .expect("the app builds");
        let state = app.state();
        let metrics_address = app
            .metrics_port()
            .map(|port| format!("http://127.0.0.1:{port}"));
        actix_web::rt::spawn(app.run_until_stopped());
        TestApp {
            address,
            client: client(),
            state,
            clock,
            db,
            metrics_address,
        }
    }

    /// Someone signed up through the form, in a browser of their own, on the tokens page.
    pub async fn with_user(&self, email: &str) -> User {
        let app = self.new_browser();
        let csrf = app.signup(email).await;
        User {
            app,
            email: email.to_owned(),
            csrf,
        }
    }
}

/// Whether `s` has the shape of a personal API token: `mm_pat_` and 32 letters or digits.
pub fn is_token(s: &str) -> bool {
    s.len() == 39 && s.starts_with("mm_pat_") && s[7..].bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The value of `<meta name="csrf-token" content="…">` or of a hidden `csrf_token` field.
pub fn csrf_in(html: &str) -> String {
    for marker in [
        r#"name="csrf-token" content=""#,
        r#"name="csrf_token" value=""#,
    ] {
        if let Some(start) = html.find(marker) {
            let rest = &html[start + marker.len()..];
            return rest[..rest.find('"').unwrap()].to_owned();
        }
    }
    panic!("no CSRF token in page:\n{html}");
}

impl TestApp {
    /// The same server seen from another browser: a fresh cookie jar.
    pub fn new_browser(&self) -> TestApp {
        TestApp {
            address: self.address.clone(),
            client: client(),
            state: self.state.clone(),
            clock: self.clock.clone(),
            db: self.db.clone(),
            metrics_address: self.metrics_address.clone(),
        }
    }

    /// Runs the `mantel` binary against this app's database (e.g. `invoice add`).
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        self.cli_with_stdin(args, "")
    }

    pub fn cli_with_stdin(&self, args: &[&str], stdin: &str) -> std::process::Output {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mantel"))
            .args(args)
            .env("DATABASE_URL", self.db.url())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the mantel binary runs");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn get_html(&self, path: &str) -> String {
        let res = self.get(path).await;
        assert_eq!(res.status(), StatusCode::OK, "GET {path}");
        res.text().await.unwrap()
    }

    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        let body = serde_html_form::to_string(fields).unwrap();
        self.client
            .post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// Signs up through the form and returns the dashboard's CSRF token.
    pub async fn signup(&self, email: &str) -> String {
        let csrf = csrf_in(&self.get_html("/signup").await);
        let res = self
            .post_form(
                "/signup",
                &[
                    ("email", email),
                    ("password", PASSWORD),
                    ("csrf_token", &csrf),
                ],
            )
            .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "signup of {email}");
        assert_eq!(res.headers()["location"], "/settings/tokens");
        self.page_csrf().await
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        let csrf = csrf_in(&self.get_html("/login").await);
        self.post_form(
            "/login",
            &[
                ("email", email),
                ("password", password),
                ("csrf_token", &csrf),
            ],
        )
        .await
    }

    /// The CSRF token of the logged-in dashboard, as its `<meta>` tag carries it.
    pub async fn page_csrf(&self) -> String {
        csrf_in(&self.get_html("/settings/tokens").await)
    }

    /// A cookie-authenticated JSON request, as the dashboard's own scripts would send it.
    pub fn session_request(
        &self,
        method: reqwest::Method,
        path: &str,
        csrf: &str,
    ) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .header("X-CSRF-Token", csrf)
            .header("Origin", &self.address)
    }

    /// A request carrying only the bearer token: a fresh client, no cookies.
    pub fn bearer(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
    ) -> reqwest::RequestBuilder {
        client()
            .request(method, self.url(path))
            .header("Authorization", format!("Bearer {token}"))
    }

    pub async fn bearer_get(&self, path: &str, token: &str) -> Response {
        self.bearer(reqwest::Method::GET, path, token)
            .send()
            .await
            .unwrap()
    }
}

/// Reads a JSON error body and returns its code, checking the one error shape on the way.
pub async fn error_code(res: Response) -> String {
    assert_eq!(res.headers()["content-type"], "application/json");
    let body: Value = res.json().await.unwrap();
    assert!(body["error"]["message"].is_string(), "{body}");
    body["error"]["code"].as_str().unwrap().to_owned()
}

/// A person signed up and logged in, in a browser of their own; everything a `TestApp` does,
/// as them.
pub struct User {
    pub app: TestApp,
    pub email: String,
    /// The dashboard's CSRF token for this session.
    pub csrf: String,
}

impl Deref for User {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.app
    }
}

/// A token as its creation answered: the id, and the plaintext shown that once.
pub struct Token {
    pub id: String,
    pub plaintext: String,
    /// The whole 201 body.
    pub created: Value,
}

impl User {
    /// A cookie-authenticated JSON request with this session's CSRF header and our origin, as
    /// the dashboard's own scripts send it.
    pub fn session(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.session_request(method, path, &self.csrf)
    }

    /// Creates a token through the JSON API, returning the 201 body.
    pub async fn create_token(&self, name: &str, scopes: &[&str], expiry: &str) -> Value {
        let res = self
            .session(Method::POST, "/api/tokens")
            .json(&json!({ "name": name, "scopes": scopes, "expiry": expiry }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED, "create token {name}");
        res.json().await.unwrap()
    }

    /// `POST /api/tokens` with this body, as it answers (for bodies that may be refused).
    pub async fn post_token(&self, body: &Value) -> Response {
        self.session(Method::POST, "/api/tokens")
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// A token restricted to these projects (SPEC §8.5).
    pub async fn with_restricted_token(
        &self,
        name: &str,
        scopes: &[&str],
        projects: &[&str],
    ) -> Token {
        let body = json!({ "name": name, "scopes": scopes, "expiry": "1y", "projects": projects });
        let res = self.post_token(&body).await;
        assert_eq!(res.status(), StatusCode::CREATED, "create token {name}");
        let created: Value = res.json().await.unwrap();
        Token {
            id: created["id"].as_str().unwrap().to_owned(),
            plaintext: created["token"].as_str().unwrap().to_owned(),
            created,
        }
    }

    /// A token with these scopes and expiry (`1m`, `6m`, `1y`, `never`).
    pub async fn with_token(&self, name: &str, scopes: &[&str], expiry: &str) -> Token {
        let created = self.create_token(name, scopes, expiry).await;
        Token {
            id: created["id"].as_str().unwrap().to_owned(),
            plaintext: created["token"].as_str().unwrap().to_owned(),
            created,
        }
    }

    /// Revokes a token through the JSON API.
    pub async fn revoke(&self, token_id: &str) -> Response {
        self.session(Method::DELETE, &format!("/api/tokens/{token_id}"))
            .send()
            .await
            .unwrap()
    }

    /// The session's view of its tokens (`GET /api/tokens`).
    pub async fn tokens(&self) -> Vec<Value> {
        let res = self.get("/api/tokens").await;
        assert_eq!(res.status(), StatusCode::OK);
        res.json().await.unwrap()
    }

    /// A project this person owns, created through the JSON API; its id.
    pub async fn with_project(&self, name: &str) -> String {
        let res = self
            .session(Method::POST, "/api/projects")
            .json(&json!({ "name": name }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED, "create project {name}");
        res.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Adds (or re-roles) a member of one of this person's projects.
    pub async fn add_member(&self, project: &str, email: &str, role: &str) {
        let res = self
            .session(Method::POST, &format!("/api/projects/{project}/members"))
            .json(&json!({ "email": email, "role": role }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED, "add {email} as {role}");
    }

    /// This person's user id, as `GET /api/me` gives it.
    pub async fn id(&self) -> String {
        self.get("/api/me").await.json::<Value>().await.unwrap()["user"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}
