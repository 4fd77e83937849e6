//! A headless Chromium driven over WebDriver: starts its own chromedriver on a free port, with
//! a fresh profile, and never downloads a browser. Missing chromedriver: the test is skipped
//! with a message, except when `CI=true`, where a skipped browser test would hide a failure.
//!
//! Starting Chromium and ending it again cost about two seconds a test, more than most browser
//! tests take, so a browser that a test closes goes back to a pool, its cookies deleted, for
//! the next test to take up (each test talks to it through a client of its own, on its own
//! runtime). Whatever is pooled when the binary exits is ended then (`atexit`).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use fantoccini::error::NewSessionError;
use fantoccini::{key::Key, Client, ClientBuilder, Locator};
use serde_json::{json, Value};

pub const DESKTOP: (u32, u32) = (1280, 800);
pub const PHONE: (u32, u32) = (390, 844);
/// How long to wait for an element or a condition: generous, for a busy two-core CI machine.
const WAIT: Duration = Duration::from_secs(15);

pub struct Browser {
    pub client: Client,
    base: String,
    session: Session,
}

/// A chromedriver and the Chromium session it runs; ended when dropped.
struct Session {
    javascript: bool,
    driver_port: u16,
    id: String,
    driver: Child,
    _profile: tempfile::TempDir,
}

/// Sessions whose test has closed them, ready for the next test.
static POOL: Mutex<Vec<Session>> = Mutex::new(Vec::new());

extern "C" {
    fn atexit(callback: extern "C" fn()) -> std::os::raw::c_int;
}

/// Ends every pooled session when the test binary exits, so no Chromium outlives it.
extern "C" fn end_pooled_sessions() {
    let sessions = std::mem::take(&mut *POOL.lock().unwrap_or_else(|e| e.into_inner()));
    drop(sessions);
}

/// `$VAR`, else the Debian path, else the first match on `PATH`; only a file that exists.
fn find_program(var: &str, debian: &str, name: &str) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(var) {
        return Some(PathBuf::from(path)).filter(|p| p.exists());
    }
    if Path::new(debian).exists() {
        return Some(debian.into());
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|p| p.exists())
}

