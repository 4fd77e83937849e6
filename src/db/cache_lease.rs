//! PostgreSQL: may this instance use its caches (tokens, and sessions with their users) right
//! now? Leases, as Chubby gives its clients' caches (Burrows, OSDI 2006), so that a change is
//! answered only after every instance that could hold the old row has dropped it (SPEC §7).
//!
//! - Each instance keeps one connection of its own that `LISTEN`s on the schema's channel and
//!   renews the instance's lease (`cache_leases`) every second, for five. The cache is trusted
//!   only until four seconds after the last renewal was *sent*, so it stops trusting itself
//!   before the database's clock ends the lease.
//! - Whoever changes a token or a user notifies the channel (triggers, migration 000012); the
//!   listener hears it within `POLL`, and bumps both epochs, which empties every worker's
//!   caches. A change to a session (trigger of migration 2026-12-09-010001) notifies with the
//!   payload `sessions` and bumps the sessions' epoch only: a login, an idle expiry's slide or
//!   a flash message empties no token cache. A user's change still empties the session caches,
//!   whose entries hold the user.
//! - A request that changed something (`settle`, run before the answer leaves) then sends a
//!   marker on the channel, after its commit, and waits until every live lease holder has
//!   acknowledged the marker — heard in commit order, so after the change — or emptied its
//!   cache since, or lost its lease. A request whose only change was its session's row (a
//!   safe request that slid the expiry or took a flash message) sends a sessions' marker,
//!   which empties only session caches; every other change's marker empties both.
//! - Self-fencing: when the listener's connection or a renewal fails, the cache is untrusted at
//!   once (every lookup reads the database) until a new connection listens, empties the
//!   caches and renews.
//! - A fill cannot race an eviction: a lookup notes the epoch before it reads the row and keeps
//!   the row only if the epoch is unchanged afterwards (`ExactCache::fill`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamptz};

const LEASE: Duration = Duration::from_secs(5);
const RENEW_EVERY: Duration = Duration::from_secs(1);
/// Trusted until this long before the lease ends by the time the renewal was sent.
const MARGIN: Duration = Duration::from_secs(1);
/// How often the listener looks for notifications; a change's answer waits about this long.
const POLL: Duration = Duration::from_millis(2);
/// A settle that still waits after this long gives up (every lease it waited for has ended
/// by then unless its holder keeps renewing without hearing the channel, which it cannot).
const SETTLE_LIMIT: Duration = Duration::from_secs(12);

/// The instance's standing: shared by the listener thread and every worker's cache.
struct Shared {
    instance: String,
    /// Bumped whenever the token caches must be emptied (the session caches with them).
    epoch: AtomicU64,
    /// Bumped whenever the session caches must be emptied: with `epoch`, and on a change to
    /// sessions alone.
    session_epoch: AtomicU64,
    /// Milliseconds after `origin` until which the cache may be used; 0: not at all.
    trusted_until: AtomicU64,
    origin: Instant,
    stop: AtomicBool,
}

impl Shared {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn fence(&self) {
        self.trusted_until.store(0, Ordering::SeqCst);
        self.empty(Scope::All);
    }

    /// Empties the caches `scope` names, in every worker (each sees its epoch move).
    fn empty(&self, scope: Scope) {
        if scope == Scope::All {
            self.epoch.fetch_add(1, Ordering::SeqCst);
        }
        self.session_epoch.fetch_add(1, Ordering::SeqCst);
    }
}

/// What a change may have made stale, so which caches it empties.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Tokens, users, or anything else: every cache.
    All,
    /// Session rows only (their state, expiry, existence): the session caches.
    Sessions,
}

/// Which cache asks (`CacheLease::current`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cached {
    Tokens,
    Sessions,
}

/// What a notification on the channel asks of the listener: which caches to empty, and the
/// settle marker to acknowledge, if any.
fn heard(payload: &str) -> (Scope, Option<&str>) {
    if payload == "sessions" {
        return (Scope::Sessions, None);
    }
    if let Some(marker) = payload.strip_prefix("settle sessions ") {
        return (Scope::Sessions, Some(marker));
    }
    // The token and user triggers' `changed`, a full settle's marker, and anything unknown.
    (Scope::All, payload.strip_prefix("settle "))
}

/// This instance's lease; the listener stops, and the lease is given back, when it is dropped.
pub struct CacheLease {
    shared: Arc<Shared>,
}

