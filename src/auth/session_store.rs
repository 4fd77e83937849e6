//! actix-session's `SessionStore`, kept in the database so that logout really ends a session,
//! every instance on one database shares sessions, and the idle and absolute limits hold.
//!
//! A request of a signed-in browser is at most one read: `load` reads the session's row and
//! its user together (the caller takes the user from the loaded state: `loaded_user`), from
//! the worker's exact cache when no session or account changed since (`db::exact_cache`: on
//! SQLite by the header of the file's WAL index, on PostgreSQL under the instance's lease, and
//! read on the pool whenever the lease is not held), and writes only when the idle expiry is due to
//! slide, at most once a minute (`slid_expiry`). The middleware runs with
//! `TtlExtensionPolicy::OnStateChanges` (`startup`), so nothing else is written or re-sealed on
//! a request that changes no state.
//!
//! Every write of the store is noted (`noting_writes`): on PostgreSQL the request then waits,
//! before its answer leaves, until no instance's cache still holds the session as it was
//! (`routes::settle_changes`), a safe request that slid its expiry or took a flash message
//! included.

use std::cell::Cell;
use std::collections::HashMap;
use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_session::Session;
use actix_web::cookie::time::Duration as CookieDuration;
use chrono::{Duration, NaiveDateTime};
use rand::distributions::Alphanumeric;
use rand::Rng;

use crate::clock::Clock;
use crate::db::models::security_log::{self, NewSecurityEvent};
use crate::db::models::users::User;
use crate::db::{self, models::sessions, DbError, LeasedSessions, Pool, WorkerConnection};
use crate::domain::{SecurityKind, UserId};

/// The session state key holding the logged-in user's id.
pub const USER_ID: &str = "user_id";
/// State keys set at login that the store also keeps in their own columns, for the sessions
/// page: the session's public id (it names the session in URLs), the address and the user
/// agent it signed in from.
pub const PUBLIC_ID: &str = "sid";
pub const IP: &str = "ip";
pub const USER_AGENT: &str = "ua";
/// A state key set at login: the store writes the `login` event of the security log with the
/// new session's row, in one transaction, and does not keep the key. So a login is logged if
/// and only if its session exists.
pub const LOG_LOGIN: &str = "log_login";
/// The state key under which `load` hands over the session's user, read with the session: the
/// user's ticket (`handoff`). It lives only in the request's copy of the state: `persisted`
/// drops it before any write, so the row never holds it.
const LOADED_USER: &str = "_loaded_user";
/// How long a session may be idle.
pub const IDLE_LIMIT: Duration = Duration::hours(12);
/// How long a session may live from login, however busy.
pub const ABSOLUTE_LIMIT: Duration = Duration::days(7);
/// The idle expiry slides at most this often: requests in between write nothing, and the
/// sessions page's "last seen" (written with each slide) is right to this.
const SLIDE_STEP: Duration = Duration::minutes(1);

/// The store of one actix worker (the middleware is built once per worker thread).
pub struct DbSessionStore {
    pool: Pool,
    clock: Clock,
    /// On SQLite, the worker's own connection, the bearer lookup's too: the read of every
    /// session request runs inline on it, through its cache (`WorkerConnection::find_session`).
    worker: Option<Rc<WorkerConnection>>,
    /// On PostgreSQL, the worker's session cache under the instance's lease.
    leased: Option<LeasedSessions>,
}

impl DbSessionStore {
    /// The store of one worker thread, reading on that worker's connection (SQLite) or through
    /// its leased cache (PostgreSQL).
    pub fn for_worker(
        pool: Pool,
        clock: Clock,
        worker: Option<Rc<WorkerConnection>>,
        leased: Option<LeasedSessions>,
    ) -> Self {
        Self {
            pool,
            clock,
            worker,
            leased,
        }
    }
}

