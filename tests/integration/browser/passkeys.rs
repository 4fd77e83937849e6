//! Passkeys in Chromium, through chromedriver's virtual authenticator: one added on
//! /settings/security, then a sign-in with it alone from /login, then removed after a
//! re-authentication that the passkey confirms; axe-core over the screens at a
//! desktop's width and a phone's. The server's public URL is `http://localhost:PORT`, since a
//! passkey's relying party must be a domain.

use crate::browser::steps::sign_up;
use crate::helpers::axe;
use crate::helpers::browser::{Browser, DESKTOP, PHONE};
use crate::helpers::TestApp;

#[actix_web::test]
async fn a_passkey_is_added_and_signs_in_on_a_desktop() {
    add_and_sign_in(DESKTOP, "desktop").await;
}

#[actix_web::test]
async fn a_passkey_is_added_and_signs_in_on_a_phone() {
    add_and_sign_in(PHONE, "phone").await;
}

async fn add_and_sign_in(size: (u32, u32), label: &str) {
    let app = TestApp::spawn_at_localhost().await;
    let Some(b) = Browser::open(&app.address).await else {
        return;
    };
    b.resize(size).await;
    let authenticator = b.add_authenticator().await;
    let check = |screen: &str| format!("{screen} ({label})");
    let email = format!("passkey-{label}@example.com");
    sign_up(&b, &email).await;

    b.goto("/settings/security").await;
    b.arrive("/settings/security").await;
    assert_eq!(b.text("#passkeys-status").await, "No passkeys yet.");
    assert!(b.visible("#passkey-add").await, "the script shows the form");
    assert!(!b.visible("[data-passkey-fallback]").await);
    axe::check(&b, &check("security, no passkeys")).await;
    b.type_into("#passkey-name", "Work laptop").await;
    b.click("#passkey-add button[type=submit]").await;
    b.wait_visible("table.passkeys").await;
    assert!(b.text("table.passkeys").await.contains("Work laptop"));
    assert!(b
        .text("p.alert")
        .await
        .contains("Passkey “Work laptop” added"));
    axe::check(&b, &check("security, a passkey")).await;
    b.screenshot(&format!("65-passkeys-{label}")).await;

    // Signed out, the passkey alone signs in.
    b.click(".account-menu summary").await;
    b.click(".account-menu form[action='/logout'] button").await;
    b.arrive("/login").await;
    assert!(b.visible("#passkey-login").await);
    axe::check(&b, &check("login, with passkeys")).await;
    b.click("#passkey-login button").await;
    b.find("#create-token").await;
    b.arrive("/settings/tokens").await;
    b.goto("/settings/security").await;
    b.arrive("/settings/security").await;
    assert!(
        !b.text("table.passkeys").await.contains("never"),
        "last used now"
    );

    // Removing it, 11 minutes on, asks for the password and the second factor: the passkey.
    app.clock.advance(chrono::Duration::minutes(11));
    b.click("table.passkeys form button.danger").await;
    b.wait_visible("[data-passkey-reauth]").await;
    axe::check(&b, &check("confirm with a passkey")).await;
    b.type_into("#reauth-password", crate::helpers::PASSWORD)
        .await;
    b.click("[data-passkey-reauth]").await;
    b.wait_visible("#passkeys-status").await;
    assert!(b.text("p.alert").await.contains("Passkey removed"));
    b.remove_authenticator(&authenticator).await;
    b.close().await;
}
