//! Last-use bookkeeping kept off the request path: a bearer request only notes the use in
//! memory, and a background task writes the notes in one batch every few seconds.

use std::net::IpAddr;
use std::sync::Mutex;

use chrono::NaiveDateTime;

use crate::db::models::tokens::{self, LastUse, LAST_USED_RESOLUTION};
use crate::db::{self, DbError, Pool};
use crate::domain::{ip_text, TokenId};

#[derive(Default)]
pub struct LastUsed {
    pending: Mutex<foldhash::HashMap<TokenId, (NaiveDateTime, Option<String>)>>,
}

impl LastUsed {
    /// Notes a use unless the stored last use is recent enough already. The address is
    /// written out as text only then: most requests of a busy token note nothing.
    pub fn note(
        &self,
        token_id: &TokenId,
        stored: Option<NaiveDateTime>,
        now: NaiveDateTime,
        ip: Option<IpAddr>,
    ) {
        if stored.is_some_and(|at| now - at < LAST_USED_RESOLUTION) {
            return;
        }
        let mut pending = self.pending.lock().expect("last-used lock");
        // The cached row's last use may be older than the stored one (the caches keep a row
        // across last-use writes): a busy token then finds itself noted already, without a
        // copy of its id.
        if pending.contains_key(token_id) {
            return;
        }
        pending.insert(token_id.clone(), (now, ip.map(ip_text)));
    }

    /// Uses noted and not yet written: the background queue's backlog.
    pub fn pending(&self) -> usize {
        self.pending.lock().expect("last-used lock").len()
    }

    /// Writes what was noted since the last flush.
    pub async fn flush(&self, pool: &Pool) -> Result<(), DbError> {
        let uses: Vec<_> = {
            let mut pending = self.pending.lock().expect("last-used lock");
            pending
                .drain()
                .map(|(id, (at, ip))| LastUse { id, at, ip })
                .collect()
        };
        if uses.is_empty() {
            return Ok(());
        }
        db::write_query(pool, move |conn| tokens::record_last_used(conn, &uses)).await
    }
}
