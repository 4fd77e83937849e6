//! The one integration test binary: the real server over real HTTP, on a fresh SQLite file per
//! test, or on PostgreSQL (a schema per test) when `MANTEL_TEST_POSTGRES_URL` is set. `api`
//! speaks to it as scripts and forms do; `browser` drives Debian's headless Chromium through
//! chromedriver (skipped without it, unless `CI=true`).

mod helpers;

mod api;
mod browser;
mod layers;
