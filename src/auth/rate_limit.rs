//! Bearer rate limits: every token gets `--token-rate-limit` requests an hour for the whole
//! deployment, and an address that keeps presenting bad tokens is refused before any lookup
//! (that one still in the memory of each instance).
//!
//! The token quota is GCRA (one request back every hour / quota, a burst of the whole quota)
//! kept in the database (`db::models::token_quotas`), so every instance spends the same
//! quota and a restart refills nothing. An instance does not ask the database for each
//! request: it takes a slice (1 % of the quota, at least one request) and spends it in memory;
//! only when its slice is used up does a request take the next one (one write transaction).
//! Slices are reserved when taken, so the deployment may let through at most instances ×
//! slice more than the quota in one window (a slice taken early, spent after the bucket
//! refilled); the `RateLimit` fields report the deployment's remaining quota as of this
//! instance's last take, plus what is left of its slice. With the default 5000 an hour, a
//! slice is 50 requests.
//!
//! Cost on the bearer hot path (SPEC §7): while a slice lasts, one lock of a map keyed by
//! token id and a decrement — no database work. The address check is one atomic load while no
//! address is blocked; only under attack does it take a read lock on the (small) map of
//! blocked addresses.
//!
//! The response fields follow draft-ietf-httpapi-ratelimit-headers-11 (May 2026), whose fields
//! are Structured Field Lists: `RateLimit-Policy: "default";q=5000;w=3600` (quota `q` per
//! window `w` seconds) and `RateLimit: "default";r=4999;t=1` (`r` left, `t` seconds).

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{NotUntil, Quota, RateLimiter};

use crate::db::models::token_quotas;
use crate::db::{self, DbError, Pool};
use crate::domain::TokenId;
use crate::error::AppError;

/// SPEC §8.6: requests an hour per token unless `--token-rate-limit` says otherwise.
pub const DEFAULT_TOKEN_RATE_LIMIT: u32 = 5000;
/// Bad bearer credentials (malformed, unknown, revoked, expired) one address may present a
/// minute before its bearer requests get 429 without a lookup: far more than a person
/// mistyping, far fewer than a scan.
pub const FAILURES_PER_MINUTE: u32 = 100;

type Keyed<K> = RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock, StateInformationMiddleware>;

static RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
static RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// One quota policy, as the `RateLimit-Policy` field names it.
#[derive(Clone, Debug)]
struct Policy {
    name: &'static str,
    quota: u32,
    window_secs: u64,
    /// The `RateLimit-Policy` field, formatted once: every bearer answer carries it.
    field: HeaderValue,
}

impl Policy {
    fn new(name: &'static str, quota: u32, window_secs: u64) -> Policy {
        let field = HeaderValue::try_from(format!("\"{name}\";q={quota};w={window_secs}"))
            .expect("a policy field is visible ASCII");
        Policy {
            name,
            quota,
            window_secs,
            field,
        }
    }

    fn governor(&self) -> Quota {
        let quota = NonZeroU32::new(self.quota).expect("a rate limit is at least 1");
        let period = Duration::from_secs(self.window_secs) / self.quota;
        Quota::with_period(period)
            .expect("a window of at least one second")
            .allow_burst(quota)
    }

    /// Seconds until `remaining` has grown back to the whole quota: an upper bound, since
    /// the bucket refills one request every `window / quota`. Never 0, so a client that
    /// divides by it does not blow up.
    fn seconds_to_full(&self, remaining: u32) -> u64 {
        let used = u64::from(self.quota.saturating_sub(remaining));
        (used * self.window_secs)
            .div_ceil(u64::from(self.quota))
            .max(1)
    }
}

/// What a bearer request's response says about its quota.
#[derive(Clone, Debug)]
pub struct Allowance {
    policy: Policy,
    remaining: u32,
    /// The `t` of the `RateLimit` field: the seconds within which no more than `remaining`
    /// requests should be sent. After a refusal it is the `Retry-After`, which the draft
    /// says must not end before it.
    reset_secs: u64,
}

impl Allowance {
    pub fn remaining(&self) -> u32 {
        self.remaining
    }

    /// Adds `RateLimit-Policy` and `RateLimit` to a response's headers.
    // On every bearer answer: no `format!` (measured: a tenth of what authentication added;
    // docs/benchmarks.md).
    pub fn write_headers(&self, headers: &mut HeaderMap) {
        headers.insert(RATELIMIT_POLICY.clone(), self.policy.field.clone());
        let (mut r, mut t) = (itoa::Buffer::new(), itoa::Buffer::new());
        let state = [
            "\"",
            self.policy.name,
            "\";r=",
            r.format(self.remaining),
            ";t=",
            t.format(self.reset_secs),
        ]
        .concat();
        if let Ok(value) = HeaderValue::try_from(state) {
            headers.insert(RATELIMIT.clone(), value);
        }
    }
}

