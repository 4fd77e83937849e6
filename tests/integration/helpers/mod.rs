//! What every test needs: the server and its people (`app`), the database behind it (`db`),
//! the captured logs (`logs`), real `mantel serve` processes for tests of many instances
//! (`instance`), and for the browser tests a Chromium (`browser`) and axe-core (`axe`).

pub mod app;
pub mod axe;
pub mod browser;
pub mod db;
pub mod instance;
pub mod logs;
pub mod raw;
pub mod smtp;

pub use app::{client, csrf_in, error_code, is_token, TestApp, Token, User, PASSWORD};
pub use db::TestDb;
pub use instance::{migrate, sign_up, Instance, PUBLIC_URL};
pub use logs::logs;
