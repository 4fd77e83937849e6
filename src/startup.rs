//! Builds the application — pool, migrations, the cookie key, middleware, routes — binds it
//! (port 0 in tests) and runs it with its background tasks until SIGTERM or Ctrl-C.

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use actix_session::config::{PersistentSession, TtlExtensionPolicy};
use actix_session::SessionMiddleware;
use actix_web::cookie::{self, Key, SameSite};
use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::{from_fn, DefaultHeaders};
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use rand::RngCore;

use crate::auth::activity::Activity;
use crate::auth::csrf::FormCsrf;
use crate::auth::last_used::LastUsed;
use crate::auth::outcome::AuthOutcomes;
use crate::auth::partner_keys::ScanningPartners;
use crate::auth::password::Hashing;
use crate::auth::rate_limit::RateLimits;
use crate::auth::reveal::PendingReveals;
use crate::auth::session_store::{DbSessionStore, ABSOLUTE_LIMIT};
use crate::auth::throttle::Throttles;
use crate::clock::Clock;
use crate::config::Settings;
use crate::db::models::token_activity;
use crate::db::{self, models::security_log, models::sessions, models::settings as app_settings};
use crate::domain::PublicUrl;
use crate::metrics::Metrics;
use crate::notify::{mail::Sender, Notifier};
use crate::state::AppState;

/// How often noted token uses are written (each token still at most once a minute).
const LAST_USED_FLUSH: Duration = Duration::from_secs(5);
const SESSION_SWEEP: Duration = Duration::from_secs(600);
/// How often queued token activity is written.
const ACTIVITY_FLUSH: Duration = Duration::from_secs(1);
/// Token activity is kept this long (SPEC §8.3).
const ACTIVITY_KEPT: chrono::Duration = chrono::Duration::days(90);
/// How often each instance looks for mail to send.
const MAIL_POLL: Duration = Duration::from_secs(2);

pub struct Application {
    server: Server,
    /// Sends the outbox when mail is configured.
    mail: Option<Sender>,
    sweep_every: Duration,
    address: SocketAddr,
    state: web::Data<AppState>,
    /// `GET /metrics` on `--metrics-bind`, when set, and the address it got.
    metrics: Option<(Server, SocketAddr)>,
}

/// The Content-Security-Policy of every page: no inline script, no framing.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

