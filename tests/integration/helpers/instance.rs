//! Real `mantel serve` processes (the binary, not the library in-process), for tests of many
//! instances on one database: as many as a test wants, after one `mantel migrate`, as a
//! deployment would run them.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

/// The URL people use, as the load balancer in front of every instance would have it: CSRF
/// checks compare `Origin` with it, whichever instance answers.
pub const PUBLIC_URL: &str = "http://mantel.test";

/// Deployment order: migrations once, then any number of instances.
pub fn migrate(database_url: &str) {
    let migrate = Command::new(env!("CARGO_BIN_EXE_mantel"))
        .args(["migrate", "--database-url", database_url])
        .output()
        .unwrap();
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );
}

/// Signs `email` up through `at`'s form in `browser` (a cookie jar, which sends the session to
/// every instance as a load balancer would), and answers the dashboard's CSRF token as
/// `csrf_from`'s tokens page gives it.
pub async fn sign_up(
    browser: &reqwest::Client,
    at: &Instance,
    csrf_from: &Instance,
    email: &str,
) -> String {
    let signup = browser.get(at.url("/signup")).send().await.unwrap();
    let res = browser
        .post(at.url("/signup"))
        .form(&[
            ("email", email),
            ("password", super::PASSWORD),
            ("csrf_token", &super::csrf_in(&signup.text().await.unwrap())),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::SEE_OTHER, "sign-up");
    let page = browser
        .get(csrf_from.url("/settings/tokens"))
        .send()
        .await
        .unwrap();
    super::csrf_in(&page.text().await.unwrap())
}

/// A `mantel serve` process; killed when dropped.
pub struct Instance {
    child: Child,
    address: String,
    /// Every line the process logged so far.
    log: Arc<Mutex<Vec<String>>>,
}

impl Instance {
    pub fn start(database_url: &str) -> Instance {
        Instance::start_with(database_url, &[])
    }

    /// An instance with more `serve` flags than the database and the public URL.
    pub fn start_with(database_url: &str, flags: &[&str]) -> Instance {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mantel"))
            .args(["serve", "--bind", "127.0.0.1:0", "--public-url", PUBLIC_URL])
            .args(["--database-url", database_url])
            .args(flags)
            // No MANTEL_SECRET_KEY: the cookie key kept in the database is what they share.
            .env_remove("MANTEL_SECRET_KEY")
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("mantel starts");
        // Read the log until the server says where it listens, then keep draining it (and
        // keeping it) so the process never blocks on a full pipe.
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let log = Arc::new(Mutex::new(Vec::new()));
        let (address_tx, address_rx) = mpsc::channel();
        let kept = log.clone();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                if let Some(address) = line.split("listening on ").nth(1) {
                    let _ = address_tx.send(address.trim().to_owned());
                }
                kept.lock().unwrap().push(line);
            }
        });
        let address = address_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("mantel serve logs its address");
        Instance {
            child,
            address,
            log,
        }
    }

    /// The lines the process has logged so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// The local ports of this process's TCP connections to `remote_port` (Linux: read from
    /// `/proc`), so a test can find them on the other end, e.g. in `pg_stat_activity`.
    pub fn ports_to(&self, remote_port: u16) -> Vec<u16> {
        let fds = format!("/proc/{}/fd", self.child.id());
        let sockets: Vec<String> = std::fs::read_dir(fds)
            .unwrap()
            .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
            .filter_map(|target| {
                let target = target.to_string_lossy().into_owned();
                Some(
                    target
                        .strip_prefix("socket:[")?
                        .strip_suffix(']')?
                        .to_owned(),
                )
            })
            .collect();
        let port = |address: &str| u16::from_str_radix(address.rsplit(':').next()?, 16).ok();
        ["/proc/net/tcp", "/proc/net/tcp6"]
            .iter()
            .filter_map(|table| std::fs::read_to_string(table).ok())
            .flat_map(|table| table.lines().skip(1).map(str::to_owned).collect::<Vec<_>>())
            .filter_map(|line| {
                // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
                let fields: Vec<&str> = line.split_whitespace().collect();
                let (local, remote, inode) = (fields.get(1)?, fields.get(2)?, fields.get(9)?);
                (port(remote)? == remote_port && sockets.iter().any(|s| s == inode))
                    .then(|| port(local))
                    .flatten()
            })
            .collect()
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