/// A refused request: the error to answer and the quota state its response carries.
#[derive(Debug)]
pub struct Refusal {
    pub allowance: Allowance,
    pub retry_after: u64,
}

impl Refusal {
    pub fn error(&self) -> AppError {
        AppError::RateLimited {
            retry_after: self.retry_after,
        }
    }
}

/// What is left of the slice of a token's quota this instance took.
struct Slice {
    /// Requests this instance may still answer.
    left: u32,
    /// The token's theoretical arrival time (Unix ns) after this instance's last take.
    tat_ns: i64,
    /// Used since the last `forget_idle`.
    touched: bool,
}

pub struct RateLimits {
    token_policy: Policy,
    /// This instance's slices of tokens' quotas.
    tokens: Mutex<HashMap<TokenId, Slice>>,
    /// Requests a slice holds.
    slice: u32,
    /// `None` when turned off (`--bearer-failure-limit 0`).
    failures: Option<(Policy, Keyed<IpAddr>)>,
    /// Addresses whose failure allowance is used up, until when. Read without a lock while
    /// empty (`blocked_len`), which is always but under attack.
    blocked: RwLock<HashMap<IpAddr, Instant>>,
    blocked_len: AtomicUsize,
}

impl RateLimits {
    /// `token_rate_limit` requests an hour per token, `failure_limit` bad credentials a minute
    /// per address (0: no such limit).
    pub fn new(token_rate_limit: u32, failure_limit: u32) -> Self {
        let token_policy = Policy::new("default", token_rate_limit.max(1), 3600);
        let failures = (failure_limit > 0).then(|| {
            let policy = Policy::new("failures", failure_limit, 60);
            let limiter = RateLimiter::keyed(policy.governor()).with_middleware();
            (policy, limiter)
        });
        RateLimits {
            tokens: Mutex::new(HashMap::new()),
            slice: (token_policy.quota / 100).max(1),
            token_policy,
            failures,
            blocked: RwLock::new(HashMap::new()),
            blocked_len: AtomicUsize::new(0),
        }
    }

    /// Nanoseconds between two requests of the quota, and the window.
    fn gcra(&self) -> (i64, i64) {
        let window_ns = self.token_policy.window_secs as i64 * 1_000_000_000;
        (window_ns / i64::from(self.token_policy.quota), window_ns)
    }

    /// The deployment's remaining quota at `now_ns` for a theoretical arrival time `tat_ns`.
    fn remaining_at(&self, tat_ns: i64, now_ns: i64) -> u32 {
        let (interval_ns, window_ns) = self.gcra();
        let left = (now_ns + window_ns - tat_ns.max(now_ns)).max(0) / interval_ns.max(1);
        u32::try_from(left).unwrap_or(u32::MAX)
    }

    fn allowance(&self, remaining: u32) -> Allowance {
        let policy = &self.token_policy;
        Allowance {
            policy: policy.clone(),
            remaining,
            reset_secs: policy.seconds_to_full(remaining),
        }
    }

    /// Counts one request of `token` against its hourly quota: from this instance's slice, or
    /// when that is used up from a new slice taken from the database. `Err` only when the
    /// database could not be asked.
    pub async fn token_request(
        &self,
        pool: &Pool,
        token: &TokenId,
        now: NaiveDateTime,
    ) -> Result<Result<Allowance, Refusal>, DbError> {
        let now_ns = now.and_utc().timestamp_nanos_opt().unwrap_or(i64::MAX);
        if let Some(allowance) = self.spend(token, now_ns) {
            return Ok(Ok(allowance));
        }
        let (interval_ns, window_ns) = self.gcra();
        let (id, want) = (token.clone(), i64::from(self.slice));
        let taken = db::write_query(pool, move |conn| {
            token_quotas::take(conn, &id, want, interval_ns, window_ns, now_ns)
        })
        .await?;
        if taken.granted == 0 {
            let wait_ns = taken.tat_ns.max(now_ns) + interval_ns - window_ns - now_ns;
            let retry_after = secs_ceil(Duration::from_nanos(wait_ns.max(0) as u64));
            return Ok(Err(Refusal {
                allowance: Allowance {
                    policy: self.token_policy.clone(),
                    remaining: 0,
                    reset_secs: retry_after,
                },
                retry_after,
            }));
        }
        let granted = u32::try_from(taken.granted).unwrap_or(u32::MAX);
        let mut slices = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        let slice = slices.entry(token.clone()).or_insert(Slice {
            left: 0,
            tat_ns: taken.tat_ns,
            touched: true,
        });
        // This request spends one; what a concurrent take left here stays.
        slice.left += granted - 1;
        slice.tat_ns = slice.tat_ns.max(taken.tat_ns);
        slice.touched = true;
        let remaining = self.remaining_at(slice.tat_ns, now_ns) + slice.left;
        Ok(Ok(self.allowance(remaining)))
    }

