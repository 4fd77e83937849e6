//! Rows and the queries on them, one file per subject. Queries answer `QueryResult`; writes
//! that enforce a rule of the data answer `WriteError`, naming the field to fix.

pub mod activity;
pub mod files;
pub mod invoices;
pub mod leaks;
pub mod notifications;
pub mod projects;
pub mod reveals;
pub mod security_log;
pub mod sessions;
pub mod settings;
pub mod throttles;
pub mod token_activity;
pub mod token_quotas;
pub mod tokens;
pub mod users;

use std::collections::BTreeMap;

use super::DbError;
pub use crate::domain::FieldErrors;

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("invalid {0:?}")]
    Invalid(FieldErrors),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl WriteError {
    pub fn field(field: &'static str, message: impl Into<String>) -> Self {
        WriteError::Invalid(BTreeMap::from([(field, message.into())]))
    }
}

impl From<diesel::result::Error> for WriteError {
    fn from(e: diesel::result::Error) -> Self {
        WriteError::Db(DbError::Query(e))
    }
}
