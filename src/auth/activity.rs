//! Per-token activity, recorded off the request path (SPEC §8.3). A bearer request whose
//! token was identified pushes one record into a bounded queue (no lock, no allocation beyond
//! the record); a background task writes the queue in batches. When the queue is full the
//! request is not slowed: the record is dropped and counted, per token and day (the token page
//! says how many) and in total (`/metrics`). The batches also bring what the owner is told:
//! a working token's first use from a new address, and a stopped token still presented (at
//! most daily, and nothing else however many addresses present it).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Mutex;

use actix_web::http::Method;

use crate::db::models::security_log::{self, Client, NewSecurityEvent};
use crate::db::models::token_activity::{self, NewRequest, Unrecorded};
use crate::db::models::tokens;
use crate::db::{self, write_transaction, DbError, Pool};
use crate::domain::{ip_text, SecurityKind};
use crate::notify::{Notice, Notifier};

/// Records the queue holds between two writes (about a second of a busy instance).
pub const CAPACITY: usize = 16_384;

pub struct Activity {
    queue: SyncSender<NewRequest>,
    pending: Mutex<Receiver<NewRequest>>,
    /// Dropped records by token and day, written with the next batch.
    unrecorded: Mutex<Unrecorded>,
    dropped: AtomicU64,
}

impl Default for Activity {
    fn default() -> Self {
        Activity::with_capacity(CAPACITY)
    }
}

impl Activity {
    pub fn with_capacity(capacity: usize) -> Activity {
        let (queue, pending) = sync_channel(capacity);
        Activity {
            queue,
            pending: Mutex::new(pending),
            unrecorded: Mutex::default(),
            dropped: AtomicU64::new(0),
        }
    }

    /// Queues a record, or drops and counts it when the queue is full.
    pub fn push(&self, request: NewRequest) {
        if let Err(TrySendError::Full(request) | TrySendError::Disconnected(request)) =
            self.queue.try_send(request)
        {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            let mut unrecorded = self.unrecorded.lock().expect("activity lock");
            *unrecorded
                .entry((request.token_id, request.at.date()))
                .or_default() += 1;
        }
    }

    /// Records dropped since start-up, for `/metrics`.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Writes what was queued since the last flush; answers how many records.
    pub async fn flush(&self, pool: &Pool, notifier: &Notifier) -> Result<usize, DbError> {
        let requests: Vec<NewRequest> = {
            let pending = self.pending.lock().expect("activity lock");
            pending.try_iter().take(CAPACITY).collect()
        };
        let unrecorded = std::mem::take(&mut *self.unrecorded.lock().expect("activity lock"));
        if requests.is_empty() && unrecorded.is_empty() {
            return Ok(0);
        }
        let notifier = notifier.clone();
        let written = requests.len();
        db::write_query(pool, move |conn| {
            write_transaction(conn, |conn| {
                let new_addresses = token_activity::record_batch(conn, &requests, &unrecorded)?;
                // What the owners are told, in the same transaction as the records, each at
                // the time and with the client (for the security log) of the request behind it.
                // A new address is news only from a request the token worked for: a stopped
                // token presented from anywhere gets the daily notice below and nothing else.
                let mut notices: Vec<(&NewRequest, Notice)> = new_addresses
                    .into_iter()
                    .filter_map(|(token_id, ip)| {
                        let r = requests.iter().find(|r| {
                            r.token_id == token_id && r.ip == Some(ip) && !r.outcome.is_after_stop()
                        })?;
                        Some((r, Notice::UsedFromNewIp { ip: ip_text(ip) }))
                    })
                    .collect();
                let mut stopped = HashMap::new();
                for r in requests.iter().filter(|r| r.outcome.is_after_stop()) {
                    stopped
                        .entry((r.token_id.clone(), r.at.date()))
                        .or_insert(r);
                }
                notices.extend(stopped.into_values().map(|r| {
                    let day = r.at.date();
                    (
                        r,
                        Notice::UsedAfterRevocation {
                            ip: r.ip.map(ip_text),
                            day,
                        },
                    )
                }));
                for (r, notice) in notices {
                    let Some(token) = tokens::find(conn, &r.token_id)? else {
                        continue;
                    };
                    // Logged when first told: once per address, once a day after a stop.
                    if notifier.record(conn, &token, &notice, r.at)? {
                        let kind = match notice {
                            Notice::UsedFromNewIp { .. } => SecurityKind::TokenUsedFromNewIp,
                            _ => SecurityKind::TokenUsedAfterRevocation,
                        };
                        let client = Client {
                            ip: r.ip.map(ip_text),
                            user_agent: r.user_agent.clone(),
                        };
                        let event = NewSecurityEvent::token(kind, &token, &client);
                        security_log::record(conn, &event, r.at)?;
                    }
                }
                Ok(())
            })
        })
        .await?;
        Ok(written)
    }
}

/// A method's name as the activity record and the metrics keep it: a `&'static str`, so no
/// request allocates one. A method outside the standard ones is "other": a client picks the
/// method, and must not be able to grow a label set (or the records) without bound.
pub fn method_name(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}
