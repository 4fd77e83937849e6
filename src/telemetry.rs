//! Logging. Request lines carry the method, the path without its query string, the status and
//! the time taken — never headers, cookies or bodies, where tokens and passwords travel —
//! and a token pasted into a path is cut to its display prefix.

use std::io::IsTerminal;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Filter, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
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
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(colour);
    let fmt = if json {
        fmt.json().boxed()
    } else {
        fmt.boxed()
    };
    // Fails only if a subscriber is already set (a test's), which then keeps the logs.
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(fmt.with_filter(ClientStreamErrors))
        .with(ClientStreamErrors)
        .try_init();
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

/// actix-http logs a request it cannot parse (a malformed header, a bad chunk) and a
/// connection the client broke as an ERROR "stream error" of its dispatcher, after answering
/// 400 itself. That is the client's doing, not a fault here: such an event is written as a
/// WARN of `mantel::telemetry` instead (the filter keeps the original out of the log, the layer
/// writes the warning), so an ERROR line still means something here went wrong.
struct ClientStreamErrors;

/// The message of actix-http's "stream error" event, if `event` is one.
fn stream_error(event: &Event<'_>) -> Option<String> {
    let meta = event.metadata();
    if *meta.level() != Level::ERROR || meta.target() != "actix_http::h1::dispatcher" {
        return None;
    }
    let mut message = None;
    event.record(
        &mut |field: &tracing::field::Field, value: &dyn std::fmt::Debug| {
            if field.name() == "message" {
                message = Some(format!("{value:?}"));
            }
        },
    );
    message.filter(|m| m.starts_with("stream error"))
}

impl<S: Subscriber> Filter<S> for ClientStreamErrors {
    fn enabled(&self, _: &Metadata<'_>, _: &Context<'_, S>) -> bool {
        true
    }

    fn event_enabled(&self, event: &Event<'_>, _: &Context<'_, S>) -> bool {
        stream_error(event).is_none()
    }
}

impl<S: Subscriber> Layer<S> for ClientStreamErrors {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        if let Some(error) = stream_error(event) {
            tracing::warn!(%error, "malformed request or broken connection");
        }
    }
}