/// Says once, past the test harness's capture (which would hide it in a passing test), why
/// the browser tests did nothing.
fn say_skipped() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = writeln!(
            std::io::stderr(),
            "\nSKIPPED the browser tests: no chromedriver (looked at $CHROMEDRIVER, \
             /usr/bin/chromedriver and PATH). Install it with `apt-get install chromium chromium-driver`.\n"
        );
    });
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Browser {
    /// A browser on the app at `base`, or `None` (after saying why) when this machine has no
    /// chromedriver and we are not in CI.
    pub async fn open(base: &str) -> Option<Browser> {
        Self::launch(base, true).await
    }

    /// The same browser with JavaScript switched off, to prove every flow works without it.
    pub async fn open_without_js(base: &str) -> Option<Browser> {
        Self::launch(base, false).await
    }

    async fn launch(base: &str, javascript: bool) -> Option<Browser> {
        let pooled = {
            let mut pool = POOL.lock().unwrap();
            let found = pool.iter().position(|s| s.javascript == javascript);
            found.map(|i| pool.swap_remove(i))
        };
        let session = match pooled {
            Some(session) => session,
            None => Self::start(javascript).await?,
        };
        let client = Client::with_existing_session(
            &format!("http://127.0.0.1:{}", session.driver_port),
            &session.id,
            hyper_util::client::legacy::connect::HttpConnector::new(),
        )
        .await
        .expect("a client on the pooled WebDriver session");
        // Session's Drop ends the session; the client must not end it on its own.
        client.persist().await.unwrap();
        Some(Browser {
            client,
            base: base.to_owned(),
            session,
        })
    }

    /// A new chromedriver and Chromium session.
    #[allow(unsafe_code)]
    async fn start(javascript: bool) -> Option<Session> {
        static AT_EXIT: Once = Once::new();
        AT_EXIT.call_once(|| {
            // SAFETY: registers a plain function with the C library, once.
            assert_eq!(unsafe { atexit(end_pooled_sessions) }, 0);
        });
        let Some(chromedriver) =
            find_program("CHROMEDRIVER", "/usr/bin/chromedriver", "chromedriver")
        else {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("CI=true but no chromedriver: install chromium and chromium-driver (see .ci/run)");
            }
            say_skipped();
            return None;
        };
        let chromium = find_program("CHROME", "/usr/bin/chromium", "chromium")
            .expect("chromium next to chromedriver");

        let port = free_port();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromedriver.display()));
        let profile = tempfile::tempdir().unwrap();

        // The flags this machine needs: no sandbox as root, and no background calls to
        // Google's hosts, which the closed network refuses.
        let mut args: Vec<String> = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
        ]
        .map(String::from)
        .into();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        args.push(format!("--window-size={},{}", DESKTOP.0, DESKTOP.1));
        let mut options = json!({ "binary": chromium, "args": args });
        if !javascript {
            options["prefs"] = json!({ "profile.managed_default_content_settings.javascript": 2 });
        }
        let mut caps = serde_json::Map::new();
        caps.insert("goog:chromeOptions".into(), options);

        let mut builder =
            ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
        builder.capabilities(caps);
        let started = Instant::now();
        let client = loop {
            match builder.connect(&format!("http://127.0.0.1:{port}")).await {
                Ok(client) => break client,
                // chromedriver needs a moment before it listens.
                Err(NewSessionError::FailedC(_)) if started.elapsed() < WAIT => {
                    actix_web::rt::time::sleep(Duration::from_millis(100)).await
                }
                Err(e) => panic!("no WebDriver session from {}: {e}", chromedriver.display()),
            }
        };
        let id = client.session_id().await.unwrap().unwrap();
        client.persist().await.unwrap();
        Some(Session {
            javascript,
            driver_port: port,
            id,
            driver,
            _profile: profile,
        })
    }

    pub async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap();
    }

    pub async fn path(&self) -> String {
        self.client.current_url().await.unwrap().path().to_owned()
    }

    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        let found = self
            .client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await;
        match found {
            Ok(element) => element,
            Err(e) => panic!("no {css} on {}: {e}", self.path().await),
        }
    }

    pub async fn exists(&self, css: &str) -> bool {
        !self
            .client
            .find_all(Locator::Css(css))
            .await
            .unwrap()
            .is_empty()
    }

    pub async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    /// Types into whatever has focus, as a keyboard would.
    pub async fn press_str(&self, keys: &str) {
        self.client
            .active_element()
            .await
            .unwrap()
            .send_keys(keys)
            .await
            .unwrap();
    }

    pub async fn press(&self, key: Key) {
        self.press_str(&char::from(key).to_string()).await;
    }

    /// The focused element: its id, or else its text.
    pub async fn focused(&self) -> String {
        let found = self
            .js("const e = document.activeElement; return e.id || e.textContent.trim()")
            .await;
        found.as_str().unwrap_or_default().to_owned()
    }

    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap()
    }

    pub async fn value(&self, css: &str) -> String {
        self.find(css)
            .await
            .prop("value")
            .await
            .unwrap()
            .unwrap_or_default()
    }

    pub async fn visible(&self, css: &str) -> bool {
        self.find(css).await.is_displayed().await.unwrap()
    }

    /// Waits until `css` is shown: JS fills and unhides parts of the page after a fetch.
    pub async fn wait_visible(&self, css: &str) {
        let started = Instant::now();
        while !self.visible(css).await {
            assert!(
                started.elapsed() < WAIT,
                "timed out waiting for {css} to show"
            );
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Whether every character of the field `css` is in view: nothing scrolled out of its box
    /// and the box inside the window.
    pub async fn shows_whole_value(&self, css: &str) -> bool {
        let script = format!(
            "const f = document.querySelector({}); const r = f.getBoundingClientRect(); \
             return f.scrollWidth <= f.clientWidth && f.scrollHeight <= f.clientHeight + 1 \
               && r.left >= 0 && r.right <= document.documentElement.clientWidth",
            json!(css)
        );
        self.js(&script).await == Value::Bool(true)
    }

    pub async fn source(&self) -> String {
        self.client.source().await.unwrap()
    }

    pub async fn js(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.unwrap()
    }

    /// Waits until `script` returns true (pages change after clicks and loads).
    pub async fn wait_until(&self, what: &str, script: &str) {
        let started = Instant::now();
        while self.js(script).await != Value::Bool(true) {
            assert!(started.elapsed() < WAIT, "timed out waiting for {what}");
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until a click's navigation has landed on `path`: a click returns before the
    /// next page is there.
    pub async fn arrive(&self, path: &str) {
        let script = format!("return location.pathname === {}", json!(path));
        self.wait_until(&format!("the page {path}"), &script).await;
    }

    /// Lets the page read the clipboard, which Chromium otherwise asks the person about.
    pub async fn grant_clipboard_read(&self) {
        let res = reqwest::Client::new()
            .post(format!(
                "http://127.0.0.1:{}/session/{}/permissions",
                self.session.driver_port, self.session.id
            ))
            .json(&json!({ "descriptor": { "name": "clipboard-read" }, "state": "granted" }))
            .send()
            .await
            .unwrap();
        assert!(
            res.status().is_success(),
            "set permission: {}",
            res.text().await.unwrap()
        );
    }

    /// Gives the browser a virtual passkey authenticator (chromedriver's WebAuthn extension
    /// commands): a platform one that keeps discoverable credentials and verifies its user
    /// at once. Its id, for `remove_authenticator`.
    pub async fn add_authenticator(&self) -> String {
        let res = reqwest::Client::new()
            .post(self.driver_url("webauthn/authenticator"))
            .json(&json!({
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": true,
                "hasUserVerification": true,
                "isUserVerified": true,
            }))
            .send()
            .await
            .unwrap();
        let body: Value = res.json().await.unwrap();
        body["value"]
            .as_str()
            .unwrap_or_else(|| panic!("no virtual authenticator: {body}"))
            .to_owned()
    }

    /// Takes the virtual authenticator away again (before the session goes back to the pool).
    pub async fn remove_authenticator(&self, id: &str) {
        let res = reqwest::Client::new()
            .delete(self.driver_url(&format!("webauthn/authenticator/{id}")))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{}", res.text().await.unwrap());
    }

    fn driver_url(&self, command: &str) -> String {
        format!(
            "http://127.0.0.1:{}/session/{}/{command}",
            self.session.driver_port, self.session.id
        )
    }

    pub async fn resize(&self, (width, height): (u32, u32)) {
        self.client.set_window_size(width, height).await.unwrap();
    }

    /// Saves the whole page (or the window, while a dialog is open) as
    /// target/screenshots/NAME.png, for people to look at.
    pub async fn screenshot(&self, name: &str) {
        let (width, height) = self.client.get_window_size().await.unwrap();
        // How much taller the window must be for the viewport to hold the page (none while a
        // modal dialog is open: it is centred in the viewport).
        let grow = self
            .js("return document.querySelector('dialog[open]') ? 0 : \
                 document.documentElement.scrollHeight - window.innerHeight")
            .await
            .as_u64()
            .unwrap_or(0);
        let tall = grow > 0;
        if tall {
            self.client
                .set_window_size(width as u32, (height + grow).min(4000) as u32)
                .await
                .unwrap();
        }
        let png = self.client.screenshot().await.unwrap();
        if tall {
            self.client
                .set_window_size(width as u32, height as u32)
                .await
                .unwrap();
        }
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// Done with the browser: its cookies deleted, a blank page at a desktop's size, it goes
    /// back to the pool. (A test that fails before this drops it instead, which ends it.)
    pub async fn close(self) {
        self.client.delete_all_cookies().await.unwrap();
        self.client.goto("about:blank").await.unwrap();
        self.resize(DESKTOP).await;
        POOL.lock().unwrap().push(self.session);
    }
}

impl Drop for Session {
    /// Also when a test fails before `close`. Killing chromedriver alone would leave its
    /// Chromium running, so first the session is ended, with a blocking request: no async here.
    fn drop(&mut self) {
        let request = format!(
            "DELETE /session/{} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.id
        );
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.driver_port)) {
            let _ = stream.set_read_timeout(Some(WAIT));
            let _ = stream.write_all(request.as_bytes());
            // chromedriver answers once Chromium is gone (and keeps the connection open).
            let _ = stream.read(&mut [0; 256]);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
