//! Accounts, sessions, CSRF on forms, throttling, headers and logs (the foundation).

use chrono::Duration;
use reqwest::StatusCode;

use crate::helpers::{csrf_in, logs, spawn_app, spawn_on, PASSWORD};

#[actix_web::test]
async fn health_is_ok_once_the_database_answers() {
    let app = spawn_app().await;
    let res = app.get("/healthz").await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[actix_web::test]
async fn signup_lands_on_the_tokens_page_and_logout_kills_the_old_cookie() {
    let app = spawn_app().await;
    let anonymous = app.get("/settings/tokens").await;
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
    assert_eq!(anonymous.headers()["location"], "/login");

    let csrf = app.signup("ada@example.com").await;
    let page = app.get_html("/settings/tokens").await;
    assert!(page.contains("ada@example.com"));
    assert!(page.contains("API tokens"));

    // Keep the cookie as it was while logged in, then log out.
    let old_cookie = app.get("/settings/tokens").await.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let res = app.post_form("/logout", &[("csrf_token", &csrf)]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/login");

    let replay = crate::helpers::client()
        .get(app.url("/settings/tokens"))
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
async fn session_cookie_has_the_promised_attributes_and_changes_at_login() {
    let app = spawn_app().await;
    let login_page = app.get("/login").await;
    // Before login there is no session, only the login form's CSRF cookie.
    let before = login_page.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(before.starts_with("mm_csrf="), "{before}");
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(before.contains(attr), "{before} lacks {attr}");
    }
    let csrf = csrf_in(&login_page.text().await.unwrap());
    let _ = app.signup("attrs@example.com").await;
    // A new client, signed in once, then signing in again over that session.
    let fresh = crate::helpers::TestApp {
        client: crate::helpers::client(),
        ..app
    };
    let mut cookies = Vec::new();
    let mut csrfs = Vec::new();
    for _ in 0..2 {
        let login_page = fresh.get("/login").await;
        let csrf2 = csrf_in(&login_page.text().await.unwrap());
        let res = fresh
            .post_form(
                "/login",
                &[
                    ("email", "attrs@example.com"),
                    ("password", PASSWORD),
                    ("csrf_token", &csrf2),
                ],
            )
            .await;
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
        csrfs.push(csrf2);
    }
    assert_ne!(
        cookies[0], cookies[1],
        "the session id must change at login"
    );
    assert!(!csrf.is_empty());
}

#[actix_web::test]
async fn a_form_post_without_a_valid_csrf_token_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
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

    let csrf = app.signup("victim@example.com").await;
    let res = app.post_form("/logout", &[]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        app.get("/settings/tokens").await.status(),
        StatusCode::OK,
        "still logged in"
    );
    let res = app.post_form("/logout", &[("csrf_token", &csrf)]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}

#[actix_web::test]
async fn every_page_carries_the_csrf_meta_tag_and_security_headers() {
    let app = spawn_app().await;
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
    app.signup("meta@example.com").await;
    for path in ["/settings/tokens", "/settings/tokens/new"] {
        let html = app.get_html(path).await;
        assert!(!csrf_in(&html).is_empty(), "{path}");
    }
}

#[actix_web::test]
async fn signup_rules_short_passwords_bad_and_taken_emails() {
    let app = spawn_app().await;
    let csrf = csrf_in(&app.get_html("/signup").await);
    let res = app
        .post_form(
            "/signup",
            &[
                ("email", "short@example.com"),
                ("password", "123456789"),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(html.contains("at least 10 characters"));
    assert!(
        html.contains(r#"value="short@example.com""#),
        "the email is kept"
    );

    let res = app
        .post_form(
            "/signup",
            &[
                ("email", "not-an-email"),
                ("password", PASSWORD),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);

    app.signup("Grace@Example.com").await;
    let other = crate::helpers::TestApp {
        client: crate::helpers::client(),
        ..app
    };
    let csrf = csrf_in(&other.get_html("/signup").await);
    let res = other
        .post_form(
            "/signup",
            &[
                ("email", "grace@EXAMPLE.com"),
                ("password", PASSWORD),
                ("csrf_token", &csrf),
            ],
        )
        .await;
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
    let app = spawn_app().await;
    app.signup("linus@example.com").await;
    let guesser = crate::helpers::TestApp {
        client: crate::helpers::client(),
        ..app
    };
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
    let app = spawn_app().await;
    app.signup("restart@example.com").await;
    let restarted = spawn_on(app.db.clone(), app.clock.clone()).await;
    // The same browser (cookie jar) talks to the new server process on the same database.
    let res = app
        .client
        .get(restarted.url("/settings/tokens"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("restart@example.com"));
}

#[actix_web::test]
async fn sessions_end_after_12_hours_idle_and_7_days_in_all() {
    let app = spawn_app().await;
    app.signup("idle@example.com").await;
    app.clock.advance(Duration::hours(11));
    assert_eq!(
        app.get("/settings/tokens").await.status(),
        StatusCode::OK,
        "11 h idle is fine"
    );
    app.clock
        .advance(Duration::hours(12) + Duration::minutes(1));
    assert_eq!(
        app.get("/settings/tokens").await.status(),
        StatusCode::SEE_OTHER,
        "12 h idle ends it"
    );

    let busy = crate::helpers::TestApp {
        client: crate::helpers::client(),
        ..app
    };
    busy.signup("busy@example.com").await;
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

#[actix_web::test]
async fn logs_never_contain_passwords_cookies_or_tokens() {
    let app = spawn_app().await;
    let csrf = app.signup("logs@example.com").await;
    let cookie = app.get("/settings/tokens").await.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("mm_session=")
        .to_owned();
    let token = app
        .create_token(&csrf, "log check", &["publish"], "1m")
        .await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.bearer_get("/api/me", &token).await.status(),
        StatusCode::OK
    );
    // The query string is not logged either, so a token pasted there does not leak.
    let _ = app.get(&format!("/api/me?access_token={token}")).await;
    let _ = app.login("logs@example.com", "a wrong password").await;

    let logs = logs();
    assert!(logs.contains("/api/me"), "request lines are logged");
    for secret in [
        PASSWORD,
        "a wrong password",
        cookie.as_str(),
        token.as_str(),
        csrf.as_str(),
    ] {
        assert!(!logs.contains(secret), "a secret reached the logs");
    }
}

#[actix_web::test]
async fn a_password_change_ends_every_other_session() {
    let laptop = spawn_app().await;
    let csrf = laptop.signup("rotate@example.com").await;
    let phone = laptop.new_browser();
    assert_eq!(
        phone.login("rotate@example.com", PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(phone.get("/settings/tokens").await.status(), StatusCode::OK);
    let token = laptop
        .create_token(&csrf, "survives", &["publish"], "1y")
        .await["token"]
        .as_str()
        .unwrap()
        .to_owned();

    let wrong = laptop
        .post_form(
            "/settings/password",
            &[
                ("current_password", "not it at all"),
                ("new_password", "a brand new password"),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        phone.get("/settings/tokens").await.status(),
        StatusCode::OK,
        "a failed change ends nothing"
    );

    let res = laptop
        .post_form(
            "/settings/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", "a brand new password"),
                ("csrf_token", &csrf),
            ],
        )
        .await;
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
        laptop.bearer_get("/api/me", &token).await.status(),
        StatusCode::OK,
        "tokens are not sessions"
    );
}

#[actix_web::test]
async fn an_internal_error_is_logged_and_shows_nothing_of_its_cause() {
    let app = spawn_app().await;
    let csrf = app.signup("broken@example.com").await;
    let token = app
        .create_token(&csrf, "ops", &["billing.read"], "1y")
        .await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    app.db.execute("DROP TABLE invoices");

    let res = app.bearer_get("/api/billing/invoices", &token).await;
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = res.text().await.unwrap();
    assert_eq!(
        body,
        r#"{"error":{"code":"internal","message":"Something went wrong on our side."}}"#
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
async fn the_command_line_creates_accounts_from_stdin_and_migrates() {
    let app = spawn_app().await;
    let out = app.cli(&["migrate"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = app.cli_with_stdin(&["user", "create", "--email", "Ops@Example.com"], "short\n");
    assert!(!out.status.success(), "a short password is refused");
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 10 characters"));
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
