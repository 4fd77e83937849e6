//! The tokens list as a person reads it: a new token by its prefix, every status with
//! relative times, and Revoke, which asks first.

use chrono::{Duration, Months};
use mantel::db::{self, models::tokens, models::users::User};
use reqwest::StatusCode;
use serde_json::json;

use crate::browser::steps::logged_in;
use crate::helpers::browser::PHONE;

#[actix_web::test]
async fn a_new_token_is_listed_by_its_prefix_with_relative_times() {
    let Some((app, user, b)) = logged_in("pat@example.com", true).await else {
        return;
    };
    let token = user
        .with_token("CI pipeline", &["publish", "messages"], "6m")
        .await
        .plaintext;
    assert_eq!(
        app.bearer_get("/api/me", &token).await.status(),
        StatusCode::OK
    );
    // The list: the new token, its prefix but never its value, relative times, active.
    b.goto("/settings/tokens").await;
    let row = b.text("tr[data-token-id]").await;
    assert!(
        row.contains("CI pipeline") && row.contains(&token[..11]) && !row.contains(&token),
        "{row}"
    );
    // Last used: "Never used" until the background flush (every 5 s) writes the use above,
    // then "just now" like the creation time.
    let last_use_shown = row.contains("Never used") || row.matches("just now").count() == 2;
    assert!(
        row.contains("just now") && row.contains("in 6 months") && last_use_shown,
        "{row}"
    );
    assert_eq!(b.text("tr[data-token-id] .badge").await, "Active");
    b.screenshot("06-list").await;
    b.close().await;
}

#[actix_web::test]
async fn revoke_asks_first_and_a_revoked_token_gets_401_at_once() {
    let Some((app, user, b)) = logged_in("pat@example.com", true).await else {
        return;
    };
    let token = user
        .with_token("CI pipeline", &["publish"], "6m")
        .await
        .plaintext;
    b.goto("/settings/tokens").await;
    // Revoke asks first; Cancel keeps the token.
    b.click("tr[data-token-id] [data-revoke-action]").await;
    assert!(b.visible("#revoke-dialog").await);
    assert_eq!(b.text("#revoke-dialog .revoke-name").await, "CI pipeline");
    assert_eq!(
        b.js("return document.activeElement.textContent").await,
        "Cancel",
        "the safe choice has focus"
    );
    b.screenshot("07-revoke-dialog").await;
    b.click("#revoke-dialog [data-close-dialog]").await;
    assert!(!b.visible("#revoke-dialog").await);
    assert_eq!(
        app.bearer_get("/api/me", &token).await.status(),
        StatusCode::OK
    );

    b.click("tr[data-token-id] [data-revoke-action]").await;
    b.click("#revoke-dialog button[type=submit]").await;
    b.wait_until(
        "the flash",
        "return !!document.querySelector('.alert.success')",
    )
    .await;
    assert_eq!(
        b.text(".alert.success").await,
        "Revoked “CI pipeline”. Any client still using it now gets 401."
    );
    assert_eq!(b.text("tr[data-token-id] .badge").await, "Revoked");
    assert!(
        !b.exists("tr[data-token-id] [data-revoke-action]").await,
        "no second revoke"
    );
    b.screenshot("08-revoked").await;
    assert_eq!(
        app.bearer_get("/api/me", &token).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // The flash is shown once.
    b.client.refresh().await.unwrap();
    assert!(!b.exists(".alert.success").await);
    b.close().await;
}

/// Tokens of every age and status, written straight to the database at the times they would
/// have been made, so the list can be seen as a long-time user sees it.
#[actix_web::test]
async fn the_list_shows_every_status_with_relative_times() {
    let Some((app, _user, b)) = logged_in("ops@example.com", true).await else {
        return;
    };
    let now = app.clock.now();
    let hours = Duration::hours;
    // (name, scopes, expiry, created hours ago, revoked hours ago)
    let seed = [
        ("Old staging deploy", "publish", "1m", 60 * 24, None),
        ("Netlify build hook", "publish", "1y", 40 * 24, Some(2 * 24)),
        ("Billing export", "billing.read", "1m", 25 * 24, None),
        ("Zapier — Slack to MM", "messages", "6m", 20 * 24, None),
        ("CI pipeline", "publish files", "1y", 30 * 24, None),
        ("Ops dashboard", "billing.read domain", "never", 5, None),
    ];
    db::run(&app.state.pool, move |conn| {
        let user = User::find_by_email(conn, "ops@example.com")?.unwrap();
        for (name, scopes, expiry, age, revoked) in seed {
            let scopes: Vec<String> = scopes.split(' ').map(String::from).collect();
            let new =
                mantel::domain::NewToken::validate(name, &scopes, Some(expiry), None, &[]).unwrap();
            let (row, _) = tokens::create(conn, &user.id, &new, now - hours(age))?;
            if let Some(ago) = revoked {
                tokens::revoke(conn, &user.id, &row.id, now - hours(ago))?;
            }
            if name == "CI pipeline" {
                let ip = Some("203.0.113.7".to_owned());
                let at = now - hours(3);
                let id = row.id.clone();
                tokens::record_last_used(conn, &[tokens::LastUse { id, at, ip }])?;
            }
        }
        Ok::<_, mantel::db::models::WriteError>(())
    })
    .await
    .unwrap();

    // 1 month is 28 to 31 days, so what is left of it depends on today's date.
    let billing_expires = (now - hours(25 * 24)).checked_add_months(Months::new(1));
    let billing_days = (billing_expires.unwrap() - now).num_days();

    b.goto("/settings/tokens").await;
    let rows = b.js("return [...document.querySelectorAll('tbody tr')].map(r => \
        [r.querySelector('.token-name').textContent, r.querySelector('.badge').textContent, \
         r.querySelector('[data-label=Expires]').textContent, r.querySelector('[data-label=\"Last used\"]').textContent])").await;
    assert_eq!(
        rows,
        json!([
            ["Ops dashboard", "Active", "Never", "Never used"],
            [
                "Zapier — Slack to MM",
                "Active",
                "in 5 months",
                "Never used"
            ],
            [
                "Billing export",
                "Expires soon",
                format!("in {billing_days} days"),
                "Never used"
            ],
            ["CI pipeline", "Active", "in 11 months", "3 hours ago"],
            ["Netlify build hook", "Revoked", "—", "Never used"],
            ["Old staging deploy", "Expired", "Expired", "Never used"],
        ])
    );
    b.screenshot("14-list-every-status").await;
    b.resize(PHONE).await;
    b.screenshot("15-list-phone").await;
    b.click("#create-token").await;
    b.screenshot("16-create-dialog-phone").await;
    b.close().await;
}
