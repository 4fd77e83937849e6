//! Passkeys (SPEC §3.1) over real HTTP, with a software authenticator written here: an ES256
//! key of ring's, the `clientDataJSON`, authenticator data and `none` attestation a browser and
//! authenticator would send. Registered through the JSON API; used as the second factor after
//! the password, alone on `/login`, and at re-authentication; refused from another origin or
//! RP ID, for another challenge, replayed, without the user present (or verified, alone), with
//! a counter that went back; removed after re-authentication; counted by a project's policy.

use base64ct::{Base64UrlUnpadded, Encoding};
use reqwest::{Method, StatusCode};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::helpers::{csrf_in, error_code, TestApp, User, PASSWORD};

fn b64(bytes: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    Base64UrlUnpadded::decode_vec(text).unwrap()
}

/// CBOR heads as CTAP2 writes them (definite lengths).
fn head(major: u8, n: usize, out: &mut Vec<u8>) {
    match n {
        0..=23 => out.push((major << 5) | n as u8),
        24..=255 => out.extend([(major << 5) | 24, n as u8]),
        _ => out.extend([(major << 5) | 25, (n >> 8) as u8, n as u8]),
    }
}

fn cbor_text(text: &str, out: &mut Vec<u8>) {
    head(3, text.len(), out);
    out.extend_from_slice(text.as_bytes());
}

fn cbor_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    head(2, bytes.len(), out);
    out.extend_from_slice(bytes);
}

/// A platform authenticator in software: one ES256 key, its credential id and its counter;
/// it answers for `origin` (what the browser would put in `clientDataJSON`).
struct Authenticator {
    key: EcdsaKeyPair,
    credential_id: Vec<u8>,
    counter: u32,
    origin: String,
    /// Whether it says it verified the user (a PIN, a fingerprint).
    verifies: bool,
    /// Whether it says the user was there (a touch).
    present: bool,
    /// The RP ID it signs for, when not the one asked (a phishing site's).
    rp_id: Option<String>,
}

impl Authenticator {
    fn new(app: &TestApp) -> Authenticator {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let credential_id = uuid::Uuid::new_v4().as_bytes().to_vec();
        Authenticator {
            key,
            credential_id,
            counter: 0,
            origin: app.address.clone(),
            verifies: true,
            present: true,
            rp_id: None,
        }
    }

    fn client_data(&self, kind: &str, options: &Value) -> Vec<u8> {
        json!({
            "type": kind,
            "challenge": options["challenge"],
            "origin": self.origin,
            "crossOrigin": false,
        })
        .to_string()
        .into_bytes()
    }

    fn auth_data(&mut self, rp_id: &str, flags: u8) -> Vec<u8> {
        self.counter += 1;
        let rp_id = self.rp_id.as_deref().unwrap_or(rp_id);
        let mut data = Sha256::digest(rp_id.as_bytes()).to_vec();
        let uv = if self.verifies { 0x04 } else { 0 };
        let up = if self.present { 0x01 } else { 0 };
        data.push(flags | up | uv);
        data.extend(self.counter.to_be_bytes());
        data
    }

    /// What `navigator.credentials.create` answers for `options`, as `toJSON()` writes it.
    fn create(&mut self, options: &Value) -> Value {
        let rp_id = options["rp"]["id"].as_str().unwrap().to_owned();
        assert_eq!(options["pubKeyCredParams"][0]["alg"], -7);
        assert_eq!(options["attestation"], "none");
        assert_eq!(options["authenticatorSelection"]["residentKey"], "required");
        let mut data = self.auth_data(&rp_id, 0x40);
        data.extend([0u8; 16]);
        data.extend((self.credential_id.len() as u16).to_be_bytes());
        data.extend(&self.credential_id);
        let point = self.key.public_key().as_ref();
        // {1: 2, 3: -7, -1: 1, -2: x, -3: y}
        data.extend([0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21]);
        cbor_bytes(&point[1..33], &mut data);
        data.push(0x22);
        cbor_bytes(&point[33..65], &mut data);
        let mut attestation = vec![0xa3];
        cbor_text("fmt", &mut attestation);
        cbor_text("none", &mut attestation);
        cbor_text("attStmt", &mut attestation);
        attestation.push(0xa0);
        cbor_text("authData", &mut attestation);
        cbor_bytes(&data, &mut attestation);
        json!({
            "id": b64(&self.credential_id),
            "rawId": b64(&self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64(&self.client_data("webauthn.create", options)),
                "attestationObject": b64(&attestation),
            },
        })
    }

