//! `mantel serve` as an operator runs it: the real binary, its log on stderr (JSON lines with
//! `MANTEL_LOG_FORMAT=json`, text without colour when stderr is not a terminal), the URL it
//! listens on, and Ctrl-C or SIGTERM letting a request in flight finish before it exits 0.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::TestDb;

/// A `mantel serve` process on a database of its own, with its stderr read line by line.
struct Served {
    child: Child,
    lines: mpsc::Receiver<String>,
    log: Vec<String>,
    _db: TestDb,
}

impl Served {
    fn start(log_format: Option<&str>) -> Served {
        Served::start_with(log_format, &[])
    }

    /// With more `serve` flags than the port-0 bind and the database.
    fn start_with(log_format: Option<&str>, flags: &[&str]) -> Served {
        let db = TestDb::new();
        let mut command = Command::new(env!("CARGO_BIN_EXE_mantel"));
        command
            .args([
                "serve",
                "--bind",
                "127.0.0.1:0",
                "--database-url",
                &db.url(),
            ])
            .args(flags)
            .env_remove("MANTEL_PUBLIC_URL")
            .env_remove("MANTEL_METRICS_BIND")
            .env("RUST_LOG", "info")
            // Without colour only because stderr is a pipe, not because we asked.
            .env_remove("NO_COLOR")
            .env_remove("MANTEL_LOG_FORMAT")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(format) = log_format {
            command.env("MANTEL_LOG_FORMAT", format);
        }
        let mut child = command.spawn().expect("mantel starts");
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Served {
            child,
            lines,
            log: Vec::new(),
            _db: db,
        }
    }

    /// The next log line that `matches`, keeping every line read on the way.
    fn wait_for(&mut self, what: &str, matches: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.log.push(line.clone());
                    if matches(&line) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no log line {what}; the log so far:\n{}",
                    self.log.join("\n")
                ),
            }
        }
    }

    /// The `http://…` URL the line saying `what` (`listening on `) names.
    fn url_after(&mut self, what: &str) -> String {
        let line = self.wait_for(&format!("saying {what:?}"), |l| l.contains(what));
        line.split(what)
            .nth(1)
            .unwrap()
            .split(['"', ' '])
            .next()
            .unwrap()
            .to_owned()
    }

    fn signal(&self, name: &str) {
        // The shell's own `kill` (no libc binding here, no procps package needed); POSIX
        // names the signal without its SIG.
        let short = name.trim_start_matches("SIG");
        let status = Command::new("sh")
            .args(["-c", &format!("kill -{short} {}", self.child.id())])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{name}");
    }

    /// Waits for the process to exit; its exit status, stdout, and every stderr line.
    fn finish(mut self) -> (std::process::ExitStatus, String, Vec<String>) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("mantel did not exit; its log:\n{}", self.log.join("\n"));
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        // The reader thread ends with the pipe; take what it still has.
        self.log.extend(self.lines.iter());
        let mut stdout = String::new();
        std::io::Read::read_to_string(&mut self.child.stdout.take().unwrap(), &mut stdout).unwrap();
        (status, stdout, std::mem::take(&mut self.log))
    }
}

