//! The account security log (SPEC §8.3): every event this product produces appears once, with
//! the client's address, user agent and details; failed sign-ins are logged although they
//! fail; the kind filter, paging and CSV agree with each other; nobody sees another account's
//! log, and a token cannot read it.

use std::sync::Arc;
use std::time::Duration as Wait;

use chrono::Duration;
use mantel::clock::Clock;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{client, TestApp, TestDb, User, PASSWORD};

/// The same server from a browser of its own that sends `agent` as its user agent.
fn browser_as(app: &TestApp, agent: &str) -> TestApp {
    TestApp {
        client: reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(agent)
            .build()
            .unwrap(),
        ..app.new_browser()
    }
}

/// Someone who signed up from a browser sending `agent`.
async fn sign_up_as(app: &TestApp, email: &str, agent: &str) -> User {
    let browser = browser_as(app, agent);
    let csrf = browser.signup(email).await;
    User {
        app: browser,
        email: email.to_owned(),
        csrf,
    }
}

/// `GET /api/security-log{query}` as `user`, the events and the next page's URL.
async fn log_page(user: &TestApp, query: &str) -> (Vec<Value>, Option<String>) {
    let res = user.get(&format!("/api/security-log{query}")).await;
    assert_eq!(res.status(), StatusCode::OK, "{query}");
    let next = res.headers().get("link").map(|l| {
        let l = l.to_str().unwrap();
        l[l.find('<').unwrap() + 1..l.find('>').unwrap()].to_owned()
    });
    (res.json().await.unwrap(), next)
}

/// The whole log of `user`, every page followed, newest first.
async fn whole_log(user: &TestApp) -> Vec<Value> {
    let (mut events, mut next) = log_page(user, "?limit=200").await;
    while let Some(url) = next {
        let res = user.client.get(&url).send().await.unwrap();
        next = res.headers().get("link").map(|l| {
            let l = l.to_str().unwrap();
            l[l.find('<').unwrap() + 1..l.find('>').unwrap()].to_owned()
        });
        events.extend(res.json::<Vec<Value>>().await.unwrap());
    }
    events
}

/// The one event of `kind` in `events` (panics unless there is exactly one).
fn one<'a>(events: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = events.iter().filter(|e| e["kind"] == kind).collect();
    assert_eq!(found.len(), 1, "{kind} in {events:#?}");
    found[0]
}

fn kinds(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["kind"].as_str().unwrap()).collect()
}

