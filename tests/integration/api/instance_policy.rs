//! The instance's token policy (SPEC §9): set by an admin, applied to every new and
//! regenerated token through the API and the dashboard's forms, and shown in the inventory
//! with a one-click "shorten to the maximum".

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::admin::admin;
use crate::helpers::{csrf_in, error_code, TestApp, User};

async fn put_policy(boss: &User, body: Value) -> reqwest::Response {
    boss.session(Method::PUT, "/api/admin/token-policy")
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn policy(boss: &User) -> Value {
    let res = boss.get("/api/admin/token-policy").await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

/// The 403 `token_policy` message, checking the code on the way.
async fn refusal(res: reqwest::Response) -> String {
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "token_policy", "{body}");
    body["error"]["message"].as_str().unwrap().to_owned()
}

#[actix_web::test]
async fn new_and_regenerated_tokens_follow_the_instance_policy() {
    let app = TestApp::spawn().await;
    let boss = admin(&app, "boss@example.com").await;
    let alice = app.with_user("alice@example.com").await;
    // Made before there was a policy: it keeps working whatever the policy says.
    let legacy = alice.with_token("legacy", &["publish"], "never").await;

    let none = json!({
        "maxLifetimeDays": null, "allowNever": true, "maxScopes": null,
        "requireSecondFactor": false,
    });
    assert_eq!(policy(&boss).await, none);
    // Admins only, with a session.
    let res = alice.get("/api/admin/token-policy").await;
    assert_eq!(error_code(res).await, "forbidden");
    let res = alice
        .session(Method::PUT, "/api/admin/token-policy")
        .json(&json!({ "maxLifetimeDays": 1, "allowNever": false }))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res).await, "forbidden");
    let admins = boss.with_token("admin's", &["publish"], "1y").await;
    let res = boss
        .bearer_get("/api/admin/token-policy", &admins.plaintext)
        .await;
    assert_eq!(error_code(res).await, "session_required");

    // A policy that cannot be is refused, naming the field, and nothing changes.
    for (bad, field) in [
        (json!({ "maxLifetimeDays": 90 }), "allowNever"),
        (
            json!({ "maxLifetimeDays": 0, "allowNever": false }),
            "maxLifetimeDays",
        ),
        (
            json!({ "maxLifetimeDays": 367, "allowNever": false }),
            "maxLifetimeDays",
        ),
        (json!({ "maxScopes": 0 }), "maxScopes"),
        (json!({ "maxScopes": 6 }), "maxScopes"),
    ] {
        let res = put_policy(&boss, bad.clone()).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        let err: Value = res.json().await.unwrap();
        assert!(err["error"]["fields"][field].is_string(), "{bad}: {err}");
    }
    assert_eq!(policy(&boss).await, none);

    let set = json!({ "maxLifetimeDays": 200, "allowNever": false, "maxScopes": 2 });
    let res = put_policy(&boss, set).await;
    assert_eq!(res.status(), StatusCode::OK);
    let now = json!({
        "maxLifetimeDays": 200, "allowNever": false, "maxScopes": 2,
        "requireSecondFactor": false,
    });
    assert_eq!(res.json::<Value>().await.unwrap(), now);
    assert_eq!(policy(&boss).await, now);

    // Creation: too long, never, too many scopes — refused, nothing made.
    let before = alice.tokens().await.len();
    let body = |expiry: &str, scopes: &[&str]| json!({ "name": "new", "scopes": scopes, "expiry": expiry });
    let message = refusal(alice.post_token(&body("1y", &["publish"])).await).await;
    assert!(message.contains("200 days"), "{message}");
    refusal(alice.post_token(&body("never", &["publish"])).await).await;
    let message = refusal(
        alice
            .post_token(&body("6m", &["publish", "messages", "files"]))
            .await,
    )
    .await;
    assert!(message.contains("at most 2 scopes"), "{message}");
    assert_eq!(alice.tokens().await.len(), before);
    let res = alice
        .post_token(&body("6m", &["publish", "messages"]))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);

    // Rotation: the old choice (never) is refused and the old token is untouched; a choice
    // within the policy is made.
    let rotate = |body: Value| {
        alice
            .session(Method::POST, &format!("/api/tokens/{}/rotate", legacy.id))
            .json(&body)
            .send()
    };
    refusal(rotate(json!({})).await.unwrap()).await;
    refusal(rotate(json!({ "expiry": "1y" })).await.unwrap()).await;
    let res = app.bearer_get("/api/me", &legacy.plaintext).await;
    assert_eq!(res.status(), StatusCode::OK, "the old token still works");
    let res = rotate(json!({ "expiry": "6m" })).await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);

    // Logged for the admin, with what it was before.
    let log: Vec<Value> = boss
        .get("/api/security-log?kind=token_policy_changed")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["details"]["before"]["allowNever"], true);
    assert_eq!(log[0]["details"]["after"]["maxLifetimeDays"], 200);

    // A change needs the password entered within 10 minutes.
    app.clock.advance(chrono::Duration::minutes(11));
    let res = put_policy(&boss, json!({})).await;
    assert_eq!(error_code(res).await, "reauthentication_required");
    assert_eq!(policy(&boss).await, now);
}

