//! The token page: reached from the list by the token's name; its chart of requests a day is
//! drawn by the server, with a text alternative and a table, and passes axe-core.

use std::time::Duration;

use reqwest::StatusCode;

use crate::browser::steps::log_in;
use crate::helpers::browser::Browser;
use crate::helpers::{axe, TestApp};

#[actix_web::test]
async fn the_token_page_shows_its_use_and_chart() {
    let app = TestApp::spawn().await;
    let user = app.with_user("charted@example.com").await;
    let token = user.with_token("Nightly export", &["publish"], "1y").await;
    for _ in 0..3 {
        let res = app.bearer_get("/api/me", &token.plaintext).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    let Some(b) = Browser::open(&app.address).await else {
        return;
    };
    log_in(&b, &user).await;
    b.click(&format!("tr[data-token-id='{}'] a.token-name", token.id))
        .await;
    b.arrive(&format!("/settings/tokens/{}", token.id)).await;
    assert_eq!(
        b.text("h1").await,
        format!(
            "Nightly export {}…",
            token.created["prefix"].as_str().unwrap()
        )
    );
    // Recorded within the flush interval (a second): reload until the requests are there.
    for _ in 0..30 {
        if b.text("figcaption").await.starts_with("3 requests") {
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
        b.goto(&format!("/settings/tokens/{}", token.id)).await;
    }
    let caption = b.text("figcaption").await;
    assert!(
        caption.starts_with("3 requests in the last 30 days"),
        "{caption}"
    );
    assert_eq!(
        b.js("return document.querySelectorAll('.chart rect.bar').length")
            .await,
        30
    );
    assert_eq!(
        b.js("return document.querySelector('.chart svg').getAttribute('role')")
            .await,
        "img"
    );
    let tallest = b
        .js("return Math.max(...[...document.querySelectorAll('.chart rect.bar')].map(r => +r.getAttribute('height')))")
        .await;
    assert_eq!(tallest.as_f64(), Some(120.0), "today's bar is the tallest");
    assert!(b.text("table.addresses").await.contains("127.0.0.1"));
    // Three identical requests: one line each, or fewer lines marked "×N" (equal requests
    // within one second are one entry), adding up to three.
    assert_eq!(
        b.js("return [...document.querySelectorAll('table.requests tbody tr')].map(r => { const m = r.textContent.match(/×(\\d+)/); return m ? +m[1] : 1 }).reduce((a, b) => a + b, 0)")
            .await,
        3
    );
    b.screenshot("60-token-page").await;
    axe::check(&b, "token page").await;
}
