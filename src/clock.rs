//! The one source of "now". Tests move it forward to expire tokens and sessions without sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{Duration, NaiveDateTime, Timelike, Utc};

#[derive(Clone, Debug, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    /// Now in UTC, truncated to microseconds: PostgreSQL keeps no more, and a time must read
    /// back equal on both backends.
    pub fn now(&self) -> NaiveDateTime {
        let now =
            Utc::now().naive_utc() + Duration::milliseconds(self.offset_ms.load(Ordering::Relaxed));
        // Not `duration_trunc`: its general arithmetic was half of this call, on every request.
        let nanos = now.nanosecond();
        now.with_nanosecond(nanos - nanos % 1_000).unwrap_or(now)
    }

    /// Moves this clock (and every clone of it) forward.
    pub fn advance(&self, by: Duration) {
        self.offset_ms
            .fetch_add(by.num_milliseconds(), Ordering::Relaxed);
    }
}
