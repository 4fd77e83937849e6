//! Bearer rate limits: every token gets `--token-rate-limit` requests an hour for the whole
//! deployment, and an address that keeps presenting bad tokens is refused before any lookup,
//! by every instance.
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
//! Bad credentials per address (`--bearer-failure-limit` a minute) are counted the same way
//! for the same reason: a refused request does no database work (SPEC §7). Each instance
//! counts an address's failures in memory; every `FAILURE_FLUSH` a background task adds them
//! to the address's row in `throttle_counts` (one statement for all addresses, a fixed window
//! of a minute that starts with the first failure written, keyed like the throttles' rows by
//! a keyed hash: the table names no address) and reads back the deployment's count, and
//! reads again the count of every address it has seen whose window lasts (adding 0). An
//! address over the limit is then refused by every instance that has seen it, until its
//! window ends; an instance also refuses at once when its own count since the last flush
//! takes the deployment's over. So the deployment lets through at most the limit plus what
//! the address sends within two flushes, however many instances there are (its failures
//! reach the shared count within one, every instance reads it within the next): 2 ×
//! `FAILURE_FLUSH` × the address's rate (docs/deploy.md); with one instance, the limit.
//!
//! Cost on the bearer hot path (SPEC §7): while a slice lasts, one lock of a map keyed by
//! token id and a decrement — no database work. The address check is one atomic load while no
//! address is blocked; only under attack does it take a read lock on the (small) map of
//! blocked addresses. A bad credential costs one lock of the map of counted addresses.
//!
//! The response fields follow draft-ietf-httpapi-ratelimit-headers-11 (May 2026), whose fields
//! are Structured Field Lists: `RateLimit-Policy: "default";q=5000;w=3600` (quota `q` per
//! window `w` seconds) and `RateLimit: "default";r=4999;t=1` (`r` left, `t` seconds).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use chrono::NaiveDateTime;

use crate::auth::throttle;
use crate::db::models::{throttles, token_quotas};
use crate::db::{self, DbError, Pool};
use crate::domain::TokenId;
use crate::error::AppError;

/// SPEC §8.6: requests an hour per token unless `--token-rate-limit` says otherwise.
pub const DEFAULT_TOKEN_RATE_LIMIT: u32 = 5000;
/// Bad bearer credentials (malformed, unknown, revoked, expired) one address may present a
/// minute before its bearer requests get 429 without a lookup: far more than a person
/// mistyping, far fewer than a scan.
pub const FAILURES_PER_MINUTE: u32 = 100;
/// How often an instance writes the failures it counted and learns the deployment's counts:
/// the bound on how long other instances may answer an address that is over the limit.
pub const FAILURE_FLUSH: Duration = Duration::from_secs(1);
/// Addresses written by one statement: well under both backends' limits on parameters.
const FLUSH_BATCH: usize = 500;
/// The throttle name of the failure counts' stored keys.
const FAILURES_THROTTLE: &str = "bearer_failures";

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
        let parts = [
            "\"",
            self.policy.name,
            "\";r=",
            r.format(self.remaining),
            ";t=",
            t.format(self.reset_secs),
        ];
        // Sized exactly, so the header value takes the buffer over without another allocation
        // (`Bytes` from a `Vec` whose length is its capacity).
        let mut state = Vec::with_capacity(parts.iter().map(|p| p.len()).sum());
        for part in parts {
            state.extend_from_slice(part.as_bytes());
        }
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

/// One address's bad credentials, as this instance knows them.
struct AddressFailures {
    /// Counted here and not yet written to the shared count.
    pending: u32,
    /// The deployment's count in the current window at the last flush (this instance's
    /// written failures included).
    shared: u32,
    /// When the current window ends: the shared row's, or until the first flush a minute
    /// from the first failure.
    until: Instant,
}

/// Bad credentials per address: the policy, the key stored keys are hashed with, the counts.
struct Failures {
    policy: Policy,
    hash_key: [u8; 32],
    counts: Mutex<HashMap<IpAddr, AddressFailures>>,
}

pub struct RateLimits {
    token_policy: Policy,
    /// This instance's slices of tokens' quotas.
    tokens: Mutex<foldhash::HashMap<TokenId, Slice>>,
    /// Requests a slice holds.
    slice: u32,
    /// `None` when turned off (`--bearer-failure-limit 0`).
    failures: Option<Failures>,
    /// Addresses whose failure allowance is used up, until when. Read without a lock while
    /// empty (`blocked_len`), which is always but under attack.
    blocked: RwLock<HashMap<IpAddr, Instant>>,
    blocked_len: AtomicUsize,
}

