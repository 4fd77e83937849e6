//! Trusted CI (SPEC §8.8): a real OIDC issuer on loopback inside the test (its own discovery
//! document and JWKS, keys rotated mid-test), JWTs signed here with `jsonwebtoken`, exchanged
//! over HTTP for tokens that are then used like any other.

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpResponse, HttpServer};
use base64ct::{Base64, Base64UrlUnpadded, Encoding};
use chrono::Duration;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, Response, StatusCode};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};

use crate::helpers::{client, error_code, TestApp, User, PASSWORD};

/// A throwaway 2048-bit RSA key (PKCS#1 DER), made for these tests and nothing else.
const RSA_PKCS1: &str = "\
    MIIEowIBAAKCAQEA4USdrp/NpfG9Z4CXDU1MoJKnymKuXCjckdBSZbYN+gdjTSQbjfd6JRkKayTnOX32sOHh0hrzM4CcAYlD\
    VDYG0ybiQHSRKjbHTEA34jp0vTv9BFvzhsU8bxP4aOIAn0huK36kjlIxQc0EoGmx9/mCnNZmlBDbyF94ZUpALfEnwVQuTfX+\
    sH/X2dV4RSQSHxymn3BzH1O61CpSE/yQlruzMz5OzGtFIIpcXwfE98wgDlrwYITS9a0HNIgYo88jVjHNdTchk7umDQObiG/z\
    O+W8z2mOFJ7tleVP0pbDy0rTDxtYaInWv2R6r0uSTRhuufpnhehGOGiGqTomJqCifugaTQIDAQABAoIBAAcKjoU1UIfF2R5B\
    mjcbue/w9ZaxY/LUgiR6pwCv4pr0nSl9nfDfke1T7Yvw0NtusQXRYa4gEocDF51CrZyVvbve5MaP/jOcF7mt7jE/k4OQuvVm\
    bGPDiYKNVL/uhId2C5+Ha1xZfFmqr2DWPO5b2bXOS9GH/16xgUFlQ0FMXuo/iNLkpMOyGc8GP1H1A4ORmOcVW5cbUJANWaun\
    NN59NOzDhKB/J14Nomc2sC40bIOI2qiomhczqZgA1B8N4Cw0dlUsNEoRdezmghI0BgrqETjX8fM3fnJuzXY3pPAQExd+2HxZ\
    muT6zCO3I7ipbGuVgjLRMTj0c0o6DlpuP/jIYg8CgYEA/vE8L+kS4U/dfP7LPaga8xinVoEAhhVuKJFC8jQRuw/RYuVR+lyk\
    2SuBbhW3XfrePf7wbnRjbOfeb1RUDHDZJLp6Pd0C9QuJuXrXSKmt1zYQnnvUth35/vBvxPzu91/WB4dX5f6AHzonV7eCkm9R\
    wHjiTDDtao0npjEXmDJh5JMCgYEA4jPdZ4MFjNyRBq8XmXgOE6r+g7kElD0HDbRac58TxEecfG2X5zN+ewjmFEmq8bHXBovp\
    ZzdmHw8P/u3hST+esyXFBGv1XWslaD5ylRWMK/fNruenFGx0C7XWXuG6QNa02oJU9r3OaQPiYLmO+hiOD6wPiCnjbcFNGbxZ\
    UGcZMZ8CgYARTY4oMkl1wVXnBeQFa0No/GNfG6JNd2bimflRNvd9GrW7YJUPyPnnQ2ylbBPl7QDodEUdOgkFezc9lxudPIuA\
    Uqe5SybIOuA+FnhGFj4WPTUjjIQDWEV/aBIt7HzLjVWZbTYqBfvsIqZI7cuO5L9HsOyq/ycd9DacsPhI/CJowQKBgQCIuMiO\
    FEd6iKav34zoGgSIJsaHX4FBCFIHGofBctlDvfT70FIMULeWLh7DDHPiepd5QX/l/zoec8A7WhTdbTLDHYUj0w0PVf/aLkSb\
    j9aVjMYpfaMjWRobKeFUoCMvpZbSrAwmxzrHhq2BwSaGS+kx19Hbf1YTtM6hS5LAYlB8CQKBgG+70uqZ12zypBMiFOexcgwi\
    CkW4FvX+zLXXIg4682nghkDSzGRQ0pZNGs4D/7bETlsiRV88nBNAEIRwRNF7C+zGb2wB6XF2Xfd5TLvWw1SRcRlLFaohdJj/\
    puPJ5/gmIDbSdZH6x9d5pOG/H6TRz9zbrFuwVUuw/VQFw9TGrBia";
