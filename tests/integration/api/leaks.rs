//! Leaked tokens (SPEC §8.4): the public revoke endpoint, GitHub's and GitLab's signed
//! reports (keys made here, bodies signed exactly as the partners sign them), what the owner
//! sees, and `mantel scan` as a real process.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64ct::{Base64, Encoding};
use mantel::clock::Clock;
use mantel::domain::PlainToken;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{EncodePublicKey, LineEnding};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use sha2::Digest;

use crate::helpers::{client, error_code, logs, raw, TestApp, TestDb, User};

const GITHUB_KEY_ID: &str = "bcb53661c06b4728e59d897fb6165d5c9cda0fd9cdf9d09ead458168deb7518c";
const GITLAB_KEY_ID: &str = "gitlab-2026-11";

/// A partner's signing key, and the key file that names its public half (GitHub's format).
struct Partner {
    key: SigningKey,
    id: String,
    file: PathBuf,
    _dir: Arc<tempfile::TempDir>,
}

impl Partner {
    fn new(id: &str) -> Partner {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        let partner = Partner {
            key: SigningKey::random(&mut rand::rngs::OsRng),
            id: id.to_owned(),
            file: dir.path().join("keys.json"),
            _dir: dir,
        };
        partner.publish(&[(&partner.id, &partner.key)]);
        partner
    }

    /// Writes the key file, as GitHub's `/meta/public_keys/secret_scanning` answers.
    fn publish(&self, keys: &[(&str, &SigningKey)]) {
        let public_keys: Vec<Value> = keys
            .iter()
            .enumerate()
            .map(|(i, (id, key))| {
                let pem = key
                    .verifying_key()
                    .to_public_key_pem(LineEnding::LF)
                    .unwrap();
                json!({ "key_identifier": id, "key": pem, "is_current": i == 0 })
            })
            .collect();
        let body = json!({ "public_keys": public_keys }).to_string();
        std::fs::write(&self.file, body).unwrap();
    }

    /// Base64 of the DER ECDSA P-256 / SHA-256 signature of `body`.
    fn sign(&self, body: &[u8]) -> String {
        let signature: Signature = self.key.sign(body);
        Base64::encode_string(signature.to_der().as_bytes())
    }
}

/// A server that takes GitHub's and GitLab's reports, with one user and a live token.
struct Setup {
    user: User,
    github: Partner,
    gitlab: Partner,
}

async fn setup(email: &str) -> Setup {
    let (github, gitlab) = (Partner::new(GITHUB_KEY_ID), Partner::new(GITLAB_KEY_ID));
    let (gh, gl) = (github.file.clone(), gitlab.file.clone());
    let app = TestApp::spawn_with(Arc::new(TestDb::new()), Clock::default(), |s| {
        s.github_scanning_keys = Some(gh);
        s.gitlab_scanning_keys = Some(gl);
    })
    .await;
    Setup {
        user: app.with_user(email).await,
        github,
        gitlab,
    }
}

/// A report posted as a partner posts it: no cookie, no `Origin`, the raw body signed.
async fn report(
    app: &TestApp,
    partner: &str,
    body: &str,
    key_id: Option<&str>,
    signature: Option<&str>,
) -> Response {
    let mut req = client()
        .post(app.url(&format!("/api/secret-scanning/{partner}")))
        .header("content-type", "application/json")
        .body(body.to_owned());
    let prefix = if partner == "github" {
        "Github"
    } else {
        "Gitlab"
    };
    if let Some(id) = key_id {
        req = req.header(format!("{prefix}-Public-Key-Identifier"), id);
    }
    if let Some(sig) = signature {
        req = req.header(format!("{prefix}-Public-Key-Signature"), sig);
    }
    req.send().await.unwrap()
}

async fn signed(app: &TestApp, partner: &Partner, name: &str, body: &str) -> Response {
    let sig = partner.sign(body.as_bytes());
    report(app, name, body, Some(&partner.id), Some(&sig)).await
}

