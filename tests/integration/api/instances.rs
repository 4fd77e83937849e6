//! Many instances on one PostgreSQL database (docs/deploy.md): two real `mantel serve`
//! processes, A and B, behind an imagined load balancer. Whatever one instance writes, the other
//! honours on its very next request: sessions, tokens, revocations, publishes, files. Needs PostgreSQL, so it is
//! skipped (and says so) without `MANTEL_TEST_POSTGRES_URL`.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{client, error_code, migrate, sign_up, Instance, TestDb, PUBLIC_URL};

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
            crate::helpers::skipped(
                "two instances need a shared PostgreSQL; set MANTEL_TEST_POSTGRES_URL",
            );
            return None;
        }
        let db = TestDb::new();
        migrate(&db.url());
        let a = Instance::start(&db.url());
        let b = Instance::start(&db.url());

        // One browser: cookies are not kept per port, so the session cookie that A sets goes
        // to B as well, as it would behind a load balancer.
        let browser = client();
        let csrf = sign_up(&browser, &a, &b, "many@example.com").await;
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
