//! An authenticator app enrolled on /settings/security (its QR code and key, confirmed by a
//! first code, the recovery codes shown once), then a login that asks for its code; axe-core
//! over each of these screens at a desktop's width and a phone's.

use chrono::Duration;
use mantel::auth::totp::{step_at, TotpSecret};

use crate::browser::steps::sign_up;
use crate::helpers::axe;
use crate::helpers::browser::{Browser, DESKTOP, PHONE};
use crate::helpers::{TestApp, PASSWORD};

#[actix_web::test]
async fn an_authenticator_is_enrolled_and_asked_for_at_login_on_a_desktop() {
    enrol_and_log_in(DESKTOP, "desktop").await;
}

#[actix_web::test]
async fn an_authenticator_is_enrolled_and_asked_for_at_login_on_a_phone() {
    enrol_and_log_in(PHONE, "phone").await;
}

async fn enrol_and_log_in(size: (u32, u32), label: &str) {
    let app = TestApp::spawn().await;
    let Some(b) = Browser::open(&app.address).await else {
        return;
    };
    b.resize(size).await;
    let check = |screen: &str| format!("{screen} ({label})");
    let email = format!("totp-{label}@example.com");
    sign_up(&b, &email).await;

    b.click(".account-menu summary").await;
    b.click(".account-menu a[href='/settings/security']").await;
    b.arrive("/settings/security").await;
    assert!(b.text("#totp-status").await.starts_with("Off."));
    axe::check(&b, &check("security, off")).await;
    b.click("form[action='/settings/security/totp'] button")
        .await;
    b.arrive("/settings/security").await;
    assert!(b.visible("figure.qr svg").await, "the QR code is drawn");
    axe::check(&b, &check("security, enrolling")).await;
    b.screenshot(&format!("60-totp-enrolling-{label}")).await;

    // What a person does with their phone: the app reads the key, shows a code.
    let secret = TotpSecret::from_base32(&b.text("#totp-secret").await).unwrap();
    b.type_into("#code", "000000").await;
    b.click("form[action='/settings/security/totp/confirm'] button")
        .await;
    b.wait_visible("#code-error").await;
    axe::check(&b, &check("security, wrong code")).await;
    let code = secret.code_at(step_at(app.clock.now()));
    b.type_into("#code", &code).await;
    b.click("form[action='/settings/security/totp/confirm'] button")
        .await;
    b.wait_visible("#recovery-codes").await;
    let codes = b.text("#recovery-codes").await;
    assert_eq!(
        codes.lines().filter(|l| !l.trim().is_empty()).count(),
        10,
        "{codes}"
    );
    axe::check(&b, &check("recovery codes")).await;
    b.screenshot(&format!("61-recovery-codes-{label}")).await;
    b.click("a[href='/settings/security'].button").await;
    b.arrive("/settings/security").await;
    assert!(b.text("#totp-status").await.starts_with("On."));
    axe::check(&b, &check("security, on")).await;

    // Signed out, the password alone is no longer enough.
    b.click(".account-menu summary").await;
    b.click(".account-menu form[action='/logout'] button").await;
    b.arrive("/login").await;
    b.type_into("#email", &email).await;
    b.type_into("#password", PASSWORD).await;
    b.click("form[action='/login'] button[type=submit]").await;
    b.arrive("/login/verify").await;
    axe::check(&b, &check("login, second step")).await;
    // The code that confirmed the app was used already.
    b.type_into("#code", &code).await;
    b.click("form[action='/login/verify'] button").await;
    b.wait_visible("#code-error").await;
    assert!(b.text("#code-error").await.contains("not right"));
    axe::check(&b, &check("login, wrong code")).await;
    b.screenshot(&format!("62-login-code-{label}")).await;
    app.clock.advance(Duration::seconds(30));
    let code = secret.code_at(step_at(app.clock.now()));
    b.type_into("#code", &code).await;
    b.click("form[action='/login/verify'] button").await;
    b.find("#create-token").await;
    b.arrive("/settings/tokens").await;
    b.close().await;
}
