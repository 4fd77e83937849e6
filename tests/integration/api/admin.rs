//! Instance admins (SPEC §9): made on the command line, and the only callers of
//! `/api/admin/...` — with a session, never a token.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{error_code, TestApp, User, PASSWORD};

/// `mantel user create --email E --admin`, then signed in through the form in a browser of
/// their own.
pub async fn admin(app: &TestApp, email: &str) -> User {
    let out = app.cli_with_stdin(
        &["user", "create", "--email", email, "--admin"],
        &format!("{PASSWORD}\n"),
    );
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.starts_with(&format!("created admin {email}")),
        "{stdout}"
    );
    let browser = app.new_browser();
    let res = browser.login(email, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "login of {email}");
    let csrf = browser.page_csrf().await;
    User {
        app: browser,
        email: email.to_owned(),
        csrf,
    }
}

async fn users(user: &User) -> reqwest::Response {
    user.get("/api/admin/users").await
}

#[actix_web::test]
async fn only_an_admin_session_reads_the_accounts() {
    let app = TestApp::spawn().await;
    let boss = admin(&app, "boss@example.com").await;
    let alice = app.with_user("alice@example.com").await;
    alice.with_token("ci", &["publish"], "1y").await;
    let revoked = alice.with_token("old", &["publish"], "1y").await;
    alice.revoke(&revoked.id).await;

    let res = users(&boss).await;
    assert_eq!(res.status(), StatusCode::OK);
    let list: Vec<Value> = res.json().await.unwrap();
    let row = |email: &str| {
        list.iter()
            .find(|u| u["email"] == email)
            .unwrap_or_else(|| panic!("{email} in {list:?}"))
            .clone()
    };
    assert_eq!(row("boss@example.com")["admin"], true);
    assert!(row("boss@example.com")["lastLoginAt"].is_string());
    let a = row("alice@example.com");
    assert_eq!(a["admin"], false);
    assert_eq!(a["tokenCount"], 1, "the revoked token is not counted");
    assert!(a["createdAt"].is_string());
    assert!(a["id"].is_string());

    // Someone else's session: forbidden, whatever they hold.
    let res = users(&alice).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(res).await, "forbidden");
    // The admin's own token never administers.
    let token = boss.with_token("admin's", &["publish"], "1y").await;
    let res = boss.bearer_get("/api/admin/users", &token.plaintext).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(res).await, "session_required");
    // Nobody.
    let res = app.new_browser().get("/api/admin/users").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn admin_grant_and_revoke_take_effect_on_the_next_request() {
    let app = TestApp::spawn().await;
    let alice = app.with_user("alice@example.com").await;
    assert_eq!(users(&alice).await.status(), StatusCode::FORBIDDEN);

    let out = alice.cli(&["admin", "grant", "ALICE@example.com"]);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("is now an instance admin"));
    assert_eq!(users(&alice).await.status(), StatusCode::OK);

    let out = alice.cli(&["admin", "revoke", "alice@example.com"]);
    assert!(out.status.success(), "{out:?}");
    let res = users(&alice).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(res).await, "forbidden");

    let out = alice.cli(&["admin", "grant", "nobody@example.com"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nobody@example.com"));
    // A plain `user create` makes no admin.
    let out = app.cli_with_stdin(
        &["user", "create", "--email", "bob@example.com"],
        &format!("{PASSWORD}\n"),
    );
    assert!(out.status.success(), "{out:?}");
    let bob = app.new_browser();
    bob.login("bob@example.com", PASSWORD).await;
    assert_eq!(
        bob.session_request(Method::GET, "/api/admin/users", "")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
}

/// The names of the tokens `GET /api/admin/tokens?query` lists (one page), sorted.
async fn inventory(boss: &User, query: &str) -> Vec<String> {
    let res = boss.get(&format!("/api/admin/tokens?{query}")).await;
    assert_eq!(res.status(), StatusCode::OK, "?{query}");
    let items: Vec<Value> = res.json().await.unwrap();
    let mut names: Vec<String> = items
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

#[actix_web::test]
async fn the_inventory_lists_every_token_with_its_owner_filtered_and_paged() {
    let app = TestApp::spawn().await;
    let boss = admin(&app, "boss@example.com").await;
    let alice = app.with_user("alice@example.com").await;
    let bob = app.with_user("bob@example.com").await;
    alice.with_token("ci", &["publish"], "1y").await;
    alice
        .with_token("forever", &["publish", "files"], "never")
        .await;
    alice.with_token("month", &["messages"], "1m").await;
    let gone = alice.with_token("gone", &["publish"], "1y").await;
    alice.revoke(&gone.id).await;
    bob.with_token("=HYPERLINK(\"x\")", &["domain"], "1m").await;
    let all = ["=HYPERLINK(\"x\")", "ci", "forever", "gone", "month"];

    let res = boss.get("/api/admin/tokens").await;
    assert_eq!(res.status(), StatusCode::OK);
    let items: Vec<Value> = res.json().await.unwrap();
    assert_eq!(items.len(), 5);
    let ci = items.iter().find(|t| t["name"] == "ci").unwrap();
    assert_eq!(ci["owner"]["email"], "alice@example.com");
    assert_eq!(ci["owner"]["id"], alice.id().await.as_str());
    assert_eq!(ci["status"], "active");
    assert_eq!(ci["scopes"], serde_json::json!(["publish"]));
    assert!(ci["prefix"].as_str().unwrap().starts_with("mm_pat_"));
    assert!(ci["token"].is_null(), "never a secret");

    assert_eq!(inventory(&boss, "").await, all);
    assert_eq!(
        inventory(&boss, "owner=Alice%40example.com").await,
        ["ci", "forever", "gone", "month"]
    );
    assert_eq!(inventory(&boss, "status=revoked").await, ["gone"]);
    assert_eq!(
        inventory(&boss, "status=active&owner=alice%40example.com").await,
        ["ci", "forever", "month"]
    );
    assert_eq!(inventory(&boss, "scope=files").await, ["forever"]);
    assert_eq!(inventory(&boss, "neverExpires=true").await, ["forever"]);
    assert_eq!(
        inventory(&boss, "expiresWithinDays=40").await,
        ["=HYPERLINK(\"x\")", "month"]
    );
    assert!(inventory(&boss, "unusedForDays=30").await.is_empty());
    let res = alice.get("/api/admin/tokens").await;
    assert_eq!(error_code(res).await, "forbidden");
    // A month and more later: the one-month tokens have expired, and nothing was used.
    app.clock.advance(chrono::Duration::days(32));
    let res = boss.login("boss@example.com", PASSWORD).await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "the session ended meanwhile"
    );
    assert_eq!(
        inventory(&boss, "status=expired").await,
        ["=HYPERLINK(\"x\")", "month"]
    );
    assert_eq!(inventory(&boss, "unusedForDays=30").await, all);
    assert!(inventory(&boss, "expiresWithinDays=40").await.is_empty());

    // Paged like every list.
    let mut seen = Vec::new();
    let mut next = Some(app.url("/api/admin/tokens?limit=2"));
    while let Some(url) = next {
        let res = boss.client.get(&url).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        next = res.headers().get("link").map(|l| {
            let l = l.to_str().unwrap();
            l[1..l.find('>').unwrap()].to_owned()
        });
        let page: Vec<Value> = res.json().await.unwrap();
        assert!(page.len() <= 2);
        seen.extend(
            page.into_iter()
                .map(|t| t["name"].as_str().unwrap().to_owned()),
        );
    }
    seen.sort();
    assert_eq!(seen, all);

    // CSV, with the security log's guard against formulas.
    let res = boss
        .get("/api/admin/tokens?format=csv&owner=bob%40example.com")
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let csv = res.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(
        lines[0].starts_with(r#""id","ownerEmail","name","prefix","scopes""#),
        "{csv}"
    );
    assert!(
        lines[1].contains(r#","bob@example.com","'=HYPERLINK(""x"")","#),
        "{csv}"
    );

    for bad in [
        "status=gone",
        "scope=admin",
        "expiresWithinDays=0",
        "unusedForDays=x",
        "neverExpires=maybe",
        "format=xml",
    ] {
        let res = boss.get(&format!("/api/admin/tokens?{bad}")).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
}

#[actix_web::test]
async fn an_admin_revokes_anyones_tokens_with_a_reason_each_owner_is_told() {
    use crate::helpers::smtp::SmtpServer;
    use mantel::notify::mail::{MailSettings, SmtpUrl};
    let smtp = SmtpServer::start();
    let url = smtp.url();
    let app = TestApp::spawn_with(
        std::sync::Arc::new(crate::helpers::TestDb::new()),
        mantel::clock::Clock::default(),
        move |s| {
            s.mail = Some(MailSettings {
                smtp_url: SmtpUrl::new(url),
                from: Some("Mantel <noreply@mantel.test>".into()),
            });
        },
    )
    .await;
    let boss = admin(&app, "boss@example.com").await;
    let alice = app.with_user("alice@example.com").await;
    let bob = app.with_user("bob@example.com").await;
    let leaver = alice.with_token("laptop", &["publish"], "1y").await;
    let kept = alice.with_token("ci", &["publish"], "1y").await;
    let bobs = bob.with_token("deploy", &["publish"], "1y").await;
    // In use (and so in the token caches) right before.
    for token in [&leaver, &bobs] {
        let res = app.bearer_get("/api/me", &token.plaintext).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    let revoke = |body: Value| {
        boss.session(Method::POST, "/api/admin/tokens/revoke")
            .json(&body)
            .send()
    };
    let unknown = "00000000-0000-4000-8000-000000000000";
    let body = serde_json::json!({
        "ids": [leaver.id, bobs.id, unknown],
        "reason": "  Left the company  ",
    });

    // Refused and nothing changed: a bad body, a token, someone else.
    for (bad, field) in [
        (
            serde_json::json!({ "ids": [leaver.id], "reason": " " }),
            "reason",
        ),
        (serde_json::json!({ "ids": [], "reason": "x" }), "ids"),
        (serde_json::json!({ "ids": ["nope"], "reason": "x" }), "ids"),
    ] {
        let res = revoke(bad).await.unwrap();
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{field}");
        let err: Value = res.json().await.unwrap();
        assert!(err["error"]["fields"][field].is_string(), "{err}");
    }
    let admins_token = boss.with_token("admin's", &["publish"], "1y").await;
    let res = boss
        .bearer(
            Method::POST,
            "/api/admin/tokens/revoke",
            &admins_token.plaintext,
        )
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res).await, "session_required");
    let res = alice
        .session(Method::POST, "/api/admin/tokens/revoke")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(res).await, "forbidden");
    let res = app.bearer_get("/api/me", &leaver.plaintext).await;
    assert_eq!(res.status(), StatusCode::OK, "still working");

    let res = revoke(body.clone()).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        serde_json::json!({ "revoked": 2 })
    );
    // The very next request with either is refused; the other token goes on.
    for token in [&leaver, &bobs] {
        let res = app.bearer_get("/api/me", &token.plaintext).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        let err: Value = res.json().await.unwrap();
        assert_eq!(
            err["error"]["message"],
            "This token was revoked by an administrator."
        );
    }
    let res = app.bearer_get("/api/me", &kept.plaintext).await;
    assert_eq!(res.status(), StatusCode::OK);
    // Again: nothing left to revoke.
    let res = revoke(body.clone()).await.unwrap();
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        serde_json::json!({ "revoked": 0 })
    );

    // Each owner is told why, in the dashboard and by mail.
    let page = alice.get_html("/settings/notifications").await;
    assert!(page.contains("revoked by an administrator"), "{page}");
    assert!(page.contains("Left the company"), "{page}");
    let mails = smtp.wait_for(7, std::time::Duration::from_secs(15)).await;
    let told: Vec<&Value> = mails
        .iter()
        .filter(|m| {
            m["subject"]
                .as_str()
                .unwrap()
                .contains("revoked by an administrator")
        })
        .collect();
    assert_eq!(told.len(), 2, "{mails:?}");
    assert!(told
        .iter()
        .all(|m| m.to_string().contains("Left the company")));

    // Both security logs say so.
    let alices = revocations(&alice).await;
    assert_eq!(alices.len(), 1);
    assert_eq!(alices[0]["details"]["tokenId"], leaver.id.as_str());
    assert_eq!(alices[0]["details"]["reason"], "admin");
    assert_eq!(alices[0]["details"]["note"], "Left the company");
    assert_eq!(alices[0]["details"]["by"], "boss@example.com");
    let mut owners: Vec<String> = revocations(&boss)
        .await
        .iter()
        .map(|e| e["details"]["ownerEmail"].as_str().unwrap().to_owned())
        .collect();
    owners.sort();
    assert_eq!(owners, ["alice@example.com", "bob@example.com"]);

    // Eleven minutes after the password: enter it again first.
    app.clock.advance(chrono::Duration::minutes(11));
    let res = revoke(serde_json::json!({ "ids": [kept.id], "reason": "x" }))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(res).await, "reauthentication_required");
    let res = app.bearer_get("/api/me", &kept.plaintext).await;
    assert_eq!(res.status(), StatusCode::OK);
}