impl CacheLease {
    /// Starts the listener (a thread with its own connection to `url`). Until it has listened
    /// and renewed once, the cache is not used.
    pub fn start(url: &str) -> Arc<CacheLease> {
        let shared = Arc::new(Shared {
            instance: uuid::Uuid::new_v4().to_string(),
            epoch: AtomicU64::new(1),
            session_epoch: AtomicU64::new(1),
            trusted_until: AtomicU64::new(0),
            origin: Instant::now(),
            stop: AtomicBool::new(false),
        });
        let (thread_shared, url) = (shared.clone(), url.to_owned());
        std::thread::Builder::new()
            .name("mantel-cache-lease".into())
            .spawn(move || listen(&thread_shared, &url))
            .expect("the cache lease thread starts");
        Arc::new(CacheLease { shared })
    }

    /// The epoch a cache of `what` files entries under, or `None` while no cache may be used.
    pub fn current(&self, what: Cached) -> Option<u64> {
        let shared = &self.shared;
        let epoch = match what {
            Cached::Tokens => &shared.epoch,
            Cached::Sessions => &shared.session_epoch,
        }
        .load(Ordering::SeqCst);
        (shared.now_ms() < shared.trusted_until.load(Ordering::SeqCst)).then_some(epoch)
    }

    /// True while the caches are trusted: `/metrics`.
    pub fn trusted(&self) -> bool {
        self.current(Cached::Tokens).is_some()
    }

    /// This instance's name in `cache_leases`; its listener's `application_name` is
    /// `mantel cache lease <name>`.
    pub fn instance(&self) -> &str {
        &self.shared.instance
    }
}

impl Drop for CacheLease {
    fn drop(&mut self) {
        self.shared.fence();
        self.shared.stop.store(true, Ordering::SeqCst);
    }
}

/// The schema's channel: what the triggers and `settle` notify.
fn channel(conn: &mut PgConnection) -> QueryResult<String> {
    #[derive(QueryableByName)]
    struct Schema {
        #[diesel(sql_type = Text)]
        name: String,
    }
    let schema: Schema = diesel::sql_query("SELECT current_schema() AS name").get_result(conn)?;
    Ok(format!("mantel_tokens_{}", schema.name))
}