/// The idle end of a session created at `created_at`, for a request at `now`: 12 hours on,
/// never past 7 days from login.
fn idle_end(created_at: NaiveDateTime, now: NaiveDateTime) -> NaiveDateTime {
    (now + IDLE_LIMIT).min(created_at + ABSOLUTE_LIMIT)
}

/// Whether a session read at some time is live at `now`: before its idle expiry and within
/// the absolute limit.
fn is_live(session: &sessions::Loaded, now: NaiveDateTime) -> bool {
    now < session.expires_at && now < session.created_at + ABSOLUTE_LIMIT
}

/// Where a request at `now` slides a session's idle expiry to, when it is due: only when it
/// moves by more than `SLIDE_STEP`. The one place that decides whether a request writes.
fn slid_expiry(
    created_at: NaiveDateTime,
    expires_at: NaiveDateTime,
    now: NaiveDateTime,
) -> Option<NaiveDateTime> {
    let end = idle_end(created_at, now);
    (end - expires_at > SLIDE_STEP).then_some(end)
}

/// The user `load` read with this request's session, when it is the one `user_id` names;
/// `None` when the state was not loaded by this store (a session made during this request) or
/// its ticket was taken or overwritten (`handoff`): the caller then reads the user itself.
pub fn loaded_user(session: &Session, user_id: &UserId) -> Option<Arc<User>> {
    let ticket = session.entries().get(LOADED_USER)?.parse().ok()?;
    handoff::take(ticket).filter(|user| user.id == *user_id)
}

/// How `load` hands the user it read to the caller. The store's `load` sees no request, only
/// the state it returns, whose values actix-session keeps as JSON strings: encoding the user
/// there and decoding it again cost a tenth of a session request (measured,
/// docs/benchmarks.md). So the user waits in a small ring of this worker thread (the store and
/// the request's extractors run on one worker thread: actix never moves a request's future)
/// and the state carries only its ticket. A ticket is taken once; a slot is reused after
/// `SLOTS` loads, so memory stays bounded whatever requests never ask for their user, and a
/// ticket that finds its slot reused finds nothing, never another request's user.
mod handoff {
    use std::cell::RefCell;
    use std::sync::Arc;

    use crate::db::models::users::User;

    /// Far more than the loads one worker can have between a `load` and its extractor.
    const SLOTS: usize = 64;

    struct Ring {
        issued: u64,
        slots: [Option<(u64, Arc<User>)>; SLOTS],
    }

    thread_local! {
        static RING: RefCell<Ring> = RefCell::new(Ring {
            issued: 0,
            slots: std::array::from_fn(|_| None),
        });
    }

    /// Parks `user` and returns its ticket.
    pub fn park(user: Arc<User>) -> u64 {
        RING.with_borrow_mut(|ring| {
            ring.issued += 1;
            let ticket = ring.issued;
            ring.slots[ticket as usize % SLOTS] = Some((ticket, user));
            ticket
        })
    }

    /// The user parked under `ticket` on this thread, once.
    pub fn take(ticket: u64) -> Option<Arc<User>> {
        RING.with_borrow_mut(|ring| {
            let slot = &mut ring.slots[ticket as usize % SLOTS];
            match slot {
                Some((parked, _)) if *parked == ticket => slot.take().map(|(_, user)| user),
                _ => None,
            }
        })
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        /// A ticket gives its user once; a ticket whose slot was reused gives nothing.
        #[test]
        fn a_ticket_gives_its_own_user_once() {
            let user = |n: u32| {
                Arc::new(User {
                    id: crate::domain::UserId::new(),
                    email: crate::domain::Email::parse(&format!("u{n}@example.com")).unwrap(),
                    password_hash: String::new(),
                    created_at: chrono::NaiveDateTime::default(),
                    admin: false,
                    suspended_at: None,
                    second_factor: false,
                })
            };
            let first = park(user(0));
            assert_eq!(take(first).unwrap().email.as_str(), "u0@example.com");
            assert!(take(first).is_none());
            let kept = park(user(1));
            for n in 0..SLOTS as u32 {
                park(user(n + 2));
            }
            assert!(take(kept).is_none(), "its slot was reused");
            assert!(take(u64::MAX).is_none());
        }
    }
}