impl RateLimits {
    /// `token_rate_limit` requests an hour per token, `failure_limit` bad credentials a minute
    /// per address (0: no such limit); the shared counts' keys are hashed under a key derived
    /// from `secret` (the cookie key's master key, which every instance shares).
    pub fn new(token_rate_limit: u32, failure_limit: u32, secret: &[u8]) -> Self {
        let token_policy = Policy::new("default", token_rate_limit.max(1), 3600);
        let failures = (failure_limit > 0).then(|| Failures {
            policy: Policy::new("failures", failure_limit, 60),
            hash_key: throttle::hash_key(secret),
            counts: Mutex::new(HashMap::new()),
        });
        RateLimits {
            tokens: Mutex::default(),
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
        let (Some(until), Some(Failures { policy, .. })) = (until, &self.failures) else {
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
    /// No database work: the count is written by `flush_failures`.
    pub fn failure(&self, ip: Option<IpAddr>) -> Result<Option<Allowance>, Refusal> {
        let (Some(ip), Some(failures)) = (ip, &self.failures) else {
            return Ok(None);
        };
        let policy = &failures.policy;
        let now = Instant::now();
        let (used, until) = {
            let mut counts = failures.counts.lock().unwrap_or_else(|e| e.into_inner());
            let count = counts.entry(ip).or_insert_with(|| AddressFailures {
                pending: 0,
                shared: 0,
                until: now + Duration::from_secs(policy.window_secs),
            });
            if count.until <= now {
                // The window ended: what is still pending is written into the next one.
                count.shared = 0;
                count.until = now + Duration::from_secs(policy.window_secs);
            }
            count.pending += 1;
            (count.shared.saturating_add(count.pending), count.until)
        };
        let reset_secs = secs_ceil(until - now);
        if used <= policy.quota {
            return Ok(Some(Allowance {
                policy: policy.clone(),
                remaining: policy.quota - used,
                reset_secs,
            }));
        }
        self.block(ip, until);
        Err(Refusal {
            allowance: Allowance {
                policy: policy.clone(),
                remaining: 0,
                reset_secs,
            },
            retry_after: reset_secs,
        })
    }

    /// Refuses `ip`'s bearer requests until `until`.
    fn block(&self, ip: IpAddr, until: Instant) {
        let mut blocked = self.blocked.write().expect("rate-limit lock");
        let entry = blocked.entry(ip).or_insert(until);
        *entry = (*entry).max(until);
        self.blocked_len.store(blocked.len(), Ordering::Relaxed);
    }

    /// Writes the failures counted since the last flush to the shared counts (one statement
    /// per `FLUSH_BATCH` addresses, none when there were no failures) and learns each such
    /// address's count over the deployment: one over the limit is blocked until its window
    /// ends. Run every `FAILURE_FLUSH` in the background. On an error the failures are kept
    /// for the next flush.
    pub async fn flush_failures(&self, pool: &Pool, now: NaiveDateTime) -> Result<(), DbError> {
        let Some(failures) = &self.failures else {
            return Ok(());
        };
        let limit = failures.policy.quota;
        let pending: Vec<(IpAddr, u32)> = {
            let now = Instant::now();
            let mut counts = failures.counts.lock().unwrap_or_else(|e| e.into_inner());
            // New failures to add, and addresses whose window lasts and that this instance
            // does not yet refuse: their count is read again (adding 0), since the other
            // instances' failures may have taken it over the limit.
            counts
                .iter_mut()
                .filter(|(_, c)| {
                    c.pending > 0 || (c.until > now && c.shared.saturating_add(c.pending) <= limit)
                })
                .map(|(ip, c)| (*ip, std::mem::take(&mut c.pending)))
                .collect()
        };
        let now_ms = now.and_utc().timestamp_millis();
        let window_ms = failures.policy.window_secs as i64 * 1000;
        for chunk in pending.chunks(FLUSH_BATCH) {
            let mut keys = HashMap::with_capacity(chunk.len());
            let mut batch = Vec::with_capacity(chunk.len());
            for (ip, n) in chunk {
                let key = format!("ip:{ip}");
                let stored = throttle::stored_key(&failures.hash_key, FAILURES_THROTTLE, &key);
                keys.insert(stored.clone(), *ip);
                batch.push((stored, i64::from(*n)));
            }
            let written = db::write_query(pool, move |conn| {
                throttles::add(conn, &batch, now_ms, window_ms)
            })
            .await;
            let rows = match written {
                Ok(rows) => rows,
                Err(e) => {
                    // Kept for the next flush: a database that failed once loses no count.
                    let mut counts = failures.counts.lock().unwrap_or_else(|e| e.into_inner());
                    for (ip, n) in chunk {
                        if let Some(count) = counts.get_mut(ip) {
                            count.pending += n;
                        }
                    }
                    return Err(e);
                }
            };
            let at = Instant::now();
            let mut over = Vec::new();
            {
                let mut counts = failures.counts.lock().unwrap_or_else(|e| e.into_inner());
                for row in rows {
                    // A count of 0: a window that had ended, read again with nothing to add.
                    let Some(ip) = keys.get(&row.key).filter(|_| row.count > 0) else {
                        continue;
                    };
                    let until = at + Duration::from_millis((row.until_ms - now_ms).max(0) as u64);
                    let shared = u32::try_from(row.count).unwrap_or(u32::MAX);
                    if let Some(count) = counts.get_mut(ip) {
                        count.shared = shared;
                        count.until = until;
                        if shared.saturating_add(count.pending) > limit {
                            over.push((*ip, until));
                        }
                    }
                }
            }
            for (ip, until) in over {
                self.block(ip, until);
            }
        }
        Ok(())
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
        let now = Instant::now();
        if let Some(failures) = &self.failures {
            // Kept while something is to be written or its window lasts.
            let mut counts = failures.counts.lock().unwrap_or_else(|e| e.into_inner());
            counts.retain(|_, c| c.pending > 0 || c.until > now);
        }
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

    const KEY: [u8; 64] = [7; 64];

    fn start() -> NaiveDateTime {
        chrono::DateTime::from_timestamp(1_800_000_000, 0)
            .unwrap()
            .naive_utc()
    }

    #[actix_web::test]
    async fn the_fourth_request_of_a_three_an_hour_token_is_refused_and_others_are_not() {
        let (_dir, pool) = db::temp_pool().await;
        let limits = RateLimits::new(3, FAILURES_PER_MINUTE, &KEY);
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
        let elsewhere = RateLimits::new(3, FAILURES_PER_MINUTE, &KEY);
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
        let limits = RateLimits::new(5000, FAILURES_PER_MINUTE, &KEY);
        let token = TokenId::new();
        let first = limits.token_request(&pool, &token, start()).await.unwrap();
        assert_eq!(first.unwrap().remaining(), 4999);
        let other = RateLimits::new(5000, FAILURES_PER_MINUTE, &KEY);
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
        let limits = RateLimits::new(5000, FAILURES_PER_MINUTE, &KEY);
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
        let limits = RateLimits::new(5000, FAILURES_PER_MINUTE, &KEY);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        assert!(limits.check_address(Some(ip)).is_ok());
        for _ in 0..FAILURES_PER_MINUTE {
            limits.failure(Some(ip)).unwrap();
        }
        let refusal = limits.failure(Some(ip)).unwrap_err();
        // Until the minute's window ends.
        assert_eq!(refusal.retry_after, 60);
        assert!(limits.check_address(Some(ip)).is_err());
        assert!(limits
            .check_address(Some("192.0.2.2".parse().unwrap()))
            .is_ok());
    }

    #[actix_web::test]
    async fn failures_spread_over_instances_block_the_address_on_each_after_a_flush() {
        let (_dir, pool) = db::temp_pool().await;
        let instances = [(); 3].map(|_| RateLimits::new(5000, 10, &KEY));
        let (ip, other): (IpAddr, IpAddr) =
            ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        // Four failures on each: twelve in all, none over any one instance's own count.
        for limits in &instances {
            for _ in 0..4 {
                assert!(limits.failure(Some(ip)).is_ok());
            }
            assert!(limits.failure(Some(other)).is_ok());
        }
        for limits in &instances {
            limits.flush_failures(&pool, start()).await.unwrap();
        }
        // The first two flushed before the count was over the limit; each learns it at its
        // next flush (with nothing new to add, it reads the address's count again), after
        // which all three refuse the address and only it.
        for limits in &instances {
            limits.flush_failures(&pool, start()).await.unwrap();
        }
        assert!(instances[0].failure(Some(ip)).is_err());
        for limits in &instances {
            let refusal = limits.check_address(Some(ip)).unwrap_err();
            assert!(
                (59..=60).contains(&refusal.retry_after),
                "{}",
                refusal.retry_after
            );
            assert!(limits.check_address(Some(other)).is_ok());
        }
    }

    #[test]
    fn a_failure_limit_of_zero_turns_the_address_limit_off() {
        let limits = RateLimits::new(5000, 0, &KEY);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..1000 {
            assert!(limits.failure(Some(ip)).unwrap().is_none());
        }
        assert!(limits.check_address(Some(ip)).is_ok());
    }
}