fn listen(shared: &Shared, url: &str) {
    let mut failures = 0u32;
    while !shared.stop.load(Ordering::SeqCst) {
        match session(shared, url) {
            Ok(()) => break,
            Err(e) => {
                shared.fence();
                if failures == 0 {
                    tracing::warn!(error = %e, "token and session caches off: their change listener failed; reconnecting");
                }
                failures += 1;
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
    shared.fence();
}

/// One listening connection's life: `Ok` when stopped, `Err` when the connection failed.
fn session(shared: &Shared, url: &str) -> anyhow::Result<()> {
    let mut conn = PgConnection::establish(url)?;
    let channel = channel(&mut conn)?;
    conn.batch_execute(&format!(
        "SET application_name = 'mantel cache lease {}'; LISTEN \"{channel}\"",
        shared.instance
    ))?;
    // Listening now; whatever changed before may be in the caches: empty them, and say when,
    // by the database's clock read *before* emptying (a settle trusts that time).
    let cleared = db_now(&mut conn)?;
    shared.empty(Scope::All);
    renew(shared, &mut conn, Some(cleared))?;
    tracing::info!("token and session caches on: listening for changes");
    let mut renewed = Instant::now();
    let mut cleanups = 0u32;
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            let _ = diesel::sql_query("DELETE FROM cache_leases WHERE instance = $1")
                .bind::<Text, _>(&shared.instance)
                .execute(&mut conn);
            return Ok(());
        }
        let mut changed = None;
        let mut markers = Vec::new();
        for notification in conn.notifications_iter() {
            let notification = notification?;
            let (scope, marker) = heard(&notification.payload);
            if changed != Some(Scope::All) {
                changed = Some(scope);
            }
            markers.extend(marker.map(str::to_owned));
        }
        // Emptied before any marker of this batch is acknowledged.
        if let Some(scope) = changed {
            shared.empty(scope);
        }
        for marker in markers {
            diesel::sql_query(
                "INSERT INTO cache_acks (marker, instance) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind::<Text, _>(marker)
            .bind::<Text, _>(&shared.instance)
            .execute(&mut conn)?;
        }
        if renewed.elapsed() >= RENEW_EVERY {
            renewed = Instant::now();
            renew(shared, &mut conn, None)?;
            cleanups += 1;
            if cleanups >= 60 {
                // Acknowledgements a settle did not collect (it gave up, or its process died).
                cleanups = 0;
                diesel::sql_query("DELETE FROM cache_acks WHERE at < now() - interval '1 minute'")
                    .execute(&mut conn)?;
            }
        }
        std::thread::sleep(POLL);
    }
}

type DbTime = chrono::DateTime<chrono::Utc>;

/// The database's clock (the statement's transaction time).
fn db_now(conn: &mut PgConnection) -> QueryResult<DbTime> {
    #[derive(QueryableByName)]
    struct Now {
        #[diesel(sql_type = Timestamptz)]
        at: DbTime,
    }
    let now: Now = diesel::sql_query("SELECT now() AS at").get_result(conn)?;
    Ok(now.at)
}

/// Extends the lease; `cleared`: when the caches were last emptied while listening, if that
/// is news.
fn renew(shared: &Shared, conn: &mut PgConnection, cleared: Option<DbTime>) -> QueryResult<()> {
    let sent = shared.now_ms();
    let lease = format!("{} milliseconds", LEASE.as_millis());
    diesel::sql_query(
        "INSERT INTO cache_leases (instance, lease_until, cleared_at)
         VALUES ($1, now() + $2::interval, COALESCE($3, now()))
         ON CONFLICT (instance) DO UPDATE SET lease_until = excluded.lease_until,
           cleared_at = COALESCE($3, cache_leases.cleared_at)",
    )
    .bind::<Text, _>(&shared.instance)
    .bind::<Text, _>(lease)
    .bind::<Nullable<Timestamptz>, _>(cleared)
    .execute(conn)?;
    let until = sent + u64::try_from((LEASE - MARGIN).as_millis()).unwrap_or(0);
    shared.trusted_until.store(until, Ordering::SeqCst);
    Ok(())
}

/// Run after a request that may have changed tokens, users or sessions committed, before its
/// answer leaves: waits until no instance can still serve what was there before. `scope`: what
/// the request may have changed (`Scope::Sessions` only when it changed nothing but session
/// rows).
pub fn settle(conn: &mut PgConnection, scope: Scope) -> QueryResult<()> {
    let marker = uuid::Uuid::new_v4().to_string();
    let channel = channel(conn)?;
    // The marker's time, by the database's clock, taken before it is sent and after the change
    // committed: an instance that emptied its cache (while listening) after it needs not
    // acknowledge.
    let sent = db_now(conn)?;
    diesel::sql_query("SELECT pg_notify($1, $2)")
        .bind::<Text, _>(&channel)
        .bind::<Text, _>(match scope {
            Scope::All => format!("settle {marker}"),
            Scope::Sessions => format!("settle sessions {marker}"),
        })
        .execute(conn)?;
    let started = Instant::now();
    #[derive(QueryableByName)]
    struct Waiting {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    loop {
        let waiting: Waiting = diesel::sql_query(
            "SELECT COUNT(*) AS n FROM cache_leases l
             WHERE l.lease_until > now() AND l.cleared_at <= $2
               AND NOT EXISTS (SELECT 1 FROM cache_acks a
                               WHERE a.marker = $1 AND a.instance = l.instance)",
        )
        .bind::<Text, _>(&marker)
        .bind::<Timestamptz, _>(sent)
        .get_result(conn)?;
        if waiting.n == 0 {
            break;
        }
        if started.elapsed() > SETTLE_LIMIT {
            tracing::error!(instances = waiting.n, "caches did not acknowledge a change");
            break;
        }
        std::thread::sleep(POLL);
    }
    diesel::sql_query("DELETE FROM cache_acks WHERE marker = $1")
        .bind::<Text, _>(&marker)
        .execute(conn)?;
    Ok(())
}

/// `settle` for a request or a command that holds no connection: on the pool, and nothing to
/// wait for on SQLite, whose caches see every commit on their next lookup.
pub async fn settled(pool: &super::Pool, scope: Scope) -> Result<(), super::DbError> {
    super::run(pool, move |conn| match conn {
        super::DbConnection::Postgres(c) => settle(c, scope).map_err(super::DbError::from),
        super::DbConnection::Sqlite(_) => Ok(()),
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only what names sessions alone spares the token caches; anything else, however it is
    /// spelled, empties every cache.
    #[test]
    fn only_session_changes_spare_the_token_caches() {
        assert_eq!(heard("sessions"), (Scope::Sessions, None));
        assert_eq!(heard("settle sessions m1"), (Scope::Sessions, Some("m1")));
        assert_eq!(heard("settle m2"), (Scope::All, Some("m2")));
        assert_eq!(heard("changed"), (Scope::All, None));
        assert_eq!(heard(""), (Scope::All, None));
        assert_eq!(heard("sessions "), (Scope::All, None));
    }
}
