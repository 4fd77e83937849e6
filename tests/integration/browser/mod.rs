//! Browser tests: the real server on a fresh database, and Debian's headless Chromium driven
//! through chromedriver the way a person would use the screens. Each state is saved as
//! target/screenshots/NAME.png. Without chromedriver they skip, unless `CI=true`.

mod admin;
mod create_dialog;
mod narrower;
mod passkeys;
mod projects;
mod regenerate;
mod screens;
mod second_factor;
mod steps;
mod token_list;
mod token_page;
mod without_js;