impl Application {
    pub async fn build(settings: Settings, clock: Clock) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(&settings.bind)
            .with_context(|| format!("cannot bind {}", settings.bind))?;
        Self::build_with_listener(settings, listener, clock).await
    }

    pub async fn build_with_listener(
        settings: Settings,
        listener: TcpListener,
        clock: Clock,
    ) -> anyhow::Result<Self> {
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        let queries = db::QueryCount::default();
        let pool_wait = db::PoolWait::default();
        let pool = db::connect_observed(
            &settings.database_url,
            workers as u32 + 8,
            queries.clone(),
            pool_wait.clone(),
        )?;
        db::run(&pool, db::run_migrations).await?;
        let key = cookie_key(&settings, &pool).await?;

        let address = listener
            .local_addr()
            .context("the listener has no address")?;
        // After binding: without `--public-url` it is the address really bound (port 0 too).
        let public_url = PublicUrl::new(settings.public_url.as_deref(), address);
        if PublicUrl::guessed_for(settings.public_url.as_deref(), address) {
            tracing::warn!(
                "no --public-url while listening on every address: only pages of {} pass the \
                 CSRF check; set --public-url to the URL people use",
                public_url.origin()
            );
        }
        let mail = match &settings.mail {
            Some(mail) => Some(Sender::new(mail, &public_url)?),
            None => None,
        };
        if mail.is_none() {
            tracing::info!("no MANTEL_SMTP_URL: notifications are shown in the dashboard only");
        }
        let state = web::Data::new(AppState {
            pool: pool.clone(),
            clock: clock.clone(),
            queries,
            pool_wait,
            public_origin: public_url.origin(),
            relying_party: crate::auth::webauthn::RelyingParty {
                id: public_url.host().to_owned(),
                origin: public_url.origin(),
            },
            throttles: Throttles::new(key.master()),
            factor_keys: crate::auth::totp::FactorKeys::new(key.master()),
            hashing: Hashing::per_core(),
            rate_limits: RateLimits::new(
                settings.token_rate_limit,
                settings.bearer_failure_limit,
                key.master(),
            ),
            auth_outcomes: AuthOutcomes::default(),
            form_csrf: FormCsrf::new(key.master(), public_url.secure_cookies()),
            last_used: LastUsed::default(),
            activity: Activity::with_capacity(settings.activity_queue),
            reveals: PendingReveals::new(public_url.secure_cookies()),
            scanning: ScanningPartners::new(
                settings.github_scanning_keys.clone(),
                settings.gitlab_scanning_keys.clone(),
            ),
            issuers: Default::default(),
            notifier: Notifier::new(mail.is_some(), public_url.as_str()),
            cache_lease: match db::DbUrl::parse(&settings.database_url) {
                db::DbUrl::Postgres(url) => Some(db::cache_lease::CacheLease::start(&url)),
                db::DbUrl::Sqlite(_) => None,
            },
        });
        let secure = public_url.secure_cookies();
        // `__Host-` makes the browser insist on Secure, Path=/ and no Domain.
        let cookie_name = if secure {
            "__Host-mm_session"
        } else {
            "mm_session"
        };

        let app_state = state.clone();
        let request_metrics = web::Data::new(Metrics::default());
        // Whose `Forwarded` / `X-Forwarded-For` is believed (`auth::client_ip`).
        let trusted_proxies = web::Data::new(crate::auth::client_ip::TrustedProxies::new(
            settings.trusted_proxies.clone(),
            settings.proxy_header,
        ));
        let app_metrics = request_metrics.clone();
        let database_url = settings.database_url.clone();
        let server = HttpServer::new(move || {
            // This closure runs once per worker thread: on SQLite each gets a read connection of
            // its own (with its token and session caches), for the bearer lookup and the
            // session's read; on PostgreSQL its own token and session caches under the
            // instance's lease.
            let worker = db::WorkerConnection::for_sqlite(&database_url, app_state.queries.clone())
                .map(std::rc::Rc::new);
            let store = DbSessionStore::for_worker(
                app_state.pool.clone(),
                app_state.clock.clone(),
                worker.clone(),
                app_state.cache_lease.clone().map(db::LeasedSessions::new),
            );
            let sessions = SessionMiddleware::builder(store, key.clone())
                .cookie_name(cookie_name.to_owned())
                .cookie_secure(secure)
                .cookie_http_only(true)
                .cookie_same_site(SameSite::Lax)
                .cookie_path("/".to_owned())
                .cookie_domain(None)
                .session_lifecycle(
                    // The cookie is set at login and when the state changes, never re-sealed
                    // on a plain request; so it lives as long as a session can (7 days), and
                    // the store ends the session after 12 hours idle.
                    PersistentSession::default()
                        .session_ttl(cookie::time::Duration::seconds(
                            ABSOLUTE_LIMIT.num_seconds(),
                        ))
                        .session_ttl_extension_policy(TtlExtensionPolicy::OnStateChanges),
                )
                .build();
            let auth_source: std::sync::Arc<dyn crate::auth::Source> =
                app_state.clone().into_inner();
            let mut app = App::new()
                .app_data(app_state.clone())
                .app_data(web::Data::from(auth_source))
                .app_data(app_metrics.clone())
                .app_data(trusted_proxies.clone());
            if let Some(worker) = worker {
                app = app.app_data(worker);
            }
            if let Some(lease) = &app_state.cache_lease {
                app = app.app_data(db::LeasedTokens::new(lease.clone()));
            }
            app.configure(crate::routes::configure)
                .wrap(from_fn(crate::routes::deadline::body_deadline))
                .wrap(sessions)
                // Outside the sessions: a change settles after the session's own write too.
                .wrap(from_fn(crate::routes::settle_changes))
                .wrap(from_fn(crate::routes::session_unavailable))
                .wrap(from_fn(crate::routes::refuse_foreign))
                .wrap(from_fn(crate::routes::methods::answer))
                .wrap(from_fn(crate::routes::end_json_with_newline))
                // Every answer, errors included, is `no-store` unless its handler says otherwise
                // (only the stylesheet and script do): token plaintexts and CSRF tokens travel
                // in answers, and no cache may keep those.
                .wrap(
                    DefaultHeaders::new()
                        .add(("Content-Security-Policy", CSP))
                        .add(("X-Content-Type-Options", "nosniff"))
                        .add(("X-Frame-Options", "DENY"))
                        .add(("Referrer-Policy", "same-origin"))
                        .add(("Cache-Control", "no-store")),
                )
                .wrap(from_fn(crate::telemetry::log_request))
                .wrap(from_fn(crate::metrics::record))
                // Outermost: a method no route has is refused before anything counts or logs it.
                .wrap(from_fn(crate::routes::refuse_unknown_method))
        })
        .workers(workers)
        // Signals are ours (`stop_gracefully_on_signal`): actix-web's own treat SIGINT as a
        // forced stop, which cuts requests in flight.
        .disable_signals()
        .listen(listener)
        .context("cannot listen")?
        .run();
        let metrics = match &settings.metrics_bind {
            Some(bind) => Some(metrics_server(bind, state.clone(), request_metrics)?),
            None => None,
        };
        Ok(Application {
            server,
            mail,
            sweep_every: settings.sweep_every,
            address,
            state,
            metrics,
        })
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// The port `GET /metrics` answers on, when `--metrics-bind` is set.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(_, address)| address.port())
    }

    /// Serves until SIGTERM or SIGINT (Ctrl-C) has stopped the server gracefully, then writes
    /// the last noted token uses.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let state = self.state.clone();
        // Listening for the signals before saying where we listen: whoever reads that line may
        // signal at once, and a signal with no listener yet would kill the process mid-request.
        let signals = StopSignals::listen()?;
        let stopper =
            actix_web::rt::spawn(stop_gracefully_on_signal(self.server.handle(), signals));
        let background = actix_web::rt::spawn(background_tasks(state.clone()));
        let sweeps = actix_web::rt::spawn(sweep_tasks(state.clone(), self.sweep_every));
        let activity = actix_web::rt::spawn(write_activity(state.clone()));
        let failures = actix_web::rt::spawn(flush_failures(state.clone()));
        let mail = self
            .mail
            .map(|sender| actix_web::rt::spawn(send_mail(state.clone(), sender, self.sweep_every)));
        let metrics = self.metrics.map(|(server, address)| {
            let handle = server.handle();
            actix_web::rt::spawn(server);
            (handle, address)
        });
        #[cfg(unix)]
        let stats = actix_web::rt::spawn(report_statements_on_sigusr1(state.clone()));
        if let Some((_, address)) = &metrics {
            tracing::info!("metrics on http://{address}/metrics");
        }
        tracing::info!("listening on http://{}", self.address);
        let result = self.server.await;
        stopper.abort();
        if let Some((metrics, _)) = metrics {
            metrics.stop(true).await;
        }
        background.abort();
        sweeps.abort();
        activity.abort();
        failures.abort();
        if let Some(mail) = mail {
            mail.abort();
        }
        #[cfg(unix)]
        stats.abort();
        if let Err(e) = state.last_used.flush(&state.pool).await {
            tracing::warn!(error = %e, "could not write last token uses at shutdown");
        }
        if let Err(e) = state.activity.flush(&state.pool, &state.notifier).await {
            tracing::warn!(error = %e, "could not write token activity at shutdown");
        }
        tracing::info!("stopped");
        result
    }
}

