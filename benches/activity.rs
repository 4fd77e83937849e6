//! Token activity at size (`cargo bench --bench activity`): what a bearer request pays to
//! queue its record, and what the token page's queries cost with 10 million recorded requests
//! in SQLite, with their query plans. Seeding takes a minute or two; `ACTIVITY_ROWS` sets the
//! size (default 10 000 000).

use std::time::{Duration, Instant};

use chrono::Utc;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use mantel::auth::activity::Activity;
use mantel::db::models::token_activity::{self, NewRequest};
use mantel::db::{self, DbConnection};
use mantel::domain::{PageRequest, RequestOutcome, TokenId};

fn record(token_id: &TokenId) -> NewRequest {
    NewRequest {
        token_id: token_id.clone(),
        at: Utc::now().naive_utc(),
        method: "GET",
        route: "/api/projects/{id}/messages",
        status: 200,
        ip: Some(std::net::IpAddr::from([203, 0, 113, 7])),
        user_agent: Some("nightly-export/2.1".into()),
        outcome: RequestOutcome::Ok,
        project_id: None,
        count: 1,
    }
}

/// The cost of `Activity::push` with the record built as the middleware builds it.
fn queue_push() {
    let token = TokenId::new();
    let activity = Activity::with_capacity(1 << 20);
    let n = 1_000_000;
    let start = Instant::now();
    for _ in 0..n {
        activity.push(record(&token));
    }
    let per = start.elapsed() / n;
    println!("queue push (building the record included): {per:?} per request, {n} pushes");
    let full = Activity::with_capacity(0);
    let start = Instant::now();
    for _ in 0..n {
        full.push(record(&token));
    }
    println!(
        "queue push when full (dropped and counted): {:?} per request",
        start.elapsed() / n
    );
}

fn time<T>(label: &str, runs: u32, mut f: impl FnMut() -> T) {
    f();
    let start = Instant::now();
    for _ in 0..runs {
        std::hint::black_box(f());
    }
    let per: Duration = start.elapsed() / runs;
    println!("{label}: {:.2} ms", per.as_secs_f64() * 1e3);
}

fn main() {
    queue_push();
    let rows: i64 = std::env::var("ACTIVITY_ROWS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000_000);
    let dir = tempfile::tempdir().unwrap();
    let url = dir
        .path()
        .join("activity.db")
        .to_string_lossy()
        .into_owned();
    let pool = db::connect(&url, 1, Default::default()).unwrap();
    let mut conn = pool.get().unwrap();
    db::run_migrations(&mut conn).unwrap();
    let DbConnection::Sqlite(c) = &mut **conn else {
        unreachable!()
    };
    // 100 tokens of one user; the one measured holds a tenth of all requests, the rest spread
    // over the others, over 90 days; the measured token is revoked a day ago and presented
    // since.
    let seed = Instant::now();
    let token = TokenId::new();
    c.batch_execute(&format!(
        "INSERT INTO users (id, email, password_hash, created_at) VALUES ('u', 'u@example.com', 'x', '2026-01-01 00:00:00');
         INSERT INTO api_tokens (id, user_id, name, token_hash, prefix, scopes, created_at, revoked_at, revoked_reason)
           VALUES ('{token}', 'u', 'measured', randomblob(32), 'mm_pat_AAAA', 'publish', '2026-01-01 00:00:00', datetime('now', '-1 day'), 'user');
         INSERT INTO api_tokens (id, user_id, name, token_hash, prefix, scopes, created_at)
           WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 99)
           SELECT 'other-' || i, 'u', 'other ' || i, randomblob(32), 'mm_pat_BBBB', 'publish', '2026-01-01 00:00:00' FROM n;
         BEGIN;
         INSERT INTO token_requests (token_id, at, method, route, status, ip, user_agent, outcome, project_id)
           WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows})
           SELECT CASE WHEN i % 10 = 0 THEN '{token}' ELSE 'other-' || (i % 99 + 1) END,
                  datetime('now', '-' || (i * 7776000 / {rows}) || ' seconds'),
                  'GET', '/api/me', 200, '203.0.113.' || (i % 50), 'agent/' || (i % 7),
                  CASE WHEN i % 10 = 0 AND i * 7776000 / {rows} < 86400 THEN 'revoked' ELSE 'ok' END,
                  NULL
           FROM n;
         COMMIT;
         ANALYZE;"
    ))
    .unwrap();
    println!("seeded {rows} requests in {:.0?}", seed.elapsed());
    let now = Utc::now().naive_utc();
    let stopped = Some(now - chrono::Duration::days(1));
    for (label, sql) in [
        ("latest requests", format!("EXPLAIN QUERY PLAN SELECT * FROM token_requests WHERE token_id = '{token}' ORDER BY at DESC, id DESC LIMIT 51")),
        ("presented after stop", format!("EXPLAIN QUERY PLAN SELECT COUNT(*) FROM token_requests WHERE token_id = '{token}' AND at >= '2026-11-27' AND outcome IN ('revoked', 'expired', 'replaced')")),
        ("project access", "EXPLAIN QUERY PLAN SELECT token_id, at FROM token_requests WHERE project_id = 'p' AND at >= '2026-10-28' AND outcome = 'ok'".to_owned()),
        ("retention", "EXPLAIN QUERY PLAN DELETE FROM token_requests WHERE at < '2026-08-30'".to_owned()),
    ] {
        #[derive(QueryableByName)]
        struct Plan {
            #[diesel(sql_type = diesel::sql_types::Text)]
            detail: String,
        }
        let plan: Vec<Plan> = diesel::sql_query(sql).load(c).unwrap();
        let plan: Vec<_> = plan.into_iter().map(|p| p.detail).collect();
        println!("plan, {label}: {}", plan.join("; "));
    }
    let page = PageRequest::first(50);
    time(
        "token page summary (addresses, 30 days, agents, after-stop count)",
        20,
        || token_activity::summary(&mut conn, &token, stopped, now).unwrap(),
    );
    time("token page latest 50 requests", 20, || {
        token_activity::list(&mut conn, &token, &page).unwrap()
    });
}
