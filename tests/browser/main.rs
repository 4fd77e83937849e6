//! Browser tests: the real server on a fresh database, and Debian's headless Chromium driven
//! through chromedriver the way a person would use the API tokens screen. Each state is saved
//! as target/screenshots/NAME.png. Without chromedriver they skip, unless `CI=true`.

#[path = "../api/helpers.rs"]
#[allow(dead_code)] // shared with the API tests, which use the rest
mod helpers;

mod axe;
mod driver;
mod projects;
mod screens;
mod tokens;
