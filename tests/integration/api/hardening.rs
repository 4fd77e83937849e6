//! The findings of the adversarial review (issue 9), each pinned over real HTTP.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{client, csrf_in, error_code, logs, TestApp, User, PASSWORD};

/// A browser driven by hand: the session cookie is a plain value we copy, as a thief would.
struct RawSession {
    cookie: String,
    csrf: String,
}

fn session_cookie(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("mm_session=") && !v.starts_with("mm_session=;"))
        .map(|v| v.split(';').next().unwrap().to_owned())
}

/// Logs in without a cookie jar and returns the session cookie and its page's CSRF token.
async fn raw_login(app: &TestApp, email: &str, password: &str) -> RawSession {
    let page = client().get(app.url("/login")).send().await.unwrap();
    let form_cookie = page.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let csrf = csrf_in(&page.text().await.unwrap());
    let res = client()
        .post(app.url("/login"))
        .header("cookie", &form_cookie)
        .form(&[
            ("email", email),
            ("password", password),
            ("csrf_token", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "login of {email}");
    let cookie = session_cookie(&res).expect("a session cookie at login");
    let page = client()
        .get(app.url("/settings/tokens"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    let csrf = csrf_in(&page.text().await.unwrap());
    RawSession { cookie, csrf }
}

async fn is_signed_in(app: &TestApp, cookie: &str) -> bool {
    let res = client()
        .get(app.url("/api/me"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    res.status() == StatusCode::OK
}

/// How often the session races run, and the most time they may take.
const TRIALS: usize = 100;
const RACE_BUDGET: Duration = Duration::from_secs(60);
/// Requests in each wave the thief fires while a logout or password change runs.
const THIEF_REQUESTS: usize = 5;

/// Sends `victim`'s request and, until it is answered, keeps firing the thief's
/// state-changing requests in waves (revoking an already revoked token sets a flash message,
/// so each writes the session). Returns every session cookie the thief was handed.
async fn race(
    app: &TestApp,
    stolen: &RawSession,
    revoked_id: &str,
    victim: reqwest::RequestBuilder,
) -> (Vec<String>, reqwest::Response) {
    let victim = actix_web::rt::spawn(victim.send());
    let mut cookies = Vec::new();
    loop {
        let done = victim.is_finished();
        let wave = (0..THIEF_REQUESTS).map(|_| {
            client()
                .post(app.url(&format!("/settings/tokens/{revoked_id}/revoke")))
                .header("cookie", &stolen.cookie)
                .form(&[("csrf_token", stolen.csrf.as_str())])
                .send()
        });
        cookies.extend(
            join_all(wave)
                .await
                .into_iter()
                .filter_map(|r| r.ok())
                .filter_map(|r| session_cookie(&r)),
        );
        if done {
            break;
        }
    }
    (cookies, victim.await.unwrap().unwrap())
}

/// A revoked token of the account, whose revoke form still answers (with a flash message).
async fn revoked_token(user: &User) -> String {
    let id = user.with_token("gone", &["publish"], "1y").await.id;
    let res = user.revoke(&id).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    id
}

#[actix_web::test]
async fn a_stolen_cookie_does_not_survive_logout_however_busy_it_is() {
    let app = TestApp::spawn().await;
    let revoked = revoked_token(&app.with_user("victim@example.com").await).await;
    let started = Instant::now();
    let (mut trials, mut handed_out) = (0, 0);
    while trials < TRIALS && started.elapsed() < RACE_BUDGET {
        let stolen = raw_login(&app, "victim@example.com", PASSWORD).await;
        let logout = client()
            .post(app.url("/logout"))
            .header("cookie", &stolen.cookie)
            .form(&[("csrf_token", stolen.csrf.as_str())]);
        let (cookies, res) = race(&app, &stolen, &revoked, logout).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        for cookie in cookies.iter().chain([&stolen.cookie]) {
            assert!(
                !is_signed_in(&app, cookie).await,
                "trial {trial}: a cookie is still signed in after logout",
                trial = trials
            );
        }
        handed_out += cookies.len();
        trials += 1;
    }
    assert!(trials >= 20, "only {trials} trials ran in {RACE_BUDGET:?}");
    eprintln!(
        "logout race: {trials} trials, {handed_out} cookies handed to the thief, none signed in"
    );
}

#[actix_web::test]
async fn a_stolen_cookie_does_not_survive_a_password_change_however_busy_it_is() {
    let app = TestApp::spawn().await;
    let revoked = revoked_token(&app.with_user("changer@example.com").await).await;
    let passwords = [PASSWORD, "another good password"];
    let started = Instant::now();
    let mut trials = 0;
    while trials < TRIALS && started.elapsed() < RACE_BUDGET {
        let (current, new) = (passwords[trials % 2], passwords[(trials + 1) % 2]);
        let stolen = raw_login(&app, "changer@example.com", current).await;
        let change = client()
            .post(app.url("/settings/password"))
            .header("cookie", &stolen.cookie)
            .form(&[
                ("current_password", current),
                ("new_password", new),
                ("csrf_token", stolen.csrf.as_str()),
            ]);
        let (cookies, res) = race(&app, &stolen, &revoked, change).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "trial {trials}");
        // The browser that changed the password keeps a fresh session; nobody else does.
        let own = session_cookie(&res).expect("the changer's new session");
        assert!(is_signed_in(&app, &own).await);
        for cookie in cookies.iter().chain([&stolen.cookie]) {
            assert_ne!(cookie, &own);
            assert!(
                !is_signed_in(&app, cookie).await,
                "trial {trials}: a cookie is still signed in after the password change"
            );
        }
        trials += 1;
        // The password throttle counts this account's checks: keep the test inside it.
        app.clock.advance(chrono::Duration::seconds(7));
    }
    assert!(trials >= 20, "only {trials} trials ran in {RACE_BUDGET:?}");
}

#[actix_web::test]
async fn thirty_concurrent_wrong_passwords_get_at_most_ten_checks() {
    let app = TestApp::spawn().await;
    app.with_user("target@example.com").await;
    let guesser = app.new_browser();
    let csrf = csrf_in(&guesser.get_html("/login").await);
    let guesses = (0..30).map(|i| {
        let password = format!("wrong guess {i}");
        let csrf = csrf.clone();
        let guesser = &guesser;
        async move {
            guesser
                .post_form(
                    "/login",
                    &[
                        ("email", "target@example.com"),
                        ("password", &password),
                        ("csrf_token", &csrf),
                    ],
                )
                .await
                .status()
        }
    });
    let statuses = join_all(guesses).await;
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let limited = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(checked + limited, 30, "{statuses:?}");
    assert!(checked <= 10, "{checked} passwords were checked");
}

#[actix_web::test]
async fn the_current_password_check_is_throttled_per_account() {
    let app = TestApp::spawn().await.with_user("oracle@example.com").await;
    let csrf = app.csrf.clone();
    let change = |current: &'static str| {
        let csrf = csrf.clone();
        let app = &app;
        async move {
            app.post_form(
                "/settings/password",
                &[
                    ("current_password", current),
                    ("new_password", "a brand new password"),
                    ("csrf_token", &csrf),
                ],
            )
            .await
        }
    };
    for _ in 0..10 {
        assert_eq!(
            change("a wrong guess").await.status(),
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }
    let limited = change(PASSWORD).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.headers().contains_key("retry-after"));
    // The right password after the limit changed nothing.
    let fresh = app.new_browser();
    assert_eq!(
        fresh.login("oracle@example.com", PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    app.clock.advance(chrono::Duration::seconds(61));
    assert_eq!(change(PASSWORD).await.status(), StatusCode::SEE_OTHER);
}

#[actix_web::test]
async fn a_cross_site_cookie_post_is_refused_before_its_body_is_read() {
    let user = TestApp::spawn().await.with_user("csrf@example.com").await;
    let (app, csrf) = (&user, user.csrf.clone());
    for (path, content_type, body) in [
        (
            "/api/tokens",
            "text/plain",
            "{\"name\":\"x\",\"scopes\":[\"publish\"]}",
        ),
        (
            "/api/tokens",
            "application/x-www-form-urlencoded",
            "name=x&scopes=publish",
        ),
        ("/api/projects", "text/plain", "not json at all"),
        ("/api/no-such-route", "text/plain", "{}"),
    ] {
        for (header, value) in [
            ("sec-fetch-site", "cross-site"),
            ("origin", "https://evil.example"),
        ] {
            let res = app
                .client
                .post(app.url(path))
                .header("content-type", content_type)
                .header(header, value)
                .header("x-csrf-token", &csrf)
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path} {header}");
            assert_eq!(error_code(res).await, "csrf_failed", "{path} {header}");
        }
    }
    // A cross-site form post to the dashboard is refused the same way, as a page.
    let res = app
        .client
        .post(app.url("/settings/tokens"))
        .header("sec-fetch-site", "cross-site")
        .form(&[("name", "x"), ("scopes", "publish"), ("csrf_token", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let tokens: Value = app
        .session_request(Method::GET, "/api/tokens", &csrf)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tokens, json!([]), "nothing was created");
}

#[actix_web::test]
async fn a_json_body_must_say_it_is_json() {
    let user = TestApp::spawn().await.with_user("mime@example.com").await;
    let (app, csrf) = (&user, user.csrf.clone());
    for content_type in [
        "text/json",
        "text/plain",
        "application/x-www-form-urlencoded",
    ] {
        let res = app
            .session_request(Method::POST, "/api/tokens", &csrf)
            .header("content-type", content_type)
            .body(r#"{"name":"typed","scopes":["publish"]}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type}"
        );
        assert_eq!(error_code(res).await, "unsupported_media_type");
    }
    let res = app
        .session_request(Method::POST, "/api/tokens", &csrf)
        .body(r#"{"name":"untyped","scopes":["publish"]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "no content type"
    );
    let res = app
        .session_request(Method::POST, "/api/tokens", &csrf)
        .header(
            "content-type",
            "application/merge-patch+json; charset=utf-8",
        )
        .body(r#"{"name":"suffixed","scopes":["publish"]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED, "+json is JSON");
}

fn session_rows(app: &TestApp) -> i64 {
    app.db.count("SELECT COUNT(*) AS n FROM sessions")
}

#[actix_web::test]
async fn visitors_who_are_not_logged_in_write_nothing() {
    let app = TestApp::spawn().await;
    for _ in 0..25 {
        for path in ["/login", "/signup", "/", "/settings/tokens"] {
            let res = client().get(app.url(path)).send().await.unwrap();
            assert!(res.status().is_success() || res.status().is_redirection());
        }
    }
    assert_eq!(session_rows(&app), 0);

    // The forms are still protected: a post without the form's cookie is refused.
    let csrf = csrf_in(&app.get_html("/signup").await);
    let forged = client()
        .post(app.url("/signup"))
        .form(&[
            ("email", "f@example.com"),
            ("password", PASSWORD),
            ("csrf_token", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(session_rows(&app), 0);
    // And with it, signing up works and makes exactly one session.
    app.with_user("real@example.com").await;
    assert_eq!(session_rows(&app), 1);
}

#[actix_web::test]
async fn a_token_pasted_into_a_path_is_logged_only_by_its_prefix() {
    let app = TestApp::spawn().await.with_user("paster@example.com").await;
    let token = app.with_token("pasted", &["publish"], "1y").await.plaintext;
    let res = app.get(&format!("/api/me/{token}")).await;
    assert!(res.status().is_client_error());
    let _ = app.get(&format!("/settings/{token}/x")).await;
    let logs = logs();
    assert!(!logs.contains(&token), "the token reached the log");
    assert!(
        logs.contains(&format!("/api/me/{}…", &token[..11])),
        "the masked path is logged"
    );
}

#[actix_web::test]
async fn sign_ups_are_throttled_per_address() {
    let app = TestApp::spawn().await;
    let csrf = csrf_in(&app.get_html("/signup").await);
    // Refused sign-ups count too: each one still answers whether an email is taken.
    for i in 0..20 {
        let email = format!("s{i}@example.com");
        let res = app
            .post_form(
                "/signup",
                &[
                    ("email", &email),
                    ("password", "short"),
                    ("csrf_token", &csrf),
                ],
            )
            .await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    let res = app
        .post_form(
            "/signup",
            &[
                ("email", "late@example.com"),
                ("password", PASSWORD),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key("retry-after"));
    app.clock.advance(chrono::Duration::minutes(61));
    app.with_user("late@example.com").await;
}

#[actix_web::test]
async fn adding_members_is_throttled_per_account() {
    let app = TestApp::spawn().await.with_user("owner@example.com").await;
    let csrf = app.csrf.clone();
    let project = app.with_project("Throttled").await;
    let add = |i: usize| {
        app.session_request(
            Method::POST,
            &format!("/api/projects/{project}/members"),
            &csrf,
        )
        .json(&json!({ "email": format!("nobody{i}@example.com"), "role": "viewer" }))
        .send()
    };
    for i in 0..60 {
        assert_eq!(
            add(i).await.unwrap().status(),
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }
    let res = add(60).await.unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key("retry-after"));
    assert_eq!(error_code(res).await, "rate_limited");
}

#[actix_web::test]
async fn names_cannot_hide_or_reverse_text() {
    let user = TestApp::spawn().await.with_user("spoof@example.com").await;
    let (app, csrf) = (&user, user.csrf.clone());
    for name in [
        "\u{202E}",
        "invoice\u{202E}fdp.exe",
        "\u{200B}\u{200B}",
        "\u{2066}ci\u{2069}",
        "\u{3164}",
    ] {
        let res = app
            .session_request(Method::POST, "/api/tokens", &csrf)
            .json(&json!({ "name": name, "scopes": ["publish"] }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{name:?}");
        let body: Value = res.json().await.unwrap();
        assert!(body["error"]["fields"]["name"].is_string(), "{body}");
        let res = app
            .session_request(Method::POST, "/api/projects", &csrf)
            .json(&json!({ "name": name }))
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "project {name:?}"
        );
    }
    let tokens: Value = app
        .session_request(Method::GET, "/api/tokens", &csrf)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tokens, json!([]));
}

async fn create_status(app: &TestApp, csrf: &str, name: impl AsRef<str>) -> StatusCode {
    let name = name.as_ref();
    app.session_request(Method::POST, "/api/tokens", csrf)
        .json(&json!({ "name": name, "scopes": ["publish"] }))
        .send()
        .await
        .unwrap()
        .status()
}

#[actix_web::test]
async fn concurrent_creates_keep_names_unique_and_the_cap() {
    let user = TestApp::spawn().await.with_user("burst@example.com").await;
    let (app, csrf) = (&user, user.csrf.clone());
    let statuses = join_all((0..16).map(|_| create_status(app, &csrf, "same name"))).await;
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNPROCESSABLE_ENTITY)
        .count();
    assert_eq!((created, refused), (1, 15), "{statuses:?}");

    for i in 1..98 {
        assert_eq!(
            create_status(app, &csrf, format!("t{i}")).await,
            StatusCode::CREATED
        );
    }
    // 98 live: of 16 concurrent creates, exactly two fit under the cap of 100.
    let statuses = join_all((0..16).map(|i| create_status(app, &csrf, format!("late {i}")))).await;
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    assert_eq!(created, 2, "{statuses:?}");
    assert_eq!(
        app.db
            .count("SELECT COUNT(*) AS n FROM api_tokens WHERE revoked_at IS NULL"),
        100
    );
}

/// One person on a laptop and on a phone (whose browser says so); the laptop, the phone, and
/// the id of the phone's session as the laptop's sessions page offers to end it.
async fn laptop_and_phone() -> (User, TestApp, String) {
    let laptop = TestApp::spawn().await.with_user("two@example.com").await;
    let phone = laptop.new_browser();
    let res = phone
        .client
        .get(phone.url("/login"))
        .header("user-agent", "PhoneBrowser/1.0")
        .send()
        .await
        .unwrap();
    let csrf = csrf_in(&res.text().await.unwrap());
    let res = phone
        .client
        .post(phone.url("/login"))
        .header("user-agent", "PhoneBrowser/1.0")
        .form(&[
            ("email", "two@example.com"),
            ("password", PASSWORD),
            ("csrf_token", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let page = laptop.get_html("/settings/sessions").await;
    // The one form on the page ends the phone's session: the laptop's own row has none.
    let marker = "action=\"/settings/sessions/";
    assert_eq!(page.matches(marker).count(), 1, "{page}");
    let start = page.find(marker).unwrap() + marker.len();
    let phone_session = page[start..start + page[start..].find('/').unwrap()].to_owned();
    (laptop, phone, phone_session)
}

#[actix_web::test]
async fn people_see_their_sessions() {
    let (laptop, _phone, _) = laptop_and_phone().await;
    let page = laptop.get_html("/settings/sessions").await;
    assert!(page.contains("PhoneBrowser/1.0"), "{page}");
    assert!(page.contains("127.0.0.1"));
    assert_eq!(page.matches("This browser").count(), 1);
}

#[actix_web::test]
async fn someone_else_cannot_end_a_session() {
    let (laptop, phone, phone_session) = laptop_and_phone().await;
    let stranger = laptop.with_user("stranger@example.com").await;
    let res = stranger
        .post_form(
            &format!("/settings/sessions/{phone_session}/end"),
            &[("csrf_token", &stranger.csrf)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(phone.get("/settings/tokens").await.status(), StatusCode::OK);
}

#[actix_web::test]
async fn ending_a_session_logs_that_browser_out_and_only_it() {
    let (laptop, phone, phone_session) = laptop_and_phone().await;
    let res = laptop
        .post_form(
            &format!("/settings/sessions/{phone_session}/end"),
            &[("csrf_token", &laptop.csrf)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(laptop
        .get_html("/settings/sessions")
        .await
        .contains("Session ended"));
    assert_eq!(
        phone.get("/settings/tokens").await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        laptop.get("/settings/tokens").await.status(),
        StatusCode::OK
    );
}

/// A request the HTTP parser refuses (a header line without a colon) is answered 400 and
/// logged by the real binary as a warning: an ERROR line means something is wrong here.
#[actix_web::test]
async fn a_malformed_request_is_logged_as_a_warning_not_an_error() {
    use std::io::{Read, Write};
    let db = crate::helpers::TestDb::new();
    crate::helpers::migrate(&db.url());
    let server = crate::helpers::Instance::start(&db.url());
    let address = server.url("").trim_start_matches("http://").to_owned();
    let mut stream = std::net::TcpStream::connect(&address).unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: mantel.test\r\nNo colon here\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");

    let deadline = Instant::now() + Duration::from_secs(10);
    let log = loop {
        let log = server.log();
        if log.iter().any(|l| l.contains("malformed request")) {
            break log;
        }
        assert!(Instant::now() < deadline, "no warning logged: {log:#?}");
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    };
    let warning = log
        .iter()
        .find(|l| l.contains("malformed request"))
        .unwrap();
    assert!(warning.contains(" WARN "), "{warning}");
    assert!(!log.iter().any(|l| l.contains(" ERROR ")), "{log:#?}");
}
