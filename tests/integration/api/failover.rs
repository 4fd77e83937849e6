//! PostgreSQL closing the connections an instance holds (a restart, a failover, an
//! administrator): the next requests are answered, not failed. A read that meets a closed
//! connection replaces it and is tried again (`db::query`). Needs PostgreSQL.

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use mantel::domain::PlainToken;
use reqwest::StatusCode;

use crate::helpers::{TestApp, TestDb};

#[actix_web::test]
async fn reads_after_the_server_closed_every_connection_are_answered() {
    let app = TestApp::spawn().await;
    let TestDb::Postgres { base, schema } = &*app.db else {
        crate::helpers::skipped(
            "closing the server's connections is PostgreSQL's (MANTEL_TEST_POSTGRES_URL)",
        );
        return;
    };
    let user = app.with_user("failover@example.com").await;
    let unknown = PlainToken::generate().expose().to_owned();
    assert_eq!(
        app.bearer_get("/api/me", &unknown).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // Every connection of the pool is closed from the server's side.
    let mut admin = PgConnection::establish(base).unwrap();
    admin
        .batch_execute(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = '{schema}' AND pid <> pg_backend_pid()"
        ))
        .unwrap();

    // More requests than the pool has connections, each a read on the pool: an unknown
    // token is looked up every time, a session is read every time. None may fail.
    let size = app.state.pool.max_size() as usize;
    for i in 0..2 * size + 2 {
        let res = app.bearer_get("/api/me", &unknown).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "bearer request {i}");
        let res = user.app.get("/api/me").await;
        assert_eq!(res.status(), StatusCode::OK, "session request {i}");
    }
}