/// The state as the row keeps it: without what `load` added for this request only.
fn persisted(mut state: HashMap<String, String>) -> HashMap<String, String> {
    state.remove(LOADED_USER);
    state
}

/// The row id for a session key: its BLAKE3, so the table never holds a usable cookie value.
pub fn row_id(key: &str) -> String {
    blake3::hash(key.as_bytes()).to_hex().to_string()
}

/// A string value of the state (actix-session keeps each value JSON-encoded).
fn string_of(state: &HashMap<String, String>, key: &str) -> Option<String> {
    state.get(key).and_then(|v| serde_json::from_str(v).ok())
}

fn new_key() -> String {
    rand::rngs::OsRng
        .sample_iter(&Alphanumeric)
        .take(64)
        .map(char::from)
        .collect()
}

tokio::task_local! {
    /// Whether this request's session store met a database it could not reach.
    static UNREACHED: Cell<bool>;
}

/// Runs a request (the session middleware and everything inside it) noting whether the store
/// met a database it could not reach: actix-session answers 500 to any failure of its store,
/// and `routes::session_unavailable` answers 503 instead when that was the cause.
pub async fn noting_unreached<T>(request: impl Future<Output = T>) -> (T, bool) {
    UNREACHED
        .scope(Cell::new(false), async {
            let out = request.await;
            (out, UNREACHED.with(Cell::get))
        })
        .await
}

tokio::task_local! {
    /// Whether this request's session store wrote (or tried to write) a session row.
    static WROTE: Cell<bool>;
}

/// Runs a request (the session middleware and everything inside it) noting whether the store
/// wrote a session row — a login's insert, a state's update, a slide, a delete — so that
/// `routes::settle_changes` waits for every instance's cache to drop the old row before the
/// answer leaves. Noted before each write, so a write whose outcome is unknown counts.
pub async fn noting_writes<T>(request: impl Future<Output = T>) -> (T, bool) {
    WROTE
        .scope(Cell::new(false), async {
            let out = request.await;
            (out, WROTE.with(Cell::get))
        })
        .await
}

fn note_write() {
    let _ = WROTE.try_with(|wrote| wrote.set(true));
}

/// A store failure for actix-session, noted for `noting_unreached` when the database could not
/// be reached.
fn failed(e: DbError) -> anyhow::Error {
    if e.is_unavailable() {
        let _ = UNREACHED.try_with(|unreached| unreached.set(true));
    }
    anyhow::anyhow!("{e}")
}

impl DbSessionStore {
    async fn insert_new(&self, state: HashMap<String, String>) -> anyhow::Result<SessionKey> {
        let key = new_key();
        let now = self.clock.now();
        let mut state = persisted(state);
        let log_login = state.remove(LOG_LOGIN).is_some();
        let row = sessions::SessionRow {
            id: row_id(&key),
            user_id: string_of(&state, USER_ID).and_then(|id| UserId::parse(&id)),
            public_id: string_of(&state, PUBLIC_ID),
            ip: string_of(&state, IP),
            user_agent: string_of(&state, USER_AGENT),
            state: serde_json::to_string(&state)?,
            created_at: now,
            expires_at: idle_end(now, now),
            last_seen_at: Some(now),
        };
        let login = match (&row.user_id, log_login) {
            (Some(user_id), true) => Some(NewSecurityEvent {
                user_id: user_id.clone(),
                kind: SecurityKind::Login,
                ip: row.ip.clone(),
                user_agent: row.user_agent.clone(),
                details: serde_json::json!({ "sessionId": row.public_id }),
            }),
            _ => None,
        };
        note_write();
        db::write_query(&self.pool, move |conn| {
            db::write_transaction(conn, |conn| {
                sessions::insert(conn, &row)?;
                if let Some(login) = &login {
                    security_log::record(conn, login, now)?;
                }
                Ok(())
            })
        })
        .await
        .map_err(failed)?;
        SessionKey::try_from(key).map_err(|e| anyhow::anyhow!("{e}"))
    }
}