#[actix_web::test]
async fn the_inventory_marks_tokens_beyond_the_policy_and_shortens_them() {
    let app = TestApp::spawn().await;
    let boss = admin(&app, "boss@example.com").await;
    let alice = app.with_user("alice@example.com").await;
    let forever = alice.with_token("forever", &["publish"], "never").await;
    let year = alice.with_token("year", &["publish"], "1y").await;
    let month = alice.with_token("month", &["publish"], "1m").await;
    let ids = json!({ "ids": [forever.id, year.id, month.id] });
    let shorten = || {
        boss.session(Method::POST, "/api/admin/tokens/shorten")
            .json(&ids)
            .send()
    };
    let inventory = || async {
        let res = boss.get("/api/admin/tokens?owner=alice@example.com").await;
        assert_eq!(res.status(), StatusCode::OK);
        let list: Vec<Value> = res.json().await.unwrap();
        list.into_iter()
            .map(|t| (t["name"].as_str().unwrap().to_owned(), t))
            .collect::<std::collections::HashMap<_, _>>()
    };

    // No policy: nothing exceeds it, and there is no maximum to shorten to.
    assert!(inventory()
        .await
        .values()
        .all(|t| t["exceedsPolicy"].is_null()));
    let res = shorten().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let res = put_policy(&boss, json!({ "maxLifetimeDays": 90, "allowNever": false })).await;
    assert_eq!(res.status(), StatusCode::OK);
    let marked = inventory().await;
    assert!(marked["forever"]["exceedsPolicy"]
        .as_str()
        .unwrap()
        .contains("90 days"));
    assert!(marked["year"]["exceedsPolicy"].is_string());
    assert!(marked["month"]["exceedsPolicy"].is_null());
    let csv = boss
        .get("/api/admin/tokens?format=csv&owner=alice@example.com")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        csv.lines().next().unwrap().ends_with(r#","exceedsPolicy""#),
        "{csv}"
    );

    // Not by someone else, nor by a token.
    let res = alice
        .session(Method::POST, "/api/admin/tokens/shorten")
        .json(&ids)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res).await, "forbidden");
    let res = boss
        .session(Method::POST, "/api/admin/tokens/shorten")
        .json(&json!({ "ids": [] }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let res = shorten().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({ "shortened": 2 })
    );
    let after = inventory().await;
    for name in ["forever", "year"] {
        let t = &after[name];
        assert!(t["exceedsPolicy"].is_null(), "{t}");
        let created = chrono::DateTime::parse_from_rfc3339(t["createdAt"].as_str().unwrap());
        let expires = chrono::DateTime::parse_from_rfc3339(t["expiresAt"].as_str().unwrap());
        assert_eq!(
            expires.unwrap() - created.unwrap(),
            chrono::Duration::days(90),
            "{t}"
        );
    }
    assert_eq!(after["month"]["expiresAt"], marked["month"]["expiresAt"]);
    // Still working, now with an end; the owner sees it in their list and their log.
    let res = app.bearer_get("/api/me", &forever.plaintext).await;
    assert_eq!(res.status(), StatusCode::OK);
    let own = alice.tokens().await;
    let own = own.iter().find(|t| t["name"] == "forever").unwrap();
    assert_eq!(own["expiresAt"], after["forever"]["expiresAt"]);
    let log: Vec<Value> = alice
        .get("/api/security-log?kind=token_shortened")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(log.len(), 2);
    assert!(log.iter().all(|e| e["details"]["by"] == "boss@example.com"));
    let log: Vec<Value> = boss
        .get("/api/security-log?kind=token_shortened")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(log.len(), 2);
    assert!(log
        .iter()
        .all(|e| e["details"]["ownerEmail"] == "alice@example.com"));
    // Again: nothing left to shorten.
    let res = shorten().await.unwrap();
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({ "shortened": 0 })
    );
}

