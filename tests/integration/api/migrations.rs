//! Upgrades keep working tokens working: a database written before a migration serves the
//! same tokens after it. And accounts an older rule let in are flagged by the migration that
//! brings the new one.

use std::sync::Arc;
use std::time::Duration as Wait;

use diesel::Connection;
use diesel_migrations::{FileBasedMigrations, MigrationHarness};
use mantel::auth::password::{self, Password};
use mantel::clock::Clock;
use mantel::domain::token::PlainToken;
use reqwest::StatusCode;

use super::notifications::spawn_mailing;
use crate::helpers::smtp::SmtpServer;
use crate::helpers::{TestApp, TestDb, User, PASSWORD};

/// Migrations before `2026-11-28-000004_token_hash_bytes`, which stores hashes as bytes.
const BEFORE_BYTES: usize = 3;

/// The version of the migration that flags emails which are not one plain address.
const PLAIN_EMAILS: &str = "2026-12-07-000013";

/// How many of the backend's migrations come before `version` (the backends' folders differ).
fn migrations_before(db: &TestDb, version: &str) -> usize {
    let folder = match db {
        TestDb::Sqlite { .. } => "migrations/sqlite",
        TestDb::Postgres { .. } => "migrations/postgres",
    };
    std::fs::read_dir(folder)
        .unwrap()
        .filter(|entry| entry.as_ref().unwrap().file_name().to_str().unwrap() < version)
        .count()
}

/// Applies the first `n` migrations of the backend's folder to `db`.
fn migrate_first(db: &TestDb, n: usize) {
    fn run<C: MigrationHarness<B>, B: diesel::backend::Backend>(
        conn: &mut C,
        folder: &str,
        n: usize,
    ) where
        FileBasedMigrations: diesel::migration::MigrationSource<B>,
    {
        let source = FileBasedMigrations::from_path(folder).unwrap();
        for _ in 0..n {
            conn.run_next_migration(source.clone()).unwrap();
        }
    }
    match db {
        TestDb::Sqlite { path, .. } => run(
            &mut diesel::SqliteConnection::establish(path).unwrap(),
            "migrations/sqlite",
            n,
        ),
        TestDb::Postgres { .. } => run(
            &mut diesel::PgConnection::establish(&db.url()).unwrap(),
            "migrations/postgres",
            n,
        ),
    }
}

#[actix_web::test]
async fn tokens_stored_as_hex_still_work_after_the_bytes_migration() {
    let db = std::sync::Arc::new(TestDb::new());
    migrate_first(&db, BEFORE_BYTES);
    let (live, revoked) = (PlainToken::generate(), PlainToken::generate());
    let hex = |t: &PlainToken| blake3::hash(t.expose().as_bytes()).to_hex().to_string();
    let sql = format!(
        "INSERT INTO users (id, email, password_hash, created_at)
           VALUES ('00000000-0000-4000-8000-000000000001', 'old@example.com', 'x', '2026-01-01 00:00:00');
         INSERT INTO api_tokens (id, user_id, name, token_hash, prefix, scopes, created_at, revoked_at)
           VALUES ('00000000-0000-4000-8000-0000000000a1', '00000000-0000-4000-8000-000000000001',
                   'old', '{}', '{}', 'publish', '2026-01-01 00:00:00', NULL),
                  ('00000000-0000-4000-8000-0000000000a2', '00000000-0000-4000-8000-000000000001',
                   'older', '{}', '{}', 'publish', '2026-01-01 00:00:00', '2026-01-02 00:00:00');",
        hex(&live),
        live.display_prefix(),
        hex(&revoked),
        revoked.display_prefix(),
    );
    db.execute(&sql);

    // The server applies the rest at start-up.
    let app = TestApp::spawn_on(db.clone(), Default::default()).await;
    let me = app.bearer_get("/api/me", live.expose()).await;
    assert_eq!(me.status(), StatusCode::OK);
    let body: serde_json::Value = me.json().await.unwrap();
    assert_eq!(body["user"]["email"], "old@example.com");
    assert_eq!(body["auth"]["token"]["name"], "old");
    assert_eq!(
        app.bearer_get("/api/me", revoked.expose()).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM api_tokens WHERE length(token_hash) = 32"),
        2,
        "both hashes are 32 raw bytes now"
    );
}

#[actix_web::test]
async fn accounts_stored_with_more_than_a_plain_address_are_flagged_and_sent_no_mail() {
    let db = Arc::new(TestDb::new());
    migrate_first(&db, migrations_before(&db, PLAIN_EMAILS));
    // What the old rule let in (lower-cased and trimmed, as it stored them), and plain ones.
    let flagged = [
        "<alice@example.com>",
        "alice <alice@example.com>",
        "=?utf-8?q?alice?=@example.com",
        "a@evil.example,victim@example.com",
        "a@evil.example;victim@example.com",
        "alice@example.com(alice)",
        "\"alice\"@example.com",
        "alice@example.com.",
        "al..ice@example.com",
        "alice@-example.com",
        "alice@example.123",
        "alice@1.2.3.4",
        "álice@example.com",
    ];
    let plain = ["bob@example.com", "o''brien+ci@mail.example-1.org"];
    let hash = password::hash(&Password::new(PASSWORD.to_owned())).unwrap();
    let mut sql = String::new();
    for (i, email) in flagged.iter().chain(&plain).enumerate() {
        sql += &format!(
            "INSERT INTO users (id, email, password_hash, created_at)
               VALUES ('00000000-0000-4000-8000-{i:012}', '{email}', '{hash}', '2026-01-01 00:00:00');"
        );
    }
    db.execute(&sql);

    // The server applies the rest at start-up.
    let smtp = SmtpServer::start();
    let app = spawn_mailing(db.clone(), Clock::default(), &smtp).await;
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM users WHERE undeliverable_email = email"),
        flagged.len() as i64,
        "every address that is not one plain address is flagged, and no other"
    );

    // Each signs in and creates a token: everyone is told, only the plain addresses by mail.
    let plain = plain.map(|email| email.replace("''", "'"));
    let mut users = Vec::new();
    for email in flagged
        .iter()
        .copied()
        .chain(plain.iter().map(String::as_str))
    {
        let browser = app.new_browser();
        assert_eq!(
            browser.login(email, PASSWORD).await.status(),
            StatusCode::SEE_OTHER,
            "{email} still signs in"
        );
        let user = User {
            csrf: browser.page_csrf().await,
            app: browser,
            email: email.to_owned(),
        };
        user.with_token("after the upgrade", &["publish"], "1y")
            .await;
        users.push(user);
    }
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM outbox"),
        plain.len() as i64,
        "no mail is queued for a flagged account"
    );
    let mails = smtp.wait_for(plain.len(), Wait::from_secs(10)).await;
    let mut to: Vec<String> = mails
        .iter()
        .map(|m| m["rcptTos"][0].as_str().unwrap().to_owned())
        .collect();
    to.sort();
    assert_eq!(to, ["bob@example.com", "o'brien+ci@mail.example-1.org"]);
    for user in &users {
        let page = user.get_html("/settings/notifications").await;
        assert!(page.contains("after the upgrade"), "{}: {page}", user.email);
    }
}