    /// What `navigator.credentials.get` answers for `options`.
    fn get(&mut self, options: &Value) -> Value {
        let rp_id = options["rpId"].as_str().unwrap().to_owned();
        let data = self.auth_data(&rp_id, 0);
        let client_data = self.client_data("webauthn.get", options);
        let mut signed = data.clone();
        signed.extend(Sha256::digest(&client_data));
        let signature = self.key.sign(&SystemRandom::new(), &signed).unwrap();
        json!({
            "id": b64(&self.credential_id),
            "rawId": b64(&self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64(&client_data),
                "authenticatorData": b64(&data),
                "signature": b64(signature.as_ref()),
                "userHandle": null,
            },
        })
    }
}

async fn registration_options(user: &User) -> Value {
    let res = user
        .session(Method::POST, "/api/account/passkey-options")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

async fn post_passkey(user: &User, name: &str, credential: &Value) -> reqwest::Response {
    user.session(Method::POST, "/api/account/passkeys")
        .json(&json!({ "name": name, "credential": credential }))
        .send()
        .await
        .unwrap()
}

/// Registers a new software passkey for `user` under `name`.
async fn register(user: &User, name: &str) -> Authenticator {
    let mut authenticator = Authenticator::new(user);
    let options = registration_options(user).await;
    let res = post_passkey(user, name, &authenticator.create(&options)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["name"], name);
    authenticator
}

/// The login pages' passkey options, for a browser on `page` (`/login` or `/login/verify`).
async fn login_options(browser: &TestApp, page: &str) -> (Value, String) {
    let csrf = csrf_in(&browser.get_html(page).await);
    let res = browser
        .post_form("/login/passkey/options", &[("csrf_token", &csrf)])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    (res.json().await.unwrap(), csrf)
}

/// A new browser that gave the password: halfway, at the second step.
async fn halfway(app: &TestApp, email: &str) -> TestApp {
    let browser = app.new_browser();
    let res = browser.login(email, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/login/verify");
    browser
}

async fn verify_with(browser: &TestApp, csrf: &str, answer: &Value) -> reqwest::Response {
    browser
        .post_form(
            "/login/verify",
            &[("passkey", &answer.to_string()), ("csrf_token", csrf)],
        )
        .await
}

async fn sign_in_with(browser: &TestApp, csrf: &str, answer: &Value) -> reqwest::Response {
    browser
        .post_form(
            "/login/passkey",
            &[("passkey", &answer.to_string()), ("csrf_token", csrf)],
        )
        .await
}

async fn log_kinds(user: &User) -> Vec<String> {
    let log: Vec<Value> = user.get("/api/security-log").await.json().await.unwrap();
    log.iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect()
}

#[actix_web::test]
async fn a_passkey_is_registered_and_then_asked_for_after_the_password() {
    let app = TestApp::spawn().await;
    let user = app.with_user("keys@example.com").await;
    let options = registration_options(&user).await;
    assert_eq!(options["rp"]["id"], "127.0.0.1");
    assert_eq!(options["excludeCredentials"], json!([]));
    let mut laptop = Authenticator::new(&user);
    let res = post_passkey(&user, "Laptop", &laptop.create(&options)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let _phone = register(&user, "Phone").await;
    let list: Vec<Value> = user
        .get("/api/account/passkeys")
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = list.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Laptop", "Phone"]);
    assert!(list[0]["lastUsedAt"].is_null());
    // The next registration excludes both.
    let options = registration_options(&user).await;
    assert_eq!(options["excludeCredentials"].as_array().unwrap().len(), 2);
    assert!(log_kinds(&user).await.contains(&"passkey_added".to_owned()));
    let notifications = user.get_html("/settings/notifications").await;
    assert!(notifications.contains("The passkey “Phone” was added"));
    let page = user.get_html("/settings/security").await;
    assert!(page.contains("Laptop") && page.contains("Phone"), "{page}");
    assert!(
        page.contains("Adding a passkey needs JavaScript"),
        "said where no script runs"
    );

    // With a passkey, the password alone no longer signs in.
    let browser = halfway(&app, "keys@example.com").await;
    let res = browser.get("/").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        res.headers()["location"],
        "/login/verify",
        "halfway: the second step is where pages lead"
    );
    let (options, csrf) = login_options(&browser, "/login/verify").await;
    let allowed = options["allowCredentials"].as_array().unwrap();
    assert_eq!(allowed.len(), 2, "the account's passkeys: {options}");
    assert_eq!(options["userVerification"], "preferred");
    let res = verify_with(&browser, &csrf, &laptop.get(&options)).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/settings/tokens");
    assert_eq!(browser.get("/api/me").await.status(), StatusCode::OK);
    let log: Vec<Value> = user.get("/api/security-log").await.json().await.unwrap();
    let used = log.iter().find(|e| e["kind"] == "passkey_used").unwrap();
    assert_eq!(used["details"]["passkey"], "Laptop");
    assert_eq!(used["details"]["passwordless"], false);
    let list: Vec<Value> = user
        .get("/api/account/passkeys")
        .await
        .json()
        .await
        .unwrap();
    assert!(list[0]["lastUsedAt"].is_string());
}

#[actix_web::test]
async fn a_passkey_signs_in_alone() {
    let app = TestApp::spawn().await;
    let user = app.with_user("alone@example.com").await;
    let mut key = register(&user, "Laptop").await;
    let browser = app.new_browser();
    let (options, csrf) = login_options(&browser, "/login").await;
    assert_eq!(options["allowCredentials"], json!([]), "any of this site's");
    assert_eq!(options["userVerification"], "required");
    let res = sign_in_with(&browser, &csrf, &key.get(&options)).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/settings/tokens");
    let me: Value = browser.get("/api/me").await.json().await.unwrap();
    assert_eq!(me["user"]["email"], "alone@example.com");
    let kinds = log_kinds(&user).await;
    assert!(kinds.contains(&"login".to_owned()), "{kinds:?}");
    assert!(kinds.contains(&"passkey_used".to_owned()), "{kinds:?}");
    let notifications = user.get_html("/settings/notifications").await;
    assert!(notifications.contains("signed in to your account without a password"));

    // One that did not verify its user cannot stand for the password.
    key.verifies = false;
    let browser = app.new_browser();
    let (options, csrf) = login_options(&browser, "/login").await;
    let res = sign_in_with(&browser, &csrf, &key.get(&options)).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("That passkey did not sign you in"));
    assert_eq!(
        browser.get("/api/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[actix_web::test]
async fn answers_from_elsewhere_or_for_another_challenge_or_replayed_are_refused() {
    let app = TestApp::spawn().await;
    let user = app.with_user("refused@example.com").await;

    // Registration: another origin, another challenge, a challenge used once already.
    let mut key = Authenticator::new(&user);
    let options = registration_options(&user).await;
    key.origin = "https://evil.example".into();
    let res = post_passkey(&user, "Evil", &key.create(&options)).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    key.origin = app.address.clone();
    let res = post_passkey(&user, "Replayed", &key.create(&options)).await;
    assert_eq!(
        res.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "its challenge is spent"
    );
    let _ = registration_options(&user).await;
    let mut other = options.clone();
    other["challenge"] = json!(b64(&[7u8; 32]));
    let res = post_passkey(&user, "Other", &key.create(&other)).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = user.get("/api/account/passkeys").await;
    assert_eq!(res.json::<Value>().await.unwrap(), json!([]));
    let options = registration_options(&user).await;
    let res = post_passkey(&user, " ", &key.create(&options)).await;
    assert_eq!(
        res.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "a name is needed"
    );
    let body: Value = res.json().await.unwrap();
    assert!(body["error"]["fields"]["name"].is_string(), "{body}");
    let mut key = register(&user, "Laptop").await;

    // Signing in: another origin, another challenge, a replayed answer.
    let browser = app.new_browser();
    let (options, csrf) = login_options(&browser, "/login").await;
    key.origin = "https://evil.example".into();
    let res = sign_in_with(&browser, &csrf, &key.get(&options)).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    key.origin = app.address.clone();
    // Signed for another relying party, or without the user there.
    let (options, csrf) = login_options(&browser, "/login").await;
    key.rp_id = Some("evil.example".into());
    let res = sign_in_with(&browser, &csrf, &key.get(&options)).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "another RP ID");
    key.rp_id = None;
    let (options, csrf) = login_options(&browser, "/login").await;
    key.present = false;
    let res = sign_in_with(&browser, &csrf, &key.get(&options)).await;
    assert_eq!(
        res.status(),
        StatusCode::UNAUTHORIZED,
        "the user was not there"
    );
    key.present = true;
    let (options, csrf) = login_options(&browser, "/login").await;
    let mut other = options.clone();
    other["challenge"] = json!(b64(&[7u8; 32]));
    let res = sign_in_with(&browser, &csrf, &key.get(&other)).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let (options, csrf) = login_options(&browser, "/login").await;
    let answer = key.get(&options);
    let res = sign_in_with(&browser, &csrf, &answer).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let thief = app.new_browser();
    let (_, thief_csrf) = login_options(&thief, "/login").await;
    let res = sign_in_with(&thief, &thief_csrf, &answer).await;
    assert_eq!(
        res.status(),
        StatusCode::UNAUTHORIZED,
        "a signed answer is good once"
    );
    assert_eq!(
        thief.get("/api/me").await.status(),
        StatusCode::UNAUTHORIZED
    );

    // A counter that went back: a copy of the key.
    let (options, csrf) = login_options(&thief, "/login").await;
    key.counter -= 2;
    let res = sign_in_with(&thief, &csrf, &key.get(&options)).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "counter went back");
    key.counter += 5;
    let (options, csrf) = login_options(&thief, "/login").await;
    let res = sign_in_with(&thief, &csrf, &key.get(&options)).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "and up again");

    // Another account's passkey is not this account's second factor.
    let other_user = app.with_user("other@example.com").await;
    let _ = register(&other_user, "Theirs").await;
    let browser = halfway(&app, "other@example.com").await;
    let (options, csrf) = login_options(&browser, "/login/verify").await;
    let res = verify_with(&browser, &csrf, &key.get(&options)).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("That passkey did not confirm it is you"));
}