/// The `token_revoked` events of this person's security log.
async fn revocations(user: &User) -> Vec<Value> {
    let res = user.get("/api/security-log?kind=token_revoked").await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

#[actix_web::test]
async fn a_suspended_account_is_refused_on_the_very_next_request_on_every_instance() {
    let db = std::sync::Arc::new(crate::helpers::TestDb::new());
    let clock = mantel::clock::Clock::default();
    let a = TestApp::spawn_on(db.clone(), clock.clone()).await;
    let b = TestApp::spawn_on(db.clone(), clock.clone()).await;
    let c = TestApp::spawn_on(db, clock).await;
    let boss = admin(&a, "boss@example.com").await;
    let alice = a.with_user("alice@example.com").await;
    let token = alice.with_token("ci", &["publish"], "1y").await;
    let alice_id = alice.id().await;
    let plaintext = token.plaintext.clone();
    let me = move |app: &TestApp| app.bearer(Method::GET, "/api/me", &plaintext).send();
    // In use on every instance (so in each one's token cache).
    for app in [&a, &b, &c] {
        assert_eq!(me(app).await.unwrap().status(), StatusCode::OK);
    }
    let post = |path: String| boss.session(Method::POST, &path).send();
    let suspend = format!("/api/admin/users/{alice_id}/suspend");
    let reactivate = format!("/api/admin/users/{alice_id}/reactivate");

    // Not by the account itself, nor through a token; not yourself; not nobody.
    let res = alice.session(Method::POST, &suspend).send().await.unwrap();
    assert_eq!(error_code(res).await, "forbidden");
    let res = alice
        .bearer(Method::POST, &suspend, &token.plaintext)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res).await, "session_required");
    let boss_id = boss.id().await;
    let res = post(format!("/api/admin/users/{boss_id}/suspend"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = post("/api/admin/users/00000000-0000-4000-8000-000000000000/suspend".into())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(me(&a).await.unwrap().status(), StatusCode::OK);

    let res = post(suspend.clone()).await.unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    for app in [&a, &b, &c] {
        let res = me(app).await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(error_code(res).await, "account_suspended");
    }
    // Her session ended, and she cannot sign in again.
    assert_eq!(
        alice.get("/api/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let res = alice.login("alice@example.com", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.text().await.unwrap().contains("suspended"));
    let res = boss.get("/api/admin/users").await;
    let list: Vec<Value> = res.json().await.unwrap();
    let row = list
        .iter()
        .find(|u| u["email"] == "alice@example.com")
        .unwrap();
    assert!(row["suspendedAt"].is_string(), "{row}");
    let log = boss.get("/api/security-log?kind=account_suspended").await;
    let log: Vec<Value> = log.json().await.unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["details"]["userEmail"], "alice@example.com");

    let res = post(reactivate).await.unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    for app in [&a, &b, &c] {
        assert_eq!(me(app).await.unwrap().status(), StatusCode::OK);
    }
    let res = alice.login("alice@example.com", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let log = alice
        .get("/api/security-log")
        .await
        .json::<Vec<Value>>()
        .await
        .unwrap();
    let kinds: Vec<&str> = log.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"account_suspended") && kinds.contains(&"account_reactivated"));

    // Eleven minutes after the password: enter it again first.
    boss.clock.advance(chrono::Duration::minutes(11));
    let res = post(suspend).await.unwrap();
    assert_eq!(error_code(res).await, "reauthentication_required");
    assert_eq!(me(&b).await.unwrap().status(), StatusCode::OK);
}

#[actix_web::test]
async fn a_deleted_account_is_gone_its_projects_handed_over_its_email_forgotten() {
    let app = TestApp::spawn().await;
    let boss = admin(&app, "boss@example.com").await;
    let heir = admin(&app, "heir@example.com").await;
    let alice = app.with_user("alice@example.com").await;
    let bob = app.with_user("bob@example.com").await;
    let solo = alice.with_project("solo").await;
    let shared = alice.with_project("shared").await;
    alice.add_member(&shared, "bob@example.com", "owner").await;
    let token = alice.with_token("ci", &["publish"], "1y").await;
    assert_eq!(
        app.bearer_get("/api/me", &token.plaintext).await.status(),
        StatusCode::OK
    );
    let (alice_id, bob_id, heir_id, boss_id) = (
        alice.id().await,
        bob.id().await,
        heir.id().await,
        boss.id().await,
    );
    // Something in the admin's log that names her.
    let res = boss
        .session(
            Method::POST,
            &format!("/api/admin/users/{alice_id}/suspend"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = boss
        .session(
            Method::POST,
            &format!("/api/admin/users/{alice_id}/reactivate"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let alice_again = app.new_browser();
    let res = alice_again.login("alice@example.com", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);

    let delete = |who: &User, id: &str, body: Value| {
        who.session(Method::DELETE, &format!("/api/admin/users/{id}"))
            .json(&body)
            .send()
    };
    // Refused, nothing changed: no heir for her own project, an heir who is not an admin, or
    // herself; yourself; someone else; a token.
    for body in [
        serde_json::json!({}),
        serde_json::json!({ "transferTo": bob_id }),
        serde_json::json!({ "transferTo": alice_id }),
        serde_json::json!({ "transferTo": "nope" }),
    ] {
        let res = delete(&boss, &alice_id, body.clone()).await.unwrap();
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let err: Value = res.json().await.unwrap();
        assert!(err["error"]["fields"]["transferTo"].is_string(), "{err}");
    }
    let res = delete(&boss, &boss_id, serde_json::json!({}))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = delete(&bob, &alice_id, serde_json::json!({}))
        .await
        .unwrap();
    assert_eq!(error_code(res).await, "forbidden");
    let admins_token = boss.with_token("admin's", &["publish"], "1y").await;
    let res = boss
        .bearer(
            Method::DELETE,
            &format!("/api/admin/users/{alice_id}"),
            &admins_token.plaintext,
        )
        .json(&serde_json::json!({ "transferTo": heir_id }))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res).await, "session_required");
    assert_eq!(
        app.bearer_get("/api/me", &token.plaintext).await.status(),
        StatusCode::OK
    );

    let res = delete(
        &boss,
        &alice_id,
        serde_json::json!({ "transferTo": heir_id }),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    // Her token and her sessions stop on the very next request; she cannot sign in.
    let res = app.bearer_get("/api/me", &token.plaintext).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        alice_again.get("/api/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let res = app.new_browser().login("alice@example.com", PASSWORD).await;
    assert_ne!(res.status(), StatusCode::SEE_OTHER);
    // Her own project is the heir's; the shared one keeps its other owner and loses her.
    let heirs: Vec<Value> = heir.get("/api/projects").await.json().await.unwrap();
    let got: Vec<(&str, &str)> = heirs
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["role"].as_str().unwrap()))
        .collect();
    assert_eq!(got, [(solo.as_str(), "owner")]);
    let members = app.db.count(&format!(
        "SELECT COUNT(*) AS n FROM project_members WHERE project_id = '{shared}'"
    ));
    assert_eq!(members, 1, "bob alone");
    // Listed nowhere, named in no log, and a second delete finds nothing.
    let users: Vec<Value> = boss.get("/api/admin/users").await.json().await.unwrap();
    assert!(users.iter().all(|u| u["id"] != alice_id.as_str()));
    let log: Vec<Value> = boss
        .get("/api/security-log?kind=account_deleted")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["details"]["userId"], alice_id.as_str());
    assert_eq!(
        log[0]["details"]["projectsHandedOver"],
        serde_json::json!([solo])
    );
    let named = app.db.count(
        "SELECT COUNT(*) AS n FROM security_events WHERE details LIKE '%alice@example.com%'",
    );
    assert_eq!(named, 0);
    let named = app
        .db
        .count("SELECT COUNT(*) AS n FROM users WHERE email = 'alice@example.com'");
    assert_eq!(named, 0);
    let res = delete(&boss, &alice_id, serde_json::json!({}))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = boss
        .session(
            Method::POST,
            &format!("/api/admin/users/{alice_id}/reactivate"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    // The email is free again.
    app.with_user("alice@example.com").await;

    // Bob owns nothing alone any more: no heir needed. Eleven minutes on, the password first.
    app.clock.advance(chrono::Duration::minutes(11));
    let res = delete(&boss, &bob_id, serde_json::json!({})).await.unwrap();
    assert_eq!(error_code(res).await, "reauthentication_required");
}
