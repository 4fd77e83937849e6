//! `spawn_app()`: a running server on port 0 with its own database, and a client with a
//! cookie jar that speaks to it the way a browser or a script would.

use std::io::Write;
use std::net::TcpListener;
use std::sync::{Mutex, OnceLock};

use actix_web::web;
use diesel::{connection::SimpleConnection, Connection, PgConnection};
use mantel::clock::Clock;
use mantel::config::Settings;
use mantel::startup::Application;
use mantel::state::AppState;
use reqwest::{redirect::Policy, Response, StatusCode};
use serde_json::Value;

pub const PASSWORD: &str = "correct horse battery";

/// Everything the app logs, across all tests of this binary, so tests can prove that no
/// secret ever reaches a log line.
static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn init_logs() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
            .with_ansi(false)
            .with_writer(|| LogWriter)
            .init();
    });
}

pub fn logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap()).into_owned()
}

/// A database of the test's own: a temp SQLite file, or a fresh PostgreSQL schema.
pub enum TestDb {
    Sqlite {
        _dir: tempfile::TempDir,
        path: String,
    },
    Postgres {
        base: String,
        schema: String,
    },
}

impl TestDb {
    pub fn new() -> TestDb {
        match std::env::var("MANTEL_TEST_POSTGRES_URL") {
            Ok(base) if !base.is_empty() => {
                let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
                let mut conn =
                    PgConnection::establish(&base).expect("connect to MANTEL_TEST_POSTGRES_URL");
                conn.batch_execute(&format!("CREATE SCHEMA {schema}"))
                    .unwrap();
                TestDb::Postgres { base, schema }
            }
            _ => {
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join("mantel.db").to_string_lossy().into_owned();
                TestDb::Sqlite { _dir: dir, path }
            }
        }
    }

    pub fn url(&self) -> String {
        match self {
            TestDb::Sqlite { path, .. } => path.clone(),
            TestDb::Postgres { base, schema } => {
                let sep = if base.contains('?') { '&' } else { '?' };
                format!("{base}{sep}options=-csearch_path%3D{schema}")
            }
        }
    }

    /// Runs SQL directly on the test's database, behind the app's back.
    pub fn execute(&self, sql: &str) {
        match self {
            TestDb::Sqlite { path, .. } => diesel::SqliteConnection::establish(path)
                .unwrap()
                .batch_execute(sql)
                .unwrap(),
            TestDb::Postgres { .. } => PgConnection::establish(&self.url())
                .unwrap()
                .batch_execute(sql)
                .unwrap(),
        }
    }

    /// The number a `SELECT COUNT(*) AS n …` query answers, read behind the app's back.
    pub fn count(&self, sql: &str) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let query = diesel::sql_query(sql);
        let rows: Vec<Count> = match self {
            TestDb::Sqlite { path, .. } => diesel::RunQueryDsl::load(
                query,
                &mut diesel::SqliteConnection::establish(path).unwrap(),
            ),
            TestDb::Postgres { .. } => {
                diesel::RunQueryDsl::load(query, &mut PgConnection::establish(&self.url()).unwrap())
            }
        }
        .unwrap();
        rows[0].n
    }

    /// Every byte the database holds for this test, as text: the SQLite file and its WAL,
    /// or a data dump of the PostgreSQL schema.
    pub fn raw_contents(&self) -> String {
        match self {
            TestDb::Sqlite { path, .. } => {
                let mut bytes = std::fs::read(path).unwrap();
                bytes.extend(std::fs::read(format!("{path}-wal")).unwrap_or_default());
                String::from_utf8_lossy(&bytes).into_owned()
            }
            TestDb::Postgres { base, schema } => {
                let out = std::process::Command::new("pg_dump")
                    .args(["--data-only", "--schema", schema, base])
                    .output()
                    .expect("pg_dump runs");
                assert!(
                    out.status.success(),
                    "pg_dump: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                String::from_utf8_lossy(&out.stdout).into_owned()
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let TestDb::Postgres { base, schema } = self {
            if let Ok(mut conn) = PgConnection::establish(base) {
                let _ = conn.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
            }
        }
    }
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub state: web::Data<AppState>,
    pub clock: Clock,
    pub db: std::sync::Arc<TestDb>,
    /// `http://127.0.0.1:PORT` of `GET /metrics`, when the settings asked for it.
    pub metrics_address: Option<String>,
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .build()
        .unwrap()
}

pub async fn spawn_app() -> TestApp {
    spawn_on(std::sync::Arc::new(TestDb::new()), Clock::default()).await
}

/// Another server on the same database (a restart, or a second instance).
pub async fn spawn_on(db: std::sync::Arc<TestDb>, clock: Clock) -> TestApp {
    spawn_with(db, clock, |_| {}).await
}

/// A server whose settings the test adjusts (a small rate limit, a metrics address).
pub async fn spawn_with(
    db: std::sync::Arc<TestDb>,
    clock: Clock,
    adjust: impl FnOnce(&mut Settings),
) -> TestApp {
    init_logs();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let address = format!("http://127.0.0.1:{port}");
    let mut settings = Settings {
        bind: "127.0.0.1:0".into(),
        database_url: db.url(),
        public_url: address.clone(),
        secret_key: None,
        token_rate_limit: 5000,
        bearer_failure_limit: 100,
        metrics_bind: None,
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

    /// Creates a token through the JSON API with the session, returning the 201 body.
    pub async fn create_token(
        &self,
        csrf: &str,
        name: &str,
        scopes: &[&str],
        expiry: &str,
    ) -> Value {
        let res = self
            .session_request(reqwest::Method::POST, "/api/tokens", csrf)
            .json(&serde_json::json!({ "name": name, "scopes": scopes, "expiry": expiry }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED, "create token {name}");
        res.json().await.unwrap()
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