#[actix_web::test]
async fn removing_a_passkey_needs_reauthentication_with_it() {
    let app = TestApp::spawn().await;
    let user = app.with_user("remove@example.com").await;
    let mut key = register(&user, "Laptop").await;
    let list: Vec<Value> = user
        .get("/api/account/passkeys")
        .await
        .json()
        .await
        .unwrap();
    let id = list[0]["id"].as_str().unwrap().to_owned();
    app.clock.advance(chrono::Duration::minutes(11));
    let path = format!("/api/account/passkeys/{id}");
    let res = user.session(Method::DELETE, &path).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(res).await, "reauthentication_required");
    // The password alone is not enough: the account has a second factor.
    let res = user
        .session(Method::POST, "/api/session/reauthenticate")
        .json(&json!({ "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = user
        .session(Method::POST, "/api/session/passkey-options")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let options: Value = res.json().await.unwrap();
    assert_eq!(
        unb64(options["allowCredentials"][0]["id"].as_str().unwrap()),
        key.credential_id
    );
    let res = user
        .session(Method::POST, "/api/session/reauthenticate")
        .json(&json!({ "password": PASSWORD, "passkey": key.get(&options) }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = user.session(Method::DELETE, &path).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = user.session(Method::DELETE, &path).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(log_kinds(&user)
        .await
        .contains(&"passkey_removed".to_owned()));
    // No second factor left: the password signs in alone again.
    let browser = app.new_browser();
    let res = browser.login("remove@example.com", PASSWORD).await;
    assert_eq!(res.headers()["location"], "/settings/tokens");
}

/// One rule of "has a second factor": a passkey counts for a project that requires one, and
/// removing the last one ends it (while an authenticator app would have kept it).
#[actix_web::test]
async fn a_passkey_is_a_second_factor_for_a_projects_policy() {
    let app = TestApp::spawn().await;
    let owner = app.with_user("owner-pk@example.com").await;
    let project = owner.with_project("Strict").await;
    let token = owner.with_token("deploy", &["publish"], "1y").await;
    let res = owner
        .session(
            Method::PUT,
            &format!("/api/projects/{project}/token-policy"),
        )
        .json(&json!({ "requireSecondFactor": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let publish = || async {
        app.bearer(Method::POST, "/api/publish", &token.plaintext)
            .json(&json!({ "projectId": project }))
            .send()
            .await
            .unwrap()
    };
    let res = publish().await;
    assert_eq!(error_code(res).await, "second_factor_required");
    let _laptop = register(&owner, "Laptop").await;
    let _phone = register(&owner, "Phone").await;
    assert_eq!(publish().await.status(), StatusCode::CREATED);
    // Removing one of two keeps the second factor; removing both ends it.
    let list: Vec<Value> = owner
        .get("/api/account/passkeys")
        .await
        .json()
        .await
        .unwrap();
    for (n, passkey) in list.iter().enumerate() {
        let path = format!("/api/account/passkeys/{}", passkey["id"].as_str().unwrap());
        let res = owner.session(Method::DELETE, &path).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NO_CONTENT, "signed up just now");
        let expected = if n == 0 {
            StatusCode::CREATED
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(publish().await.status(), expected, "after removing {n}");
    }
}

#[actix_web::test]
async fn strangers_beginning_passkey_sign_ins_are_counted_per_address() {
    let app = TestApp::spawn().await;
    // Each begun sign-in keeps its challenge in a new session: 30 a minute from one address.
    for _ in 0..30 {
        login_options(&app.new_browser(), "/login").await;
    }
    let browser = app.new_browser();
    let csrf = csrf_in(&browser.get_html("/login").await);
    let options = [("csrf_token", csrf.as_str())];
    let res = browser.post_form("/login/passkey/options", &options).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key("retry-after"));
    app.clock.advance(chrono::Duration::seconds(61));
    let res = browser.post_form("/login/passkey/options", &options).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[actix_web::test]
async fn an_account_keeps_at_most_twenty_passkeys() {
    let app = TestApp::spawn().await;
    let user = app.with_user("many@example.com").await;
    for i in 0..20 {
        register(&user, &format!("key {i}")).await;
    }
    let mut one_more = Authenticator::new(&user);
    let options = registration_options(&user).await;
    let res = post_passkey(&user, "key 20", &one_more.create(&options)).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = res.json().await.unwrap();
    assert!(
        body["error"]["fields"]["passkey"]
            .as_str()
            .unwrap()
            .contains("at most 20"),
        "{body}"
    );
    let listed: Value = user
        .get("/api/account/passkeys")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 20);
}