    /// One request from this instance's slice of `token`'s quota, if any is left.
    fn spend(&self, token: &TokenId, now_ns: i64) -> Option<Allowance> {
        let mut slices = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        let slice = slices.get_mut(token).filter(|s| s.left > 0)?;
        slice.left -= 1;
        slice.touched = true;
        let remaining = self.remaining_at(slice.tat_ns, now_ns) + slice.left;
        drop(slices);
        Some(self.allowance(remaining))
    }

    /// Refuses an address whose failure allowance is used up, before any work is done for
    /// its request. While no address is blocked this is one atomic load.
    pub fn check_address(&self, ip: Option<IpAddr>) -> Result<(), Refusal> {
        if self.blocked_len.load(Ordering::Relaxed) == 0 {
            return Ok(());
        }
        let Some(ip) = ip else { return Ok(()) };
        let until = {
            let blocked = self.blocked.read().expect("rate-limit lock");
            blocked.get(&ip).copied()
        };
        let (Some(until), Some((policy, _))) = (until, &self.failures) else {
            return Ok(());
        };
        let now = Instant::now();
        if until <= now {
            let mut blocked = self.blocked.write().expect("rate-limit lock");
            if blocked.get(&ip).is_some_and(|u| *u <= now) {
                blocked.remove(&ip);
                self.blocked_len.store(blocked.len(), Ordering::Relaxed);
            }
            return Ok(());
        }
        let retry_after = secs_ceil(until - now);
        Err(Refusal {
            allowance: Allowance {
                policy: policy.clone(),
                remaining: 0,
                reset_secs: retry_after,
            },
            retry_after,
        })
    }

    /// Counts a bad credential presented from `ip`. The answer's quota state is the
    /// address's; once the allowance is used up, this request and the address's next bearer
    /// requests get 429 (counted after the failure, so concurrent guesses in flight may each
    /// cost one lookup: the same indexed read a valid token costs, never a password hash).
    pub fn failure(&self, ip: Option<IpAddr>) -> Result<Option<Allowance>, Refusal> {
        let (Some(ip), Some((policy, failures))) = (ip, &self.failures) else {
            return Ok(None);
        };
        match failures.check_key(&ip) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                Ok(Some(Allowance {
                    policy: policy.clone(),
                    remaining,
                    reset_secs: policy.seconds_to_full(remaining),
                }))
            }
            Err(not_until) => {
                let refusal = self.refusal(policy, &not_until);
                let mut blocked = self.blocked.write().expect("rate-limit lock");
                blocked.insert(
                    ip,
                    Instant::now() + Duration::from_secs(refusal.retry_after),
                );
                self.blocked_len.store(blocked.len(), Ordering::Relaxed);
                Err(refusal)
            }
        }
    }

    fn refusal(
        &self,
        policy: &Policy,
        not_until: &NotUntil<<DefaultClock as Clock>::Instant>,
    ) -> Refusal {
        let retry_after = secs_ceil(not_until.wait_time_from(DefaultClock::default().now()));
        Refusal {
            allowance: Allowance {
                policy: policy.clone(),
                remaining: 0,
                reset_secs: retry_after,
            },
            retry_after,
        }
    }

    /// Forgets tokens and addresses whose buckets are full again, so memory follows the
    /// recent callers rather than every caller since start-up. Run in the background.
    pub fn forget_idle(&self) {
        {
            // An idle token's unspent slice is given up (at most a slice of its quota, which
            // refills within the hour anyway).
            let mut slices = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
            slices.retain(|_, s| std::mem::take(&mut s.touched));
        }
        if let Some((_, failures)) = &self.failures {
            failures.retain_recent();
        }
        let now = Instant::now();
        let mut blocked = self.blocked.write().expect("rate-limit lock");
        blocked.retain(|_, until| *until > now);
        self.blocked_len.store(blocked.len(), Ordering::Relaxed);
    }
}