#[actix_web::test]
async fn the_dashboard_forms_offer_only_what_the_policy_allows() {
    let app = TestApp::spawn().await;
    let boss = admin(&app, "boss@example.com").await;
    let alice = app.with_user("alice@example.com").await;
    let old = alice.with_token("old", &["publish"], "1y").await;
    let offered = |html: &str| {
        ["1m", "6m", "1y", "never"]
            .into_iter()
            .filter(|e| html.contains(&format!(r#"<option value="{e}""#)))
            .collect::<Vec<_>>()
    };
    let html = alice.get_html("/settings/tokens/new").await;
    assert_eq!(offered(&html), ["1m", "6m", "1y", "never"]);
    assert!(!html.contains("This instance allows"));

    let body = json!({ "maxLifetimeDays": 200, "allowNever": false, "maxScopes": 2 });
    assert_eq!(put_policy(&boss, body).await.status(), StatusCode::OK);
    for page in ["/settings/tokens/new", "/settings/tokens"] {
        let html = alice.get_html(page).await;
        assert_eq!(offered(&html), ["1m", "6m"], "{page}");
        assert!(
            html.contains(
                "This instance allows tokens of at most 200 days, at most 2 scopes per token."
            ),
            "{page}"
        );
        // The longest allowed is chosen.
        assert!(html.contains(r#"<option value="6m" selected"#), "{page}");
    }
    let html = alice
        .get_html(&format!("/settings/tokens/{}/regenerate", old.id))
        .await;
    assert_eq!(offered(&html), ["1m", "6m"]);

    // A forged choice is refused in the form, beside the field, and nothing is made.
    let csrf = csrf_in(&html);
    let res = alice
        .post_form(
            "/settings/tokens",
            &[
                ("name", "forged"),
                ("scopes", "publish"),
                ("expiry", "1y"),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = res.text().await.unwrap();
    assert!(page.contains("The token was not created."), "{page}");
    assert!(page.contains("within 200 days"), "{page}");
    let res = alice
        .post_form(
            "/settings/tokens",
            &[
                ("name", "wide"),
                ("scopes", "publish"),
                ("scopes", "messages"),
                ("scopes", "files"),
                ("expiry", "1m"),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("at most 2 scopes"));
    assert!(alice
        .tokens()
        .await
        .iter()
        .all(|t| t["name"] != "forged" && t["name"] != "wide"));
    let res = alice
        .post_form(
            &format!("/settings/tokens/{}/regenerate", old.id),
            &[("expiry", "1y"), ("grace", "0"), ("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("within 200 days"));
    let res = app.bearer_get("/api/me", &old.plaintext).await;
    assert_eq!(res.status(), StatusCode::OK);
    // Within it: made.
    let res = alice
        .post_form(
            "/settings/tokens",
            &[
                ("name", "fine"),
                ("scopes", "publish"),
                ("expiry", "6m"),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}

#[actix_web::test]
async fn the_admin_pages_are_for_admins_and_ask_for_the_password_before_a_change() {
    let app = TestApp::spawn().await;
    let boss = admin(&app, "boss@example.com").await;
    let alice = app.with_user("alice@example.com").await;
    for page in ["/admin/tokens", "/admin/users", "/admin/settings"] {
        assert_eq!(
            alice.get(page).await.status(),
            StatusCode::FORBIDDEN,
            "{page}"
        );
        assert_eq!(boss.get(page).await.status(), StatusCode::OK, "{page}");
    }
    let link = r#"href="/admin/tokens""#;
    assert!(boss.get_html("/settings/tokens").await.contains(link));
    assert!(!alice.get_html("/settings/tokens").await.contains(link));
    let res = alice
        .post_form(
            "/admin/settings",
            &[("max_lifetime_days", "30"), ("csrf_token", &alice.csrf)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    // A policy that cannot be: said beside its field, nothing saved.
    let form = [
        ("max_lifetime_days", "30"),
        ("allow_never", "true"),
        ("max_scopes", ""),
        ("csrf_token", &boss.csrf),
    ];
    let res = boss.post_form("/admin/settings", &form).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains(r#"id="allow-never-error""#));
    // Eleven minutes on: the password first, then the same form goes through.
    app.clock.advance(chrono::Duration::minutes(11));
    let form = [
        ("max_lifetime_days", "30"),
        ("max_scopes", "3"),
        ("csrf_token", &boss.csrf),
    ];
    let res = boss.post_form("/admin/settings", &form).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let prompt = res.text().await.unwrap();
    assert!(prompt.contains("reauth_password"), "{prompt}");
    assert_eq!(policy(&boss).await["maxLifetimeDays"], Value::Null);
    let mut again = form.to_vec();
    again.push(("reauth_password", crate::helpers::PASSWORD));
    let res = boss.post_form("/admin/settings", &again).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/admin/settings");
    let now = policy(&boss).await;
    assert_eq!(
        (now["maxLifetimeDays"].clone(), now["maxScopes"].clone()),
        (json!(30), json!(3))
    );
    assert_eq!(now["allowNever"], false);
    let page = boss.get_html("/admin/settings").await;
    assert!(page.contains(r#"value="30""#) && page.contains("Saved"));
}