/// SIGINT and SIGTERM alike: no new connections, requests in flight finish (workers get up
/// to 30 seconds), then `run_until_stopped` returns.
async fn stop_gracefully_on_signal(server: ServerHandle, mut signals: StopSignals) {
    let name = signals.recv().await;
    tracing::info!("{name} received: stopping gracefully, finishing requests in flight");
    server.stop(true).await;
}

#[cfg(unix)]
struct StopSignals {
    interrupt: actix_web::rt::signal::unix::Signal,
    terminate: actix_web::rt::signal::unix::Signal,
}

#[cfg(unix)]
impl StopSignals {
    fn listen() -> std::io::Result<Self> {
        use actix_web::rt::signal::unix::{signal, SignalKind};
        Ok(StopSignals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    async fn recv(&mut self) -> &'static str {
        use futures_util::future::{select, Either};
        let interrupt = std::pin::pin!(self.interrupt.recv());
        let terminate = std::pin::pin!(self.terminate.recv());
        match select(interrupt, terminate).await {
            Either::Left(_) => "SIGINT",
            Either::Right(_) => "SIGTERM",
        }
    }
}

/// Elsewhere only Ctrl-C.
#[cfg(not(unix))]
struct StopSignals;

#[cfg(not(unix))]
impl StopSignals {
    fn listen() -> std::io::Result<Self> {
        Ok(StopSignals)
    }

