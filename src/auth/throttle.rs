//! Slows down guessing and other costly actions: at most `limit` attempts within a window for
//! any one key (`email:…`, `ip:…`, `account:…`), further attempts get 429 until the window
//! ends. An attempt is counted before the work it guards (a password hash, a lookup),
//! atomically with the check, so concurrent attempts cannot all slip through one gap.
//!
//! The counts live in the database (`db::models::throttles`), so the limits hold for the whole
//! deployment however many instances share it (SPEC §3): 30 guesses spread over three
//! instances get at most 10 checks, as with one. Each key has one row: a fixed window that
//! starts with the first attempt after the previous one ended, and its count. So a key gets at
//! most `limit` attempts per window, and a burst never more; two windows back to back can
//! together allow up to `2 × limit` within one window's length (an attacker waiting for the
//! end of one window), the price of one row per key instead of a row per attempt.
//!
//! Keys are stored as a BLAKE3 hash keyed with a key derived from the server's secret (the
//! cookie key): the table names no email, address or account, and cannot be reversed by
//! hashing guesses without that secret.

use chrono::{Duration, NaiveDateTime};

use crate::db::models::throttles;
use crate::db::{self, Pool};
use crate::domain::UserId;
use crate::error::AppError;

pub struct Throttle {
    /// Part of every stored key, so one key counts separately in each throttle.
    name: &'static str,
    limit: i64,
    window: Duration,
    hash_key: [u8; 32],
}

/// The throttles of the deployment, counted in the database.
pub struct Throttles {
    /// Password checks of a login, per email and per address (SPEC §3: 10 a minute).
    pub login: Throttle,
    /// Current-password checks of a signed-in account (password change, re-authentication).
    pub password: Throttle,
    /// Second-factor codes (TOTP or recovery) per account, like passwords (SPEC §3.1): at login,
    /// at re-authentication and when confirming an authenticator.
    pub second_factor: Throttle,
    /// Sign-ups per address (SPEC §3: 20 an hour): each costs an argon2 hash.
    pub signup: Throttle,
    /// Member additions per account: each answers whether an email has an account.
    pub members: Throttle,
    /// Public leaked-token reports per address (SPEC §8.4: 60 an hour): each looks up to a
    /// thousand hashes, without credentials.
    pub reports: Throttle,
    /// CI token exchanges per address (SPEC §8.8): each may fetch an issuer's keys and
    /// check a signature, without credentials.
    pub ci_exchanges: Throttle,
    /// Passwordless passkey sign-ins begun per address (SPEC §3.1): each keeps its challenge
    /// in a new session row, for anyone who asks.
    pub passkey_sign_ins: Throttle,
}

/// What `Throttle::attempt` counted, for `forgive`: each stored key and its window's end.
#[must_use]
pub struct Counted(Vec<(Vec<u8>, i64)>);

impl Throttles {
    /// The throttles, their keys hashed under a key derived from `secret` (the cookie key's
    /// master key, which every instance shares).
    pub fn new(secret: &[u8]) -> Self {
        let hash_key = hash_key(secret);
        let throttle = |name, limit, window| Throttle {
            name,
            limit,
            window,
            hash_key,
        };
        Throttles {
            login: throttle("login", 10, Duration::minutes(1)),
            password: throttle("password", 10, Duration::minutes(1)),
            second_factor: throttle("second_factor", 10, Duration::minutes(1)),
            signup: throttle("signup", 20, Duration::hours(1)),
            members: throttle("members", 60, Duration::hours(1)),
            reports: throttle("reports", 60, Duration::hours(1)),
            ci_exchanges: throttle("ci_exchanges", 60, Duration::minutes(1)),
            passkey_sign_ins: throttle("passkey_sign_ins", 30, Duration::minutes(1)),
        }
    }

    /// An attempt to add a member (or change a role) by `user_id`: counted per account, since
    /// each answer tells whether an email has an account here.
    pub async fn members_attempt(
        &self,
        pool: &Pool,
        user_id: &UserId,
        now: NaiveDateTime,
    ) -> Result<(), AppError> {
        let _ = self
            .members
            .attempt(pool, &[format!("account:{user_id}")], now)
            .await?;
        Ok(())
    }
}

/// The key the stored keys of every throttle are hashed with, derived from `secret` (the cookie
/// key's master key, which every instance shares).
pub(crate) fn hash_key(secret: &[u8]) -> [u8; 32] {
    blake3::derive_key("mantel 2026-12 throttle keys", secret)
}

/// The stored key of `key` in the throttle `name`: part of every stored key, so one key counts
/// separately in each throttle.
pub(crate) fn stored_key(hash_key: &[u8; 32], name: &str, key: &str) -> Vec<u8> {
    let mut hasher = blake3::Hasher::new_keyed(hash_key);
    hasher.update(name.as_bytes());
    hasher.update(b"\0");
    hasher.update(key.as_bytes());
    hasher.finalize().as_bytes().to_vec()
}

impl Throttle {
    /// The stored key of `key` in this throttle.
    fn stored_key(&self, key: &str) -> Vec<u8> {
        stored_key(&self.hash_key, self.name, key)
    }

