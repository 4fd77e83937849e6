//! Mantel: personal API tokens for a JSON API, with a server-rendered dashboard to manage them.

pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod metrics;
pub mod notify;
pub mod ops;
pub mod routes;
pub mod scan;
pub mod startup;
pub mod state;
pub mod telemetry;
