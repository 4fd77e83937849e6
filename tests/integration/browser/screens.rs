//! Every screen at a phone's width and a desktop's: the account menu, what a phone shows, and
//! axe-core over each screen.

use crate::browser::steps::{revealed_token, sign_up};
use crate::helpers::axe;
use crate::helpers::browser::{Browser, DESKTOP, PHONE};
use crate::helpers::TestApp;

const SIZES: [((u32, u32), &str); 2] = [(DESKTOP, "desktop"), (PHONE, "phone")];

#[actix_web::test]
async fn the_account_menu_reaches_the_password_change_at_every_width() {
    account_menu(true).await;
}

#[actix_web::test]
async fn without_javascript_the_account_menu_reaches_the_password_change_at_every_width() {
    account_menu(false).await;
}

async fn account_menu(javascript: bool) {
    let app = TestApp::spawn().await;
    {
        let b = if javascript {
            Browser::open(&app.address).await
        } else {
            Browser::open_without_js(&app.address).await
        };
        let Some(b) = b else {
            return;
        };
        let email = format!("menu-{javascript}@example.com");
        let js = if javascript { "" } else { "-nojs" };
        sign_up(&b, &email).await;
        for (size, label) in SIZES {
            b.resize(size).await;
            b.goto("/settings/tokens").await;
            // One row: the brand, the links and the menu side by side, nothing past the edge.
            let spread = b
                .js("const m = [...document.querySelectorAll('.topbar .brand, .topbar nav > a, .topbar summary')]\
                     .map(e => { const r = e.getBoundingClientRect(); return (r.top + r.bottom) / 2; }); \
                     return Math.max(...m) - Math.min(...m)")
                .await;
            assert!(
                spread.as_f64().unwrap() < 4.0,
                "the top bar wraps at {label}: {spread}"
            );
            assert_eq!(
                b.js("return document.documentElement.scrollWidth <= window.innerWidth")
                    .await,
                true,
                "nothing sticks out sideways at {label}"
            );

            b.click(".account-menu summary").await;
            assert!(
                b.visible(".account-menu a[href='/settings/password']")
                    .await,
                "{label}"
            );
            assert!(b.text(".menu-who").await.contains(&email));
            b.screenshot(&format!("40-account-menu-{label}{js}")).await;
            b.click(".account-menu a[href='/settings/password']").await;
            b.arrive("/settings/password").await;
            assert_eq!(b.text("h1").await, "Change password");
        }
        // Log out is in the menu too.
        b.click(".account-menu summary").await;
        b.click(".account-menu form[action='/logout'] button").await;
        b.arrive("/login").await;
        b.close().await;
    }
}

#[actix_web::test]
async fn on_a_phone_the_dialog_footer_hides_no_note() {
    let app = TestApp::spawn().await;
    let Some(b) = Browser::open(&app.address).await else {
        return;
    };
    sign_up(&b, "phone@example.com").await;
    b.resize(PHONE).await;
    b.click("#create-token").await;
    b.find("#token-expiry")
        .await
        .select_by_value("never")
        .await
        .unwrap();
    // The warning that appears is above the sticky footer, not under it.
    let gap = b
        .js("const note = document.querySelector('#expiry-notes [data-expiry=never]').getBoundingClientRect(); \
             const foot = document.querySelector('#create-dialog .token-form .actions').getBoundingClientRect(); \
             return foot.top - note.bottom")
        .await;
    assert!(
        gap.as_f64().unwrap() >= 0.0,
        "the footer covers the Never warning by {gap} px"
    );
    b.screenshot("41-dialog-never-warning-phone").await;
    b.close().await;
}

#[actix_web::test]
async fn at_every_width_the_project_cards_line_up() {
    let app = TestApp::spawn().await;
    let Some(b) = Browser::open(&app.address).await else {
        return;
    };
    sign_up(&b, "phone@example.com").await;
    b.goto("/projects").await;
    for (size, label) in SIZES {
        b.resize(size).await;
        let widths = b
            .js("return ['.empty', '.new-project'].map(c => document.querySelector(c).getBoundingClientRect().width)")
            .await;
        assert_eq!(widths[0], widths[1], "the project cards' widths at {label}");
        b.screenshot(&format!("42-projects-empty-{label}")).await;
    }
    b.close().await;
}

/// axe-core finds no serious or critical violation on any screen, at either width.
#[actix_web::test]
async fn axe_core_finds_nothing_serious_on_any_screen_at_desktop_width() {
    axe_on_every_screen(SIZES[0]).await;
}