/// A test that ends without `finish` (or panics) leaves no server behind: an orphan would keep
/// its database connections (PostgreSQL's are limited) for as long as the machine runs.
impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends a login form whose body arrives in two parts, 2 seconds apart; the handler answers
/// only once the whole body is in, so the request is in flight for those 2 seconds.
fn slow_request(
    client: &reqwest::Client,
    url: &str,
) -> impl std::future::Future<Output = reqwest::Result<reqwest::Response>> {
    let body = futures_util::stream::unfold(0, |part| async move {
        match part {
            0 => Some((Ok::<_, std::io::Error>("email=slow%40example.com&pass"), 1)),
            1 => {
                actix_web::rt::time::sleep(Duration::from_secs(2)).await;
                Some((Ok("word=a+long+password"), 2))
            }
            _ => None,
        }
    });
    client
        .post(format!("{url}/login"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(reqwest::Body::wrap_stream(body))
        .send()
}

/// Starts the server, checks that its URL answers, signals it while a request is in flight,
/// and returns what it logged (after checking it exited 0 with that request answered).
async fn serve_then_stop(log_format: Option<&str>, signal: &str) -> Vec<String> {
    let mut served = Served::start(log_format);
    let url = served.url_after("listening on ");
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert!(
        !url.ends_with(":0"),
        "the real port, not the asked-for 0: {url}"
    );

    {
        // The client (and its kept-alive connections) is dropped before the server is
        // expected to exit.
        let client = reqwest::Client::new();
        let health = client.get(format!("{url}/healthz")).send().await.unwrap();
        assert_eq!(health.status(), StatusCode::OK);

        let in_flight = actix_web::rt::spawn(slow_request(&client, &url));
        actix_web::rt::time::sleep(Duration::from_millis(500)).await;
        served.signal(signal);
        let answered = in_flight
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("the request in flight was cut by {signal}: {e}"));
        // The form has no CSRF token: refused, but answered in full.
        assert_eq!(answered.status(), StatusCode::FORBIDDEN);
        answered.text().await.unwrap();
    }

    let (status, stdout, log) = served.finish();
    let all = log.join("\n");
    assert!(
        status.success(),
        "{signal} should end in exit 0, got {status}:\n{all}"
    );
    assert_eq!(
        stdout, "",
        "logs go to stderr, stdout stays for command output"
    );
    assert!(
        !all.contains('\u{1b}'),
        "no ANSI escape codes on a pipe:\n{all}"
    );
    let stopping = log
        .iter()
        .position(|l| l.contains(&format!("{signal} received: stopping gracefully")))
        .unwrap_or_else(|| panic!("no graceful-shutdown line for {signal}:\n{all}"));
    assert!(
        log[stopping..].last().unwrap().contains("stopped"),
        "the last line says it stopped, after the requests drained:\n{all}"
    );
    log
}

#[actix_web::test]
async fn json_log_lines_and_ctrl_c_lets_the_request_in_flight_finish() {
    let log = serve_then_stop(Some("json"), "SIGINT").await;
    for line in &log {
        let event: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON object ({e}): {line}"));
        assert!(event["fields"]["message"].is_string(), "{line}");
        assert!(event["level"].is_string(), "{line}");
    }
    assert!(
        log.iter()
            .any(|l| l.contains(r#""path":"/login""#) && l.contains(r#""status":403"#)),
        "the drained request is logged:\n{}",
        log.join("\n")
    );
}

#[actix_web::test]
async fn text_log_without_colour_on_a_pipe_and_sigterm_lets_the_request_in_flight_finish() {
    let log = serve_then_stop(None, "SIGTERM").await;
    assert!(
        log.iter()
            .all(|l| serde_json::from_str::<Value>(l).is_err()),
        "text by default"
    );
}

#[test]
fn an_unknown_log_format_is_refused_with_its_name() {
    let db = TestDb::new();
    let out = Command::new(env!("CARGO_BIN_EXE_mantel"))
        .args(["migrate", "--database-url", &db.url()])
        .env("MANTEL_LOG_FORMAT", "xml")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("MANTEL_LOG_FORMAT must be `text` or `json`"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Signs up through the form at `url` with `origin` as the browser's `Origin`: the answer.
async fn sign_up_from(url: &str, origin: &str) -> reqwest::Response {
    let browser = crate::helpers::client();
    let page = browser.get(format!("{url}/signup")).send().await.unwrap();
    let csrf = crate::helpers::csrf_in(&page.text().await.unwrap());
    browser
        .post(format!("{url}/signup"))
        .header("Origin", origin)
        .form(&[
            ("email", "port0@example.com"),
            ("password", crate::helpers::PASSWORD),
            ("csrf_token", &csrf),
        ])
        .send()
        .await
        .unwrap()
}

/// SPEC §2: without `--public-url` the public URL is the address actually bound, so a
/// browser on `--bind 127.0.0.1:0` passes the CSRF origin check (it used to be refused as
/// coming from anywhere but `http://127.0.0.1:8080`).
#[actix_web::test]
async fn on_port_0_without_a_public_url_a_browser_on_the_real_address_signs_up() {
    let mut served = Served::start(None);
    let url = served.url_after("listening on ");
    let res = sign_up_from(&url, &url).await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "{}",
        res.text().await.unwrap()
    );
    assert_eq!(res.headers()["location"], "/settings/tokens");
}

/// With `--public-url` set, a page elsewhere is refused, and the answer names the origin
/// expected: reloading cannot fix it, opening Mantel at the right address does.
#[actix_web::test]
async fn a_foreign_origin_is_told_which_origin_the_public_url_expects() {
    let mut served = Served::start_with(None, &["--public-url", "https://mantel.example/"]);
    let url = served.url_after("listening on ");
    let res = sign_up_from(&url, &url).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let page = res.text().await.unwrap();
    assert!(page.contains("https://mantel.example"), "{page}");

    let api = reqwest::Client::new()
        .post(format!("{url}/api/tokens"))
        .header("Origin", "http://evil.example")
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::FORBIDDEN);
    let body: Value = api.json().await.unwrap();
    assert_eq!(body["error"]["code"], "csrf_failed");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("https://mantel.example"), "{message}");
    assert!(!message.contains("evil"), "{message}");
}

/// `--metrics-bind` says where it serves, like the main listener, with the port it got.
#[actix_web::test]
async fn metrics_bind_logs_where_metrics_are_served() {
    let mut served = Served::start_with(None, &["--metrics-bind", "127.0.0.1:0"]);
    let metrics = served.url_after("metrics on ");
    assert!(metrics.starts_with("http://127.0.0.1:"), "{metrics}");
    assert!(metrics.ends_with("/metrics"), "{metrics}");
    assert!(!metrics.contains(":0/"), "the real port: {metrics}");
    let res = reqwest::get(&metrics).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

/// Every JSON answer ends with a newline, so `curl` output does not run into the prompt: a
/// handler's, an extractor's refusal, a middleware's refusal, and the OpenAPI document.
#[actix_web::test]
async fn every_json_answer_ends_with_a_newline() {
    let app = crate::helpers::TestApp::spawn().await;
    let user = app.with_user("newline@example.com").await;
    let token = user.with_token("ci", &["publish"], "1y").await;
    let answers = [
        (
            "a handler",
            user.bearer_get("/api/me", &token.plaintext).await,
        ),
        ("a refused credential", app.get("/api/me").await),
        (
            "a refused origin",
            reqwest::Client::new()
                .post(app.url("/api/tokens"))
                .header("Origin", "http://elsewhere.example")
                .send()
                .await
                .unwrap(),
        ),
        ("the OpenAPI document", app.get("/api/openapi.json").await),
    ];
    for (what, res) in answers {
        assert!(
            res.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json"),
            "{what}"
        );
        let body = res.text().await.unwrap();
        assert!(body.ends_with("}\n"), "{what}: {body:?}");
        serde_json::from_str::<Value>(&body).unwrap();
    }
}
