//! Last-use bookkeeping kept off the request path: a bearer request only notes the use in
//! memory, and a background task writes the notes in one batch every few seconds. So are
//! presentations of tokens that no longer work, which their owners are told of once a day.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use chrono::NaiveDateTime;

use crate::db::models::tokens::{self, LastUse, TokenRow, LAST_USED_RESOLUTION};
use crate::db::{self, write_transaction, DbError, Pool};
use crate::domain::TokenId;
use crate::notify::{Notice, Notifier};

#[derive(Default)]
pub struct LastUsed {
    pending: Mutex<HashMap<TokenId, (NaiveDateTime, Option<String>)>>,
    /// Revoked, expired or replaced tokens presented since the last flush (the first
    /// presentation of each).
    stopped: Mutex<HashMap<TokenId, StoppedUse>>,
}

/// A stopped token, when and from where it was presented.
type StoppedUse = (TokenRow, NaiveDateTime, Option<IpAddr>);

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
        pending
            .entry(token_id.clone())
            .or_insert_with(|| (now, ip.map(|ip| ip.to_string())));
    }

    /// Notes that a token that no longer works was presented.
    pub fn note_stopped(&self, token: &TokenRow, now: NaiveDateTime, ip: Option<IpAddr>) {
        let mut stopped = self.stopped.lock().expect("last-used lock");
        stopped
            .entry(token.id.clone())
            .or_insert_with(|| (token.clone(), now, ip));
    }

    /// Uses noted and not yet written: the background queue's backlog.
    pub fn pending(&self) -> usize {
        self.pending.lock().expect("last-used lock").len()
    }

    /// Writes what was noted since the last flush.
    pub async fn flush(&self, pool: &Pool, notifier: &Notifier) -> Result<(), DbError> {
        let stopped: Vec<_> = {
            let mut stopped = self.stopped.lock().expect("last-used lock");
            stopped.drain().map(|(_, noted)| noted).collect()
        };
        if !stopped.is_empty() {
            let notifier = notifier.clone();
            db::query(pool, move |conn| {
                write_transaction(conn, |conn| {
                    for (token, at, ip) in &stopped {
                        let notice = Notice::UsedAfterRevocation {
                            ip: ip.map(|ip| ip.to_string()),
                            day: at.date(),
                        };
                        notifier.record(conn, token, &notice, *at)?;
                    }
                    Ok(())
                })
            })
            .await?;
        }
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
        db::query(pool, move |conn| tokens::record_last_used(conn, &uses)).await
    }
}
