//! The database: one connection type over SQLite and PostgreSQL, the pool (with SQLite's one
//! writer), migrations, the write transaction, and the ways request handlers reach a connection:
//! `query`/`run` for reads, `write`/`write_query` for anything that writes, `read` for the
//! bearer hot path. Models return `QueryResult` or a small error of their own; nothing here
//! knows HTTP.

pub mod backup;
pub mod cache_lease;
pub mod exact_cache;
pub mod json_rows;
pub mod models;
pub mod schema;
pub mod timestamp;
mod types;

use std::cell::RefCell;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use diesel::connection::{
    AnsiTransactionManager, InstrumentationEvent, SimpleConnection, TransactionManager,
};
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::domain::TokenHash;
use exact_cache::{ExactCache, Lookup};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

/// The connection pool, and on SQLite the one connection every write goes through (`write`).
/// Derefs to the r2d2 pool for reads, checkouts and its state.
#[derive(Clone)]
pub struct Pool {
    connections: r2d2::Pool<Manager>,
    writer: Option<Arc<WriterQueue>>,
    /// Opens a connection in place of one the server closed (`query`).
    manager: Manager,
    /// Whether the database could be reached at the last attempt to connect.
    reach: Reach,
}

impl Deref for Pool {
    type Target = r2d2::Pool<Manager>;

    fn deref(&self) -> &Self::Target {
        &self.connections
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("connections", &self.connections)
            .field("single_writer", &self.writer.is_some())
            .finish()
    }
}

impl Pool {
    /// A connection from the pool. While the database cannot be reached (its last connection
    /// attempt failed and none has succeeded since) no request waits out the checkout timeout
    /// for a connection that cannot come: it takes an idle one or is told at once.
    fn checkout(&self) -> Result<r2d2::PooledConnection<Manager>, DbError> {
        if self.reach.down() {
            return self.connections.try_get().ok_or(DbError::Unreachable);
        }
        Ok(self.connections.get_timeout(CHECKOUT_WAIT)?)
    }

    /// A new connection in place of one the server closed.
    fn reconnect(&self) -> Result<Pooled, DbError> {
        self.manager.connect().map_err(|e| {
            self.reach.failed();
            DbError::Connect(e)
        })
    }

    /// Writes waiting for SQLite's writer right now (always 0 on PostgreSQL), for `/metrics`.
    pub fn writes_waiting(&self) -> usize {
        self.writer
            .as_ref()
            .map_or(0, |w| w.waiting.load(Ordering::Relaxed))
    }
}

/// SQLite's writer and the queue in front of it. SQLite lets one transaction write at a time;
/// when several connections try, the losers sleep in its busy handler (steps of up to 100 ms,
/// no order), which measured p99 0.9 s at four concurrent writers. Here writes wait in a FIFO
/// queue instead (a waiting write holds no thread and no connection) for the one writer
/// thread, which takes the file's write lock without ever finding it held by one of ours.
/// Reads stay on the pool: in WAL mode they do not wait for the writer.
///
/// Group commit: the writer runs every write waiting when it starts (up to `GROUP`) in one
/// transaction and commits once, then answers them all. With `synchronous = FULL` each commit
/// is an fsync of the WAL, the most a write costs and the most it varies by; sharing it is what
/// keeps the p99 of many concurrent writers low (issue 31, docs/benchmarks.md). A write is
/// answered only after the commit that made it durable; if that commit fails, so does every
/// write of the group, whatever it answered. Each write sees the ones before it, in order, as
/// if they had committed one by one; what one write makes one unit says so with
/// `write_transaction`, a savepoint inside the group.
struct WriterQueue {
    jobs: std::sync::mpsc::Sender<Job>,
    waiting: Arc<AtomicUsize>,
}

/// The most writes one commit carries: each waits for the ones before it in the group.
const GROUP: usize = 32;

/// A write, run on the writer's connection (or told it could not get one); it answers how to
/// finish once the group's commit is known (`None`: committed).
type Job = Box<dyn FnOnce(Result<&mut DbConnection, DbError>) -> Finish + Send>;
type Finish = Box<dyn FnOnce(Option<GroupFailed>) + Send>;

/// Why a group's writes were not made, given to each of them.
#[derive(Clone, Debug)]
enum GroupFailed {
    /// No connection to write on: 503, as any database out of reach.
    Unreachable,
    /// The transaction did not begin or commit (or a write of the group panicked).
    NotCommitted(String),
}

impl From<GroupFailed> for DbError {
    fn from(failed: GroupFailed) -> DbError {
        match failed {
            GroupFailed::Unreachable => DbError::Unreachable,
            GroupFailed::NotCommitted(why) => DbError::NotCommitted(why),
        }
    }
}

impl WriterQueue {
    fn start(writer: Writer) -> WriterQueue {
        let (jobs, queued) = std::sync::mpsc::channel::<Job>();
        let waiting = Arc::new(AtomicUsize::new(0));
        let count = waiting.clone();
        std::thread::Builder::new()
            .name("mantel-writer".into())
            .spawn(move || write_groups(writer, &queued, &count))
            .expect("the writer thread starts");
        WriterQueue { jobs, waiting }
    }
}

