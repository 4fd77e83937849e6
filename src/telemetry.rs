//! Logging. Request lines carry the method, the path without its query string, the status and
//! the time taken — never headers, cookies or bodies, where tokens and passwords travel —
//! and a token pasted into a path is cut to its display prefix.

use std::io::IsTerminal;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use tracing_subscriber::EnvFilter;

/// Logs to stderr, so that a command's own output on stdout stays clean; `RUST_LOG` overrides
/// the default `info`. `MANTEL_LOG_FORMAT=json` writes one JSON object per line for a log
/// collector; text (the default) is coloured only on a terminal, and never with `NO_COLOR` set.
pub fn init() -> anyhow::Result<()> {
    let json = match std::env::var("MANTEL_LOG_FORMAT") {
        Err(std::env::VarError::NotPresent) => false,
        Ok(format) if format.is_empty() || format == "text" => false,
        Ok(format) if format == "json" => true,
        _ => anyhow::bail!("MANTEL_LOG_FORMAT must be `text` or `json`"),
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let colour = !json
        && std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour);
    // Fails only if a subscriber is already set (a test's), which then keeps the logs.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    Ok(())
}

pub async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = crate::domain::token::mask_in(req.path()).into_owned();
    let res = next.call(req).await?;
    tracing::info!(
        %method,
        %path,
        status = res.status().as_u16(),
        micros = started.elapsed().as_micros() as u64,
        "request"
    );
    Ok(res)
}
