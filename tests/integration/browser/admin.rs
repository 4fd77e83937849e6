//! `/admin` (SPEC §9) in a browser, at a desktop's width and a phone's: the link in the top
//! bar, the token policy, the inventory (shorten to the maximum, revoke with a reason), the
//! suspend confirmation and the delete page, with axe-core over each screen.

use reqwest::StatusCode;

use crate::api::admin::admin;
use crate::browser::steps::log_in;
use crate::helpers::axe;
use crate::helpers::browser::{Browser, DESKTOP, PHONE};
use crate::helpers::TestApp;

#[actix_web::test]
async fn an_admin_sets_the_policy_shortens_revokes_and_suspends_at_desktop_width() {
    admin_screens(DESKTOP, "desktop").await;
}

#[actix_web::test]
async fn an_admin_sets_the_policy_shortens_revokes_and_suspends_at_phone_width() {
    admin_screens(PHONE, "phone").await;
}

async fn admin_screens(size: (u32, u32), label: &str) {
    let app = TestApp::spawn().await;
    let alice = app.with_user("alice@example.com").await;
    let laptop = alice.with_token("laptop", &["publish"], "never").await;
    let ci = alice.with_token("ci", &["publish"], "1m").await;
    let boss = admin(&app, "boss@example.com").await;
    let alice_id = alice.id().await;
    let Some(b) = Browser::open(&app.address).await else {
        return;
    };
    b.resize(size).await;
    let check = |screen: &str| format!("{screen} ({label})");
    log_in(&b, &boss).await;
    // Only an admin's top bar links to the admin screens.
    b.click("a[href='/admin/tokens']").await;
    b.arrive("/admin/tokens").await;
    assert!(b
        .text("table.inventory")
        .await
        .contains("alice@example.com"));
    axe::check(&b, &check("credentials inventory")).await;

    // The policy: a year is the longest, and every token must expire.
    b.click("nav.tabs a[href='/admin/settings']").await;
    b.arrive("/admin/settings").await;
    axe::check(&b, &check("token policy")).await;
    b.type_into("#max-lifetime", "90").await;
    b.click("#allow-never").await;
    b.click("form[action='/admin/settings'] button[type=submit]")
        .await;
    b.find(".alert.success").await;
    assert_eq!(b.value("#max-lifetime").await, "90");
    axe::check(&b, &check("token policy saved")).await;

    // The never-expiring token is marked; one click shortens it.
    b.goto("/admin/tokens").await;
    let row = format!("tr[data-token-id='{}']", laptop.id);
    assert!(b
        .text(&row)
        .await
        .contains("Beyond the policy: lives longer than 90 days"));
    axe::check(&b, &check("inventory with a token beyond the policy")).await;
    b.screenshot(&format!("60-admin-inventory-{label}")).await;
    b.click(&format!(
        "{row} form[action='/admin/tokens/shorten'] button"
    ))
    .await;
    says(&b, "Shortened 1").await;
    assert!(!b.text(&row).await.contains("Beyond the policy"));

    // Revoke two with a reason; the owner's clients are refused at once.
    b.click(&format!("#pick-{}", laptop.id)).await;
    b.click(&format!("#pick-{}", ci.id)).await;
    b.type_into("#revoke-reason", "Laptop stolen").await;
    b.click("#revoke-form button[type=submit]").await;
    // The page before had a notice too (the shortening's): wait for this one's.
    says(&b, "Revoked 2").await;
    axe::check(&b, &check("inventory after revoking")).await;
    for token in [&laptop, &ci] {
        let res = app.bearer_get("/api/me", &token.plaintext).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }

    // Suspend, after a confirmation that says what happens.
    b.click("nav.tabs a[href='/admin/users']").await;
    b.arrive("/admin/users").await;
    axe::check(&b, &check("accounts")).await;
    b.click(&format!("a[href='/admin/users/{alice_id}/suspend']"))
        .await;
    b.arrive(&format!("/admin/users/{alice_id}/suspend")).await;
    assert!(b.text("main").await.contains("account_suspended"));
    axe::check(&b, &check("suspend confirmation")).await;
    b.screenshot(&format!("61-admin-suspend-{label}")).await;
    b.click("main form button[type=submit]").await;
    b.arrive("/admin/users").await;
    let row = format!("tr[data-user-id='{alice_id}']");
    assert!(b.text(&row).await.contains("Suspended"));
    assert_eq!(
        alice.get("/api/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    b.goto(&format!("/admin/users/{alice_id}/delete")).await;
    axe::check(&b, &check("delete confirmation")).await;
    b.close().await;
}

/// Waits for the page that says `text` in its notice: a click returns before the next page is
/// there, and the page it leaves may have a notice of its own.
async fn says(b: &Browser, text: &str) {
    let script = format!(
        "const a = document.querySelector('.alert.success'); \
         return !!a && a.textContent.includes({})",
        serde_json::json!(text)
    );
    b.wait_until(&format!("the notice {text:?}"), &script).await;
}
