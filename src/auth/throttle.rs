//! Slows down password guessing: after `LIMIT` failed logins within a minute for one email
//! or from one address, further attempts get 429 until the window has room again.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use chrono::{Duration, NaiveDateTime};

use crate::error::AppError;

const LIMIT: usize = 10;
const WINDOW: Duration = Duration::minutes(1);

#[derive(Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<String, VecDeque<NaiveDateTime>>>,
}

impl LoginThrottle {
    /// Refuses when any of `keys` (e.g. `email:…`, `ip:…`) has used up its failures.
    pub fn check(&self, keys: &[String], now: NaiveDateTime) -> Result<(), AppError> {
        let mut failures = self.failures.lock().expect("throttle lock");
        let mut wait = Duration::zero();
        for key in keys {
            if let Some(times) = failures.get_mut(key) {
                while times.front().is_some_and(|t| *t + WINDOW <= now) {
                    times.pop_front();
                }
                if times.len() >= LIMIT {
                    wait = wait.max(times[times.len() - LIMIT] + WINDOW - now);
                }
            }
        }
        if wait > Duration::zero() {
            let retry_after = (wait.num_milliseconds() as u64).div_ceil(1000).max(1);
            return Err(AppError::RateLimited { retry_after });
        }
        Ok(())
    }

    pub fn record_failure(&self, keys: &[String], now: NaiveDateTime) {
        let mut failures = self.failures.lock().expect("throttle lock");
        // Forget idle keys so the map cannot grow without bound.
        if failures.len() > 100_000 {
            failures.retain(|_, times| times.back().is_some_and(|t| *t + WINDOW > now));
        }
        for key in keys {
            failures.entry(key.clone()).or_default().push_back(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_eleventh_failure_in_a_minute_is_refused_until_the_window_moves() {
        let t = LoginThrottle::default();
        let keys = vec!["email:a@example.com".to_owned()];
        let start = chrono::DateTime::from_timestamp(1_800_000_000, 0)
            .unwrap()
            .naive_utc();
        for i in 0..10 {
            t.check(&keys, start).unwrap();
            t.record_failure(&keys, start + Duration::seconds(i));
        }
        let err = t.check(&keys, start + Duration::seconds(10)).unwrap_err();
        assert!(
            matches!(err, AppError::RateLimited { retry_after: 50 }),
            "{err:?}"
        );
        assert!(t.check(&["email:b@example.com".to_owned()], start).is_ok());
        assert!(t.check(&keys, start + Duration::seconds(61)).is_ok());
    }
}
