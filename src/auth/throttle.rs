//! Slows down guessing and other costly actions: at most `limit` attempts within `window` for
//! any one key (`email:…`, `ip:…`, `account:…`), further attempts get 429 until the window has
//! room again. An attempt is counted before the work it guards (a password hash, a lookup),
//! atomically with the check, so concurrent attempts cannot all slip through one gap.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use chrono::{Duration, NaiveDateTime};

use crate::domain::UserId;
use crate::error::AppError;

pub struct Throttle {
    limit: usize,
    window: Duration,
    attempts: Mutex<HashMap<String, VecDeque<NaiveDateTime>>>,
}

/// The throttles of one instance (in memory: each instance counts its own).
pub struct Throttles {
    /// Password checks of a login, per email and per address (SPEC §3: 10 a minute).
    pub login: Throttle,
    /// Current-password checks of a signed-in account (password change, re-authentication).
    pub password: Throttle,
    /// Sign-ups per address (SPEC §3: 20 an hour): each costs an argon2 hash.
    pub signup: Throttle,
    /// Member additions per account: each answers whether an email has an account.
    pub members: Throttle,
    /// Public leaked-token reports per address (SPEC §8.4: 60 an hour): each looks up to a
    /// thousand hashes, without credentials.
    pub reports: Throttle,
}

impl Default for Throttles {
    fn default() -> Self {
        Throttles {
            login: Throttle::new(10, Duration::minutes(1)),
            password: Throttle::new(10, Duration::minutes(1)),
            signup: Throttle::new(20, Duration::hours(1)),
            members: Throttle::new(60, Duration::hours(1)),
            reports: Throttle::new(60, Duration::hours(1)),
        }
    }
}

impl Throttles {
    /// An attempt to add a member (or change a role) by `user_id`: counted per account, since
    /// each answer tells whether an email has an account here.
    pub fn members_attempt(&self, user_id: &UserId, now: NaiveDateTime) -> Result<(), AppError> {
        self.members.attempt(&[format!("account:{user_id}")], now)
    }
}

impl Throttle {
    pub fn new(limit: usize, window: Duration) -> Self {
        Throttle {
            limit,
            window,
            attempts: Mutex::new(HashMap::new()),
        }
    }

    /// Counts an attempt for every key, or refuses with the wait until the fullest key has
    /// room again (then nothing is counted). Check and count happen under one lock.
    pub fn attempt(&self, keys: &[String], now: NaiveDateTime) -> Result<(), AppError> {
        let mut attempts = self.attempts.lock().expect("throttle lock");
        // Forget idle keys so the map cannot grow without bound.
        if attempts.len() > 100_000 {
            attempts.retain(|_, times| times.back().is_some_and(|t| *t + self.window > now));
        }
        let mut wait = Duration::zero();
        for key in keys {
            if let Some(times) = attempts.get_mut(key) {
                while times.front().is_some_and(|t| *t + self.window <= now) {
                    times.pop_front();
                }
                if times.len() >= self.limit {
                    wait = wait.max(times[times.len() - self.limit] + self.window - now);
                }
            }
        }
        if wait > Duration::zero() {
            let retry_after = (wait.num_milliseconds() as u64).div_ceil(1000).max(1);
            return Err(AppError::RateLimited { retry_after });
        }
        for key in keys {
            attempts.entry(key.clone()).or_default().push_back(now);
        }
        Ok(())
    }

    /// Takes back an attempt made at `at` that turned out well (a right password), so only
    /// failures use up the allowance.
    pub fn forgive(&self, keys: &[String], at: NaiveDateTime) {
        let mut attempts = self.attempts.lock().expect("throttle lock");
        for key in keys {
            if let Some(times) = attempts.get_mut(key) {
                if let Some(i) = times.iter().rposition(|t| *t == at) {
                    times.remove(i);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start() -> NaiveDateTime {
        chrono::DateTime::from_timestamp(1_800_000_000, 0)
            .unwrap()
            .naive_utc()
    }

    #[test]
    fn the_eleventh_attempt_in_a_minute_is_refused_until_the_window_moves() {
        let t = Throttle::new(10, Duration::minutes(1));
        let keys = vec!["email:a@example.com".to_owned()];
        for i in 0..10 {
            t.attempt(&keys, start() + Duration::seconds(i)).unwrap();
        }
        let err = t
            .attempt(&keys, start() + Duration::seconds(10))
            .unwrap_err();
        assert!(
            matches!(err, AppError::RateLimited { retry_after: 50 }),
            "{err:?}"
        );
        assert!(t
            .attempt(&["email:b@example.com".to_owned()], start())
            .is_ok());
        assert!(t.attempt(&keys, start() + Duration::seconds(61)).is_ok());
    }

    #[test]
    fn a_forgiven_attempt_leaves_room() {
        let t = Throttle::new(2, Duration::minutes(1));
        let keys = vec!["ip:192.0.2.1".to_owned()];
        t.attempt(&keys, start()).unwrap();
        t.attempt(&keys, start()).unwrap();
        assert!(t.attempt(&keys, start()).is_err());
        t.forgive(&keys, start());
        assert!(t.attempt(&keys, start()).is_ok());
    }
}
