//! Upgrades keep working tokens working: a database written before a migration serves the
//! same tokens after it.

use diesel::Connection;
use diesel_migrations::{FileBasedMigrations, MigrationHarness};
use mantel::domain::token::PlainToken;
use reqwest::StatusCode;

use crate::helpers::{TestApp, TestDb};

/// Migrations before `2026-11-28-000004_token_hash_bytes`, which stores hashes as bytes.
const BEFORE_BYTES: usize = 3;

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