#[actix_web::test]
async fn axe_core_finds_nothing_serious_on_any_screen_at_phone_width() {
    axe_on_every_screen(SIZES[1]).await;
}

/// Every screen in turn, from the login page to a project, with axe-core over each.
async fn axe_on_every_screen((size, label): ((u32, u32), &str)) {
    let app = TestApp::spawn().await;
    let Some(b) = Browser::open(&app.address).await else {
        return;
    };
    {
        b.resize(size).await;
        let check = |screen: &str| format!("{screen} ({label})");
        b.goto("/login").await;
        axe::check(&b, &check("login")).await;
        b.goto("/signup").await;
        axe::check(&b, &check("signup")).await;
        sign_up(&b, &format!("axe-{label}@example.com")).await;
        axe::check(&b, &check("tokens, empty")).await;
        b.click(".account-menu summary").await;
        axe::check(&b, &check("account menu open")).await;
        b.click(".account-menu summary").await;

        b.click("#create-token").await;
        axe::check(&b, &check("create dialog")).await;
        b.click("#create-dialog button[type=submit]").await;
        b.wait_visible("#name-error").await;
        axe::check(&b, &check("create dialog with problems")).await;
        b.type_into("#token-name", "Dialog").await;
        b.click("#scope-publish").await;
        b.click("#create-dialog button[type=submit]").await;
        revealed_token(&b).await;
        axe::check(&b, &check("token in the dialog")).await;
        b.click("#create-dialog .dialog-head [data-close-dialog]")
            .await;
        b.wait_visible("#close-confirm").await;
        axe::check(&b, &check("close confirmation")).await;

        // The reveal page: the form page posts without the dialog's script.
        b.goto("/settings/tokens/new").await;
        axe::check(&b, &check("new token page")).await;
        b.type_into("#token-name", "Page").await;
        b.click("#scope-files").await;
        b.click(".token-form button[type=submit]").await;
        b.find("#new-token").await;
        axe::check(&b, &check("reveal page")).await;
        b.screenshot(&format!("43-reveal-page-{label}")).await;
        b.client.refresh().await.unwrap();
        b.find("#reveal-gone").await;
        axe::check(&b, &check("reveal page, reloaded")).await;

        b.goto("/settings/tokens").await;
        axe::check(&b, &check("tokens list")).await;
        b.goto("/settings/password").await;
        axe::check(&b, &check("password")).await;
        b.goto("/projects").await;
        axe::check(&b, &check("projects, empty")).await;
        b.type_into("#project-name", "Site").await;
        b.click("form[action='/projects'] button[type=submit]")
            .await;
        b.find("#project-id").await;
        axe::check(&b, &check("a project")).await;
        let project = b.value("#project-id").await;
        b.goto(&format!("/projects/{project}/settings")).await;
        axe::check(&b, &check("project settings")).await;
        // The trusted-CI form refused, then accepted, then its identity listed.
        let trust = "form[action$='/settings/trusted-ci'] button[type=submit]";
        b.type_into("#trust-issuer", "http://ci.example.com").await;
        b.click(trust).await;
        b.find("#trust-issuer-error").await;
        axe::check(&b, &check("trusted CI with problems")).await;
        b.type_into(
            "#trust-issuer",
            "https://token.actions.githubusercontent.com",
        )
        .await;
        b.type_into("#trust-claims", "repository=octo/app").await;
        // `publish` is ticked already, as the page offers it.
        assert!(b
            .find("#trust-scope-publish")
            .await
            .is_selected()
            .await
            .unwrap());
        b.click(trust).await;
        b.wait_until(
            "the trusted identity",
            "return document.body.textContent.includes('CI identity trusted.')",
        )
        .await;
        assert!(b.source().await.contains("repository=octo/app"));
        axe::check(&b, &check("project settings, CI trusted")).await;
        b.goto("/projects").await;
        axe::check(&b, &check("projects")).await;
        b.goto("/settings/security-log").await;
        axe::check(&b, &check("security log")).await;
        b.find("#kind")
            .await
            .select_by_value("token_created")
            .await
            .unwrap();
        b.click("form.filter button[type=submit]").await;
        b.wait_until(
            "the filtered log",
            "return location.search === '?kind=token_created'",
        )
        .await;
        assert!(b.text("table.security-log").await.contains("Token created"));
        axe::check(&b, &check("security log, filtered")).await;
        b.screenshot(&format!("55-security-log-{label}")).await;

        b.click(".account-menu summary").await;
        b.click(".account-menu form[action='/logout'] button").await;
        b.arrive("/login").await;
    }
    b.close().await;
}