    async fn recv(&mut self) -> &'static str {
        let _ = actix_web::rt::signal::ctrl_c().await;
        "Ctrl-C"
    }
}

async fn background_tasks(state: web::Data<AppState>) {
    let mut flush = actix_web::rt::time::interval(LAST_USED_FLUSH);
    let mut sweeps = 0u32;
    loop {
        flush.tick().await;
        if let Err(e) = state.last_used.flush(&state.pool).await {
            tracing::warn!(error = %e, "could not write last token uses");
        }
        sweeps += 1;
        if sweeps as u64 * LAST_USED_FLUSH.as_secs() >= SESSION_SWEEP.as_secs() {
            sweeps = 0;
            state.rate_limits.forget_idle();
            let now = state.clock.now();
            if let Err(e) = crate::auth::throttle::sweep(&state.pool, now).await {
                tracing::warn!(error = %e, "could not delete ended throttle windows");
            }
            let full = now.and_utc().timestamp_nanos_opt().unwrap_or(i64::MAX);
            let swept = db::write_query(&state.pool, move |conn| {
                crate::db::models::token_quotas::delete_full(conn, full)
            })
            .await;
            if let Err(e) = swept {
                tracing::warn!(error = %e, "could not delete full token quotas");
            }
            if let Err(e) = crate::auth::reveal::sweep(&state.pool, now).await {
                tracing::warn!(error = %e, "could not delete expired reveals");
            }
            let swept =
                db::write_query(&state.pool, move |conn| sessions::delete_expired(conn, now)).await;
            if let Err(e) = swept {
                tracing::warn!(error = %e, "could not delete expired sessions");
            }
        }
    }
}

/// Forgets old token activity and security events (older than a year), and finds the
/// notifications that time brings (expiry, inactivity). Every instance sweeps; none records an
/// occasion twice (`ops::sweep`).
async fn sweep_tasks(state: web::Data<AppState>, every: Duration) {
    // The first sweep one period after start-up, not at once: a restart is no occasion.
    let start = actix_web::rt::time::Instant::now() + every;
    let mut tick = actix_web::rt::time::interval_at(start, every);
    loop {
        tick.tick().await;
        let (notifier, now) = (state.notifier.clone(), state.clock.now());
        let swept = db::write_query(&state.pool, move |conn| {
            token_activity::delete_before(conn, now - ACTIVITY_KEPT)?;
            crate::ops::sweep::sweep(conn, &notifier, now)
        })
        .await;
        // The security log keeps a year (SPEC §8.3); an indexed delete that usually finds
        // nothing, on the same tick.
        let forgotten = db::write_query(&state.pool, move |conn| {
            security_log::delete_expired(conn, now)
        })
        .await;
        if let Err(e) = forgotten {
            tracing::warn!(error = %e, "could not delete old security events");
        }
        match swept {
            Ok(swept) if swept != Default::default() => tracing::info!(
                notified = swept.notified,
                revoked = swept.revoked,
                "token sweep"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "token sweep failed"),
        }
    }
}

