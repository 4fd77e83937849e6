//! Re-authentication (SPEC §8.5): some changes need the password entered within 10 minutes.

use chrono::Duration;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{error_code, TestApp, User, PASSWORD};

async fn reauthenticate(user: &User, password: &str) -> reqwest::Response {
    user.session(Method::POST, "/api/session/reauthenticate")
        .json(&json!({ "password": password }))
        .send()
        .await
        .unwrap()
}

async fn create(user: &User, scopes: &[&str], expiry: &str) -> reqwest::Response {
    let name = format!("{scopes:?} {expiry} {}", uuid_ish());
    user.post_token(&json!({ "name": name, "scopes": scopes, "expiry": expiry }))
        .await
}

fn uuid_ish() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    N.fetch_add(1, Ordering::Relaxed).to_string()
}

#[actix_web::test]
async fn sensitive_changes_need_a_password_entered_within_ten_minutes() {
    let app = TestApp::spawn().await;
    let user = app.with_user("sudo@example.com").await;
    let project = user.with_project("Site").await;
    app.with_user("second@example.com").await;
    // Signing up counts as entering the password.
    assert_eq!(
        create(&user, &["publish"], "never").await.status(),
        StatusCode::CREATED
    );
    let old = user.with_token("to rotate", &["publish"], "1y").await;

    user.clock
        .advance(Duration::minutes(10) + Duration::seconds(1));
    for (what, res) in [
        ("never", create(&user, &["publish"], "never").await),
        ("domain", create(&user, &["domain"], "1m").await),
        ("billing", create(&user, &["billing.read"], "1m").await),
        (
            "rotation",
            user.session(Method::POST, &format!("/api/tokens/{}/rotate", old.id))
                .json(&json!({}))
                .send()
                .await
                .unwrap(),
        ),
        (
            "a new owner",
            user.session(Method::POST, &format!("/api/projects/{project}/members"))
                .json(&json!({ "email": "second@example.com", "role": "owner" }))
                .send()
                .await
                .unwrap(),
        ),
    ] {
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{what}");
        assert_eq!(error_code(res).await, "reauthentication_required", "{what}");
    }
    // Nothing was made or changed meanwhile.
    assert_eq!(user.tokens().await.len(), 2);
    assert!(user
        .tokens()
        .await
        .iter()
        .all(|t| t["replacedBy"].is_null()));
    // Everything else goes on as before.
    assert_eq!(
        create(&user, &["publish"], "1y").await.status(),
        StatusCode::CREATED
    );
    user.add_member(&project, "second@example.com", "editor")
        .await;

    // A wrong password changes nothing; the right one opens the window again.
    let wrong = reauthenticate(&user, "not the password").await;
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = wrong.json().await.unwrap();
    assert!(body["error"]["fields"]["password"].is_string());
    assert_eq!(
        create(&user, &["domain"], "1m").await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        reauthenticate(&user, PASSWORD).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        create(&user, &["domain"], "1m").await.status(),
        StatusCode::CREATED
    );
    // The security log says so, once (the wrong password is not a re-authentication).
    let log: Vec<Value> = user
        .get("/api/security-log?kind=reauthenticated")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0]["kind"], "reauthenticated");
    user.clock.advance(Duration::minutes(9));
    user.add_member(&project, "second@example.com", "owner")
        .await;
    user.clock.advance(Duration::minutes(2));
    assert_eq!(
        create(&user, &["domain"], "1m").await.status(),
        StatusCode::FORBIDDEN
    );

    // Logging in counts too.
    let again = user.new_browser();
    assert_eq!(
        again.login("sudo@example.com", PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    let csrf = again.page_csrf().await;
    let res = again
        .session_request(Method::POST, "/api/tokens", &csrf)
        .json(&json!({ "name": "after login", "scopes": ["billing.read"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
}

#[actix_web::test]
async fn reauthentication_is_session_only_and_throttled() {
    let user = TestApp::spawn().await.with_user("guess@example.com").await;
    let token = user.with_token("CI", &["publish"], "1y").await.plaintext;
    let res = user
        .bearer(Method::POST, "/api/session/reauthenticate", &token)
        .json(&json!({ "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res).await, "session_required");
    let missing = user
        .session(Method::POST, "/api/session/reauthenticate")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::UNPROCESSABLE_ENTITY);

    for _ in 0..10 {
        let res = reauthenticate(&user, "guess guess guess").await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    let res = reauthenticate(&user, PASSWORD).await;
    assert_eq!(
        res.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "even the right one, for now"
    );
    assert!(res.headers().contains_key("retry-after"));
}

/// The hidden inputs of the prompt's form, and its action.
fn prompt_form(html: &str) -> (String, Vec<(String, String)>) {
    let form = &html[html
        .find("class=\"reauth-form\"")
        .expect("a password prompt")..];
    let action = {
        let start = form.find("action=\"").unwrap() + "action=\"".len();
        form[start..start + form[start..].find('"').unwrap()].to_owned()
    };
    let mut fields = Vec::new();
    let mut rest = form;
    while let Some(i) = rest.find("<input type=\"hidden\" name=\"") {
        rest = &rest[i + "<input type=\"hidden\" name=\"".len()..];
        let name = rest[..rest.find('"').unwrap()].to_owned();
        let v = rest.find("value=\"").unwrap() + "value=\"".len();
        let value = rest[v..v + rest[v..].find('"').unwrap()].to_owned();
        fields.push((
            name,
            value
                .replace("&#x27;", "'")
                .replace("&quot;", "\"")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&#34;", "\"")
                .replace("&#39;", "'")
                .replace("&#60;", "<")
                .replace("&#62;", ">")
                .replace("&amp;", "&")
                .replace("&#38;", "&"),
        ));
    }
    (action, fields)
}

#[actix_web::test]
async fn the_dashboard_asks_for_the_password_and_then_finishes_the_action() {
    let user = TestApp::spawn().await.with_user("prompt@example.com").await;
    user.clock.advance(Duration::minutes(30));
    let res = user
        .post_form(
            "/settings/tokens",
            &[
                ("name", "Forever & a day"),
                ("scopes", "publish"),
                ("scopes", "domain"),
                ("expiry", "never"),
                ("allowed_ips", "203.0.113.0/24"),
                ("csrf_token", &user.csrf),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let html = res.text().await.unwrap();
    assert!(html.contains("Confirm it’s you"), "{html}");
    assert!(user.tokens().await.is_empty(), "nothing created yet");
    let (action, mut fields) = prompt_form(&html);
    assert_eq!(action, "/settings/tokens");
    assert!(
        fields.contains(&("name".into(), "Forever & a day".into())),
        "{fields:?}"
    );

    // A wrong password: asked again, still nothing created.
    let mut wrong = fields.clone();
    wrong.push(("reauth_password".into(), "nope nope nope".into()));
    let pairs: Vec<(&str, &str)> = wrong
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let res = user.post_form(&action, &pairs).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("That is not your password."));
    assert!(user.tokens().await.is_empty());

    fields.push(("reauth_password".into(), PASSWORD.into()));
    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let res = user.post_form(&action, &pairs).await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "the original action finished"
    );
    let reveal = user
        .get_html(res.headers()["location"].to_str().unwrap())
        .await;
    assert!(reveal.contains("mm_pat_"));
    let tokens = user.tokens().await;
    assert_eq!(tokens[0]["name"], "Forever & a day");
    assert_eq!(tokens[0]["scopes"], json!(["publish", "domain"]));
    assert_eq!(tokens[0]["expiresAt"], Value::Null);
    assert_eq!(tokens[0]["allowedIps"], json!(["203.0.113.0/24"]));

    // Regenerate asks too, then goes through.
    user.clock.advance(Duration::minutes(11));
    let id = tokens[0]["id"].as_str().unwrap();
    let path = format!("/settings/tokens/{id}/regenerate");
    let res = user
        .post_form(&path, &[("grace", "0"), ("csrf_token", &user.csrf)])
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let (action, mut fields) = prompt_form(&res.text().await.unwrap());
    assert_eq!(action, path);
    fields.push(("reauth_password".into(), PASSWORD.into()));
    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        user.post_form(&action, &pairs).await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(user.tokens().await.len(), 2);
}

#[actix_web::test]
async fn making_an_owner_or_changing_a_policy_in_the_dashboard_asks_first() {
    let app = TestApp::spawn().await;
    let user = app.with_user("owner-prompt@example.com").await;
    app.with_user("next@example.com").await;
    let project = user.with_project("Site").await;
    user.clock.advance(Duration::minutes(11));

    // An editor needs no password; an owner does, and the prompt finishes the change.
    let members = format!("/projects/{project}/members");
    let editor = [
        ("email", "next@example.com"),
        ("role", "editor"),
        ("csrf_token", &user.csrf),
    ];
    assert_eq!(
        user.post_form(&members, &editor).await.status(),
        StatusCode::SEE_OTHER
    );
    let owner = [
        ("email", "next@example.com"),
        ("role", "owner"),
        ("csrf_token", &user.csrf),
    ];
    let res = user.post_form(&members, &owner).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let (action, mut fields) = prompt_form(&res.text().await.unwrap());
    assert_eq!(action, members);
    fields.push(("reauth_password".into(), PASSWORD.into()));
    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        user.post_form(&action, &pairs).await.status(),
        StatusCode::SEE_OTHER
    );
    let page = user.get_html(&format!("/projects/{project}")).await;
    assert!(
        page.contains("<td>next@example.com</td><td>owner</td>"),
        "{page}"
    );

    // Within the window now: the policy page saves at once.
    let settings = format!("/projects/{project}/settings");
    let form = [("max_lifetime_days", "30"), ("csrf_token", &user.csrf)];
    assert_eq!(
        user.post_form(&settings, &form).await.status(),
        StatusCode::SEE_OTHER
    );
    user.clock.advance(Duration::minutes(11));
    let res = user.post_form(&settings, &form).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.text().await.unwrap().contains("Confirm it’s you"));
}

/// `member`'s role on `project` as they see it in `GET /api/projects`; `None` when
/// `project` is not among theirs.
async fn role_on(member: &User, project: &str) -> Option<String> {
    let projects: Vec<Value> = member.get("/api/projects").await.json().await.unwrap();
    projects
        .iter()
        .find(|p| p["id"] == project)
        .map(|p| p["role"].as_str().unwrap().to_owned())
}

/// A co-owner whose password is stale can no more push the creator out than add an owner:
/// demoting or removing an owner needs the password too, in JSON and in the dashboard, and
/// nothing changes until it is entered.
#[actix_web::test]
async fn demoting_or_removing_an_owner_needs_a_recent_password() {
    let app = TestApp::spawn().await;
    let creator = app.with_user("creator@example.com").await;
    let co_owner = app.with_user("co-owner@example.com").await;
    let project = creator.with_project("Shared").await;
    creator
        .add_member(&project, "co-owner@example.com", "owner")
        .await;
    let creator_id = creator.id().await;
    app.clock
        .advance(Duration::minutes(10) + Duration::seconds(1));

    let members = format!("/api/projects/{project}/members");
    let demote = |role: &'static str| {
        co_owner
            .session(Method::POST, &members)
            .json(&json!({ "email": "creator@example.com", "role": role }))
            .send()
    };
    let remove = || {
        co_owner
            .session(Method::DELETE, &format!("{members}/{creator_id}"))
            .send()
    };
    for (what, res) in [
        ("demote to viewer", demote("viewer").await.unwrap()),
        ("demote to editor", demote("editor").await.unwrap()),
        ("remove", remove().await.unwrap()),
    ] {
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{what}");
        assert_eq!(error_code(res).await, "reauthentication_required", "{what}");
    }
    let form = format!("/projects/{project}/members");
    let to_editor = [
        ("email", "creator@example.com"),
        ("role", "editor"),
        ("csrf_token", co_owner.csrf.as_str()),
    ];
    let res = co_owner.post_form(&form, &to_editor).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let html = res.text().await.unwrap();
    assert!(html.contains("Confirm it’s you"), "{html}");
    assert_eq!(role_on(&creator, &project).await.as_deref(), Some("owner"));

    // The dashboard's prompt, answered, finishes the demotion.
    let (action, mut fields) = prompt_form(&html);
    assert_eq!(action, form);
    fields.push(("reauth_password".into(), PASSWORD.into()));
    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        co_owner.post_form(&action, &pairs).await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(role_on(&creator, &project).await.as_deref(), Some("editor"));
    // An owner again (the window is open), then the window passes: removing needs it again.
    co_owner
        .add_member(&project, "creator@example.com", "owner")
        .await;
    app.clock
        .advance(Duration::minutes(10) + Duration::seconds(1));
    assert_eq!(
        remove().await.unwrap().status(),
        StatusCode::FORBIDDEN,
        "an owner again"
    );
    assert_eq!(role_on(&creator, &project).await.as_deref(), Some("owner"));

    // In JSON, after POST /api/session/reauthenticate.
    assert_eq!(
        reauthenticate(&co_owner, PASSWORD).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        demote("viewer").await.unwrap().status(),
        StatusCode::CREATED
    );
    assert_eq!(role_on(&creator, &project).await.as_deref(), Some("viewer"));
    app.clock
        .advance(Duration::minutes(10) + Duration::seconds(1));
    assert_eq!(
        remove().await.unwrap().status(),
        StatusCode::NO_CONTENT,
        "a viewer's removal needs no password"
    );
    assert_eq!(role_on(&creator, &project).await, None);
}
