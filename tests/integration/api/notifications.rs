//! Notifications and their mail (SPEC §8.2), against a real SMTP server process: a new
//! token's mail, expiry warnings at 30/7/1/0 days exactly once with two instances sweeping at
//! once, mail surviving a stopped SMTP server, the year-of-disuse revocation, and a stopped
//! token still being presented.

use std::sync::Arc;
use std::time::Duration as Wait;

use chrono::Duration;
use futures_util::future::join_all;
use mantel::clock::Clock;
use mantel::notify::mail::{MailSettings, SmtpUrl};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::smtp::SmtpServer;
use crate::helpers::{error_code, TestApp, TestDb, PASSWORD};

/// A server sending mail to `smtp`, sweeping every 100 ms.
pub(super) async fn spawn_mailing(db: Arc<TestDb>, clock: Clock, smtp: &SmtpServer) -> TestApp {
    spawn_mailing_as(db, clock, smtp, None).await
}

/// The same, with the public URL of another instance: one site behind a load balancer.
async fn spawn_mailing_as(
    db: Arc<TestDb>,
    clock: Clock,
    smtp: &SmtpServer,
    public_url: Option<&str>,
) -> TestApp {
    let (url, public_url) = (smtp.url(), public_url.map(str::to_owned));
    TestApp::spawn_with(db, clock, move |s| {
        s.metrics_bind = Some("127.0.0.1:0".into());
        if let Some(public_url) = public_url {
            s.public_url = Some(public_url);
        }
        s.mail = Some(MailSettings {
            smtp_url: SmtpUrl::new(url),
            from: Some("Mantel <noreply@mantel.test>".into()),
        });
        s.sweep_every = Wait::from_millis(100);
    })
    .await
}

fn count(db: &TestDb, sql: &str) -> i64 {
    db.count(sql)
}

/// Waits until `sql` (a `SELECT COUNT(*) AS n`) reaches `n`, then a little longer so a
/// duplicate would have time to appear, and answers the count.
async fn settle(db: &TestDb, sql: &str, n: i64) -> i64 {
    for _ in 0..200 {
        if count(db, sql) >= n {
            break;
        }
        actix_web::rt::time::sleep(Wait::from_millis(50)).await;
    }
    actix_web::rt::time::sleep(Wait::from_millis(600)).await;
    count(db, sql)
}

/// Waits until the outbox holds no mail still to send (the SMTP server has a mail a moment
/// before the sender marks it sent); panics after five seconds.
async fn all_sent(db: &TestDb) {
    let unsent = "SELECT COUNT(*) AS n FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL";
    for _ in 0..100 {
        if count(db, unsent) == 0 {
            return;
        }
        actix_web::rt::time::sleep(Wait::from_millis(50)).await;
    }
    panic!("{} mails are still unsent", count(db, unsent));
}

fn subjects(mails: &[Value]) -> Vec<String> {
    mails
        .iter()
        .map(|m| m["subject"].as_str().unwrap().to_owned())
        .collect()
}

