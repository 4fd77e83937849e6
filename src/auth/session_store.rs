//! actix-session's `SessionStore`, kept in the database so that logout really ends a session,
//! every instance on one database shares sessions, and the idle and absolute limits hold.

use std::collections::HashMap;

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::cookie::time::Duration as CookieDuration;
use chrono::Duration;
use rand::distributions::Alphanumeric;
use rand::Rng;

use crate::clock::Clock;
use crate::db::models::security_log::{self, NewSecurityEvent};
use crate::db::{self, models::sessions, Pool};
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
/// How long a session may be idle.
pub const IDLE_LIMIT: Duration = Duration::hours(12);
/// How long a session may live from login, however busy.
pub const ABSOLUTE_LIMIT: Duration = Duration::days(7);
/// Idle expiry is pushed forward only when it would move by more than this.
const TOUCH_STEP: Duration = Duration::minutes(1);

#[derive(Clone)]
pub struct DbSessionStore {
    pool: Pool,
    clock: Clock,
}

impl DbSessionStore {
    pub fn new(pool: Pool, clock: Clock) -> Self {
        Self { pool, clock }
    }
}

/// The row id for a session key: its BLAKE3, so the table never holds a usable cookie value.
pub fn row_id(key: &str) -> String {
    blake3::hash(key.as_bytes()).to_hex().to_string()
}

fn ttl(ttl: &CookieDuration) -> Duration {
    Duration::seconds(ttl.whole_seconds()).min(IDLE_LIMIT)
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
    async fn insert_new(
        &self,
        mut state: HashMap<String, String>,
        ttl: Duration,
    ) -> anyhow::Result<SessionKey> {
        let key = new_key();
        let now = self.clock.now();
        let log_login = state.remove(LOG_LOGIN).is_some();
        let row = sessions::SessionRow {
            id: row_id(&key),
            user_id: string_of(&state, USER_ID).and_then(|id| UserId::parse(&id)),
            public_id: string_of(&state, PUBLIC_ID),
            ip: string_of(&state, IP),
            user_agent: string_of(&state, USER_AGENT),
            state: serde_json::to_string(&state)?,
            created_at: now,
            expires_at: now + ttl,
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
        let row = db::query(&self.pool, move |conn| sessions::find_live(conn, &id, now))
            .await
            .map_err(|e| LoadError::Other(anyhow::anyhow!("{e}")))?;
        match row {
            Some(row) if row.created_at + ABSOLUTE_LIMIT > now => serde_json::from_str(&row.state)
                .map(Some)
                .map_err(|e| LoadError::Deserialization(e.into())),
            _ => Ok(None),
        }
    }

    async fn save(
        &self,
        state: HashMap<String, String>,
        ttl_: &CookieDuration,
    ) -> Result<SessionKey, SaveError> {
        self.insert_new(state, ttl(ttl_))
            .await
            .map_err(SaveError::Other)
    }

    async fn update(
        &self,
        key: SessionKey,
        state: HashMap<String, String>,
        ttl_: &CookieDuration,
    ) -> Result<SessionKey, UpdateError> {
        let ttl = ttl(ttl_);
        let id = row_id(key.as_ref());
        let now = self.clock.now();
        let user_id = string_of(&state, USER_ID).and_then(|id| UserId::parse(&id));
        let json =
            serde_json::to_string(&state).map_err(|e| UpdateError::Serialization(e.into()))?;
        // When no live row has this id the session was ended (logout, a password change, "end
        // this session") or expired while this request ran: it stays gone. Writing the state
        // back under a new key would revive a signed-out session for whoever holds the old
        // cookie. The cookie keeps naming a row that does not exist, which loads as signed out.
        db::write_query(&self.pool, move |conn| {
            sessions::update_state(conn, &id, user_id, json, now + ttl, ABSOLUTE_LIMIT, now)
        })
        .await
        .map_err(|e| UpdateError::Other(anyhow::anyhow!("{e}")))?;
        Ok(key)
    }

    async fn update_ttl(&self, key: &SessionKey, ttl_: &CookieDuration) -> anyhow::Result<()> {
        let ttl = ttl(ttl_);
        let id = row_id(key.as_ref());
        let now = self.clock.now();
        db::write_query(&self.pool, move |conn| {
            sessions::touch(conn, &id, now + ttl, ABSOLUTE_LIMIT, TOUCH_STEP, now)
        })
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
    }

    async fn delete(&self, key: &SessionKey) -> anyhow::Result<()> {
        let id = row_id(key.as_ref());
        db::write_query(&self.pool, move |conn| sessions::delete(conn, &id))
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))
    }
}
