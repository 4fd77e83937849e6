//! A real SMTP server process (aiosmtpd, `smtp_sink.py`) that the tests start, stop and
//! restart on one port, and the mails it received, decoded.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub struct SmtpServer {
    port: u16,
    out: PathBuf,
    /// Recipients answered with a permanent 550 at `RCPT TO`.
    refused: Vec<String>,
    child: Option<Child>,
    _dir: tempfile::TempDir,
}

impl SmtpServer {
    pub fn start() -> SmtpServer {
        SmtpServer::start_refusing(&[])
    }

    /// A server that refuses mail to `refused` for good (550, "no such user").
    pub fn start_refusing(refused: &[&str]) -> SmtpServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let mut server = SmtpServer {
            port,
            out: dir.path().join("mails.jsonl"),
            refused: refused.iter().map(|r| r.to_string()).collect(),
            child: None,
            _dir: dir,
        };
        server.restart();
        server
    }

    /// `smtp://127.0.0.1:PORT`, for `MANTEL_SMTP_URL`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Kills the server: connections to its port are refused until `restart`.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().ok();
            child.wait().ok();
        }
    }

    /// Starts the server (again) on the same port and waits until it accepts connections.
    pub fn restart(&mut self) {
        self.stop();
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/integration/helpers/smtp_sink.py"
        );
        // Debian's interpreter: python3-aiosmtpd is installed for it, not for a pyenv one.
        let mut child = Command::new("/usr/bin/python3")
            .args([script, &self.port.to_string(), self.out.to_str().unwrap()])
            .args(&self.refused)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs the SMTP sink (needs python3-aiosmtpd)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "the SMTP sink did not start");
        self.child = Some(child);
    }

    /// Every mail received so far, in order.
    pub fn mails(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    /// The mails once at least `n` have arrived (panics after `within`).
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Value> {
        let deadline = Instant::now() + within;
        loop {
            let mails = self.mails();
            if mails.len() >= n {
                return mails;
            }
            assert!(
                Instant::now() < deadline,
                "{} mails arrived, expected {n}: {mails:#?}",
                mails.len()
            );
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
    }
}
