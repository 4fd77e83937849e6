//! A token about to expire: the banner says so, and Regenerate replaces it with a grace period.

use chrono::Duration;
use reqwest::StatusCode;

use crate::browser::steps::log_in;
use crate::helpers::browser::Browser;
use crate::helpers::{is_token, TestApp};

#[actix_web::test]
async fn an_expiring_token_is_announced_and_regenerated_from_the_list() {
    let app = TestApp::spawn().await;
    let user = app.with_user("renew@example.com").await;
    let old = user
        .with_token("Monthly report", &["billing.read"], "1m")
        .await;
    // 26 days on, the one-month token has 2 to 5 days left.
    app.clock.advance(Duration::days(26));
    let Some(b) = Browser::open(&app.address).await else {
        return;
    };
    log_in(&b, &user).await;
    assert!(b.visible(".expiry-banner").await, "the banner shows");
    let banner = b.text(".expiry-banner").await;
    assert!(
        banner.contains("A token expires within 7 days") && banner.contains("Monthly report"),
        "{banner}"
    );
    b.screenshot("50-expiry-banner").await;

    b.click(&format!(
        "tr[data-token-id='{}'] a[href$='/regenerate']",
        old.id
    ))
    .await;
    b.arrive(&format!("/settings/tokens/{}/regenerate", old.id))
        .await;
    assert_eq!(
        b.value("#regen-expiry").await,
        "1m",
        "the old choice is preselected"
    );
    b.click("input[name=grace][value='3600']").await;
    b.screenshot("51-regenerate").await;
    b.click("form[action$='/regenerate'] button[type=submit]")
        .await;
    b.wait_visible("#new-token").await;
    let new = b.value("#new-token").await;
    assert!(is_token(&new) && new != old.plaintext, "{new}");

    // Both work for the hour of grace; the list links them and the banner is gone.
    for token in [&new, &old.plaintext] {
        assert_eq!(
            app.bearer_get("/api/me", token).await.status(),
            StatusCode::OK
        );
    }
    b.goto("/settings/tokens").await;
    assert!(!b.exists(".expiry-banner").await);
    let old_row = b.text(&format!("tr[data-token-id='{}']", old.id)).await;
    assert!(
        old_row.contains("replaced by") && old_row.contains("Replaced, in grace"),
        "{old_row}"
    );
    b.screenshot("52-replaced").await;
    app.clock.advance(Duration::hours(1) + Duration::seconds(1));
    assert_eq!(
        app.bearer_get("/api/me", &old.plaintext).await.status(),
        StatusCode::UNAUTHORIZED
    );
    b.close().await;
}
