//! actix-session's `SessionStore`, kept in the database so that logout really ends a session,
//! every instance on one database shares sessions, and the idle and absolute limits hold.
//!
//! A request of a signed-in browser is one read: `load` reads the session's row and its user
//! together (the caller takes the user from the loaded state: `loaded_user`), and writes only
//! when the idle expiry is due to slide, at most once a minute (`slid_expiry`). The middleware
//! runs with `TtlExtensionPolicy::OnStateChanges` (`startup`), so nothing else is written or
//! re-sealed on a request that changes no state.

use std::collections::HashMap;
use std::rc::Rc;

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_session::Session;
use actix_web::cookie::time::Duration as CookieDuration;
use chrono::{Duration, NaiveDateTime};
use rand::distributions::Alphanumeric;
use rand::Rng;

use crate::clock::Clock;
use crate::db::models::security_log::{self, NewSecurityEvent};
use crate::db::models::users::User;
use crate::db::{self, models::sessions, Pool, WorkerConnection};
use crate::domain::{Email, SecurityKind, UserId};

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
/// The state key under which `load` hands over the session's user, read with the session.
/// It lives only in the request's copy of the state: `persisted` drops it before any write,
/// so the row never holds it (nor the password hash in it).
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
    /// session request runs inline on it (`db::read`).
    worker: Option<Rc<WorkerConnection>>,
}

impl DbSessionStore {
    /// The store of one worker thread, reading on that worker's connection (SQLite).
    pub fn for_worker(pool: Pool, clock: Clock, worker: Option<Rc<WorkerConnection>>) -> Self {
        Self {
            pool,
            clock,
            worker,
        }
    }
}

/// The idle end of a session created at `created_at`, for a request at `now`: 12 hours on,
/// never past 7 days from login.
fn idle_end(created_at: NaiveDateTime, now: NaiveDateTime) -> NaiveDateTime {
    (now + IDLE_LIMIT).min(created_at + ABSOLUTE_LIMIT)
}

/// Where a request at `now` slides the row's idle expiry to, when it is due: only when it
/// moves by more than `SLIDE_STEP`. The one place that decides whether a request writes.
fn slid_expiry(row: &sessions::SessionRow, now: NaiveDateTime) -> Option<NaiveDateTime> {
    let end = idle_end(row.created_at, now);
    (end - row.expires_at > SLIDE_STEP).then_some(end)
}

/// What `load` hands over of the user, JSON-encoded like every value of the state.
#[derive(serde::Serialize, serde::Deserialize)]
struct LoadedUser {
    id: UserId,
    email: String,
    password_hash: String,
    created_at: NaiveDateTime,
}

/// The user `load` read with this request's session, when it is the one `user_id` names;
/// `None` when the state was not loaded by this store (a session made during this request).
pub fn loaded_user(session: &Session, user_id: &UserId) -> Option<User> {
    let loaded = session.get::<LoadedUser>(LOADED_USER).ok()??;
    if loaded.id != *user_id {
        return None;
    }
    Some(User {
        id: loaded.id,
        // A stored email was parsed when it was stored; parsing it again gives it back.
        email: Email::parse(&loaded.email).ok()?,
        password_hash: loaded.password_hash,
        created_at: loaded.created_at,
    })
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
        db::write_query(&self.pool, move |conn| {
            db::write_transaction(conn, |conn| {
                sessions::insert(conn, &row)?;
                if let Some(login) = &login {
                    security_log::record(conn, login, now)?;
                }
                Ok(())
            })
        })
        .await?;
        SessionKey::try_from(key).map_err(|e| anyhow::anyhow!("{e}"))
    }
}

impl SessionStore for DbSessionStore {
    async fn load(&self, key: &SessionKey) -> Result<Option<HashMap<String, String>>, LoadError> {
        let id = row_id(key.as_ref());
        let now = self.clock.now();
        let read_id = id.clone();
        let found = db::read(&self.pool, self.worker.as_deref(), move |conn| {
            sessions::find_live_with_user(conn, &read_id, now)
        })
        .await
        .map_err(|e| LoadError::Other(anyhow::anyhow!("{e}")))?;
        let Some((row, user)) = found else {
            return Ok(None);
        };
        if row.created_at + ABSOLUTE_LIMIT <= now {
            return Ok(None);
        }
        if let Some(expires_at) = slid_expiry(&row, now) {
            db::write_query(&self.pool, move |conn| {
                sessions::slide(conn, &id, expires_at, now)
            })
            .await
            .map_err(|e| LoadError::Other(anyhow::anyhow!("{e}")))?;
        }
        let mut state: HashMap<String, String> =
            serde_json::from_str(&row.state).map_err(|e| LoadError::Deserialization(e.into()))?;
        if let Some(user) = user {
            let loaded = LoadedUser {
                id: user.id,
                email: user.email.as_str().to_owned(),
                password_hash: user.password_hash,
                created_at: user.created_at,
            };
            let loaded = serde_json::to_string(&loaded).map_err(|e| LoadError::Other(e.into()))?;
            state.insert(LOADED_USER.to_owned(), loaded);
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
        db::write_query(&self.pool, move |conn| {
            let expiry = |row: &sessions::SessionRow| idle_end(row.created_at, now);
            sessions::update_state(conn, &id, user_id, json, expiry, now)
        })
        .await
        .map_err(|e| UpdateError::Other(anyhow::anyhow!("{e}")))?;
        Ok(key)
    }

    /// Nothing to do: `load` already slid the expiry when it was due. (The middleware calls
    /// this only under `TtlExtensionPolicy::OnEveryRequest`, which `startup` does not use.)
    async fn update_ttl(&self, _key: &SessionKey, _ttl: &CookieDuration) -> anyhow::Result<()> {
        Ok(())
    }

    async fn delete(&self, key: &SessionKey) -> anyhow::Result<()> {
        let id = row_id(key.as_ref());
        db::write_query(&self.pool, move |conn| sessions::delete(conn, &id))
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))
    }
}