/// The writer thread: until every `Pool` is dropped, takes what waits and runs it as a group.
fn write_groups(
    mut writer: Writer,
    queued: &std::sync::mpsc::Receiver<Job>,
    waiting: &AtomicUsize,
) {
    let mut group: std::collections::VecDeque<Job> = std::collections::VecDeque::new();
    loop {
        if group.is_empty() {
            match queued.recv() {
                Ok(job) => group.push_back(job),
                Err(_) => return,
            }
        }
        while group.len() < GROUP {
            match queued.try_recv() {
                Ok(job) => group.push_back(job),
                Err(_) => break,
            }
        }
        let failed = |e: &dyn std::fmt::Display| GroupFailed::NotCommitted(e.to_string());
        let conn = match writer.connection() {
            Ok(conn) => conn,
            Err(_) => {
                for job in group.drain(..) {
                    waiting.fetch_sub(1, Ordering::Relaxed);
                    job(Err(DbError::Unreachable))(Some(GroupFailed::Unreachable));
                }
                continue;
            }
        };
        if group.len() == 1 {
            // Alone: no group to commit, the write is what it always was (a single statement
            // commits by itself, `write_transaction` is its own transaction).
            let job = group.pop_front().expect("one write");
            waiting.fetch_sub(1, Ordering::Relaxed);
            let conn = &mut *conn;
            if let Ok(finish) =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(Ok(conn))))
            {
                finish(None);
            }
            continue;
        }
        if let Err(e) = begin_immediate(conn) {
            for job in group.drain(..) {
                waiting.fetch_sub(1, Ordering::Relaxed);
                job(Err(DbError::NotCommitted(e.to_string())))(Some(failed(&e)));
            }
            continue;
        }
        let mut finishes = Vec::with_capacity(group.len());
        let mut panicked = false;
        while let Some(job) = group.pop_front() {
            waiting.fetch_sub(1, Ordering::Relaxed);
            let conn = &mut *conn;
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(Ok(conn)))) {
                Ok(finish) => finishes.push(finish),
                // Its answer is dropped with it (its caller learns it failed); the group is
                // rolled back, so the writes before it fail too, and those after it, not yet
                // run, wait for the next group.
                Err(_) => {
                    panicked = true;
                    break;
                }
            }
        }
        let outcome = if panicked {
            Some(GroupFailed::NotCommitted(
                "a write of its group failed".into(),
            ))
        } else {
            DbConnection::commit_transaction(conn)
                .err()
                .map(|e| failed(&e))
        };
        if outcome.is_some() && DbConnection::rollback_transaction(conn).is_err() {
            // Still inside the transaction: `Writer::connection` opens a new one.
            writer.conn = None;
        }
        // Those after a write that panicked never ran: they stay in `group`, first next time.
        for finish in finishes {
            finish(outcome.clone());
        }
    }
}

fn begin_immediate(conn: &mut DbConnection) -> QueryResult<()> {
    match conn {
        DbConnection::Sqlite(c) => {
            AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")
        }
        DbConnection::Postgres(c) => AnsiTransactionManager::begin_transaction(c),
    }
}

/// The writer connection, opened on first use and reopened when broken.
struct Writer {
    manager: Manager,
    conn: Option<Pooled>,
}

impl Writer {
    fn connection(&mut self) -> Result<&mut DbConnection, DbError> {
        // A connection still inside a transaction (a write that panicked half-way) would turn
        // every later write into a savepoint of a transaction that never commits: start over.
        let usable = match self.conn.as_deref_mut() {
            Some(DbConnection::Sqlite(c)) => {
                let status = <AnsiTransactionManager as TransactionManager<SqliteConnection>>::transaction_manager_status_mut(c);
                matches!(status.transaction_depth(), Ok(None))
            }
            Some(DbConnection::Postgres(_)) | None => false,
        };
        if !usable
            || self
                .conn
                .as_mut()
                .is_some_and(|c| self.manager.has_broken(c))
        {
            self.conn = None;
        }
        if self.conn.is_none() {
            self.conn = Some(self.manager.connect().map_err(DbError::Connect)?);
        }
        Ok(self.conn.as_deref_mut().expect("opened above"))
    }
}

/// Where the data lives, decided once from `DATABASE_URL`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DbUrl {
    Sqlite(String),
    Postgres(String),
}

impl DbUrl {
    /// `postgres://…` / `postgresql://…` is PostgreSQL; `sqlite://PATH` or a bare path is SQLite.
    pub fn parse(url: &str) -> Self {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            DbUrl::Postgres(url.to_owned())
        } else {
            let path = url.strip_prefix("sqlite://").unwrap_or(url);
            DbUrl::Sqlite(path.to_owned())
        }
    }
}

/// Counts the SQL statements an instance runs: tests prove that a malformed token costs no
/// database work, and the benchmark reports statements per request.
#[derive(Clone, Debug, Default)]
pub struct QueryCount(Arc<AtomicU64>);

