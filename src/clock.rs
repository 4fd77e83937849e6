//! The one source of "now". Tests move it forward to expire tokens and sessions without sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Duration, DurationRound, NaiveDateTime, Utc};

#[derive(Clone, Debug, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    /// Now in UTC, truncated to microseconds: PostgreSQL keeps no more, and a time must read
    /// back equal on both backends.
    pub fn now(&self) -> NaiveDateTime {
        self.now_utc().naive_utc()
    }

    pub fn now_utc(&self) -> DateTime<Utc> {
        let now = Utc::now() + Duration::milliseconds(self.offset_ms.load(Ordering::Relaxed));
        now.duration_trunc(Duration::microseconds(1)).unwrap_or(now)
    }

    /// Moves this clock (and every clone of it) forward.
    pub fn advance(&self, by: Duration) {
        self.offset_ms
            .fetch_add(by.num_milliseconds(), Ordering::Relaxed);
    }
}