/// Writes the bad credentials each address presented here to the deployment's counts and
/// learns which addresses are over the limit, every `FAILURE_FLUSH` (no statement when no
/// address has presented one within its window).
async fn flush_failures(state: web::Data<AppState>) {
    let mut tick = actix_web::rt::time::interval(crate::auth::rate_limit::FAILURE_FLUSH);
    loop {
        tick.tick().await;
        let now = state.clock.now();
        if let Err(e) = state.rate_limits.flush_failures(&state.pool, now).await {
            tracing::warn!(error = %e, "could not write bad-token counts");
        }
    }
}

/// Writes the queued token activity, in one transaction a second.
async fn write_activity(state: web::Data<AppState>) {
    let mut tick = actix_web::rt::time::interval(ACTIVITY_FLUSH);
    loop {
        tick.tick().await;
        if let Err(e) = state.activity.flush(&state.pool, &state.notifier).await {
            tracing::warn!(error = %e, "could not write token activity");
        }
    }
}

/// Sends due mail from the outbox: more often than the sweeps, as a new token's mail is due at
/// once, and retries come due seconds apart.
async fn send_mail(state: web::Data<AppState>, sender: Sender, sweep_every: Duration) {
    let mut tick = actix_web::rt::time::interval(MAIL_POLL.min(sweep_every));
    loop {
        tick.tick().await;
        if let Err(e) = sender.send_due(&state.pool, &state.clock).await {
            tracing::warn!(error = %e, "could not read the mail outbox");
        }
    }
}

/// The metrics address answers `GET /metrics` and 404 to anything else. One worker is
/// plenty for a scrape every few seconds; it stops with the main server, not on its own.
fn metrics_server(
    bind: &str,
    state: web::Data<AppState>,
    metrics: web::Data<Metrics>,
) -> anyhow::Result<(Server, SocketAddr)> {
    let listener =
        TcpListener::bind(bind).with_context(|| format!("cannot bind metrics to {bind}"))?;
    let address = listener
        .local_addr()
        .context("the metrics listener has no address")?;
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(metrics.clone())
            .route("/metrics", web::get().to(crate::metrics::scrape))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .context("cannot listen for metrics")?
    .run();
    Ok((server, address))
}

/// `kill -USR1 <pid>` logs how many SQL statements this instance has run so far. The load
/// benchmark (`scripts/bench`) reads it before and after each workload to report statements
/// per request; a signal keeps the number off the network and costs the request path nothing.
#[cfg(unix)]
async fn report_statements_on_sigusr1(state: web::Data<AppState>) {
    use actix_web::rt::signal::unix::{signal, SignalKind};
    let Ok(mut usr1) = signal(SignalKind::user_defined1()) else {
        return;
    };
    while usr1.recv().await.is_some() {
        tracing::info!(
            statements = state.queries.get(),
            "database statements so far"
        );
    }
}

/// The key that seals session cookies: derived from `MANTEL_SECRET_KEY`, or generated once and
/// kept in the database so restarts keep people logged in and every instance agrees on it.
async fn cookie_key(settings: &Settings, pool: &db::Pool) -> anyhow::Result<Key> {
    if let Some(secret) = &settings.secret_key {
        return Ok(Key::derive_from(secret.expose().as_bytes()));
    }
    let stored = db::write_query(pool, |conn| {
        app_settings::get_or_insert(conn, "session_key", || {
            let mut bytes = [0u8; 64];
            rand::rngs::OsRng.fill_bytes(&mut bytes);
            hex::encode(bytes)
        })
    })
    .await?;
    let bytes = hex::decode(stored).context("stored session key")?;
    Key::try_from(bytes.as_slice()).map_err(|e| anyhow::anyhow!("stored session key: {e}"))
}