/// Whole seconds, rounded up, at least 1: `Retry-After: 0` would invite a busy loop.
fn secs_ceil(d: Duration) -> u64 {
    d.as_millis().div_ceil(1000).max(1) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::RETRY_AFTER;

    fn start() -> NaiveDateTime {
        chrono::DateTime::from_timestamp(1_800_000_000, 0)
            .unwrap()
            .naive_utc()
    }

    #[actix_web::test]
    async fn the_fourth_request_of_a_three_an_hour_token_is_refused_and_others_are_not() {
        let (_dir, pool) = db::temp_pool().await;
        let limits = RateLimits::new(3, FAILURES_PER_MINUTE);
        let token = TokenId::new();
        let mut remaining = Vec::new();
        for _ in 0..3 {
            let allowance = limits.token_request(&pool, &token, start()).await;
            remaining.push(allowance.unwrap().unwrap().remaining());
        }
        assert_eq!(remaining, [2, 1, 0]);
        let refusal = limits
            .token_request(&pool, &token, start())
            .await
            .unwrap()
            .unwrap_err();
        // One request every 20 minutes comes back.
        assert_eq!(refusal.retry_after, 1200);
        assert!(matches!(
            refusal.error(),
            AppError::RateLimited { retry_after } if retry_after == refusal.retry_after
        ));
        let other = limits.token_request(&pool, &TokenId::new(), start()).await;
        assert_eq!(other.unwrap().unwrap().remaining(), 2);
        // Another instance on the same database finds the quota spent, and so does a restart.
        let elsewhere = RateLimits::new(3, FAILURES_PER_MINUTE);
        let later = start() + chrono::Duration::minutes(20);
        let first = elsewhere.token_request(&pool, &token, later).await.unwrap();
        assert_eq!(first.unwrap().remaining(), 0);
        assert!(elsewhere
            .token_request(&pool, &token, later)
            .await
            .unwrap()
            .is_err());
    }

    #[actix_web::test]
    async fn an_instance_spends_its_slice_without_the_database() {
        let (_dir, pool) = db::temp_pool().await;
        let limits = RateLimits::new(5000, FAILURES_PER_MINUTE);
        let token = TokenId::new();
        let first = limits.token_request(&pool, &token, start()).await.unwrap();
        assert_eq!(first.unwrap().remaining(), 4999);
        let other = RateLimits::new(5000, FAILURES_PER_MINUTE);
        let theirs = other.token_request(&pool, &token, start()).await.unwrap();
        // The other instance sees the first one's slice of 50 as spent.
        assert_eq!(theirs.unwrap().remaining(), 4949);
        for _ in 0..49 {
            assert!(limits.spend(&token, 0).is_some());
        }
        assert!(limits.spend(&token, 0).is_none(), "the slice is used up");
    }

    #[actix_web::test]
    async fn headers_follow_the_draft() {
        let (_dir, pool) = db::temp_pool().await;
        let limits = RateLimits::new(5000, FAILURES_PER_MINUTE);
        let allowance = limits
            .token_request(&pool, &TokenId::new(), start())
            .await
            .unwrap()
            .unwrap();
        let mut headers = HeaderMap::new();
        allowance.write_headers(&mut headers);
        let field = |name: &str| headers.get(name).unwrap().to_str().unwrap().to_owned();
        assert_eq!(field("ratelimit-policy"), r#""default";q=5000;w=3600"#);
        assert_eq!(field("ratelimit"), r#""default";r=4999;t=1"#);
        assert!(!headers.contains_key(RETRY_AFTER));
    }

    #[test]
    fn an_address_is_blocked_after_its_failures_and_others_are_not() {
        let limits = RateLimits::new(5000, FAILURES_PER_MINUTE);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        assert!(limits.check_address(Some(ip)).is_ok());
        for _ in 0..FAILURES_PER_MINUTE {
            limits.failure(Some(ip)).unwrap();
        }
        let refusal = limits.failure(Some(ip)).unwrap_err();
        assert_eq!(refusal.retry_after, 1);
        assert!(limits.check_address(Some(ip)).is_err());
        assert!(limits
            .check_address(Some("192.0.2.2".parse().unwrap()))
            .is_ok());
    }

    #[test]
    fn a_failure_limit_of_zero_turns_the_address_limit_off() {
        let limits = RateLimits::new(5000, 0);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..1000 {
            assert!(limits.failure(Some(ip)).unwrap().is_none());
        }
        assert!(limits.check_address(Some(ip)).is_ok());
    }
}