#[actix_web::test]
async fn each_thing_that_happens_to_an_account_is_logged_once_with_where_it_came_from() {
    let app = TestApp::spawn().await;
    let alice = sign_up_as(&app, "alice@example.com", "Laptop/1.0").await;
    let signup = one(&whole_log(&alice).await, "signup").clone();
    assert_eq!(signup["ip"], "127.0.0.1");
    assert_eq!(signup["userAgent"], "Laptop/1.0");
    assert_eq!(signup["details"], json!({}));
    for field in ["id", "at"] {
        assert!(signup[field].is_string(), "{signup}");
    }

    // Signing in on a phone whose user agent is longer than anyone needs.
    let long_agent = format!("Phone/2.0 {}", "x".repeat(300));
    let phone = browser_as(&app, &long_agent);
    assert_eq!(
        phone.login(&alice.email, PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    // Tokens: created, regenerated, revoked (twice: the second changes nothing).
    let token = alice.with_token("CI pipeline", &["publish"], "1y").await;
    let res = alice
        .session(Method::POST, &format!("/api/tokens/{}/rotate", token.id))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let rotated: Value = res.json().await.unwrap();
    let new_id = rotated["id"].as_str().unwrap();
    for _ in 0..2 {
        assert_eq!(alice.revoke(new_id).await.status(), StatusCode::NO_CONTENT);
    }
    // A project member added, re-roled and removed.
    let bob = sign_up_as(&app, "bob@example.com", "Bob/1.0").await;
    let bob_id = bob.id().await;
    let project = alice.with_project("Website").await;
    alice.add_member(&project, &bob.email, "viewer").await;
    alice.add_member(&project, &bob.email, "viewer").await; // no change, no event
    alice.add_member(&project, &bob.email, "editor").await;
    let res = alice
        .session(
            Method::DELETE,
            &format!("/api/projects/{project}/members/{bob_id}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    // The phone's session ended from the laptop, then the password changed, then logout.
    let sessions = alice.get_html("/settings/sessions").await;
    let marker = "action=\"/settings/sessions/";
    let start = sessions.find(marker).expect("the phone's session") + marker.len();
    let phone_session = &sessions[start..start + sessions[start..].find('/').unwrap()];
    let res = alice
        .post_form(
            &format!("/settings/sessions/{phone_session}/end"),
            &[("csrf_token", &alice.csrf)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = alice
        .post_form(
            "/settings/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", "a brand new password"),
                ("csrf_token", &alice.csrf),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let csrf = alice.page_csrf().await;
    let before_logout = whole_log(&alice).await;
    let res = alice.post_form("/logout", &[("csrf_token", &csrf)]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        alice
            .login(&alice.email, "a brand new password")
            .await
            .status(),
        StatusCode::SEE_OTHER
    );

    let events = whole_log(&alice).await;
    assert_eq!(
        kinds(&events),
        [
            "login",
            "logout",
            "password_changed",
            "session_ended",
            "member_removed",
            "member_role_changed",
            "member_added",
            "token_revoked",
            "token_rotated",
            "token_created",
            "login",
            "signup",
        ],
        "newest first, each once"
    );
    assert_eq!(events.len(), before_logout.len() + 2);
    // Every event came from this machine; each carries the user agent of its browser.
    assert!(events.iter().all(|e| e["ip"] == "127.0.0.1"), "{events:#?}");
    let phone_login = &events[10];
    assert_eq!(
        phone_login["userAgent"].as_str().unwrap(),
        long_agent.chars().take(200).collect::<String>()
    );
    assert_eq!(one(&events, "token_created")["userAgent"], "Laptop/1.0");
    // Token events name the token, never its secret.
    let prefix = token.created["prefix"].as_str().unwrap();
    assert_eq!(
        one(&events, "token_created")["details"],
        json!({"tokenId": token.id, "tokenName": "CI pipeline", "prefix": prefix})
    );
    let rotated_event = &one(&events, "token_rotated")["details"];
    assert_eq!(rotated_event["tokenId"], new_id);
    assert_eq!(rotated_event["prefix"], rotated["prefix"]);
    assert_eq!(rotated_event["rotatedFrom"], token.id.as_str());
    assert_eq!(one(&events, "token_revoked")["details"]["tokenId"], new_id);
    let all = serde_json::to_string(&events).unwrap();
    assert!(!all.contains(&token.plaintext[7..]), "no secret in the log");
    assert!(!all.contains(rotated["token"].as_str().unwrap()));
    // Membership events name the project, the member and the roles; the owner's log says who.
    let changed = &one(&events, "member_role_changed")["details"];
    assert_eq!(changed["projectId"], project.as_str());
    assert_eq!(changed["projectName"], "Website");
    assert_eq!(changed["memberEmail"], "bob@example.com");
    assert_eq!(
        (&changed["previousRole"], &changed["role"]),
        (&json!("viewer"), &json!("editor"))
    );
    assert_eq!(changed["by"], "alice@example.com");
    // …and the member's own log has the same three, from Alice's browser.
    let bobs = whole_log(&bob).await;
    assert_eq!(
        kinds(&bobs),
        [
            "member_removed",
            "member_role_changed",
            "member_added",
            "signup"
        ]
    );
    assert_eq!(bobs[2]["details"]["role"], "viewer");
    assert_eq!(bobs[2]["userAgent"], "Laptop/1.0");
    assert_eq!(
        one(&events, "session_ended")["details"]["sessionId"],
        phone_session
    );
}

#[actix_web::test]
async fn a_failed_sign_in_is_logged_against_the_account_and_an_unknown_email_nowhere() {
    let app = TestApp::spawn().await;
    let alice = app.with_user("alice@example.com").await;
    let thief = browser_as(&app, "Thief/0.1");
    let res = thief.login("ALICE@example.com", "not the password").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = thief.login("nobody@example.com", "not the password").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    let events = whole_log(&alice).await;
    assert_eq!(kinds(&events), ["login_failed", "signup"]);
    assert_eq!(events[0]["userAgent"], "Thief/0.1");
    assert_eq!(events[0]["ip"], "127.0.0.1");
    assert_eq!(
        app.db.count("SELECT COUNT(*) AS n FROM security_events"),
        2,
        "the unknown email is logged against nobody"
    );
    // The password is nowhere in what was stored.
    assert!(!app.db.raw_contents().contains("not the password"));
}

#[actix_web::test]
async fn the_log_filters_by_kind_and_pages_by_link_without_repeating_an_event() {
    let app = TestApp::spawn().await;
    let alice = app.with_user("alice@example.com").await;
    for n in 0..5 {
        alice
            .with_token(&format!("token {n}"), &["publish"], "1y")
            .await;
    }
    let (first, next) = log_page(&alice, "?kind=token_created&limit=2").await;
    assert_eq!(kinds(&first), ["token_created"; 2]);
    assert_eq!(first[0]["details"]["tokenName"], "token 4");
    let next = next.expect("a next page");
    assert!(next.contains("kind=token_created"), "{next}");
    let mut names: Vec<Value> = first
        .iter()
        .map(|e| e["details"]["tokenName"].clone())
        .collect();
    let mut url = Some(next);
    while let Some(u) = url {
        let res = alice.client.get(&u).send().await.unwrap();
        url = res.headers().get("link").map(|l| {
            let l = l.to_str().unwrap();
            l[l.find('<').unwrap() + 1..l.find('>').unwrap()].to_owned()
        });
        let page: Vec<Value> = res.json().await.unwrap();
        assert!(page.len() <= 2);
        names.extend(page.iter().map(|e| e["details"]["tokenName"].clone()));
    }
    assert_eq!(
        names,
        (0..5)
            .rev()
            .map(|n| json!(format!("token {n}")))
            .collect::<Vec<_>>()
    );
    let (signups, next) = log_page(&alice, "?kind=signup").await;
    assert_eq!((kinds(&signups), next), (vec!["signup"], None));

    for bad in ["?kind=nope", "?kind=LOGIN", "?format=xml", "?limit=0"] {
        let res = alice.get(&format!("/api/security-log{bad}")).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "validation_failed");
        let field = bad[1..bad.find('=').unwrap()].to_owned();
        assert!(body["error"]["fields"][&field].is_string(), "{body}");
    }
}

/// Parses RFC 4180 CSV: quoted fields, doubled quotes, CRLF rows.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let (mut rows, mut row, mut field) = (Vec::new(), Vec::new(), String::new());
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(
        field.is_empty() && row.is_empty(),
        "the last row ends with CRLF"
    );
    rows
}

#[actix_web::test]
async fn the_csv_export_holds_the_same_events_as_the_json_and_runs_no_formula() {
    let app = TestApp::spawn().await;
    let alice = app.with_user("alice@example.com").await;
    alice
        .with_token("comma, \"quotes\"; and more", &["publish"], "1y")
        .await;
    // A client whose user agent a spreadsheet would run as a formula.
    let formula = "=HYPERLINK(\"http://evil.example\",\"x\")";
    let evil = browser_as(&app, formula);
    assert_eq!(
        evil.login(&alice.email, PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );

    let (json_events, _) = log_page(&alice, "").await;
    let res = alice.get("/api/security-log?format=csv").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "text/csv; charset=utf-8");
    let rows = parse_csv(&res.text().await.unwrap());
    assert_eq!(rows[0], ["id", "kind", "at", "ip", "userAgent", "details"]);
    assert_eq!(rows.len(), json_events.len() + 1);
    for (row, event) in rows[1..].iter().zip(&json_events) {
        assert_eq!(row[0], event["id"].as_str().unwrap());
        assert_eq!(row[1], event["kind"].as_str().unwrap());
        let at = |s: &str| s.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
        assert_eq!(at(&row[2]), at(event["at"].as_str().unwrap()));
        assert_eq!(row[3], event["ip"].as_str().unwrap_or(""));
        let agent = event["userAgent"].as_str().unwrap_or("");
        if agent.starts_with('=') {
            assert_eq!(row[4], format!("'{agent}"), "a formula is shown as text");
        } else {
            assert_eq!(row[4], agent);
        }
        assert_eq!(
            serde_json::from_str::<Value>(&row[5]).unwrap(),
            event["details"]
        );
    }
    assert_eq!(rows[1][4], format!("'{formula}"));
    let created = rows.iter().find(|r| r[1] == "token_created").unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&created[5]).unwrap()["tokenName"],
        "comma, \"quotes\"; and more"
    );
    // A paged CSV says where the next page is, like the JSON.
    let res = alice.get("/api/security-log?format=csv&limit=1").await;
    assert!(res.headers()["link"]
        .to_str()
        .unwrap()
        .contains("format=csv"));
    assert_eq!(parse_csv(&res.text().await.unwrap()).len(), 2);
}

/// A spreadsheet that splits on `,`, `;` or tab finds no cell it would run as a formula,
/// whichever it picks and whatever a client sent: a semicolon-locale Excel splits a comma file
/// on `;` even inside quotes, so this split ignores quotes on purpose.
#[actix_web::test]
async fn no_cell_of_the_csv_is_a_formula_whatever_the_separator() {
    let app = TestApp::spawn().await;
    let alice = app.with_user("alice@example.com").await;
    alice.with_token("x,=1+1", &["publish"], "1y").await;
    let agents = [
        "Mozilla/5.0;=cmd|' /C calc'!A0",
        "x,=1+1",
        // Control characters are dropped from a stored user agent: the tab never reaches the
        // file, and what is left is no formula either.
        "tab\t@SUM(1)",
        "-2+3;+4",
    ];
    for agent in agents {
        let browser = browser_as(&app, agent);
        assert_eq!(
            browser.login(&alice.email, PASSWORD).await.status(),
            StatusCode::SEE_OTHER
        );
    }

    let csv = alice
        .get("/api/security-log?format=csv")
        .await
        .text()
        .await
        .unwrap();
    for line in csv.lines() {
        for cell in line.split([',', ';', '\t']) {
            let cell = cell.trim_matches('"');
            assert!(
                !cell.starts_with(['=', '+', '-', '@']),
                "{cell:?} in {line:?}"
            );
        }
    }

    // Read as CSV, each value is what was sent with a `'` before each guarded character.
    let rows = parse_csv(&csv);
    let agents: Vec<&str> = rows[1..]
        .iter()
        .filter(|r| r[1] == "login")
        .map(|r| r[4].as_str())
        .collect();
    for expected in [
        "Mozilla/5.0;'=cmd|' /C calc'!A0",
        "x,'=1+1",
        "tab@SUM(1)",
        "'-2+3;'+4",
    ] {
        assert!(agents.contains(&expected), "{expected:?} in {agents:?}");
    }
    let created = rows.iter().find(|r| r[1] == "token_created").unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&created[5]).unwrap()["tokenName"],
        "x,'=1+1"
    );
}