async fn public_revoke(app: &TestApp, body: Value) -> Response {
    client()
        .post(app.url("/api/credentials/revoke"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// What a client using `token` is told by `GET /api/me`.
async fn me(app: &TestApp, token: &str) -> (StatusCode, Value) {
    let res = app.bearer_get("/api/me", token).await;
    (res.status(), res.json().await.unwrap())
}

fn sha256_hex(s: &str) -> String {
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

fn well_formed_unknown() -> String {
    PlainToken::generate().expose().to_owned()
}

async fn token_json(user: &User, id: &str) -> Value {
    user.tokens()
        .await
        .into_iter()
        .find(|t| t["id"] == id)
        .unwrap()
}

#[actix_web::test]
async fn the_public_endpoint_answers_alike_and_revokes_only_live_tokens() {
    let user = TestApp::spawn().await.with_user("leaky@example.com").await;
    let live = user.with_token("deploy", &["publish"], "1y").await;
    let revoked = user.with_token("old", &["publish"], "1y").await;
    assert_eq!(
        user.revoke(&revoked.id).await.status(),
        StatusCode::NO_CONTENT
    );
    let other = user.with_token("untouched", &["files"], "1y").await;

    let mut answers = Vec::new();
    // A token's shape with a wrong checksum: the document's pattern allows it, and it is no one's.
    let typo = "mm_pat_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    for credentials in [
        json!([typo]),
        json!([well_formed_unknown()]),
        json!([revoked.plaintext]),
        json!([
            live.plaintext,
            revoked.plaintext,
            typo,
            well_formed_unknown()
        ]),
        json!([live.plaintext]),
    ] {
        let started = std::time::Instant::now();
        let res = public_revoke(&user, json!({ "credentials": credentials })).await;
        // Never sooner than the floor, so a live token's revocation (a durable write) does not
        // show in the timing either.
        assert!(started.elapsed() >= std::time::Duration::from_millis(250));
        answers.push((res.status(), res.text().await.unwrap()));
    }
    assert!(
        answers
            .iter()
            .all(|a| *a == (StatusCode::ACCEPTED, "{}\n".to_owned())),
        "{answers:?}"
    );

    let (status, body) = me(&user, &live.plaintext).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        body["error"]["message"],
        "This token was revoked: it was found in public."
    );
    assert_eq!(
        token_json(&user, &live.id).await["revokedReason"],
        "reported_public"
    );
    assert_eq!(
        token_json(&user, &revoked.id).await["revokedReason"],
        "user"
    );
    assert_eq!(me(&user, &other.plaintext).await.0, StatusCode::OK);
    let page = user.get_html("/settings/tokens").await;
    assert!(page.contains("Revoked: reported public"), "{page}");
    assert!(page.contains("found in public"), "{page}");
    // Its owner is told, once, though it was reported twice.
    let notices = user.get_html("/settings/notifications").await;
    assert!(
        notices.contains("Your API token “deploy” was found in public and revoked"),
        "{notices}"
    );
    assert_eq!(reported_notifications(&user), 1);

    let logs = logs();
    assert!(!logs.contains(&live.plaintext) && !logs.contains(&revoked.plaintext));
}

#[actix_web::test]
async fn the_public_endpoint_refuses_bad_bodies_and_changes_nothing() {
    let user = TestApp::spawn()
        .await
        .with_user("careful@example.com")
        .await;
    let token = user.with_token("ci", &["publish"], "1y").await;
    let too_many = vec![token.plaintext.clone(); 1001];
    for body in [
        json!({}),
        json!({ "credentials": [] }),
        json!({ "credentials": too_many }),
        json!({ "credentials": token.plaintext }),
        json!({ "credentials": [token.plaintext, 7] }),
        // Not a token's shape (`^mm_pat_[0-9A-Za-z]{32}$`, as the document says).
        json!({ "credentials": [token.plaintext, "junk"] }),
        json!({ "credentials": ["mm_pat_nothing"] }),
        json!([token.plaintext]),
    ] {
        let res = public_revoke(&user, body.clone()).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let text = res.text().await.unwrap();
        assert!(
            !text.contains(&token.plaintext),
            "the answer echoes the token: {text}"
        );
        assert!(text.contains("validation_failed"), "{text}");
    }
    let not_json = client()
        .post(user.url("/api/credentials/revoke"))
        .header("content-type", "application/json")
        .body(format!("{{\"credentials\": [\"{}\"", token.plaintext))
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(not_json).await, "bad_json");
    let text_plain = client()
        .post(user.url("/api/credentials/revoke"))
        .header("content-type", "text/plain")
        .body(json!({ "credentials": [token.plaintext] }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(text_plain.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(me(&user, &token.plaintext).await.0, StatusCode::OK);
}

#[actix_web::test]
async fn the_public_endpoint_allows_sixty_reports_an_hour_from_one_address() {
    let app = TestApp::spawn().await;
    let body = json!({ "credentials": ["mm_pat_nothing0000000000000000000000000"] });
    for i in 0..60 {
        let res = public_revoke(&app, body.clone()).await;
        assert_eq!(res.status(), StatusCode::ACCEPTED, "report {i}");
    }
    let res = public_revoke(&app, body).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((3500..=3600).contains(&retry), "{retry}");
    assert_eq!(error_code(res).await, "rate_limited");
}

#[actix_web::test]
async fn a_github_report_revokes_true_positives_and_labels_every_finding() {
    let Setup { user, github, .. } = setup("octo@example.com").await;
    let token = user.with_token("deploy key", &["publish"], "never").await;
    let unknown = well_formed_unknown();
    let url = "https://github.com/octo/app/blob/0a1b2c/.env";
    let body = json!([
        {"token": token.plaintext, "type": "mantel_personal_access_token", "url": url,
         "source": "commit"},
        {"token": unknown, "type": "mantel_personal_access_token",
         "url": "https://gist.github.com/x/1", "source": "gist_content"},
        {"token": "mm_pat_lookalike", "type": "mantel_personal_access_token", "url": url,
         "source": "content"},
    ])
    .to_string();

    let res = signed(&user, &github, "github", &body).await;
    assert_eq!(res.status(), StatusCode::OK);
    let feedback: Value = res.json().await.unwrap();
    let expected = json!([
        {"token_hash": sha256_hex(&token.plaintext),
         "token_type": "mantel_personal_access_token", "label": "true_positive"},
        {"token_hash": sha256_hex(&unknown),
         "token_type": "mantel_personal_access_token", "label": "false_positive"},
        {"token_hash": sha256_hex("mm_pat_lookalike"),
         "token_type": "mantel_personal_access_token", "label": "false_positive"},
    ]);
    assert_eq!(feedback, expected);

    assert_eq!(
        me(&user, &token.plaintext).await.0,
        StatusCode::UNAUTHORIZED
    );
    let listed = token_json(&user, &token.id).await;
    assert_eq!(listed["status"], "revoked");
    assert_eq!(listed["revokedReason"], "reported_public");
    let page = user.get_html("/settings/tokens").await;
    assert!(page.contains("Revoked: reported public"), "{page}");
    assert!(
        page.contains(&format!("found in a public commit: <a href=\"{url}\"")),
        "{page}"
    );
    assert!(
        page.contains("reported by GitHub secret scanning"),
        "{page}"
    );
    let detail = user
        .get_html(&format!("/settings/tokens/{}", token.id))
        .await;
    assert!(
        detail.contains(&format!("found in a public commit: <a href=\"{url}\"")),
        "{detail}"
    );

    // The same report again: the same answer, and nothing more changes.
    let revoked_at = listed["revokedAt"].clone();
    let again = signed(&user, &github, "github", &body).await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(again.json::<Value>().await.unwrap(), expected);
    assert_eq!(token_json(&user, &token.id).await["revokedAt"], revoked_at);
    assert!(!logs().contains(&token.plaintext));

    // The owner is told once, with where it was found.
    let page = user.get_html("/settings/notifications").await;
    assert!(
        page.contains("Your API token “deploy key” was found in public and revoked"),
        "{page}"
    );
    assert!(page.contains(url), "{page}");
    assert_eq!(reported_notifications(&user), 1);
    // And the security log has it, once, with where it was found and who reported it.
    let res = user
        .get("/api/security-log?kind=token_reported_public")
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let events: Vec<Value> = res.json().await.unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["details"]["url"], url);
    assert_eq!(events[0]["details"]["channel"], "github");
    assert_eq!(events[0]["details"]["tokenId"], token.id.as_str());
}

fn reported_notifications(app: &TestApp) -> i64 {
    app.db
        .count("SELECT COUNT(*) AS n FROM notifications WHERE kind = 'token_reported_public'")
}

#[actix_web::test]
async fn a_github_report_that_does_not_verify_is_refused_and_changes_nothing() {
    let Setup {
        user,
        github,
        gitlab,
    } = setup("guarded@example.com").await;
    let token = user.with_token("ci", &["publish"], "1y").await;
    let body = json!([{"token": token.plaintext, "type": "mantel_personal_access_token",
                       "url": "https://github.com/a/b/blob/c/d"}])
    .to_string();
    let other_body = json!([{"token": well_formed_unknown(), "type": "x"}]).to_string();
    let good = github.sign(body.as_bytes());
    let tampered = body.replace("a/b", "a/c");
    let cases: [(&str, Option<&str>, Option<String>); 7] = [
        (&tampered, Some(GITHUB_KEY_ID), Some(good.clone())),
        (&body, Some("unknown-key"), Some(good.clone())),
        (
            &body,
            Some(GITHUB_KEY_ID),
            Some(github.sign(other_body.as_bytes())),
        ),
        (
            &body,
            Some(GITHUB_KEY_ID),
            Some(gitlab.sign(body.as_bytes())),
        ),
        (
            &body,
            Some(GITHUB_KEY_ID),
            Some("bm90IGEgc2lnbmF0dXJl".to_owned()),
        ),
        (&body, Some(GITHUB_KEY_ID), None),
        (&body, None, None),
    ];
    for (i, (body, key_id, sig)) in cases.iter().enumerate() {
        let res = report(&user, "github", body, *key_id, sig.as_deref()).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "case {i}");
        assert_eq!(error_code(res).await, "unauthenticated", "case {i}");
    }
    // GitLab's key does not sign for GitHub, nor GitHub's headers for GitLab.
    let res = report(&user, "gitlab", &body, Some(GITHUB_KEY_ID), Some(&good)).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(me(&user, &token.plaintext).await.0, StatusCode::OK);
    assert_eq!(token_json(&user, &token.id).await["status"], "active");
}

#[actix_web::test]
async fn a_gitlab_report_revokes_and_answers_no_content() {
    let Setup { user, gitlab, .. } = setup("tanuki@example.com").await;
    let token = user.with_token("runner", &["files"], "1y").await;
    let url = "https://gitlab.com/tanuki/app/-/blob/main/config.yml";
    let body = json!([
        {"type": "mantel_personal_access_token", "token": token.plaintext, "url": url},
        {"type": "mantel_personal_access_token", "token": well_formed_unknown(), "url": url},
    ])
    .to_string();
    let res = signed(&user, &gitlab, "gitlab", &body).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        me(&user, &token.plaintext).await.0,
        StatusCode::UNAUTHORIZED
    );
    let page = user.get_html("/settings/tokens").await;
    assert!(
        page.contains(&format!("found in public: <a href=\"{url}\"")),
        "{page}"
    );
    assert!(
        page.contains("reported by GitLab secret detection"),
        "{page}"
    );
    let again = signed(&user, &gitlab, "gitlab", &body).await;
    assert_eq!(again.status(), StatusCode::NO_CONTENT);
    // A signed body that is not a list of findings is refused as such.
    let res = signed(&user, &gitlab, "gitlab", r#"{"token": "x"}"#).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[actix_web::test]
async fn a_rotated_key_file_is_read_again_without_a_restart() {
    let Setup { user, github, .. } = setup("rotating@example.com").await;
    let body = json!([{"token": well_formed_unknown(), "type": "mantel_personal_access_token"}])
        .to_string();
    assert_eq!(
        signed(&user, &github, "github", &body).await.status(),
        StatusCode::OK
    );
    let next = Partner {
        key: SigningKey::random(&mut rand::rngs::OsRng),
        id: "next-key".to_owned(),
        file: github.file.clone(),
        _dir: github._dir.clone(),
    };
    // The file now lists only the new key: the old one no longer verifies.
    next.publish(&[(&next.id, &next.key)]);
    assert_eq!(
        signed(&user, &next, "github", &body).await.status(),
        StatusCode::OK
    );
    let res = signed(&user, &github, "github", &body).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn a_batch_of_a_thousand_findings_is_answered_well_within_githubs_limit() {
    let Setup { user, github, .. } = setup("bulk@example.com").await;
    let token = user.with_token("bulk", &["publish"], "1y").await;
    let mut findings: Vec<Value> = (0..999)
        .map(|i| {
            json!({"token": well_formed_unknown(), "type": "mantel_personal_access_token",
                   "url": format!("https://github.com/o/r/blob/{i}/f"), "source": "content"})
        })
        .collect();
    findings.insert(
        500,
        json!({"token": token.plaintext, "type": "mantel_personal_access_token",
               "url": "https://github.com/o/r/blob/x/f", "source": "content"}),
    );
    let body = Value::from(findings).to_string();
    let started = Instant::now();
    let res = signed(&user, &github, "github", &body).await;
    let took = started.elapsed();
    assert_eq!(res.status(), StatusCode::OK);
    let feedback: Vec<Value> = res.json().await.unwrap();
    assert_eq!(feedback.len(), 1000);
    let positives: Vec<usize> = feedback
        .iter()
        .enumerate()
        .filter(|(_, f)| f["label"] == "true_positive")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(positives, [500]);
    // GitHub waits 30 seconds; a debug build on a busy two-core machine answers in well under 5.
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(
        me(&user, &token.plaintext).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[actix_web::test]
async fn without_a_key_file_partner_reports_are_refused() {
    let user = TestApp::spawn().await.with_user("nokeys@example.com").await;
    let token = user.with_token("ci", &["publish"], "1y").await;
    let body =
        json!([{"token": token.plaintext, "type": "mantel_personal_access_token"}]).to_string();
    let partner = Partner::new(GITHUB_KEY_ID);
    for name in ["github", "gitlab"] {
        let res = signed(&user, &partner, name, &body).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{name}");
    }
    assert_eq!(me(&user, &token.plaintext).await.0, StatusCode::OK);
}

/// A report that names no key, an unknown key, or carries no or a malformed signature is
/// refused on its head alone: the server answers 401 without waiting for the megabyte it was
/// promised (the body here never comes).
#[actix_web::test]
async fn a_report_without_a_known_key_is_refused_before_its_body_is_read() {
    let Setup { user, github, .. } = setup("headfirst@example.com").await;
    let signature = github.sign(b"[]");
    let cases: [(&str, &str, Option<&str>, Option<&str>); 5] = [
        ("github", "Github", Some("unknown-key"), Some(&signature)),
        ("github", "Github", None, Some(&signature)),
        ("github", "Github", Some(GITHUB_KEY_ID), None),
        (
            "github",
            "Github",
            Some(GITHUB_KEY_ID),
            Some("bm90IGEgc2lnbmF0dXJl"),
        ),
        ("gitlab", "Gitlab", Some(GITHUB_KEY_ID), Some(&signature)),
    ];
    for (i, (partner, prefix, key_id, signature)) in cases.into_iter().enumerate() {
        let mut head = format!(
            "POST /api/secret-scanning/{partner} HTTP/1.1\r\nHost: 127.0.0.1\r\n\
             Content-Type: application/json\r\nContent-Length: 1048576\r\n"
        );
        if let Some(id) = key_id {
            head.push_str(&format!("{prefix}-Public-Key-Identifier: {id}\r\n"));
        }
        if let Some(signature) = signature {
            head.push_str(&format!("{prefix}-Public-Key-Signature: {signature}\r\n"));
        }
        head.push_str("\r\n");
        // Well within the body deadline: the answer comes from the head, not from a timeout.
        let answer = raw::exchange(&user.address, head.as_bytes(), Duration::from_secs(5))
            .await
            .unwrap_or_else(|e| panic!("case {i}: no answer without the body: {e}"));
        assert!(answer.starts_with("HTTP/1.1 401"), "case {i}: {answer}");
        assert!(answer.contains("\"unauthenticated\""), "case {i}: {answer}");
    }
}

/// `mantel scan` as a pre-commit hook runs it: a real process, its stdout and exit code.
fn scan(args: &[&str], stdin: &str) -> (i32, String, String) {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mantel"))
        .arg("scan")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the mantel binary runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// `token` with its character at `i` changed: the checksum no longer matches.
fn near_miss(token: &str, i: usize) -> String {
    let mut bytes = token.as_bytes().to_vec();
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

#[test]
fn scan_finds_real_tokens_and_nothing_else_in_a_tree() {
    let tree = tempfile::tempdir().unwrap();
    let root = tree.path();
    let write = |path: &str, content: &[u8]| {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    };
    let real = well_formed_unknown();
    let in_git = well_formed_unknown();
    let in_binary = well_formed_unknown();
    let in_large = well_formed_unknown();
    write(
        "app/.env",
        format!("# settings\nURL=http://x\nMANTEL_TOKEN={real}\n").as_bytes(),
    );
    write(
        "app/src/lib.rs",
        format!(
            "const A: &str = \"{}\";\nconst B: &str = \"{}\";\nlet split = \"{}\\\n{}\";\n",
            near_miss(&real, 20),
            near_miss(&real, 38),
            &real[..20],
            &real[20..],
        )
        .as_bytes(),
    );
    write(".git/config", format!("token = {in_git}\n").as_bytes());
    let mut binary = vec![0u8, 1, 2, 3];
    binary.extend_from_slice(in_binary.as_bytes());
    write("assets/logo.bin", &binary);
    let mut large = vec![b'x'; 10 * 1024 * 1024];
    large.extend_from_slice(format!("\n{in_large}\n").as_bytes());
    write("dump/big.txt", &large);

    let (code, stdout, stderr) = scan(&[root.to_str().unwrap()], "");
    let expected = format!("{}:3: {}…\n", root.join("app/.env").display(), &real[..11]);
    assert_eq!(stdout, expected, "{stderr}");
    assert_eq!(code, 1);
    for token in [&real, &in_git, &in_binary, &in_large] {
        assert!(!stdout.contains(token.as_str()) && !stderr.contains(token.as_str()));
    }
    assert!(
        stderr.contains("1 binary and 1 over 10 MiB skipped"),
        "{stderr}"
    );

    // A clean tree (the same without .env) passes, as a pre-commit hook needs.
    std::fs::remove_file(root.join("app/.env")).unwrap();
    let (code, stdout, _) = scan(&[root.join("app").to_str().unwrap()], "");
    assert_eq!((code, stdout.as_str()), (0, ""));

    // Stdin, when no path is given; a path that does not exist is an error, not a pass.
    let (code, stdout, _) = scan(&[], &format!("diff --git\n+key: {real}\n"));
    assert_eq!(
        (code, stdout),
        (1, format!("(stdin):2: {}…\n", &real[..11]))
    );
    let (code, _, stderr) = scan(&[root.join("missing").to_str().unwrap()], "");
    assert_eq!(code, 2, "{stderr}");
}

#[actix_web::test]
async fn scan_report_revokes_what_it_finds() {
    let user = TestApp::spawn()
        .await
        .with_user("scanner@example.com")
        .await;
    let token = user
        .with_token("committed by mistake", &["publish"], "1y")
        .await;
    let (code, stdout, stderr) = scan(
        &["--report", &user.address],
        &format!("export MANTEL_TOKEN={}\n", token.plaintext),
    );
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(stdout, format!("(stdin):1: {}…\n", &token.plaintext[..11]));
    assert!(stderr.contains("reported 1 token(s)"), "{stderr}");
    assert_eq!(
        me(&user, &token.plaintext).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        token_json(&user, &token.id).await["revokedReason"],
        "reported_public"
    );
}

/// `--report https://…` speaks TLS (a scan reporting to a Mantel behind https is the usual
/// case): what reaches the server first is a TLS handshake, not a refusal of the scheme or a
/// plain-text request. This listener is no TLS server, so the scan then says it cannot reach
/// it, and exits 2.
#[test]
fn scan_report_speaks_tls_to_an_https_url() {
    use std::io::Read;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let first_bytes = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut head = [0u8; 3];
        conn.read_exact(&mut head).unwrap();
        head
    });
    let (code, _, stderr) = scan(
        &["--report", &format!("https://127.0.0.1:{port}")],
        &format!("MANTEL_TOKEN={}\n", well_formed_unknown()),
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("cannot reach https://127.0.0.1:"),
        "{stderr}"
    );
    // A TLS record of type handshake (22), protocol version 3.x.
    assert_eq!(first_bytes.join().unwrap()[..2], [0x16, 0x03], "{stderr}");
}
