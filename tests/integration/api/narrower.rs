//! Narrower tokens (SPEC §8.5): a token restricted to chosen projects.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use mantel::auth::client_ip::ProxyHeader;

use crate::helpers::{error_code, TestApp, User};

/// Someone with two projects, "Site A" and "Site B"; their ids.
async fn two_projects() -> (User, String, String) {
    let user = TestApp::spawn().await.with_user("narrow@example.com").await;
    let a = user.with_project("Site A").await;
    let b = user.with_project("Site B").await;
    (user, a, b)
}

async fn json_of(res: reqwest::Response) -> Value {
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

#[actix_web::test]
async fn a_restricted_token_reaches_its_projects_and_no_other() {
    let (user, a, b) = two_projects().await;
    let token = user
        .with_restricted_token("Site A deploys", &["messages"], &[&a])
        .await;
    assert_eq!(token.created["projects"], json!([a]));
    let t = &token.plaintext;

    // In the selection: as before.
    let res = user
        .bearer(Method::POST, &format!("/api/projects/{a}/messages"), t)
        .json(&json!({ "body": "deployed" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    // Out of it: exactly what a non-member gets, for reading and for writing.
    let outside = user
        .bearer_get(&format!("/api/projects/{b}/messages"), t)
        .await;
    assert_eq!(outside.status(), StatusCode::NOT_FOUND);
    let stranger = user
        .bearer_get(&format!("/api/projects/{}/messages", uuid_nobody_has()), t)
        .await;
    assert_eq!(stranger.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        outside.text().await.unwrap(),
        stranger.text().await.unwrap(),
        "another project of the owner looks like one that does not exist"
    );
    let write = user
        .bearer(Method::POST, &format!("/api/projects/{b}/messages"), t)
        .json(&json!({ "body": "nope" }))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(write).await, "not_found");

    // Listing shows only the chosen project; an unrestricted token still sees both.
    let listed = json_of(user.bearer_get("/api/projects", t).await).await;
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Site A"]);
    let wide = user.with_token("everything", &["messages"], "1y").await;
    assert_eq!(wide.created["projects"], "all");
    let listed = json_of(user.bearer_get("/api/projects", &wide.plaintext).await).await;
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert_eq!(
        user.bearer_get(&format!("/api/projects/{b}/messages"), &wide.plaintext)
            .await
            .status(),
        StatusCode::OK
    );

    // `/api/me` and the token list say which projects.
    let me = json_of(user.bearer_get("/api/me", t).await).await;
    assert_eq!(me["auth"]["token"]["projects"], json!([a]));
    let me = json_of(user.bearer_get("/api/me", &wide.plaintext).await).await;
    assert_eq!(me["auth"]["token"]["projects"], "all");
    let tokens = user.tokens().await;
    let listed = tokens
        .iter()
        .find(|t| t["id"] == token.id.as_str())
        .unwrap();
    assert_eq!(listed["projects"], json!([a]));
}

fn uuid_nobody_has() -> String {
    "00000000-0000-4000-8000-00000000beef".to_owned()
}

#[actix_web::test]
async fn only_projects_of_the_creator_can_be_chosen() {
    let (user, a, _) = two_projects().await;
    let someone = user.with_user("someone@example.com").await;
    let theirs = someone.with_project("Not yours").await;

    for (projects, why) in [
        (json!([theirs]), "someone else's project"),
        (json!([uuid_nobody_has()]), "no such project"),
        (json!(["not-a-uuid"]), "not an id"),
        (json!([]), "an empty choice"),
        (json!("some"), "another word than all"),
        (json!([a, theirs]), "one of them not the creator's"),
    ] {
        let res = user
            .post_token(&json!({ "name": "CI", "scopes": ["publish"], "projects": projects }))
            .await;
        assert_eq!(
            res.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{why} is refused"
        );
        let body: Value = res.json().await.unwrap();
        assert!(
            body["error"]["fields"]["projects"].is_string(),
            "{why}: {body}"
        );
    }
    // The same words whether the project exists or not.
    let words = |projects: Value| {
        let user = &user;
        async move {
            let res = user
                .post_token(&json!({ "name": "CI", "scopes": ["publish"], "projects": projects }))
                .await;
            res.json::<Value>().await.unwrap()["error"]["fields"]["projects"].clone()
        }
    };
    assert_eq!(
        words(json!([theirs])).await,
        words(json!([uuid_nobody_has()])).await
    );
    assert!(user.tokens().await.is_empty(), "nothing was created");
    // "all" is the default, said or not.
    let all = user
        .post_token(&json!({ "name": "CI", "scopes": ["publish"], "projects": "all" }))
        .await;
    assert_eq!(all.status(), StatusCode::CREATED);
}

#[actix_web::test]
async fn rotation_keeps_the_projects_and_a_deleted_project_drops_out() {
    let (user, a, b) = two_projects().await;
    let old = user
        .with_restricted_token("Both sites", &["files"], &[&a, &b])
        .await;
    let res = user
        .session(Method::POST, &format!("/api/tokens/{}/rotate", old.id))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let new: Value = res.json().await.unwrap();
    let mut expected = vec![a.clone(), b.clone()];
    expected.sort();
    assert_eq!(new["projects"], json!(expected));
    let t = new["token"].as_str().unwrap();
    assert_eq!(
        user.bearer_get(&format!("/api/projects/{b}/files"), t)
            .await
            .status(),
        StatusCode::OK
    );

    // Site B is deleted: it leaves the selection, and the token does not widen to "all".
    user.db
        .execute(&format!("DELETE FROM projects WHERE id = '{b}'"));
    let listed = user.tokens().await;
    let row = listed.iter().find(|r| r["id"] == new["id"]).unwrap();
    assert_eq!(row["projects"], json!([a]));
    user.db
        .execute(&format!("DELETE FROM projects WHERE id = '{a}'"));
    let c = user.with_project("Site C").await;
    let listed = user.tokens().await;
    let row = listed.iter().find(|r| r["id"] == new["id"]).unwrap();
    assert_eq!(row["projects"], json!([]), "restricted to nothing left");
    assert_eq!(
        user.bearer_get(&format!("/api/projects/{c}/files"), t)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let projects = json_of(user.bearer_get("/api/projects", t).await).await;
    assert_eq!(projects, json!([]));
}

#[actix_web::test]
async fn the_form_without_js_chooses_projects() {
    let (user, a, _) = two_projects().await;
    let form = user.get_html("/settings/tokens/new").await;
    assert!(form.contains("All my projects") && form.contains("Site A") && form.contains("Site B"));

    // Ticked, but "All my projects" still chosen: refused, with what was typed kept.
    let res = user
        .post_form(
            "/settings/tokens",
            &[
                ("name", "Site A deploys"),
                ("scopes", "publish"),
                ("expiry", "1y"),
                ("projects", "all"),
                ("project_ids", &a),
                ("csrf_token", &user.csrf),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = res.text().await.unwrap();
    assert!(page.contains("Only these projects"), "{page}");
    assert!(page.contains("You ticked projects"), "{page}");
    assert!(user.tokens().await.is_empty());

    let res = user
        .post_form(
            "/settings/tokens",
            &[
                ("name", "Site A deploys"),
                ("scopes", "publish"),
                ("expiry", "1y"),
                ("projects", "only"),
                ("project_ids", &a),
                ("csrf_token", &user.csrf),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let reveal = user
        .get_html(res.headers()["location"].to_str().unwrap())
        .await;
    assert!(
        reveal.contains("Site A"),
        "the reveal page names the project"
    );
    let list = user.get_html("/settings/tokens").await;
    assert!(list.contains("Only Site A"), "{list}");
    assert_eq!(user.tokens().await[0]["projects"], json!([a]));
}

/// A token allowed from these addresses; the 201 body.
async fn allowed_from(user: &User, name: &str, ips: &[&str]) -> Value {
    let res = user
        .post_token(&json!({ "name": name, "scopes": ["publish"], "allowedIps": ips }))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED, "{name}");
    res.json().await.unwrap()
}

async fn me_as(user: &User, token: &Value, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = user.bearer(Method::GET, "/api/me", token["token"].as_str().unwrap());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

#[actix_web::test]
async fn allowed_addresses_refuse_a_token_from_elsewhere() {
    let user = TestApp::spawn().await.with_user("ips@example.com").await;
    // The tests call from 127.0.0.1.
    let here = allowed_from(&user, "here", &["127.0.0.0/8", "2001:DB8::1/32"]).await;
    assert_eq!(
        here["allowedIps"],
        json!(["127.0.0.0/8", "2001:db8::/32"]),
        "normalized"
    );
    assert_eq!(me_as(&user, &here, &[]).await.status(), StatusCode::OK);
    let me: Value = me_as(&user, &here, &[]).await.json().await.unwrap();
    assert_eq!(
        me["auth"]["token"]["allowedIps"],
        json!(["127.0.0.0/8", "2001:db8::/32"])
    );

    // An IPv4-mapped IPv6 range is the IPv4 range it maps, so it admits the IPv4 client.
    let mapped = allowed_from(&user, "mapped", &["::ffff:127.0.0.1/104"]).await;
    assert_eq!(mapped["allowedIps"], json!(["127.0.0.0/8"]));
    assert_eq!(me_as(&user, &mapped, &[]).await.status(), StatusCode::OK);

    let elsewhere = allowed_from(&user, "elsewhere", &["203.0.113.0/24"]).await;
    let v6_only = allowed_from(&user, "v6 only", &["::1"]).await;
    for token in [&elsewhere, &v6_only] {
        let res = me_as(&user, token, &[]).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "ip_not_allowed");
        assert!(body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("127.0.0.1"));
    }
    // Refused before the handler: a write from elsewhere changes nothing.
    let project = user.with_project("Site").await;
    let res = user
        .bearer(
            Method::POST,
            "/api/publish",
            elsewhere["token"].as_str().unwrap(),
        )
        .json(&json!({ "projectId": project }))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res).await, "ip_not_allowed");
    let publishes = user
        .get(&format!("/api/projects/{project}/publishes"))
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(publishes, json!([]));

    // Without a trusted proxy, a forwarding header is the client's own say: ignored.
    let spoofed = me_as(
        &user,
        &elsewhere,
        &[
            ("X-Forwarded-For", "203.0.113.5"),
            ("Forwarded", "for=203.0.113.5"),
        ],
    )
    .await;
    assert_eq!(error_code(spoofed).await, "ip_not_allowed");

    // Bad lists are refused field by field, and nothing is created.
    let before = user.tokens().await.len();
    let many: Vec<String> = (0..21).map(|i| format!("10.0.{i}.0/24")).collect();
    // What the document's pattern excludes: a zero-padded prefix, surrounding space.
    for ips in [
        json!(["10.0.0.0/33"]),
        json!(["example.com"]),
        json!(["10.0.0.0/08"]),
        json!([" 10.0.0.1"]),
        json!(many),
    ] {
        let res = user
            .post_token(&json!({ "name": "bad", "scopes": ["publish"], "allowedIps": ips }))
            .await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body: Value = res.json().await.unwrap();
        assert!(body["error"]["fields"]["allowedIps"].is_string(), "{body}");
    }
    assert_eq!(user.tokens().await.len(), before);

    // Rotation keeps them.
    let res = user
        .session(
            Method::POST,
            &format!("/api/tokens/{}/rotate", elsewhere["id"].as_str().unwrap()),
        )
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let rotated: Value = res.json().await.unwrap();
    assert_eq!(rotated["allowedIps"], json!(["203.0.113.0/24"]));
    assert_eq!(
        error_code(me_as(&user, &rotated, &[]).await).await,
        "ip_not_allowed"
    );
}

/// A server behind a proxy at 127.0.0.1 (where the tests connect from) that names the client
/// in `header`.
async fn behind_a_proxy(header: ProxyHeader) -> TestApp {
    let db = std::sync::Arc::new(crate::helpers::TestDb::new());
    TestApp::spawn_with(db, Default::default(), |s| {
        s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        s.proxy_header = header;
    })
    .await
}

#[actix_web::test]
async fn behind_a_trusted_proxy_x_forwarded_for_names_the_client() {
    let app = behind_a_proxy(ProxyHeader::XForwardedFor).await;
    let user = app.with_user("proxied@example.com").await;
    let office = allowed_from(&user, "office", &["203.0.113.0/24", "2001:db8::/32"]).await;

    // The proxy (127.0.0.1) appended the real client; what the client sent is to its left.
    let via = |h: &'static str, v: &'static str| [(h, v)];
    for (headers, status) in [
        (via("X-Forwarded-For", "203.0.113.5"), StatusCode::OK),
        (
            via("X-Forwarded-For", "6.6.6.6, 203.0.113.5"),
            StatusCode::OK,
        ),
        (
            via("X-Forwarded-For", "203.0.113.5, 6.6.6.6"),
            StatusCode::FORBIDDEN,
        ),
        (
            via("X-Forwarded-For", "203.0.113.5, 127.0.0.1"),
            StatusCode::OK,
        ),
        (via("X-Forwarded-For", "2001:db8::7"), StatusCode::OK),
        // Not an address: no client, so no allowed address matches.
        (
            via("X-Forwarded-For", "203.0.113.5, unknown"),
            StatusCode::FORBIDDEN,
        ),
        // `Forwarded` is not the configured header: whatever it says, the client is the proxy.
        (
            via("Forwarded", "for=\"[2001:db8::7]:443\""),
            StatusCode::FORBIDDEN,
        ),
    ] {
        let res = me_as(&user, &office, &headers).await;
        assert_eq!(res.status(), status, "{headers:?}");
    }
    // The same address is the one remembered as the token's last use.
    let state = &user.state;
    state.last_used.flush(&state.pool).await.unwrap();
    let listed = user.tokens().await;
    let row = listed.iter().find(|t| t["id"] == office["id"]).unwrap();
    assert_eq!(
        row["lastUsedIp"], "203.0.113.5",
        "the first use of the minute"
    );
}

#[actix_web::test]
async fn with_proxy_header_forwarded_only_forwarded_names_the_client() {
    let app = behind_a_proxy(ProxyHeader::Forwarded).await;
    let user = app.with_user("rfc7239@example.com").await;
    let office = allowed_from(&user, "office", &["203.0.113.0/24", "2001:db8::/32"]).await;

    let via = |h: &'static str, v: &'static str| [(h, v)];
    for (headers, status) in [
        (via("Forwarded", "for=203.0.113.5"), StatusCode::OK),
        (
            via("Forwarded", "for=\"[2001:db8::7]:443\";proto=https"),
            StatusCode::OK,
        ),
        (
            via("Forwarded", "for=6.6.6.6, for=203.0.113.5"),
            StatusCode::OK,
        ),
        (
            via("Forwarded", "for=203.0.113.5, for=6.6.6.6"),
            StatusCode::FORBIDDEN,
        ),
        (via("Forwarded", "for=unknown"), StatusCode::FORBIDDEN),
        // `X-Forwarded-For` is not the configured header: ignored.
        (via("X-Forwarded-For", "203.0.113.5"), StatusCode::FORBIDDEN),
    ] {
        let res = me_as(&user, &office, &headers).await;
        assert_eq!(res.status(), status, "{headers:?}");
    }
}

/// nginx appends the client to `X-Forwarded-For` and passes a client's own `Forwarded` through
/// untouched: with the default setting, that `Forwarded` must not open an allow-list.
#[actix_web::test]
async fn a_client_sent_forwarded_does_not_pass_allowed_addresses() {
    let app = behind_a_proxy(ProxyHeader::XForwardedFor).await;
    let user = app.with_user("allowlisted@example.com").await;
    let office = allowed_from(&user, "office", &["203.0.113.0/24"]).await;
    let headers = [
        ("Forwarded", "for=203.0.113.5"),
        ("X-Forwarded-For", "198.51.100.9"),
    ];
    let res = me_as(&user, &office, &headers).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "ip_not_allowed");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("198.51.100.9"),
        "{body}"
    );
}

/// 101 bad tokens whose ignored header names someone else's address are counted against the
/// sender's own address: the victim's valid token still works.
#[actix_web::test]
async fn bad_tokens_naming_someone_else_in_the_ignored_header_do_not_lock_them_out() {
    let app = behind_a_proxy(ProxyHeader::XForwardedFor).await;
    let user = app.with_user("victim@example.com").await;
    let token = user.with_token("deploys", &["publish"], "1m").await;
    let victim = "203.0.113.77";
    let forged = format!("for={victim}");
    let bad = "mm_pat_000000000000000000000000000000000";
    let mut last = StatusCode::OK;
    for _ in 0..101 {
        let res = user
            .bearer(Method::GET, "/api/me", bad)
            .header("Forwarded", &forged)
            .header("X-Forwarded-For", "198.51.100.66")
            .send()
            .await
            .unwrap();
        last = res.status();
    }
    // The attacker's own address is the one refused.
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
    let res = user
        .bearer(Method::GET, "/api/me", &token.plaintext)
        .header("X-Forwarded-For", victim)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

/// An entry a trusted proxy wrote that names no address leaves the client unknown; it is not
/// the proxy's own address, so such requests cannot lock out the proxy (nor, with it, every
/// request it makes itself).
#[actix_web::test]
async fn an_unreadable_entry_is_not_taken_for_the_proxys_address() {
    let app = behind_a_proxy(ProxyHeader::XForwardedFor).await;
    let user = app.with_user("behind@example.com").await;
    let token = user.with_token("deploys", &["publish"], "1m").await;
    let bad = "mm_pat_000000000000000000000000000000000";
    for _ in 0..101 {
        let res = user
            .bearer(Method::GET, "/api/me", bad)
            .header("X-Forwarded-For", "203.0.113.5, unknown")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    // From the proxy itself (no header), and from a client it names: both work.
    assert_eq!(
        user.bearer_get("/api/me", &token.plaintext).await.status(),
        StatusCode::OK
    );
    let res = user
        .bearer(Method::GET, "/api/me", &token.plaintext)
        .header("X-Forwarded-For", "203.0.113.5")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}