    /// Counts an attempt for every key, or refuses with the wait until the fullest key's window
    /// ends (then nothing is counted). Check and count are one transaction: on PostgreSQL the
    /// rows stay locked until it ends (keys in a fixed order, so two attempts cannot wait on
    /// each other), on SQLite it holds the file's write lock.
    pub async fn attempt(
        &self,
        pool: &Pool,
        keys: &[String],
        now: NaiveDateTime,
    ) -> Result<Counted, AppError> {
        let mut stored: Vec<Vec<u8>> = keys.iter().map(|k| self.stored_key(k)).collect();
        stored.sort();
        stored.dedup();
        let now_ms = now.and_utc().timestamp_millis();
        let (limit, window_ms) = (self.limit, self.window.num_milliseconds());
        db::write(pool, move |conn| {
            db::write_transaction(conn, |conn| {
                let mut counted = Vec::with_capacity(stored.len());
                let mut wait_ms = 0;
                for key in stored {
                    let window = throttles::count(conn, &key, now_ms, window_ms)?;
                    if window.count > limit {
                        wait_ms = wait_ms.max(window.until_ms - now_ms);
                    }
                    counted.push((key, window.until_ms));
                }
                if wait_ms > 0 {
                    // Rolls the transaction back: a refused attempt counts for no key.
                    let retry_after = (wait_ms as u64).div_ceil(1000).max(1);
                    return Err(AppError::RateLimited { retry_after });
                }
                Ok(Counted(counted))
            })
        })
        .await
    }

    /// Takes back an attempt that turned out well (a right password), so only failures use up
    /// the allowance. Failing to is no reason to fail the request: it is logged.
    pub async fn forgive(&self, pool: &Pool, counted: Counted) {
        let forgiven = db::write(pool, move |conn| {
            db::write_transaction(conn, |conn| {
                for (key, until_ms) in &counted.0 {
                    throttles::uncount(conn, key, *until_ms)?;
                }
                Ok::<_, db::DbError>(())
            })
        })
        .await;
        if let Err(e) = forgiven {
            tracing::warn!(error = %e, throttle = self.name, "could not take back an attempt");
        }
    }
}

/// Forgets ended windows, on the periodic sweep.
pub async fn sweep(pool: &Pool, now: NaiveDateTime) -> Result<usize, db::DbError> {
    let now_ms = now.and_utc().timestamp_millis();
    db::write_query(pool, move |conn| throttles::delete_ended(conn, now_ms)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start() -> NaiveDateTime {
        chrono::DateTime::from_timestamp(1_800_000_000, 0)
            .unwrap()
            .naive_utc()
    }

    #[actix_web::test]
    async fn the_eleventh_attempt_in_a_minute_is_refused_until_the_window_ends() {
        let (_dir, pool) = db::temp_pool().await;
        let t = &Throttles::new(&[7; 64]).login;
        let keys = vec!["email:a@example.com".to_owned()];
        for i in 0..10 {
            let _ = t
                .attempt(&pool, &keys, start() + Duration::seconds(i))
                .await
                .unwrap();
        }
        let err = t
            .attempt(&pool, &keys, start() + Duration::seconds(10))
            .await
            .err()
            .unwrap();
        assert!(
            matches!(err, AppError::RateLimited { retry_after: 50 }),
            "{err:?}"
        );
        let other = ["email:b@example.com".to_owned()];
        assert!(t.attempt(&pool, &other, start()).await.is_ok());
        assert!(t
            .attempt(&pool, &keys, start() + Duration::seconds(61))
            .await
            .is_ok());
    }

    #[actix_web::test]
    async fn a_refused_attempt_counts_for_no_key_and_a_forgiven_one_leaves_room() {
        let (_dir, pool) = db::temp_pool().await;
        let t = &Throttles::new(&[7; 64]).login;
        let ip = "ip:192.0.2.1".to_owned();
        for i in 0..10 {
            let _ = t
                .attempt(
                    &pool,
                    &[format!("email:{i}@example.com"), ip.clone()],
                    start(),
                )
                .await
                .unwrap();
        }
        // The address is full: this email's attempt is refused and not counted for it.
        let fresh = vec!["email:fresh@example.com".to_owned()];
        let both = [fresh[0].clone(), ip.clone()];
        assert!(t.attempt(&pool, &both, start()).await.is_err());
        for _ in 0..10 {
            let _ = t.attempt(&pool, &fresh, start()).await.unwrap();
        }
        assert!(t.attempt(&pool, &[ip], start()).await.is_err());

        let alone = vec!["email:alone@example.com".to_owned()];
        let mut last = None;
        for _ in 0..10 {
            last = Some(t.attempt(&pool, &alone, start()).await.unwrap());
        }
        assert!(t.attempt(&pool, &alone, start()).await.is_err());
        t.forgive(&pool, last.unwrap()).await;
        assert!(t.attempt(&pool, &alone, start()).await.is_ok());
    }

    #[test]
    fn stored_keys_name_nobody_and_depend_on_the_secret() {
        let key = "email:someone@example.com";
        let one = Throttles::new(&[1; 64]).login.stored_key(key);
        assert_eq!(one.len(), 32);
        assert!(!String::from_utf8_lossy(&one).contains("someone"));
        assert_ne!(one, Throttles::new(&[2; 64]).login.stored_key(key));
        assert_ne!(one, Throttles::new(&[1; 64]).password.stored_key(key));
    }
}
