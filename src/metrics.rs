//! Prometheus metrics, served as `GET /metrics` on `--metrics-bind` only (never on the main
//! address): requests by route template and status, their latency, how authentication
//! turned out, the pool's use and waits, the last-use backlog, and the mails given up on.
//!
//! Labels are route templates (`/api/projects/{id}/messages`, from the route table: `auth::Route`),
//! methods, statuses and outcome names: never a raw path, token, address, user id or email.
//! On the request path, counting is a read lock on a family's map (shared, not exclusive)
//! and atomic adds; the latency histogram is atomics too (prometheus-client's own takes a
//! mutex per observation). Everything else is read when Prometheus scrapes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};
use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;

use crate::auth::outcome::AuthOutcome;
use crate::auth::Route;
use crate::db;
use crate::db::models::notifications;
use crate::state::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

/// What the request path records; the rest is read at scrape time from `AppState`. Registered
/// beside it by `startup`, not in it: `AppState` is below this module (`tests/integration/layers.rs`).
#[derive(Default)]
pub struct Metrics {
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Latency>,
}

/// Counts a request under its route template, once it has been answered.
pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let res = next.call(req).await?;
    let metrics = res
        .request()
        .app_data::<web::Data<Metrics>>()
        .expect("Metrics is registered by startup");
    let method = crate::auth::activity::method_name(res.request().method());
    // The template, never the path: a path carries ids (and a pasted token, sometimes).
    let route = Route::of(res.request()).map_or("unmatched", |route| route.template);
    metrics
        .latency
        .get_or_create(&RouteLabels { method, route })
        .observe(started.elapsed().as_secs_f64());
    metrics
        .requests
        .get_or_create(&RequestLabels {
            method,
            route,
            status: res.status().as_u16(),
        })
        .inc();
    Ok(res)
}

/// `GET /metrics`, on the metrics address only.
pub async fn scrape(state: web::Data<AppState>, metrics: web::Data<Metrics>) -> HttpResponse {
    // From the database: a failed mail is the deployment's, whichever instance gave up on it.
    // Left out of a scrape while the database does not answer.
    let failed_mails = db::query(&state.pool, notifications::failed_count)
        .await
        .ok();
    let mut body = String::new();
    match prometheus_client::encoding::text::encode(
        &mut body,
        &registry(&state, &metrics, failed_mails),
    ) {
        Ok(()) => HttpResponse::Ok()
            .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
            .body(body),
        Err(_) => HttpResponse::InternalServerError().finish(),
    }
}