/// Its modulus, base64url, as a JWKS publishes it.
const RSA_N: &str = "\
    4USdrp_NpfG9Z4CXDU1MoJKnymKuXCjckdBSZbYN-gdjTSQbjfd6JRkKayTnOX32sOHh0hrzM4CcAYlDVDYG0ybiQHSRKjbH\
    TEA34jp0vTv9BFvzhsU8bxP4aOIAn0huK36kjlIxQc0EoGmx9_mCnNZmlBDbyF94ZUpALfEnwVQuTfX-sH_X2dV4RSQSHxym\
    n3BzH1O61CpSE_yQlruzMz5OzGtFIIpcXwfE98wgDlrwYITS9a0HNIgYo88jVjHNdTchk7umDQObiG_zO-W8z2mOFJ7tleVP\
    0pbDy0rTDxtYaInWv2R6r0uSTRhuufpnhehGOGiGqTomJqCifugaTQ";

/// An OIDC issuer: `/.well-known/openid-configuration` and `/jwks`, served on loopback; the
/// keys it publishes can change while the test runs, and it counts the JWKS fetches.
struct Issuer {
    url: String,
    keys: Arc<Mutex<Vec<Value>>>,
    fetches: Arc<AtomicUsize>,
}

impl Issuer {
    async fn start(keys: &[&SigningKey]) -> Issuer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let published = Arc::new(Mutex::new(
            keys.iter().map(|k| k.jwk.clone()).collect::<Vec<Value>>(),
        ));
        let fetches = Arc::new(AtomicUsize::new(0));
        let shared = (url.clone(), published.clone(), fetches.clone());
        let server = HttpServer::new(move || {
            let (url, keys, fetches) = shared.clone();
            App::new()
                .route(
                    "/.well-known/openid-configuration",
                    web::get().to(move || {
                        let url = url.clone();
                        async move {
                            HttpResponse::Ok().json(json!({
                                "issuer": url,
                                "jwks_uri": format!("{url}/jwks"),
                            }))
                        }
                    }),
                )
                .route(
                    "/jwks",
                    web::get().to(move || {
                        fetches.fetch_add(1, Ordering::SeqCst);
                        let keys = keys.lock().unwrap().clone();
                        async move { HttpResponse::Ok().json(json!({ "keys": keys })) }
                    }),
                )
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        actix_web::rt::spawn(server);
        Issuer {
            url,
            keys: published,
            fetches,
        }
    }

    /// Rotates: from now on it publishes exactly these keys.
    fn publish(&self, keys: &[&SigningKey]) {
        *self.keys.lock().unwrap() = keys.iter().map(|k| k.jwk.clone()).collect();
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

/// A key the issuer signs with, and its public half as a JWK.
struct SigningKey {
    kid: String,
    alg: Algorithm,
    key: EncodingKey,
    jwk: Value,
}

impl SigningKey {
    fn rsa(kid: &str) -> SigningKey {
        let der = Base64::decode_vec(RSA_PKCS1).unwrap();
        SigningKey {
            kid: kid.into(),
            alg: Algorithm::RS256,
            key: EncodingKey::from_rsa_der(&der),
            jwk: json!({ "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": RSA_N, "e": "AQAB" }),
        }
    }

    fn ec(kid: &str) -> SigningKey {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        // Uncompressed: 0x04, then x and y.
        let point = pair.public_key().as_ref();
        SigningKey {
            kid: kid.into(),
            alg: Algorithm::ES256,
            key: EncodingKey::from_ec_der(pkcs8.as_ref()),
            jwk: json!({
                "kty": "EC", "crv": "P-256", "kid": kid,
                "x": Base64UrlUnpadded::encode_string(&point[1..33]),
                "y": Base64UrlUnpadded::encode_string(&point[33..65]),
            }),
        }
    }

    fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key).unwrap()
    }
}

/// What a GitHub-like job's token says, issued now by the app's clock.
fn claims(app: &TestApp, issuer: &Issuer, jti: &str) -> Value {
    let now = app.clock.now().and_utc().timestamp();
    json!({
        "iss": issuer.url,
        "aud": app.address,
        "sub": "repo:octo/app:ref:refs/heads/main",
        "repository": "octo/app",
        "ref": "refs/heads/main",
        "jti": jti,
        "iat": now,
        "nbf": now,
        "exp": now + 300,
    })
}

async fn exchange(app: &TestApp, jwt: &str) -> Response {
    client()
        .post(app.url("/api/ci/exchange"))
        .json(&json!({ "token": jwt }))
        .send()
        .await
        .unwrap()
}

/// Exchanges `jwt`, expecting a refusal; its reason.
async fn refused(app: &TestApp, jwt: &str) -> String {
    let res = exchange(app, jwt).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let www = res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(www.contains(r#"error="invalid_token""#), "{www}");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_token", "{body}");
    body["error"]["message"].as_str().unwrap().to_owned()
}

async fn trust(owner: &User, project: &str, body: Value) -> Response {
    owner
        .session(Method::POST, &format!("/api/projects/{project}/trusted-ci"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// The password given again, as changes to what is trusted need.
async fn reauthenticate(owner: &User) {
    let res = owner
        .session(Method::POST, "/api/session/reauthenticate")
        .json(&json!({ "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
}

/// An owner and a project trusting `issuer` for `octo/app` on `refs/heads/main`.
async fn trusted(app: &TestApp, issuer: &Issuer, scopes: &[&str]) -> (User, String) {
    let owner = app.with_user("owner@example.com").await;
    let project = owner.with_project("App").await;
    let res = trust(
        &owner,
        &project,
        json!({
            "issuer": issuer.url,
            "claims": { "repository": "octo/app", "ref": "refs/heads/main" },
            "scopes": scopes,
            "lifetimeMinutes": 10,
        }),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    (owner, project)
}

#[actix_web::test]
async fn a_trusted_job_gets_one_short_token_of_its_project_and_scopes() {
    let app = TestApp::spawn().await;
    let key = SigningKey::rsa("rsa-1");
    let issuer = Issuer::start(&[&key]).await;
    let (owner, project) = trusted(&app, &issuer, &["publish"]).await;
    let other = owner.with_project("Other").await;

    let listed: Value = owner
        .get(&format!("/api/projects/{project}/trusted-ci"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    // The audience defaults to the server's public URL.
    assert_eq!(listed[0]["audience"], app.address.as_str());
    assert_eq!(listed[0]["lifetimeMinutes"], 10);

    let jwt = key.sign(&claims(&app, &issuer, "run-1"));
    let res = exchange(&app, &jwt).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let minted: Value = res.json().await.unwrap();
    let token = minted["token"].as_str().unwrap().to_owned();
    assert!(crate::helpers::is_token(&token), "{minted}");
    assert_eq!(minted["scopes"], json!(["publish"]));
    assert_eq!(minted["projects"], json!([project]));
    assert_eq!(
        minted["issuedTo"],
        json!({
            "issuer": issuer.url,
            "subject": "repo:octo/app:ref:refs/heads/main",
            "claims": { "repository": "octo/app", "ref": "refs/heads/main" },
        })
    );
    let created =
        chrono::DateTime::parse_from_rfc3339(minted["createdAt"].as_str().unwrap()).unwrap();
    let expires =
        chrono::DateTime::parse_from_rfc3339(minted["expiresAt"].as_str().unwrap()).unwrap();
    assert_eq!(expires - created, Duration::minutes(10));

    // Its project, its scope; nothing else.
    let publish = |project: String| {
        let token = token.clone();
        let app = &app;
        async move {
            app.bearer(Method::POST, "/api/publish", &token)
                .json(&json!({ "projectId": project }))
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(publish(project.clone()).await.status(), StatusCode::CREATED);
    assert_eq!(publish(other.clone()).await.status(), StatusCode::NOT_FOUND);
    let messages = app
        .bearer_get(&format!("/api/projects/{project}/messages"), &token)
        .await;
    assert_eq!(error_code(messages).await, "insufficient_scope");

    // Once only.
    let again = refused(&app, &jwt).await;
    assert!(again.contains("already exchanged"), "{again}");

    // The owner sees it among their tokens, issued to the job, and the refusal in the log.
    let mine = owner.tokens().await;
    let listed = mine.iter().find(|t| t["id"] == minted["id"]).unwrap();
    assert_eq!(listed["issuedTo"], minted["issuedTo"]);
    assert!(listed["name"]
        .as_str()
        .unwrap()
        .starts_with("CI: repo:octo/app"));
    let log: Value = owner
        .get("/api/security-log?kind=ci_exchange_refused")
        .await
        .json()
        .await
        .unwrap();
    assert!(log[0]["details"]["reason"]
        .as_str()
        .unwrap()
        .contains("already exchanged"));

    // It dies at its lifetime.
    app.clock.advance(Duration::minutes(10));
    let late = app
        .bearer_get(&format!("/api/projects/{project}/publishes"), &token)
        .await;
    assert_eq!(error_code(late).await, "invalid_token");
}

#[actix_web::test]
async fn every_broken_rule_is_refused_with_its_reason() {
    let app = TestApp::spawn().await;
    let key = SigningKey::rsa("rsa-1");
    let issuer = Issuer::start(&[&key]).await;
    let (owner, _) = trusted(&app, &issuer, &["publish"]).await;
    let good = claims(&app, &issuer, "good");
    assert_eq!(
        exchange(&app, &key.sign(&good)).await.status(),
        StatusCode::CREATED
    );
    let now = app.clock.now().and_utc().timestamp();
    let with = |jti: &str, changes: Value| {
        let mut c = claims(&app, &issuer, jti);
        for (k, v) in changes.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    };
    for (changes, reason) in [
        (json!({ "repository": "octo/other" }), "repository differs"),
        (json!({ "ref": null }), "ref differs"),
        (
            json!({ "aud": "https://elsewhere.example" }),
            "audience (aud)",
        ),
        (
            json!({ "exp": now - 120, "iat": now - 600, "nbf": now - 600 }),
            "expired",
        ),
        (
            json!({ "nbf": now + 600, "exp": now + 900 }),
            "not valid yet",
        ),
        (json!({ "iat": now + 600 }), "issued in the future"),
        (json!({ "exp": now + 3 * 86_400 }), "longer than a day"),
        (json!({ "jti": null }), "no id (jti)"),
        (json!({ "iss": "http://127.0.0.1:1" }), "No project trusts"),
    ] {
        let jwt = key.sign(&with(reason, changes));
        let message = refused(&app, &jwt).await;
        assert!(message.contains(reason), "{reason}: {message}");
    }

    // Unsigned, and an HMAC keyed with the public key (the classic confusion): refused before
    // any key is used.
    let part = |v: &Value| Base64UrlUnpadded::encode_string(v.to_string().as_bytes());
    let unsigned = format!(
        "{}.{}.",
        part(&json!({ "alg": "none", "kid": "rsa-1" })),
        part(&with("none", json!({})))
    );
    assert!(refused(&app, &unsigned).await.contains("alg none"));
    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = Some("rsa-1".into());
    let confused = jsonwebtoken::encode(
        &hs,
        &with("hs256", json!({})),
        &EncodingKey::from_secret(RSA_N.as_bytes()),
    )
    .unwrap();
    assert!(refused(&app, &confused).await.contains("not accepted"));
    // Another key under the issuer's key id, and a payload changed after signing.
    let mut impostor = SigningKey::ec("rsa-1");
    impostor.kid = "rsa-1".into();
    let forged = impostor.sign(&with("impostor", json!({})));
    assert!(refused(&app, &forged).await.contains("not its key's"));
    let signed = key.sign(&with("tampered", json!({ "repository": "octo/other" })));
    let mut parts: Vec<&str> = signed.split('.').collect();
    let swapped = part(&with("tampered", json!({})));
    parts[1] = &swapped;
    let tampered = parts.join(".");
    assert!(refused(&app, &tampered)
        .await
        .contains("signature does not verify"));

    // The owners can read each refusal whose issuer they trust.
    let log: Value = owner
        .get("/api/security-log?kind=ci_exchange_refused")
        .await
        .json()
        .await
        .unwrap();
    let reasons: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["details"]["reason"].as_str().unwrap())
        .collect();
    assert!(
        reasons.iter().any(|r| r.contains("repository differs")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("signature does not verify")),
        "{reasons:?}"
    );
    assert!(
        !reasons.iter().any(|r| r.contains("No project trusts")),
        "{reasons:?}"
    );
}

#[actix_web::test]
async fn an_unknown_key_is_fetched_again_at_most_every_30_seconds_and_rotation_takes() {
    let app = TestApp::spawn().await;
    let old = SigningKey::ec("2026-a");
    let new = SigningKey::ec("2026-b");
    let issuer = Issuer::start(&[&old]).await;
    trusted(&app, &issuer, &["publish"]).await;

    let ok = exchange(&app, &old.sign(&claims(&app, &issuer, "1"))).await;
    assert_eq!(ok.status(), StatusCode::CREATED);
    assert_eq!(issuer.fetches(), 1);
    // Keys are cached: no fetch for a known key.
    let ok = exchange(&app, &old.sign(&claims(&app, &issuer, "2"))).await;
    assert_eq!(ok.status(), StatusCode::CREATED);
    assert_eq!(issuer.fetches(), 1);

    // A key id the issuer has not published: the keys were fetched just now, so not again…
    assert!(refused(&app, &new.sign(&claims(&app, &issuer, "3")))
        .await
        .contains("kid"));
    assert_eq!(issuer.fetches(), 1);
    // …but once 30 s passed, once, and no more within the next 30 s.
    app.clock.advance(Duration::seconds(31));
    assert!(refused(&app, &new.sign(&claims(&app, &issuer, "4")))
        .await
        .contains("kid"));
    assert_eq!(issuer.fetches(), 2);
    assert!(refused(&app, &new.sign(&claims(&app, &issuer, "4b")))
        .await
        .contains("kid"));
    assert_eq!(issuer.fetches(), 2);

    // The issuer rotates; once 30 s passed, the new key is fetched and works, the old is gone.
    issuer.publish(&[&new]);
    app.clock.advance(Duration::seconds(31));
    let rotated = exchange(&app, &new.sign(&claims(&app, &issuer, "5"))).await;
    assert_eq!(rotated.status(), StatusCode::CREATED);
    assert_eq!(issuer.fetches(), 3);
    assert!(refused(&app, &old.sign(&claims(&app, &issuer, "6")))
        .await
        .contains("kid"));
    assert_eq!(issuer.fetches(), 3);
}

#[actix_web::test]
async fn only_owners_with_a_recent_password_change_what_is_trusted() {
    let app = TestApp::spawn().await;
    let key = SigningKey::rsa("rsa-1");
    let issuer = Issuer::start(&[&key]).await;
    let owner = app.with_user("owner@example.com").await;
    let editor = app.with_user("editor@example.com").await;
    let project = owner.with_project("App").await;
    owner
        .add_member(&project, "editor@example.com", "editor")
        .await;
    let body = json!({
        "issuer": issuer.url,
        "claims": { "repository": "octo/app" },
        "scopes": ["publish"],
    });
    assert_eq!(
        error_code(trust(&editor, &project, body.clone()).await).await,
        "forbidden"
    );
    let token = owner.with_token("cli", &["publish"], "1m").await.plaintext;
    let by_token = owner
        .bearer(
            Method::POST,
            &format!("/api/projects/{project}/trusted-ci"),
            &token,
        )
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(by_token).await, "session_required");
    for (field, bad) in [
        ("issuer", json!({ "issuer": "http://ci.example.com" })),
        ("lifetimeMinutes", json!({ "lifetimeMinutes": 61 })),
        ("scopes", json!({ "scopes": ["billing.read"] })),
        ("claims", json!({ "claims": { "aud": "x" } })),
    ] {
        let mut sent = body.clone();
        for (k, v) in bad.as_object().unwrap() {
            sent[k] = v.clone();
        }
        let res = trust(&owner, &project, sent).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{field}");
        let answer: Value = res.json().await.unwrap();
        assert!(answer["error"]["fields"][field].is_string(), "{answer}");
    }
    let github = json!({
        "issuer": "https://token.actions.githubusercontent.com",
        "claims": { "ref": "refs/heads/main" },
        "scopes": ["publish"],
    });
    let res: Value = trust(&owner, &project, github).await.json().await.unwrap();
    assert!(res["error"]["fields"]["claims"]
        .as_str()
        .unwrap()
        .contains("repository"));

    // Past the re-authentication window: the password first.
    app.clock.advance(Duration::minutes(11));
    let stale = trust(&owner, &project, body.clone()).await;
    assert_eq!(error_code(stale).await, "reauthentication_required");
    reauthenticate(&owner).await;
    let res = trust(&owner, &project, body.clone()).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let id = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let path = format!("/api/projects/{project}/trusted-ci/{id}");
    let res = owner.session(Method::DELETE, &path).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = owner.session(Method::DELETE, &path).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let jwt = key.sign(&claims(&app, &issuer, "after"));
    assert!(refused(&app, &jwt).await.contains("No project trusts"));

    // DELETE on the collection stops trusting every CI identity of the project at once; an
    // editor may not, and it needs the password as recently.
    for scope in ["octo/app", "octo/lib"] {
        let mut one = body.clone();
        one["claims"]["repository"] = json!(scope);
        assert_eq!(
            trust(&owner, &project, one).await.status(),
            StatusCode::CREATED
        );
    }
    let all = format!("/api/projects/{project}/trusted-ci");
    let res = editor.session(Method::DELETE, &all).send().await.unwrap();
    assert_eq!(error_code(res).await, "forbidden");
    app.clock.advance(Duration::minutes(11));
    let res = owner.session(Method::DELETE, &all).send().await.unwrap();
    assert_eq!(error_code(res).await, "reauthentication_required");
    assert_eq!(
        owner
            .get(&all)
            .await
            .json::<Value>()
            .await
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        2
    );
    reauthenticate(&owner).await;
    let res = owner.session(Method::DELETE, &all).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        owner.get(&all).await.json::<Value>().await.unwrap(),
        json!([])
    );
    let jwt = key.sign(&claims(&app, &issuer, "after-all"));
    assert!(refused(&app, &jwt).await.contains("No project trusts"));
    let log: Value = owner.get("/api/security-log").await.json().await.unwrap();
    let kinds: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"trusted_ci_added") && kinds.contains(&"trusted_ci_removed"),
        "{kinds:?}"
    );
}

#[actix_web::test]
async fn the_settings_page_trusts_and_removes_a_ci_identity() {
    let app = TestApp::spawn().await;
    let key = SigningKey::rsa("rsa-1");
    let issuer = Issuer::start(&[&key]).await;
    let owner = app.with_user("owner@example.com").await;
    let project = owner.with_project("App").await;
    let settings = format!("/projects/{project}/settings");
    let page = owner.get_html(&settings).await;
    assert!(page.contains("No CI identity is trusted yet."));

    let add = format!("{settings}/trusted-ci");
    let bad = owner
        .post_form(
            &add,
            &[
                ("csrf_token", owner.csrf.as_str()),
                ("issuer", "http://ci.example.com"),
                ("claims", "repository"),
                ("scopes", "publish"),
                ("lifetime_minutes", "15"),
            ],
        )
        .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = bad.text().await.unwrap();
    assert!(html.contains("Use an https:// URL"), "{html}");
    assert!(html.contains("one claim a line"), "{html}");

    let res = owner
        .post_form(
            &add,
            &[
                ("csrf_token", owner.csrf.as_str()),
                ("issuer", issuer.url.as_str()),
                ("claims", "repository=octo/app\nref = refs/heads/main"),
                ("scopes", "publish"),
                ("scopes", "files"),
                ("lifetime_minutes", "5"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let page = owner.get_html(&settings).await;
    assert!(page.contains("CI identity trusted."));
    assert!(
        page.contains(&issuer.url) && page.contains("ref=refs/heads/main"),
        "{page}"
    );
    // The page's trust is the API's, and a job can use it.
    let minted = exchange(&app, &key.sign(&claims(&app, &issuer, "form"))).await;
    assert_eq!(minted.status(), StatusCode::CREATED);
    let minted: Value = minted.json().await.unwrap();
    assert_eq!(minted["scopes"], json!(["publish", "files"]));

    let listed: Value = owner
        .get(&format!("/api/projects/{project}/trusted-ci"))
        .await
        .json()
        .await
        .unwrap();
    let id = listed[0]["id"].as_str().unwrap();
    let res = owner
        .post_form(
            &format!("{settings}/trusted-ci/{id}/remove"),
            &[("csrf_token", owner.csrf.as_str())],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(owner
        .get_html(&settings)
        .await
        .contains("No CI identity is trusted yet."));
}

#[actix_web::test]
async fn a_pipeline_runs_past_the_token_cap_and_its_tokens_are_not_regenerated() {
    let app = TestApp::spawn().await;
    let key = SigningKey::ec("ec-1");
    let issuer = Issuer::start(&[&key]).await;
    let (owner, _project) = trusted(&app, &issuer, &["publish"]).await;
    // 99 tokens of the owner's own, then the pipeline's: the hundredth.
    for i in 0..99 {
        owner
            .create_token(&format!("own {i}"), &["files"], "1m")
            .await;
    }
    let res = exchange(&app, &key.sign(&claims(&app, &issuer, "run-1"))).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let first: Value = res.json().await.unwrap();
    let res = exchange(&app, &key.sign(&claims(&app, &issuer, "run-2"))).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // A CI token is not made long-lived by regenerating it: the next job exchanges its own.
    let id = first["id"].as_str().unwrap();
    let res = owner
        .session(Method::POST, &format!("/api/tokens/{id}/rotate"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = res.json().await.unwrap();
    assert!(
        body["error"]["fields"]["id"]
            .as_str()
            .unwrap()
            .contains("CI job"),
        "{body}"
    );

    // Once the first job's token has run out, it holds no place: the next run works, as do
    // the hundred after it.
    app.clock.advance(Duration::minutes(11));
    for run in 0..3 {
        let jwt = key.sign(&claims(&app, &issuer, &format!("later-{run}")));
        let res = exchange(&app, &jwt).await;
        assert_eq!(res.status(), StatusCode::CREATED, "run {run}");
        app.clock.advance(Duration::minutes(11));
    }
    // The cap still holds for the tokens that work: one more of the owner's own fills it.
    owner.create_token("own 99", &["files"], "1m").await;
    let res = exchange(&app, &key.sign(&claims(&app, &issuer, "full"))).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[actix_web::test]
async fn a_minted_token_dies_at_its_lifetime_on_every_instance() {
    let a = TestApp::spawn().await;
    let b = TestApp::spawn_on(a.db.clone(), a.clock.clone()).await;
    let key = SigningKey::ec("ec-1");
    let issuer = Issuer::start(&[&key]).await;
    let (_owner, project) = trusted(&a, &issuer, &["publish"]).await;
    let publishes = format!("/api/projects/{project}/publishes");

    // Exchanged through the second instance; its `jti` is spent for both.
    let jwt = key.sign(&claims(&a, &issuer, "run"));
    let res = exchange(&b, &jwt).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let token = res.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(refused(&a, &jwt).await.contains("already exchanged"));
    // Both instances have the token cached, working…
    for app in [&a, &b] {
        assert_eq!(
            app.bearer_get(&publishes, &token).await.status(),
            StatusCode::OK
        );
    }
    // …and both refuse it the moment its ten minutes are over.
    a.clock.advance(Duration::minutes(10));
    for app in [&a, &b] {
        let late = app.bearer_get(&publishes, &token).await;
        assert_eq!(error_code(late).await, "invalid_token");
    }
}
