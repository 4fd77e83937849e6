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

#[actix_web::test]
async fn two_instances_on_one_postgres_database_agree_on_the_very_next_request() {
    if !postgres_configured() {
        eprintln!("skipped: two instances need a shared PostgreSQL; set MANTEL_TEST_POSTGRES_URL");
        return;
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

    // One browser: cookies are not kept per port, so the session cookie that A sets goes to
    // B as well, as it would behind a load balancer.
    let browser = client();
    let signup = browser
        .get(a.url("/signup"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let res = browser
        .post(a.url("/signup"))
        .form(&[
            ("email", "many@example.com"),
            ("password", PASSWORD),
            ("csrf_token", &csrf_in(&signup)),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);

    // A session created through A works through B.
    let me: Value = browser
        .get(b.url("/api/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["user"]["email"], "many@example.com");
    assert_eq!(me["auth"]["kind"], "session");
    let page = browser
        .get(b.url("/settings/tokens"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_in(&page);

    // A token created on A works on B.
    let created: Value = browser
        .post(a.url("/api/tokens"))
        .header("X-CSRF-Token", &csrf)
        .header("Origin", PUBLIC_URL)
        .json(&json!({ "name": "CI on many instances", "scopes": ["publish"], "expiry": "1y" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = created["token"].as_str().unwrap();
    let bearer_me = |instance: &Instance| {
        client()
            .get(instance.url("/api/me"))
            .header("Authorization", format!("Bearer {token}"))
            .send()
    };
    let res = bearer_me(&b).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.json::<Value>().await.unwrap()["auth"]["token"]["id"],
        created["id"]
    );

    // A token revoked through A gets 401 from B on the very next request.
    let res = browser
        .request(
            Method::DELETE,
            a.url(&format!("/api/tokens/{}", created["id"].as_str().unwrap())),
        )
        .header("X-CSRF-Token", &csrf)
        .header("Origin", PUBLIC_URL)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = bearer_me(&b).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(res).await, "invalid_token");

    // Files and publishes written through A are read through B.
    let project: Value = browser
        .post(a.url("/api/projects"))
        .header("X-CSRF-Token", &csrf)
        .header("Origin", PUBLIC_URL)
        .json(&json!({ "name": "Shared site" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let project = project["id"].as_str().unwrap().to_owned();
    let worker: Value = browser
        .post(a.url("/api/tokens"))
        .header("X-CSRF-Token", &csrf)
        .header("Origin", PUBLIC_URL)
        .json(&json!({ "name": "CI and assets", "scopes": ["publish", "files"] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let worker = worker["token"].as_str().unwrap().to_owned();
    let bearer = |method: Method, instance: &Instance, path: &str| {
        client()
            .request(method, instance.url(path))
            .header("Authorization", format!("Bearer {worker}"))
    };
    let published = bearer(Method::POST, &a, "/api/publish")
        .json(&json!({ "projectId": project }))
        .send()
        .await
        .unwrap();
    assert_eq!(published.status(), StatusCode::CREATED);
    let published: Value = published.json().await.unwrap();
    let bytes: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    let uploaded = bearer(
        Method::PUT,
        &a,
        &format!("/api/projects/{project}/files/site.tar"),
    )
    .header("Content-Type", "application/x-tar")
    .body(bytes.clone())
    .send()
    .await
    .unwrap();
    assert_eq!(uploaded.status(), StatusCode::CREATED);

    let publishes: Vec<Value> = bearer(
        Method::GET,
        &b,
        &format!("/api/projects/{project}/publishes"),
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(publishes[0]["id"], published["id"]);
    let file = bearer(
        Method::GET,
        &b,
        &format!("/api/projects/{project}/files/site.tar"),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(file.status(), StatusCode::OK);
    assert_eq!(file.headers()["content-type"], "application/x-tar");
    assert_eq!(file.bytes().await.unwrap().to_vec(), bytes);

    // Logging out through A ends the session on B too.
    let res = browser
        .post(a.url("/logout"))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = browser.get(b.url("/api/me")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}
