//! Rows and the queries on them, one file per table.

pub mod sessions;
pub mod settings;
pub mod tokens;
pub mod users;
