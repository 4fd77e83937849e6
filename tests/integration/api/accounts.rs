//! Accounts, sessions, CSRF on forms, throttling, headers and logs (the foundation).

use chrono::Duration;
use reqwest::StatusCode;

use crate::helpers::{client, csrf_in, logs, TestApp, TestDb, User, PASSWORD};

#[actix_web::test]
async fn health_is_ok_once_the_database_answers() {
    let app = TestApp::spawn().await;
    let res = app.get("/healthz").await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[actix_web::test]
async fn signup_lands_on_the_tokens_page() {
    let app = TestApp::spawn().await;
    let anonymous = app.get("/settings/tokens").await;
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
    assert_eq!(anonymous.headers()["location"], "/login");

    let ada = app.with_user("ada@example.com").await;
    let page = ada.get_html("/settings/tokens").await;
    assert!(page.contains("ada@example.com"));
    assert!(page.contains("API tokens"));
}

/// `user` signed in again on a new browser: that browser, and its session cookie as the login
/// set it (`name=value`). A plain request never sets it again.
async fn another_sign_in(user: &User) -> (TestApp, String) {
    let browser = user.new_browser();
    let res = browser.login(&user.email, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("mm_session="))
        .expect("a session cookie at login")
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    (browser, cookie)
}

#[actix_web::test]
async fn logout_kills_the_old_cookie() {
    let ada = TestApp::spawn().await.with_user("ada@example.com").await;
    // Keep the cookie as it was while logged in, then log out.
    let (browser, old_cookie) = another_sign_in(&ada).await;
    let csrf = browser.page_csrf().await;
    let res = browser.post_form("/logout", &[("csrf_token", &csrf)]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/login");

    let replay = client()
        .get(ada.url("/settings/tokens"))
        .header("cookie", &old_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(
        replay.status(),
        StatusCode::SEE_OTHER,
        "the old cookie must not work after logout"
    );
    assert_eq!(replay.headers()["location"], "/login");
}

#[actix_web::test]
async fn before_login_there_is_only_the_forms_csrf_cookie() {
    let app = TestApp::spawn().await;
    let login_page = app.get("/login").await;
    let before = login_page.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(before.starts_with("mm_csrf="), "{before}");
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(before.contains(attr), "{before} lacks {attr}");
    }
    let csrf = csrf_in(&login_page.text().await.unwrap());
    assert!(!csrf.is_empty());
}

#[actix_web::test]
async fn the_session_cookie_has_the_promised_attributes_and_changes_at_login() {
    let app = TestApp::spawn().await;
    app.with_user("attrs@example.com").await;
    // A new browser, signed in once, then signing in again over that session.
    let fresh = app.new_browser();
    let mut cookies = Vec::new();
    for _ in 0..2 {
        let res = fresh.login("attrs@example.com", PASSWORD).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let after = res.headers()["set-cookie"].to_str().unwrap().to_owned();
        assert!(after.starts_with("mm_session="), "{after}");
        for attr in ["HttpOnly", "SameSite=Lax", "Path=/"] {
            assert!(after.contains(attr), "{after} lacks {attr}");
        }
        assert!(!after.contains("Domain"), "{after}");
        assert!(
            !after.contains("Secure"),
            "no Secure on an http public URL: {after}"
        );
        cookies.push(after.split(';').next().unwrap().to_owned());
    }
    assert_ne!(
        cookies[0], cookies[1],
        "the session id must change at login"
    );
}

#[actix_web::test]
async fn a_sign_up_without_a_valid_csrf_token_is_refused_and_creates_nothing() {
    let app = TestApp::spawn().await;
    let _ = app.get_html("/signup").await;
    for fields in [
        vec![("email", "mallory@example.com"), ("password", PASSWORD)],
        vec![
            ("email", "mallory@example.com"),
            ("password", PASSWORD),
            ("csrf_token", "forged"),
        ],
    ] {
        let res = app.post_form("/signup", &fields).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert!(res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
    }
    let res = app.login("mallory@example.com", PASSWORD).await;
    assert_eq!(
        res.status(),
        StatusCode::UNAUTHORIZED,
        "the refused sign-up must not have created the account"
    );
}

#[actix_web::test]
async fn a_logout_without_the_csrf_token_is_refused() {
    let victim = TestApp::spawn().await.with_user("victim@example.com").await;
    let res = victim.post_form("/logout", &[]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        victim.get("/settings/tokens").await.status(),
        StatusCode::OK,
        "still logged in"
    );
    let res = victim
        .post_form("/logout", &[("csrf_token", &victim.csrf)])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}

#[actix_web::test]
async fn every_page_carries_the_csrf_meta_tag_and_security_headers() {
    let app = TestApp::spawn().await;
    for path in ["/login", "/signup"] {
        let res = app.get(path).await;
        let headers = res.headers().clone();
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert!(headers.contains_key("referrer-policy"));
        let html = res.text().await.unwrap();
        assert!(
            html.contains(r#"<meta name="csrf-token" content=""#),
            "{path}"
        );
        assert!(!html.contains("<script>"), "no inline script on {path}");
    }
    let user = app.with_user("meta@example.com").await;
    for path in ["/settings/tokens", "/settings/tokens/new"] {
        let html = user.get_html(path).await;
        assert!(!csrf_in(&html).is_empty(), "{path}");
    }
}

/// Posts the sign-up form from `app`'s browser.
async fn sign_up_with(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    let csrf = csrf_in(&app.get_html("/signup").await);
    app.post_form(
        "/signup",
        &[
            ("email", email),
            ("password", password),
            ("csrf_token", &csrf),
        ],
    )
    .await
}

#[actix_web::test]
async fn a_short_password_is_refused_and_the_email_kept() {
    let app = TestApp::spawn().await;
    let res = sign_up_with(&app, "short@example.com", "123456789").await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(html.contains("at least 10 characters"));
    assert!(
        html.contains(r#"value="short@example.com""#),
        "the email is kept"
    );
}

#[actix_web::test]
async fn a_malformed_email_is_refused() {
    let app = TestApp::spawn().await;
    let res = sign_up_with(&app, "not-an-email", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

/// Addresses that a mail client would read as a name, a second address or a list: an account
/// with one could choose where, and under whose name, its mail goes.
const NOT_ONE_PLAIN_ADDRESS: [&str; 7] = [
    "<alice@example.com>",
    "Alice <alice@example.com>",
    "=?utf-8?q?alice?=@example.com",
    "a@evil.example,victim@example.com",
    "alice@example.com (Alice)",
    "\"alice\"@example.com",
    "alice@example.com\r\nBcc: victim@example.com",
];

#[actix_web::test]
async fn an_email_is_one_plain_address_or_nothing_is_stored() {
    let app = TestApp::spawn().await;
    for email in NOT_ONE_PLAIN_ADDRESS {
        let res = sign_up_with(&app.new_browser(), email, PASSWORD).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{email:?}");
        let html = res.text().await.unwrap();
        assert!(
            html.contains(r#"<p class="field-error" id="email-error">Enter one email address like name@example.com, without a name, brackets or spaces.</p>"#),
            "{email:?}: {html}"
        );
    }
    assert_eq!(app.db.count("SELECT COUNT(*) AS n FROM users"), 0);

    let out = app.cli_with_stdin(
        &["user", "create", "--email", "Ops <ops@example.com>"],
        "piped password 123\n",
    );
    assert!(!out.status.success(), "the command line refuses it too");
    assert!(String::from_utf8_lossy(&out.stderr).contains("Enter one email address"));
    assert_eq!(app.db.count("SELECT COUNT(*) AS n FROM users"), 0);

    // The plain address is welcome, in any case.
    let res = sign_up_with(&app.new_browser(), "Alice@Example.com", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}

#[actix_web::test]
async fn emails_are_unique_and_compared_case_insensitively() {
    let app = TestApp::spawn().await;
    app.with_user("Grace@Example.com").await;
    let other = app.new_browser();
    let res = sign_up_with(&other, "grace@EXAMPLE.com", PASSWORD).await;
    assert_eq!(
        res.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "emails are unique case-insensitively"
    );
    let res = other.login("GRACE@example.COM", PASSWORD).await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "login compares emails case-insensitively"
    );
}

#[actix_web::test]
async fn wrong_password_and_unknown_email_look_the_same_and_are_throttled() {
    let app = TestApp::spawn().await;
    app.with_user("linus@example.com").await;
    let guesser = app.new_browser();
    let wrong = guesser.login("linus@example.com", "not the password").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let wrong = wrong.text().await.unwrap();
    let unknown = guesser
        .login("nobody@example.com", "not the password")
        .await;
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    let unknown = unknown.text().await.unwrap();
    assert!(wrong.contains("Wrong email or password."));
    assert!(unknown.contains("Wrong email or password."));

    for _ in 0..8 {
        assert_eq!(
            guesser
                .login("linus@example.com", "still wrong")
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
    }
    // Ten failures for this email within a minute: the next attempt waits, even with the right password.
    let limited = guesser.login("linus@example.com", PASSWORD).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");

    guesser.clock.advance(Duration::seconds(61));
    assert_eq!(
        guesser.login("linus@example.com", PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
}

#[actix_web::test]
async fn a_restart_keeps_people_logged_in() {
    let app = TestApp::spawn().await;
    let user = app.with_user("restart@example.com").await;
    let restarted = TestApp::spawn_on(app.db.clone(), app.clock.clone()).await;
    // The same browser (cookie jar) talks to the new server process on the same database.
    let res = user
        .client
        .get(restarted.url("/settings/tokens"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("restart@example.com"));
}

#[actix_web::test]
async fn a_session_ends_after_12_hours_idle() {
    let idle = TestApp::spawn().await.with_user("idle@example.com").await;
    idle.clock.advance(Duration::hours(11));
    assert_eq!(
        idle.get("/settings/tokens").await.status(),
        StatusCode::OK,
        "11 h idle is fine"
    );
    idle.clock
        .advance(Duration::hours(12) + Duration::minutes(1));
    assert_eq!(
        idle.get("/settings/tokens").await.status(),
        StatusCode::SEE_OTHER,
        "12 h idle ends it"
    );
}

#[actix_web::test]
async fn a_session_ends_7_days_after_login_however_busy() {
    let busy = TestApp::spawn().await.with_user("busy@example.com").await;
    for _ in 0..15 {
        busy.clock.advance(Duration::hours(11));
        assert_eq!(busy.get("/settings/tokens").await.status(), StatusCode::OK);
    }
    busy.clock.advance(Duration::hours(4)); // 169 h since login, never idle for long
    assert_eq!(
        busy.get("/settings/tokens").await.status(),
        StatusCode::SEE_OTHER,
        "7 days in all ends it"
    );
}

/// The statements the server ran for one `GET /api/me` of `user`'s browser (200 asserted).
async fn statements_of_me(user: &User) -> u64 {
    let before = user.state.queries.get();
    assert_eq!(user.get("/api/me").await.status(), StatusCode::OK);
    user.state.queries.get() - before
}

/// The "Last seen" of the one session on `user`'s sessions page (to the second).
async fn last_seen(user: &User) -> String {
    let page = user.get_html("/settings/sessions").await;
    let marker = r#"data-label="Last seen"><time datetime=""#;
    let rest = &page[page.find(marker).expect("a session row") + marker.len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

#[actix_web::test]
async fn a_session_request_is_one_read_and_slides_the_idle_expiry_at_most_once_a_minute() {
    let ada = TestApp::spawn().await.with_user("slide@example.com").await;
    let at_login = last_seen(&ada).await;
    // The test clock runs with real time: margins of seconds, not milliseconds. At most one
    // read: none on SQLite while nothing was committed (`db::exact_cache`).
    for _ in 0..2 {
        ada.clock.advance(Duration::seconds(25));
        assert!(statements_of_me(&ada).await <= 1, "one read, no write");
    }
    assert_eq!(
        last_seen(&ada).await,
        at_login,
        "nothing written within the minute"
    );

    ada.clock.advance(Duration::seconds(15)); // 65 s since login
    let slide = statements_of_me(&ada).await;
    // On PostgreSQL the request then settles the slide (`routes::settle_changes`): a few
    // statements more, on the pool, once a minute.
    let most = match *ada.db {
        TestDb::Sqlite { .. } => 2,
        TestDb::Postgres { .. } => 20,
    };
    assert!(
        (1..=most).contains(&slide),
        "the read, and the slide: {slide}"
    );
    assert_ne!(
        last_seen(&ada).await,
        at_login,
        "the slide notes the request"
    );
    assert!(statements_of_me(&ada).await <= 1, "slid: no write again");

    // What the store read with the session for this request is never written into the row,
    // not even when the request changes the session's state.
    let res = ada
        .session(reqwest::Method::POST, "/api/session/reauthenticate")
        .json(&serde_json::json!({ "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        ada.db
            .count("SELECT COUNT(*) AS n FROM sessions WHERE state LIKE '%slide@example.com%'"),
        0,
        "the user's row stays out of the session's state"
    );
    assert!(statements_of_me(&ada).await <= 1);
}

#[actix_web::test]
async fn an_account_deleted_behind_the_apps_back_is_signed_out() {
    let gone = TestApp::spawn().await.with_user("gone@example.com").await;
    assert_eq!(gone.get("/api/me").await.status(), StatusCode::OK);
    // Without the app's foreign-key pragma on SQLite the session row outlives its user here;
    // on PostgreSQL the cascade deletes it. Signed out either way.
    gone.db
        .execute_settled("DELETE FROM users WHERE email = 'gone@example.com'");
    assert_eq!(gone.get("/api/me").await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        gone.get("/settings/tokens").await.status(),
        StatusCode::SEE_OTHER
    );
}

#[actix_web::test]
async fn logs_never_contain_passwords_cookies_or_tokens() {
    let user = TestApp::spawn().await.with_user("logs@example.com").await;
    let (_, cookie) = another_sign_in(&user).await;
    let cookie = cookie.trim_start_matches("mm_session=");
    let token = user
        .with_token("log check", &["publish"], "1m")
        .await
        .plaintext;
    assert_eq!(
        user.bearer_get("/api/me", &token).await.status(),
        StatusCode::OK
    );
    // The query string is not logged either, so a token pasted there does not leak.
    let _ = user.get(&format!("/api/me?access_token={token}")).await;
    let _ = user.login("logs@example.com", "a wrong password").await;

    let logs = logs();
    assert!(logs.contains("/api/me"), "request lines are logged");
    for secret in [
        PASSWORD,
        "a wrong password",
        cookie,
        token.as_str(),
        user.csrf.as_str(),
    ] {
        assert!(!logs.contains(secret), "a secret reached the logs");
    }
}

async fn change_password(user: &User, current: &str, new: &str) -> reqwest::Response {
    user.post_form(
        "/settings/password",
        &[
            ("current_password", current),
            ("new_password", new),
            ("csrf_token", &user.csrf),
        ],
    )
    .await
}

/// One person logged in on a laptop and on a phone.
async fn laptop_and_phone(email: &str) -> (User, TestApp) {
    let laptop = TestApp::spawn().await.with_user(email).await;
    let phone = laptop.new_browser();
    assert_eq!(
        phone.login(email, PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(phone.get("/settings/tokens").await.status(), StatusCode::OK);
    (laptop, phone)
}

#[actix_web::test]
async fn a_failed_password_change_ends_no_session() {
    let (laptop, phone) = laptop_and_phone("rotate@example.com").await;
    let wrong = change_password(&laptop, "not it at all", "a brand new password").await;
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        phone.get("/settings/tokens").await.status(),
        StatusCode::OK,
        "a failed change ends nothing"
    );
}

#[actix_web::test]
async fn a_password_change_ends_every_other_session_but_no_token() {
    let (laptop, phone) = laptop_and_phone("rotate@example.com").await;
    let token = laptop.with_token("survives", &["publish"], "1y").await;
    let res = change_password(&laptop, PASSWORD, "a brand new password").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(
        laptop
            .get_html("/settings/tokens")
            .await
            .contains("Password changed"),
        "this browser stays in"
    );
    assert_eq!(
        phone.get("/settings/tokens").await.status(),
        StatusCode::SEE_OTHER,
        "the other session ended"
    );
    assert_eq!(
        phone.login("rotate@example.com", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        phone
            .login("rotate@example.com", "a brand new password")
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        laptop
            .bearer_get("/api/me", &token.plaintext)
            .await
            .status(),
        StatusCode::OK,
        "tokens are not sessions"
    );
}

#[actix_web::test]
async fn an_internal_error_is_logged_and_shows_nothing_of_its_cause() {
    let user = TestApp::spawn().await.with_user("broken@example.com").await;
    let token = user.with_token("ops", &["billing.read"], "1y").await;
    user.db.execute("DROP TABLE invoices");

    let res = user
        .bearer_get("/api/billing/invoices", &token.plaintext)
        .await;
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = res.text().await.unwrap();
    assert_eq!(
        body,
        "{\"error\":{\"code\":\"internal\",\"message\":\"Something went wrong on our side.\"}}\n"
    );
    let logs = logs();
    let cause_logged = logs.lines().any(|l| {
        l.contains("internal error")
            && (l.contains("no such table: invoices")
                || l.contains(r#"relation "invoices" does not exist"#))
    });
    assert!(cause_logged, "the cause is logged for the operators");
}

#[actix_web::test]
async fn the_command_line_migrates_and_refuses_a_short_password() {
    let app = TestApp::spawn().await;
    let out = app.cli(&["migrate"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = app.cli_with_stdin(&["user", "create", "--email", "Ops@Example.com"], "short\n");
    assert!(!out.status.success(), "a short password is refused");
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 10 characters"));
}

#[actix_web::test]
async fn the_command_line_creates_an_account_from_stdin_once() {
    let app = TestApp::spawn().await;
    let out = app.cli_with_stdin(
        &["user", "create", "--email", "Ops@Example.com"],
        "piped password 123\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("piped password"),
        "the password is never echoed"
    );
    assert_eq!(
        app.login("ops@example.com", "piped password 123")
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    let again = app.cli_with_stdin(
        &["user", "create", "--email", "ops@example.com"],
        "piped password 123\n",
    );
    assert!(!again.status.success(), "emails are unique");
}
