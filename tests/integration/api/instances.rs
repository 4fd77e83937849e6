//! Many instances on one PostgreSQL database (docs/deploy.md): two real `mantel serve`
//! processes, A and B, behind an imagined load balancer. Whatever one instance writes, the other
//! honours on its very next request: sessions, tokens, revocations, publishes, files. Needs PostgreSQL, so it is
//! skipped (and says so) without `MANTEL_TEST_POSTGRES_URL`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{client, csrf_in, error_code, TestDb, PASSWORD};

/// The URL people use, as the load balancer in front of both instances would have it: CSRF
/// checks compare `Origin` with it, whichever instance answers.
const PUBLIC_URL: &str = "http://mantel.test";

/// A `mantel serve` process; killed when dropped.
struct Instance {
    child: Child,
    address: String,
}

impl Instance {
    fn start(database_url: &str) -> Instance {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mantel"))
            .args(["serve", "--bind", "127.0.0.1:0", "--public-url", PUBLIC_URL])
            .args(["--database-url", database_url])
            // No MANTEL_SECRET_KEY: the cookie key kept in the database is what they share.
            .env_remove("MANTEL_SECRET_KEY")
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("mantel starts");
        // Read the log until the server says where it listens, then keep draining it so the
        // process never blocks on a full pipe.
        let log = BufReader::new(child.stderr.take().unwrap());
        let (address_tx, address_rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in log.lines().map_while(Result::ok) {
                if let Some(address) = line.split("listening on ").nth(1) {
                    let _ = address_tx.send(address.trim().to_owned());
                }
            }
        });
        let address = address_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("mantel serve logs its address");
        Instance { child, address }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn postgres_configured() -> bool {
    std::env::var("MANTEL_TEST_POSTGRES_URL").is_ok_and(|url| !url.is_empty())
}

/// Two instances, A and B, on one freshly migrated database, and one person's browser signed
/// up through A. `None` (after saying so) without PostgreSQL.
struct TwoInstances {
    a: Instance,
    b: Instance,
    browser: reqwest::Client,
    /// The dashboard's CSRF token, as B's page gives it.
    csrf: String,
    _db: TestDb,
}

impl TwoInstances {
    async fn start() -> Option<TwoInstances> {
        if !postgres_configured() {
            eprintln!(
                "skipped: two instances need a shared PostgreSQL; set MANTEL_TEST_POSTGRES_URL"
            );
            return None;
        }
        let db = TestDb::new();
        // Deployment order: migrations once, then any number of instances.
        let migrate = Command::new(env!("CARGO_BIN_EXE_mantel"))
            .args(["migrate", "--database-url", &db.url()])
            .output()
            .unwrap();
        assert!(
            migrate.status.success(),
            "{}",
            String::from_utf8_lossy(&migrate.stderr)
        );
        let a = Instance::start(&db.url());
        let b = Instance::start(&db.url());

        // One browser: cookies are not kept per port, so the session cookie that A sets goes
        // to B as well, as it would behind a load balancer.
        let browser = client();
        let signup = browser.get(a.url("/signup")).send().await.unwrap();
        let res = browser
            .post(a.url("/signup"))
            .form(&[
                ("email", "many@example.com"),
                ("password", PASSWORD),
                ("csrf_token", &csrf_in(&signup.text().await.unwrap())),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let page = browser.get(b.url("/settings/tokens")).send().await.unwrap();
        let csrf = csrf_in(&page.text().await.unwrap());
        Some(TwoInstances {
            a,
            b,
            browser,
            csrf,
            _db: db,
        })
    }

    /// A cookie-authenticated JSON request through `instance`, from the public URL's origin.
    fn session(&self, method: Method, instance: &Instance, path: &str) -> reqwest::RequestBuilder {
        self.browser
            .request(method, instance.url(path))
            .header("X-CSRF-Token", &self.csrf)
            .header("Origin", PUBLIC_URL)
    }

    /// A token made through A: its id and plaintext.
    async fn token_through_a(&self, body: Value) -> (String, String) {
        let created: Value = self
            .session(Method::POST, &self.a, "/api/tokens")
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = created["id"].as_str().unwrap().to_owned();
        (id, created["token"].as_str().unwrap().to_owned())
    }
}

fn bearer(token: &str, method: Method, instance: &Instance, path: &str) -> reqwest::RequestBuilder {
    client()
        .request(method, instance.url(path))
        .header("Authorization", format!("Bearer {token}"))
}

#[actix_web::test]
async fn a_session_made_through_one_instance_works_and_ends_through_the_other() {
    let Some(pair) = TwoInstances::start().await else {
        return;
    };
    let me: Value = pair
        .browser
        .get(pair.b.url("/api/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["user"]["email"], "many@example.com");
    assert_eq!(me["auth"]["kind"], "session");

    // Logging out through A ends the session on B too.
    let res = pair
        .browser
        .post(pair.a.url("/logout"))
        .form(&[("csrf_token", pair.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = pair
        .browser
        .get(pair.b.url("/api/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn a_token_made_and_revoked_through_one_instance_holds_on_the_other() {
    let Some(pair) = TwoInstances::start().await else {
        return;
    };
    let body = json!({ "name": "CI on many instances", "scopes": ["publish"], "expiry": "1y" });
    let (id, token) = pair.token_through_a(body).await;
    let res = bearer(&token, Method::GET, &pair.b, "/api/me")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.json::<Value>().await.unwrap()["auth"]["token"]["id"],
        id
    );

    // A token revoked through A gets 401 from B on the very next request.
    let res = pair
        .session(Method::DELETE, &pair.a, &format!("/api/tokens/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = bearer(&token, Method::GET, &pair.b, "/api/me")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(res).await, "invalid_token");
}

#[actix_web::test]
async fn publishes_and_files_written_through_one_instance_are_read_through_the_other() {
    let Some(pair) = TwoInstances::start().await else {
        return;
    };
    let project: Value = pair
        .session(Method::POST, &pair.a, "/api/projects")
        .json(&json!({ "name": "Shared site" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let project = project["id"].as_str().unwrap().to_owned();
    let body = json!({ "name": "CI and assets", "scopes": ["publish", "files"] });
    let (_, worker) = pair.token_through_a(body).await;
    let published = bearer(&worker, Method::POST, &pair.a, "/api/publish")
        .json(&json!({ "projectId": project }))
        .send()
        .await
        .unwrap();
    assert_eq!(published.status(), StatusCode::CREATED);
    let published: Value = published.json().await.unwrap();
    let bytes: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    let file = format!("/api/projects/{project}/files/site.tar");
    let uploaded = bearer(&worker, Method::PUT, &pair.a, &file)
        .header("Content-Type", "application/x-tar")
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), StatusCode::CREATED);

    let publishes = format!("/api/projects/{project}/publishes");
    let res = bearer(&worker, Method::GET, &pair.b, &publishes)
        .send()
        .await
        .unwrap();
    let publishes: Vec<Value> = res.json().await.unwrap();
    assert_eq!(publishes[0]["id"], published["id"]);
    let res = bearer(&worker, Method::GET, &pair.b, &file)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/x-tar");
    assert_eq!(res.bytes().await.unwrap().to_vec(), bytes);
}
