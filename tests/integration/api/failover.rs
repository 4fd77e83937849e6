//! PostgreSQL dropping the connections an instance holds (an administrator, a failover) or
//! restarting: no request is answered 500. A read that meets a closed connection replaces it
//! and is tried again (`db::query`); whatever cannot be answered while the server is away is
//! 503 `unavailable` with `Retry-After`; the instance recovers by itself, and a revocation
//! made meanwhile holds on the next request (SPEC §7). Needs PostgreSQL.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use mantel::clock::Clock;
use mantel::domain::PlainToken;
use reqwest::{Method, Response, StatusCode};
use serde_json::json;

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

/// What one of the load's requests was answered, and whether it is the 503 the contract allows
/// (with `Retry-After`) rather than anything else of the 5xx.
fn outcome(res: &Response) -> StatusCode {
    let status = res.status();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        assert!(
            res.headers().contains_key("retry-after"),
            "503 without Retry-After"
        );
    }
    status
}

#[actix_web::test]
async fn every_backend_terminated_under_load_costs_no_500_and_revocation_stays_exact() {
    let app = TestApp::spawn().await;
    let TestDb::Postgres { base, schema } = &*app.db else {
        crate::helpers::skipped(
            "terminating the server's backends is PostgreSQL's (MANTEL_TEST_POSTGRES_URL)",
        );
        return;
    };
    let lease = app
        .state
        .cache_lease
        .clone()
        .expect("PostgreSQL has a lease");
    let user = Arc::new(app.with_user("terminated@example.com").await);
    let token = user.with_token("ci", &["messages"], "1y").await;
    assert_eq!(
        app.bearer_get("/api/me", &token.plaintext).await.status(),
        StatusCode::OK
    );

    // Four clients keep reading (bearer and session) and writing (a token made and revoked
    // each round) for two seconds; half-way, every backend of this test's schema — the pool's, the writer's and the
    // cache lease's listener — is terminated.
    let until = Instant::now() + Duration::from_secs(2);
    let mut clients = Vec::new();
    for c in 0..4 {
        let (user, plaintext) = (user.clone(), token.plaintext.clone());
        clients.push(actix_web::rt::spawn(async move {
            let mut statuses = Vec::new();
            let mut round = 0;
            while Instant::now() < until {
                let res = user.bearer_get("/api/me", &plaintext).await;
                statuses.push(("bearer read", outcome(&res)));
                let res = user.get("/api/me").await;
                statuses.push(("session read", outcome(&res)));
                let res = user
                    .session(Method::POST, "/api/tokens")
                    .json(&json!({ "name": format!("load {c} {round}"), "scopes": ["messages"], "expiry": "1y" }))
                    .send()
                    .await
                    .unwrap();
                statuses.push(("write", outcome(&res)));
                // Revoked again at once, so an account's cap on live tokens is never reached.
                if res.status() == StatusCode::CREATED {
                    let created: serde_json::Value = res.json().await.unwrap();
                    let res = user.revoke(created["id"].as_str().unwrap()).await;
                    statuses.push(("revoke", outcome(&res)));
                }
                round += 1;
            }
            statuses
        }));
    }
    actix_web::rt::time::sleep(Duration::from_millis(700)).await;
    let terminated = PgConnection::establish(base)
        .unwrap()
        .batch_execute(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid() \
               AND application_name IN ('{schema}', 'mantel cache lease {}')",
            lease.instance()
        ));
    terminated.unwrap();
    let mut statuses = Vec::new();
    for client in clients {
        statuses.extend(client.await.unwrap());
    }

    let failed: Vec<_> = statuses
        .iter()
        .filter(|(_, s)| s.is_server_error() && *s != StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    assert!(
        failed.is_empty(),
        "answered 5xx other than 503: {failed:?}\n{}",
        crate::helpers::logs::logs()
            .lines()
            .filter(|l| l.contains("ERROR") || l.contains("WARN"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let unexpected: Vec<_> = statuses
        .iter()
        .filter(|(what, s)| {
            let expected = match *what {
                "write" => StatusCode::CREATED,
                "revoke" => StatusCode::NO_CONTENT,
                _ => StatusCode::OK,
            };
            *s != expected && *s != StatusCode::SERVICE_UNAVAILABLE
        })
        .collect();
    assert!(unexpected.is_empty(), "{unexpected:?}");
    // Reads are tried again on a fresh connection: none of them needs a 503.
    let read_503s = statuses
        .iter()
        .filter(|(what, s)| what.ends_with("read") && *s == StatusCode::SERVICE_UNAVAILABLE)
        .count();
    assert_eq!(read_503s, 0, "reads answered 503: {statuses:?}");

    // Recovered: everything answers as before, and a revocation holds on the next request,
    // whether the cache lease's listener is back yet or not.
    assert_eq!(user.get("/api/me").await.status(), StatusCode::OK);
    assert_eq!(
        user.revoke(&token.id).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.bearer_get("/api/me", &token.plaintext).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

/// A PostgreSQL cluster of the test's own (stopped and started by the test; the shared one is
/// never stopped), in a temp directory, on a free port, its socket in its directory. Run as
/// `postgres` when the test runs as root, as initdb refuses root.
struct PrivatePostgres {
    dir: tempfile::TempDir,
    port: u16,
}

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

impl PrivatePostgres {
    /// `None` (after saying why) when the binaries or the `postgres` account are missing.
    fn start() -> Option<PrivatePostgres> {
        if !Path::new(PG_BIN).join("initdb").exists() {
            crate::helpers::skipped("no PostgreSQL 15 binaries to run a private cluster");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        if is_root() {
            let chowned = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            if !chowned.success() {
                crate::helpers::skipped("running as root, and no `postgres` account for initdb");
                return None;
            }
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let pg = PrivatePostgres { dir, port };
        let data = pg.data();
        pg.run(
            "initdb",
            &["-D", &data, "-U", "postgres", "--auth=trust", "--no-sync"],
        );
        pg.ctl("start");
        Some(pg)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").to_string_lossy().into_owned()
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// `pg_ctl start` (waiting until it accepts connections) or `stop` (fast: every session
    /// is ended, as a restart does).
    fn ctl(&self, action: &str) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("log").to_string_lossy().into_owned();
        let data = self.data();
        let mut args = vec!["-D", &data, "-w", "-t", "30", "-l", &log];
        match action {
            "start" => args.extend(["-o", &options, "start"]),
            _ => args.extend(["-m", "fast", "stop"]),
        }
        self.run("pg_ctl", &args);
    }

    /// `program` of the PostgreSQL binaries, as the account that owns the cluster.
    fn command(&self, program: &str) -> Command {
        let program = PathBuf::from(PG_BIN).join(program);
        let mut command = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        command.current_dir("/");
        command
    }

    fn run(&self, program: &str, args: &[&str]) {
        let out = self.command(program).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{program} {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .args(["-D", &self.data(), "-m", "immediate", "stop"])
            .output();
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.starts_with(b"0\n"))
}

#[actix_web::test]
async fn a_postgresql_restart_is_503_while_down_and_recovers_by_itself_exactly() {
    if std::env::var("MANTEL_TEST_POSTGRES_URL").map_or(true, |url| url.is_empty()) {
        crate::helpers::skipped("the PostgreSQL tests run with MANTEL_TEST_POSTGRES_URL");
        return;
    }
    let Some(pg) = PrivatePostgres::start() else {
        return;
    };
    let schema = "restarted".to_owned();
    PgConnection::establish(&pg.url())
        .unwrap()
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .unwrap();
    let db = Arc::new(TestDb::Postgres {
        base: pg.url(),
        schema,
    });
    let app = TestApp::spawn_on(db.clone(), Clock::default()).await;
    let user = app.with_user("restart@example.com").await;
    let kept = user.with_token("kept", &["messages"], "1y").await;
    let revoked = user.with_token("revoked", &["messages"], "1y").await;
    for token in [&kept, &revoked] {
        assert_eq!(
            app.bearer_get("/api/me", &token.plaintext).await.status(),
            StatusCode::OK
        );
    }

    pg.ctl("stop");
    // While the server is down: 503 with Retry-After, never 500, and no long wait.
    for i in 0..5 {
        for res in [
            user.get("/api/me").await,
            user.get("/settings/tokens").await,
        ] {
            let url = res.url().path().to_owned();
            assert_eq!(
                outcome(&res),
                StatusCode::SERVICE_UNAVAILABLE,
                "{url} while PostgreSQL is down ({i})"
            );
        }
        // A bearer request may still be answered from the token cache until its listener
        // has noticed (nothing can change while the database is down, so that is exact).
        let res = app.bearer_get("/api/me", &kept.plaintext).await;
        assert!(
            [StatusCode::OK, StatusCode::SERVICE_UNAVAILABLE].contains(&outcome(&res)),
            "bearer while PostgreSQL is down: {}",
            res.status()
        );
    }
    let started = Instant::now();
    let asked = user.get("/api/me").await;
    assert_eq!(outcome(&asked), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "a request waited {:?} for a database that is down",
        started.elapsed()
    );

    pg.ctl("start");
    let back = Instant::now();
    // A token revoked behind the instance's back the moment the server is back, before the
    // instance has reconnected: its cache may not answer with the old row.
    PgConnection::establish(&db.url())
        .unwrap()
        .batch_execute(&format!(
            "UPDATE api_tokens SET revoked_at = CURRENT_TIMESTAMP, revoked_reason = 'user' \
             WHERE id = '{}'",
            revoked.id
        ))
        .unwrap();
    loop {
        let res = app.bearer_get("/api/me", &revoked.plaintext).await;
        match outcome(&res) {
            StatusCode::SERVICE_UNAVAILABLE => {}
            StatusCode::UNAUTHORIZED => break,
            other => panic!("the token revoked during the outage was answered {other}"),
        }
        assert!(
            back.elapsed() < Duration::from_secs(5),
            "not recovered 5 s after PostgreSQL was back"
        );
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    let recovered = back.elapsed();
    assert_eq!(
        app.bearer_get("/api/me", &kept.plaintext).await.status(),
        StatusCode::OK
    );
    assert_eq!(user.get("/api/me").await.status(), StatusCode::OK);
    assert_eq!(user.get("/settings/tokens").await.status(), StatusCode::OK);
    // And a revocation through the API after the outage holds at once.
    assert_eq!(user.revoke(&kept.id).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.bearer_get("/api/me", &kept.plaintext).await.status(),
        StatusCode::UNAUTHORIZED
    );
    eprintln!("recovered {recovered:?} after PostgreSQL was back");
    assert!(
        recovered < Duration::from_millis(1500),
        "recovered only {recovered:?} after PostgreSQL was back"
    );
}
