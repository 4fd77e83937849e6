//! Creating a token in the dialog (JavaScript on): its defaults, the reveal, Copy, the
//! problems it marks, the keyboard, and the question before a token is lost.

use fantoccini::key::Key;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::browser::steps::{
    create_in_dialog, logged_in, page_holds, revealed_token, sign_up, token_count,
};
use crate::helpers::browser::{Browser, DESKTOP, PHONE};
use crate::helpers::{is_token, TestApp};

#[actix_web::test]
async fn the_dialog_opens_ready_with_a_year_preselected_and_warns_about_never() {
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
    b.close().await;
}

#[actix_web::test]
async fn the_plaintext_appears_once_with_the_warning_in_the_same_dialog() {
    let Some((_app, _user, b)) = logged_in("pat@example.com", true).await else {
        return;
    };
    let token = create_in_dialog(&b, "CI pipeline", &["publish", "messages"]).await;
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
    b.close().await;
}

#[actix_web::test]
async fn copy_puts_the_token_on_the_clipboard_or_else_selects_it() {
    let Some((_app, _user, b)) = logged_in("pat@example.com", true).await else {
        return;
    };
    let token = create_in_dialog(&b, "CI pipeline", &["publish"]).await;
    // Chromium grants the Clipboard API to a click on 127.0.0.1, so the token lands on the
    // clipboard (and stays selected for Ctrl+C).
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
    b.close().await;
}

#[actix_web::test]
async fn after_copy_done_closes_and_the_page_forgets_the_token() {
    let Some((app, _user, b)) = logged_in("pat@example.com", true).await else {
        return;
    };
    let token = create_in_dialog(&b, "CI pipeline", &["publish", "messages"]).await;
    b.click("[data-copy]").await;
    b.wait_until(
        "the copy status",
        "return document.getElementById('copy-status').textContent !== ''",
    )
    .await;
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
    b.close().await;

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
}

const NAME_WITH_HTML: &str = r#"<img src=x onerror="document.title='owned'"> <b>deploy</b>"#;

/// Opens the dialog, types the name, picks Never and no scope, and submits.
async fn submit_without_a_scope(b: &Browser) {
    b.click("#create-token").await;
    b.type_into("#token-name", NAME_WITH_HTML).await;
    b.find("#token-expiry")
        .await
        .select_by_value("never")
        .await
        .unwrap();
    b.click("#create-dialog button[type=submit]").await;
    b.wait_visible("#scopes-error").await;
}

#[actix_web::test]
async fn a_missing_scope_is_marked_and_everything_typed_is_kept() {
    let Some((app, _user, b)) = logged_in("form@example.com", true).await else {
        return;
    };
    submit_without_a_scope(&b).await;
    // The problems are shown in the dialog, over the list: no page of its own.
    assert!(b.visible("#create-dialog").await);
    assert_eq!(b.path().await, "/settings/tokens");
    assert_eq!(b.text("#scopes-error").await, "Pick at least one scope.");
    assert!(b
        .text("#form-errors")
        .await
        .contains("Pick at least one scope."));
    assert_eq!(b.value("#token-name").await, NAME_WITH_HTML);
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
    b.close().await;
}

#[actix_web::test]
async fn an_empty_name_is_marked_and_the_checked_scope_kept() {
    let Some((_app, _user, b)) = logged_in("form@example.com", true).await else {
        return;
    };
    submit_without_a_scope(&b).await;
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
    b.close().await;
}

#[actix_web::test]
async fn a_name_with_html_in_it_is_shown_as_text_everywhere() {
    let Some((_app, _user, b)) = logged_in("form@example.com", true).await else {
        return;
    };
    create_in_dialog(&b, NAME_WITH_HTML, &["files"]).await;
    assert_eq!(b.text(".reveal .token-name").await, NAME_WITH_HTML);
    b.goto("/settings/tokens").await;
    assert_eq!(
        b.text("tr[data-token-id] .token-name").await,
        NAME_WITH_HTML
    );
    assert!(
        !b.exists("img, b").await,
        "no element was made from the name"
    );
    assert_ne!(b.client.title().await.unwrap(), "owned");
    b.click("tr[data-token-id] [data-revoke-action]").await;
    assert_eq!(b.text("#revoke-dialog .revoke-name").await, NAME_WITH_HTML);
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
    // Past the other scopes, the projects, the allowed addresses and the expiry.
    for _ in 0..14 {
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
async fn at_every_width_the_dialog_marks_an_empty_name_and_shows_the_whole_token() {
    let Some((_app, _user, b)) = logged_in("dialog@example.com", true).await else {
        return;
    };
    for (size, label) in [(DESKTOP, "desktop"), (PHONE, "phone")] {
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
        b.type_into("#token-name", &format!("Deploy bot ({label})"))
            .await;
        b.click("#create-dialog button[type=submit]").await;
        let token = revealed_token(&b).await;
        assert!(is_token(&token), "{token}");
        assert!(!b.visible("#create-dialog .token-form").await);
        assert!(
            b.shows_whole_value("#new-token").await,
            "the whole token at {label}"
        );
        b.screenshot(&format!("31-dialog-token-{label}")).await;
        b.click("#create-dialog .dialog-head [data-close-dialog]")
            .await;
        b.click("#close-confirm [data-close-anyway]").await;
    }
    b.close().await;
}

#[actix_web::test]
async fn at_every_width_closing_before_copy_asks_first() {
    let Some((app, user, b)) = logged_in("dialog@example.com", true).await else {
        return;
    };
    for (n, (size, label)) in [(DESKTOP, "desktop"), (PHONE, "phone")]
        .into_iter()
        .enumerate()
    {
        b.resize(size).await;
        b.goto("/settings/tokens").await;
        let name = format!("Deploy bot ({label})");
        let token = create_in_dialog(&b, &name, &["files"]).await;

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
        assert_eq!(token_count(&app, &user.email).await, n + 1);
        assert_eq!(
            app.bearer_get("/api/me", &token).await.status(),
            StatusCode::OK
        );
    }
    b.close().await;
}
