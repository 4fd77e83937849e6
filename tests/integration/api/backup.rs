//! `mantel backup PATH` (SPEC §9): a consistent, verified SQLite copy taken while the server
//! serves and writes; on PostgreSQL, the `pg_dump` command instead.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use mantel::clock::Clock;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{TestApp, TestDb};

fn backup(database_url: &str, path: &std::path::Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_mantel"))
        .arg("backup")
        .arg(path)
        .args(["--database-url", database_url])
        .output()
        .expect("the mantel binary runs")
}

#[actix_web::test]
async fn a_backup_taken_during_writes_restores_every_write_answered_before_it() {
    let app = TestApp::spawn_on(Arc::new(TestDb::sqlite()), Clock::default()).await;
    let alice = app.with_user("alice@example.com").await;
    let first = alice.with_token("before", &["publish"], "1y").await;

    // Tokens keep being created while the backup runs; each answered one is remembered.
    let answered: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(vec![first.plaintext.clone()]));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (answered, stop) = (answered.clone(), stop.clone());
        let request = move |n: usize| {
            alice
                .session(Method::POST, "/api/tokens")
                .json(&json!({ "name": format!("during {n}"), "scopes": ["publish"] }))
        };
        actix_web::rt::spawn(async move {
            for n in 0..90 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let res = request(n).send().await.unwrap();
                assert_eq!(res.status(), StatusCode::CREATED);
                let body: Value = res.json().await.unwrap();
                let token = body["token"].as_str().unwrap().to_owned();
                answered.lock().unwrap().push(token);
            }
        })
    };
    while answered.lock().unwrap().len() < 4 {
        actix_web::rt::task::yield_now().await;
    }
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy.db");
    let before_backup = answered.lock().unwrap().clone();
    let (url, path) = (app.db.url(), copy.clone());
    let out = actix_web::rt::task::spawn_blocking(move || backup(&url, &path))
        .await
        .unwrap();
    stop.store(true, Ordering::SeqCst);
    writer.await.unwrap();
    assert!(out.status.success(), "{out:?}");
    let said = String::from_utf8(out.stdout).unwrap();
    assert!(
        said.starts_with(&format!("wrote {}", copy.display())),
        "{said}"
    );
    assert!(said.contains("integrity ok"), "{said}");

    // A server on the copy knows every token answered before the backup began.
    let restored = TestApp::spawn_on(
        Arc::new(TestDb::Sqlite {
            _dir: dir,
            path: copy.to_string_lossy().into_owned(),
        }),
        Clock::default(),
    )
    .await;
    for token in &before_backup {
        let res = restored.bearer_get("/api/me", token).await;
        assert_eq!(
            res.status(),
            StatusCode::OK,
            "a token answered before the backup"
        );
    }
    // And the original goes on.
    let res = app.bearer_get("/api/me", &first.plaintext).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[actix_web::test]
async fn a_backup_never_overwrites_a_file() {
    let app = TestApp::spawn_on(Arc::new(TestDb::sqlite()), Clock::default()).await;
    app.with_user("alice@example.com").await;
    let dir = tempfile::tempdir().unwrap();
    let there = dir.path().join("precious");
    std::fs::write(&there, "keep me").unwrap();
    let out = backup(&app.db.url(), &there);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    assert_eq!(std::fs::read_to_string(&there).unwrap(), "keep me");
    // Nor makes a database up where there was none.
    let out = backup(
        &dir.path().join("missing.db").to_string_lossy(),
        &dir.path().join("copy.db"),
    );
    assert!(!out.status.success());
    assert!(!dir.path().join("missing.db").exists());
    assert!(!dir.path().join("copy.db").exists());
}

#[actix_web::test]
async fn on_postgresql_it_names_pg_dump_without_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let out = backup(
        "postgres://mantel:s3cret@db.example:5432/mantel",
        &dir.path().join("mantel.dump"),
    );
    assert!(!out.status.success());
    let said = String::from_utf8(out.stderr).unwrap();
    assert!(said.contains("pg_dump"), "{said}");
    assert!(
        said.contains("'postgres://mantel@db.example:5432/mantel'"),
        "{said}"
    );
    assert!(!said.contains("s3cret"), "{said}");
    assert!(String::from_utf8(out.stdout).unwrap().is_empty());
}
