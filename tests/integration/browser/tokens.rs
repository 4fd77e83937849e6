//! The API tokens screen as a person uses it.

use chrono::{Duration, Months};
use fantoccini::key::Key;
use mantel::db::{self, models::tokens, models::users::User};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::browser::{Browser, DESKTOP, PHONE};
use crate::helpers::{is_token, TestApp, PASSWORD};

pub async fn sign_up(b: &Browser, email: &str) {
    b.goto("/signup").await;
    b.type_into("#email", email).await;
    b.type_into("#password", PASSWORD).await;
    b.click("form button[type=submit]").await;
    b.find("#create-token").await;
    b.arrive("/settings/tokens").await;
}

/// The token the create dialog shows, once the API has answered.
pub async fn revealed_token(b: &Browser) -> String {
    b.wait_visible("#create-dialog [data-dialog-reveal]").await;
    b.value("#new-token").await
}

async fn token_count(app: &TestApp, email: &str) -> usize {
    let email = email.to_owned();
    db::run(&app.state.pool, move |conn| {
        let user = User::find_by_email(conn, &email)?.expect("the user exists");
        Ok(tokens::list(conn, &user.id)?.len())
    })
    .await
    .unwrap()
}

#[actix_web::test]
async fn a_person_creates_copies_uses_and_revokes_a_token() {
    let app = TestApp::spawn().await;
    let Some(b) = Browser::open(&app.address).await else {
        return;
    };
    b.goto("/signup").await;
    b.screenshot("00-sign-up").await;
    sign_up(&b, "pat@example.com").await;
    assert!(b.text(".empty").await.contains("No API tokens yet"));
    b.screenshot("01-empty-state").await;

    // Create token opens the dialog, with the name field ready and 1 year preselected.
    b.click("#create-token").await;
    assert!(b.visible("#create-dialog").await);
    assert_eq!(b.js("return document.activeElement.id").await, "token-name");
    assert_eq!(b.value("#token-expiry").await, "1y");
    assert!(b.visible("#expiry-notes [data-expiry='1y']").await);
    assert!(b
        .text("#expiry-notes [data-expiry='1y']")
        .await
        .starts_with("The token will expire on "));
    b.screenshot("02-create-dialog").await;

    b.type_into("#token-name", "CI pipeline").await;
    b.click("#scope-publish").await;
    b.click("#scope-messages").await;
    // Never warns; the date comes back with another choice.
    b.find("#token-expiry")
        .await
        .select_by_value("never")
        .await
        .unwrap();
    assert!(b.visible("#expiry-notes [data-expiry='never']").await);
    assert!(!b.visible("#expiry-notes [data-expiry='1y']").await);
    assert!(b
        .text("#expiry-notes .warning")
        .await
        .contains("never expires"));
    b.js("document.querySelector('#expiry-notes .warning').scrollIntoView({ block: 'center' })")
        .await;
    b.screenshot("03-create-dialog-never-warning").await;
    b.find("#token-expiry")
        .await
        .select_by_value("6m")
        .await
        .unwrap();
    assert!(!b.visible("#expiry-notes [data-expiry='never']").await);
    assert!(b.visible("#expiry-notes [data-expiry='6m']").await);

    // The plaintext appears once, with the warning, in the same dialog.
    b.click("#create-dialog button[type=submit]").await;
    let token = revealed_token(&b).await;
    assert!(is_token(&token), "{token}");
    assert!(b.visible("#create-dialog").await);
    assert_eq!(b.path().await, "/settings/tokens");
    assert_eq!(b.text("#create-title").await, "Token created");
    assert!(b
        .text("#create-dialog .reveal")
        .await
        .contains("it will not be shown again"));
    assert_eq!(b.text(".reveal .token-name").await, "CI pipeline");
    assert!(
        b.shows_whole_value("#new-token").await,
        "the whole token is in view"
    );
    assert_eq!(b.focused().await, "Copy", "Copy is the next thing to do");
    assert_eq!(
        b.js("return getComputedStyle(document.getElementById('new-token')).fontFamily")
            .await
            .as_str()
            .map(|f| f.contains("monospace")),
        Some(true),
        "the token is in a monospace field"
    );
    b.screenshot("04-token-revealed").await;

    // Copy: Chromium grants the Clipboard API to a click on 127.0.0.1, so the token lands on
    // the clipboard (and stays selected for Ctrl+C).
    b.grant_clipboard_read().await;
    b.click("[data-copy]").await;
    b.wait_until(
        "the copy status",
        "return document.getElementById('copy-status').textContent !== ''",
    )
    .await;
    assert_eq!(b.text("#copy-status").await, "Copied to the clipboard.");
    assert_eq!(b.text("[data-copy]").await, "Copied");
    let clipboard = b
        .client
        .execute_async(
            "navigator.clipboard.readText().then(arguments[0], e => arguments[0]('error: ' + e))",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(clipboard, json!(token), "the clipboard holds the token");
    b.screenshot("05-token-copied").await;

    // Without the Clipboard API (an old browser, a denied permission), it is selected instead.
    b.js("Object.defineProperty(navigator, 'clipboard', { value: undefined })")
        .await;
    b.click("[data-copy]").await;
    b.wait_until(
        "the fallback message",
        "return document.getElementById('copy-status').textContent.startsWith('Selected')",
    )
    .await;
    let selection = b
        .js("const f = document.getElementById('new-token'); \
        return [document.activeElement === f, f.value.substring(f.selectionStart, f.selectionEnd)]")
        .await;
    assert_eq!(
        selection,
        json!([true, token]),
        "the whole token is selected"
    );

    // Copy was pressed, so Done closes at once; the list has the new row and the page no
    // longer holds the plaintext anywhere (markup or field values).
    b.click("#create-dialog .reveal-actions [data-close-dialog]")
        .await;
    b.find("table.tokens").await;
    assert!(!b.exists("#create-dialog[open]").await);
    assert!(!b.source().await.contains(&token));
    let values = b
        .js("return [...document.querySelectorAll('input, textarea')].map(f => f.value).join(' ')")
        .await;
    assert!(!values.as_str().unwrap().contains(&token));
    assert_eq!(token_count(&app, "pat@example.com").await, 1);
    b.goto("/settings/tokens/new").await;
    b.client.back().await.unwrap();
    b.find("#create-token").await;
    assert!(
        !b.source().await.contains(&token),
        "Back must not bring the token back"
    );

    // The token works from outside the browser.
    let me: Value = app
        .bearer_get("/api/me", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["user"]["email"], "pat@example.com");
    assert_eq!(
        me["auth"]["token"]["scopes"],
        json!(["publish", "messages"])
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

#[actix_web::test]
async fn validation_errors_keep_the_input_and_names_are_text() {
    let app = TestApp::spawn().await;
    let Some(b) = Browser::open(&app.address).await else {
        return;
    };
    sign_up(&b, "form@example.com").await;
    let name = r#"<img src=x onerror="document.title='owned'"> <b>deploy</b>"#;

    // No scope: the form comes back with the error, and everything typed kept.
    b.click("#create-token").await;
    b.type_into("#token-name", name).await;
    b.find("#token-expiry")
        .await
        .select_by_value("never")
        .await
        .unwrap();
    b.click("#create-dialog button[type=submit]").await;
    b.wait_visible("#scopes-error").await;
    // The problems are shown in the dialog, over the list: no page of its own.
    assert!(b.visible("#create-dialog").await);
    assert_eq!(b.path().await, "/settings/tokens");
    assert_eq!(b.text("#scopes-error").await, "Pick at least one scope.");
    assert!(b
        .text("#form-errors")
        .await
        .contains("Pick at least one scope."));
    assert_eq!(b.value("#token-name").await, name);
    assert_eq!(b.value("#token-expiry").await, "never");
    assert!(
        b.visible("#expiry-notes .warning").await,
        "the Never warning stays"
    );
    assert_eq!(
        b.js("return document.activeElement.id").await,
        "scope-publish",
        "focus is on the problem"
    );
    let described = b
        .find("fieldset.scope-picker")
        .await
        .attr("aria-describedby")
        .await
        .unwrap()
        .unwrap();
    assert!(
        described.contains("scopes-error"),
        "the error is tied to the scopes"
    );
    b.screenshot("09-validation-error").await;
    assert_eq!(token_count(&app, "form@example.com").await, 0);

    // An empty name is named too, and the checked scope is kept.
    b.click("#scope-files").await;
    b.find("#token-name").await.clear().await.unwrap();
    b.click(".token-form button[type=submit]").await;
    b.wait_visible("#name-error").await;
    assert_eq!(b.text("#name-error").await, "Give the token a name.");
    assert!(
        !b.visible("#scopes-error").await,
        "the scope problem is fixed"
    );
    assert!(b.visible("#create-dialog").await);
    assert_eq!(
        b.find("#token-name")
            .await
            .attr("aria-invalid")
            .await
            .unwrap()
            .as_deref(),
        Some("true")
    );
    assert!(b.find("#scope-files").await.is_selected().await.unwrap());
    assert_eq!(b.js("return document.activeElement.id").await, "token-name");

    // A name with HTML in it is shown as text everywhere, never run.
    b.type_into("#token-name", name).await;
    b.click(".token-form button[type=submit]").await;
    revealed_token(&b).await;
    assert_eq!(b.text(".reveal .token-name").await, name);
    b.goto("/settings/tokens").await;
    assert_eq!(b.text("tr[data-token-id] .token-name").await, name);
    assert!(
        !b.exists("img, b").await,
        "no element was made from the name"
    );
    assert_ne!(b.client.title().await.unwrap(), "owned");
    b.click("tr[data-token-id] [data-revoke-action]").await;
    assert_eq!(b.text("#revoke-dialog .revoke-name").await, name);
    b.screenshot("10-html-name-as-text").await;
    b.close().await;
}

#[actix_web::test]
async fn the_keyboard_alone_creates_a_token_and_focus_is_always_visible() {
    let app = TestApp::spawn().await;
    let Some(b) = Browser::open(&app.address).await else {
        return;
    };
    sign_up(&b, "keys@example.com").await;
    let ring = || b.js("return getComputedStyle(document.activeElement).outlineStyle");

    // The first Tab reaches the skip link; Tab on to Create token.
    b.press(Key::Tab).await;
    assert_eq!(b.focused().await, "Skip to content");
    for _ in 0..8 {
        if b.focused().await == "create-token" {
            break;
        }
        b.press(Key::Tab).await;
    }
    assert_eq!(b.focused().await, "create-token");
    assert_eq!(ring().await, "solid", "keyboard focus is visible");

    // Escape closes the dialog and gives focus back.
    b.press(Key::Enter).await;
    assert!(b.visible("#create-dialog").await);
    b.press(Key::Escape).await;
    assert!(!b.visible("#create-dialog").await);
    assert_eq!(b.focused().await, "create-token");

    b.press(Key::Enter).await;
    assert_eq!(b.focused().await, "token-name");
    b.press_str("Keyboard only").await;
    b.press(Key::Tab).await;
    assert_eq!(b.focused().await, "scope-publish");
    assert_eq!(ring().await, "solid");
    b.press(Key::Space).await;
    for _ in 0..8 {
        if b.focused().await == "Create token" {
            break;
        }
        b.press(Key::Tab).await;
    }
    assert_eq!(b.focused().await, "Create token");
    b.press(Key::Enter).await;
    assert!(is_token(&revealed_token(&b).await));
    assert_eq!(b.text(".reveal .token-name").await, "Keyboard only");
    b.close().await;
}

#[actix_web::test]
async fn without_javascript_every_step_still_works() {
    let app = TestApp::spawn().await;
    let Some(b) = Browser::open_without_js(&app.address).await else {
        return;
    };
    sign_up(&b, "nojs@example.com").await;

    // Create token is a page of its own.
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

    // Revoke goes through a confirmation page.
    b.click(".reveal .actions a").await;
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
        app.bearer_get("/api/me", &token).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // A stale confirmation link has nothing left to confirm.
    let id = b
        .find("tr[data-token-id]")
        .await
        .attr("data-token-id")
        .await
        .unwrap()
        .unwrap();
    b.goto(&format!("/settings/tokens/{id}/revoke")).await;
    b.arrive("/settings/tokens").await;
    b.close().await;
}

/// Tokens of every age and status, written straight to the database at the times they would
/// have been made, so the list can be seen as a long-time user sees it.
#[actix_web::test]
async fn the_list_shows_every_status_with_relative_times() {
    let app = TestApp::spawn().await;
    let Some(b) = Browser::open(&app.address).await else {
        return;
    };
    sign_up(&b, "ops@example.com").await;
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
            let new = tokens::NewToken::validate(name, &scopes, Some(expiry))?;
            let (row, _) = tokens::create(conn, &user.id, &new, now - hours(age))?;
            if let Some(ago) = revoked {
                tokens::revoke(conn, &user.id, &row.id, now - hours(ago))?;
            }
            if name == "CI pipeline" {
                let ip = Some("203.0.113.7".to_owned());
                tokens::record_last_used(conn, &[(row.id.clone(), now - hours(3), ip)])?;
            }
        }
        Ok(())
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

/// The fields' values and the markup: where a plaintext could linger in a page.
async fn page_holds(b: &Browser, token: &str) -> bool {
    let values = b
        .js("return [...document.querySelectorAll('input, textarea')].map(f => f.value).join(' ')")
        .await;
    b.source().await.contains(token) || values.as_str().unwrap().contains(token)
}

#[actix_web::test]
async fn the_dialog_marks_problems_reveals_the_token_and_asks_before_it_is_lost() {
    let app = TestApp::spawn().await;
    let Some(b) = Browser::open(&app.address).await else {
        return;
    };
    sign_up(&b, "dialog@example.com").await;
    for (n, (size, label)) in [(DESKTOP, "desktop"), (PHONE, "phone")]
        .into_iter()
        .enumerate()
    {
        b.resize(size).await;
        b.goto("/settings/tokens").await;
        b.click("#create-token").await;

        // An empty name is marked in the dialog, over the list, and the scope picked is kept.
        b.click("#scope-files").await;
        b.click("#create-dialog button[type=submit]").await;
        b.wait_visible("#name-error").await;
        assert!(b.visible("#create-dialog").await, "{label}");
        assert_eq!(b.path().await, "/settings/tokens");
        assert_eq!(b.text("#name-error").await, "Give the token a name.");
        assert!(b.find("#scope-files").await.is_selected().await.unwrap());
        assert_eq!(b.focused().await, "token-name");
        b.screenshot(&format!("30-dialog-validation-{label}")).await;

        // Created: the token in the same dialog, every character of it in view.
        let name = format!("Deploy bot ({label})");
        b.type_into("#token-name", &name).await;
        b.click("#create-dialog button[type=submit]").await;
        let token = revealed_token(&b).await;
        assert!(is_token(&token), "{token}");
        assert!(!b.visible("#create-dialog .token-form").await);
        assert!(
            b.shows_whole_value("#new-token").await,
            "the whole token at {label}"
        );
        b.screenshot(&format!("31-dialog-token-{label}")).await;

        // Closing before Copy asks first, and keeping it open keeps the token.
        b.click("#create-dialog .dialog-head [data-close-dialog]")
            .await;
        assert!(b.visible("#close-confirm").await, "× asks at {label}");
        assert_eq!(
            b.text("#close-confirm p").await,
            "It will not be shown again — close anyway?"
        );
        assert!(b.visible("#create-dialog").await);
        b.screenshot(&format!("32-dialog-close-confirm-{label}"))
            .await;
        b.click("#close-confirm [data-keep-open]").await;
        assert!(!b.visible("#close-confirm").await);
        assert_eq!(b.value("#new-token").await, token);
        b.press(Key::Escape).await;
        assert!(b.visible("#close-confirm").await, "Escape asks too");
        assert!(b.visible("#create-dialog").await);

        // Closed anyway: the list with the new row, and the plaintext gone from the page.
        b.click("#close-confirm [data-close-anyway]").await;
        let has_row = format!(
            "return [...document.querySelectorAll('tr .token-name')].some(n => n.textContent === {})",
            json!(name)
        );
        b.wait_until("the list with the new row", &has_row).await;
        assert!(!b.exists("#create-dialog[open]").await);
        assert!(
            !page_holds(&b, &token).await,
            "the page still holds the token"
        );
        assert_eq!(token_count(&app, "dialog@example.com").await, n + 1);
        assert_eq!(
            app.bearer_get("/api/me", &token).await.status(),
            StatusCode::OK
        );
    }
    b.close().await;
}

#[actix_web::test]
async fn without_javascript_never_is_warned_the_token_fits_and_a_reload_is_harmless() {
    let app = TestApp::spawn().await;
    let Some(b) = Browser::open_without_js(&app.address).await else {
        return;
    };
    sign_up(&b, "reload@example.com").await;
    for (n, (size, label)) in [(DESKTOP, "desktop"), (PHONE, "phone")]
        .into_iter()
        .enumerate()
    {
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
        assert_eq!(token_count(&app, "reload@example.com").await, n + 1);
        assert_eq!(
            app.bearer_get("/api/me", &token).await.status(),
            StatusCode::OK
        );
    }
    b.close().await;
}
