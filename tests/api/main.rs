//! One integration test binary: the real server over real HTTP, on a fresh SQLite file per
//! test, or on PostgreSQL (a schema per test) when `MANTEL_TEST_POSTGRES_URL` is set.

mod helpers;

mod accounts;
mod hardening;
mod instances;
mod limits;
mod migrations;
mod projects;
mod tokens;