impl QueryCount {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Counts `conn`'s statements, and notes in `health` when one fails.
    fn instrument(&self, conn: &mut impl Connection, health: Arc<Health>) {
        let count = self.0.clone();
        conn.set_instrumentation(move |event: InstrumentationEvent<'_>| match event {
            InstrumentationEvent::StartQuery { .. } => {
                count.fetch_add(1, Ordering::Relaxed);
            }
            InstrumentationEvent::FinishQuery { error: Some(e), .. } => {
                health.failed.store(true, Ordering::Relaxed);
                if is_disconnect(e) {
                    health.closed.store(true, Ordering::Relaxed);
                }
            }
            _ => {}
        });
    }
}

/// How long checkouts from the pool waited, and how many gave up: the pool's own events,
/// counted in atomics for `/metrics` (r2d2 calls the handler on the checking-out thread).
#[derive(Clone, Debug, Default)]
pub struct PoolWait(Arc<PoolWaitCounts>);

#[derive(Debug, Default)]
struct PoolWaitCounts {
    checkouts: AtomicU64,
    wait_micros: AtomicU64,
    timeouts: AtomicU64,
}

impl PoolWait {
    /// Checkouts so far, their total wait in seconds, and timeouts so far.
    pub fn get(&self) -> (u64, f64, u64) {
        let counts = &self.0;
        (
            counts.checkouts.load(Ordering::Relaxed),
            counts.wait_micros.load(Ordering::Relaxed) as f64 / 1e6,
            counts.timeouts.load(Ordering::Relaxed),
        )
    }
}

/// The pool's events: checkout waits for `/metrics`, and a new connection as the sign that the
/// database can be reached again.
#[derive(Debug)]
struct Events {
    wait: PoolWait,
    reach: Reach,
}

impl r2d2::HandleEvent for Events {
    fn handle_acquire(&self, _: r2d2::event::AcquireEvent) {
        self.reach.0.store(false, Ordering::Relaxed);
    }

    fn handle_checkout(&self, event: r2d2::event::CheckoutEvent) {
        let counts = &self.wait.0;
        let micros = u64::try_from(event.duration().as_micros()).unwrap_or(u64::MAX);
        counts.checkouts.fetch_add(1, Ordering::Relaxed);
        counts.wait_micros.fetch_add(micros, Ordering::Relaxed);
    }

    fn handle_timeout(&self, _: r2d2::event::TimeoutEvent) {
        self.wait.0.timeouts.fetch_add(1, Ordering::Relaxed);
    }
}

/// Whether the database is down for this instance: set when an attempt to connect failed
/// (the pool's own, in the background, or `Pool::reconnect`), cleared when the pool opens a
/// connection again.
#[derive(Clone, Debug, Default)]
struct Reach(Arc<AtomicBool>);

