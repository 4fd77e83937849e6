//! What every test needs: the server and its people (`app`), the database behind it (`db`),
//! the captured logs (`logs`), real `mantel serve` processes for tests of many instances
//! (`instance`), and for the browser tests a Chromium (`browser`) and axe-core (`axe`).

pub mod app;
pub mod axe;
pub mod browser;
pub mod db;
pub mod instance;
pub mod logs;
pub mod smtp;

pub use app::{client, csrf_in, error_code, is_token, TestApp, Token, User, PASSWORD};
pub use db::TestDb;
pub use instance::{migrate, sign_up, Instance, PUBLIC_URL};
pub use logs::logs;

/// Says that the running test did not run, and why: past the test harness's capture (which
/// hides what a passing test prints), on a line of its own that `.ci/run` counts into its
/// closing `N skipped`. The test then returns, and the harness still calls it `ok`.
pub fn skipped(reason: &str) {
    use std::io::Write;
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("a test");
    // One write, so parallel tests' lines do not interleave with it.
    let line = format!("\nSKIPPED {test}: {reason}\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
}
