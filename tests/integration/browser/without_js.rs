//! Without JavaScript every step still works: Create token is a page of its own, the token is
//! shown on a page that a reload cannot replay, and Revoke goes through a confirmation page.

use reqwest::StatusCode;

use crate::browser::steps::{logged_in, page_holds, token_count};
use crate::helpers::browser::{DESKTOP, PHONE};
use crate::helpers::is_token;

#[actix_web::test]
async fn create_token_is_a_page_of_its_own() {
    let Some((app, _user, b)) = logged_in("nojs@example.com", false).await else {
        return;
    };
    b.click("#create-token").await;
    b.arrive("/settings/tokens/new").await;
    b.type_into("#token-name", "Internal ops dashboard").await;
    b.click("#scope-billing\\.read").await;
    b.screenshot("11-nojs-new-token-page").await;
    b.click(".token-form button[type=submit]").await;
    let token = b.value("#new-token").await;
    assert!(is_token(&token));
    assert!(
        !b.visible("[data-copy]").await,
        "no Copy button that could not work"
    );
    assert_eq!(
        b.text("#copy-status").await,
        "Select the token and copy it."
    );
    b.screenshot("12-nojs-token-revealed").await;
    assert_eq!(
        app.bearer_get("/api/me", &token).await.status(),
        StatusCode::OK
    );
    // The way back to the list.
    b.click(".reveal .actions a").await;
    b.arrive("/settings/tokens").await;
    b.close().await;
}

#[actix_web::test]
async fn revoke_goes_through_a_confirmation_page() {
    let Some((app, user, b)) = logged_in("nojs@example.com", false).await else {
        return;
    };
    let token = user
        .with_token("Internal ops dashboard", &["billing.read"], "1y")
        .await;
    b.goto("/settings/tokens").await;
    b.click("tr[data-token-id] [data-revoke-action]").await;
    b.wait_until(
        "the confirmation page",
        "return location.pathname.endsWith('/revoke')",
    )
    .await;
    assert!(b.text("h1").await.contains("Internal ops dashboard"));
    b.screenshot("13-nojs-revoke-confirmation").await;
    b.click("form button[type=submit].danger").await;
    b.arrive("/settings/tokens").await;
    assert!(b
        .text(".alert.success")
        .await
        .starts_with("Revoked “Internal ops dashboard”"));
    assert_eq!(b.text("tr[data-token-id] .badge").await, "Revoked");
    assert_eq!(
        app.bearer_get("/api/me", &token.plaintext).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // A stale confirmation link has nothing left to confirm.
    b.goto(&format!("/settings/tokens/{}/revoke", token.id))
        .await;
    b.arrive("/settings/tokens").await;
    b.close().await;
}

#[actix_web::test]
async fn never_is_warned_about_up_front_at_every_width() {
    let Some((_app, _user, b)) = logged_in("reload@example.com", false).await else {
        return;
    };
    for (size, label) in [(DESKTOP, "desktop"), (PHONE, "phone")] {
        b.resize(size).await;
        b.goto("/settings/tokens/new").await;
        // The note cannot follow the select without JS, so Never is warned about up front.
        assert!(b.visible("#never-warning-nojs").await, "{label}");
        assert!(b
            .text("#never-warning-nojs")
            .await
            .contains("stays valid until you revoke it"));
        b.type_into("#token-name", &format!("Cron job ({label})"))
            .await;
        b.click("#scope-publish").await;
        b.find("#token-expiry")
            .await
            .select_by_value("never")
            .await
            .unwrap();
        assert!(b.visible("#never-warning-nojs").await);
        assert!(
            !b.visible("#expiry-notes [data-expiry='1y']").await,
            "no expiry date beside Never"
        );
        b.screenshot(&format!("33-nojs-never-warning-{label}"))
            .await;
    }
    b.close().await;
}

#[actix_web::test]
async fn the_token_fits_at_every_width_and_a_reload_is_harmless() {
    let Some((app, user, b)) = logged_in("reload@example.com", false).await else {
        return;
    };
    for (n, (size, label)) in [(DESKTOP, "desktop"), (PHONE, "phone")]
        .into_iter()
        .enumerate()
    {
        b.resize(size).await;
        b.goto("/settings/tokens/new").await;
        b.type_into("#token-name", &format!("Cron job ({label})"))
            .await;
        b.click("#scope-publish").await;
        b.click(".token-form button[type=submit]").await;
        b.find("#new-token").await;
        assert!(b.path().await.ends_with("/created"));
        let token = b.value("#new-token").await;
        assert!(is_token(&token), "{token}");
        assert!(
            b.shows_whole_value("#new-token").await,
            "the whole token at {label}"
        );
        assert_eq!(
            b.js("return getComputedStyle(document.getElementById('new-token')).fontFamily")
                .await
                .as_str()
                .map(|f| f.contains("monospace")),
            Some(true)
        );
        b.screenshot(&format!("34-nojs-token-{label}")).await;

        // Reload: the page says the token exists and can no longer be shown; no error, no
        // second token, and the first one works.
        b.client.refresh().await.unwrap();
        b.find("#reveal-gone").await;
        assert!(b
            .text("#reveal-gone")
            .await
            .contains("can no longer be shown"));
        assert!(b.text("h1").await.contains("Token created"));
        assert!(!b.source().await.contains("was not created"));
        assert!(!page_holds(&b, &token).await);
        b.screenshot(&format!("35-nojs-reload-{label}")).await;
        assert_eq!(token_count(&app, &user.email).await, n + 1);
        assert_eq!(
            app.bearer_get("/api/me", &token).await.status(),
            StatusCode::OK
        );
    }
    b.close().await;
}