impl SessionStore for DbSessionStore {
    async fn load(&self, key: &SessionKey) -> Result<Option<HashMap<String, String>>, LoadError> {
        let id = row_id(key.as_ref());
        let now = self.clock.now();
        let found = match (self.worker.as_deref(), &self.leased) {
            // SQLite: inline, from the worker's exact cache when nothing it holds changed since.
            (Some(worker), _) => worker.find_session(&id),
            // PostgreSQL: from the worker's cache while the lease is held, else on the pool.
            (None, Some(leased)) => leased.find_session(&self.pool, id.clone()).await,
            (None, None) => {
                let id = id.clone();
                db::query(&self.pool, move |conn| sessions::load(conn, &id))
                    .await
                    .map(|found| found.map(Arc::new))
            }
        }
        .map_err(|e| LoadError::Other(failed(e)))?;
        let Some(session) = found.filter(|session| is_live(session, now)) else {
            return Ok(None);
        };
        if let Some(expires_at) = slid_expiry(session.created_at, session.expires_at, now) {
            note_write();
            db::write_query(&self.pool, move |conn| {
                sessions::slide(conn, &id, expires_at, now)
            })
            .await
            .map_err(|e| LoadError::Other(failed(e)))?;
        }
        let mut state = session.state.clone();
        if let Some(user) = &session.user {
            let ticket = handoff::park(user.clone());
            state.insert(LOADED_USER.to_owned(), ticket.to_string());
        }
        Ok(Some(state))
    }

    /// The middleware's `ttl` is the cookie's lifetime (`startup`); the row's limits are ours.
    async fn save(
        &self,
        state: HashMap<String, String>,
        _ttl: &CookieDuration,
    ) -> Result<SessionKey, SaveError> {
        self.insert_new(state).await.map_err(SaveError::Other)
    }

    async fn update(
        &self,
        key: SessionKey,
        state: HashMap<String, String>,
        _ttl: &CookieDuration,
    ) -> Result<SessionKey, UpdateError> {
        let id = row_id(key.as_ref());
        let now = self.clock.now();
        let state = persisted(state);
        let user_id = string_of(&state, USER_ID).and_then(|id| UserId::parse(&id));
        let json =
            serde_json::to_string(&state).map_err(|e| UpdateError::Serialization(e.into()))?;
        // When no live row has this id the session was ended (logout, a password change, "end
        // this session") or expired while this request ran: it stays gone. Writing the state
        // back under a new key would revive a signed-out session for whoever holds the old
        // cookie. The cookie keeps naming a row that does not exist, which loads as signed out.
        note_write();
        db::write_query(&self.pool, move |conn| {
            let expiry = |row: &sessions::SessionRow| idle_end(row.created_at, now);
            sessions::update_state(conn, &id, user_id, json, expiry, now)
        })
        .await
        .map_err(|e| UpdateError::Other(failed(e)))?;
        Ok(key)
    }

    /// Nothing to do: `load` already slid the expiry when it was due. (The middleware calls
    /// this only under `TtlExtensionPolicy::OnEveryRequest`, which `startup` does not use.)
    async fn update_ttl(&self, _key: &SessionKey, _ttl: &CookieDuration) -> anyhow::Result<()> {
        Ok(())
    }

    async fn delete(&self, key: &SessionKey) -> anyhow::Result<()> {
        let id = row_id(key.as_ref());
        note_write();
        db::write_query(&self.pool, move |conn| sessions::delete(conn, &id))
            .await
            .map_err(failed)
    }
}
