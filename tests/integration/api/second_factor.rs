//! A second factor (SPEC §3.1): TOTP enrolled and confirmed, asked after the password at login
//! and at re-authentication, each code good once, wrong ones throttled; recovery codes good
//! once; projects that require one of their members' tokens. Codes are computed here from the
//! secret the enrolment showed and the server's own (injectable) clock.

use chrono::{Duration, NaiveDateTime};
use mantel::auth::totp::{step_at, TotpSecret};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{csrf_in, error_code, TestApp, User, PASSWORD};

/// Moves the server's clock to one second into a fresh 30-second step, so the codes computed
/// below stay the server's current ones for the rest of the test step.
fn start_of_step(app: &TestApp) {
    let into = app.clock.now().and_utc().timestamp().rem_euclid(30);
    app.clock.advance(Duration::seconds(30 - into + 1));
}

/// The code of the step `offset` steps from the server's now.
fn code(secret: &TotpSecret, now: NaiveDateTime, offset: i64) -> String {
    secret.code_at(step_at(now) + offset)
}

/// Enrols an authenticator for `user` through the JSON API; its secret and recovery codes.
async fn enrol(user: &User) -> (TotpSecret, Vec<String>) {
    let res = user
        .session(Method::POST, "/api/account/totp")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    let secret = TotpSecret::from_base32(body["secret"].as_str().unwrap()).unwrap();
    let uri = body["otpauthUri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/Mantel%3A"), "{uri}");
    assert!(
        uri.contains(&format!("secret={}", secret.base32())),
        "{uri}"
    );
    start_of_step(user);
    let now = user.clock.now();
    let res = confirm(user, &code(&secret, now, 0)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    let codes: Vec<String> = body["recoveryCodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 10);
    (secret, codes)
}

async fn confirm(user: &User, code: &str) -> reqwest::Response {
    user.session(Method::POST, "/api/account/totp/confirm")
        .json(&json!({ "code": code }))
        .send()
        .await
        .unwrap()
}

/// A new browser that logged in with the password: halfway, at the second step.
async fn halfway(app: &TestApp, email: &str) -> TestApp {
    let browser = app.new_browser();
    let res = browser.login(email, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/login/verify");
    browser
}

/// Posts the second step's form.
async fn verify(browser: &TestApp, code: &str) -> reqwest::Response {
    let res = browser.get("/login/verify").await;
    let csrf = if res.status() == StatusCode::OK {
        csrf_in(&res.text().await.unwrap())
    } else {
        csrf_in(&browser.get_html("/login").await)
    };
    browser
        .post_form("/login/verify", &[("code", code), ("csrf_token", &csrf)])
        .await
}

async fn reauthenticate(user: &User, code: Option<&str>) -> reqwest::Response {
    let mut body = json!({ "password": PASSWORD });
    if let Some(code) = code {
        body["code"] = json!(code);
    }
    user.session(Method::POST, "/api/session/reauthenticate")
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn log_kinds(user: &User) -> Vec<String> {
    let log: Vec<Value> = user.get("/api/security-log").await.json().await.unwrap();
    log.iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect()
}

#[actix_web::test]
async fn login_asks_for_the_code_after_the_password_and_a_code_is_good_once() {
    let app = TestApp::spawn().await;
    let user = app.with_user("totp@example.com").await;
    // A wrong first code confirms nothing.
    user.session(Method::POST, "/api/account/totp")
        .send()
        .await
        .unwrap();
    let res = confirm(&user, "000000").await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(res).await, "validation_failed");
    let fresh = halfway_or_in(&app, "totp@example.com").await;
    assert_eq!(fresh, "/settings/tokens", "not on until confirmed");

    let (secret, _) = enrol(&user).await;
    let used = code(&secret, user.clock.now(), 0);
    assert!(log_kinds(&user)
        .await
        .contains(&"second_factor_added".to_owned()));

    let browser = halfway(&app, "totp@example.com").await;
    // Halfway: nothing else works, on pages or the API.
    let res = browser.get("/settings/tokens").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/login/verify");
    let res = browser.get("/api/me").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(res).await, "unauthenticated");
    // The code that confirmed the enrolment was used: refused, and logged as a failed login.
    let res = verify(&browser, &used).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.text().await.unwrap().contains("That code is not right"));
    // The next step's code signs in.
    app.clock.advance(Duration::seconds(30));
    let fresh = code(&secret, app.clock.now(), 0);
    let res = verify(&browser, &fresh).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/settings/tokens");
    assert_eq!(browser.get("/api/me").await.status(), StatusCode::OK);
    // The same code in another browser is refused: good once, whichever session.
    let other = halfway(&app, "totp@example.com").await;
    assert_eq!(
        verify(&other, &fresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let kinds = log_kinds(&user).await;
    assert!(kinds.contains(&"login".to_owned()), "{kinds:?}");
    assert!(kinds.contains(&"login_failed".to_owned()), "{kinds:?}");
}

/// Where a fresh login with the password lands.
async fn halfway_or_in(app: &TestApp, email: &str) -> String {
    let res = app.new_browser().login(email, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    res.headers()["location"].to_str().unwrap().to_owned()
}

#[actix_web::test]
async fn codes_are_accepted_one_step_either_side_never_older_than_the_last() {
    let app = TestApp::spawn().await;
    let user = app.with_user("edges@example.com").await;
    let (secret, _) = enrol(&user).await;
    app.clock.advance(Duration::seconds(120));
    start_of_step(&app);
    let now = app.clock.now();
    // Two steps back: too old. Each check is re-authentication (password and code).
    let res = reauthenticate(&user, Some(&code(&secret, now, -2))).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = res.json().await.unwrap();
    assert!(body["error"]["fields"]["code"].is_string(), "{body}");
    // Two steps ahead: too new.
    let res = reauthenticate(&user, Some(&code(&secret, now, 2))).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // One back, then now, then one ahead: each later than the last, each accepted.
    for offset in [-1, 0, 1] {
        let res = reauthenticate(&user, Some(&code(&secret, now, offset))).await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT, "offset {offset}");
    }
    // Now's code again, after the one ahead: older than the last accepted, refused.
    let res = reauthenticate(&user, Some(&code(&secret, now, 0))).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Without a code, the password alone is not enough.
    let res = reauthenticate(&user, None).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[actix_web::test]
async fn wrong_codes_are_throttled_like_passwords() {
    let app = TestApp::spawn().await;
    let user = app.with_user("guess@example.com").await;
    let (secret, _) = enrol(&user).await;
    app.clock.advance(Duration::seconds(30));
    let browser = halfway(&app, "guess@example.com").await;
    for _ in 0..10 {
        assert_eq!(
            verify(&browser, "123456").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    // The eleventh attempt in the minute is refused, right or not, and signs nobody in.
    let right = code(&secret, app.clock.now(), 0);
    let res = verify(&browser, &right).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key("retry-after"));
    assert_eq!(
        browser.get("/api/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    // The throttle is the account's, not the browser's.
    let other = halfway(&app, "guess@example.com").await;
    assert_eq!(
        verify(&other, &right).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // After the window, the right code signs in.
    app.clock.advance(Duration::seconds(61));
    let right = code(&secret, app.clock.now(), 0);
    let res = verify(&browser, &right).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/settings/tokens");
}

#[actix_web::test]
async fn the_second_step_waits_five_minutes() {
    let app = TestApp::spawn().await;
    let user = app.with_user("slow@example.com").await;
    let (secret, _) = enrol(&user).await;
    let browser = halfway(&app, "slow@example.com").await;
    app.clock
        .advance(Duration::minutes(5) + Duration::seconds(1));
    let res = browser.get("/login/verify").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/login");
    let res = verify(&browser, &code(&secret, app.clock.now(), 0)).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/login");
    assert_eq!(
        browser.get("/api/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[actix_web::test]
async fn recovery_codes_stand_in_once_and_are_replaced_after_reauthentication() {
    let app = TestApp::spawn().await;
    let user = app.with_user("lost@example.com").await;
    let (secret, codes) = enrol(&user).await;
    // Typed as people do: upper case, dashes and all.
    let browser = halfway(&app, "lost@example.com").await;
    let res = verify(&browser, &codes[0].to_uppercase()).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/settings/tokens");
    // Used: refused the second time.
    let again = halfway(&app, "lost@example.com").await;
    assert_eq!(
        verify(&again, &codes[0]).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let log: Vec<Value> = user
        .get("/api/security-log?kind=recovery_code_used")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["details"]["left"], 9);
    let notifications = user.get_html("/settings/notifications").await;
    assert!(notifications.contains("A recovery code was used to sign in"));
    assert!(notifications.contains("9 unused remain"));

    // New codes need a recent password and code.
    app.clock.advance(Duration::minutes(11));
    let res = user
        .session(Method::POST, "/api/account/recovery-codes")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(res).await, "reauthentication_required");
    let now = app.clock.now();
    assert_eq!(
        reauthenticate(&user, Some(&code(&secret, now, 0)))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let res = user
        .session(Method::POST, "/api/account/recovery-codes")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let fresh: Value = res.json().await.unwrap();
    let fresh = fresh["recoveryCodes"].as_array().unwrap().clone();
    assert_eq!(fresh.len(), 10);
    // An old code that was never used no longer works; a new one does.
    let old = halfway(&app, "lost@example.com").await;
    assert_eq!(
        verify(&old, &codes[1]).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let res = verify(&old, fresh[0].as_str().unwrap()).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(log_kinds(&user)
        .await
        .contains(&"recovery_codes_regenerated".to_owned()));
}

#[actix_web::test]
async fn removing_the_authenticator_needs_both_factors_again() {
    let app = TestApp::spawn().await;
    let user = app.with_user("remove@example.com").await;
    let (secret, _) = enrol(&user).await;
    // A token cannot touch it.
    let token = user.with_token("ci", &["publish"], "1y").await;
    let res = app
        .bearer(Method::DELETE, "/api/account/totp", &token.plaintext)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(res).await, "session_required");
    app.clock.advance(Duration::minutes(11));
    let res = user
        .session(Method::DELETE, "/api/account/totp")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(res).await, "reauthentication_required");
    let now = app.clock.now();
    assert_eq!(
        reauthenticate(&user, Some(&code(&secret, now, 0)))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let res = user
        .session(Method::DELETE, "/api/account/totp")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    // The password alone signs in again.
    assert_eq!(
        halfway_or_in(&app, "remove@example.com").await,
        "/settings/tokens"
    );
    let kinds = log_kinds(&user).await;
    assert!(kinds.contains(&"second_factor_removed".to_owned()));
    let notifications = user.get_html("/settings/notifications").await;
    assert!(notifications.contains("A second factor was added to your account"));
    assert!(notifications.contains("The second factor of your account was removed"));
}

#[actix_web::test]
async fn a_project_can_require_its_members_tokens_to_have_a_second_factor() {
    let app = TestApp::spawn().await;
    let owner = app.with_user("owner2fa@example.com").await;
    let member = app.with_user("member2fa@example.com").await;
    let project = owner.with_project("Strict").await;
    owner
        .add_member(&project, "member2fa@example.com", "editor")
        .await;
    let (_secret, _) = enrol(&owner).await;
    let token = member.with_token("deploy", &["publish"], "1y").await;
    let publish = || async {
        app.bearer(Method::POST, "/api/publish", &token.plaintext)
            .json(&json!({ "projectId": project }))
            .send()
            .await
            .unwrap()
    };
    assert_eq!(publish().await.status(), StatusCode::CREATED);

    let res = owner
        .session(
            Method::PUT,
            &format!("/api/projects/{project}/token-policy"),
        )
        .json(&json!({ "requireSecondFactor": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let policy: Value = res.json().await.unwrap();
    assert_eq!(policy["requireSecondFactor"], true);
    // The member has none: their token is blocked on this project, not revoked.
    let res = publish().await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(res).await, "second_factor_required");
    let res = app
        .bearer_get(
            &format!("/api/projects/{project}/publishes"),
            &token.plaintext,
        )
        .await;
    assert_eq!(error_code(res).await, "second_factor_required");
    // The owners' access page names who lacks one.
    let access = owner.get_html(&format!("/projects/{project}/access")).await;
    assert!(access.contains("member2fa@example.com"));
    assert!(!access.contains("<li>owner2fa@example.com</li>"));
    // The member adds one: the same token works there from the next request.
    enrol(&member).await;
    assert_eq!(publish().await.status(), StatusCode::CREATED);
    let access = owner.get_html(&format!("/projects/{project}/access")).await;
    assert!(access.contains("Every member has one."));
}

/// SPEC §9 and §3.1: the instance's token policy may require a second factor of everyone —
/// a creation without one is refused (403 `token_policy`, nothing made), a token made before
/// is blocked on every project (403 `second_factor_required`, not revoked), and both pass once
/// the account has enrolled an authenticator.
#[actix_web::test]
async fn the_instance_can_require_a_second_factor_of_everyone() {
    let app = TestApp::spawn().await;
    let boss = crate::api::admin::admin(&app, "boss@example.com").await;
    let alice = app.with_user("alice@example.com").await;
    let project = alice.with_project("Site").await;
    let older = alice.with_token("older", &["publish"], "1y").await;
    let publish = || async {
        app.bearer(Method::POST, "/api/publish", &older.plaintext)
            .json(&json!({ "projectId": project }))
            .send()
            .await
            .unwrap()
    };
    assert_eq!(publish().await.status(), StatusCode::CREATED);
    let res = boss
        .session(Method::PUT, "/api/admin/token-policy")
        .json(&json!({ "requireSecondFactor": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let policy: Value = res.json().await.unwrap();
    assert_eq!(policy["requireSecondFactor"], true);

    let body = json!({ "name": "deploy", "scopes": ["publish"], "expiry": "1m" });
    let res = alice.post_token(&body).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let refused: Value = res.json().await.unwrap();
    assert_eq!(refused["error"]["code"], "token_policy");
    assert!(refused["error"]["message"]
        .as_str()
        .unwrap()
        .contains("second factor"));
    assert_eq!(alice.tokens().await.len(), 1, "nothing made");
    let res = publish().await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(res).await, "second_factor_required");

    enrol(&alice).await;
    let res = alice.post_token(&body).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(publish().await.status(), StatusCode::CREATED);
}
