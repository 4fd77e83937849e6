//! Bounded work before authentication (issue 24): what a stranger can make the server hold —
//! memory for password hashes, a connection for a body that never comes — has a bound.

use std::time::Duration;

use futures_util::future::join_all;
use reqwest::StatusCode;

use crate::helpers::{client, csrf_in, migrate, raw, Instance, TestApp, TestDb};

/// Argon2 holds 19 MiB a hash: forty at once would be 760 MiB on top of the server's own.
const HASH_KIB: u64 = 19 * 1024;

/// Forty logins with unknown emails from forty addresses, all at once (each is checked against
/// a throwaway hash, so an unknown email costs what a wrong password does). A few hashes run at
/// a time; the rest wait their turn or are told to come back, and the server's peak resident
/// memory stays far below forty hashes' worth.
#[actix_web::test]
async fn forty_logins_at_once_hash_a_few_at_a_time() {
    let db = TestDb::new();
    migrate(&db.url());
    // Behind a proxy, so each login comes from an address of its own and no per-address
    // throttle stands in for the bound.
    let server = Instance::start_with(&db.url(), &["--trusted-proxies", "127.0.0.1/32"]);
    let browser = client();
    let form = browser.get(server.url("/login")).send().await.unwrap();
    let csrf = csrf_in(&form.text().await.unwrap());
    let logins = (0..40).map(|i| {
        let email = format!("nobody-{i}@example.com");
        browser
            .post(server.url("/login"))
            .header("x-forwarded-for", format!("198.51.100.{i}"))
            .form(&[
                ("email", email.as_str()),
                ("password", "not anyone's password"),
                ("csrf_token", &csrf),
            ])
            .send()
    });
    let before = server.peak_resident_kib();
    for res in join_all(logins).await {
        let res = res.unwrap();
        match res.status() {
            StatusCode::UNAUTHORIZED => {}
            StatusCode::SERVICE_UNAVAILABLE => {
                assert!(res.headers().contains_key("retry-after"));
                let page = res.text().await.unwrap();
                assert!(page.contains("The server is busy"), "{page}");
            }
            other => panic!("{other}: {}", res.text().await.unwrap()),
        }
    }
    // One hash per core at a time (the server's cores are ours), and some room for the rest.
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get()) as u64;
    let limit = before + (cores + 1) * HASH_KIB + 64 * 1024;
    let peak = server.peak_resident_kib();
    assert!(
        peak < limit,
        "peak resident memory {} MiB, from {} MiB before the logins",
        peak / 1024,
        before / 1024
    );
    // Nothing is left waiting: the next login is checked as any other.
    let res = browser
        .post(server.url("/login"))
        .header("x-forwarded-for", "198.51.100.200")
        .form(&[
            ("email", "nobody@example.com"),
            ("password", "not anyone's password"),
            ("csrf_token", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

/// A head that promises 1000 bytes, then 10 of them, then nothing.
fn stalled(method_and_path: &str, content_type: &str) -> Vec<u8> {
    format!(
        "{method_and_path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n\
         Content-Length: 1000\r\n\r\n0123456789"
    )
    .into_bytes()
}

/// A body that stalls is given up on after its deadline (10 seconds): 408 and the connection
/// closed, on a page route and a JSON route alike, sent with a length or in chunks, while
/// everyone else is answered meanwhile.
#[actix_web::test]
async fn a_stalled_body_is_dropped_and_others_are_answered_meanwhile() {
    let app = TestApp::spawn().await;
    let wait = Duration::from_secs(30);
    let form = stalled("POST /login", "application/x-www-form-urlencoded");
    let json = stalled("POST /api/credentials/revoke", "application/json");
    // actix drains what is left of a chunked body it was not asked to read: a stalled one
    // must not hold the connection that way either.
    let chunked = b"POST /signup HTTP/1.1\r\nHost: 127.0.0.1\r\n\
        Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n\
        5\r\nemail\r\n";
    let stalls = [
        raw::exchange(&app.address, &form, wait),
        raw::exchange(&app.address, &json, wait),
        raw::exchange(&app.address, chunked, wait),
    ];
    let (answers, health) = futures_util::future::join(join_all(stalls), async {
        app.get("/healthz").await.status()
    })
    .await;
    assert_eq!(health, StatusCode::OK, "answered while the bodies stall");
    for answer in answers {
        let answer = answer.expect("the server closed the connection within the deadline");
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    }
}