#[actix_web::test]
async fn nobody_reads_another_accounts_log_and_a_token_cannot_read_its_own() {
    let app = TestApp::spawn().await;
    let alice = app.with_user("alice@example.com").await;
    let token = alice
        .with_token("reader", &["publish", "billing.read"], "1y")
        .await;
    let mallory = app.with_user("mallory@example.com").await;
    let events = whole_log(&mallory).await;
    assert_eq!(kinds(&events), ["signup"]);
    assert!(!serde_json::to_string(&events).unwrap().contains("alice"));
    // A cursor from Alice's log is only a position: it reads Mallory's events after it.
    let (_, next) = log_page(&alice, "?limit=1").await;
    let res = mallory.client.get(next.unwrap()).send().await.unwrap();
    let theirs: Vec<Value> = res.json().await.unwrap();
    assert!(theirs.iter().all(|e| e["kind"] == "signup"), "{theirs:?}");

    let res = alice
        .bearer_get("/api/security-log", &token.plaintext)
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // The message names what was asked for, not token management.
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "session_required");
    assert_eq!(
        body["error"]["message"],
        "The security log needs a dashboard session; an API token cannot do it."
    );
    // A bearer header beside a valid cookie is refused too.
    let res = alice
        .client
        .get(alice.url("/api/security-log"))
        .header("Authorization", format!("Bearer {}", token.plaintext))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = client()
        .get(app.url("/api/security-log"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn an_expiry_is_logged_once_by_the_sweep_and_a_year_later_the_log_is_emptied() {
    let (db, clock) = (Arc::new(TestDb::new()), Clock::default());
    let app = TestApp::spawn_with(db, clock.clone(), |s| {
        s.sweep_every = Wait::from_millis(100)
    })
    .await;
    let alice = app.with_user("alice@example.com").await;
    let token = alice.with_token("monthly", &["publish"], "1m").await;
    clock.advance(Duration::days(32));
    // Alice's session idled out meanwhile: she signs in again to read the log.
    assert_eq!(
        alice.login(&alice.email, PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    for _ in 0..100 {
        let events = whole_log(&alice).await;
        if events.iter().any(|e| e["kind"] == "token_expired") {
            break;
        }
        actix_web::rt::time::sleep(Wait::from_millis(50)).await;
    }
    // Later sweeps find it told already.
    actix_web::rt::time::sleep(Wait::from_millis(400)).await;
    let mut events = whole_log(&alice).await;
    let expired = one(&events, "token_expired");
    assert_eq!(expired["details"]["tokenId"], token.id.as_str());
    assert_eq!(
        (&expired["ip"], &expired["userAgent"]),
        (&Value::Null, &Value::Null)
    );

    clock.advance(Duration::days(366));
    assert_eq!(
        alice.login(&alice.email, PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    for _ in 0..100 {
        events = whole_log(&alice).await;
        if events.len() == 1 {
            break;
        }
        actix_web::rt::time::sleep(Wait::from_millis(50)).await;
    }
    assert_eq!(kinds(&events), ["login"], "kept a year, then gone");
}

#[actix_web::test]
async fn the_dashboard_page_lists_filters_and_pages_the_log_without_javascript() {
    let app = TestApp::spawn().await;
    let alice = sign_up_as(&app, "alice@example.com", "Laptop/1.0").await;
    for n in 0..50 {
        alice
            .with_token(&format!("token {n:02}"), &["publish"], "1y")
            .await;
    }
    let menu = alice.get_html("/settings/tokens").await;
    assert!(
        menu.contains("href=\"/settings/security-log\""),
        "in the account menu"
    );

    let page = alice.get_html("/settings/security-log").await;
    assert!(page.contains("<h1>Security log</h1>"));
    assert_eq!(page.matches("<tr data-kind=").count(), 50, "a page of 50");
    assert!(
        page.contains("“token 49” (mm_pat_"),
        "newest first, the token named"
    );
    assert!(page.contains("Laptop/1.0") && page.contains("127.0.0.1"));
    assert!(
        !page.contains("data-kind=\"signup\""),
        "the sign-up is on the next page"
    );
    // "Older events" leads to the rest, as a plain link.
    let marker = "href=\"/settings/security-log?cursor=";
    let start = page.find(marker).expect("an Older link") + "href=\"".len();
    let older = &page[start..start + page[start..].find('"').unwrap()];
    let rest = alice.get_html(&older.replace("&amp;", "&")).await;
    assert_eq!(rest.matches("<tr data-kind=").count(), 1);
    assert!(rest.contains("<tr data-kind=\"signup\">"));
    assert!(rest.contains("<tr data-kind=\"signup\">"));
    assert!(!rest.contains("Older events"));

    // The filter is a GET form; the CSV link downloads what the page shows.
    assert!(page.contains("<form method=\"get\" action=\"/settings/security-log\""));
    let signups = alice.get_html("/settings/security-log?kind=signup").await;
    assert_eq!(signups.matches("<tr data-kind=\"signup\"").count(), 1);
    assert_eq!(signups.matches("<tr data-kind=").count(), 1);
    assert!(signups.contains("<option value=\"signup\" selected>"));
    // The link of "Download CSV", its entities decoded as a browser would.
    let link_end = signups
        .find("\" download>Download CSV")
        .expect("a CSV link");
    let link_start = signups[..link_end].rfind("href=\"").unwrap() + "href=\"".len();
    let csv_link = signups[link_start..link_end]
        .replace("&#38;", "&")
        .replace("&amp;", "&");
    assert_eq!(
        csv_link,
        "/api/security-log?kind=signup&format=csv&limit=50"
    );
    let csv = alice.get(&csv_link).await.text().await.unwrap();
    assert_eq!(parse_csv(&csv)[1][1], "signup");

    let res = alice.get("/settings/security-log?kind=nope").await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    // Not signed in: the login page, as for every dashboard page.
    let res = app.new_browser().get("/settings/security-log").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}

#[actix_web::test]
async fn a_refused_change_logs_nothing() {
    let app = TestApp::spawn().await;
    let alice = app.with_user("alice@example.com").await;
    let project = alice.with_project("Website").await;
    let token = alice.with_token("old", &["publish"], "1y").await;
    assert_eq!(
        alice.revoke(&token.id).await.status(),
        StatusCode::NO_CONTENT
    );
    let before = whole_log(&alice).await;

    // Regenerating a revoked token, demoting the last owner, ending a session that is not
    // there, signing up with a taken email: each refused, none logged.
    let res = alice
        .session(Method::POST, &format!("/api/tokens/{}/rotate", token.id))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = alice
        .session(Method::POST, &format!("/api/projects/{project}/members"))
        .json(&json!({ "email": alice.email, "role": "viewer" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = alice
        .post_form(
            "/settings/sessions/not-a-session/end",
            &[("csrf_token", &alice.csrf)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let other = app.new_browser();
    let csrf = crate::helpers::csrf_in(&other.get_html("/signup").await);
    let res = other
        .post_form(
            "/signup",
            &[
                ("email", "ALICE@example.com"),
                ("password", PASSWORD),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);

    assert_eq!(whole_log(&alice).await, before);
    assert_eq!(
        app.db.count("SELECT COUNT(*) AS n FROM security_events"),
        before.len() as i64
    );
}

#[actix_web::test]
async fn a_tokens_use_from_a_new_address_and_after_revocation_are_each_logged_once() {
    let app = TestApp::spawn().await;
    let alice = app.with_user("alice@example.com").await;
    let token = alice.with_token("robot", &["publish"], "1y").await;
    // A robot calling from 127.0.0.1, then from 127.0.0.2.
    let call = |from: [u8; 4]| {
        reqwest::Client::builder()
            .local_address(std::net::IpAddr::from(from))
            .user_agent("Robot/1.0")
            .build()
            .unwrap()
            .get(app.url("/api/me"))
            .bearer_auth(&token.plaintext)
            .send()
    };
    let until = |kind: &'static str| {
        let alice = &alice;
        async move {
            for _ in 0..100 {
                if whole_log(alice).await.iter().any(|e| e["kind"] == kind) {
                    return;
                }
                actix_web::rt::time::sleep(Wait::from_millis(50)).await;
            }
            panic!("no {kind} event");
        }
    };
    assert_eq!(call([127, 0, 0, 1]).await.unwrap().status(), StatusCode::OK);
    // Its first address is no news: wait until that use is written.
    let activity = format!("/api/tokens/{}/activity", token.id);
    for _ in 0..100 {
        let res = alice.get(&activity).await;
        if res.json::<Vec<Value>>().await.unwrap().len() == 1 {
            break;
        }
        actix_web::rt::time::sleep(Wait::from_millis(50)).await;
    }
    for _ in 0..3 {
        assert_eq!(call([127, 0, 0, 2]).await.unwrap().status(), StatusCode::OK);
    }
    until("token_used_from_new_ip").await;
    assert_eq!(
        alice.revoke(&token.id).await.status(),
        StatusCode::NO_CONTENT
    );
    for _ in 0..3 {
        let res = call([127, 0, 0, 2]).await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    until("token_used_after_revocation").await;
    // Another flush or two would show a duplicate.
    actix_web::rt::time::sleep(Wait::from_millis(2500)).await;

    let events = whole_log(&alice).await;
    for kind in ["token_used_from_new_ip", "token_used_after_revocation"] {
        let event = one(&events, kind);
        assert_eq!(event["ip"], "127.0.0.2");
        assert_eq!(event["userAgent"], "Robot/1.0");
        assert_eq!(event["details"]["tokenId"], token.id.as_str());
        assert_eq!(event["details"]["tokenName"], "robot");
    }
}