/// A registry for one scrape: the request families, and the values read now.
fn registry(state: &AppState, metrics: &Metrics, failed_mails: Option<i64>) -> Registry {
    let mut registry = Registry::with_prefix("mantel");
    registry.register(
        "http_requests",
        "Requests answered, by method, route template and status",
        metrics.requests.clone(),
    );
    registry.register(
        "http_request_duration_seconds",
        "Time to answer a request (to the response head), by method and route template",
        metrics.latency.clone(),
    );

    let outcomes = Family::<OutcomeLabels, Counter>::default();
    for outcome in AuthOutcome::ALL {
        let labels = OutcomeLabels {
            outcome: outcome.as_str(),
        };
        outcomes
            .get_or_create(&labels)
            .inc_by(state.auth_outcomes.get(outcome));
    }
    registry.register(
        "auth_outcomes",
        "How authentication of API requests turned out",
        outcomes,
    );

    let pool = state.pool.state();
    let gauge = |value: u32| {
        let gauge = Gauge::<i64>::default();
        gauge.set(i64::from(value));
        gauge
    };
    registry.register(
        "db_pool_connections",
        "Connections the pool holds",
        gauge(pool.connections),
    );
    registry.register(
        "db_pool_idle_connections",
        "Connections idle in the pool",
        gauge(pool.idle_connections),
    );
    registry.register(
        "db_pool_in_use_connections",
        "Connections checked out of the pool",
        gauge(pool.connections.saturating_sub(pool.idle_connections)),
    );
    registry.register(
        "db_pool_max_connections",
        "The pool's size limit",
        gauge(state.pool.max_size()),
    );
    let waiting = Gauge::<i64>::default();
    waiting.set(i64::try_from(state.pool.writes_waiting()).unwrap_or(i64::MAX));
    registry.register(
        "db_writes_waiting",
        "Writes queued for SQLite's one writer connection (0 on PostgreSQL)",
        waiting,
    );
    let (checkouts, waited, timeouts) = state.pool_wait.get();
    let counter = |value: u64| {
        let counter = Counter::<u64>::default();
        counter.inc_by(value);
        counter
    };
    registry.register(
        "db_pool_checkouts",
        "Connections checked out of the pool",
        counter(checkouts),
    );
    let wait = Counter::<f64, std::sync::atomic::AtomicU64>::default();
    wait.inc_by(waited);
    registry.register(
        "db_pool_wait_seconds",
        "Time spent waiting for a pool connection, summed over checkouts",
        wait,
    );
    registry.register(
        "db_pool_timeouts",
        "Checkouts that gave up waiting for a connection",
        counter(timeouts),
    );
    let backlog = Gauge::<i64>::default();
    backlog.set(i64::try_from(state.last_used.pending()).unwrap_or(i64::MAX));
    registry.register(
        "last_used_backlog",
        "Token uses noted in memory and not yet written",
        backlog,
    );
    let dropped = Counter::<u64>::default();
    dropped.inc_by(state.activity.dropped());
    registry.register(
        "token_activity_dropped",
        "Bearer requests not recorded in their token's activity because the queue was full",
        dropped,
    );
    if let Some(failed) = failed_mails {
        let gauge = Gauge::<i64>::default();
        gauge.set(failed);
        registry.register(
            "outbox_failed",
            "Notification mails given up on and never retried: refused for good by the SMTP server (5xx), not addressed to one plain address, or failing for 3 days",
            gauge,
        );
    }
    if let Some(lease) = &state.cache_lease {
        let trusted = Gauge::<i64>::default();
        trusted.set(i64::from(lease.trusted()));
        registry.register(
            "token_cache_trusted",
            "PostgreSQL: 1 while this instance holds its token-cache lease and listens for changes, 0 while it reads every token from the database",
            trusted,
        );
    }
    registry
}

/// Upper bounds of the latency buckets, in seconds (+Inf follows).
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// A latency histogram in atomics: one `fetch_add` per bucket hit, count and sum.
#[derive(Debug, Default)]
struct Latency {
    buckets: [AtomicU64; BUCKETS.len() + 1],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl Latency {
    fn observe(&self, secs: f64) {
        let i = BUCKETS
            .iter()
            .position(|le| secs <= *le)
            .unwrap_or(BUCKETS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_nanos
            .fetch_add((secs * 1e9) as u64, Ordering::Relaxed);
    }
}

impl TypedMetric for Latency {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for Latency {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        // Per-bucket counts; the encoder writes them cumulatively. Read without a lock, a
        // scrape may see a request in `count` and not yet in its bucket: off by one at most.
        let buckets: Vec<(f64, u64)> = BUCKETS
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .zip(&self.buckets)
            .map(|(le, n)| (le, n.load(Ordering::Relaxed)))
            .collect();
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let count = self.count.load(Ordering::Relaxed);
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_histogram_encodes_cumulative_buckets() {
        let family = Family::<RouteLabels, Latency>::default();
        let labels = RouteLabels {
            method: "GET",
            route: "/api/me",
        };
        family.get_or_create(&labels).observe(0.0007);
        family.get_or_create(&labels).observe(0.02);
        family.get_or_create(&labels).observe(9.0);
        let mut registry = Registry::default();
        registry.register("latency", "test", family);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        let line =
            |le: &str| format!("latency_bucket{{le=\"{le}\",method=\"GET\",route=\"/api/me\"}}");
        assert!(text.contains("# TYPE latency histogram"), "{text}");
        assert!(text.contains(&format!("{} 0\n", line("0.0005"))), "{text}");
        assert!(text.contains(&format!("{} 1\n", line("0.001"))), "{text}");
        assert!(text.contains(&format!("{} 2\n", line("0.025"))), "{text}");
        assert!(text.contains(&format!("{} 3\n", line("+Inf"))), "{text}");
        assert!(
            text.contains("latency_count{method=\"GET\",route=\"/api/me\"} 3"),
            "{text}"
        );
    }
}