#[actix_web::test]
async fn a_new_token_is_mailed_in_plain_text_and_html_and_shown_in_the_dashboard() {
    let smtp = SmtpServer::start();
    let app = spawn_mailing(Arc::new(TestDb::new()), Clock::default(), &smtp).await;
    let user = app.with_user("mailme@example.com").await;
    assert!(!user.get_html("/settings/tokens").await.contains("unread"));
    let token = user.with_token("CI pipeline", &["publish"], "6m").await;

    let mails = smtp.wait_for(1, Wait::from_secs(10)).await;
    let mail = &mails[0];
    assert_eq!(mail["rcptTos"], serde_json::json!(["mailme@example.com"]));
    assert_eq!(mail["from"], "Mantel <noreply@mantel.test>");
    assert_eq!(mail["subject"], "A new API token “CI pipeline” was created");
    assert_eq!(mail["contentType"], "multipart/alternative");
    let (text, html) = (
        mail["text"].as_str().unwrap(),
        mail["html"].as_str().unwrap(),
    );
    let prefix = token.created["prefix"].as_str().unwrap();
    assert!(text.contains(prefix), "{text}");
    assert!(
        text.contains(&format!("{}/settings/tokens", app.address)),
        "{text}"
    );
    assert!(
        html.contains(&format!("href=\"{}/settings/tokens\"", app.address)),
        "{html}"
    );
    // The secret is in no part of the mail, nor is its hash.
    for part in [text, html, &mail.to_string()] {
        assert!(!part.contains(&token.plaintext));
        assert!(!part.contains(&token.plaintext[7..]));
    }
    all_sent(&app.db).await;

    // The dashboard: one unread in the top bar, the notification in the list, then read.
    let tokens_page = user.get_html("/settings/tokens").await;
    assert!(
        tokens_page.contains("1<span class=\"sr-only\"> unread notifications"),
        "{tokens_page}"
    );
    let page = user.get_html("/settings/notifications").await;
    assert!(
        page.contains("1<span class=\"sr-only\"> unread</span>"),
        "{page}"
    );
    assert!(page.contains("A new API token “CI pipeline” was created"));
    let res = user
        .post_form(
            "/settings/notifications/read",
            &[("csrf_token", &user.csrf)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let page = user.get_html("/settings/notifications").await;
    assert!(!page.contains("unread"), "{page}");
    assert!(page.contains("A new API token “CI pipeline” was created"));
}

#[actix_web::test]
async fn without_smtp_notifications_stay_in_the_dashboard() {
    let app = TestApp::spawn().await;
    let user = app.with_user("nomail@example.com").await;
    user.with_token("deploy", &["publish"], "1y").await;
    let page = user.get_html("/settings/notifications").await;
    assert!(
        page.contains("A new API token “deploy” was created"),
        "{page}"
    );
    assert_eq!(count(&app.db, "SELECT COUNT(*) AS n FROM outbox"), 0);
}

#[actix_web::test]
async fn expiry_is_told_once_at_30_7_1_and_0_days_with_two_instances_sweeping() {
    let smtp = SmtpServer::start();
    let (db, clock) = (Arc::new(TestDb::new()), Clock::default());
    let a = spawn_mailing(db.clone(), clock.clone(), &smtp).await;
    let b = spawn_mailing_as(db.clone(), clock.clone(), &smtp, Some(&a.address)).await;
    let user = a.with_user("expiring@example.com").await;
    let token = user.with_token("nightly", &["files"], "6m").await;
    let expires: chrono::DateTime<chrono::Utc> = token.created["expiresAt"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let expiring =
        "SELECT COUNT(*) AS n FROM notifications WHERE kind IN ('token_expiring', 'token_expired')";
    assert_eq!(settle(&db, expiring, 0).await, 0, "nothing to tell yet");

    let mut told = 0;
    for days_left in [29.5, 6.5, 0.5, -0.1] {
        let target = expires.naive_utc() - Duration::minutes((days_left * 1440.0) as i64);
        clock.advance(target - clock.now());
        // Beside the background sweeps of both instances, sweep from both at the same instant.
        let sweeps = [&a, &b, &a, &b].map(|app| {
            let (state, now) = (app.state.clone(), clock.now());
            async move {
                let notifier = state.notifier.clone();
                mantel::db::query(&state.pool, move |conn| {
                    mantel::ops::sweep::sweep(conn, &notifier, now)
                })
                .await
                .unwrap()
            }
        });
        join_all(sweeps).await;
        told += 1;
        assert_eq!(
            settle(&db, expiring, told).await,
            told,
            "at {days_left} days"
        );
    }
    let keys = |kind: &str| {
        count(
            &db,
            &format!(
                "SELECT COUNT(DISTINCT dedupe_key) AS n FROM notifications WHERE kind = '{kind}'"
            ),
        )
    };
    assert_eq!((keys("token_expiring"), keys("token_expired")), (3, 1));

    // One mail each, whichever instance sent it: created, 30, 7, 1 days, expired.
    smtp.wait_for(5, Wait::from_secs(15)).await;
    actix_web::rt::time::sleep(Wait::from_millis(500)).await;
    let mails = smtp.mails();
    assert_eq!(
        subjects(&mails),
        [
            "A new API token “nightly” was created",
            "Your API token “nightly” expires in 30 days",
            "Your API token “nightly” expires in 7 days",
            "Your API token “nightly” expires in 1 day",
            "Your API token “nightly” has expired",
        ],
        "{mails:#?}"
    );
    let warning = mails[2]["text"].as_str().unwrap();
    let regenerate = format!("{}/settings/tokens/{}/regenerate", a.address, token.id);
    assert!(warning.contains(&regenerate), "{warning}");
    assert!(mails[2]["html"].as_str().unwrap().contains(&regenerate));

    // The dashboard says it too (after logging in again: months have passed).
    user.login("expiring@example.com", PASSWORD).await;
    let page = user.get_html("/settings/notifications").await;
    assert!(page.contains("Your API token “nightly” expires in 7 days"));
    assert!(page.contains(&format!("/settings/tokens/{}/regenerate", token.id)));
}

#[actix_web::test]
async fn a_stopped_smtp_server_delays_mail_but_loses_none() {
    let mut smtp = SmtpServer::start();
    let app = spawn_mailing(Arc::new(TestDb::new()), Clock::default(), &smtp).await;
    smtp.stop();
    let user = app.with_user("patient@example.com").await;
    user.with_token("first", &["publish"], "1y").await;
    user.with_token("second", &["publish"], "1y").await;
    let failed = "SELECT COUNT(*) AS n FROM outbox WHERE sent_at IS NULL AND attempts > 0";
    assert_eq!(settle(&app.db, failed, 2).await, 2, "both tried and failed");

    smtp.restart();
    // Retries wait longer each time; the next ones come within seconds.
    let mails = smtp.wait_for(2, Wait::from_secs(30)).await;
    assert_eq!(
        subjects(&mails).len(),
        2,
        "each mail once: {:?}",
        subjects(&mails)
    );
    all_sent(&app.db).await;
}

/// The recipients of each mail, in order.
fn recipients(mails: &[Value]) -> Vec<String> {
    mails.iter().map(|m| m["rcptTos"].to_string()).collect()
}

/// `mantel_outbox_failed` as `/metrics` reports it now.
async fn failed_mails_metric(app: &TestApp) -> String {
    let url = format!("{}/metrics", app.metrics_address.as_ref().unwrap());
    let metrics = reqwest::get(url).await.unwrap().text().await.unwrap();
    metrics
        .lines()
        .find_map(|line| line.strip_prefix("mantel_outbox_failed "))
        .unwrap_or_else(|| panic!("no mantel_outbox_failed in {metrics}"))
        .to_owned()
}

const FAILED: &str = "SELECT COUNT(*) AS n FROM outbox WHERE failed_at IS NOT NULL";

#[actix_web::test]
async fn a_mail_refused_for_good_is_marked_failed_counted_and_never_tried_again() {
    let smtp = SmtpServer::start_refusing(&["gone@example.com"]);
    let app = spawn_mailing(Arc::new(TestDb::new()), Clock::default(), &smtp).await;
    assert_eq!(failed_mails_metric(&app).await, "0");
    let gone = app.with_user("gone@example.com").await;
    gone.with_token("bounced", &["publish"], "1y").await;
    assert_eq!(settle(&app.db, FAILED, 1).await, 1, "a 550 fails the mail");
    assert_eq!(failed_mails_metric(&app).await, "1");
    // The notification itself is in the dashboard.
    let page = gone.get_html("/settings/notifications").await;
    assert!(page.contains("bounced"), "{page}");

    // A day later, a mail to someone else is sent; the refused one is not tried again.
    app.clock.advance(Duration::days(1));
    let here = app.with_user("here@example.com").await;
    here.with_token("delivered", &["publish"], "1y").await;
    let mails = smtp.wait_for(1, Wait::from_secs(10)).await;
    all_sent(&app.db).await;
    assert_eq!(recipients(&mails), [r#"["here@example.com"]"#]);
    assert_eq!(
        count(
            &app.db,
            "SELECT COALESCE(SUM(attempts), 0) AS n FROM outbox WHERE failed_at IS NOT NULL"
        ),
        1,
        "the refused mail was tried once"
    );
    assert_eq!(failed_mails_metric(&app).await, "1");
}

#[actix_web::test]
async fn a_mail_that_keeps_failing_for_three_days_is_given_up() {
    let mut smtp = SmtpServer::start();
    let app = spawn_mailing(Arc::new(TestDb::new()), Clock::default(), &smtp).await;
    smtp.stop();
    let user = app.with_user("patient@example.com").await;
    user.with_token("stuck", &["publish"], "1y").await;
    let tried = "SELECT COUNT(*) AS n FROM outbox WHERE attempts > 0";
    assert_eq!(settle(&app.db, tried, 1).await, 1);
    assert_eq!(
        count(&app.db, FAILED),
        0,
        "a server that is down is waited for"
    );

    app.clock.advance(Duration::days(3) + Duration::minutes(1));
    assert_eq!(settle(&app.db, FAILED, 1).await, 1, "but not for ever");
    assert_eq!(failed_mails_metric(&app).await, "1");

    // Back up: newer mail goes, the given-up one does not.
    smtp.restart();
    let later = app.with_user("later@example.com").await;
    later.with_token("fresh", &["publish"], "1y").await;
    let mails = smtp.wait_for(1, Wait::from_secs(30)).await;
    all_sent(&app.db).await;
    assert_eq!(recipients(&mails), [r#"["later@example.com"]"#]);
}

#[actix_web::test]
async fn a_year_unused_token_is_warned_a_week_ahead_then_revoked() {
    let app = TestApp::spawn_with(Arc::new(TestDb::new()), Clock::default(), |s| {
        s.sweep_every = Wait::from_millis(100);
    })
    .await;
    let user = app.with_user("idle@example.com").await;
    let idle = user.with_token("forgotten", &["publish"], "never").await;
    let busy = user.with_token("busy", &["publish"], "never").await;
    let warned = "SELECT COUNT(*) AS n FROM notifications WHERE kind = 'token_inactive'";

    app.clock.advance(Duration::days(300));
    // `busy` is used: its year of disuse starts again.
    assert_eq!(
        user.bearer_get("/api/me", &busy.plaintext).await.status(),
        StatusCode::OK
    );
    user.state.last_used.flush(&user.state.pool).await.unwrap();
    app.clock.advance(Duration::days(59));
    assert_eq!(
        settle(&app.db, warned, 1).await,
        1,
        "only the idle token is warned"
    );
    user.login("idle@example.com", PASSWORD).await;
    let page = user.get_html("/settings/notifications").await;
    assert!(
        page.contains("Your API token “forgotten” will be revoked for inactivity"),
        "{page}"
    );
    // A week's warning: not revoked yet.
    let status = |tokens: &[Value], id: &str| {
        let token = tokens.iter().find(|t| t["id"] == id).unwrap();
        (token["status"].clone(), token["revokedReason"].clone())
    };
    assert_eq!(status(&user.tokens().await, &idle.id).0, "active");

    app.clock.advance(Duration::days(7));
    let revoked = "SELECT COUNT(*) AS n FROM notifications WHERE kind = 'token_revoked_inactive'";
    assert_eq!(settle(&app.db, revoked, 1).await, 1);
    let res = user.bearer_get("/api/me", &idle.plaintext).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(res).await, "invalid_token");
    user.login("idle@example.com", PASSWORD).await;
    let listed = user.tokens().await;
    assert_eq!(
        status(&listed, &idle.id),
        ("revoked".into(), "inactive".into())
    );
    assert_eq!(status(&listed, &busy.id).0, "active");
    assert_eq!(count(&app.db, warned), 1);
}

#[actix_web::test]
async fn a_stopped_token_still_presented_is_told_at_most_daily() {
    let app = TestApp::spawn().await;
    let user = app.with_user("leaky@example.com").await;
    let token = user.with_token("old laptop", &["publish"], "1y").await;
    assert_eq!(
        user.revoke(&token.id).await.status(),
        StatusCode::NO_CONTENT
    );
    let flush = || async {
        user.state
            .activity
            .flush(&user.state.pool, &user.state.notifier)
            .await
            .unwrap()
    };
    let told = "SELECT COUNT(*) AS n FROM notifications WHERE kind = 'token_used_after_revocation'";
    for _ in 0..3 {
        let res = user.bearer_get("/api/me", &token.plaintext).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        flush().await;
    }
    assert_eq!(count(&app.db, told), 1);
    let page = user.get_html("/settings/notifications").await;
    assert!(page.contains("Your stopped API token “old laptop” is still being presented"));
    assert!(page.contains("from 127.0.0.1"), "{page}");

    app.clock.advance(Duration::days(1));
    user.bearer_get("/api/me", &token.plaintext).await;
    flush().await;
    assert_eq!(count(&app.db, told), 2);
}

/// The new-address notice is for working tokens: a revoked token presented from ten addresses
/// it was never used from sends its owner one mail (still presented), not eleven.
#[actix_web::test]
async fn a_stopped_token_presented_from_ten_new_addresses_is_told_once() {
    let smtp = SmtpServer::start();
    let url = smtp.url();
    let app = TestApp::spawn_with(Arc::new(TestDb::new()), Clock::default(), move |s| {
        s.mail = Some(MailSettings {
            smtp_url: SmtpUrl::new(url),
            from: Some("Mantel <noreply@mantel.test>".into()),
        });
        s.sweep_every = Wait::from_millis(100);
        // The tests connect from 127.0.0.1: a proxy naming each client in X-Forwarded-For.
        s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let user = app.with_user("stopped@example.com").await;
    let token = user.with_token("old laptop", &["publish"], "1y").await;
    let from = |ip: String| {
        user.bearer(reqwest::Method::GET, "/api/me", &token.plaintext)
            .header("X-Forwarded-For", ip)
            .send()
    };
    let flush = || async {
        user.state
            .activity
            .flush(&user.state.pool, &user.state.notifier)
            .await
            .unwrap()
    };
    // Used once while it worked: every address below is new to it.
    assert_eq!(
        from("198.51.100.1".into()).await.unwrap().status(),
        StatusCode::OK
    );
    flush().await;
    assert_eq!(
        user.revoke(&token.id).await.status(),
        StatusCode::NO_CONTENT
    );
    for i in 1..=10 {
        let res = from(format!("203.0.113.{i}")).await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    flush().await;
    all_sent(&app.db).await;

    let subjects = subjects(&smtp.mails());
    let told = |prefix: &str| subjects.iter().filter(|s| s.starts_with(prefix)).count();
    assert_eq!(
        told("Your stopped API token “old laptop” is still being presented"),
        1,
        "{subjects:#?}"
    );
    assert_eq!(
        told("Your API token “old laptop” was used from a new address"),
        0,
        "{subjects:#?}"
    );
    assert_eq!(
        subjects.len(),
        2,
        "created and still presented: {subjects:#?}"
    );
    let logged = "SELECT COUNT(*) AS n FROM security_events WHERE kind = 'token_used_from_new_ip'";
    assert_eq!(count(&app.db, logged), 0);
}
