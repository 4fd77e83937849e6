//! What every handler shares.

use crate::auth::activity::Activity;
use crate::auth::csrf::FormCsrf;
use crate::auth::last_used::LastUsed;
use crate::auth::outcome::AuthOutcomes;
use crate::auth::partner_keys::ScanningPartners;
use crate::auth::password::Hashing;
use crate::auth::rate_limit::RateLimits;
use crate::auth::reveal::PendingReveals;
use crate::auth::throttle::Throttles;
use crate::clock::Clock;
use crate::db::{Pool, PoolWait, QueryCount};
use crate::notify::Notifier;

impl AppState {
    /// The state of the app serving `req` (registered by `startup`).
    pub fn of(req: &actix_web::HttpRequest) -> &actix_web::web::Data<AppState> {
        req.app_data::<actix_web::web::Data<AppState>>()
            .expect("AppState is registered by startup")
    }
}

impl crate::auth::Source for AppState {
    fn auth(&self) -> crate::auth::Context<'_> {
        crate::auth::Context {
            pool: &self.pool,
            clock: &self.clock,
            throttles: &self.throttles,
            hashing: &self.hashing,
            rate_limits: &self.rate_limits,
            auth_outcomes: &self.auth_outcomes,
            activity: &self.activity,
            last_used: &self.last_used,
        }
    }
}

pub struct AppState {
    pub pool: Pool,
    pub clock: Clock,
    pub queries: QueryCount,
    /// How long checkouts from the pool waited, for `/metrics`.
    pub pool_wait: PoolWait,
    /// The origin (`scheme://host[:port]`) of the public URL, which same-origin checks compare.
    pub public_origin: String,
    /// Who passkeys are made for: the public URL's host and origin.
    pub relying_party: crate::auth::webauthn::RelyingParty,
    /// The keys of second factors: the seal of TOTP secrets, the hash of recovery codes.
    pub factor_keys: crate::auth::totp::FactorKeys,
    /// Login, password, sign-up, member and leak-report limits, counted in the database.
    pub throttles: Throttles,
    /// Every password hash and check waits its turn here (a core each, a short queue).
    pub hashing: Hashing,
    /// Bearer requests per token (slices of the deployment's quota, taken from the database)
    /// and bad tokens per address (counted in memory, shared through the database).
    pub rate_limits: RateLimits,
    /// How authentication turned out, for `/metrics`.
    pub auth_outcomes: AuthOutcomes,
    /// The CSRF protection of the login and sign-up forms.
    pub form_csrf: FormCsrf,
    pub last_used: LastUsed,
    /// Bearer requests queued for the tokens' activity (written in batches).
    pub activity: Activity,
    /// New tokens' sealed plaintexts between the dashboard's create POST and its reveal GET.
    pub reveals: PendingReveals,
    /// The keys GitHub and GitLab sign their leaked-token reports with.
    pub scanning: ScanningPartners,
    /// CI issuers' keys, fetched when an exchange needs them (`auth::oidc`).
    pub issuers: crate::auth::oidc::Issuers,
    /// Records notifications (and queues their mail when mail is configured).
    pub notifier: Notifier,
    /// PostgreSQL: this instance's token-cache lease (`db::cache_lease`); `None` on SQLite,
    /// whose cache needs none.
    pub cache_lease: Option<std::sync::Arc<crate::db::cache_lease::CacheLease>>,
}

/// A whole state on a migrated temp SQLite database, for the unit tests of `ops`: the
/// operations' rules checked without HTTP. Gone with the folder.
#[cfg(test)]
pub async fn for_tests() -> (tempfile::TempDir, AppState) {
    let (dir, pool) = crate::db::temp_pool().await;
    let key = [7; 64];
    let state = AppState {
        pool,
        clock: Clock::default(),
        queries: QueryCount::default(),
        pool_wait: PoolWait::default(),
        public_origin: "http://localhost".into(),
        relying_party: crate::auth::webauthn::RelyingParty {
            id: "localhost".into(),
            origin: "http://localhost".into(),
        },
        throttles: Throttles::new(&key),
        hashing: Hashing::new(1),
        rate_limits: RateLimits::new(1000, 100, &key),
        auth_outcomes: AuthOutcomes::default(),
        form_csrf: FormCsrf::new(&key, false),
        last_used: LastUsed::default(),
        activity: Activity::default(),
        reveals: PendingReveals::new(false),
        scanning: ScanningPartners::new(None, None),
        issuers: Default::default(),
        factor_keys: crate::auth::totp::FactorKeys::new(&key),
        notifier: Notifier::new(false, "http://localhost"),
        cache_lease: None,
    };
    (dir, state)
}
