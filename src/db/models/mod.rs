//! Rows and the queries on them, one file per subject.

pub mod activity;
pub mod files;
pub mod invoices;
pub mod projects;
pub mod sessions;
pub mod settings;
pub mod tokens;
pub mod users;