impl Reach {
    fn down(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    fn failed(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

impl r2d2::HandleError<r2d2::Error> for Reach {
    fn handle_error(&self, error: r2d2::Error) {
        if !self.down() {
            tracing::warn!(%error, "database unreachable; answering 503 until it is back");
        }
        self.failed();
    }
}

/// True for an error that says the connection is gone (the server closed it, restarted, or
/// cannot be reached), rather than anything about the statement: nothing the caller asked for
/// is wrong, and another connection may well succeed.
pub fn is_disconnect(e: &diesel::result::Error) -> bool {
    use diesel::result::DatabaseErrorKind::{ClosedConnection, UnableToSendCommand};
    matches!(
        e,
        diesel::result::Error::DatabaseError(ClosedConnection | UnableToSendCommand, _)
    )
}

/// A connection of the pool (or of SQLite's writer, or a worker's), and whether the server
/// closed it under us: diesel's `is_broken` looks at transactions only, so without this the
/// pool would hand a closed connection to one request after another.
pub struct Pooled {
    conn: DbConnection,
    health: Arc<Health>,
}

/// What the statements of one connection met (set by its instrumentation).
#[derive(Debug, Default)]
struct Health {
    /// A statement failed since `Pooled::lost` last asked.
    failed: AtomicBool,
    /// A statement found the connection closed: it is dropped, never handed out again.
    closed: AtomicBool,
}

impl Pooled {
    /// After work that failed: was the connection lost under it? PostgreSQL's notice that it
    /// ended a session (`pg_terminate_backend`, a shutdown) reaches the statement that meets
    /// it as an ordinary error (diesel does not say its SQLSTATE, 57P01) and only the next one
    /// finds the connection closed; so when a statement failed, one `SELECT 1` asks. Only on
    /// the error path, and only on PostgreSQL: a SQLite file does not hang up.
    fn lost(&mut self) -> bool {
        let health = self.health.clone();
        if health.failed.swap(false, Ordering::Relaxed)
            && !health.closed.load(Ordering::Relaxed)
            && matches!(self.conn, DbConnection::Postgres(_))
        {
            let _ = self.conn.batch_execute("SELECT 1");
            health.failed.store(false, Ordering::Relaxed);
        }
        health.closed.load(Ordering::Relaxed)
    }
}

impl Deref for Pooled {
    type Target = DbConnection;

    fn deref(&self) -> &DbConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for Pooled {
    fn deref_mut(&mut self) -> &mut DbConnection {
        &mut self.conn
    }
}

/// Picks the backend from the URL instead of letting `MultiConnection::establish` try each in
/// turn (which would happily create a SQLite file named `postgres://…` when PostgreSQL is down).
#[derive(Clone, Debug)]
pub struct Manager {
    url: DbUrl,
    queries: QueryCount,
}

impl ManageConnection for Manager {
    type Connection = Pooled;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<Pooled, r2d2::Error> {
        let health = Arc::new(Health::default());
        let conn = match &self.url {
            DbUrl::Sqlite(path) => {
                let mut conn =
                    SqliteConnection::establish(path).map_err(r2d2::Error::ConnectionError)?;
                // synchronous=FULL: a revocation that was answered must survive a power cut.
                conn.batch_execute(
                    "PRAGMA journal_mode = WAL;
                     PRAGMA synchronous = FULL;
                     PRAGMA foreign_keys = ON;
                     PRAGMA busy_timeout = 5000;",
                )
                .map_err(r2d2::Error::QueryError)?;
                self.queries.instrument(&mut conn, health.clone());
                DbConnection::Sqlite(conn)
            }
            DbUrl::Postgres(url) => {
                let mut conn =
                    PgConnection::establish(url).map_err(r2d2::Error::ConnectionError)?;
                self.queries.instrument(&mut conn, health.clone());
                DbConnection::Postgres(conn)
            }
        };
        Ok(Pooled { conn, health })
    }

    fn is_valid(&self, conn: &mut Pooled) -> Result<(), r2d2::Error> {
        conn.batch_execute("SELECT 1")
            .map_err(r2d2::Error::QueryError)
    }

    /// Closed by the server, or left inside a transaction: dropped rather than handed out again.
    fn has_broken(&self, conn: &mut Pooled) -> bool {
        use diesel::r2d2::R2D2Connection;
        conn.health.closed.load(Ordering::Relaxed) || conn.conn.is_broken()
    }
}

/// Why a database call did not run to its end.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("no database connection: {0}")]
    Pool(#[from] r2d2::PoolError),
    #[error("cannot open the database: {0}")]
    Connect(r2d2::Error),
    #[error("the database cannot be reached")]
    Unreachable,
    #[error("the database closed the connection")]
    Lost,
    #[error("the blocking pool is gone")]
    Blocking(#[from] actix_web::error::BlockingError),
    /// The group commit that carried the write failed (`WriterQueue`).
    #[error("the write did not commit: {0}")]
    NotCommitted(String),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
}

impl DbError {
    /// The database could not be reached, or dropped the connection mid-way: nothing is wrong
    /// with the request, and the same request may well succeed in a moment (503, not 500).
    pub fn is_unavailable(&self) -> bool {
        match self {
            DbError::Pool(_) | DbError::Connect(_) | DbError::Unreachable | DbError::Lost => true,
            DbError::Query(e) => is_disconnect(e),
            DbError::Blocking(_) | DbError::NotCommitted(_) => false,
        }
    }

    /// A cache's validity check failed (`exact_cache`).
    fn probe(message: String) -> DbError {
        DbError::Connect(r2d2::Error::ConnectionError(
            diesel::ConnectionError::BadConnection(message),
        ))
    }
}

/// The longest a request waits for a connection of the pool while the database is up.
const CHECKOUT_WAIT: std::time::Duration = std::time::Duration::from_secs(10);
/// How long the pool waits at most before trying again to open a connection it lost.
const RECONNECT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Builds the pool. SQLite gets one connection per worker plus a few for background work;
/// PostgreSQL a fixed, modest number that many instances can share.
pub fn connect(url: &str, max_size: u32, queries: QueryCount) -> anyhow::Result<Pool> {
    connect_observed(url, max_size, queries, PoolWait::default())
}

/// `connect`, with the pool's checkout waits counted in `wait`.
pub fn connect_observed(
    url: &str,
    max_size: u32,
    queries: QueryCount,
    wait: PoolWait,
) -> anyhow::Result<Pool> {
    let url = DbUrl::parse(url);
    let writer = match &url {
        DbUrl::Sqlite(_) => Some(Arc::new(WriterQueue::start(Writer {
            manager: Manager {
                url: url.clone(),
                queries: queries.clone(),
            },
            conn: None,
        }))),
        // PostgreSQL locks rows, not the database: concurrent writers do not queue behind
        // each other there, and many instances share it anyway.
        DbUrl::Postgres(_) => None,
    };
    let manager = Manager { url, queries };
    let reach = Reach::default();
    let connections = r2d2::Pool::builder()
        .max_size(max_size)
        .event_handler(Box::new(Events {
            wait,
            reach: reach.clone(),
        }))
        .error_handler(Box::new(reach.clone()))
        // r2d2 tries again to open connections it lost after at most half of this: the pool
        // is whole again within a second of the database coming back. (A checkout waits
        // `CHECKOUT_WAIT`, not this.)
        .connection_timeout(RECONNECT_EVERY * 2)
        // No `SELECT 1` before every checkout: that would double the bearer hot path. A
        // connection the server closed is marked so by the statement that meets it, and
        // dropped when it comes back (`Manager::has_broken`); a read is tried again (`query`).
        .test_on_check_out(false)
        .build(manager.clone())
        .map_err(|e| anyhow::anyhow!("cannot open the database: {e}"))?;
    Ok(Pool {
        connections,
        writer,
        manager,
        reach,
    })
}

pub fn run_migrations(conn: &mut DbConnection) -> anyhow::Result<()> {
    let applied = match conn {
        DbConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
        DbConnection::Postgres(c) => c
            .run_pending_migrations(POSTGRES_MIGRATIONS)
            .map(|v| v.len()),
    }
    .map_err(|e| anyhow::anyhow!("migrations failed: {e}"))?;
    if applied > 0 {
        tracing::info!(applied, "database migrations applied");
    }
    Ok(())
}

/// Runs `f` in a write transaction: every write of more than one statement, or that reads
/// before it writes, goes through here. On SQLite it is `BEGIN IMMEDIATE`, so the transaction
/// takes the write lock up front and waits on the busy timeout instead of failing with
/// SQLITE_BUSY when another writer got there first (a deferred transaction that read first
/// cannot wait: it would deadlock). A single write statement is a transaction of its own and
/// takes the lock as it starts, so the models run those directly.
///
/// Inside another write transaction it is a savepoint: what a model writes and what records
/// it (a notification, its mail) commit together or not at all.
pub fn write_transaction<T, E, F>(conn: &mut DbConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    match conn {
        DbConnection::Sqlite(c) => {
            let status = <AnsiTransactionManager as TransactionManager<SqliteConnection>>::transaction_manager_status_mut(c);
            if status.transaction_depth()?.is_some() {
                AnsiTransactionManager::begin_transaction(c)?
            } else {
                AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?
            }
        }
        DbConnection::Postgres(c) => AnsiTransactionManager::begin_transaction(c)?,
    }
    match f(conn) {
        Ok(value) => {
            DbConnection::commit_transaction(conn)?;
            Ok(value)
        }
        Err(e) => {
            DbConnection::rollback_transaction(conn)?;
            Err(e)
        }
    }
}

/// True for a UNIQUE constraint violation, which both backends report the same way.
pub fn is_unique_violation(e: &diesel::result::Error) -> bool {
    matches!(
        e,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}

/// Runs blocking diesel work that only reads on actix's blocking pool (anything that writes
/// goes through `write`). Getting a connection from the pool blocks too, so it happens inside.
/// `f` answers in any error that a `DbError` converts into (`AppError` in handlers, a model's
/// own error, `anyhow` in background work).
pub async fn run<T, E, F>(pool: &Pool, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<DbError> + Send + 'static,
{
    let pool = pool.clone();
    actix_web::web::block(move || {
        let mut conn = pool.checkout()?;
        let result = f(&mut conn);
        // Whatever `f` made of it, its work failed because the connection was lost.
        if result.is_err() && conn.lost() {
            return Err(DbError::Lost.into());
        }
        result
    })
    .await
    .map_err(DbError::from)?
}

/// `run` for the common case of one model call that returns `QueryResult`: a read.
///
/// A pooled connection the server closed (PostgreSQL restarted or failed over, its backend
/// killed) fails the statement that meets it; the pool drops it when it comes back
/// (`Manager::has_broken`), but the request that met it would fail. So a read replaces it
/// with a new connection and is tried again there, once: a read changes nothing, so a second
/// try is safe. Writes are not tried again: whether a commit cut off mid-way happened is
/// unknown, so they answer 503 (`DbError::is_unavailable`) and the client decides.
pub async fn query<T, F>(pool: &Pool, mut f: F) -> Result<T, DbError>
where
    F: FnMut(&mut DbConnection) -> QueryResult<T> + Send + 'static,
    T: Send + 'static,
{
    let pool = pool.clone();
    actix_web::web::block(move || {
        let mut conn = pool.checkout()?;
        match f(&mut conn) {
            Err(e) if is_disconnect(&e) || conn.lost() => {
                *conn = pool.reconnect()?;
                f(&mut conn).map_err(DbError::from)
            }
            result => result.map_err(DbError::from),
        }
    })
    .await
    .map_err(DbError::from)?
}

/// `run` for work that writes. On SQLite `f` runs on the one writer connection, after every
/// write that asked before it, and is answered once the group it ran in committed
/// (`WriterQueue`). On PostgreSQL it is `run`. `f` is not a transaction of its own: what must
/// commit together says so with `write_transaction`, as before (nested, a savepoint). Reads
/// that decide the write (an authorization check, a uniqueness test) belong inside `f`, so
/// nothing changes between them and the write on SQLite.
pub async fn write<T, E, F>(pool: &Pool, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<DbError> + Send + 'static,
{
    let Some(queue) = &pool.writer else {
        return run(pool, f).await;
    };
    let (answer, answered) = tokio::sync::oneshot::channel::<Result<T, E>>();
    let job: Job = Box::new(move |conn| {
        // A caller that has gone (its request abandoned while it waited) writes nothing, as
        // when waiting was for a lock: what the queue holds is bounded by requests in flight.
        if answer.is_closed() {
            return Box::new(|_| {});
        }
        let result = conn.map_err(E::from).and_then(f);
        Box::new(move |failed: Option<GroupFailed>| {
            let result = match failed {
                Some(failed) if result.is_ok() => Err(DbError::from(failed).into()),
                _ => result,
            };
            // The caller may have gone since it ran: the write stands regardless.
            let _ = answer.send(result);
        })
    });
    queue.waiting.fetch_add(1, Ordering::Relaxed);
    if queue.jobs.send(job).is_err() {
        queue.waiting.fetch_sub(1, Ordering::Relaxed);
        return Err(DbError::NotCommitted("the writer has stopped".into()).into());
    }
    // Dropped unanswered only when the write panicked.
    answered
        .await
        .unwrap_or_else(|_| Err(DbError::NotCommitted("the write failed".into()).into()))
}

/// `write` for one model call that returns `QueryResult`.
pub async fn write_query<T, F>(pool: &Pool, f: F) -> Result<T, DbError>
where
    F: FnOnce(&mut DbConnection) -> QueryResult<T> + Send + 'static,
    T: Send + 'static,
{
    write(pool, move |conn| f(conn).map_err(DbError::from)).await
}

/// A SQLite connection owned by one actix worker thread, for the one read of the bearer hot
/// path and of the session path. Measured (docs/benchmarks.md): the hop to the blocking pool
/// and back (`web::block`: a wake-up and two context switches) plus the pool checkout cost
/// more than the indexed read itself. A SQLite read is a library call on local pages, and in
/// WAL mode readers do not wait for writers (only recovery after a crash can make one wait,
/// at most the busy timeout), so it runs inline on the worker. A PostgreSQL read is a network
/// round trip that must not stall a worker: it stays on `run`. Both lookups are cached here,
/// exactly (`exact_cache`: any change anywhere to a token, an account or a session empties
/// them).
pub struct WorkerConnection {
    manager: Manager,
    conn: RefCell<Option<Pooled>>,
    tokens: RefCell<Option<ExactCache<TokenHash, models::tokens::Found>>>,
    sessions: RefCell<Option<ExactCache<String, Arc<models::sessions::Loaded>>>>,
}

impl WorkerConnection {
    /// `Some` for a SQLite URL only. The connection opens on first use, with the pool's pragmas
    /// and statement counter.
    pub fn for_sqlite(url: &str, queries: QueryCount) -> Option<WorkerConnection> {
        match DbUrl::parse(url) {
            url @ DbUrl::Sqlite(_) => Some(WorkerConnection {
                manager: Manager { url, queries },
                conn: RefCell::new(None),
                tokens: RefCell::new(None),
                sessions: RefCell::new(None),
            }),
            DbUrl::Postgres(_) => None,
        }
    }

    fn read<T>(&self, f: impl FnOnce(&mut DbConnection) -> QueryResult<T>) -> Result<T, DbError> {
        // No await while borrowed, so one worker thread can never borrow it twice.
        let mut slot = self.conn.borrow_mut();
        let conn = match slot.as_mut() {
            Some(conn) => conn,
            None => slot.insert(self.manager.connect().map_err(DbError::Connect)?),
        };
        let result = f(conn).map_err(DbError::from);
        if result.is_err() && self.manager.has_broken(conn) {
            *slot = None;
        }
        result
    }

    /// `read` through `cache`: the row kept under `key`, when nothing it holds changed since it
    /// was read.
    fn cached<K, Q, V>(
        &self,
        cache: &RefCell<Option<ExactCache<K, V>>>,
        key: &Q,
        read: impl FnOnce(&mut DbConnection) -> QueryResult<Option<V>>,
    ) -> Result<Option<V>, DbError>
    where
        K: std::hash::Hash + Eq + std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ToOwned<Owned = K> + ?Sized,
        V: Clone,
    {
        let mut slot = cache.borrow_mut();
        let cache = match slot.as_mut() {
            Some(cache) => cache,
            None => {
                let DbUrl::Sqlite(path) = &self.manager.url else {
                    unreachable!("a worker connection is SQLite only")
                };
                slot.insert(ExactCache::sqlite(path).map_err(DbError::probe)?)
            }
        };
        // The version check is not counted with the statements: it reads no table, and the
        // statement count is what shows the lookups a cache hit saves.
        let version = match cache.lookup(key).map_err(DbError::probe)? {
            Lookup::Hit(found) => return Ok(Some(found)),
            Lookup::Miss(version) => version,
        };
        let found = self.read(read)?;
        cache.fill(key.to_owned(), &found, version);
        Ok(found)
    }

    /// The bearer hot path's lookup (`tokens::find_by_hash`).
    pub fn find_token(&self, hash: &TokenHash) -> Result<Option<models::tokens::Found>, DbError> {
        self.cached(&self.tokens, hash, |conn| {
            Ok(models::tokens::find_by_hash(conn, hash)?.map(models::tokens::shared))
        })
    }

    /// The session path's lookup (`sessions::load`), by the session's row id.
    pub fn find_session(&self, id: &str) -> Result<Option<Arc<models::sessions::Loaded>>, DbError> {
        self.cached(&self.sessions, id, |conn| {
            Ok(models::sessions::load(conn, id)?.map(Arc::new))
        })
    }
}

/// PostgreSQL's counterpart of `WorkerConnection::find_token`, one per worker: rows read on
/// the pool, cached while the instance holds its lease (`cache_lease`).
pub struct LeasedTokens(ExactCache<TokenHash, models::tokens::Found>);

impl LeasedTokens {
    pub fn new(lease: Arc<cache_lease::CacheLease>) -> LeasedTokens {
        LeasedTokens(ExactCache::leased(lease, cache_lease::Cached::Tokens))
    }

    pub async fn find_token(
        &self,
        pool: &Pool,
        hash: TokenHash,
    ) -> Result<Option<models::tokens::Found>, DbError> {
        read_through(&self.0, pool, hash, |conn, hash| {
            Ok(models::tokens::find_by_hash(conn, hash)?.map(models::tokens::shared))
        })
        .await
    }
}

/// A leased cache's lookup: the entry while it holds, else the row read on the pool (kept
/// unless something changed meanwhile: `ExactCache::fill`).
async fn read_through<K, V>(
    cache: &ExactCache<K, V>,
    pool: &Pool,
    key: K,
    load: fn(&mut DbConnection, &K) -> QueryResult<Option<V>>,
) -> Result<Option<V>, DbError>
where
    K: std::hash::Hash + Eq + Clone + Send + 'static,
    V: Clone + Send + 'static,
{
    let version = match cache.lookup(&key).map_err(DbError::probe)? {
        Lookup::Hit(found) => return Ok(Some(found)),
        Lookup::Miss(version) => version,
    };
    let read = key.clone();
    let found = query(pool, move |conn| load(conn, &read)).await?;
    cache.fill(key, &found, version);
    Ok(found)
}

/// PostgreSQL's counterpart of `WorkerConnection::find_session`, one per worker (in its session
/// store): sessions with their users, read on the pool, cached while the instance holds its
/// lease, under the sessions' epoch (`cache_lease`: any change to a session, a user or a token
/// empties it, and every request that made one settles before it is answered).
pub struct LeasedSessions(ExactCache<String, Arc<models::sessions::Loaded>>);

impl LeasedSessions {
    pub fn new(lease: Arc<cache_lease::CacheLease>) -> LeasedSessions {
        LeasedSessions(ExactCache::leased(lease, cache_lease::Cached::Sessions))
    }

    /// The session's row by its id, and its user (`sessions::load`).
    pub async fn find_session(
        &self,
        pool: &Pool,
        id: String,
    ) -> Result<Option<Arc<models::sessions::Loaded>>, DbError> {
        read_through(&self.0, pool, id, |conn, id| {
            Ok(models::sessions::load(conn, id)?.map(Arc::new))
        })
        .await
    }
}

/// A migrated SQLite database in a folder of its own, for the unit tests of what keeps its
/// state in the database (throttles, token quotas, sealed reveals); gone with the folder.
#[cfg(test)]
pub async fn temp_pool() -> (tempfile::TempDir, Pool) {
    let dir = tempfile::tempdir().unwrap();
    let url = dir.path().join("mantel.db").to_string_lossy().into_owned();
    let pool = connect(&url, 2, Default::default()).unwrap();
    run(&pool, run_migrations).await.unwrap();
    (dir, pool)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::rt::task::yield_now;
    use diesel::sql_types::Integer;

    #[derive(QueryableByName)]
    struct Arrival {
        #[diesel(sql_type = Integer)]
        n: i32,
    }

    /// The numbers `sql` selects (a column `n`), read on the pool.
    async fn numbers(pool: &Pool, sql: &'static str) -> Vec<i32> {
        query(pool, move |conn| match conn {
            DbConnection::Sqlite(c) => diesel::sql_query(sql).load::<Arrival>(c),
            DbConnection::Postgres(_) => unreachable!("these tests use SQLite's writer"),
        })
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.n)
        .collect()
    }

    /// Writes that find the writer busy are served in the order they asked (issue 16): the
    /// queue is fair, unlike SQLite's busy handler, whose sleepers wake in no order. And those
    /// that waited together commit together (issue 31).
    #[actix_web::test]
    async fn waiting_writes_are_served_in_arrival_order() {
        let dir = tempfile::tempdir().unwrap();
        let url = dir.path().join("queue.db").to_string_lossy().into_owned();
        let statements = QueryCount::default();
        let pool = connect(&url, 2, statements.clone()).unwrap();
        write_query(&pool, |conn| {
            conn.batch_execute("CREATE TABLE arrivals (n INTEGER NOT NULL)")
        })
        .await
        .unwrap();
        let insert = |n: i32| {
            let pool = pool.clone();
            type Hold = (std::sync::mpsc::Sender<()>, std::sync::mpsc::Receiver<()>);
            move |hold: Option<Hold>| async move {
                write_query(&pool, move |conn| {
                    if let Some((started, hold)) = hold {
                        started.send(()).unwrap();
                        hold.recv().unwrap();
                    }
                    conn.batch_execute(&format!("INSERT INTO arrivals VALUES ({n})"))
                })
                .await
            }
        };

        // The first write holds the writer until it is let go…
        let (release, hold) = std::sync::mpsc::channel();
        let (started, has_started) = std::sync::mpsc::channel();
        let mut writes = vec![actix_web::rt::spawn(insert(0)(Some((started, hold))))];
        while has_started.try_recv().is_err() {
            yield_now().await;
        }
        // …while the others line up behind it, each only after the one before is waiting.
        for n in 1..=20 {
            writes.push(actix_web::rt::spawn(insert(n)(None)));
            while pool.writes_waiting() < n as usize {
                yield_now().await;
            }
        }
        let before = statements.get();
        release.send(()).unwrap();
        for write in writes {
            write.await.unwrap().unwrap();
        }
        // The first, alone, is its one statement; the 20 that waited together are one group
        // commit: one transaction around them, not 20.
        assert_eq!(
            statements.get() - before,
            1 + 1 + 20 + 1,
            "INSERT; BEGIN, 20 INSERTs, COMMIT"
        );

        let order = numbers(&pool, "SELECT n FROM arrivals ORDER BY rowid").await;
        assert_eq!(order, (0..=20).collect::<Vec<_>>());
        assert_eq!(pool.writes_waiting(), 0);
    }

    /// A write whose caller gave up while it waited (a request abandoned) is never run.
    #[actix_web::test]
    async fn a_write_abandoned_while_it_waits_is_not_made() {
        let dir = tempfile::tempdir().unwrap();
        let url = dir
            .path()
            .join("abandoned.db")
            .to_string_lossy()
            .into_owned();
        let pool = connect(&url, 2, QueryCount::default()).unwrap();
        write_query(&pool, |conn| {
            conn.batch_execute("CREATE TABLE t (n INTEGER NOT NULL)")
        })
        .await
        .unwrap();
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let (started, has_started) = std::sync::mpsc::channel();
        let holding = actix_web::rt::spawn({
            let pool = pool.clone();
            async move {
                write_query(&pool, move |conn| {
                    started.send(()).unwrap();
                    hold.recv().unwrap();
                    conn.batch_execute("INSERT INTO t VALUES (1)")
                })
                .await
            }
        });
        while has_started.try_recv().is_err() {
            yield_now().await;
        }
        let abandoned = actix_web::rt::spawn({
            let pool = pool.clone();
            async move {
                write_query(&pool, |conn| conn.batch_execute("INSERT INTO t VALUES (2)")).await
            }
        });
        while pool.writes_waiting() == 0 {
            yield_now().await;
        }
        abandoned.abort();
        assert!(abandoned.await.is_err(), "aborted");
        release.send(()).unwrap();
        holding.await.unwrap().unwrap();
        write_query(&pool, |conn| conn.batch_execute("INSERT INTO t VALUES (3)"))
            .await
            .unwrap();
        assert_eq!(
            numbers(&pool, "SELECT n FROM t ORDER BY rowid").await,
            [1, 3]
        );
    }

    /// A write that panics inside its transaction fails (its caller gets an error, not a
    /// hang), what it wrote is rolled back with the connection it left inside the transaction,
    /// and the writer goes on: the next write commits.
    #[actix_web::test]
    async fn a_write_that_panics_fails_and_the_writer_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let url = dir.path().join("panic.db").to_string_lossy().into_owned();
        let pool = connect(&url, 2, QueryCount::default()).unwrap();
        write_query(&pool, |conn| {
            conn.batch_execute("CREATE TABLE t (n INTEGER NOT NULL)")
        })
        .await
        .unwrap();
        let failed: Result<(), DbError> = write(&pool, |conn| {
            write_transaction(conn, |conn| {
                conn.batch_execute("INSERT INTO t VALUES (1)")?;
                panic!("a bug in a write");
            })
        })
        .await;
        assert!(
            matches!(failed, Err(DbError::NotCommitted(_))),
            "{failed:?}"
        );
        write_query(&pool, |conn| conn.batch_execute("INSERT INTO t VALUES (2)"))
            .await
            .unwrap();
        assert_eq!(
            numbers(&pool, "SELECT n FROM t").await,
            [2],
            "the panicked write's insert was rolled back"
        );
    }
}
